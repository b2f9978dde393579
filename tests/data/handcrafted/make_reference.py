"""Regenerate ``reference.npz``: handcrafted features of one fixed image.

Run from the repository root when a deliberate change alters an extractor's
output (and bump that extractor's ``_cache_version``)::

    python tests/data/handcrafted/make_reference.py

The input is scikit-image's ``camera`` (512x512) averaged over 8x8 blocks
to 64x64 and rounded to uint8: plain numpy, so the regression test does not
depend on scikit-image's resize staying the same, and the image itself is
not stored here (only the features computed from it).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE / "reference.npz"

#: name -> (registry name, parameters); JSON-able so the test rebuilds them.
CONFIGS: dict[str, tuple[str, dict]] = {
    "pixels_zscore": ("pixels", {"normalize": "zscore"}),
    "lbp_default": ("lbp", {}),
    "lbp_uniform_P16_R2_grid4": ("lbp", {"P": 16, "R": 2.0, "method": "uniform", "grid": 4}),
    "lbp_ror_grid2": ("lbp", {"method": "ror", "grid": 2}),
    "lbp_multiscale_uniform": ("lbp", {"method": "uniform", "grid": 4, "radii": [1, 2, 3]}),
    "hog_default": ("hog", {}),
    "hog_l1sqrt_sqrt": (
        "hog",
        {
            "orientations": 6,
            "pixels_per_cell": 16,
            "cells_per_block": 1,
            "block_norm": "L1-sqrt",
            "transform_sqrt": True,
        },
    ),
    "gabor_default": ("gabor", {}),
    "gabor_small_constant_raw": (
        "gabor",
        {
            "frequencies": [0.1, 0.25],
            "n_orientations": 4,
            "grid": 4,
            "mode": "constant",
            "normalize": "none",
        },
    ),
}


def reference_image() -> np.ndarray:
    from skimage import data

    blocks = data.camera().astype(np.float64).reshape(64, 8, 64, 8).mean(axis=(1, 3))
    return np.round(blocks).astype(np.uint8)


def main() -> None:
    import transfer.features.handcrafted  # noqa: F401  (registers the extractors)
    from transfer._registry import EXTRACTORS

    image = reference_image()
    arrays = {"configs": np.array(json.dumps(CONFIGS))}
    for name, (kind, params) in CONFIGS.items():
        features = EXTRACTORS.create(kind, **params).fit_transform(image[None])[0]
        arrays[name] = features
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
