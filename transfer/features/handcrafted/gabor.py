"""Gabor filter bank magnitudes, pooled over a grid of cells.

The complex responses equal those of :func:`skimage.filters.gabor` with the
same ``mode`` (which convolves the real and imaginary parts with
:func:`scipy.ndimage.convolve`), to float32 round-off, over the whole image
including its borders. They are computed for a whole batch at once, in one
of two ways:

- small images (height + width up to 320, as faces and CIFAR): each kernel
  is rank one (an isotropic Gaussian times a plane wave is a column kernel
  times a row kernel), so filtering an image ``X`` is ``Mv @ X @ Mu.T`` with
  two small matrices that also carry the boundary mode; two matrix products
  per image and kernel, no padding and no FFT;
- larger images: in the Fourier domain, the images padded (by default by
  mirror reflection, scipy's "reflect") and transformed once per frequency,
  multiplied by the spectrum of each kernel and transformed back.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from transfer._blas import single_threaded_blas
from transfer._registry import register_extractor
from transfer._validation import NONE, Interval, IntPair, Options, SequenceOf
from transfer.features.base import BaseExtractor
from transfer.features.handcrafted.pixels import (
    as_grey_batch,
    cell_sizes,
    check_batch,
    check_grid,
)

__all__ = ["GaborFeatures", "gabor_bank", "gabor_features", "gabor_magnitudes"]

#: scipy.ndimage boundary modes (as skimage.filters.gabor takes) -> numpy.pad modes.
_PAD_MODES = {
    "reflect": "symmetric",
    "mirror": "reflect",
    "nearest": "edge",
    "wrap": "wrap",
    "constant": "constant",
}
MODES = tuple(_PAD_MODES)
NORMALIZATIONS = ("none", "zscore", "l2")
#: Padded pixels transformed at once (complex64): about 16 MB per buffer.
_CHUNK_PIXELS = 2_000_000


def _check_bank_params(frequencies: Any, n_orientations: Any, bandwidth: Any, sigma: Any) -> None:
    if isinstance(frequencies, np.ndarray) and frequencies.ndim == 1:
        frequencies = frequencies.tolist()
    if (
        not isinstance(frequencies, Sequence)
        or isinstance(frequencies, str)
        or len(frequencies) == 0
        or not all(
            isinstance(f, numbers.Real) and not isinstance(f, bool) and 0 < f <= 0.5
            for f in frequencies
        )
    ):
        raise ValueError(
            "'frequencies' must be a non-empty sequence of numbers in (0, 0.5] cycles per "
            f"pixel, got {frequencies!r}"
        )
    if (
        not isinstance(n_orientations, numbers.Integral)
        or isinstance(n_orientations, bool)
        or n_orientations < 1
    ):
        raise ValueError(f"'n_orientations' must be a positive int, got {n_orientations!r}")
    if not isinstance(bandwidth, numbers.Real) or not bandwidth > 0:
        raise ValueError(f"'bandwidth' must be a positive number, got {bandwidth!r}")
    if sigma is not None and (not isinstance(sigma, numbers.Real) or not sigma > 0):
        raise ValueError(f"'sigma' must be None or a positive number, got {sigma!r}")


def gabor_bank(
    frequencies: Sequence[float] = (0.05, 0.1, 0.2, 0.35),
    n_orientations: int = 8,
    bandwidth: float = 1.0,
    sigma: float | None = None,
    n_stds: float = 3,
) -> list[np.ndarray]:
    """Complex Gabor kernels at several frequencies and orientations.

    Kernel ``(f, k)`` is ``skimage.filters.gabor_kernel(f, theta=k * pi /
    n_orientations, ...)``: a Gaussian envelope times the complex harmonic
    ``exp(2 pi i f x')`` along the rotated axis ``x'``, normalised to
    ``1 / (2 pi sigma_x sigma_y)``.

    Parameters
    ----------
    frequencies : sequence of float, default=(0.05, 0.1, 0.2, 0.35)
        Spatial frequencies of the harmonic in cycles per pixel, in (0, 0.5].
    n_orientations : int, default=8
        Orientations evenly spaced over [0, pi).
    bandwidth : float, default=1.0
        Half-response spatial-frequency bandwidth in octaves; sets the
        Gaussian's standard deviation for each frequency (about ``0.56 / f``
        pixels at 1 octave). Ignored when ``sigma`` is given.
    sigma : float, optional
        Standard deviation of the (isotropic) Gaussian envelope, in pixels,
        the same for every frequency.
    n_stds : float, default=3
        Half-size of each kernel in standard deviations.

    Returns
    -------
    kernels : list of ndarray of shape (kh, kw), complex128
        ``len(frequencies) * n_orientations`` kernels, frequency-major
        (``kernels[i * n_orientations + k]`` for frequency ``i``, angle ``k``);
        ``kh`` and ``kw`` are odd and vary with frequency and angle.

    References
    ----------
    .. [1] J. G. Daugman, "Uncertainty relation for resolution in space,
           spatial frequency, and orientation optimized by two-dimensional
           visual cortical filters", Journal of the Optical Society of America
           A, vol. 2, no. 7, pp. 1160-1169, 1985.
    .. [2] M. Lades, J. C. Vorbrüggen, J. Buhmann, J. Lange, C. von der
           Malsburg, R. P. Würtz and W. Konen, "Distortion invariant object
           recognition in the dynamic link architecture", IEEE Transactions on
           Computers, vol. 42, no. 3, pp. 300-311, 1993.

    Examples
    --------
    >>> from transfer.features.handcrafted import gabor_bank
    >>> kernels = gabor_bank((0.1, 0.25), n_orientations=4)
    >>> len(kernels), kernels[0].dtype
    (8, dtype('complex128'))
    """
    from skimage.filters import gabor_kernel

    _check_bank_params(frequencies, n_orientations, bandwidth, sigma)
    return [
        gabor_kernel(
            float(f),
            theta=np.pi * k / n_orientations,
            bandwidth=bandwidth,
            sigma_x=sigma,
            sigma_y=sigma,
            n_stds=n_stds,
        )
        for f in frequencies
        for k in range(n_orientations)
    ]


#: Matrix path when height + width is at most this; beyond, the FFT path is
#: faster (measured, default bank: 3 to 10 times less CPU time than the FFT
#: at 62x47 and 32x32, still ahead at 160x160, behind at 250x250).
_MATRIX_MAX_SIDES = 320
#: Image pixels per chunk of the matrix path: its float32 and complex64
#: intermediates (about 8 bytes per pixel each) stay in a core's L2 cache.
_MATRIX_CHUNK_PIXELS = 131_072
#: A kernel is taken as separable when its second singular value is below
#: this fraction of the first (Gabor kernels with equal sigmas: about 1e-16).
_RANK_ONE_TOL = 1e-7


def _boundary_operator(taps: np.ndarray, length: int, mode: str) -> np.ndarray:
    """Matrix ``M`` (length, length) with ``M @ x == scipy.ndimage.convolve1d(x, taps, mode)``.

    Built by convolving the identity, so the boundary extension is
    scipy.ndimage's own, for every mode and for kernels longer than the line.
    """
    import scipy.ndimage

    eye = np.eye(length)
    real = scipy.ndimage.convolve1d(eye, taps.real, axis=0, mode=mode)
    imag = scipy.ndimage.convolve1d(eye, taps.imag, axis=0, mode=mode)
    return real + 1j * imag


@functools.lru_cache(maxsize=64)
def _separable_operators(
    kernel_key: tuple, shape: tuple[int, int], mode: str
) -> tuple[np.ndarray, np.ndarray] | None:
    """The two matrices of a rank-one kernel's convolution, or None if not rank one.

    With ``kernel = outer(a, b)`` (from its SVD), convolving an image ``X``
    is ``Mv @ X @ Mu.T``, ``Mv`` convolving columns with ``a`` and ``Mu`` rows
    with ``b``, boundaries included. Returns ``right`` (w, 2 w) float32,
    ``Mu.T`` with real and imaginary columns interleaved so that a real
    product ``X @ right`` is ``X @ Mu.T`` as complex64, and ``left``
    ``Mv`` as float32 when ``a`` is real up to a common phase (moved into
    ``b``; true at theta = 0), else complex64.
    """
    kernel = _kernel_of(kernel_key)
    u, s, vh = np.linalg.svd(kernel)
    if len(s) > 1 and s[1] > _RANK_ONE_TOL * s[0]:
        return None
    a, b = u[:, 0] * s[0], vh[0]
    phase = np.exp(1j * np.angle(a[np.argmax(np.abs(a))]))
    a, b = a / phase, b * phase
    h, w = shape
    mu_t = _boundary_operator(b, w, mode).T
    right = np.empty((w, 2 * w), dtype=np.float32)
    right[:, 0::2] = mu_t.real
    right[:, 1::2] = mu_t.imag
    mv = _boundary_operator(a, h, mode)
    if np.abs(a.imag).max() <= _RANK_ONE_TOL * np.abs(a).max():
        left = mv.real.astype(np.float32)
    else:
        left = mv.astype(np.complex64)
    for array in (right, left):
        array.flags.writeable = False
    return right, left


def _kernel_key(kernel: np.ndarray) -> tuple:
    """Hashable key of a kernel for the caches: its shape and exact bytes."""
    return kernel.shape, np.ascontiguousarray(kernel, dtype=np.complex128).tobytes()


def _kernel_of(kernel_key: tuple) -> np.ndarray:
    return np.frombuffer(kernel_key[1], dtype=np.complex128).reshape(kernel_key[0])


def _iter_responses(
    images: np.ndarray, kernels: list[np.ndarray], group: int, mode: str
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(start, kernel index, complex response)`` over chunks of images.

    The responses are complex64 ``(chunk, h, w)``, possibly views that the
    next step overwrites: take what is needed before advancing.
    """
    _, h, w = images.shape
    operators = None
    if h + w <= _MATRIX_MAX_SIDES:
        operators = [_separable_operators(_kernel_key(k), (h, w), mode) for k in kernels]
        if any(op is None for op in operators):
            operators = None
    # The matrix products here and in the consumers (pooling) are many and
    # small, where BLAS threads only wait on each other: one thread.
    with single_threaded_blas():
        if operators is not None:
            yield from _matrix_responses(images, operators)
        else:
            yield from _fft_responses(images, kernels, group, mode)


def _matrix_responses(
    images: np.ndarray, operators: list[tuple[np.ndarray, np.ndarray]]
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Separable convolution as two matrix products per image (small images).

    Gabor kernels are rank one (an isotropic Gaussian times a plane wave
    factors into a row and a column kernel), so filtering a small image is
    two small matrix products with the boundary handling built into the
    matrices: no padding and no FFT.
    """
    n, h, w = images.shape
    step = max(1, _MATRIX_CHUNK_PIXELS // (h * w))
    for start in range(0, n, step):
        chunk = np.asarray(images[start : start + step], dtype=np.float32)
        rows = chunk.reshape(-1, w)
        k = len(chunk)
        for index, (right, left) in enumerate(operators):
            filtered = (rows @ right).reshape(k, h, 2 * w)
            if left.dtype == np.float32:
                # A real column operator acts on the interleaved real and
                # imaginary parts alike: a real product is enough.
                response = np.matmul(left, filtered).view(np.complex64)
            else:
                response = np.matmul(left, filtered.view(np.complex64))
            yield start, index, response


@functools.lru_cache(maxsize=32)
def _kernel_spectrum(kernel_key: tuple, size: tuple[int, int]) -> np.ndarray:
    import scipy.fft

    kernel = _kernel_of(kernel_key)
    spectrum = scipy.fft.fft2(kernel, s=size).astype(np.complex64)
    spectrum.flags.writeable = False
    return spectrum


def _fft_responses(
    images: np.ndarray, kernels: list[np.ndarray], group: int, mode: str
) -> Iterator[tuple[int, int, np.ndarray]]:
    """FFT convolution (large images, or kernels that are not rank one).

    Kernels come in consecutive groups of ``group`` (one frequency each)
    sharing one padding and one forward transform of the images.
    """
    import scipy.fft

    n, h, w = images.shape
    pad_mode = _PAD_MODES[mode]
    for g0 in range(0, len(kernels), group):
        bank = kernels[g0 : g0 + group]
        # Pad by the largest half-size in the group; with an odd kernel of
        # half-size a <= pad, the circular convolution of size >= the padded
        # image is exact at every output pixel we keep, so no extra zeros.
        py = max(k.shape[0] for k in bank) // 2
        px = max(k.shape[1] for k in bank) // 2
        size = (
            scipy.fft.next_fast_len(h + 2 * py, real=False),
            scipy.fft.next_fast_len(w + 2 * px, real=False),
        )
        spectra = [_kernel_spectrum(_kernel_key(k), size) for k in bank]
        step = max(1, _CHUNK_PIXELS // (size[0] * size[1]))
        for start in range(0, n, step):
            chunk = np.asarray(images[start : start + step], dtype=np.float32)
            padded = np.pad(chunk, ((0, 0), (py, py), (px, px)), mode=pad_mode)
            image_spectrum = scipy.fft.fft2(padded, s=size, workers=-1)
            product = np.empty_like(image_spectrum)
            for j, (kernel, spectrum) in enumerate(zip(bank, spectra, strict=True)):
                np.multiply(image_spectrum, spectrum, out=product)
                response = scipy.fft.ifft2(product, workers=-1, overwrite_x=True)
                top = py + kernel.shape[0] // 2
                left = px + kernel.shape[1] // 2
                yield start, g0 + j, response[:, top : top + h, left : left + w]


def gabor_magnitudes(
    images: np.ndarray,
    frequencies: Sequence[float] = (0.05, 0.1, 0.2, 0.35),
    n_orientations: int = 8,
    bandwidth: float = 1.0,
    sigma: float | None = None,
    mode: str = "reflect",
) -> np.ndarray:
    """Magnitude of the complex Gabor responses of a batch of grey images.

    Parameters
    ----------
    images : ndarray of shape (n_samples, height, width)
        Grey images.
    frequencies, n_orientations, bandwidth, sigma
        The filter bank, see :func:`gabor_bank`.
    mode : {"reflect", "mirror", "nearest", "wrap", "constant"}, default="reflect"
        How the image is extended beyond its border, with
        :func:`scipy.ndimage.convolve`'s names: "reflect" repeats the edge
        pixel (``d c b a | a b c d``), "mirror" does not (``d c b | a b c d``),
        "constant" pads with zeros.

    Returns
    -------
    magnitudes : ndarray of shape (n_samples, n_frequencies, n_orientations, height, width), float32
        ``|I * g|`` for each kernel ``g``; equals ``np.hypot(*skimage.filters.gabor(
        image, f, theta, bandwidth, sigma, sigma, mode=mode))`` to float32
        round-off (the products and FFTs run in single precision).

    References
    ----------
    .. [1] M. Lades et al., "Distortion invariant object recognition in the
           dynamic link architecture", IEEE Transactions on Computers, vol. 42,
           no. 3, pp. 300-311, 1993.
    """
    images = check_batch(images)
    if mode not in _PAD_MODES:
        raise ValueError(f"'mode' must be one of {MODES}, got {mode!r}")
    kernels = gabor_bank(frequencies, n_orientations, bandwidth, sigma)
    n, h, w = images.shape
    out = np.empty((n, len(kernels), h, w), dtype=np.float32)
    for start, index, response in _iter_responses(images, kernels, n_orientations, mode):
        np.abs(response, out=out[start : start + len(response), index])
    return out.reshape(n, len(frequencies), n_orientations, h, w)


def _mean_matrix(length: int, n_cells: int) -> np.ndarray:
    """(length, n_cells) float32: ``x @ M`` averages ``x`` over each cell of :func:`cell_sizes`."""
    sizes = cell_sizes(length, n_cells)
    matrix = np.zeros((length, n_cells), dtype=np.float32)
    matrix[np.arange(length), np.repeat(np.arange(n_cells), sizes)] = np.repeat(1 / sizes, sizes)
    return matrix


def gabor_features(
    images: np.ndarray,
    frequencies: Sequence[float] = (0.05, 0.1, 0.2, 0.35),
    n_orientations: int = 8,
    grid: int | tuple[int, int] = (8, 8),
    bandwidth: float = 1.0,
    sigma: float | None = None,
    mode: str = "reflect",
    normalize: str = "zscore",
) -> np.ndarray:
    """Gabor magnitude features: each response magnitude averaged over a grid.

    The magnitude of each (frequency, orientation) response is average-pooled
    over ``grid`` cells (split as :func:`numpy.array_split` does), i.e. a
    downsampled magnitude map, and the maps are concatenated, in the manner of
    Liu and Wechsler's Gabor feature vector [2]_.

    Parameters
    ----------
    images : ndarray of shape (n_samples, height, width)
        Grey images.
    frequencies, n_orientations, bandwidth, sigma
        The filter bank, see :func:`gabor_bank`.
    grid : int or (int, int), default=(8, 8)
        Pooling cells along (rows, cols).
    mode : {"reflect", "mirror", "nearest", "wrap", "constant"}, default="reflect"
        Boundary handling, see :func:`gabor_magnitudes`.
    normalize : {"none", "zscore", "l2"}, default="zscore"
        ``"zscore"``: each pooled map to zero mean and unit variance over its
        cells (Liu and Wechsler's normalisation; a constant map gives zeros),
        which removes the image's global contrast; ``"l2"``: the whole vector
        to unit Euclidean norm; ``"none"``: raw mean magnitudes.

    Returns
    -------
    features : ndarray of shape (n_samples, n_frequencies * n_orientations * rows * cols), float32
        Frequency-major, then orientation, then cells row by row.

    References
    ----------
    .. [1] M. Lades, J. C. Vorbrüggen, J. Buhmann, J. Lange, C. von der
           Malsburg, R. P. Würtz and W. Konen, "Distortion invariant object
           recognition in the dynamic link architecture", IEEE Transactions on
           Computers, vol. 42, no. 3, pp. 300-311, 1993.
    .. [2] C. Liu and H. Wechsler, "Gabor feature based classification using
           the enhanced Fisher linear discriminant model for face recognition",
           IEEE Transactions on Image Processing, vol. 11, no. 4, pp. 467-476,
           2002.

    Examples
    --------
    >>> import numpy as np
    >>> from transfer.features.handcrafted import gabor_features
    >>> images = np.random.default_rng(0).uniform(0, 255, size=(2, 62, 47))
    >>> gabor_features(images, (0.1, 0.25), n_orientations=4, grid=(4, 4)).shape
    (2, 128)
    """
    images = check_batch(images)
    if mode not in _PAD_MODES:
        raise ValueError(f"'mode' must be one of {MODES}, got {mode!r}")
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"'normalize' must be one of {NORMALIZATIONS}, got {normalize!r}")
    n, h, w = images.shape
    rows, cols = check_grid((h, w), grid)
    kernels = gabor_bank(frequencies, n_orientations, bandwidth, sigma)
    # Average pooling as two products, mean over rows then over columns of
    # each cell (the cells of grid_mean), instead of sums over index ranges.
    row_pool = _mean_matrix(h, rows).T.copy()
    col_pool = _mean_matrix(w, cols)
    pooled = np.empty((n, len(kernels), rows, cols), dtype=np.float32)
    for start, index, response in _iter_responses(images, kernels, n_orientations, mode):
        k = len(response)
        magnitude = np.abs(response).reshape(k * h, w)
        per_column = (magnitude @ col_pool).reshape(k, h, cols)
        np.matmul(row_pool, per_column, out=pooled[start : start + k, index])
    if normalize == "zscore":
        pooled -= pooled.mean(axis=(2, 3), keepdims=True)
        std = pooled.std(axis=(2, 3), keepdims=True)
        pooled = np.divide(pooled, std, out=np.zeros_like(pooled), where=std > 0)
    features = pooled.reshape(n, -1)
    if normalize == "l2":
        norms = np.linalg.norm(features, axis=1, keepdims=True)
        features = np.divide(features, norms, out=np.zeros_like(features), where=norms > 0)
    return features


@register_extractor("gabor")
class GaborFeatures(BaseExtractor):
    """Gabor filter bank magnitudes, average-pooled over a grid of cells.

    Colour images are converted to grey (ITU-R BT.601 luma) first.

    Parameters
    ----------
    frequencies : tuple of float, default=(0.05, 0.1, 0.2, 0.35)
        Spatial frequencies in cycles per pixel, in (0, 0.5].
    n_orientations : int, default=8
        Orientations evenly spaced over [0, pi).
    grid : int or (int, int), default=(8, 8)
        Pooling cells along (rows, cols).
    bandwidth : float, default=1.0
        Bandwidth in octaves, setting each kernel's Gaussian width; ignored
        when ``sigma`` is given.
    sigma : float, optional
        Fixed standard deviation of the Gaussian envelope, in pixels.
    mode : {"reflect", "mirror", "nearest", "wrap", "constant"}, default="reflect"
        Boundary handling (scipy.ndimage names).
    normalize : {"none", "zscore", "l2"}, default="zscore"
        Normalisation, see :func:`gabor_features`.
    image_shape : (int, int), optional
        (height, width) of the rows when images come flattened, ``(n, h * w)``.

    See Also
    --------
    gabor_features, gabor_bank : the functions this transformer wraps.

    References
    ----------
    .. [1] M. Lades, J. C. Vorbrüggen, J. Buhmann, J. Lange, C. von der
           Malsburg, R. P. Würtz and W. Konen, "Distortion invariant object
           recognition in the dynamic link architecture", IEEE Transactions on
           Computers, vol. 42, no. 3, pp. 300-311, 1993.
    .. [2] C. Liu and H. Wechsler, "Gabor feature based classification using
           the enhanced Fisher linear discriminant model for face recognition",
           IEEE Transactions on Image Processing, vol. 11, no. 4, pp. 467-476,
           2002.

    Examples
    --------
    >>> import numpy as np
    >>> from transfer.features.handcrafted import GaborFeatures
    >>> X = np.random.default_rng(0).uniform(0, 255, size=(4, 62, 47))
    >>> GaborFeatures().fit_transform(X).shape
    (4, 2048)
    """

    _parameter_constraints: dict = {
        **BaseExtractor._parameter_constraints,
        "frequencies": [SequenceOf(Interval(numbers.Real, 0, 0.5, closed="right"))],
        "n_orientations": [Interval(numbers.Integral, 1, None)],
        "grid": [IntPair()],
        "bandwidth": [Interval(numbers.Real, 0, None, closed="neither")],
        "sigma": [NONE, Interval(numbers.Real, 0, None, closed="neither")],
        "mode": [Options(MODES)],
        "normalize": [Options(NORMALIZATIONS)],
    }

    def __init__(
        self,
        frequencies: tuple[float, ...] = (0.05, 0.1, 0.2, 0.35),
        n_orientations: int = 8,
        grid: int | tuple[int, int] = (8, 8),
        *,
        bandwidth: float = 1.0,
        sigma: float | None = None,
        mode: str = "reflect",
        normalize: str = "zscore",
        image_shape=None,
    ) -> None:
        self.frequencies = frequencies
        self.n_orientations = n_orientations
        self.grid = grid
        self.bandwidth = bandwidth
        self.sigma = sigma
        self.mode = mode
        self.normalize = normalize
        self.image_shape = image_shape

    def _fit(self, X: Any, y: Any) -> None:
        check_grid(self.image_shape_, self.grid)

    def _transform_batch(self, images: np.ndarray) -> np.ndarray:
        return gabor_features(
            as_grey_batch(images),
            frequencies=tuple(self.frequencies),
            n_orientations=self.n_orientations,
            grid=self.grid,
            bandwidth=self.bandwidth,
            sigma=self.sigma,
            mode=self.mode,
            normalize=self.normalize,
        )
