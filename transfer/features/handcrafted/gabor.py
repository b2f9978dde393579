"""Gabor filter bank magnitudes, pooled over a grid of cells.

Filtering is done in the Fourier domain for a whole batch at once: the
images of a batch are padded (by default by mirror reflection, scipy's
"reflect"), transformed once per frequency, multiplied by the spectrum of
each kernel and transformed back. The complex responses equal those of
:func:`skimage.filters.gabor` with the same ``mode`` (which convolves the real
and imaginary parts with :func:`scipy.ndimage.convolve`), to float32
round-off, over the whole image including its borders.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from transfer._registry import register_extractor
from transfer._validation import NONE, Interval, IntPair, Options, SequenceOf
from transfer.features.base import BaseExtractor
from transfer.features.handcrafted.pixels import (
    as_grey_batch,
    check_batch,
    check_grid,
    grid_mean,
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


def _iter_magnitudes(
    images: np.ndarray, kernels: list[np.ndarray], group: int, mode: str
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(start, kernel index, |response|)`` over chunks of images.

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
        spectra = [scipy.fft.fft2(k, s=size).astype(np.complex64) for k in bank]
        step = max(1, _CHUNK_PIXELS // (size[0] * size[1]))
        for start in range(0, n, step):
            chunk = np.asarray(images[start : start + step], dtype=np.float32)
            padded = np.pad(chunk, ((0, 0), (py, py), (px, px)), mode=pad_mode)
            image_spectrum = scipy.fft.fft2(padded, s=size, workers=-1)
            for j, (kernel, spectrum) in enumerate(zip(bank, spectra, strict=True)):
                response = scipy.fft.ifft2(image_spectrum * spectrum, workers=-1)
                top = py + kernel.shape[0] // 2
                left = px + kernel.shape[1] // 2
                yield start, g0 + j, np.abs(response[:, top : top + h, left : left + w])


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
        round-off (the FFTs run in single precision).

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
    for start, index, magnitude in _iter_magnitudes(images, kernels, n_orientations, mode):
        out[start : start + len(magnitude), index] = magnitude
    return out.reshape(n, len(frequencies), n_orientations, h, w)


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
    pooled = np.empty((n, len(kernels), rows, cols), dtype=np.float32)
    for start, index, magnitude in _iter_magnitudes(images, kernels, n_orientations, mode):
        pooled[start : start + len(magnitude), index] = grid_mean(magnitude, (rows, cols))
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
