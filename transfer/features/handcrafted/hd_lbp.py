"""High-dimensional LBP: multi-scale LBP histograms around facial landmarks.

Chen et al. [1]_ showed that a very high-dimensional descriptor -- uniform
LBP histograms [2]_ of a 4x4 grid of cells around each of many facial
landmarks, at five image scales -- verifies faces much better than the usual
one-grid descriptor of Ahonen et al. [3]_, and that PCA to a few hundred
dimensions keeps most of that gain. Here the faces are already aligned, so
the landmarks come from the canonical template of :mod:`transfer.align.template`
(the five points, plus points interpolated between them for the "dense" set)
instead of a landmark detector.

The LBP codes are those of :func:`transfer.features.handcrafted.lbp_codes`,
computed once per scale for a whole batch; each cell's histogram is a
:func:`numpy.bincount` over the codes of its pixels.

References
----------
.. [1] D. Chen, X. Cao, F. Wen and J. Sun, "Blessing of dimensionality:
       high-dimensional feature and its efficient compression for face
       verification", IEEE CVPR, pp. 3025-3032, 2013.
.. [2] T. Ojala, M. Pietikäinen and T. Mäenpää, "Multiresolution gray-scale
       and rotation invariant texture classification with local binary
       patterns", IEEE Transactions on Pattern Analysis and Machine
       Intelligence, vol. 24, no. 7, pp. 971-987, 2002.
.. [3] T. Ahonen, A. Hadid and M. Pietikäinen, "Face description with local
       binary patterns: application to face recognition", IEEE Transactions
       on Pattern Analysis and Machine Intelligence, vol. 28, no. 12,
       pp. 2037-2041, 2006.
"""

from __future__ import annotations

import functools
import numbers
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from transfer._registry import register_extractor
from transfer._validation import NONE, InstanceOf, Interval, IntPair, Options, SequenceOf, as_pair
from transfer.align.template import LANDMARK_NAMES, template_landmarks
from transfer.features.base import BaseExtractor
from transfer.features.handcrafted.lbp import (
    METHODS,
    check_lbp_params,
    lbp_bin_table,
    lbp_codes,
    lbp_n_bins,
)
from transfer.features.handcrafted.pixels import as_grey_batch, check_batch

__all__ = [
    "DENSE_LANDMARKS",
    "HDLBPFeatures",
    "hd_lbp_histograms",
    "hd_lbp_landmarks",
    "hd_lbp_patch_origins",
    "landmark_names",
]

#: The paper's five scales: each a 0.75 downscale of the previous one.
DEFAULT_SCALES = (1.0, 0.75, 0.5625, 0.421875, 0.31640625)

#: Images processed together (keeps the per-scale temporaries small).
_CHUNK_IMAGES = 32

_FIVE = {name: i for i, name in enumerate(LANDMARK_NAMES)}

#: The "dense" landmark set: each point an affine combination (weights summing
#: to 1) of the five template points, so that it follows the template on any
#: crop. "left"/"right" are the image's left and right, as in the template.
DENSE_LANDMARKS: tuple[tuple[str, dict[str, float]], ...] = (
    ("left_eye", {"left_eye": 1.0}),
    ("right_eye", {"right_eye": 1.0}),
    ("nose", {"nose": 1.0}),
    ("mouth_left", {"mouth_left": 1.0}),
    ("mouth_right", {"mouth_right": 1.0}),
    # midpoints
    ("mouth_centre", {"mouth_left": 0.5, "mouth_right": 0.5}),
    ("eyes_centre", {"left_eye": 0.5, "right_eye": 0.5}),
    ("left_eye_nose", {"left_eye": 0.5, "nose": 0.5}),
    ("right_eye_nose", {"right_eye": 0.5, "nose": 0.5}),
    ("left_cheek", {"left_eye": 0.5, "mouth_left": 0.5}),
    ("right_cheek", {"right_eye": 0.5, "mouth_right": 0.5}),
    # brows: 0.3 of the eye-to-mouth-corner vector above each eye
    ("left_brow", {"left_eye": 1.3, "mouth_left": -0.3}),
    ("right_brow", {"right_eye": 1.3, "mouth_right": -0.3}),
    # outer eye corners: a quarter of the eye distance outwards
    ("left_eye_outer", {"left_eye": 1.25, "right_eye": -0.25}),
    ("right_eye_outer", {"right_eye": 1.25, "left_eye": -0.25}),
    # nose wings: a fifth of the eye distance on each side of the nose tip
    ("left_nose_wing", {"nose": 1.0, "left_eye": 0.2, "right_eye": -0.2}),
    ("right_nose_wing", {"nose": 1.0, "right_eye": 0.2, "left_eye": -0.2}),
    # chin: mouth centre + 0.4 (mouth centre - eyes centre)
    (
        "chin",
        {"mouth_left": 0.7, "mouth_right": 0.7, "left_eye": -0.2, "right_eye": -0.2},
    ),
    # forehead: eyes centre + 0.5 (eyes centre - mouth centre)
    (
        "forehead",
        {"left_eye": 0.75, "right_eye": 0.75, "mouth_left": -0.25, "mouth_right": -0.25},
    ),
    # jaw: 0.3 of the eye distance outwards from each mouth corner
    ("left_jaw", {"mouth_left": 1.0, "left_eye": 0.3, "right_eye": -0.3}),
    ("right_jaw", {"mouth_right": 1.0, "right_eye": 0.3, "left_eye": -0.3}),
)

LANDMARK_SETS = ("five", "dense")


def _landmark_weights(kind: str) -> np.ndarray:
    if kind not in LANDMARK_SETS:
        raise ValueError(f"'landmarks' must be one of {LANDMARK_SETS}, got {kind!r}")
    entries = DENSE_LANDMARKS[: len(LANDMARK_NAMES)] if kind == "five" else DENSE_LANDMARKS
    weights = np.zeros((len(entries), len(LANDMARK_NAMES)))
    for row, (_, combination) in enumerate(entries):
        for point, weight in combination.items():
            weights[row, _FIVE[point]] = weight
    return weights


def landmark_names(kind: str = "dense") -> tuple[str, ...]:
    """Names of the landmarks of the set ``kind`` ("five" or "dense"), in feature order."""
    n = len(_landmark_weights(kind))
    return tuple(name for name, _ in DENSE_LANDMARKS[:n])


def hd_lbp_landmarks(
    kind: str = "dense", shape: int | tuple[int, int] = 160, margin: float = 0.2
) -> np.ndarray:
    """Landmark positions (x, y) in pixels on an aligned crop.

    Parameters
    ----------
    kind : {"five", "dense"}, default="dense"
        ``"five"``: the template's five points (:data:`LANDMARK_NAMES`).
        ``"dense"``: those and 16 points interpolated or extrapolated from
        them (:data:`DENSE_LANDMARKS`): mouth centre, eyes centre, eye-nose
        midpoints, cheeks (eye-mouth midpoints), brows, outer eye corners,
        nose wings, chin, forehead and jaw points; 21 in all.
    shape : int or (int, int), default=160
        (height, width) of the crop; an int gives a square crop. The
        template's fractions are scaled along each axis separately.
    margin : float, default=0.2
        The crop's margin around the tight face box, as in
        :func:`transfer.align.template.template_landmarks` (0.2 is the
        ``align`` transform's default).

    Returns
    -------
    points : ndarray of shape (n_landmarks, 2)
        (x, y) with the top-left pixel's centre at (0, 0); on a square crop
        the five points equal ``template_landmarks(size, margin)``.
    """
    height, width = as_pair(shape)
    unit = template_landmarks(1, margin) + 0.5  # fractions of the crop side
    points = _landmark_weights(kind) @ unit
    return points * np.array([width, height], dtype=np.float64) - 0.5


def _round_half_up(x: np.ndarray | float) -> np.ndarray:
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5).astype(np.intp)


def _scaled_shape(shape: tuple[int, int], scale: float) -> tuple[int, int]:
    return tuple(max(1, int(_round_half_up(n * scale))) for n in shape)  # type: ignore[return-value]


def hd_lbp_patch_origins(
    points: np.ndarray, patch_shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Top row and left column of the patch centred on each point.

    A patch of ``ph`` x ``pw`` pixels starting at row ``top`` has its centre
    at ``top + (ph - 1) / 2``; ``top`` is that rounded (halves up) so that the
    centre lies within half a pixel of the point.

    Parameters
    ----------
    points : ndarray of shape (n_points, 2)
        (x, y) pixel positions.
    patch_shape : (int, int)
        (height, width) of the patches.

    Returns
    -------
    top, left : ndarray of shape (n_points,), int
    """
    points = np.asarray(points, dtype=np.float64)
    ph, pw = patch_shape
    top = _round_half_up(points[:, 1] - (ph - 1) / 2)
    left = _round_half_up(points[:, 0] - (pw - 1) / 2)
    return top, left


@functools.lru_cache(maxsize=128)
def _resample_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Linear resampling ``n_in -> n_out`` samples, anti-aliased when shrinking.

    Row ``i`` holds the weights of the input samples for output sample ``i``:
    a triangle filter centred on the output sample's position in input
    coordinates, stretched by the shrink factor when shrinking (so that it
    averages over the input pixels an output pixel covers), normalised to sum
    to 1 (the image edge renormalises the truncated filter). ``n_in == n_out``
    gives the identity.
    """
    if n_in == n_out:
        matrix = np.eye(n_in)
    else:
        ratio = n_in / n_out
        support = max(ratio, 1.0)
        centres = (np.arange(n_out) + 0.5) * ratio - 0.5
        distance = np.abs(np.arange(n_in)[None, :] - centres[:, None]) / support
        matrix = np.clip(1.0 - distance, 0.0, None)
        matrix /= matrix.sum(axis=1, keepdims=True)
    matrix.flags.writeable = False
    return matrix


@functools.lru_cache(maxsize=128)
def _resample_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """The banded :func:`_resample_matrix` as (indices, weights), each (n_out, taps)."""
    matrix = _resample_matrix(n_in, n_out)
    nonzero = matrix > 0
    first = np.argmax(nonzero, axis=1)
    taps = int(nonzero.sum(axis=1).max())
    columns = first[:, None] + np.arange(taps)[None, :]
    inside = columns < n_in
    index = np.minimum(columns, n_in - 1)
    weights = np.where(inside, np.take_along_axis(matrix, index, axis=1), 0.0)
    index.flags.writeable = False
    weights.flags.writeable = False
    return index, weights


def _resample_axis(images: np.ndarray, n_out: int, axis: int) -> np.ndarray:
    """Resample a batch along ``axis`` (1: rows, 2: columns), tap by tap."""
    n_in = images.shape[axis]
    if n_in == n_out:
        return images
    index, weights = _resample_taps(n_in, n_out)
    shape = [1, 1, 1]
    shape[axis] = n_out
    out = None
    # elementwise in a fixed order: an image's result does not depend on its batch
    for t in range(index.shape[1]):
        term = np.take(images, index[:, t], axis=axis) * weights[:, t].reshape(shape)
        out = term if out is None else out + term
    return out


def _resize_batch(images: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a float64 batch (n, h, w) to ``shape`` with :func:`_resample_matrix` filters."""
    return _resample_axis(_resample_axis(images, shape[0], 1), shape[1], 2)


def _lbp_bins(images: np.ndarray, P: int, R: float, method: str) -> np.ndarray:
    """Histogram bin of every pixel's LBP code (as in :func:`lbp_histograms`)."""
    if method == "ror":  # bins are the distinct rotation-invariant codes, renumbered
        return lbp_bin_table(P, method)[lbp_codes(images, P, R, "default")]
    return lbp_codes(images, P, R, method)


def _check_scales(scales: Any) -> tuple[float, ...]:
    if (
        not isinstance(scales, list | tuple)
        or len(scales) == 0
        or not all(
            isinstance(s, numbers.Real) and not isinstance(s, bool) and s > 0 for s in scales
        )
    ):
        raise ValueError(f"'scales' must be a non-empty tuple of positive numbers, got {scales!r}")
    return tuple(float(s) for s in scales)


def hd_lbp_histograms(
    images: np.ndarray,
    points: np.ndarray,
    *,
    frame: int | tuple[int, int] | None = None,
    scales: tuple[float, ...] = DEFAULT_SCALES,
    cells: int | tuple[int, int] = (4, 4),
    cell_size: int = 10,
    P: int = 8,
    R: float = 1.0,
    method: str = "nri_uniform",
    sqrt: bool = True,
) -> np.ndarray:
    """Multi-scale LBP histograms of a grid of cells around each landmark.

    At each scale ``s`` the images are resized to ``round(s * frame)`` pixels
    (anti-aliased linear resampling; no resampling where that is their own
    size), the LBP code of every pixel is computed once (:func:`lbp_codes`),
    and around each landmark -- at its position scaled by ``s`` -- a patch of
    ``cells`` cells of ``cell_size`` x ``cell_size`` pixels is cut
    (:func:`hd_lbp_patch_origins`); each cell gives one code histogram.
    Patches reaching out of the image see the image extended with its edge
    values (the codes there are those of the edge-padded image).

    Parameters
    ----------
    images : ndarray of shape (n_samples, height, width)
        Grey images.
    points : ndarray of shape (n_landmarks, 2)
        Landmark positions (x, y) in pixels of ``frame``.
    frame : int or (int, int), optional
        (height, width) of the frame ``points`` refer to, and the size the
        images are resized to at scale 1.0; None: the images' own size.
    scales : tuple of float, default=(1.0, 0.75, 0.5625, 0.421875, 0.31640625)
        Image scales (``0.75 ** k``, as in Chen et al.'s five scales).
    cells : int or (int, int), default=(4, 4)
        Cells per patch along (rows, cols).
    cell_size : int, default=10
        Side of a cell in pixels at every scale (so a patch covers more of
        the face at smaller scales).
    P, R, method
        LBP neighbours, radius and code family, as in :func:`lbp_codes`;
        "nri_uniform" with P=8 gives the 59 uniform-pattern bins.
    sqrt : bool, default=True
        Take the square root of each L1-normalised cell histogram (Hellinger
        / root-LBP normalisation: Euclidean distances and dot products between
        the results then behave like Hellinger distances between histograms,
        which suits linear and Bayesian heads).

    Returns
    -------
    histograms : ndarray of shape (n_samples, n_landmarks * len(scales) * n_cells * n_bins)
        float32, ordered landmark, then scale, then cell (row by row), then
        bin; each cell's histogram sums to 1 (before ``sqrt``).

    References
    ----------
    .. [1] D. Chen, X. Cao, F. Wen and J. Sun, "Blessing of dimensionality:
           high-dimensional feature and its efficient compression for face
           verification", IEEE CVPR, pp. 3025-3032, 2013.
    .. [2] T. Ojala, M. Pietikäinen and T. Mäenpää, "Multiresolution
           gray-scale and rotation invariant texture classification with
           local binary patterns", IEEE TPAMI, vol. 24, no. 7, pp. 971-987,
           2002.
    .. [3] T. Ahonen, A. Hadid and M. Pietikäinen, "Face description with
           local binary patterns: application to face recognition", IEEE
           TPAMI, vol. 28, no. 12, pp. 2037-2041, 2006.

    Examples
    --------
    >>> import numpy as np
    >>> from transfer.features.handcrafted.hd_lbp import hd_lbp_histograms, hd_lbp_landmarks
    >>> images = np.random.default_rng(0).uniform(0, 255, size=(2, 64, 64))
    >>> points = hd_lbp_landmarks("five", 64)
    >>> hd_lbp_histograms(images, points, scales=(1.0, 0.5)).shape
    (2, 9440)
    """
    check_lbp_params(P, R, method)
    images = check_batch(images)
    n, h, w = images.shape
    frame = (h, w) if frame is None else as_pair(frame)
    scales = _check_scales(scales)
    rows, cols = as_pair(cells)
    if rows < 1 or cols < 1:
        raise ValueError(f"'cells' must be positive, got {cells!r}")
    if not isinstance(cell_size, numbers.Integral) or cell_size < 1:
        raise ValueError(f"'cell_size' must be a positive int, got {cell_size!r}")
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0:
        raise ValueError(f"'points' must have shape (n_landmarks, 2), got {points.shape}")
    n_bins = lbp_n_bins(P, method)
    n_points, n_cells = len(points), rows * cols
    out = np.empty((n, n_points, len(scales), n_cells, n_bins), dtype=np.float32)
    # a few images at a time keeps the temporaries in cache (each image is
    # computed independently, so the chunking does not change the result)
    for start in range(0, n, _CHUNK_IMAGES):
        _fill_histograms(
            out[start : start + _CHUNK_IMAGES],
            np.asarray(images[start : start + _CHUNK_IMAGES], dtype=np.float64),
            points,
            frame,
            scales,
            (rows, cols),
            cell_size,
            P,
            R,
            method,
        )
    out /= np.float32(cell_size * cell_size)
    if sqrt:
        np.sqrt(out, out=out)
    return out.reshape(n, -1)


def _fill_histograms(
    out: np.ndarray,
    source: np.ndarray,
    points: np.ndarray,
    frame: tuple[int, int],
    scales: tuple[float, ...],
    cells: tuple[int, int],
    cell_size: int,
    P: int,
    R: float,
    method: str,
) -> None:
    """Write the cell counts of a float64 batch into ``out`` (n, landmarks, scales, cells, bins)."""
    n, n_points, _, n_cells, n_bins = out.shape
    rows, cols = cells
    ph, pw = rows * cell_size, cols * cell_size
    # cell of each patch pixel, cells numbered row by row
    cell_row = np.arange(ph)[:, None] // cell_size
    cell_col = np.arange(pw)[None, :] // cell_size
    cell_of_pixel = cell_row * cols + cell_col
    margin = int(np.ceil(R)) + 1  # keeps the LBP's own zero padding away from the patches
    for k, scale in enumerate(scales):
        sh, sw = _scaled_shape(frame, scale)
        scaled = _resize_batch(source, (sh, sw))
        at_scale = (points + 0.5) * np.array([sw / frame[1], sh / frame[0]]) - 0.5
        top, left = hd_lbp_patch_origins(at_scale, (ph, pw))
        # the region the codes are computed on: the whole image, extended with
        # edge values where patches (and their LBP neighbours) reach out of it;
        # it starts at the image's origin unless patches reach above / left of it
        r0 = min(0, int(top.min()) - margin)
        c0 = min(0, int(left.min()) - margin)
        r1 = max(sh, int(top.max()) + ph + margin)
        c1 = max(sw, int(left.max()) + pw + margin)
        row_index = np.clip(np.arange(r0, r1), 0, sh - 1)
        col_index = np.clip(np.arange(c0, c1), 0, sw - 1)
        region = scaled[:, row_index[:, None], col_index[None, :]]
        bins = _lbp_bins(region, P, R, method).reshape(n, -1)
        width = c1 - c0
        pixel_rows = (top - r0)[:, None, None] + np.arange(ph)[None, :, None]
        pixel_cols = (left - c0)[:, None, None] + np.arange(pw)[None, None, :]
        flat = (pixel_rows * width + pixel_cols).ravel()
        slot = (np.arange(n_points)[:, None, None] * n_cells + cell_of_pixel[None]).ravel()
        index = (np.arange(n)[:, None] * (n_points * n_cells) + slot[None, :]) * n_bins
        index += bins[:, flat]
        counts = np.bincount(index.ravel(), minlength=n * n_points * n_cells * n_bins)
        out[:, :, k] = counts.reshape(n, n_points, n_cells, n_bins)


class HDLBPProjection(TransformerMixin, BaseEstimator):
    """The PCA that compresses high-dimensional LBP histograms (Chen et al., CVPR 2013).

    ``n_components`` larger than ``min(n_samples, n_features)`` is capped
    with a warning. Output float32, as every extractor's.

    Parameters
    ----------
    n_components : int
        Principal components kept.
    """

    def __init__(self, n_components: int = 400) -> None:
        self.n_components = n_components

    def fit(self, X: Any, y: Any = None) -> HDLBPProjection:
        """Fit the PCA on histograms ``X`` of shape (n_samples, n_features)."""
        from sklearn.decomposition import PCA

        X = np.asarray(X)
        limit = min(X.shape)
        k = int(self.n_components)
        if k > limit:
            warnings.warn(
                f"hd_lbp: n_components={k} is more than min(n_samples, n_features) = "
                f"min{X.shape}; keeping {limit} components (fit on more images for more)",
                UserWarning,
                stacklevel=3,
            )
            k = limit
        self.pca_ = PCA(n_components=k, whiten=False, random_state=0).fit(X)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Project histograms onto the components: (n_samples, n_components_), float32."""
        check_is_fitted(self)
        return self.pca_.transform(np.asarray(X)).astype(np.float32, copy=False)


@register_extractor("hd_lbp")
class HDLBPFeatures(BaseExtractor):
    """High-dimensional LBP of aligned faces (Chen et al., CVPR 2013), optionally PCA-compressed.

    Uniform LBP histograms of a grid of ``cells`` cells around each template
    landmark, at each of ``scales``, concatenated
    (:func:`hd_lbp_histograms`). With the defaults: 21 landmarks x 5 scales
    x 16 cells x 59 bins = 99,120 features. Colour images are converted to
    grey (ITU-R BT.601 luma, :func:`transfer.data.transforms.to_grey`).

    The inputs are taken to be crops aligned to the five-point template of
    :mod:`transfer.align.template` with margin ``margin`` (the ``align``
    transform's output); the landmarks are read from that template.

    Parameters
    ----------
    landmarks : {"five", "dense"}, default="dense"
        ``"five"``: the template's eyes, nose tip and mouth corners.
        ``"dense"``: those and 16 points derived from them (mouth centre,
        eyes centre, eye-nose midpoints, cheeks, brows, outer eye corners,
        nose wings, chin, forehead, jaw), 21 in all: see
        :data:`DENSE_LANDMARKS` and :func:`hd_lbp_landmarks`.
    size : int, optional
        Side of the aligned crop the cells are measured on: images are
        resized to ``size`` x ``size`` at scale 1.0 (to ``round(s * size)``
        at scale ``s``). None: the images' own size (non-square images scale
        the template along each axis).
    margin : float, default=0.2
        Margin of the aligned crops around the tight face box, as in
        :func:`transfer.align.template.template_landmarks`.
    scales : tuple of float, default=(1.0, 0.75, 0.5625, 0.421875, 0.31640625)
        Image scales, ``0.75 ** k`` for k = 0..4 (the paper's five scales).
    cells : int or (int, int), default=(4, 4)
        Cells per landmark patch along (rows, cols).
    cell_size : int, default=10
        Cell side in pixels at every scale (a 40 x 40 patch by default).
    P : int, default=8
        LBP neighbours.
    R : float, default=1.0
        LBP radius in pixels.
    method : {"default", "ror", "uniform", "nri_uniform"}, default="nri_uniform"
        LBP code family (:func:`lbp_codes`); "nri_uniform" with P=8 gives
        the 59 uniform-pattern bins of the paper.
    sqrt : bool, default=True
        Square-root (Hellinger) normalisation of each L1-normalised cell
        histogram; helps linear and Joint Bayesian heads.
    n_components : int, optional
        None: no compression (the extractor is stateless). An int: PCA to that
        many dimensions (centred, not whitened), fitted in ``fit`` on the
        training images; the extractor is then stateful (its
        ``requires_fit`` tag is True). The paper compresses to a few hundred
        dimensions before Joint Bayesian; an LFW recipe would use e.g. 400.
    image_shape : (int, int), optional
        (height, width) of the rows when images come flattened, ``(n, h * w)``.

    Attributes
    ----------
    pca_ : sklearn.decomposition.PCA
        With ``n_components``: the fitted PCA.

    See Also
    --------
    hd_lbp_histograms, hd_lbp_landmarks : the functions this wraps.
    LBPFeatures : one grid of LBP histograms over the whole image.

    References
    ----------
    .. [1] D. Chen, X. Cao, F. Wen and J. Sun, "Blessing of dimensionality:
           high-dimensional feature and its efficient compression for face
           verification", IEEE CVPR, pp. 3025-3032, 2013.
    .. [2] T. Ojala, M. Pietikäinen and T. Mäenpää, "Multiresolution
           gray-scale and rotation invariant texture classification with
           local binary patterns", IEEE TPAMI, vol. 24, no. 7, pp. 971-987,
           2002.
    .. [3] T. Ahonen, A. Hadid and M. Pietikäinen, "Face description with
           local binary patterns: application to face recognition", IEEE
           TPAMI, vol. 28, no. 12, pp. 2037-2041, 2006.

    Examples
    --------
    >>> import numpy as np
    >>> from transfer.features.handcrafted import HDLBPFeatures
    >>> X = np.random.default_rng(0).uniform(0, 255, size=(6, 80, 80))
    >>> HDLBPFeatures(landmarks="five").fit_transform(X).shape
    (6, 23600)
    >>> HDLBPFeatures(landmarks="five", n_components=3).fit_transform(X).shape
    (6, 3)
    """

    _parameter_constraints: dict = {
        **BaseExtractor._parameter_constraints,
        "landmarks": [Options(LANDMARK_SETS)],
        "size": [NONE, Interval(numbers.Integral, 1, None)],
        "margin": [Interval(numbers.Real, 0, None)],
        "scales": [SequenceOf(Interval(numbers.Real, 0, None, closed="neither"))],
        "cells": [IntPair()],
        "cell_size": [Interval(numbers.Integral, 1, None)],
        "P": [Interval(numbers.Integral, 1, 31)],
        "R": [Interval(numbers.Real, 0, None, closed="neither")],
        "method": [Options(METHODS)],
        "sqrt": [InstanceOf(bool)],
        "n_components": [NONE, Interval(numbers.Integral, 1, None)],
    }

    def __init__(
        self,
        landmarks: str = "dense",
        *,
        size: int | None = None,
        margin: float = 0.2,
        scales: tuple[float, ...] = DEFAULT_SCALES,
        cells: int | tuple[int, int] = (4, 4),
        cell_size: int = 10,
        P: int = 8,
        R: float = 1.0,
        method: str = "nri_uniform",
        sqrt: bool = True,
        n_components: int | None = None,
        image_shape=None,
    ) -> None:
        self.landmarks = landmarks
        self.size = size
        self.margin = margin
        self.scales = scales
        self.cells = cells
        self.cell_size = cell_size
        self.P = P
        self.R = R
        self.method = method
        self.sqrt = sqrt
        self.n_components = n_components
        self.image_shape = image_shape

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = self.n_components is not None
        return tags

    # -- features -----------------------------------------------------------
    def _frame(self, shape: tuple[int, ...]) -> tuple[int, int]:
        if self.size is not None:
            return int(self.size), int(self.size)
        return int(shape[0]), int(shape[1])

    def _histograms(self, images: np.ndarray) -> np.ndarray:
        grey = as_grey_batch(images)
        frame = self._frame(grey.shape[1:])
        return hd_lbp_histograms(
            grey,
            hd_lbp_landmarks(self.landmarks, frame, self.margin),
            frame=frame,
            scales=tuple(self.scales),
            cells=self.cells,
            cell_size=self.cell_size,
            P=self.P,
            R=self.R,
            method=self.method,
            sqrt=bool(self.sqrt),
        )

    def _fit(self, X: Any, y: Any) -> None:
        lbp_n_bins(self.P, self.method)  # e.g. "default" with P > 16: too many bins
        if self.n_components is None:
            return
        features = np.concatenate(
            [self._histograms(batch) for batch in self._iter_batches(X)], axis=0
        )
        self.pca_ = HDLBPProjection(int(self.n_components)).fit(features).pca_

    def learned_stage(self) -> tuple[HDLBPFeatures, HDLBPProjection] | None:
        """The histograms (no PCA) and the PCA of ``n_components``, or None without PCA.

        The runner caches the histograms once and fits the PCA per fold on
        the cached training rows (see :meth:`BaseExtractor.learned_stage`).
        """
        if self.n_components is None:
            return None
        return clone(self).set_params(n_components=None), HDLBPProjection(self.n_components)

    def _transform_batch(self, images: np.ndarray) -> np.ndarray:
        features = self._histograms(images)
        if self.n_components is None:
            return features
        return self.pca_.transform(features).astype(np.float32, copy=False)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the output features.

        ``hd_lbp_<landmark>_scale<s>_cell<i>_<j>_bin<b>`` for the histogram
        features (landmark, scale value, cell row and column, LBP bin), or
        ``hd_lbp_pca<k>`` with ``n_components``.
        """
        check_is_fitted(self, "image_shape_")
        if self.n_components is not None:
            k = self.pca_.n_components_ if hasattr(self, "pca_") else self.n_components
            return np.asarray([f"hd_lbp_pca{i}" for i in range(k)], dtype=object)
        rows, cols = as_pair(self.cells)
        n_bins = lbp_n_bins(self.P, self.method)
        names = [
            f"hd_lbp_{landmark}_scale{float(scale):g}_cell{i}_{j}_bin{b}"
            for landmark in landmark_names(self.landmarks)
            for scale in self.scales
            for i in range(rows)
            for j in range(cols)
            for b in range(n_bins)
        ]
        return np.asarray(names, dtype=object)
