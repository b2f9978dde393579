"""dlib's ResNet face descriptor: 128-d identity codes (registered as "dlib_resnet").

:class:`DlibResNetFeatures` runs dlib's ``face_recognition_model_v1`` (a
29-layer ResNet, He et al. [2]_, trained by D. King with a metric loss on
about 3 million faces; weights public domain, CC0) on 150 x 150 face chips
and returns its 128-d descriptor. Two faces are the same person when their
descriptors are closer than 0.6 in Euclidean distance (dlib's threshold;
dlib reports 99.38% on LFW). The descriptors are not normalised: their norm
is of the order of 1 (1.27 to 1.59 on 136 LFW faces).

With ``align=True`` (the default) each image goes through dlib's own
alignment, the one the network was trained on: the HOG frontal face
detector (King [1]_), the 5-point shape predictor (Kazemi and Sullivan
[3]_) on the face closest to the image centre, then ``dlib.get_face_chip``
(150 px, padding 0.25). An image without a detected face is resized whole to
150 x 150 instead; these are logged at INFO on the ``transfer.features``
logger and counted in :func:`stats`. With ``align=False`` inputs are taken as
face chips already and resized to 150 x 150 (bilinear, antialiased) when
they are not that size. Grey images are repeated to RGB.

Models load on first use (never at import or in ``__init__``), once per
process, after their sha256 is checked; calls into dlib hold a lock.

References
----------
.. [1] D. E. King, "Dlib-ml: A Machine Learning Toolkit", Journal of Machine
   Learning Research, vol. 10, pp. 1755-1758, 2009.
.. [2] K. He, X. Zhang, S. Ren and J. Sun, "Deep Residual Learning for Image
   Recognition", CVPR 2016.
.. [3] V. Kazemi and J. Sullivan, "One Millisecond Face Alignment with an
   Ensemble of Regression Trees", CVPR 2014.
"""

from __future__ import annotations

import logging
import numbers
import threading
from typing import Any

import numpy as np

from transfer._registry import register_extractor
from transfer._validation import InstanceOf, Interval
from transfer.align.detectors import (
    DLIB_MODEL_SHA256,
    as_rgb_uint8,
    dlib_model_path,
    dlib_module,
    get_detector,
)
from transfer.features.base import BaseExtractor, stable_hash

__all__ = ["CHIP_PADDING", "CHIP_SIZE", "DlibResNetFeatures", "face_chip", "reset_stats", "stats"]

logger = logging.getLogger("transfer.features")

#: dlib's face chip: side in pixels and padding (fraction of the face box).
CHIP_SIZE = 150
CHIP_PADDING = 0.25
MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
N_FEATURES = 128

_MODELS: dict[str, Any] = {}
_LOCK = threading.Lock()
_STATS = {"aligned": 0, "fallback": 0}


def stats() -> dict[str, int]:
    """Process-wide counts: ``aligned`` chips and ``fallback`` (no face, whole image) ones."""
    with _LOCK:
        return dict(_STATS)


def reset_stats() -> None:
    """Set the :func:`stats` counts to zero."""
    with _LOCK:
        for k in _STATS:
            _STATS[k] = 0


def _network() -> Any:
    """dlib's face recognition ResNet, loaded (and sha256-checked) once per process."""
    with _LOCK:
        if "resnet" not in _MODELS:
            dlib = dlib_module()
            _MODELS["resnet"] = dlib.face_recognition_model_v1(str(dlib_model_path(MODEL_FILE)))
        return _MODELS["resnet"]


def _resize_chip(rgb: np.ndarray) -> np.ndarray:
    if rgb.shape[:2] == (CHIP_SIZE, CHIP_SIZE):
        return rgb
    from skimage.transform import resize

    out = resize(
        rgb.astype(np.float32),
        (CHIP_SIZE, CHIP_SIZE, 3),
        order=1,
        mode="reflect",
        anti_aliasing=True,
        preserve_range=True,
    )
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def face_chip(image: np.ndarray, align: bool = True) -> tuple[np.ndarray, bool]:
    """The 150 x 150 uint8 RGB chip dlib's network takes, and whether a face was found.

    Parameters
    ----------
    image : ndarray of shape (h, w) or (h, w, 3)
        Values in [0, 255].
    align : bool, default=True
        Detect and align with dlib (``get_face_chip``); otherwise (or without
        a face) resize the whole image.

    Returns
    -------
    chip : ndarray of shape (150, 150, 3), uint8
    found : bool
        False when ``align`` found no face (the chip is then the whole image).
    """
    rgb = as_rgb_uint8(image)
    if not align:
        return _resize_chip(rgb), True
    found = get_detector("dlib").detect_shape(rgb)
    if found is None:
        return _resize_chip(rgb), False
    dlib = dlib_module()
    rgb, shape = found
    chip = dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
    return np.ascontiguousarray(chip, dtype=np.uint8), True


@register_extractor("dlib_resnet")
class DlibResNetFeatures(BaseExtractor):
    """dlib's 128-d ResNet face descriptor (compare with Euclidean distance < 0.6).

    Parameters
    ----------
    align : bool, default=True
        Find the central face with dlib's HOG detector and 5-point predictor
        and cut dlib's aligned chip (150 px, padding 0.25), as the network was
        trained; images without a face are resized whole (counted in
        :func:`stats`). False: inputs are face chips, resized to 150 x 150.
    num_jitters : int, default=0
        dlib's test-time augmentation: above 1, the descriptor is the mean over
        that many randomly jittered copies (slower, and not deterministic).
    batch_size : int, default=32
        Chips per call of the network.
    image_shape : (int, int), optional
        Shape of flattened grey images given as rows of a 2-D array.

    Attributes
    ----------
    image_shape_ : tuple
        Shape of one input image, set by ``fit``.

    References
    ----------
    .. [1] D. E. King, "Dlib-ml: A Machine Learning Toolkit", JMLR 10, 2009.
    .. [2] K. He, X. Zhang, S. Ren and J. Sun, "Deep Residual Learning for
       Image Recognition", CVPR 2016.
    .. [3] V. Kazemi and J. Sullivan, "One Millisecond Face Alignment with an
       Ensemble of Regression Trees", CVPR 2014.

    Examples
    --------
    >>> from transfer.features.identity import DlibResNetFeatures
    >>> E = DlibResNetFeatures().fit_transform(lfw_images)  # doctest: +SKIP
    >>> same = np.linalg.norm(E[0] - E[1]) < 0.6  # doctest: +SKIP
    """

    _parameter_constraints: dict = {
        **BaseExtractor._parameter_constraints,
        "align": [InstanceOf(bool), InstanceOf(np.bool_)],
        "num_jitters": [Interval(numbers.Integral, 0, None)],
        "batch_size": [Interval(numbers.Integral, 1, None)],
    }

    def __init__(
        self,
        align: bool = True,
        num_jitters: int = 0,
        *,
        batch_size: int = 32,
        image_shape: Any = None,
    ) -> None:
        self.align = align
        self.num_jitters = num_jitters
        self.batch_size = batch_size
        self.image_shape = image_shape

    def __transfer_tags__(self) -> dict[str, Any]:
        tags = super().__transfer_tags__()
        tags["kind"] = "learned"
        return tags

    def _fit(self, X: Any, y: Any) -> None:
        _network()

    def _chips(self, images: np.ndarray) -> list[np.ndarray]:
        chips = []
        n_fallback = 0
        for image in images:
            chip, found = face_chip(image, bool(self.align))
            n_fallback += not found
            chips.append(chip)
        if self.align:
            with _LOCK:
                _STATS["aligned"] += len(chips) - n_fallback
                _STATS["fallback"] += n_fallback
            if n_fallback:
                logger.info(
                    "dlib_resnet: no face found in %d of %d images; used the whole image",
                    n_fallback,
                    len(chips),
                )
        return chips

    def _transform_batch(self, images: np.ndarray) -> np.ndarray:
        net = _network()
        chips = self._chips(images)
        with _LOCK:
            vectors = net.compute_face_descriptor(chips, int(self.num_jitters))
        return np.asarray([np.asarray(v) for v in vectors], dtype=np.float32).reshape(
            len(chips), N_FEATURES
        )

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names ``dlib_resnet0`` .. ``dlib_resnet127`` of the descriptor's dimensions."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "image_shape_")
        return np.asarray([f"dlib_resnet{i}" for i in range(N_FEATURES)], dtype=object)

    def cache_key(self) -> str:
        """Covers the class, parameters, the model files' sha256 and the chip geometry."""
        return stable_hash(
            {
                "class": f"{type(self).__module__}.{type(self).__qualname__}",
                "version": self._cache_version,
                "params": self.get_params(deep=False),
                "weights": dict(DLIB_MODEL_SHA256),
                "chip": {"size": CHIP_SIZE, "padding": CHIP_PADDING, "upsample": 1},
            }
        )
