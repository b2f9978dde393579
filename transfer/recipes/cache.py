"""A content-keyed cache of extracted features, like a Pipeline ``memory=``.

The key covers the extractor (class, parameters, version; for CNNs also the
weights' sha256 and the layer) and the input (every image's content, their
order and the transforms), so a hit is always safe to reuse. Entries are an
``.npy`` file plus a ``.json`` record, each written atomically (temporary
file, then ``os.replace``), so an interrupted run never leaves a half entry.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from transfer._io import atomic_write, default_cache_dir
from transfer.features.base import stable_hash


class FeatureCache:
    """Extracted features on disk, keyed by extractor and input content.

    Parameters
    ----------
    directory : str or Path, optional
        Where entries live; defaults to :func:`default_cache_dir` / "features".
    """

    def __init__(self, directory: str | os.PathLike | None = None) -> None:
        self.directory = Path(directory) if directory else default_cache_dir() / "features"

    @staticmethod
    def key(extractor: Any, data: Any) -> str:
        """The cache key of ``extractor`` applied to the ImageSet ``data``."""
        return stable_hash({"extractor": extractor.cache_key(), "data": data.fingerprint()})

    def _paths(self, key: str) -> tuple[Path, Path]:
        sub = self.directory / key[:2]
        return sub / f"{key}.npy", sub / f"{key}.json"

    def load(self, key: str) -> np.ndarray | None:
        """The cached features for ``key``, or None when absent or damaged."""
        npy, meta = self._paths(key)
        if not (npy.exists() and meta.exists()):
            return None
        try:
            record = json.loads(meta.read_text())
            features = np.load(npy, allow_pickle=False)
        except (OSError, ValueError):
            return None
        if list(features.shape) != record.get("shape"):
            return None
        return features

    def save(self, key: str, features: np.ndarray, info: dict | None = None) -> None:
        """Store ``features`` under ``key`` (the array first, its record last)."""
        npy, meta = self._paths(key)
        atomic_write(npy, lambda f: np.save(f, features, allow_pickle=False))
        record = {
            "key": key,
            "shape": list(features.shape),
            "dtype": str(features.dtype),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **(info or {}),
        }
        text = json.dumps(record, indent=2, sort_keys=True, default=str).encode()
        atomic_write(meta, lambda f: f.write(text))
