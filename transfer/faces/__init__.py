"""The face API: :func:`represent`, :func:`verify`, :func:`find`, :func:`calibrate`.

One call for a face, a pair or a folder, with the embeddings of the
``lfw-verification`` recipe (FaceNet or dlib), shipped thresholds
(``thresholds.json``: chosen on LFW View 1 training pairs, measured on its
test pairs) and a folder index refreshed by content (:class:`FaceIndex`).

Importing this package loads nothing heavy (no TensorFlow, no dlib): the
names resolve on first use and the networks load on the first call.

Examples
--------
>>> from transfer.faces import verify
>>> verify("a.jpg", "b.jpg").same  # doctest: +SKIP
True
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "FACE_CHOICES": "api",
    "METRICS": "api",
    "MODELS": "api",
    "FaceEmbedding": "api",
    "Match": "api",
    "VerifyResult": "api",
    "calibrate": "api",
    "embed_images": "api",
    "find": "api",
    "load_thresholds": "api",
    "pair_scores": "api",
    "represent": "api",
    "shipped_threshold": "api",
    "verify": "api",
    "FaceIndex": "index",
    "list_image_files": "index",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'transfer.faces' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"transfer.faces.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_NAMES))
