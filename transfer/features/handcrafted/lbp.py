"""Local binary patterns: codes, per-cell histograms, multi-scale histograms.

The codes are computed for a whole batch at once with NumPy, one circular
neighbour at a time, and are bit-for-bit those of
:func:`skimage.feature.local_binary_pattern` (same neighbour positions rounded
to 5 decimals, same bilinear interpolation in float64, same zero padding
outside the image, same ``>=`` threshold), several times faster on batches of
small images.
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
#: Pixels processed at once; keeps the float64 temporaries in cache.
_CHUNK_PIXELS = 200_000


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


def _default_codes(images: np.ndarray, P: int, R: float) -> np.ndarray:
    """Default LBP codes of a float64 batch (n, h, w), as int32."""
    n, h, w = images.shape
    rp, cp = _neighbour_offsets(P, R)
    m = int(np.ceil(np.max(np.abs(np.concatenate([rp, cp]))))) + 1
    padded = np.zeros((n, h + 2 * m, w + 2 * m), dtype=np.float64)
    padded[:, m : m + h, m : m + w] = images
    rows = np.arange(h, dtype=np.float64)
    cols = np.arange(w, dtype=np.float64)

    def shifted(dr: int, dc: int) -> np.ndarray:
        return padded[:, m + dr : m + dr + h, m + dc : m + dc + w]

    codes = np.zeros((n, h, w), dtype=np.int32)
    texture = np.empty((n, h, w), dtype=np.float64)
    bottom = np.empty((n, h, w), dtype=np.float64)
    tmp = np.empty((n, h, w), dtype=np.float64)
    bit = np.empty((n, h, w), dtype=bool)
    for i in range(P):
        r0, r1 = int(np.floor(rp[i])), int(np.ceil(rp[i]))
        c0, c1 = int(np.floor(cp[i])), int(np.ceil(cp[i]))
        # Fractional parts as scikit-image computes them, from the absolute
        # position (r + rp) - floor(r + rp), which varies in the last bits
        # with r; an integer offset gives weights exactly 1 and 0.
        wr = ((rows + rp[i]) - (rows + r0))[:, None]
        wc = (cols + cp[i]) - (cols + c0)
        if r0 == r1 and c0 == c1:
            neighbour = shifted(r0, c0)
        elif c0 == c1:
            np.multiply(shifted(r0, c0), 1 - wr, out=texture)
            np.multiply(shifted(r1, c0), wr, out=tmp)
            texture += tmp
            neighbour = texture
        else:
            np.multiply(shifted(r0, c0), 1 - wc, out=texture)
            np.multiply(shifted(r0, c1), wc, out=tmp)
            texture += tmp
            if r0 != r1:
                np.multiply(shifted(r1, c0), 1 - wc, out=bottom)
                np.multiply(shifted(r1, c1), wc, out=tmp)
                bottom += tmp
                texture *= 1 - wr
                bottom *= wr
                texture += bottom
            neighbour = texture
        np.greater_equal(neighbour, images, out=bit)
        codes |= bit.astype(np.int32) << i
    return codes


def _iter_code_chunks(images: np.ndarray, P: int, R: float):
    """Yield (start, default codes) over chunks of the batch."""
    n, h, w = images.shape
    step = max(1, _CHUNK_PIXELS // max(1, h * w))
    for start in range(0, n, step):
        chunk = np.asarray(images[start : start + step], dtype=np.float64)
        yield start, _default_codes(chunk, P, R)


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
        if method == "default":
            mapped = codes
        elif table is not None:
            mapped = table[codes]
        else:
            mapped = _pattern_codes(codes, P, method)
        out[start : start + len(codes)] = mapped
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
    table = lbp_bin_table(P, method) if P <= _MAX_LUT_P else None
    out = np.empty((n, n_cells * n_bins), dtype=np.float32)
    for start, codes in _iter_code_chunks(images, P, R):
        if table is not None:
            bins = table[codes]
        else:  # uniform / nri_uniform with P > 16: their codes are the bins
            bins = _pattern_codes(codes, P, method)
        k = len(codes)
        index = (np.arange(k)[:, None, None] * n_cells + cell) * n_bins + bins
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
