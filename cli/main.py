"""``transfer``: run recipes, list components, rebuild reports.

Errors on bad input print one line (``error: ...``) and exit with status 2;
TensorFlow's log noise is silenced here, in the entry point, not at import.
"""

from __future__ import annotations

import logging
import shlex
import sys
from pathlib import Path

import click

import transfer


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


# Errors that come from the user's input (recipe, data, parameters), shown as
# one line; anything else is a bug and keeps its traceback.
def _user_errors() -> tuple[type[BaseException], ...]:
    from transfer.data.imageset import ImageReadError
    from transfer.recipes.schema import RecipeError
    from transfer.train.trainer import TrainingError

    return (
        RecipeError,
        ImageReadError,
        TrainingError,
        ValueError,
        FileNotFoundError,
        KeyError,
        OSError,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(transfer.__version__, prog_name="transfer")
@click.option("-v", "--verbose", is_flag=True, help="Log details (cache hits, timings).")
def main(verbose: bool) -> None:
    """Compare learned and handcrafted image features with simple heads."""
    from transfer._quiet import quiet_tensorflow

    quiet_tensorflow(verbose)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )


@main.command()
@click.argument("recipe")
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    default=None,
    help="Results folder (default: results/<recipe name>). A new or empty folder, or one "
    "that transfer wrote before (replaced).",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a recipe key, e.g. --set data.root=/data --set protocol.params.n_repeats=3.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Check everything (recipe, parameters, every image, weights, --out), then stop.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Write into an existing folder that holds other files (none of them is deleted).",
)
@click.option("--no-progress", is_flag=True, help="Hide progress bars and progress lines.")
@click.pass_context
def run(
    ctx: click.Context,
    recipe: str,
    out: Path | None,
    overrides: tuple[str, ...],
    dry_run: bool,
    force: bool,
    no_progress: bool,
) -> None:
    """Run RECIPE (a YAML file or the name of a shipped recipe).

    Finished cells (extractor x head x fold) are cached: a run that was
    interrupted resumes where it stopped, and a finished one re-runs in
    seconds. Exits with status 1 when some cells failed (the others are
    written; results.csv has the errors), 2 on bad input.
    """
    from transfer.recipes import load_recipe

    try:
        rec = load_recipe(recipe, list(overrides))
    except _user_errors() as exc:
        _fail(str(exc))
        return
    _execute(ctx, rec, out or Path("results") / rec.name, dry_run, force, no_progress)


def _execute(
    ctx: click.Context, rec: object, out_dir: Path, dry_run: bool, force: bool, no_progress: bool
) -> None:
    """Plan and run a loaded recipe; the closing table, or one error line."""
    from transfer._config import config_context
    from transfer.recipes.runner import closing_table, plan_run, run_recipe

    echo = click.echo
    try:
        terminal = sys.stderr.isatty()
        lines = None if (no_progress or terminal) else echo  # piped: plain periodic lines
        with config_context(progress=not no_progress and terminal, progress_lines=lines):
            plan = plan_run(rec, out_dir, force=force)
            if dry_run:
                echo(f"{rec.name}: valid. {plan.summary()}; results would go to {out_dir}")
                return
            say = (lambda _msg: None) if no_progress else echo
            result = run_recipe(
                rec,
                out_dir,
                console=say,
                force=force,
                command=shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                plan=plan,
            )
    except _user_errors() as exc:
        _fail(str(exc))
        return
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the staging folder is already gone
        click.echo(
            "interrupted: no results written; finished cells are cached, so running the same "
            "command again resumes where this run stopped",
            err=True,
        )
        sys.exit(130)
    echo(closing_table(result, rec.protocol.primary_metric))
    echo(f"results: {result.out_dir}  (report: {result.out_dir / 'report.html'})")
    if result.n_failed:
        click.echo(
            f"error: {result.n_failed} cell(s) failed; their errors are in "
            f"{result.out_dir / 'results.csv'}",
            err=True,
        )
        ctx.exit(1)


def _applies(name: str, rec: object) -> bool:
    """Whether analysis ``name`` with its defaults accepts recipe ``rec``."""
    from transfer.registry import ANALYSES

    try:
        ANALYSES.create(name).check_recipe(list(rec.extractors), rec.protocol)
    except ValueError:
        return False
    return True


@main.command()
@click.argument("target")
@click.option(
    "--analysis",
    "names",
    multiple=True,
    metavar="NAME",
    help="An analysis to run (repeat for several; `transfer list analyses`). Default: the "
    "recipe's analyses section, else every registered analysis.",
)
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    default=None,
    help="Results folder (default: TARGET when it is a results folder, else "
    "results/<recipe name>).",
)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="As for run.")
@click.option("--dry-run", is_flag=True, help="Check everything, then stop.")
@click.option("--force", is_flag=True, help="As for run.")
@click.option("--no-progress", is_flag=True, help="Hide progress bars and progress lines.")
@click.pass_context
def analyze(
    ctx: click.Context,
    target: str,
    names: tuple[str, ...],
    out: Path | None,
    overrides: tuple[str, ...],
    dry_run: bool,
    force: bool,
    no_progress: bool,
) -> None:
    """The neuron analyses (`transfer list analyses`) of TARGET.

    TARGET is a recipe (a YAML file or a shipped name) or a results folder
    that `transfer run` wrote (its recipe.yaml is used and the folder is
    rewritten with the analyses added). The cells and features of an
    earlier run come from the cache, so only the analyses are computed;
    their tables go to analyses/<label>/ and into the report.

    Example: transfer analyze results/celeba-attributes --analysis occlusion
    """
    from transfer.recipes import load_recipe
    from transfer.recipes.output import MARKER
    from transfer.registry import list_analyses

    source, folder = target, Path(target)
    if folder.is_dir():
        if not (folder / MARKER).is_file() or not (folder / "recipe.yaml").is_file():
            _fail(
                f"{target!r} is a folder but not a results folder written by transfer "
                f"(no {MARKER} and recipe.yaml); give a recipe or a results folder"
            )
            return
        source, out = str(folder / "recipe.yaml"), out or folder
    chosen = list(names)
    try:
        if not chosen:
            rec = load_recipe(source, list(overrides))
            if not rec.analyses:  # every analysis that applies to this recipe
                chosen = [n for n in list_analyses() if _applies(n, rec)]
        if chosen:
            unknown = [n for n in chosen if n not in list_analyses()]
            if unknown:
                from transfer._registry import did_you_mean

                raise ValueError(
                    f"--analysis {unknown[0]!r} is not an analysis."
                    f"{did_you_mean(unknown[0], list_analyses())} "
                    f"Analyses: {', '.join(list_analyses())}"
                )
            rec = load_recipe(source, [f"analyses=[{', '.join(chosen)}]", *overrides])
    except _user_errors() as exc:
        _fail(str(exc))
        return
    _execute(ctx, rec, out or Path("results") / rec.name, dry_run, force, no_progress)


@main.command()
@click.argument("recipe")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="As for run.")
@click.option("--dry-run", is_flag=True, help="Check the train: section and its data, then stop.")
@click.option("--no-progress", is_flag=True, help="Hide the per-epoch lines.")
def train(recipe: str, overrides: tuple[str, ...], dry_run: bool, no_progress: bool) -> None:
    """Train the networks of RECIPE's train: section on their dataset A.

    Each network is saved as model.keras with its card model.json in the
    cache (named by the key of everything that made it), where `transfer
    run RECIPE` finds it; a killed training resumes from its last epoch.

    Example: transfer train mnist-lenet --set train.0.params.epochs=2
    """
    from transfer.recipes import load_recipe
    from transfer.train.recipe import plan_training, run_training

    try:
        rec = load_recipe(recipe, list(overrides))
        if not rec.train_jobs:
            raise ValueError(f"{rec.source}: the recipe has no train: section")
        plans = plan_training(rec)
        if not dry_run:
            run_training(plans, (lambda _msg: None) if no_progress else click.echo)
    except _user_errors() as exc:
        _fail(str(exc))
        return
    except KeyboardInterrupt:
        click.echo("interrupted: the next `transfer train` resumes from the last epoch", err=True)
        sys.exit(130)
    for plan in plans:
        state = "trained" if plan.done else "to train"
        test = (plan.card or {}).get("test")
        score = f", test accuracy on A {test['accuracy']:.4f}" if test else ""
        click.echo(f"{plan.job.label}: {state}, {len(plan.data)} images of A{score}")
        click.echo(f"  {plan.model_path}")


@main.command("list")
@click.argument(
    "what",
    type=click.Choice(
        [
            "extractors",
            "heads",
            "datasets",
            "recipes",
            "protocols",
            "backbones",
            "analyses",
            "architectures",
        ]
    ),
)
def list_(what: str) -> None:
    """List extractors, heads, datasets, protocols, analyses, architectures, backbones, recipes."""
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
        "analyses": registry.ANALYSES,
        "architectures": registry.ARCHITECTURES,
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


# the weights commands live in transfer_cli.weights (which imports this module lazily)
from transfer_cli.weights import weights  # noqa: E402

main.add_command(weights)


if __name__ == "__main__":  # pragma: no cover
    main()
