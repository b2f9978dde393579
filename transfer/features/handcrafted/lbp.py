"""Local binary patterns: codes, per-cell histograms, multi-scale histograms.

The codes are computed for a whole batch at once with NumPy and are
bit-for-bit those of :func:`skimage.feature.local_binary_pattern` (same
neighbour positions rounded to 5 decimals, same bilinear interpolation in
float64 with the same weights and order of operations, same zero padding
outside the image, same ``>=`` threshold), several times faster on batches
of small images: the images of a chunk sit zero-padded end to end in one
flat array, so that each neighbour is one contiguous slice; the row
interpolations are shared by the neighbours with the same column offset;
the bits are packed into 8-, 16- or 32-bit codes, and mapped to the other
methods through a lookup table.
"""

from __future__ import annotations

import functools
import numbers
from typing import Any

import numpy as np

from transfer._registry import register_extractor
from transfer._validation import NONE, InstanceOf, Interval, IntPair, Options, SequenceOf
from transfer.features.base import BaseExtractor
from transfer.features.handcrafted.pixels import (
    as_grey_batch,
    cell_sizes,
    check_batch,
    check_grid,
)

__all__ = [
    "LBPFeatures",
    "check_lbp_params",
    "lbp_bin_table",
    "lbp_codes",
    "lbp_histograms",
    "lbp_n_bins",
    "multiscale_lbp_histograms",
]

METHODS = ("default", "ror", "uniform", "nri_uniform")
#: Largest P for which a 2**P lookup table is built (and a 2**P-bin histogram allowed).
_MAX_LUT_P = 16
#: Frame pixels processed at once; keeps the float64 buffers in a core's L2 cache.
_CHUNK_PIXELS = 32_768


def check_lbp_params(P: Any, R: Any, method: Any) -> None:
    """Check LBP's ``P`` (neighbours), ``R`` (radius) and ``method``.

    Raises
    ------
    ValueError
        Naming the parameter, its value and what is allowed.
    """
    if not isinstance(P, numbers.Integral) or isinstance(P, bool) or not 1 <= P <= 31:
        raise ValueError(f"'P' must be an int in [1, 31], got {P!r}")
    if not isinstance(R, numbers.Real) or isinstance(R, bool) or not R > 0:
        raise ValueError(f"'R' must be a positive number, got {R!r}")
    if method not in METHODS:
        raise ValueError(f"'method' must be one of {METHODS}, got {method!r}")


def _pattern_codes(codes: np.ndarray, P: int, method: str) -> np.ndarray:
    """Map "default" codes (bit i = neighbour i >= centre) to ``method`` codes.

    Follows scikit-image's definitions exactly, including its numbering of
    the non-rotation-invariant uniform patterns.
    """
    codes = codes.astype(np.int64, copy=False)
    if method == "default":
        return codes
    if method == "ror":
        best = codes.copy()
        value = codes
        for _ in range(P - 1):
            value = (value >> 1) | ((value & 1) << (P - 1))
            np.minimum(best, value, out=best)
        return best
    n_ones = np.zeros(codes.shape, dtype=np.int64)
    changes = np.zeros(codes.shape, dtype=np.int64)
    first_one = np.full(codes.shape, -1, dtype=np.int64)
    first_zero = np.full(codes.shape, -1, dtype=np.int64)
    previous = None
    for i in range(P):
        bit = ((codes >> i) & 1).astype(bool)
        n_ones += bit
        if previous is not None:
            # Transitions along the chain 0..P-1 only: the circular count is
            # even, so "<= 2 along the chain" is the same as "<= 2 around it".
            changes += bit != previous
        first_one[(first_one < 0) & bit] = i
        first_zero[(first_zero < 0) & ~bit] = i
        previous = bit
    uniform = changes <= 2
    if method == "uniform":
        return np.where(uniform, n_ones, P + 1)
    # nri_uniform: 0 for all zeros, P(P-1)+1 for all ones, then for each count
    # of ones in 1..P-1 the P rotations, and P(P-1)+2 for non-uniform codes.
    rotation = np.where(first_one == 0, n_ones - first_zero, P - first_one)
    out = 1 + (n_ones - 1) * P + rotation
    out = np.where(n_ones == 0, 0, out)
    out = np.where(n_ones == P, P * (P - 1) + 1, out)
    return np.where(uniform, out, P * (P - 1) + 2)


@functools.lru_cache(maxsize=64)
def _code_table(P: int, method: str) -> np.ndarray:
    """Lookup table default code -> ``method`` code, for P <= 16."""
    table = _pattern_codes(np.arange(2**P, dtype=np.int64), P, method).astype(np.int32)
    table.flags.writeable = False
    return table


@functools.lru_cache(maxsize=64)
def lbp_bin_table(P: int, method: str) -> np.ndarray:
    """Lookup table "default" LBP code -> histogram bin of ``method``, for P <= 16.

    Bins are the codes themselves, except for "ror" whose codes (the
    smallest rotation of each pattern) are renumbered 0.. in increasing order
    so that no bin is always empty.
    """
    table = _code_table(P, method)
    if method == "ror":
        table = np.searchsorted(np.unique(table), table).astype(np.int32)
        table.flags.writeable = False
    return table


def lbp_n_bins(P: int, method: str) -> int:
    """Number of histogram bins of :func:`lbp_histograms` for one cell.

    ``2**P`` for "default", the number of binary necklaces of length P for
    "ror" (36 for P=8), ``P + 2`` for "uniform" and ``P * (P - 1) + 3`` for
    "nri_uniform".
    """
    check_lbp_params(P, 1.0, method)
    if method == "uniform":
        return P + 2
    if method == "nri_uniform":
        return P * (P - 1) + 3
    if P > _MAX_LUT_P:
        raise ValueError(
            f"'P'={P} with method={method!r} means {2**P} histogram bins; use P <= "
            f"{_MAX_LUT_P} or method 'uniform' / 'nri_uniform'"
        )
    return 2**P if method == "default" else int(lbp_bin_table(P, method).max()) + 1


def _neighbour_offsets(P: int, R: float) -> tuple[np.ndarray, np.ndarray]:
    # scikit-image's Cython signature takes R as a C float, and rounds the
    # offsets to 5 decimals; both matter for bit-exact agreement.
    R = float(np.float32(R))
    angles = 2 * np.pi * np.arange(P, dtype=np.float64) / P
    return np.round(-R * np.sin(angles), 5), np.round(R * np.cos(angles), 5)


def _code_dtype(P: int) -> type:
    """Smallest unsigned integer type holding a P-bit code."""
    return np.uint8 if P <= 8 else np.uint16 if P <= 16 else np.uint32


@functools.lru_cache(maxsize=64)
def _code_plan(P: int, R: float, h: int, w: int) -> tuple[int, list[tuple], dict]:
    """How each neighbour of an (h, w) image is read, for :func:`_chunk_codes`.

    Images sit in frames of ``(h + 2 m) x (w + 2 m)`` pixels, zero outside
    the image, laid end to end in one flat array: neighbour ``(dr, dc)`` of
    every pixel of a chunk is then one contiguous slice, at offset
    ``dr * (w + 2 m) + dc``. Returns ``m``, one step per neighbour
    ``(row floor, row ceil, col floor, column key, row key)`` and
    the interpolation weights per frame position, keyed by offset: column
    keys map to ``(1 - wc, wc, col floor, col ceil)``, row keys to
    ``(1 - wr, wr)``. The weights are scikit-image's: ``wr`` is
    ``(r + rp) - floor(r + rp)`` for each row ``r``, which varies in the last
    bits with ``r``; outside the image they are 1 and 0 (unused).
    """
    rp, cp = _neighbour_offsets(P, R)
    m = int(np.ceil(np.max(np.abs(np.concatenate([rp, cp]))))) + 1
    frame = (h + 2 * m, w + 2 * m)
    rows = np.arange(h, dtype=np.float64)
    cols = np.arange(w, dtype=np.float64)
    steps: list[tuple] = []
    weights: dict = {}
    for i in range(P):
        r0, r1 = int(np.floor(rp[i])), int(np.ceil(rp[i]))
        c0, c1 = int(np.floor(cp[i])), int(np.ceil(cp[i]))
        col_key = ("col", float(cp[i])) if c0 != c1 else None
        row_key = ("row", float(rp[i])) if r0 != r1 else None
        if col_key is not None and col_key not in weights:
            wc = (cols + cp[i]) - (cols + c0)
            one, weight = np.ones(frame), np.zeros(frame)
            one[:, m : m + w], weight[:, m : m + w] = 1 - wc, wc
            weights[col_key] = (one.ravel(), weight.ravel(), c0, c1)
        if row_key is not None and row_key not in weights:
            wr = ((rows + rp[i]) - (rows + r0))[:, None]
            one, weight = np.ones(frame), np.zeros(frame)
            one[m : m + h, :], weight[m : m + h, :] = 1 - wr, wr
            weights[row_key] = (one.ravel(), weight.ravel())
        steps.append((r0, r1, c0, col_key, row_key))
    for value in weights.values():
        for array in value[:2]:
            array.flags.writeable = False
    return m, steps, weights


class _CodeScratch:
    """Buffers of :func:`_chunk_codes` for chunks of up to ``k`` images, reused."""

    def __init__(self, P: int, R: float, h: int, w: int, k: int) -> None:
        self.plan = _code_plan(P, R, h, w)
        m, _, weights = self.plan
        width = w + 2 * m
        size = (h + 2 * m) * width
        self.shape = (h, w, size)
        # Zeros around the chunk's frames (m rows and m values), so that every
        # slice read stays inside the arrays; they only feed the padding of
        # the first and last frames, whose codes are dropped.
        self.margin = m * width + m
        self.pixels = np.zeros(k * size + 2 * self.margin)
        self.across = {
            key: np.zeros(k * size + 2 * self.margin) for key in weights if key[0] == "col"
        }
        self.value = np.empty(k * size)
        self.tmp = np.empty(k * size)
        self.bit = np.empty(k * size, dtype=bool)
        self.codes = np.empty(k * size, dtype=_code_dtype(P))


def _chunk_codes(images: np.ndarray, scratch: _CodeScratch) -> np.ndarray:
    """Default LBP codes of a chunk (k, h, w): a view (k, h, w) into ``scratch``.

    Bit-for-bit scikit-image's: the pixels in float64, each neighbour that
    falls between pixels interpolated as ``(1 - wr) * ((1 - wc) * top_left +
    wc * top_right) + wr * ((1 - wc) * bottom_left + wc * bottom_right)``,
    evaluated in that order; a weight 0 term is dropped, which changes
    nothing for finite values. The row interpolation ``(1 - wc) * left +
    wc * right`` depends only on the column offset, so it is computed once
    for all the rows and shared by the neighbours with that offset (for P=8,
    R=2: two row interpolations for four diagonal neighbours).
    """
    m, steps, weights = scratch.plan
    h, w, size = scratch.shape
    width = w + 2 * m
    k = len(images)
    n_values = k * size
    start = scratch.margin  # the chunk's first value in scratch.pixels and .across
    frames = scratch.pixels[start : start + n_values].reshape(k, h + 2 * m, width)
    frames[:, m : m + h, m : m + w] = images
    centre = scratch.pixels[start : start + n_values]
    tmp = scratch.tmp[:n_values].reshape(k, size)
    across_done: set = set()
    bit, codes = scratch.bit[:n_values], scratch.codes[:n_values]
    as_bits = bit.view(np.uint8) if codes.dtype == np.uint8 else bit
    # Highest bit first: each new bit doubles the code so far, then sets bit 0.
    for step, (r0, r1, c0, col_key, row_key) in enumerate(reversed(steps)):
        if col_key is None:
            source, offset = scratch.pixels, start + c0
        else:
            source, offset = scratch.across[col_key], start
            if col_key not in across_done:
                one, weight, a0, a1 = weights[col_key]
                row_mix = source[start : start + n_values].reshape(k, size)
                left = scratch.pixels[start + a0 : start + a0 + n_values].reshape(k, size)
                right = scratch.pixels[start + a1 : start + a1 + n_values].reshape(k, size)
                np.multiply(left, one, out=row_mix)
                np.multiply(right, weight, out=tmp)
                row_mix += tmp
                across_done.add(col_key)
        top = source[offset + r0 * width : offset + r0 * width + n_values]
        if row_key is None:
            neighbour = top
        else:
            one, weight = weights[row_key]
            bottom = source[offset + r1 * width : offset + r1 * width + n_values]
            neighbour = scratch.value[:n_values]
            np.multiply(top.reshape(k, size), one, out=neighbour.reshape(k, size))
            np.multiply(bottom.reshape(k, size), weight, out=tmp)
            neighbour += tmp.reshape(-1)
        np.greater_equal(neighbour, centre, out=bit)
        if step == 0:
            np.copyto(codes, bit)
        else:
            np.add(codes, codes, out=codes)
            np.bitwise_or(codes, as_bits, out=codes)
    return codes.reshape(k, h + 2 * m, width)[:, m : m + h, m : m + w]


def _iter_code_chunks(images: np.ndarray, P: int, R: float):
    """Yield (start, default codes (k, h, w), unsigned) over chunks of the batch.

    The codes are a view into buffers that the next chunk overwrites.
    """
    n, h, w = images.shape
    m = _code_plan(P, R, h, w)[0]
    step = max(1, min(n, _CHUNK_PIXELS // ((h + 2 * m) * (w + 2 * m))))
    scratch = _CodeScratch(P, R, h, w, step)
    for start in range(0, n, step):
        yield start, _chunk_codes(images[start : start + step], scratch)


def lbp_codes(
    images: np.ndarray, P: int = 8, R: float = 1.0, method: str = "uniform"
) -> np.ndarray:
    """Circular local binary pattern codes of a batch of grey images.

    Each pixel is compared with ``P`` neighbours evenly spaced on a circle of
    radius ``R`` (bilinearly interpolated; outside the image counts as 0);
    neighbour ``p`` at angle ``2 pi p / P`` sets bit ``p`` when it is ``>=``
    the centre. The result equals :func:`skimage.feature.local_binary_pattern`
    applied to each image (as integers rather than floats).

    Parameters
    ----------
    images : ndarray of shape (n_samples, height, width)
        Grey images (any real dtype; computed in float64).
    P : int, default=8
        Number of neighbours on the circle, in [1, 31].
    R : float, default=1.0
        Radius of the circle, in pixels.
    method : {"default", "ror", "uniform", "nri_uniform"}, default="uniform"
        ``"default"``: the P-bit code, in [0, 2**P).
        ``"ror"``: the smallest of the P rotations of the code (rotation
        invariant), in [0, 2**P).
        ``"uniform"``: rotation-invariant uniform patterns (LBP riu2): the
        number of ones for patterns with at most two 0/1 transitions around
        the circle, ``P + 1`` for the others; P + 2 codes.
        ``"nri_uniform"``: non-rotation-invariant uniform patterns (LBP u2):
        each of the ``P * (P - 1) + 2`` uniform patterns its own code, all
        others ``P * (P - 1) + 2``; P * (P - 1) + 3 codes.

    Returns
    -------
    codes : ndarray of shape (n_samples, height, width), int32

    References
    ----------
    .. [1] T. Ojala, M. Pietikäinen and T. Mäenpää, "Multiresolution gray-scale
           and rotation invariant texture classification with local binary
           patterns", IEEE Transactions on Pattern Analysis and Machine
           Intelligence, vol. 24, no. 7, pp. 971-987, 2002.
    .. [2] T. Ahonen, A. Hadid and M. Pietikäinen, "Face description with local
           binary patterns: application to face recognition", IEEE
           Transactions on Pattern Analysis and Machine Intelligence, vol. 28,
           no. 12, pp. 2037-2041, 2006.

    Examples
    --------
    >>> import numpy as np
    >>> from transfer.features.handcrafted import lbp_codes
    >>> images = np.random.default_rng(0).integers(0, 256, size=(2, 16, 16))
    >>> codes = lbp_codes(images, P=8, R=1.0, method="uniform")
    >>> codes.shape, int(codes.max()) <= 9
    ((2, 16, 16), True)
    """
    check_lbp_params(P, R, method)
    images = check_batch(images)
    out = np.empty(images.shape, dtype=np.int32)
    table = _code_table(P, method) if method != "default" and P <= _MAX_LUT_P else None
    for start, codes in _iter_code_chunks(images, P, R):
        target = out[start : start + len(codes)]
        if method == "default":
            target[...] = codes
        elif table is not None:
            np.take(table, codes, out=target)
        else:
            target[...] = _pattern_codes(codes, P, method)
    return out


def lbp_histograms(
    images: np.ndarray,
    P: int = 8,
    R: float = 1.0,
    method: str = "nri_uniform",
    grid: int | tuple[int, int] = (7, 7),
    normalize: bool = True,
) -> np.ndarray:
    """Spatially enhanced LBP histograms: one code histogram per grid cell.

    The image is split into ``grid`` rows x cols cells as evenly as possible
    (the first ``h % rows`` cell rows get one more pixel, as
    :func:`numpy.array_split` does), and the histograms of the LBP codes of
    the cells are concatenated row by row, as in Ahonen et al. [1]_.

    Parameters
    ----------
    images : ndarray of shape (n_samples, height, width)
        Grey images.
    P : int, default=8
        Number of neighbours, in [1, 31] (at most 16 for "default" and "ror",
        which have up to 2**P bins).
    R : float, default=1.0
        Radius of the neighbour circle.
    method : {"default", "ror", "uniform", "nri_uniform"}, default="nri_uniform"
        Code family, see :func:`lbp_codes`; "nri_uniform" (u2, 59 bins for
        P=8) is Ahonen et al.'s choice. "ror" bins are the distinct
        rotation-invariant codes in increasing order (36 for P=8).
    grid : int or (int, int), default=(7, 7)
        Cells along (rows, cols); an int gives a square grid.
    normalize : bool, default=True
        Divide each cell's histogram by its pixel count (L1 normalisation),
        so that cells of different sizes are comparable.

    Returns
    -------
    histograms : ndarray of shape (n_samples, rows * cols * n_bins), float32
        ``n_bins`` is :func:`lbp_n_bins(P, method) <lbp_n_bins>`; the bins
        of cell (i, j) start at ``(i * cols + j) * n_bins``.

    References
    ----------
    .. [1] T. Ahonen, A. Hadid and M. Pietikäinen, "Face description with local
           binary patterns: application to face recognition", IEEE
           Transactions on Pattern Analysis and Machine Intelligence, vol. 28,
           no. 12, pp. 2037-2041, 2006.
    .. [2] T. Ojala, M. Pietikäinen and T. Mäenpää, "Multiresolution gray-scale
           and rotation invariant texture classification with local binary
           patterns", IEEE Transactions on Pattern Analysis and Machine
           Intelligence, vol. 24, no. 7, pp. 971-987, 2002.

    Examples
    --------
    >>> import numpy as np
    >>> from transfer.features.handcrafted import lbp_histograms
    >>> images = np.random.default_rng(0).integers(0, 256, size=(3, 62, 47))
    >>> lbp_histograms(images, P=8, R=1, method="nri_uniform", grid=(7, 7)).shape
    (3, 2891)
    """
    check_lbp_params(P, R, method)
    images = check_batch(images)
    n, h, w = images.shape
    rows, cols = check_grid((h, w), grid)
    n_bins = lbp_n_bins(P, method)
    n_cells = rows * cols
    cell_of_row = np.repeat(np.arange(rows), cell_sizes(h, rows))
    cell_of_col = np.repeat(np.arange(cols), cell_sizes(w, cols))
    cell = (cell_of_row[:, None] * cols + cell_of_col[None, :]).astype(np.int64)
    table = lbp_bin_table(P, method).astype(np.int64) if P <= _MAX_LUT_P else None
    out = np.empty((n, n_cells * n_bins), dtype=np.float32)
    first_bin = None  # flat index of bin 0 of each pixel's (image, cell) histogram
    for start, codes in _iter_code_chunks(images, P, R):
        k = len(codes)
        if first_bin is None:
            first_bin = (np.arange(k)[:, None, None] * n_cells + cell) * n_bins
        if table is not None:
            index = np.take(table, codes)
        else:  # uniform / nri_uniform with P > 16: their codes are the bins
            index = _pattern_codes(codes, P, method)
        index += first_bin[:k]
        counts = np.bincount(index.ravel(), minlength=k * n_cells * n_bins)
        out[start : start + k] = counts.reshape(k, n_cells * n_bins)
    if normalize:
        area = np.outer(cell_sizes(h, rows), cell_sizes(w, cols)).ravel()
        out = out.reshape(n, n_cells, n_bins)
        out /= area[None, :, None].astype(np.float32)
        out = out.reshape(n, n_cells * n_bins)
    return out


def multiscale_lbp_histograms(
    images: np.ndarray,
    P: int = 8,
    radii: tuple[float, ...] = (1, 2, 3),
    method: str = "nri_uniform",
    grid: int | tuple[int, int] = (7, 7),
    normalize: bool = True,
) -> np.ndarray:
    """LBP histograms at several radii, concatenated (multi-resolution LBP).

    Parameters
    ----------
    images : ndarray of shape (n_samples, height, width)
        Grey images.
    P : int, default=8
        Number of neighbours at every radius.
    radii : tuple of float, default=(1, 2, 3)
        Radii of the neighbour circles, one histogram block per radius.
    method, grid, normalize
        As in :func:`lbp_histograms`.

    Returns
    -------
    histograms : ndarray of shape (n_samples, len(radii) * rows * cols * n_bins), float32
        The blocks of :func:`lbp_histograms` for each radius, in the order of
        ``radii``.

    References
    ----------
    .. [1] T. Ojala, M. Pietikäinen and T. Mäenpää, "Multiresolution gray-scale
           and rotation invariant texture classification with local binary
           patterns", IEEE Transactions on Pattern Analysis and Machine
           Intelligence, vol. 24, no. 7, pp. 971-987, 2002.
    .. [2] D. Chen, X. Cao, F. Wen and J. Sun, "Blessing of dimensionality:
           high-dimensional feature and its efficient compression for face
           verification", IEEE CVPR, pp. 3025-3032, 2013.
    """
    if not isinstance(radii, list | tuple) or len(radii) == 0:
        raise ValueError(f"'radii' must be a non-empty tuple of positive numbers, got {radii!r}")
    return np.concatenate(
        [lbp_histograms(images, P, R, method, grid, normalize) for R in radii], axis=1
    )


@register_extractor("lbp")
class LBPFeatures(BaseExtractor):
    """Grid of local binary pattern histograms (Ahonen et al.'s face descriptor).

    Colour images are converted to grey (ITU-R BT.601 luma) first.

    Parameters
    ----------
    P : int, default=8
        Number of circular neighbours, in [1, 31] (at most 16 for "default"
        and "ror").
    R : float, default=1.0
        Radius of the neighbour circle, in pixels; ignored when ``radii`` is
        given.
    method : {"default", "ror", "uniform", "nri_uniform"}, default="nri_uniform"
        Code family, see :func:`lbp_codes`.
    grid : int or (int, int), default=(7, 7)
        Cells along (rows, cols) whose histograms are concatenated.
    radii : tuple of float, optional
        When given, histograms at each of these radii (same ``P``) are
        concatenated: multi-scale LBP, see :func:`multiscale_lbp_histograms`.
    normalize : bool, default=True
        L1-normalise each cell histogram.
    image_shape : (int, int), optional
        (height, width) of the rows when images come flattened, ``(n, h * w)``.

    See Also
    --------
    lbp_histograms, multiscale_lbp_histograms : the functions this wraps.

    References
    ----------
    .. [1] T. Ahonen, A. Hadid and M. Pietikäinen, "Face description with local
           binary patterns: application to face recognition", IEEE
           Transactions on Pattern Analysis and Machine Intelligence, vol. 28,
           no. 12, pp. 2037-2041, 2006.
    .. [2] T. Ojala, M. Pietikäinen and T. Mäenpää, "Multiresolution gray-scale
           and rotation invariant texture classification with local binary
           patterns", IEEE Transactions on Pattern Analysis and Machine
           Intelligence, vol. 24, no. 7, pp. 971-987, 2002.

    Examples
    --------
    >>> import numpy as np
    >>> from transfer.features.handcrafted import LBPFeatures
    >>> X = np.random.default_rng(0).uniform(0, 255, size=(4, 62, 47))
    >>> LBPFeatures().fit_transform(X).shape
    (4, 2891)
    >>> LBPFeatures(method="uniform", radii=(1, 2, 3), grid=4).fit_transform(X).shape
    (4, 480)
    """

    _parameter_constraints: dict = {
        **BaseExtractor._parameter_constraints,
        "P": [Interval(numbers.Integral, 1, 31)],
        "R": [Interval(numbers.Real, 0, None, closed="neither")],
        "method": [Options(METHODS)],
        "grid": [IntPair()],
        "radii": [NONE, SequenceOf(Interval(numbers.Real, 0, None, closed="neither"))],
        "normalize": [InstanceOf(bool)],
    }

    def __init__(
        self,
        P: int = 8,
        R: float = 1.0,
        method: str = "nri_uniform",
        grid: int | tuple[int, int] = (7, 7),
        *,
        radii: tuple[float, ...] | None = None,
        normalize: bool = True,
        image_shape=None,
    ) -> None:
        self.P = P
        self.R = R
        self.method = method
        self.grid = grid
        self.radii = radii
        self.normalize = normalize
        self.image_shape = image_shape

    def _fit(self, X: Any, y: Any) -> None:
        check_grid(self.image_shape_, self.grid)
        lbp_n_bins(self.P, self.method)

    def _transform_batch(self, images: np.ndarray) -> np.ndarray:
        grey = as_grey_batch(images)
        if self.radii is not None:
            return multiscale_lbp_histograms(
                grey, self.P, tuple(self.radii), self.method, self.grid, bool(self.normalize)
            )
        return lbp_histograms(grey, self.P, self.R, self.method, self.grid, bool(self.normalize))
