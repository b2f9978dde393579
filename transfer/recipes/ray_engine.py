"""The Ray engine: extraction with Ray Data, the grid of cells as Ray tasks.

Imported only when a run asks for it (``engine: ray``, ``--engine ray``;
see :func:`transfer.recipes.engines.get_engine`), so the local engine never
imports ray.

- **Extraction.** The driver finds the images the feature cache lacks
  (:meth:`FeatureCache.pending`, the local engine's own code), makes a Ray
  dataset of their row numbers and content keys (never the pixels), and maps
  it in batches through a pool of actors, one per worker: each receives the
  image set (with its transforms) through the object store and a clone of
  the extractor, fits it once (a network loads once per actor), and writes
  one Parquet shard per batch into the cache key's folder
  (:func:`~transfer.recipes.cache.write_parquet_shard`). The driver then
  reads every row back through the cache, so the features are those the
  local engine would return, and a later run on either engine finds them.
- **The grid.** Each pending cell is a Ray task (one CPU); the arrays they
  share (the features of an extractor, the targets) are put in the object
  store once; results come back as they finish, so each is cached at once.

Workers read the image files and write the cache folder themselves: on a
cluster both must be on storage every node mounts at the same path. The
engine checks that on every node before it extracts, and names the path
and the node when one cannot see it.

References
----------
.. [1] P. Moritz et al., "Ray: A Distributed Framework for Emerging AI
   Applications", OSDI 2018.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import ray
from sklearn.base import clone

from transfer._progress import PhaseProgress
from transfer._quiet import QUIET_ENVIRONMENT
from transfer.data.imageset import ImageSet
from transfer.recipes.cache import Extracted, FeatureCache, image_keys
from transfer.recipes.engines import Engine, EngineError, write_batch

__all__ = ["RayEngine"]

log = logging.getLogger(__name__)

#: Seconds to wait for a cluster's address to answer before giving up.
CONNECT_TIMEOUT = 5.0
#: Retries of a grid cell whose worker died (an exception in the cell is not retried).
RETRIES = 3


class _ShardWriter:
    """A Ray Data actor: extracts batches of rows and writes one shard per batch."""

    def __init__(self, view: Any, extractor: Any, folder: str, label: str, info: dict) -> None:
        self.view = view
        self.extractor = extractor
        self.folder = folder
        self.label = label
        self.info = info
        self.fitted = False

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = [int(r) for r in batch["row"]]
        name, n = write_batch(
            self.extractor,
            self.view,
            rows,
            [str(k) for k in batch["image_key"]],
            self.folder,
            self.label,
            fit=not self.fitted,
            info=self.info,
        )
        self.fitted = True
        return {"shard": np.array([name]), "count": np.array([n])}


def _worker_env() -> dict[str, Any]:
    """The runtime environment of every actor and task: the driver's ``TRANSFER_*``
    variables (data root, cache, weights folders: the workers must find what the
    driver finds, on storage every node mounts at the same path) and TensorFlow kept
    quiet. Read at each call: a variable set after the engine started still counts."""
    env = {k: v for k, v in os.environ.items() if k.startswith("TRANSFER_")}
    return {"env_vars": {**QUIET_ENVIRONMENT, **env}}


def _quiet_data() -> None:
    """Ray Data prints no bars nor banners: the run prints its own progress."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)


def _probe(paths: list[str]) -> tuple[str, list[str]]:
    """On a worker: its host name and which of ``paths`` it cannot see."""
    return socket.gethostname(), [p for p in paths if not os.path.exists(p)]


def _host_port(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``ray://HOST:PORT`` or ``HOST:PORT`` address, else None."""
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    try:
        port = parts.port
    except ValueError:
        return None
    return (parts.hostname, port) if parts.hostname and port else None


class RayEngine(Engine):
    """Extraction and the grid of cells on a Ray cluster.

    Parameters
    ----------
    address : str, optional
        ``None``: start a local Ray instance for the run (stopped at its
        end). ``"auto"``: join the cluster started on this machine with
        ``ray start``. ``"ray://HOST:PORT"`` (Ray Client) or ``"HOST:PORT"``
        (a head node's GCS): join that cluster.
    workers : int, optional
        Extraction actors (one CPU each); for a local instance also its
        number of CPUs. Default: the cluster's CPUs.
    batch_size : int, optional
        Images per batch, and per Parquet shard. Default: the extractor's
        ``batch_size_``.

    Notes
    -----
    A Ray instance this process already joined is used as it is and left
    running at :meth:`stop`.
    """

    name = "ray"

    def __init__(
        self, address: str | None = None, workers: int | None = None, batch_size: int | None = None
    ) -> None:
        self.address = address
        self.workers = workers
        self.batch_size = batch_size
        self._started = False

    # -- lifetime ---------------------------------------------------------------
    def start(self) -> RayEngine:
        """Join or start the cluster.

        Raises
        ------
        EngineError
            When the address does not answer within :data:`CONNECT_TIMEOUT`
            seconds, or Ray refuses it; the message names the address.
        """
        where = self.address
        if where is not None and where != "auto":
            target = _host_port(where)
            if target is None:
                raise EngineError(
                    f"--address {where!r}: expected auto, ray://HOST:PORT or HOST:PORT"
                )
            try:
                socket.create_connection(target, timeout=CONNECT_TIMEOUT).close()
            except OSError as exc:
                raise EngineError(
                    f"cannot reach the Ray cluster at {where!r} ({target[0]}:{target[1]}: "
                    f"{exc.strerror or exc}); start one with `ray start --head`, or check the "
                    "address and the firewall"
                ) from None
        if ray.is_initialized():  # joined already (a notebook, the tests): use it as it is
            _quiet_data()
            return self
        kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.ERROR,
            # workers import TensorFlow (its start-up notices kept out of the logs)
            # and find the data, cache and weights where the driver does
            "runtime_env": _worker_env(),
        }
        if where is None and self.workers is not None:
            kwargs["num_cpus"] = self.workers
        # Ray Data's actors keep their constructor arguments in the object store,
        # which Ray's C++ core reports as an ERROR line on every extraction: log
        # its fatal errors only (its log files keep everything; a user's own
        # setting wins)
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
        try:
            ray.init(address=where, **kwargs)
        except (ConnectionError, TimeoutError, RuntimeError, ValueError) as exc:
            if where is None:
                raise EngineError(f"cannot start a local Ray instance: {exc}") from None
            raise EngineError(f"cannot join the Ray cluster at {where!r}: {exc}") from None
        self._started = True
        _quiet_data()
        return self

    def stop(self) -> None:
        """Shut Ray down if :meth:`start` started or joined it (not an instance found running)."""
        if self._started:
            self._started = False
            ray.shutdown()

    # -- checks -----------------------------------------------------------------
    def check_visible(self, paths: Sequence[str | os.PathLike]) -> None:
        """Check that every alive node sees ``paths`` (image files, the cache folder).

        Raises
        ------
        EngineError
            Naming the first path a node cannot see and that node's host name.
        """
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        wanted = [os.fspath(p) for p in paths]
        probe = ray.remote(num_cpus=0, max_retries=0)(_probe)
        nodes = [n["NodeID"] for n in ray.nodes() if n.get("Alive")]
        refs = [
            probe.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)
            ).remote(wanted)
            for node in nodes
        ]
        for host, unseen in ray.get(refs):
            if unseen:
                raise EngineError(
                    f"{unseen[0]} is not visible on the Ray worker at {host}: data, cache and "
                    "results must be on storage every node mounts at the same path (a shared "
                    "filesystem or an object-store mount)"
                )

    # -- extraction -------------------------------------------------------------
    def features(
        self, cache: FeatureCache, extractor: Any, view: ImageSet, label: str
    ) -> Extracted:
        t0 = time.perf_counter()
        pending = cache.pending(extractor, view, label=label)
        if pending.missing:
            folder = cache._folder(pending.key)
            folder.mkdir(parents=True, exist_ok=True)
            self._map(
                extractor,
                view,
                pending.missing,
                [pending.keys[i] for i in pending.missing],
                folder,
                label,
                {"key": pending.key},
            )
        # every row now comes from the cache (shards that failed are computed here)
        got = cache.extract(extractor, view, label=label)
        computed = {pending.keys[i] for i in pending.missing}
        return Extracted(
            features=got.features,
            seconds=time.perf_counter() - t0,
            n_computed=len(pending.missing),
            n_cached=sum(k not in computed for k in pending.keys),
            key=pending.key,
        )

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
        rows = list(range(len(view)))
        if batch_size is not None:
            self.batch_size = batch_size
        return self._map(extractor, view, rows, image_keys(view), folder, label, {}, say)

    def _map(
        self,
        extractor: Any,
        view: ImageSet,
        rows: list[int],
        keys: list[str],
        folder: Path,
        label: str,
        info: dict,
        say: Callable[[str], object] | None = None,
    ) -> int:
        """Extract ``rows`` of ``view`` on the actors into shards in ``folder``; shards written."""
        first = [view.paths[rows[0]]] if view.paths is not None else []
        self.check_visible([*first, folder])
        size = int(self.batch_size or extractor.batch_size_)
        workers = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        items = ray.data.from_items(
            [{"row": r, "image_key": k} for r, k in zip(rows, keys, strict=True)]
        )
        shards = items.map_batches(
            _ShardWriter,
            fn_constructor_kwargs={
                "view": view,
                "extractor": clone(extractor),
                "folder": os.fspath(folder),
                "label": label,
                "info": info,
            },
            batch_size=size,
            batch_format="numpy",
            # Ray Data restarts a dead actor and retries its batch (max_restarts and
            # max_task_retries default to -1 for actor pools); an exception raised by
            # the extractor is not retried: it fails the run with its message
            compute=ray.data.ActorPoolStrategy(size=min(workers, -(-len(rows) // size))),
            num_cpus=1,
            runtime_env=_worker_env(),
        )
        n = 0
        with PhaseProgress(f"{label} on Ray", len(rows), unit="images", say=say) as progress:
            for batch in shards.iter_batches(batch_size=None, batch_format="numpy"):
                n += len(batch["shard"])
                progress.advance(int(np.sum(batch["count"])))
        return n

    # -- the grid ---------------------------------------------------------------
    def map_cells(
        self, fn: Callable[..., Any], jobs: Sequence[tuple], n_jobs: int
    ) -> Iterator[tuple[int, Any]]:
        task = ray.remote(num_cpus=1, max_retries=RETRIES, runtime_env=_worker_env())(fn)
        refs: dict[int, Any] = {}  # id(argument) -> its object, put once

        def shared(arg: Any) -> Any:
            if id(arg) not in refs:
                refs[id(arg)] = (arg, ray.put(arg))  # keep arg alive: ids stay unique
            return refs[id(arg)][1]

        running = {task.remote(*[shared(a) for a in args]): i for i, args in enumerate(jobs)}
        try:
            while running:
                done, _ = ray.wait(list(running), num_returns=1)
                for ref in done:
                    yield running.pop(ref), ray.get(ref)
        finally:
            for ref in running:  # interrupted: do not leave cells running on the cluster
                ray.cancel(ref)
