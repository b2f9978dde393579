"""Speed of the handcrafted features against the scikit-image calls they replace.

Each key times the same images, in one process, through ``transfer``'s
batched implementation and through scikit-image applied image by image (the
baseline), after checking the two outputs equal:

- ``hog_vs_skimage``: :func:`transfer.features.handcrafted.hog_features` on
  the whole batch against :func:`skimage.feature.hog` per image (float64),
  equal to 1e-6. The entry's times are the LFW-people workload (62x47 grey,
  8x8 cells, 2x2 blocks, L2-Hys); ``workloads`` adds the CIFAR recipe's 4x4
  cells on 32x32 images and on 64x64 images, each with its ratio.
- ``lbp_vs_skimage``: :func:`~transfer.features.handcrafted.lbp_codes`
  against :func:`skimage.feature.local_binary_pattern` (P=8, R=2,
  ``nri_uniform``), codes identical.
- ``gabor_vs_skimage``: :func:`~transfer.features.handcrafted.gabor_magnitudes`
  (batched, one kernel; at this size two single-precision matrix products
  per image, the kernel being separable) against the magnitude of
  :func:`skimage.filters.gabor` (frequency 0.2, theta 0, reflect), equal to
  single-precision round-off (rtol 1e-3, atol 1e-2 on [0, 255] images).

The images are crops of scikit-image's ``camera`` at LFW-people size (grey
levels 0..255), so the benchmark needs no data set. The first pass of each
side gives the outputs compared and counts as a timing; then the passes of
the two sides alternate (best of ``repeat``), so that load from other
processes hits both alike.

Run ``python benchmarks/bench_handcrafted.py`` (quick mode, about a minute on
2 cores; ``--full`` for larger batches and more passes); it prints the
entries as JSON. ``make bench`` calls :func:`bench`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

try:  # as a script, benchmarks/ is on sys.path; as benchmarks.bench_handcrafted, its parent
    import common
    from common import entry, interleaved, max_abs_diff
except ImportError:  # pragma: no cover
    from benchmarks import common
    from benchmarks.common import entry, interleaved, max_abs_diff

HOG_TOL = 1e-6


def camera_crops(n: int, shape: tuple[int, int] = (62, 47), seed: int = 0) -> np.ndarray:
    """``n`` grey float32 images of ``shape``, random crops of scikit-image's camera.

    The camera is first resized to 256x256 (LFW-people faces are about that
    scale of detail for a 62x47 crop) and rounded back to integer grey levels,
    as decoded images are.
    """
    from skimage import data as skdata
    from skimage.transform import resize

    base = resize(skdata.camera().astype(np.float64), (256, 256), preserve_range=True)
    base = np.round(base).astype(np.float32)
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, 256 - shape[0] + 1, size=n)
    cols = rng.integers(0, 256 - shape[1] + 1, size=n)
    return np.stack(
        [base[r : r + shape[0], c : c + shape[1]] for r, c in zip(rows, cols, strict=True)]
    )


def _compare_then_time(
    baseline: Callable[[], Any], ours: Callable[[], Any], repeat: int
) -> tuple[Any, Any, float, float]:
    """Outputs of one timed pass of each side, then the best times of ``repeat`` passes."""
    t0 = time.perf_counter()
    ref = baseline()
    base_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    got = ours()
    ours_s = time.perf_counter() - t0
    if repeat > 1:
        best = interleaved({"baseline": baseline, "ours": ours}, repeat - 1)
        base_s, ours_s = min(base_s, best["baseline"]), min(ours_s, best["ours"])
    return ref, got, base_s, ours_s


def _hog_workload(n: int, shape: tuple[int, int], cell: int, repeat: int) -> dict[str, Any]:
    from skimage.feature import hog

    from transfer.features.handcrafted import hog_features

    images = camera_crops(n, shape)
    params = {"orientations": 9, "pixels_per_cell": (cell, cell), "cells_per_block": (2, 2)}

    def baseline() -> np.ndarray:
        return np.stack(
            [hog(im.astype(np.float64), block_norm="L2-Hys", **params) for im in images]
        )

    def ours() -> np.ndarray:
        return hog_features(images, block_norm="L2-Hys", **params)

    ref, got, base_s, ours_s = _compare_then_time(baseline, ours, repeat)
    diff = max_abs_diff(got, ref)
    return {
        "label": f"{n} x {shape[0]}x{shape[1]}, {cell}x{cell} cells, 2x2 blocks",
        "sizes": {"images": n, "height": shape[0], "width": shape[1], "cell": cell, "block": 2},
        "equal": {"ok": bool(diff <= HOG_TOL), "max_abs_diff": diff, "tol": HOG_TOL},
        "baseline_s": base_s,
        "ours_s": ours_s,
        "ratio": round(base_s / max(ours_s, 1e-12), 3),
    }


def bench_hog(quick: bool = True) -> dict[str, Any]:
    """``hog_vs_skimage``: LFW-people size, plus the CIFAR recipe's cells on 32x32 and 64x64."""
    repeat = 3 if quick else 5
    scale = 1 if quick else 4
    lfw = _hog_workload(3000 * scale, (62, 47), 8, repeat)
    others = [
        _hog_workload(2000 * scale, (32, 32), 4, repeat),
        _hog_workload(300 * scale, (64, 64), 4, repeat),
    ]
    workloads = [lfw, *others]
    return entry(
        baseline=f"skimage.feature.hog per image (float64), {lfw['label']}",
        ours=f"hog_features on the batch, {lfw['label']}",
        baseline_s=lfw["baseline_s"],
        ours_s=lfw["ours_s"],
        sizes=lfw["sizes"],
        equal={
            "ok": all(w["equal"]["ok"] for w in workloads),
            "max_abs_diff": max(w["equal"]["max_abs_diff"] for w in workloads),
            "tol": HOG_TOL,
        },
        goal=5.0,
        workloads=workloads,
        min_ratio=min(w["ratio"] for w in workloads),
        repeat=repeat,
    )


def bench_lbp(quick: bool = True) -> dict[str, Any]:
    """``lbp_vs_skimage``: P=8, R=2, nri_uniform codes of LFW-size images."""
    from skimage.feature import local_binary_pattern

    from transfer.features.handcrafted import lbp_codes

    repeat = 3 if quick else 5
    images = camera_crops(3000 if quick else 13233)
    as_uint8 = images.astype(np.uint8)

    def baseline() -> np.ndarray:
        return np.stack([local_binary_pattern(im, 8, 2, method="nri_uniform") for im in as_uint8])

    def ours() -> np.ndarray:
        return lbp_codes(images, P=8, R=2, method="nri_uniform")

    ref, got, base_s, ours_s = _compare_then_time(baseline, ours, repeat)
    same = bool(np.array_equal(np.asarray(got), ref.astype(np.asarray(got).dtype)))
    n, h, w = images.shape
    return entry(
        baseline=f"skimage.feature.local_binary_pattern per image, {n} x {h}x{w}",
        ours=f"lbp_codes on the batch, {n} x {h}x{w}",
        baseline_s=base_s,
        ours_s=ours_s,
        sizes={"images": n, "height": h, "width": w, "P": 8, "R": 2, "method": "nri_uniform"},
        equal={"ok": same, "identical_codes": same, "max_abs_diff": max_abs_diff(got, ref)},
        goal=3.9,
        repeat=repeat,
    )


def bench_gabor(quick: bool = True) -> dict[str, Any]:
    """``gabor_vs_skimage``: magnitude of one Gabor kernel (frequency 0.2, theta 0)."""
    from skimage.filters import gabor

    from transfer.features.handcrafted import gabor_magnitudes

    repeat = 3 if quick else 5
    images = camera_crops(1000 if quick else 4000)
    rtol, atol = 1e-3, 1e-2

    def baseline() -> np.ndarray:
        return np.stack(
            [np.hypot(*gabor(im, frequency=0.2, theta=0, mode="reflect")) for im in images]
        )

    def ours() -> np.ndarray:
        return gabor_magnitudes(images, frequencies=(0.2,), n_orientations=1, mode="reflect")[
            :, 0, 0
        ]

    ref, got, base_s, ours_s = _compare_then_time(baseline, ours, repeat)
    ok = bool(np.allclose(got, ref, rtol=rtol, atol=atol))
    n, h, w = images.shape
    return entry(
        baseline=f"skimage.filters.gabor per image (magnitude), {n} x {h}x{w}",
        ours=f"gabor_magnitudes on the batch (separable products), {n} x {h}x{w}",
        baseline_s=base_s,
        ours_s=ours_s,
        sizes={"images": n, "height": h, "width": w, "kernels": 1, "frequency": 0.2},
        equal={"ok": ok, "max_abs_diff": max_abs_diff(got, ref), "rtol": rtol, "atol": atol},
        goal=62.0,
        repeat=repeat,
    )


def bench(quick: bool = True) -> dict[str, dict]:
    """The entries ``hog_vs_skimage``, ``lbp_vs_skimage`` and ``gabor_vs_skimage``."""
    return {
        "hog_vs_skimage": bench_hog(quick),
        "lbp_vs_skimage": bench_lbp(quick),
        "gabor_vs_skimage": bench_gabor(quick),
    }


def main(argv: list[str] | None = None) -> dict[str, dict]:
    return common.main(bench, __doc__, "larger batches, best of 5", argv)


if __name__ == "__main__":
    main()
