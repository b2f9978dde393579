"""``transfer compare``: several results folders side by side on one page.

Registered on the main group by :mod:`transfer_cli.main`
(``main.add_command(compare)``). Errors print one line (``error: ...``) and
exit with status 2, as every other command does.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command()
@click.argument("results_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder to write compare.html and compare.md into (created if needed). "
    "Without it, the Markdown table is printed.",
)
@click.option(
    "--metric",
    default=None,
    help="The metric to compare (default: the first run's primary metric).",
)
def compare(results_dirs: tuple[Path, ...], out: Path | None, metric: str | None) -> None:
    """Put the results folders RESULTS_DIRS side by side.

    One row per extractor x head found in any run (learned extractors first),
    one column per run with its mean ± std, and each later run's difference
    from the first, in points; above it, each run's "best learned vs best
    handcrafted" headline.

    \b
    Examples:
      transfer compare results/orl results/orl-aligned
      transfer compare results/a results/b results/c --out comparisons/abc
      transfer compare results/lfw-v1 results/lfw-v2 --metric auc
    """
    from transfer.report.compare import compare_runs, render_compare_markdown, write_comparison
    from transfer_cli.main import _user_errors

    try:
        if out is None:
            click.echo(render_compare_markdown(compare_runs(results_dirs, metric)), nl=False)
            return
        paths = write_comparison(results_dirs, out, metric)
    except _user_errors() as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    for path in paths.values():
        click.echo(str(path))
