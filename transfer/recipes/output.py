"""Results folders: written atomically, and never at the cost of a user's files.

A run writes everything into a staging folder and moves it into place at the
end. The folder it writes carries a marker file (:data:`MARKER`) listing the
files the toolkit wrote. ``--out`` may replace a folder only when that marker
says the toolkit wrote it and it holds nothing else; any other existing,
non-empty folder is refused before any work starts, unless ``force`` is given,
and then the run's files are added to it one by one and nothing else in it is
ever touched. Staging folders left behind by a killed run are removed by a
later run once their owner process is provably gone.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

#: The file that marks a folder as written by ``transfer run``.
MARKER = ".transfer-results.json"
#: The file that names the process owning a staging folder.
OWNER = ".transfer-staging.json"

_umask_lock = threading.Lock()


class OutputFolderError(ValueError):
    """A results folder the run may not write (the message says why and what to do)."""


def current_umask() -> int:
    """The process umask (read by setting and restoring it)."""
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _is_ours(folder: Path) -> dict | None:
    marker = folder / MARKER
    try:
        record = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("tool") == "transfer" else None


@dataclass
class OutputPlan:
    """Where a run will put its results and how.

    Attributes
    ----------
    out_dir : Path
        The results folder.
    mode : {"new", "replace", "merge"}
        ``new``: the folder does not exist or is empty; ``replace``: a folder
        this toolkit wrote, holding nothing else, swapped for the new one;
        ``merge`` (``force``): files added one by one to a folder that holds
        other files, which are left untouched.
    """

    out_dir: Path
    mode: str


def plan_output(out_dir: str | os.PathLike, *, force: bool = False) -> OutputPlan:
    """Check that a run may write ``out_dir``, before any work starts.

    Raises
    ------
    OutputFolderError
        When ``out_dir`` is a file, is not writable, or is an existing folder
        with files this toolkit did not write (and ``force`` is not set).
    """
    out = Path(out_dir).expanduser()
    resolved = out.resolve()
    if out.exists() and not out.is_dir():
        raise OutputFolderError(f"--out {out}: exists and is not a folder; give a folder path")
    parent = resolved.parent
    if out.is_dir():
        entries = [p.name for p in out.iterdir()]
        if not entries:
            mode = "new"
        else:
            record = _is_ours(out)
            ours = set(record.get("files", [])) | {MARKER} if record else set()
            foreign = sorted(e for e in entries if e not in ours)
            if not foreign:
                mode = "replace"
            elif force:
                mode = "merge"
            elif record:
                raise OutputFolderError(
                    f"--out {out}: this results folder also holds files that transfer did not "
                    f"write ({', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''}); "
                    "move them away, choose another --out, or pass --force to write the new "
                    "results beside them (nothing of yours is deleted)"
                )
            else:
                raise OutputFolderError(
                    f"--out {out}: the folder exists and is not empty, and transfer did not "
                    f"write it ({len(entries)} entries, e.g. {', '.join(sorted(entries)[:3])}); "
                    "choose a new or empty folder, or pass --force to add the results to it "
                    "(nothing in it is deleted or overwritten except transfer's own files)"
                )
        target_dir = resolved if mode == "merge" else parent
    else:
        mode = "new"
        target_dir = parent
        probe = parent
        while not probe.exists():  # the first existing ancestor must be writable
            probe = probe.parent
        if not probe.is_dir():
            raise OutputFolderError(f"--out {out}: cannot create it, {probe} is a file")
        if not os.access(probe, os.W_OK | os.X_OK):
            raise OutputFolderError(f"--out {out}: cannot create it, {probe} is not writable")
    if target_dir.exists() and not os.access(target_dir, os.W_OK | os.X_OK):
        raise OutputFolderError(f"--out {out}: {target_dir} is not writable")
    if mode == "replace" and not os.access(parent, os.W_OK | os.X_OK):
        raise OutputFolderError(f"--out {out}: {parent} is not writable (needed to replace it)")
    return OutputPlan(out, mode)


def _owner_alive(record: dict) -> bool:
    if record.get("host") != socket.gethostname():
        return True  # another machine's process: cannot tell, keep it
    try:
        os.kill(int(record["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, KeyError, ValueError, TypeError):
        return True
    return True


def clean_stale_staging(plan: OutputPlan) -> list[Path]:
    """Remove staging folders of this output whose owner process is gone.

    Only folders named like this run's staging folders and carrying the
    :data:`OWNER` file this module writes are considered.
    """
    removed = []
    base = plan.out_dir.resolve()
    for where in (base.parent, base):
        if not where.is_dir():
            continue
        for candidate in where.glob(f".{base.name}.tmp-*"):
            try:
                record = json.loads((candidate / OWNER).read_text())
            except (OSError, ValueError):
                continue
            if isinstance(record, dict) and not _owner_alive(record):
                shutil.rmtree(candidate, ignore_errors=True)
                removed.append(candidate)
    return removed


def make_staging(plan: OutputPlan) -> Path:
    """A staging folder for ``plan``, with the umask's permissions and an owner file."""
    base = plan.out_dir.resolve()
    where = base if plan.mode == "merge" else base.parent
    where.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=where, prefix=f".{base.name}.tmp-"))
    os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700 whatever the umask
    (tmp / OWNER).write_text(
        json.dumps({"pid": os.getpid(), "host": socket.gethostname()}, indent=1)
    )
    return tmp


def publish(staging: Path, plan: OutputPlan, version: str) -> None:
    """Move the finished staging folder into place as ``plan`` says.

    The marker lists every file of the run; it is written last in ``merge``
    mode, so a folder is only claimed once all its files are there.
    """
    (staging / OWNER).unlink(missing_ok=True)
    files = sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())
    marker = {
        "tool": "transfer",
        "version": version,
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": sorted({f.split("/")[0] for f in files}),
    }
    text = json.dumps(marker, indent=1)
    out = plan.out_dir
    mode = plan.mode
    if mode != "merge" and out.is_dir() and any(out.iterdir()):
        # the folder may have changed since the plan: swap it only if it still
        # holds nothing but our files, else add ours beside the others
        record = _is_ours(out)
        ours = set(record.get("files", [])) | {MARKER} if record else set()
        mode = "replace" if all(p.name in ours for p in out.iterdir()) else "merge"
    if mode == "merge":
        previous = _is_ours(out) or {}
        ours = set(previous.get("files", []))
        clash = [n for n in marker["files"] if (out / n).exists() and n not in ours]
        if clash:
            shutil.rmtree(staging, ignore_errors=True)
            raise OutputFolderError(
                f"--out {out}: would overwrite {', '.join(clash)}, which transfer did not write; "
                "nothing was changed. Choose another --out (finished cells are cached, so the "
                "run repeats quickly)"
            )
        for name in marker["files"]:
            os.replace(staging / name, out / name)
        (out / MARKER).write_text(text)
        shutil.rmtree(staging, ignore_errors=True)
        return
    (staging / MARKER).write_text(text)
    if mode == "replace" and out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        try:
            os.replace(staging, out)
        except BaseException:
            os.replace(old, out)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return
    if out.is_dir():  # an empty folder: rename onto it keeps nothing of the user's
        out.rmdir()
    os.replace(staging, out)
