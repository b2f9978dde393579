"""A content-keyed cache of extracted features, like a Pipeline ``memory=``.

Features of a stateless extractor depend on each image alone, so they are
cached per image: dropping a few images from a set, adding one or
reordering it recomputes only the images never seen before.

Layout, under ``directory``::

    <key[:2]>/<key>/<shard>.npy    rows of float32 features
    <key[:2]>/<key>/<shard>.json   the record: one content key per row, the
                                   array's shape, dtype and sha256
    <key[:2]>/<key>/<shard>.parquet  the same in one Parquet file (written by
                                   the Ray engine and ``transfer extract``):
                                   columns ``image_key``, ``path``, ``label``,
                                   ``features`` (fixed-size list of float32),
                                   the record in the schema metadata
                                   (:data:`PARQUET_RECORD`)

``key`` (:meth:`FeatureCache.extractor_key`) covers the extractor (class,
parameters, version; for CNNs also the weights' sha256 and the layer) and the
transforms applied to the images. A row's content key is the sha256 of the
image (the file's bytes, or an in-memory image's bytes, shape and dtype) with
the transforms. Each extraction that computes something writes one new shard.
Both kinds of shard are read, newest first, whichever engine runs, so the
local and the Ray engine share one cache.

Every file is written atomically (temporary file, then ``os.replace``), the
array before its record, so a reader never sees half a shard. On read a
shard is checked against its record (shape, dtype, sha256 of the array's
bytes) and must hold finite values only; a shard that fails is ignored with
a :class:`FeatureCacheWarning` naming its file and why, removed, and its
images recomputed. A write that fails (disk full, read-only folder) warns
and the run goes on without caching.

The older whole-set entries (:meth:`FeatureCache.key`, :meth:`~FeatureCache.load`,
:meth:`~FeatureCache.save`: ``<key[:2]>/<key>.npy`` + ``.json``) stay
available, with the same checks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from transfer._io import atomic_write, default_cache_dir
from transfer.data.imageset import ImageReadError, ImageSet
from transfer.features.base import stable_hash

__all__ = [
    "Extracted",
    "FeatureCache",
    "FeatureCacheWarning",
    "Pending",
    "image_keys",
    "read_parquet_shard",
    "write_parquet_shard",
]

log = logging.getLogger(__name__)

#: Bumped when the shard layout changes, so old shards are never misread.
_LAYOUT = "per-image-1"
_CHUNK = 1 << 20
#: sha256 of image files already read in this process, by (path, size, mtime_ns):
#: a second run over the same data in one process hashes nothing again.
_FILE_DIGESTS: dict[tuple[str, int, int], str] = {}
#: How many duplicate pairs a warning names.
_SHOW_PAIRS = 3
#: The key of a Parquet shard's schema metadata that holds its record (JSON).
PARQUET_RECORD = b"transfer"


class FeatureCacheWarning(UserWarning):
    """A cache entry was ignored (damaged) or could not be written."""


@dataclass
class Extracted:
    """Features of an image set and how they were obtained.

    Attributes
    ----------
    features : ndarray of shape (n_images, n_features), float32
        One row per image, in the order of the input set.
    seconds : float
        Wall time of the call (hashing, reading and computing).
    n_computed : int
        Images actually run through the extractor.
    n_cached : int
        Images whose features were read from the cache.
    key : str
        The extractor-level key (for logs and ``meta.json``).
    """

    features: np.ndarray
    seconds: float
    n_computed: int
    n_cached: int
    key: str


@dataclass
class Pending:
    """What :meth:`FeatureCache.extract` would compute for a set (see
    :meth:`FeatureCache.pending`).

    Attributes
    ----------
    key : str
        The extractor-level key: shards live in ``FeatureCache._folder(key)``.
    keys : list of str
        The content key of every image, in order.
    first : dict of str to int
        The first row holding each content key.
    rows : dict of str to ndarray
        Features already cached, by content key.
    missing : list of int
        Rows to compute: the first row of each content key not cached.
    """

    key: str
    keys: list[str]
    first: dict[str, int]
    rows: dict[str, np.ndarray]
    missing: list[int]


def _file_digest(path: str) -> str:
    """sha256 of a file's bytes, read in chunks, memoised per (path, size, mtime)."""
    try:
        st = os.stat(path)
        memo = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
        digest = _FILE_DIGESTS.get(memo)
        if digest is None:
            h = hashlib.sha256()
            with open(path, "rb") as f:
                while chunk := f.read(_CHUNK):
                    h.update(chunk)
            digest = _FILE_DIGESTS[memo] = h.hexdigest()
    except OSError as exc:
        raise ImageReadError(f"cannot read image {path!r}: {exc.strerror or exc}") from None
    return digest


def _array_digest(image: np.ndarray) -> str:
    image = np.ascontiguousarray(image)
    h = hashlib.sha256(repr((image.shape, image.dtype.str)).encode())
    h.update(memoryview(image).cast("B"))
    return h.hexdigest()


def _content_digests(data: ImageSet) -> list[str]:
    if data.paths is not None:
        return [_file_digest(p) for p in data.paths]
    return [_array_digest(img) for img in data.images]


def image_keys(data: ImageSet) -> list[str]:
    """The content key of every image of ``data``, in order.

    Parameters
    ----------
    data : ImageSet
        Images in memory or as files.

    Returns
    -------
    list of str
        For a file, the sha256 of its bytes; for an in-memory image, of its
        bytes, shape and dtype; each combined with the transforms' specs.
        Byte-identical images get the same key.

    Raises
    ------
    ImageReadError
        Naming a file that cannot be read.
    """
    transforms = stable_hash([t.spec() for t in data.transforms])
    return [
        hashlib.sha256(f"{d}:{transforms}".encode()).hexdigest() for d in _content_digests(data)
    ]


def _array_sha256(features: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(features).tobytes()).hexdigest()


def _check_array(features: np.ndarray, record: dict) -> tuple[np.ndarray | None, str | None]:
    """``features`` and None when it matches its ``record``, else None and why not."""
    if list(features.shape) != record.get("shape") or str(features.dtype) != record.get("dtype"):
        return None, (
            f"array of shape {list(features.shape)} and dtype {features.dtype}, the record "
            f"says {record.get('shape')} and {record.get('dtype')}"
        )
    if "sha256" not in record:
        return None, "the record has no sha256 (written by an older version)"
    if _array_sha256(features) != record["sha256"]:
        return None, "sha256 mismatch: the array changed after it was written"
    if np.issubdtype(features.dtype, np.floating) and not np.all(np.isfinite(features)):
        return None, "it holds NaN or infinite values"
    return features, None


def write_parquet_shard(
    folder: str | os.PathLike,
    image_keys: list[str],
    paths: list[str],
    labels: np.ndarray,
    features: np.ndarray,
    info: dict,
) -> Path | None:
    """Write one Parquet shard of features into ``folder``, atomically.

    Parameters
    ----------
    folder : path
        A feature-cache key's folder (``FeatureCache._folder(key)``), or any
        folder (``transfer extract --out``).
    image_keys : list of str
        The content key of each row (:func:`image_keys`).
    paths : list of str
        Each image's file, or its description for images held in memory.
    labels : ndarray of shape (n_rows,)
        Each image's class index.
    features : ndarray of shape (n_rows, n_features)
        Stored as float32, one fixed-size list per row.
    info : dict
        Added to the record (the extractor's label, the key).

    Returns
    -------
    Path or None
        The shard, or None when ``features`` holds NaN or infinite values
        (never cached: the caller reports them as an error).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    features = np.ascontiguousarray(features, dtype=np.float32)
    if features.ndim != 2 or len(features) != len(image_keys):
        raise ValueError(
            f"features of shape {features.shape} for {len(image_keys)} image keys; expected "
            f"({len(image_keys)}, n_features)"
        )
    if not np.all(np.isfinite(features)):
        return None
    record = {
        **info,
        "layout": _LAYOUT,
        "shape": list(features.shape),
        "dtype": str(features.dtype),
        "sha256": _array_sha256(features),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    values = pa.FixedSizeListArray.from_arrays(
        pa.array(features.reshape(-1), type=pa.float32()), features.shape[1]
    )
    table = pa.table(
        {
            "image_key": pa.array(list(image_keys), type=pa.string()),
            "path": pa.array([str(p) for p in paths], type=pa.string()),
            "label": pa.array(np.asarray(labels, dtype=np.int64)),
            "features": values,
        }
    ).replace_schema_metadata({PARQUET_RECORD: json.dumps(record, sort_keys=True, default=str)})
    path = Path(folder) / f"{uuid.uuid4().hex}.parquet"
    atomic_write(path, lambda f: pq.write_table(table, f))
    return path


def _parquet_keys(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    return pq.read_table(path, columns=["image_key"]).column(0).to_pylist()


def read_parquet_shard(path: str | os.PathLike) -> tuple[dict, np.ndarray | None, str | None]:
    """The record and checked features of a Parquet shard, or why it cannot be used.

    Parameters
    ----------
    path : path
        A shard :func:`write_parquet_shard` wrote.

    Returns
    -------
    record : dict
        Its record (empty when unreadable).
    features : ndarray of shape (n_rows, n_features) or None
        float32; None when the shard fails a check.
    reason : str or None
        Why it failed (unreadable, shape, dtype, sha256, non-finite values).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, columns=["features"])
        raw = (table.schema.metadata or {}).get(PARQUET_RECORD)
        if raw is None:
            return {}, None, "no transfer record in its schema metadata"
        record = json.loads(raw)
        column = table.column("features").combine_chunks()
        if not pa.types.is_fixed_size_list(column.type):
            return record, None, f"features column of type {column.type}, not a fixed-size list"
        width = column.type.list_size
        flat = column.flatten().to_numpy(zero_copy_only=False)
        features = flat.reshape(len(column), width)
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
        return {}, None, f"cannot read it ({exc})"
    features, reason = _check_array(features, record)
    return record, features, reason


def _warn(message: str) -> None:
    warnings.warn(message, FeatureCacheWarning, stacklevel=3)
    log.warning("%s", message)


def _remove(*paths: Path) -> None:
    for p in paths:
        try:
            p.unlink()
        except OSError:
            pass  # a read-only cache keeps the bad shard; it is ignored again next time


def _merge(
    path: Path,
    features: np.ndarray | None,
    reason: str | None,
    shard_keys: list[str],
    wanted: set[str],
    rows: dict[str, np.ndarray],
    also: Path | None = None,
) -> None:
    """Add a shard's rows of ``wanted`` keys not yet in ``rows``; or, when it failed a
    check (``reason``) or its row count is wrong, warn and remove it (and ``also``, its
    record) so that its images are recomputed."""
    if reason is None and len(features) != len(shard_keys):
        reason = f"{len(features)} rows for {len(shard_keys)} image keys"
    if reason is not None:
        _warn(
            f"feature cache: ignoring {path}: {reason}; its {len(shard_keys)} images will be "
            "recomputed"
        )
        _remove(path, *([also] if also is not None else []))
        return
    for j, k in enumerate(shard_keys):
        if k in wanted and k not in rows:
            rows[k] = features[j]


class FeatureCache:
    """Extracted features on disk, cached per image content.

    Parameters
    ----------
    directory : str or Path, optional
        Where entries live; defaults to :func:`default_cache_dir` / "features".

    Examples
    --------
    >>> cache = FeatureCache(tmp)  # doctest: +SKIP
    >>> out = cache.extract(LBPFeatures(), images, label="lbp")  # doctest: +SKIP
    >>> out.n_computed, out.n_cached  # doctest: +SKIP
    (164, 0)
    """

    def __init__(self, directory: str | os.PathLike | None = None) -> None:
        self.directory = Path(directory) if directory else default_cache_dir() / "features"
        # Set after a failed write: the rest of the run goes on without caching.
        self._write_error: str | None = None

    # -- per-image entries ------------------------------------------------
    @staticmethod
    def extractor_key(extractor: Any, data: ImageSet) -> str:
        """The key of ``extractor`` applied to images with ``data``'s transforms."""
        return stable_hash(
            {
                "layout": _LAYOUT,
                "extractor": extractor.cache_key(),
                "transforms": [t.spec() for t in data.transforms],
            }
        )

    def extract(self, extractor: Any, data: ImageSet, *, label: str) -> Extracted:
        """Features of every image of ``data``, computing only those not cached.

        Parameters
        ----------
        extractor : estimator
            An unfitted, stateless extractor (tag ``requires_fit`` False). It
            is fitted and run on the missing images only, and not at all
            when every image is cached (a CNN does not even load its model).
        data : ImageSet
            The images.
        label : str
            The extractor's name in the recipe, for records and messages.

        Returns
        -------
        Extracted
            Features in the order of ``data`` and the counts of computed and
            cached images.

        Raises
        ------
        ValueError
            When ``extractor`` learns from data (its features would depend on
            the training images, so they cannot be cached per image), or
            returns an array of the wrong shape.
        ImageReadError
            Naming an image file that cannot be read.
        """
        t0 = time.perf_counter()
        pending = self.pending(extractor, data, label=label)
        key, keys, rows, missing = pending.key, pending.keys, pending.rows, pending.missing
        computed = self._compute(extractor, data, missing, label)
        if computed is not None and rows:
            width = len(next(iter(rows.values())))
            if computed.shape[1] != width:
                _warn(
                    f"feature cache: {label!r} now gives {computed.shape[1]} features, its cached "
                    f"entries under {self._folder(key)} hold {width}; recomputing every image"
                )
                rows = {}
                missing = sorted(pending.first.values())
                computed = self._compute(extractor, data, missing, label)
        if computed is not None:
            self._write_shard(key, [keys[i] for i in missing], computed, label)
            for j, i in enumerate(missing):
                rows[keys[i]] = computed[j]

        if keys:
            features = np.stack([rows[k] for k in keys]).astype(np.float32, copy=False)
        else:
            features = np.zeros((0, 0), dtype=np.float32)
        computed_keys = {keys[i] for i in missing}
        n_cached = sum(1 for k in keys if k not in computed_keys)
        log.info(
            "%s: %d images from the cache, %d computed (%s)",
            label,
            n_cached,
            len(missing),
            key[:12],
        )
        return Extracted(
            features=features,
            seconds=time.perf_counter() - t0,
            n_computed=len(missing),
            n_cached=n_cached,
            key=key,
        )

    def pending(self, extractor: Any, data: ImageSet, *, label: str) -> Pending:
        """The cached rows of ``data`` and the rows still to compute.

        What :meth:`extract` does before computing, shared with the engines
        that compute elsewhere (:mod:`transfer.recipes.ray_engine`): they
        compute :attr:`Pending.missing`, write shards under
        ``self._folder(pending.key)`` and call :meth:`extract`, which then
        reads every row from the cache.

        Raises
        ------
        ValueError
            When ``extractor`` learns from data (tag ``requires_fit``).
        ImageReadError
            Naming an image file that cannot be read.
        """
        if extractor.__sklearn_tags__().requires_fit:
            raise ValueError(
                f"extractor {label!r} learns from data (tag requires_fit): its features depend on "
                "the training images and cannot be cached per image; fit it on each fold instead"
            )
        key = self.extractor_key(extractor, data)
        keys = image_keys(data)
        first: dict[str, int] = {}  # content key -> first row holding it
        for i, k in enumerate(keys):
            first.setdefault(k, i)
        if len(first) < len(keys):
            self._warn_duplicates(data, keys, first)

        rows = self._gather(key, set(first))
        if len({len(r) for r in rows.values()}) > 1:
            _warn(
                f"feature cache: entries of {label!r} under {self._folder(key)} disagree on the "
                "number of features; recomputing every image"
            )
            rows = {}
        missing = sorted(first[k] for k in first if k not in rows)
        return Pending(key, keys, first, rows, missing)

    @staticmethod
    def _compute(extractor: Any, data: ImageSet, idx: list[int], label: str) -> np.ndarray | None:
        if not idx:
            return None
        subset = data.subset(idx)
        features = np.asarray(extractor.fit(subset).transform(subset), dtype=np.float32)
        if features.ndim != 2 or len(features) != len(idx):
            raise ValueError(
                f"extractor {label!r} returned features of shape {features.shape} for "
                f"{len(idx)} images; expected ({len(idx)}, n_features)"
            )
        return features

    @staticmethod
    def _warn_duplicates(data: ImageSet, keys: list[str], first: dict[str, int]) -> None:
        pairs = [(first[k], i) for i, k in enumerate(keys) if first[k] != i]
        shown = ", ".join(
            f"{data.describe(a)} = {data.describe(b)}" for a, b in pairs[:_SHOW_PAIRS]
        )
        more = f" and {len(pairs) - _SHOW_PAIRS} more" if len(pairs) > _SHOW_PAIRS else ""
        warnings.warn(
            f"{data.name!r}: {len(pairs)} images are byte-identical copies of another image in "
            f"the set ({shown}{more}); each still gets its row of features",
            UserWarning,
            stacklevel=3,
        )

    def _folder(self, key: str) -> Path:
        return self.directory / key[:2] / key

    def _gather(self, key: str, wanted: set[str]) -> dict[str, np.ndarray]:
        """Rows of ``wanted`` content keys found in valid shards of ``key``
        (``.npy`` + ``.json`` and ``.parquet``, newest first)."""
        folder = self._folder(key)
        try:
            records = sorted(
                [*folder.glob("*.json"), *folder.glob("*.parquet")],
                key=lambda p: p.stat().st_mtime_ns,
                reverse=True,
            )
        except OSError as exc:
            if folder.exists():
                _warn(f"feature cache: cannot read {folder}: {exc}; computing every image")
            return {}
        rows: dict[str, np.ndarray] = {}
        for meta in records:  # newest first: a rewritten image is taken from its latest shard
            if meta.suffix == ".parquet":
                self._gather_parquet(meta, wanted, rows)
                continue
            try:
                record = json.loads(meta.read_text())
                shard_keys = list(record["image_keys"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                _warn(f"feature cache: ignoring {meta}: unreadable record ({exc}); recomputing")
                _remove(meta, meta.with_suffix(".npy"))
                continue
            if not any(k in wanted and k not in rows for k in shard_keys):
                continue
            npy = meta.with_suffix(".npy")
            features, reason = self._read_checked(npy, record)
            _merge(npy, features, reason, shard_keys, wanted, rows, also=meta)
        return rows

    @staticmethod
    def _gather_parquet(path: Path, wanted: set[str], rows: dict[str, np.ndarray]) -> None:
        """Add the rows of ``wanted`` keys (not yet in ``rows``) held by Parquet shard ``path``."""
        try:
            shard_keys = _parquet_keys(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            _warn(f"feature cache: ignoring {path}: unreadable shard ({exc}); recomputing")
            _remove(path)
            return
        if not any(k in wanted and k not in rows for k in shard_keys):
            return
        _, features, reason = read_parquet_shard(path)
        _merge(path, features, reason, shard_keys, wanted, rows)

    @staticmethod
    def _read_checked(npy: Path, record: dict) -> tuple[np.ndarray | None, str | None]:
        """The array in ``npy`` and None, or None and why it cannot be used."""
        try:
            features = np.load(npy, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            return None, f"cannot load the array ({exc})"
        return _check_array(features, record)

    def _write_shard(self, key: str, keys: list[str], features: np.ndarray, label: str) -> None:
        if not np.all(np.isfinite(features)):
            # never cached: the caller reports non-finite features as an error
            return
        name = uuid.uuid4().hex
        folder = self._folder(key)
        self._write(
            folder / f"{name}.npy",
            features,
            {"layout": _LAYOUT, "key": key, "extractor": label, "image_keys": keys},
        )

    # -- writing, shared by both kinds of entry ----------------------------
    def _write(self, npy: Path, features: np.ndarray, info: dict) -> None:
        """Write ``features`` to ``npy`` and its record beside it; warn on OSError."""
        if self._write_error is not None:
            return
        features = np.ascontiguousarray(features)
        record = {
            **info,
            "shape": list(features.shape),
            "dtype": str(features.dtype),
            "sha256": _array_sha256(features),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        text = json.dumps(record, indent=1, sort_keys=True, default=str).encode()
        meta = npy.with_suffix(".json")
        try:
            atomic_write(npy, lambda f: np.save(f, features, allow_pickle=False))
            atomic_write(meta, lambda f: f.write(text))
        except OSError as exc:
            self._write_error = str(exc)
            _remove(npy)  # an array without its record is never read; do not leave it
            _warn(
                f"feature cache: cannot write to {npy.parent}: {exc}; going on without caching "
                "for the rest of this run"
            )

    # -- whole-set entries (older API) ------------------------------------
    @staticmethod
    def key(extractor: Any, data: Any) -> str:
        """The cache key of ``extractor`` applied to the whole ImageSet ``data``
        (content, order and transforms)."""
        return stable_hash({"extractor": extractor.cache_key(), "data": data.fingerprint()})

    def _paths(self, key: str) -> tuple[Path, Path]:
        sub = self.directory / key[:2]
        return sub / f"{key}.npy", sub / f"{key}.json"

    def load(self, key: str) -> np.ndarray | None:
        """The cached features for ``key``, or None when absent or damaged (with a warning)."""
        npy, meta = self._paths(key)
        if not (npy.exists() and meta.exists()):
            return None
        try:
            record = json.loads(meta.read_text())
        except (OSError, ValueError) as exc:
            _warn(f"feature cache: ignoring {meta}: unreadable record ({exc})")
            return None
        features, reason = self._read_checked(npy, record)
        if reason is not None:
            _warn(f"feature cache: ignoring {npy}: {reason}")
            return None
        return features

    def save(self, key: str, features: np.ndarray, info: dict | None = None) -> None:
        """Store ``features`` under ``key`` (the array first, its record last).

        A failed write (disk full, read-only folder) warns and returns.
        """
        npy, _ = self._paths(key)
        self._write(npy, features, {"key": key, **(info or {})})
