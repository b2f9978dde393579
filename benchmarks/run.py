"""Speed of the handcrafted extractors against the scikit-image baselines.

Each row times the same images through ``transfer``'s batched implementation
and through the per-image scikit-image call it replaces, in one process,
and reports the ratio (baseline seconds / ours). Outputs are checked equal
before timing. Run with ``make bench`` (about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
from skimage import data as skdata
from skimage.feature import hog, local_binary_pattern
from skimage.filters import gabor
from skimage.transform import resize

from transfer.features.handcrafted import (
    gabor_magnitudes,
    hog_features,
    lbp_codes,
)


def _faces(n: int, shape=(62, 47)) -> np.ndarray:
    """``n`` grey images of LFW-people size built from scikit-image's camera."""
    base = resize(skdata.camera().astype(np.float32), (256, 256), preserve_range=True)
    rng = np.random.default_rng(0)
    out = np.empty((n, *shape), dtype=np.float32)
    for i in range(n):
        y, x = rng.integers(0, 256 - shape[0]), rng.integers(0, 256 - shape[1])
        out[i] = base[y : y + shape[0], x : x + shape[1]]
    return np.round(out)


def _best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="images (default 3000, LFW-people)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    imgs = _faces(args.n)
    rows = []

    # LBP codes: batched numpy vs scikit-image per image
    ours = lbp_codes(imgs, P=8, R=2, method="nri_uniform")
    ref = np.stack(
        [local_binary_pattern(im.astype(np.uint8), 8, 2, method="nri_uniform") for im in imgs]
    )
    assert np.array_equal(ours, ref.astype(ours.dtype))
    rows.append(
        (
            f"LBP codes P=8 R=2, {args.n} x 62x47",
            _best_of(lambda: lbp_codes(imgs, P=8, R=2, method="nri_uniform"), args.repeat),
            _best_of(
                lambda: [
                    local_binary_pattern(im.astype(np.uint8), 8, 2, method="nri_uniform")
                    for im in imgs
                ],
                args.repeat,
            ),
        )
    )

    # Gabor magnitude, one kernel: batched FFT vs scikit-image's gabor per image
    sub = imgs[: max(1, args.n // 10)]
    ours = gabor_magnitudes(sub, frequencies=(0.2,), n_orientations=1, mode="reflect")[:, 0, 0]
    ref = np.stack([np.hypot(*gabor(im, frequency=0.2, theta=0, mode="reflect")) for im in sub])
    np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=1e-2)
    rows.append(
        (
            f"Gabor magnitude 1 kernel, {len(sub)} x 62x47",
            _best_of(
                lambda: gabor_magnitudes(sub, frequencies=(0.2,), n_orientations=1), args.repeat
            ),
            _best_of(
                lambda: [
                    np.hypot(*gabor(im, frequency=0.2, theta=0, mode="reflect")) for im in sub
                ],
                args.repeat,
            ),
        )
    )

    # HOG: ours wraps scikit-image per image; the ratio shows the wrapper's overhead
    rows.append(
        (
            f"HOG 8x8 cells, {args.n} x 62x47",
            _best_of(lambda: hog_features(imgs), args.repeat),
            _best_of(
                lambda: [
                    hog(im, 9, (8, 8), (2, 2), block_norm="L2-Hys", feature_vector=True)
                    for im in imgs
                ],
                args.repeat,
            ),
        )
    )

    print(
        f"# transfer benchmarks ({platform.processor() or platform.machine()}, best of "
        f"{args.repeat})\n"
    )
    print("| what | transfer (s) | scikit-image (s) | speed-up |")
    print("|---|---:|---:|---:|")
    for name, ours_s, ref_s in rows:
        print(f"| {name} | {ours_s:.3f} | {ref_s:.3f} | {ref_s / ours_s:.1f}x |")


if __name__ == "__main__":
    main()
