"""The ``align`` transform: detect five landmarks, warp the face onto the template.

``{"align": {"method": "mtcnn", "size": 160, "margin": 0.2}}`` in a recipe's
transforms detects the face closest to the image centre
(:mod:`transfer.align.detectors`), estimates the similarity transform
(rotation, uniform scale, translation; Umeyama's least squares, by
:class:`skimage.transform.SimilarityTransform`) that maps its landmarks onto
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

When no face is found, ``fallback="center"`` returns the documented centre
crop (:func:`center_box`) and ``fallback="error"`` raises a ValueError. Each
fallback is logged at INFO on the ``transfer.align`` logger (image size only)
and counted in :func:`stats`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from transfer._io import atomic_write, default_cache_dir
from transfer._registry import register_transform
from transfer.align.detectors import DLIB_NOSE_BASE, METHODS, Detection, get_detector
from transfer.align.template import FIVE_POINTS, template_landmarks
from transfer.data.transforms import Transform

__all__ = [
    "CENTER_FACE_BOX",
    "FALLBACKS",
    "Align",
    "align_face",
    "align_faces",
    "center_box",
    "reset_stats",
    "stats",
    "target_landmarks",
    "warp_to_landmarks",
]

logger = logging.getLogger("transfer.align")

FALLBACKS = ("center", "error")

#: The tight face box assumed by ``fallback="center"``, as fractions of the
#: shorter image side: (centre x offset, centre y offset, side), the offsets
#: from the image centre. Measured on LFW (deep-funneled, 250 x 250; 100
#: images, one per random person): the tight template box that MTCNN's
#: landmarks map to has a median side of 0.51 of the image (10-90%: 0.47-0.56)
#: and is centred 0.03 above the image centre (x offset 0.00).
CENTER_FACE_BOX = (0.0, -0.03, 0.51)

_STATS_LOCK = threading.Lock()
_STATS = {"detected": 0, "fallback": 0, "cache_hits": 0}


def stats() -> dict[str, int]:
    """Process-wide counts of the ``align`` transform since start (or :func:`reset_stats`).

    Returns
    -------
    dict
        ``detected``: faces found and aligned; ``fallback``: images without a
        face that got the centre crop; ``cache_hits``: crops read back from
        the cache (neither detected nor counted as fallback again).
    """
    with _STATS_LOCK:
        return dict(_STATS)


def reset_stats() -> None:
    """Set every :func:`stats` count to zero."""
    with _STATS_LOCK:
        for k in _STATS:
            _STATS[k] = 0


def _count(key: str) -> None:
    with _STATS_LOCK:
        _STATS[key] += 1


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


def _warp(image: np.ndarray, inverse_map, size: int, scale: float) -> np.ndarray:
    """Resample ``image`` on a size x size grid; ``inverse_map`` maps output to input."""
    from scipy.ndimage import gaussian_filter
    from skimage.transform import warp

    rgb = np.asarray(image, dtype=np.float64)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=-1)
    rgb = rgb[..., :3]
    if scale > 2.0:  # input pixels per output pixel: smooth first against aliasing
        sigma = (scale - 1.0) / 2.0
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
) -> np.ndarray | None:
    """Detect the central face and warp it onto the template; None when there is no face.

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
        Use these landmarks instead of running the detector.

    Returns
    -------
    ndarray of shape (size, size, 3), float32, or None
    """
    if detection is None:
        detection = get_detector(method).detect(image)
        if detection is None:
            return None
    targets = target_landmarks(detection.method, size, margin)
    return warp_to_landmarks(image, detection.landmarks, targets, size)


def align_faces(
    images: Sequence[np.ndarray],
    method: str = "mtcnn",
    size: int = 160,
    margin: float = 0.2,
) -> list[np.ndarray | None]:
    """:func:`align_face` for several images, detected in one call of the detector.

    Parameters
    ----------
    images : sequence of ndarray of shape (h, w) or (h, w, 3)
        Values in [0, 255]; shapes may differ.
    method : {"mtcnn", "dlib"}
    size : int
    margin : float

    Returns
    -------
    list of (ndarray of shape (size, size, 3), float32) or None
        Per image, as :func:`align_face` gives it.
    """
    detections = get_detector(method).detect_batch(images)
    return [
        None if found is None else align_face(image, method, size, margin, detection=found)
        for image, found in zip(images, detections, strict=True)
    ]


@register_transform("align")
@dataclass(frozen=True)
class Align(Transform):
    """Align the central face onto the five-point template (MTCNN or dlib landmarks).

    Parameters
    ----------
    method : {"mtcnn", "dlib"}, default="mtcnn"
        Landmark detector: MTCNN (Zhang et al., IEEE SPL 2016; five points),
        or dlib's HOG detector with its 5-point shape predictor (Kazemi &
        Sullivan, CVPR 2014; eyes and nose bottom only, so the similarity is
        fitted on three points).
    size : int, default=160
        Side of the square output crop, in pixels.
    margin : float, default=0.2
        Border around the tight face box, as a fraction of its side on each
        side (see :func:`transfer.align.template.template_landmarks`).
    fallback : {"center", "error"}, default="center"
        Without a face: the centre crop of :func:`center_box`, scaled to
        ``size``; or raise a ValueError.
    cache : bool, default=True
        Read and write aligned crops in ``default_cache_dir() / "aligned"``.
        Not part of :meth:`spec` (it does not change the output).

    Notes
    -----
    Calling it returns a ``(size, size, 3)`` float32 RGB array in [0, 255].

    References
    ----------
    .. [1] K. Zhang, Z. Zhang, Z. Li and Y. Qiao, "Joint Face Detection and
       Alignment Using Multitask Cascaded Convolutional Networks", IEEE
       Signal Processing Letters, 2016.
    .. [2] V. Kazemi and J. Sullivan, "One Millisecond Face Alignment with an
       Ensemble of Regression Trees", CVPR 2014.
    .. [3] S. Umeyama, "Least-squares estimation of transformation parameters
       between two point patterns", IEEE TPAMI, 1991.
    """

    method: str = "mtcnn"
    size: int = 160
    margin: float = 0.2
    fallback: str = "center"
    cache: bool = True
    name = "align"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"align: 'method' must be one of {METHODS}, got {self.method!r}")
        if isinstance(self.size, bool) or not isinstance(self.size, int | np.integer):
            raise ValueError(f"align: 'size' must be an int, got {self.size!r}")
        if not 8 <= self.size <= 4096:
            raise ValueError(f"align: 'size' must be in [8, 4096], got {self.size!r}")
        if isinstance(self.margin, bool) or not 0 <= float(self.margin) <= 2:
            raise ValueError(f"align: 'margin' must be in [0, 2], got {self.margin!r}")
        if self.fallback not in FALLBACKS:
            raise ValueError(f"align: 'fallback' must be one of {FALLBACKS}, got {self.fallback!r}")
        object.__setattr__(self, "size", int(self.size))
        object.__setattr__(self, "margin", float(self.margin))
        object.__setattr__(self, "cache", bool(self.cache))

    def spec(self) -> dict:
        """Name and every parameter that changes the output (not ``cache``)."""
        return {
            "name": self.name,
            "method": self.method,
            "size": self.size,
            "margin": self.margin,
            "fallback": self.fallback,
            # bumped when the alignment itself changes
            "version": 1,
            "template": np.round(FIVE_POINTS, 8).tolist(),
        }

    # -- cache --------------------------------------------------------------
    def cache_path(self, image: np.ndarray) -> Path:
        """Where the aligned crop of ``image`` is (or would be) cached."""
        arr = np.ascontiguousarray(image)
        h = hashlib.sha256()
        h.update(json.dumps(self.spec(), sort_keys=True).encode())
        h.update(repr((arr.shape, arr.dtype.str)).encode())
        h.update(arr.tobytes())
        key = h.hexdigest()
        return default_cache_dir() / "aligned" / key[:2] / f"{key}.npy"

    def _load_cached(self, path: Path) -> np.ndarray | None:
        try:
            out = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None
        if out.shape != (self.size, self.size, 3) or out.dtype != np.float32:
            return None
        return out

    # -- the transform ------------------------------------------------------
    def _cached(self, image: np.ndarray) -> tuple[Path | None, np.ndarray | None]:
        """Where ``image``'s crop is cached (None without cache) and the crop if it is there."""
        path = self.cache_path(image) if self.cache else None
        if path is not None and path.is_file():
            out = self._load_cached(path)
            if out is not None:
                _count("cache_hits")
                return path, out
        return path, None

    def __call__(self, image: np.ndarray) -> np.ndarray:
        image = np.asarray(image)
        path, out = self._cached(image)
        if out is not None:
            return out
        return self._finish(image, align_face(image, self.method, self.size, self.margin), path)

    def apply_batch(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Align several images with one detector call; equal to ``[self(im) for im in images]``.

        Cached crops are read back and the others detected together
        (:func:`align_faces`); fallbacks, the error of ``fallback="error"``
        (raised for the first image without a face, in order, after the
        crops before it were cached), cache entries and :func:`stats` are
        those of the one-at-a-time path.

        Parameters
        ----------
        images : sequence of ndarray of shape (h, w) or (h, w, 3)
            Values in [0, 255]; shapes may differ.

        Returns
        -------
        list of ndarray of shape (size, size, 3), float32
        """
        images = [np.asarray(image) for image in images]
        cached = [self._cached(image) for image in images]
        todo = [i for i, (_, out) in enumerate(cached) if out is None]
        aligned = dict(
            zip(
                todo,
                align_faces([images[i] for i in todo], self.method, self.size, self.margin),
                strict=True,
            )
        )
        return [
            out if out is not None else self._finish(images[i], aligned[i], path)
            for i, (path, out) in enumerate(cached)
        ]

    def _finish(self, image: np.ndarray, out: np.ndarray | None, path: Path | None) -> np.ndarray:
        """Fall back (or raise) without a face, count, and cache the crop."""
        if out is None:
            if self.fallback == "error":
                raise ValueError(
                    f"align: no face found by {self.method!r} in an image of shape "
                    f"{image.shape}; use fallback='center' to take the centre crop instead"
                )
            logger.info(
                "align: no face found by %s in a %s image; using the centre crop",
                self.method,
                "x".join(map(str, image.shape[:2])),
            )
            _count("fallback")
            out = _center_crop(image, self.size, self.margin)
        else:
            _count("detected")
        if path is not None:
            atomic_write(path, lambda f: np.save(f, out, allow_pickle=False))
        return out
