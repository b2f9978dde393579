"""Histograms of oriented gradients, through scikit-image, image by image."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from transfer._registry import register_extractor
from transfer._validation import InstanceOf, Interval, IntPair, Options, as_pair
from transfer.features.base import BaseExtractor
from transfer.features.handcrafted.pixels import as_grey_batch, check_batch

__all__ = ["HOGFeatures", "hog_features"]

BLOCK_NORMS = ("L1", "L1-sqrt", "L2", "L2-Hys")


def _check_hog_size(shape: tuple[int, ...], pixels_per_cell: Any, cells_per_block: Any) -> None:
    """Raise a ValueError naming the parameter when no whole block fits."""
    h, w = int(shape[0]), int(shape[1])
    (pr, pc), (br, bc) = as_pair(pixels_per_cell), as_pair(cells_per_block)
    n_rows, n_cols = h // pr, w // pc
    if n_rows < 1 or n_cols < 1:
        raise ValueError(
            f"'pixels_per_cell'={pixels_per_cell!r} is larger than the images ({h}x{w}); "
            "use smaller cells or larger images"
        )
    if n_rows < br or n_cols < bc:
        raise ValueError(
            f"'cells_per_block'={cells_per_block!r} needs at least {br}x{bc} cells, but images "
            f"of {h}x{w} with 'pixels_per_cell'={pixels_per_cell!r} have {n_rows}x{n_cols}; "
            "use smaller cells or blocks, or larger images"
        )


def hog_features(
    images: np.ndarray,
    orientations: int = 9,
    pixels_per_cell: int | tuple[int, int] = (8, 8),
    cells_per_block: int | tuple[int, int] = (2, 2),
    block_norm: str = "L2-Hys",
    transform_sqrt: bool = False,
) -> np.ndarray:
    """HOG descriptors of a batch of grey images.

    Calls :func:`skimage.feature.hog` on each image (in float64): centred
    gradients, unsigned orientations in ``orientations`` bins over
    [0, 180) degrees, cells of ``pixels_per_cell``, overlapping blocks of
    ``cells_per_block`` cells moved by one cell, each block normalised. Pixels
    beyond the last whole cell (``h % cell_rows`` rows at the bottom,
    ``w % cell_cols`` columns at the right) are not used.

    Parameters
    ----------
    images : ndarray of shape (n_samples, height, width)
        Grey images.
    orientations : int, default=9
        Number of orientation bins.
    pixels_per_cell : int or (int, int), default=(8, 8)
        Cell size in pixels (rows, cols).
    cells_per_block : int or (int, int), default=(2, 2)
        Block size in cells (rows, cols).
    block_norm : {"L1", "L1-sqrt", "L2", "L2-Hys"}, default="L2-Hys"
        Block normalisation; "L2-Hys" (L2, clipped at 0.2, renormalised) is
        Dalal and Triggs' choice.
    transform_sqrt : bool, default=False
        Square-root (gamma) compression of the image before the gradients.

    Returns
    -------
    features : ndarray of shape (n_samples, n_features), float32
        ``n_features = n_blocks_row * n_blocks_col * b_row * b_col *
        orientations`` with ``n_blocks = h // cell - block + 1`` along each
        axis (1764 for a 64x64 image with the defaults).

    References
    ----------
    .. [1] N. Dalal and B. Triggs, "Histograms of oriented gradients for human
           detection", IEEE CVPR, vol. 1, pp. 886-893, 2005.

    Examples
    --------
    >>> import numpy as np
    >>> from transfer.features.handcrafted import hog_features
    >>> images = np.random.default_rng(0).uniform(0, 255, size=(2, 64, 64))
    >>> hog_features(images).shape
    (2, 1764)
    """
    from skimage.feature import hog

    images = check_batch(images)
    if block_norm not in BLOCK_NORMS:
        raise ValueError(f"'block_norm' must be one of {BLOCK_NORMS}, got {block_norm!r}")
    if not isinstance(orientations, numbers.Integral) or orientations < 1:
        raise ValueError(f"'orientations' must be a positive int, got {orientations!r}")
    _check_hog_size(images.shape[1:], pixels_per_cell, cells_per_block)
    cell, block = as_pair(pixels_per_cell), as_pair(cells_per_block)
    rows = [
        hog(
            np.asarray(image, dtype=np.float64),
            orientations=int(orientations),
            pixels_per_cell=cell,
            cells_per_block=block,
            block_norm=block_norm,
            transform_sqrt=bool(transform_sqrt),
            feature_vector=True,
        )
        for image in images
    ]
    return np.asarray(rows, dtype=np.float32).reshape(len(images), -1)


@register_extractor("hog")
class HOGFeatures(BaseExtractor):
    """Histograms of oriented gradients (Dalal and Triggs).

    Colour images are converted to grey (ITU-R BT.601 luma) first.

    Parameters
    ----------
    orientations : int, default=9
        Number of unsigned orientation bins.
    pixels_per_cell : int or (int, int), default=(8, 8)
        Cell size in pixels.
    cells_per_block : int or (int, int), default=(2, 2)
        Block size in cells.
    block_norm : {"L1", "L1-sqrt", "L2", "L2-Hys"}, default="L2-Hys"
        Block normalisation.
    transform_sqrt : bool, default=False
        Square-root (gamma) compression before the gradients.
    image_shape : (int, int), optional
        (height, width) of the rows when images come flattened, ``(n, h * w)``.

    See Also
    --------
    hog_features : the function this transformer wraps.

    References
    ----------
    .. [1] N. Dalal and B. Triggs, "Histograms of oriented gradients for human
           detection", IEEE CVPR, vol. 1, pp. 886-893, 2005.

    Examples
    --------
    >>> import numpy as np
    >>> from transfer.features.handcrafted import HOGFeatures
    >>> X = np.random.default_rng(0).uniform(0, 255, size=(4, 62, 47))
    >>> HOGFeatures().fit_transform(X).shape
    (4, 864)
    """

    _parameter_constraints: dict = {
        **BaseExtractor._parameter_constraints,
        "orientations": [Interval(numbers.Integral, 1, None)],
        "pixels_per_cell": [IntPair()],
        "cells_per_block": [IntPair()],
        "block_norm": [Options(BLOCK_NORMS)],
        "transform_sqrt": [InstanceOf(bool)],
    }

    def __init__(
        self,
        orientations: int = 9,
        pixels_per_cell: int | tuple[int, int] = (8, 8),
        cells_per_block: int | tuple[int, int] = (2, 2),
        *,
        block_norm: str = "L2-Hys",
        transform_sqrt: bool = False,
        image_shape=None,
    ) -> None:
        self.orientations = orientations
        self.pixels_per_cell = pixels_per_cell
        self.cells_per_block = cells_per_block
        self.block_norm = block_norm
        self.transform_sqrt = transform_sqrt
        self.image_shape = image_shape

    def _fit(self, X: Any, y: Any) -> None:
        _check_hog_size(self.image_shape_, self.pixels_per_cell, self.cells_per_block)

    def _transform_batch(self, images: np.ndarray) -> np.ndarray:
        return hog_features(
            as_grey_batch(images),
            orientations=self.orientations,
            pixels_per_cell=self.pixels_per_cell,
            cells_per_block=self.cells_per_block,
            block_norm=self.block_norm,
            transform_sqrt=bool(self.transform_sqrt),
        )
