"""The canonical five-point face template that aligned crops are warped to.

Every aligner in :mod:`transfer.align` maps the detected landmarks (left eye,
right eye, nose tip, left and right mouth corners, in the image's left-to-right
order) onto these positions by a similarity transform, so extractors that need
landmarks on an aligned crop (high-dimensional LBP) can read them from here.

The template is the one widely used for 112x112 face crops (Deng et al.,
ArcFace, CVPR 2019, after Wen et al., ECCV 2016), expressed as fractions of
the crop side so that it scales to any size; ``margin`` widens the crop by
that fraction of the tight face box on every side.
"""

from __future__ import annotations

import numpy as np

#: (x, y) of left eye, right eye, nose tip, left mouth corner, right mouth
#: corner, as fractions of a tight square face crop (112 px in the original).
FIVE_POINTS = np.array(
    [
        [0.34191607, 0.46157411],
        [0.65653393, 0.45983393],
        [0.50022500, 0.64050536],
        [0.37097589, 0.82469196],
        [0.63151696, 0.82325089],
    ]
)

LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


def template_landmarks(size: int, margin: float = 0.0) -> np.ndarray:
    """Landmark positions (x, y) in pixels on a ``size`` x ``size`` aligned crop.

    Parameters
    ----------
    size : int
        Side of the square crop in pixels.
    margin : float, default=0.0
        Extra border around the tight face box, as a fraction of the box side
        on each side: 0.25 leaves a quarter of the face width on each side.

    Returns
    -------
    ndarray of shape (5, 2)
        In the order of :data:`LANDMARK_NAMES`, pixel centres at integer
        coordinates (the top-left pixel's centre is (0, 0)).
    """
    if not size >= 1:
        raise ValueError(f"size must be >= 1, got {size!r}")
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0, got {margin!r}")
    unit = (FIVE_POINTS + margin) / (1.0 + 2.0 * margin)
    return unit * size - 0.5
