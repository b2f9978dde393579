"""Engines: where a run extracts features and evaluates its cells.

The run (:mod:`transfer.recipes.runner`) asks an engine for two things:

- :meth:`Engine.features`: the features of a stateless extractor on a view
  of the data, through the feature cache (:class:`~transfer.recipes.cache.FeatureCache`);
- :meth:`Engine.map_cells`: the results of a function over the pending cells
  of the grid, yielded as they finish.

:class:`LocalEngine` does both in this process (joblib threads for the
cells), as every run did before engines existed. The Ray engine
(:class:`transfer.recipes.ray_engine.RayEngine`, ``engine: ray`` in a recipe
or ``transfer run --engine ray``) does them on a Ray cluster; its module, and
``ray``, are imported only when it is asked for, so the local engine never
imports ray.

Both engines read and write the same cache, and run the same protocol code
with the same seeds: a run gives the same results on either.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from transfer.data.imageset import ImageSet
from transfer.recipes.cache import Extracted, FeatureCache, image_keys, write_parquet_shard

__all__ = [
    "ENGINES",
    "Engine",
    "EngineError",
    "LocalEngine",
    "engine_spec",
    "get_engine",
    "write_shards",
]

#: How to install the Ray engine, in every message that needs it.
RAY_INSTALL = "pip install 'transfer[ray]' (from a checkout: pip install -e '.[ray]')"


class EngineError(RuntimeError):
    """An engine that cannot start or cannot reach what it needs (the message says why)."""


class Engine:
    """Where a run computes: the interface the runner calls.

    Subclasses override :meth:`features` and :meth:`map_cells`; :meth:`start`
    and :meth:`stop` bracket a run (the runner calls :meth:`stop` also on
    error or Ctrl-C).
    """

    #: The name recipes and the command line use.
    name = "base"

    def start(self) -> Engine:
        """Acquire what the engine needs (a cluster connection); returns self."""
        return self

    def stop(self) -> None:
        """Release what :meth:`start` acquired."""

    def __enter__(self) -> Engine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def features(
        self, cache: FeatureCache, extractor: Any, view: ImageSet, label: str
    ) -> Extracted:
        """Features of ``view`` by the stateless ``extractor``, through ``cache``.

        Returns what :meth:`FeatureCache.extract` returns: the same features
        and counts whichever engine computes them.
        """
        raise NotImplementedError

    def map_cells(
        self, fn: Callable[..., Any], jobs: Sequence[tuple], n_jobs: int
    ) -> Iterator[tuple[int, Any]]:
        """``(i, fn(*jobs[i]))`` for every job, in the order they finish."""
        raise NotImplementedError

    def write_shards(
        self,
        extractor: Any,
        view: ImageSet,
        folder: Path,
        *,
        label: str,
        batch_size: int | None = None,
        say: Callable[[str], object] | None = None,
    ) -> int:
        """Write the features of every image of ``view`` as Parquet shards in ``folder``.

        Returns the number of shards written (``transfer extract``).
        """
        raise NotImplementedError


class LocalEngine(Engine):
    """Everything in this process: the feature cache's own extraction, and
    joblib (``n_jobs``) for the cells."""

    name = "local"

    def features(
        self, cache: FeatureCache, extractor: Any, view: ImageSet, label: str
    ) -> Extracted:
        return cache.extract(extractor, view, label=label)

    def map_cells(
        self, fn: Callable[..., Any], jobs: Sequence[tuple], n_jobs: int
    ) -> Iterator[tuple[int, Any]]:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=n_jobs, return_as="generator")(
            delayed(fn)(*args) for args in jobs
        )
        yield from enumerate(results)

    def write_shards(
        self,
        extractor: Any,
        view: ImageSet,
        folder: Path,
        *,
        label: str,
        batch_size: int | None = None,
        say: Callable[[str], object] | None = None,
    ) -> int:
        from sklearn.base import clone

        from transfer._progress import PhaseProgress

        extractor = clone(extractor)
        size = batch_size or extractor.batch_size_
        keys = image_keys(view)
        n = 0
        with PhaseProgress(f"{label}: shards", len(view), unit="images", say=say) as progress:
            for rows in _batches(len(view), size):
                write_batch(extractor, view, rows, [keys[i] for i in rows], folder, label, n == 0)
                n += 1
                progress.advance(len(rows))
        return n


def _batches(n: int, size: int) -> Iterable[list[int]]:
    for start in range(0, n, size):
        yield list(range(start, min(start + size, n)))


def write_batch(
    extractor: Any,
    view: ImageSet,
    rows: Sequence[int],
    keys: Sequence[str],
    folder: str | os.PathLike,
    label: str,
    fit: bool,
    info: dict | None = None,
) -> tuple[str, int]:
    """Extract the images ``rows`` of ``view`` and write them as one Parquet shard.

    The shared shard writer of both engines (a Ray actor calls it per batch).

    Parameters
    ----------
    extractor : estimator
        A stateless extractor, fitted when ``fit`` is False.
    view : ImageSet
        The images with every transform applied on load.
    rows : sequence of int
        Rows of ``view``.
    keys : sequence of str
        Their content keys (:func:`~transfer.recipes.cache.image_keys`).
    folder : path
        Where the shard goes.
    label : str
        The extractor's name in the recipe (records and messages).
    fit : bool
        Fit ``extractor`` on these images first (a stateless extractor's
        fit reads only their shape).
    info : dict, optional
        More fields for the shard's record (the cache key).

    Returns
    -------
    (str, int)
        The shard's file name ("" when the features were not finite and
        nothing was written) and the number of rows.

    Raises
    ------
    ValueError
        When the extractor returns an array of the wrong shape.
    """
    subset = view.subset(list(rows))
    if fit:
        extractor.fit(subset)
    features = np.asarray(extractor.transform(subset), dtype=np.float32)
    if features.ndim != 2 or len(features) != len(rows):
        raise ValueError(
            f"extractor {label!r} returned features of shape {features.shape} for "
            f"{len(rows)} images; expected ({len(rows)}, n_features)"
        )
    paths = [
        subset.paths[j] if subset.paths is not None else view.describe(i)
        for j, i in enumerate(rows)
    ]
    shard = write_parquet_shard(
        folder,
        list(keys),
        paths,
        np.asarray(subset.labels),
        features,
        {"extractor": label, **(info or {})},
    )
    return (shard.name if shard is not None else ""), len(rows)


def write_shards(
    engine: Engine,
    extractor: Any,
    view: ImageSet,
    folder: str | os.PathLike,
    *,
    label: str,
    batch_size: int | None = None,
    say: Callable[[str], object] | None = None,
) -> int:
    """Write ``extractor``'s features of every image of ``view`` into ``folder`` on ``engine``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return engine.write_shards(extractor, view, folder, label=label, batch_size=batch_size, say=say)


def _ray_engine(address: str | None, workers: int | None, batch_size: int | None) -> Engine:
    try:
        import ray  # noqa: F401
    except ImportError:
        raise EngineError(
            f"the ray engine needs Ray, which is not installed: {RAY_INSTALL}"
        ) from None
    from transfer.recipes.ray_engine import RayEngine

    return RayEngine(address=address, workers=workers, batch_size=batch_size)


def _local_engine(address: str | None, workers: int | None, batch_size: int | None) -> Engine:
    if address is not None:
        raise EngineError(
            f"engine.address {address!r} needs engine.name ray (the local engine "
            "runs in this process)"
        )
    return LocalEngine()


#: Engine name -> factory(address, workers, batch_size). The recipe schema asks
#: this table which names are valid.
ENGINES: dict[str, Callable[[str | None, int | None, int | None], Engine]] = {
    "local": _local_engine,
    "ray": _ray_engine,
}


def engine_spec(config: dict) -> dict:
    """The ``engine:`` mapping of a resolved recipe (``{name: local}`` when absent)."""
    spec = config.get("engine") or {}
    if isinstance(spec, str):
        spec = {"name": spec}
    return {
        "name": spec.get("name") or "local",
        "address": spec.get("address"),
        "workers": spec.get("workers"),
        "batch_size": spec.get("batch_size"),
    }


def get_engine(config: dict) -> Engine:
    """The engine a resolved recipe's ``engine:`` section names (not started).

    Parameters
    ----------
    config : dict
        A resolved recipe (``Recipe.config``).

    Returns
    -------
    Engine
        Call :meth:`Engine.start` (or use it as a context manager) before use.

    Raises
    ------
    EngineError
        For the ray engine when Ray is not installed (with the install
        command), or an address given to the local engine.
    """
    spec = engine_spec(config)
    if spec["name"] not in ENGINES:
        raise EngineError(f"unknown engine {spec['name']!r}; engines: {', '.join(ENGINES)}")
    return ENGINES[spec["name"]](spec["address"], spec["workers"], spec["batch_size"])
