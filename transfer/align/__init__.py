"""Face alignment: five-point landmarks (MTCNN or dlib) warped onto a template.

Importing this package registers the ``align`` transform; it imports neither
TensorFlow, mtcnn nor dlib (the detectors load their models on first use).
Install the detectors with ``pip install 'transfer[faces]'``.
"""

from transfer.align.detectors import (
    DLIB_MODEL_SHA256,
    Detection,
    DlibDetector,
    FaceDetector,
    MTCNNDetector,
    dlib_model_path,
    get_detector,
)
from transfer.align.template import FIVE_POINTS, LANDMARK_NAMES, template_landmarks
from transfer.align.transform import (
    Align,
    align_face,
    center_box,
    reset_stats,
    stats,
    target_landmarks,
    warp_to_landmarks,
)

__all__ = [
    "DLIB_MODEL_SHA256",
    "FIVE_POINTS",
    "LANDMARK_NAMES",
    "Align",
    "Detection",
    "DlibDetector",
    "FaceDetector",
    "MTCNNDetector",
    "align_face",
    "center_box",
    "dlib_model_path",
    "get_detector",
    "reset_stats",
    "stats",
    "target_landmarks",
    "template_landmarks",
    "warp_to_landmarks",
]
