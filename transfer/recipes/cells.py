"""The cell cache: one finished (extractor, head, fold) outcome per entry.

A cell's outcome (metrics, predictions, curves, timings) is stored under a key
of everything that made it: the features (the extractor's cache key and the
content of the images it saw), the head's class and parameters, the fold's
definition, the targets, the protocol and the seed. A run killed at any point
recomputes only the cells it had not stored; a finished recipe re-runs from
here in seconds, and changing one head's parameter recomputes that head's
cells only.

Entries are a ``.npz`` of arrays (``allow_pickle=False``) and a ``.json``
record holding the metrics and the sha256 of the ``.npz``; each file is
written atomically and the record last, so a reader never sees half an entry.
A damaged entry (checksum mismatch, unreadable) is treated as missing, with a
warning naming it. Failed cells are not stored, so a re-run tries them again.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from transfer._io import atomic_write, default_cache_dir
from transfer.features.base import stable_hash
from transfer.protocols.base import FoldResult

log = logging.getLogger("transfer")

#: Bumped when the stored layout or a protocol's outcome changes meaning.
CELL_FORMAT = 1


def cell_key(
    *,
    features: str,
    head: Any,
    fold: str,
    targets: str,
    protocol: Any,
    seed: int,
) -> str:
    """The key of one cell.

    Parameters
    ----------
    features : str
        The key of the features the head sees (extractor and image content;
        per fold for an extractor fitted per fold).
    head : estimator
        The (unfitted) head: its class and parameters enter the key.
    fold : str
        The fold's definition (:meth:`Protocol.fold_definition`).
    targets : str
        Digest of the label/identity array.
    protocol : Protocol
        Its class and parameters enter the key.
    seed : int
        The recipe's seed.
    """
    return stable_hash(
        {
            "format": CELL_FORMAT,
            "features": features,
            "head": {
                "class": f"{type(head).__module__}.{type(head).__qualname__}",
                "params": head.get_params(deep=True),
            },
            "fold": fold,
            "targets": targets,
            "protocol": {
                "class": f"{type(protocol).__module__}.{type(protocol).__qualname__}",
                "params": protocol.get_params(),
            },
            "seed": seed,
        }
    )


class CellCache:
    """Finished cells on disk.

    Parameters
    ----------
    directory : str or Path, optional
        Where entries live; defaults to :func:`default_cache_dir` / "cells".
    """

    def __init__(self, directory: str | os.PathLike | None = None) -> None:
        self.directory = Path(directory) if directory else default_cache_dir() / "cells"
        self._write_failed = False

    def _paths(self, key: str) -> tuple[Path, Path]:
        sub = self.directory / key[:2]
        return sub / f"{key}.npz", sub / f"{key}.json"

    def load(self, key: str) -> FoldResult | None:
        """The stored outcome of ``key``, or None when absent or damaged."""
        npz, meta = self._paths(key)
        if not meta.exists():
            return None
        try:
            record = json.loads(meta.read_text())
            blob = npz.read_bytes()
        except (OSError, ValueError) as exc:
            self._damaged(meta, f"unreadable ({exc})")
            return None
        if hashlib.sha256(blob).hexdigest() != record.get("sha256"):
            self._damaged(npz, "its checksum does not match its record")
            return None
        try:
            with np.load(io.BytesIO(blob), allow_pickle=False) as arrays:
                y_pred = arrays["y_pred"]
                curves = {name: arrays[f"curve:{name}"] for name in record["curves"]}
        except (OSError, ValueError, KeyError) as exc:
            self._damaged(npz, f"unreadable ({exc})")
            return None
        return FoldResult(
            metrics={k: float(v) for k, v in record["metrics"].items()},
            y_pred=y_pred,
            fit_seconds=float(record["fit_seconds"]),
            predict_seconds=float(record["predict_seconds"]),
            curves=curves,
        )

    def save(self, key: str, result: FoldResult, info: dict | None = None) -> None:
        """Store ``result`` under ``key``; a failed write warns once and goes on."""
        if self._write_failed:
            return
        npz, meta = self._paths(key)
        buffer = io.BytesIO()
        arrays = {"y_pred": np.asarray(result.y_pred)}
        arrays.update({f"curve:{k}": np.asarray(v) for k, v in result.curves.items()})
        np.savez(buffer, allow_pickle=False, **arrays)
        blob = buffer.getvalue()
        record = {
            "key": key,
            "format": CELL_FORMAT,
            "sha256": hashlib.sha256(blob).hexdigest(),
            "metrics": {k: float(v) for k, v in result.metrics.items()},
            "fit_seconds": float(result.fit_seconds),
            "predict_seconds": float(result.predict_seconds),
            "curves": sorted(result.curves),
            **(info or {}),
        }
        text = json.dumps(record, indent=1, sort_keys=True, default=str).encode()
        try:
            atomic_write(npz, lambda f: f.write(blob))
            atomic_write(meta, lambda f: f.write(text))
        except OSError as exc:
            self._write_failed = True
            warnings.warn(
                f"cannot write the cell cache in {self.directory} ({exc}); the run goes on "
                "without storing cells, so an interrupted run will not resume",
                RuntimeWarning,
                stacklevel=2,
            )

    @staticmethod
    def _damaged(path: Path, why: str) -> None:
        warnings.warn(
            f"cell cache entry {path} is damaged: {why}; recomputing it",
            RuntimeWarning,
            stacklevel=3,
        )
