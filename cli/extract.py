"""``transfer extract``: one extractor's features of a recipe's images, as Parquet shards.

Registered lazily on the main group (:data:`transfer_cli.main.LAZY_COMMANDS`).
The shards are those the feature cache holds (columns ``image_key``,
``path``, ``label``, ``features``; :func:`transfer.recipes.cache.write_parquet_shard`),
written by the local engine in this process or by Ray actors
(``--engine ray``). Errors print one line (``error: ...``) and exit with
status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command()
@click.argument("recipe")
@click.option(
    "--extractor",
    "label",
    required=True,
    metavar="NAME",
    help="The extractor's label in the recipe (its name unless the recipe gives a label).",
)
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder for the shards: new or empty, or one transfer extract wrote (replaced).",
)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="As for run.")
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default=None,
    help="Where to extract (default: the recipe's engine:, else local).",
)
@click.option("--address", default=None, metavar="ADDR", help="As for run (implies --engine ray).")
@click.option(
    "--workers", type=click.IntRange(min=1), default=None, help="Ray actors (one CPU each)."
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Images per batch and per shard (default: the extractor's batch size).",
)
@click.option("--no-progress", is_flag=True, help="Hide progress lines.")
def extract(
    recipe: str,
    label: str,
    out: Path,
    overrides: tuple[str, ...],
    engine: str | None,
    address: str | None,
    workers: int | None,
    batch_size: int | None,
    no_progress: bool,
) -> None:
    """Write one extractor's features of a recipe's images as Parquet shards.

    The extractor labelled NAME in RECIPE runs on every image of the
    recipe's data (after its class filter and transforms, then the
    extractor's own), and its features go into --out as Parquet shards
    (columns image_key, path, label, features) that pandas, pyarrow, Spark
    or Dask read as one table. Only extractors that do not learn from data
    can be extracted alone.

    \b
    Examples:
      transfer extract quickstart --extractor hog --out features/hog
      transfer extract lfw-people --extractor mobilenet_v2 --out feats --engine ray --workers 4
      python -c "import pandas; print(pandas.read_parquet('features/hog').head())"
    """
    import transfer
    from transfer.recipes import load_recipe
    from transfer.recipes.engines import get_engine, write_shards
    from transfer.recipes.output import make_staging, plan_output, publish
    from transfer.recipes.runner import load_data
    from transfer_cli.main import _user_errors, engine_overrides

    try:
        rec = load_recipe(recipe, [*overrides, *engine_overrides(engine, address, workers)])
        if label not in rec.extractors:
            raise ValueError(
                f"--extractor {label!r}: the recipe {rec.name!r} has no extractor labelled so; "
                f"its extractors: {', '.join(rec.extractors)}"
            )
        extractor = rec.extractors[label]
        if extractor.__sklearn_tags__().requires_fit:
            raise ValueError(
                f"--extractor {label!r} learns from data (tag requires_fit): its features "
                "depend on the training images, so it cannot be extracted alone; run the recipe"
            )
        output = plan_output(out)
        view = load_data(rec).with_transforms(*rec.extractor_transforms.get(label, ()))
        view.check_files()
        staging = make_staging(output)
        say = (lambda _msg: None) if no_progress else click.echo
        try:
            with get_engine(rec.config) as runner:
                n = write_shards(
                    runner, extractor, view, staging, label=label, batch_size=batch_size, say=say
                )
            publish(staging, output, transfer.__version__)
        except BaseException:
            import shutil

            shutil.rmtree(staging, ignore_errors=True)
            raise
    except _user_errors() as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted: nothing written", err=True)
        sys.exit(130)
    click.echo(f"{label}: {len(view)} images in {n} Parquet shards under {output.out_dir}")
