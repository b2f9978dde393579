"""Raw pixel features, and the small helpers every handcrafted extractor shares.

The helpers (grey conversion of a batch, the image grid of cells and average
pooling over that grid) live here
because pixels are the simplest handcrafted feature and the other modules
already depend on this one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transfer._registry import register_extractor
from transfer._validation import InstanceOf, Options, as_pair
from transfer.data.transforms import to_grey
from transfer.features.base import BaseExtractor

__all__ = ["PixelFeatures", "as_grey_batch", "grid_mean", "pixel_features"]


def as_grey_batch(images: np.ndarray) -> np.ndarray:
    """Grey version of a batch of images, float32 ``(n, height, width)``.

    A batch ``(n, h, w)`` is taken as grey already; ``(n, h, w, c)`` goes
    through :func:`transfer.data.transforms.to_grey` (ITU-R BT.601 luma for
    RGB, the single channel for ``c == 1``).
    """
    images = np.asarray(images)
    if images.ndim == 3:
        return images.astype(np.float32, copy=False)
    if images.ndim != 4:
        raise ValueError(
            f"expected a batch of shape (n, h, w) or (n, h, w, c), got shape {images.shape}"
        )
    return np.asarray(to_grey(images), dtype=np.float32)


def check_batch(images: np.ndarray, name: str = "images") -> np.ndarray:
    """``images`` as an ndarray of shape (n, h, w), or a ValueError saying what came."""
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(
            f"{name} must be a batch of grey images of shape (n, height, width), got an "
            f"array of shape {images.shape}; convert colour batches with as_grey_batch"
        )
    return images


def check_grid(shape: tuple[int, ...], grid: Any, name: str = "grid") -> tuple[int, int]:
    """Check that an image of ``shape`` (h, w, ...) splits into ``grid`` cells.

    Returns the grid as ``(rows, cols)``; raises ValueError naming the
    parameter ``name`` when a cell would hold no pixel.
    """
    rows, cols = as_pair(grid)
    if rows < 1 or cols < 1:
        raise ValueError(f"'{name}' must be positive, got {grid!r}")
    h, w = int(shape[0]), int(shape[1])
    if rows > h or cols > w:
        raise ValueError(
            f"'{name}'={grid!r} asks for {rows}x{cols} cells, more than the image has pixels "
            f"({h}x{w}); use a coarser '{name}' or larger images"
        )
    return rows, cols


def cell_starts(length: int, n_cells: int) -> np.ndarray:
    """Start index of each of ``n_cells`` cells splitting ``length`` pixels.

    The first ``length % n_cells`` cells get one extra pixel, as in
    :func:`numpy.array_split`.
    """
    size, extra = divmod(length, n_cells)
    sizes = np.full(n_cells, size, dtype=np.intp)
    sizes[:extra] += 1
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)


def cell_sizes(length: int, n_cells: int) -> np.ndarray:
    """Number of pixels in each cell of :func:`cell_starts`."""
    return np.diff(np.append(cell_starts(length, n_cells), length))


def grid_mean(maps: np.ndarray, grid: Any) -> np.ndarray:
    """Average ``maps`` over a grid of cells (:func:`numpy.array_split` cells).

    Parameters
    ----------
    maps : ndarray of shape (..., height, width)
        Any stack of 2-D maps.
    grid : int or (int, int)
        Cells along (rows, cols); an int gives a square grid.

    Returns
    -------
    pooled : ndarray of shape (..., rows, cols)
        Mean of each cell.
    """
    maps = np.asarray(maps)
    h, w = maps.shape[-2:]
    rows, cols = check_grid((h, w), grid)
    summed = np.add.reduceat(maps, cell_starts(h, rows), axis=-2)
    summed = np.add.reduceat(summed, cell_starts(w, cols), axis=-1)
    area = np.outer(cell_sizes(h, rows), cell_sizes(w, cols))
    return summed / area


def pixel_features(images: np.ndarray, normalize: str = "none") -> np.ndarray:
    """Flattened pixel values, optionally normalised per image.

    Parameters
    ----------
    images : ndarray of shape (n_samples, height, width[, channels])
        Images with values in [0, 255]; colour channels are kept as given.
    normalize : {"none", "l2", "zscore"}, default="none"
        ``"none"`` keeps the [0, 255] values; ``"l2"`` divides each image's
        vector by its Euclidean norm; ``"zscore"`` subtracts each image's mean
        and divides by its standard deviation (a constant image gives zeros),
        the usual contrast normalisation before eigenfaces-style baselines.

    Returns
    -------
    features : ndarray of shape (n_samples, height * width[ * channels]), float32

    References
    ----------
    .. [1] M. Turk and A. Pentland, "Eigenfaces for recognition", Journal of
           Cognitive Neuroscience, vol. 3, no. 1, pp. 71-86, 1991.
    """
    if normalize not in ("none", "l2", "zscore"):
        raise ValueError(f"'normalize' must be 'none', 'l2' or 'zscore', got {normalize!r}")
    images = np.asarray(images)
    if images.ndim < 2:
        raise ValueError(f"images must have shape (n, h, w[, c]), got shape {images.shape}")
    X = images.reshape(len(images), -1).astype(np.float32)
    if normalize == "l2":
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        X = np.divide(X, norms, out=np.zeros_like(X), where=norms > 0)
    elif normalize == "zscore":
        X = X - X.mean(axis=1, keepdims=True)
        std = X.std(axis=1, keepdims=True)
        X = np.divide(X, std, out=np.zeros_like(X), where=std > 0)
    return X


@register_extractor("pixels")
class PixelFeatures(BaseExtractor):
    """Raw pixels as features: the baseline every other extractor must beat.

    Parameters
    ----------
    grey : bool, default=True
        Convert colour images to grey (ITU-R BT.601 luma) first; with False,
        colour channels are kept (``height * width * channels`` features).
    normalize : {"none", "l2", "zscore"}, default="none"
        Per-image normalisation, see :func:`pixel_features`.
    image_shape : (int, int), optional
        (height, width) of the rows when images come flattened, ``(n, h * w)``.

    See Also
    --------
    pixel_features : the function this transformer wraps.

    References
    ----------
    .. [1] M. Turk and A. Pentland, "Eigenfaces for recognition", Journal of
           Cognitive Neuroscience, vol. 3, no. 1, pp. 71-86, 1991.

    Examples
    --------
    >>> import numpy as np
    >>> from transfer.features.handcrafted import PixelFeatures
    >>> X = np.random.default_rng(0).uniform(0, 255, size=(4, 62, 47, 3))
    >>> PixelFeatures().fit_transform(X).shape
    (4, 2914)
    >>> PixelFeatures(grey=False, normalize="l2").fit_transform(X).shape
    (4, 8742)
    """

    _parameter_constraints: dict = {
        **BaseExtractor._parameter_constraints,
        "grey": [InstanceOf(bool)],
        "normalize": [Options(("none", "l2", "zscore"))],
    }

    def __init__(self, grey: bool = True, *, normalize: str = "none", image_shape=None) -> None:
        self.grey = grey
        self.normalize = normalize
        self.image_shape = image_shape

    def _transform_batch(self, images: np.ndarray) -> np.ndarray:
        if self.grey:
            images = as_grey_batch(images)
        return pixel_features(images, normalize=self.normalize)
