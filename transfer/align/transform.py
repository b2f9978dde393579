"""The ``align`` transform: detect five landmarks, warp the face onto the template.

``{"align": {"method": "mtcnn", "size": 160, "margin": 0.2}}`` in a recipe's
transforms detects the faces (:mod:`transfer.align.detectors`; an image
larger than ``max_side`` is detected downscaled, landmarks mapped back),
picks one (``face``: the most central by default, or the largest),
estimates the similarity transform (rotation, uniform scale, translation;
Umeyama's least squares, by :class:`skimage.transform.SimilarityTransform`)
that maps its landmarks onto
:func:`transfer.align.template.template_landmarks` ``(size, margin)``, and
resamples the image with it (:func:`skimage.transform.warp`, bilinear, black
outside the image, Gaussian pre-smoothing when shrinking by more than 2x).

The output is always a ``(size, size, 3)`` float32 RGB array with values in
[0, 255], as :class:`transfer.data.transforms.Resize` returns: a grey input is
repeated to RGB for the detector and stays (grey-valued) RGB; add a ``grey``
transform after ``align`` to get one channel back.

Aligned crops are cached on disk, like features: under
``default_cache_dir() / "aligned"`` (``$TRANSFER_CACHE`` sets the root), one
``.npy`` per image, keyed by the sha256 of the input array (shape, dtype and
bytes) and of :meth:`Align.spec`, written atomically. A cached image does not
run the detector again.

:meth:`Align.apply_batch` aligns a list of images with one detector call
(:meth:`transfer.align.detectors.FaceDetector.detect_batch`): the same crops,
cache entries, fallbacks, errors and :func:`stats` as calling the transform
on each image in turn, several times faster with MTCNN.

When no face is found, ``fallback="warn"`` (the default) returns the
documented centre crop (:func:`center_box`) and warns (one
:class:`NoFaceWarning` per call, naming the files or image indices);
``fallback="center"`` returns it silently, ``fallback="error"`` raises a
ValueError naming the image. Every fallback is counted and named in
:func:`stats`.

:class:`Align` is also a scikit-learn transformer: ``fit`` checks the
parameters and returns it, ``transform`` takes a batch (an array, or a list
of arrays of any sizes, or of image files) and returns ``(n, size, size, 3)``
float32; it clones, pickles (it holds no model: the detectors are
process-wide and load lazily) and goes into a ``Pipeline``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import numbers
import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from transfer._io import atomic_write, default_cache_dir
from transfer._registry import register_transform
from transfer._validation import NONE, InstanceOf, Interval, Options, validate_params
from transfer.align.detectors import (
    DLIB_NOSE_BASE,
    FACE_RULES,
    METHODS,
    Detection,
    get_detector,
    select_face,
)
from transfer.align.template import FIVE_POINTS, template_landmarks
from transfer.data.transforms import Transform

__all__ = [
    "CENTER_FACE_BOX",
    "CROPS",
    "FALLBACKS",
    "Align",
    "NoFaceWarning",
    "align_face",
    "align_faces",
    "box_crop",
    "center_box",
    "reset_stats",
    "stats",
    "target_landmarks",
    "warp_to_landmarks",
]

logger = logging.getLogger("transfer.align")

FALLBACKS = ("warn", "center", "error")
#: How many fallback images :func:`stats` names (the count goes on).
_MAX_NAMED = 1000


class NoFaceWarning(UserWarning):
    """The aligner found no face and used the centre crop (``fallback="warn"``)."""


#: The tight face box assumed by ``fallback="center"``, as fractions of the
#: shorter image side: (centre x offset, centre y offset, side), the offsets
#: from the image centre. Measured on LFW (deep-funneled, 250 x 250; 100
#: images, one per random person): the tight template box that MTCNN's
#: landmarks map to has a median side of 0.51 of the image (10-90%: 0.47-0.56)
#: and is centred 0.03 above the image centre (x offset 0.00).
CENTER_FACE_BOX = (0.0, -0.03, 0.51)

_STATS_LOCK = threading.Lock()
_COUNTS = ("detected", "fallback", "cache_hits", "faces", "several_faces")
_STATS: dict[str, Any] = {**dict.fromkeys(_COUNTS, 0), "fallback_images": []}


def stats() -> dict[str, Any]:
    """Process-wide statistics of the ``align`` transform since start (or :func:`reset_stats`).

    Returns
    -------
    dict
        ``detected``: images whose face was found and aligned; ``fallback``:
        images without a face that got the centre crop (from the cache too);
        ``cache_hits``: crops read back from the cache (the detector did not
        run; not counted in ``detected``); ``faces``: faces found in all the
        images the detector ran on; ``several_faces``: images with more than
        one face, where the ``face`` rule chose; ``fallback_images``: the
        names (file, or ``"image i"``, the index in its batch) of the first
        1,000 fallback images.
    """
    with _STATS_LOCK:
        return {**_STATS, "fallback_images": list(_STATS["fallback_images"])}


def reset_stats() -> None:
    """Set every :func:`stats` count to zero and forget the fallback names."""
    with _STATS_LOCK:
        for k in _COUNTS:
            _STATS[k] = 0
        _STATS["fallback_images"] = []


def _count(key: str, n: int = 1) -> None:
    with _STATS_LOCK:
        _STATS[key] += n


def _count_fallback(name: str) -> None:
    with _STATS_LOCK:
        _STATS["fallback"] += 1
        if len(_STATS["fallback_images"]) < _MAX_NAMED:
            _STATS["fallback_images"].append(name)


def target_landmarks(method: str, size: int, margin: float) -> np.ndarray:
    """Where each landmark row of a ``method`` detection goes on the aligned crop.

    The template's points, except for dlib, whose nose row is the nose bottom:
    it goes to :data:`transfer.align.detectors.DLIB_NOSE_BASE`.

    Returns
    -------
    ndarray of shape (5, 2)
    """
    points = template_landmarks(size, margin)
    if method == "dlib":
        points = points.copy()
        points[2] = (DLIB_NOSE_BASE + margin) / (1.0 + 2.0 * margin) * size - 0.5
    return points


def _similarity(src: np.ndarray, dst: np.ndarray):
    """The similarity transform mapping ``src`` points onto ``dst`` (least squares)."""
    from skimage.transform import SimilarityTransform

    if hasattr(SimilarityTransform, "from_estimate"):  # scikit-image >= 0.26
        tform = SimilarityTransform.from_estimate(src, dst)
        ok = bool(tform)
    else:  # pragma: no cover - older scikit-image
        tform = SimilarityTransform()
        ok = tform.estimate(src, dst)
    if not ok:
        raise ValueError("could not estimate a similarity transform from the landmarks")
    return tform


def _warp(image: np.ndarray, inverse_map, size: int, scale: float, crop: bool = True) -> np.ndarray:
    """Resample ``image`` on a size x size grid; ``inverse_map`` maps output to input.

    With ``crop``, only the part of the image the grid reads (widened by the
    smoothing kernel's radius) is smoothed and resampled: the same values
    (to float rounding) for a fraction of the cost on a large photo, where
    smoothing the whole image dominated the alignment once detection ran
    downscaled (``max_side``).
    """
    from scipy.ndimage import gaussian_filter
    from skimage.transform import AffineTransform, warp

    rgb = np.asarray(image)
    if rgb.ndim == 2:
        rgb = rgb[..., None]
    sigma = (scale - 1.0) / 2.0 if scale > 2.0 else 0.0
    if crop:
        h, w = rgb.shape[:2]
        # output pixel centres span [0, size - 1]; bilinear reads one more pixel
        corners = np.array([[-1, -1], [size, -1], [-1, size], [size, size]], dtype=np.float64)
        seen = inverse_map(corners)
        # scipy's Gaussian reaches 4 sigma (truncate=4.0): beyond that the crop's
        # border (reflected) cannot change the values read
        pad = int(np.ceil(4.0 * sigma)) + 2
        x0 = max(int(np.floor(seen[:, 0].min())) - pad, 0)
        y0 = max(int(np.floor(seen[:, 1].min())) - pad, 0)
        x1 = min(int(np.ceil(seen[:, 0].max())) + pad + 1, w)
        y1 = min(int(np.ceil(seen[:, 1].max())) + pad + 1, h)
        if x0 < x1 and y0 < y1 and (x1 - x0) * (y1 - y0) < h * w:
            rgb = rgb[y0:y1, x0:x1]
            shift = np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0], [0.0, 0.0, 1.0]])
            inverse_map = AffineTransform(matrix=shift @ inverse_map.params)
    rgb = np.asarray(rgb, dtype=np.float64)
    if rgb.shape[-1] == 1:
        rgb = np.repeat(rgb, 3, axis=-1)
    rgb = rgb[..., :3]
    if sigma > 0:  # input pixels per output pixel above 2: smooth first against aliasing
        rgb = gaussian_filter(rgb, sigma=(sigma, sigma, 0))
    out = warp(
        rgb,
        inverse_map,
        output_shape=(size, size),
        order=1,
        mode="constant",
        cval=0.0,
        preserve_range=True,
    )
    return np.clip(out, 0, 255).astype(np.float32)


def warp_to_landmarks(
    image: np.ndarray, landmarks: np.ndarray, targets: np.ndarray, size: int
) -> np.ndarray:
    """Warp ``image`` so that ``landmarks`` land on ``targets`` in a size x size crop.

    Parameters
    ----------
    image : ndarray of shape (h, w) or (h, w, 3)
        Values in [0, 255].
    landmarks, targets : ndarray of shape (k, 2)
        (x, y) pixel positions in the image and on the crop; rows with NaN in
        ``landmarks`` are ignored (at least two must remain).
    size : int

    Returns
    -------
    ndarray of shape (size, size, 3), float32
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    valid = np.all(np.isfinite(landmarks), axis=1)
    if valid.sum() < 2:
        raise ValueError("need at least two landmarks to align a face")
    # estimated from the crop to the image: warp wants the inverse map
    tform = _similarity(np.asarray(targets, dtype=np.float64)[valid], landmarks[valid])
    return _warp(image, tform, size, float(tform.scale))


#: How :class:`Align` cuts the face: warped onto the template, or the detector's box.
CROPS = ("template", "box")


def box_crop(
    image: np.ndarray, box: tuple[float, float, float, float], size: int, margin: float
) -> np.ndarray:
    """The detector's ``box`` grown by ``margin`` pixels, clipped, resized to ``size`` x ``size``.

    FaceNet's own preprocessing (``align_dataset_mtcnn.py`` of Sandberg's
    facenet): ``margin / 2`` pixels on each side, clipped to the image,
    integer pixel bounds, then a bilinear resize of the uint8 crop that
    ignores the aspect ratio.

    Returns
    -------
    ndarray of shape (size, size, 3), float32 in [0, 255]
    """
    from PIL import Image

    rgb = np.asarray(image)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    h, w = rgb.shape[:2]
    left, top, right, bottom = (float(v) for v in box)
    x0, y0 = max(int(left - margin / 2), 0), max(int(top - margin / 2), 0)
    x1, y1 = min(int(right + margin / 2), w), min(int(bottom + margin / 2), h)
    if x1 - x0 < 2 or y1 - y0 < 2:  # a degenerate box: the whole image
        x0, y0, x1, y1 = 0, 0, w, h
    patch = np.clip(np.rint(rgb[y0:y1, x0:x1, :3]), 0, 255).astype(np.uint8)
    resized = Image.fromarray(patch).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32)


def center_box(shape: tuple[int, ...], margin: float) -> tuple[float, float, float]:
    """The square the ``center`` fallback crops: (left, top, side) in pixels.

    A tight face box of :data:`CENTER_FACE_BOX` (a square of side 0.51 of the
    shorter image side, centred 0.03 of it above the image centre: where
    LFW's centred faces sit), widened by ``margin`` of its side on each
    side, exactly as :func:`template_landmarks` widens the template. Parts
    outside the image are black.
    """
    h, w = shape[:2]
    short = float(min(h, w))
    dx, dy, side = CENTER_FACE_BOX
    tight = side * short
    full = tight * (1.0 + 2.0 * margin)
    cx = (w - 1) / 2.0 + dx * short
    cy = (h - 1) / 2.0 + dy * short
    return cx - full / 2.0, cy - full / 2.0, full


def _center_crop(image: np.ndarray, size: int, margin: float) -> np.ndarray:
    from skimage.transform import AffineTransform

    left, top, full = center_box(image.shape, margin)
    scale = full / size
    # output pixel centre (c, r) -> input (left + (c + 0.5) * scale - 0.5, ...)
    inverse = AffineTransform(
        scale=(scale, scale),
        translation=(left + 0.5 * scale - 0.5, top + 0.5 * scale - 0.5),
    )
    return _warp(image, inverse, size, scale)


def align_face(
    image: np.ndarray,
    method: str = "mtcnn",
    size: int = 160,
    margin: float = 0.2,
    detection: Detection | None = None,
    *,
    face: str = "central",
    max_side: int | None = None,
) -> np.ndarray | None:
    """Detect a face and warp it onto the template; None when there is no face.

    Parameters
    ----------
    image : ndarray of shape (h, w) or (h, w, 3)
        Values in [0, 255].
    method : {"mtcnn", "dlib"}
    size : int
        Side of the aligned crop.
    margin : float
        Border around the tight face box, see :func:`template_landmarks`.
    detection : Detection, optional
        Use these landmarks (in ``image``'s pixel coordinates) instead of
        running the detector.
    face : {"central", "largest"}, default="central"
        Which face when there are several.
    max_side : int, optional
        Detect on the image downscaled to this longer side; the crop is
        warped from the original pixels.

    Returns
    -------
    ndarray of shape (size, size, 3), float32, or None
    """
    if detection is None:
        detection = get_detector(method).detect(image, face, max_side)
        if detection is None:
            return None
    targets = target_landmarks(detection.method, size, margin)
    return warp_to_landmarks(image, detection.landmarks, targets, size)


def align_faces(
    images: Sequence[np.ndarray],
    method: str = "mtcnn",
    size: int = 160,
    margin: float = 0.2,
    *,
    face: str = "central",
    max_side: int | None = None,
) -> list[np.ndarray | None]:
    """:func:`align_face` for several images, detected in one call of the detector.

    Parameters
    ----------
    images : sequence of ndarray of shape (h, w) or (h, w, 3)
        Values in [0, 255]; shapes may differ.
    method : {"mtcnn", "dlib"}
    size : int
    margin : float
    face : {"central", "largest"}, default="central"
    max_side : int, optional

    Returns
    -------
    list of (ndarray of shape (size, size, 3), float32) or None
        Per image, as :func:`align_face` gives it.
    """
    detections = get_detector(method).detect_batch(images, face, max_side)
    return [
        None if found is None else align_face(image, method, size, margin, detection=found)
        for image, found in zip(images, detections, strict=True)
    ]


class Align(Transform, TransformerMixin, BaseEstimator):
    """Align a face onto the five-point template (MTCNN or dlib landmarks).

    A recipe transform (``{"align": {...}}``: called on one image) and a
    scikit-learn transformer (``transform`` on a batch).

    Parameters
    ----------
    method : {"mtcnn", "dlib"}, default="mtcnn"
        Landmark detector: MTCNN (Zhang et al., IEEE SPL 2016; five points),
        or dlib's HOG detector with its 5-point shape predictor (Kazemi &
        Sullivan, CVPR 2014; eyes and nose bottom only, so the similarity is
        fitted on three points).
    size : int, default=160
        Side of the square output crop, in pixels (8 to 4096).
    margin : float, default=0.2
        Border around the tight face box, as a fraction of its side on each
        side (see :func:`transfer.align.template.template_landmarks`), 0 to 2.
    fallback : {"warn", "center", "error"}, default="warn"
        Without a face: the centre crop of :func:`center_box`, scaled to
        ``size``, with a :class:`NoFaceWarning` naming the images ("warn"),
        or silently ("center"); or raise a ValueError naming the image
        ("error"). Every fallback is counted and named in :func:`stats`.
    face : {"central", "largest"}, default="central"
        Which face when the detector finds several: the one whose box centre
        is closest to the image centre (LFW's convention: its person of
        interest is centred), or the one with the largest box. Images with
        several faces are counted in :func:`stats` (``several_faces``).
    max_side : int or None, default=1024
        Detect on the image downscaled so that its longer side is
        ``max_side`` (landmarks mapped back; the crop is warped from the
        original pixels). Faster on large photos (a 4,600 px one: 4-30x),
        with embeddings within 0.02 cosine. None: full resolution.
    cache : bool, default=True
        Read and write aligned crops in ``default_cache_dir() / "aligned"``.
        Not part of :meth:`spec` (it does not change the output).
    crop : {"template", "box"}, default="template"
        "template": the landmarks warped onto the template (a similarity
        transform). "box": no warp, the detector's box grown by
        ``box_margin`` pixels (half on each side, clipped to the image) and
        resized to ``size`` x ``size`` (bilinear, ignoring the aspect ratio),
        the crop FaceNet was trained and evaluated on [4]_ (``margin`` is then
        unused).
    box_margin : float, default=32
        With ``crop="box"``: pixels of the original image added to the box's
        width and height (FaceNet's LFW evaluation: 32 at 160 px).

    Notes
    -----
    Calling it on one image returns a ``(size, size, 3)`` float32 RGB array
    in [0, 255]; ``transform`` returns ``(n, size, size, 3)``. It learns
    nothing: ``fit`` only checks the parameters.

    References
    ----------
    .. [1] K. Zhang, Z. Zhang, Z. Li and Y. Qiao, "Joint Face Detection and
       Alignment Using Multitask Cascaded Convolutional Networks", IEEE
       Signal Processing Letters, 2016.
    .. [2] V. Kazemi and J. Sullivan, "One Millisecond Face Alignment with an
       Ensemble of Regression Trees", CVPR 2014.
    .. [3] S. Umeyama, "Least-squares estimation of transformation parameters
       between two point patterns", IEEE TPAMI, 1991.
    .. [4] F. Schroff, D. Kalenichenko and J. Philbin, "FaceNet: A Unified
       Embedding for Face Recognition and Clustering", CVPR 2015; the public
       Inception-ResNet-v1 models were trained and tested on MTCNN boxes with
       a margin (D. Sandberg, facenet, ``align_dataset_mtcnn.py``).

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from transfer.features.identity import FaceNetFeatures
    >>> embed = make_pipeline(Align(), FaceNetFeatures())
    >>> E = embed.fit_transform(["a.jpg", "b.jpg"])  # doctest: +SKIP
    """

    name = "align"

    _parameter_constraints: dict = {
        "method": [Options(METHODS)],
        "size": [Interval(numbers.Integral, 8, 4096)],
        "margin": [Interval(numbers.Real, 0, 2)],
        "fallback": [Options(FALLBACKS)],
        "face": [Options(FACE_RULES)],
        "max_side": [NONE, Interval(numbers.Integral, 32, None)],
        "cache": [InstanceOf((bool, np.bool_))],
        "crop": [Options(CROPS)],
        "box_margin": [Interval(numbers.Real, 0, None)],
    }

    def __init__(
        self,
        method: str = "mtcnn",
        size: int = 160,
        margin: float = 0.2,
        fallback: str = "warn",
        cache: bool = True,
        *,
        face: str = "central",
        max_side: int | None = 1024,
        crop: str = "template",
        box_margin: float = 32,
    ) -> None:
        self.method = method
        self.size = size
        self.margin = margin
        self.fallback = fallback
        self.cache = cache
        self.face = face
        self.max_side = max_side
        self.crop = crop
        self.box_margin = box_margin

    # parameters compare by value, as the frozen dataclass this class was did
    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.get_params(deep=False) == other.get_params(deep=False)

    def __hash__(self) -> int:
        return hash((type(self).__name__, *sorted(self.get_params(deep=False).items())))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False  # stateless: transform works unfitted
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def _check(self) -> None:
        try:
            validate_params(self)
        except ValueError as exc:
            raise ValueError(f"align: {exc}") from None

    def spec(self) -> dict:
        """Name and every parameter that changes the output (not ``cache``).

        ``fallback`` "warn" and "center" give the same crops: both are
        "center" here. ``face`` and ``max_side`` appear only when they are
        not their defaults, so that crops and features cached before they
        existed stay valid: the default ``face="central"`` is the rule used
        before; ``max_side=1024`` changes nothing on images up to 1,024 px
        (LFW, CelebA, ORL), and on larger ones the earlier full-resolution
        crops it could meet in a cache are within 0.02 cosine of its own.
        """
        self._check()
        out = {
            "name": self.name,
            "method": self.method,
            "size": int(self.size),
            "margin": float(self.margin),
            "fallback": "error" if self.fallback == "error" else "center",
            # bumped when the alignment itself changes
            "version": 1,
            "template": np.round(FIVE_POINTS, 8).tolist(),
        }
        if self.face != "central":
            out["face"] = self.face
        if self.max_side != 1024:
            out["max_side"] = None if self.max_side is None else int(self.max_side)
        if self.crop != "template":  # added later: absent at the default, as above
            out["crop"] = self.crop
            out["box_margin"] = float(self.box_margin)
            del out["margin"], out["template"]
        return out

    # -- scikit-learn -------------------------------------------------------
    def fit(self, X: Any = None, y: Any = None) -> Align:
        """Check the parameters; nothing is learned.

        Parameters
        ----------
        X : ignored
        y : ignored

        Returns
        -------
        self
        """
        self._check()
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Aligned crops of a batch of images.

        Parameters
        ----------
        X : ndarray of shape (n, h, w[, 3]), or list of ndarray or of paths
            Images with values in [0, 255] (a list may mix sizes), or image
            files (decoded by :func:`transfer.data.decode.read_image`; a
            fallback or an error names the file).

        Returns
        -------
        ndarray of shape (n, size, size, 3), float32
        """
        self._check()
        images, names = _as_batch(X)
        crops = self.apply_batch(images, names=names)
        if not crops:
            return np.zeros((0, self.size, self.size, 3), np.float32)
        return np.stack(crops).astype(np.float32, copy=False)

    # -- cache --------------------------------------------------------------
    def cache_path(self, image: np.ndarray, fallback: bool = False) -> Path:
        """Where the aligned crop of ``image`` is (or would be) cached.

        A centre crop (no face found) is cached beside, as ``<key>.center.npy``,
        so that reading it back counts and names it as a fallback again.
        """
        arr = np.ascontiguousarray(image)
        h = hashlib.sha256()
        h.update(json.dumps(self.spec(), sort_keys=True).encode())
        h.update(repr((arr.shape, arr.dtype.str)).encode())
        h.update(arr.tobytes())
        key = h.hexdigest()
        suffix = ".center.npy" if fallback else ".npy"
        return default_cache_dir() / "aligned" / key[:2] / f"{key}{suffix}"

    def _load_cached(self, path: Path) -> np.ndarray | None:
        try:
            out = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None
        if out.shape != (self.size, self.size, 3) or out.dtype != np.float32:
            return None
        return out

    def _cached(self, image: np.ndarray) -> tuple[Path | None, np.ndarray | None, bool]:
        """Where ``image``'s crop goes, the crop if cached, and whether it is a centre crop."""
        if not self.cache:
            return None, None, False
        path = self.cache_path(image)
        for candidate, fell_back in ((path, False), (self.cache_path(image, True), True)):
            if candidate.is_file():
                out = self._load_cached(candidate)
                if out is not None:
                    _count("cache_hits")
                    return path, out, fell_back
        return path, None, False

    # -- the transform ------------------------------------------------------
    def __call__(self, image: np.ndarray) -> np.ndarray:
        """The aligned crop of one image (the recipe transform)."""
        return self.apply_batch([image])[0]

    def apply_batch(
        self, images: Sequence[np.ndarray], names: Sequence[str] | None = None
    ) -> list[np.ndarray]:
        """Align several images with one detector call; equal to ``[self(im) for im in images]``.

        Cached crops are read back and the others detected together (one
        call of :meth:`~transfer.align.detectors.FaceDetector.detect_all_batch`);
        fallbacks, the error of ``fallback="error"`` (raised for the first
        image without a face, in order, after the crops before it were
        cached), cache entries and :func:`stats` are those of the
        one-at-a-time path. With ``fallback="warn"``, one
        :class:`NoFaceWarning` names every image of the call that fell back.

        Parameters
        ----------
        images : sequence of ndarray of shape (h, w) or (h, w, 3)
            Values in [0, 255]; shapes may differ.
        names : sequence of str, optional
            A name per image (its file) for warnings, errors and
            :func:`stats`; default ``"image i"`` (``i``: index in ``images``),
            or the shape for a single image.

        Returns
        -------
        list of ndarray of shape (size, size, 3), float32
        """
        self._check()
        images = [np.asarray(image) for image in images]
        if names is None:
            names = [
                f"an image of shape {im.shape}" if len(images) == 1 else f"image {i}"
                for i, im in enumerate(images)
            ]
        cached = [self._cached(image) for image in images]
        todo = [i for i, (_, out, _) in enumerate(cached) if out is None]
        detector = get_detector(self.method)
        max_side = None if self.max_side is None else int(self.max_side)
        if len(todo) == 1:  # one image: the detector's own single-image path (the reference)
            found = [detector.detect_all(images[todo[0]], max_side)]
        else:
            found = detector.detect_all_batch([images[i] for i in todo], max_side)
        chosen: dict[int, Detection | None] = {}
        for i, faces in zip(todo, found, strict=True):
            _count("faces", len(faces))
            _count("several_faces", int(len(faces) > 1))
            chosen[i] = select_face(faces, images[i].shape, self.face)
        out: list[np.ndarray] = []
        fell_back: list[str] = []
        for i, (path, crop, was_center) in enumerate(cached):
            if crop is None:
                crop, was_center = self._finish(images[i], chosen[i], path, names[i])
            elif was_center:
                _count_fallback(names[i])
            if was_center:
                fell_back.append(names[i])
            out.append(crop)
        if fell_back and self.fallback == "warn":
            shown = ", ".join(fell_back[:10]) + (
                f" and {len(fell_back) - 10} more" if len(fell_back) > 10 else ""
            )
            warnings.warn(
                f"align: no face found by {self.method!r} in {len(fell_back)} image(s): {shown}; "
                "used the centre crop (fallback='center' silences this, 'error' raises)",
                NoFaceWarning,
                stacklevel=2,
            )
        return out

    def _finish(
        self, image: np.ndarray, found: Detection | None, path: Path | None, name: str
    ) -> tuple[np.ndarray, bool]:
        """The crop (or centre crop, or the error), counted and cached; and if it fell back."""
        size, margin = int(self.size), float(self.margin)
        if found is None:
            if self.fallback == "error":
                raise ValueError(
                    f"align: no face found by {self.method!r} in {name}; use "
                    "fallback='warn' or 'center' to take the centre crop instead"
                )
            logger.info("align: no face by %s in %s; using the centre crop", self.method, name)
            _count_fallback(name)
            out = _center_crop(image, size, margin)
            if path is not None:
                path = path.with_name(path.name.removesuffix(".npy") + ".center.npy")
        else:
            _count("detected")
            if self.crop == "box":
                out = box_crop(image, found.box, size, float(self.box_margin))
            else:
                targets = target_landmarks(found.method, size, margin)
                out = warp_to_landmarks(image, found.landmarks, targets, size)
        if path is not None:
            atomic_write(path, lambda f: np.save(f, out, allow_pickle=False))
        return out, found is None


def _as_batch(X: Any) -> tuple[list[np.ndarray], list[str] | None]:
    """Images of ``X`` (array batch, list of arrays, or of paths) and their names."""
    if isinstance(X, str | os.PathLike):
        X = [X]
    if isinstance(X, np.ndarray):
        if X.ndim not in (3, 4):
            raise ValueError(
                f"align: transform takes a batch (n, h, w[, 3]) or a list of images, got an "
                f"array of shape {X.shape}; for one image use X[None]"
            )
        return list(X), None
    items = list(X)
    if items and all(isinstance(x, str | os.PathLike) for x in items):
        from transfer.data.decode import read_image

        return [read_image(x) for x in items], [os.fspath(x) for x in items]
    return [np.asarray(x) for x in items], None


@register_transform("align")
@functools.wraps(Align, updated=())
def _align_transform(**params: Any) -> Align:
    # The recipe entry: an Align whose parameters are checked at once, so that
    # a recipe's bad value is reported at its key (Align itself checks at fit
    # and transform time, as scikit-learn estimators do).
    align = Align(**params)
    align._check()
    return align
