"""Face alignment: five-point landmarks (MTCNN or dlib) warped onto a template.

:func:`detect_faces` finds every face (box, five landmarks, score);
:class:`Align` warps one per image onto the template, as a recipe transform
and as a scikit-learn transformer.

Importing this package registers the ``align`` transform; it imports neither
TensorFlow, mtcnn nor dlib (the detectors load their models on first use).
Install the detectors with ``pip install 'transfer[faces]'``.
"""

from transfer.align.detectors import (
    DLIB_MODEL_SHA256,
    FACE_RULES,
    Detection,
    DlibDetector,
    Face,
    FaceDetector,
    MTCNNDetector,
    detect_faces,
    dlib_model_path,
    downscaled,
    get_detector,
    select_face,
)
from transfer.align.template import FIVE_POINTS, LANDMARK_NAMES, template_landmarks
from transfer.align.transform import (
    FALLBACKS,
    Align,
    NoFaceWarning,
    align_face,
    align_faces,
    center_box,
    reset_stats,
    stats,
    target_landmarks,
    warp_to_landmarks,
)

__all__ = [
    "DLIB_MODEL_SHA256",
    "FACE_RULES",
    "FALLBACKS",
    "FIVE_POINTS",
    "LANDMARK_NAMES",
    "Align",
    "Detection",
    "DlibDetector",
    "Face",
    "FaceDetector",
    "MTCNNDetector",
    "NoFaceWarning",
    "align_face",
    "align_faces",
    "center_box",
    "detect_faces",
    "dlib_model_path",
    "downscaled",
    "get_detector",
    "reset_stats",
    "select_face",
    "stats",
    "target_landmarks",
    "template_landmarks",
    "warp_to_landmarks",
]
