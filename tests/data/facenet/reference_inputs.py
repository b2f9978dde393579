"""The inputs of ``reference.npz``, rebuilt from ``skimage.data`` and LFW.

``reference.npz`` holds only numbers computed for this project (the original
FaceNet model's embeddings) and the sha256 of each uint8 input; the images
are not ours to commit, so the test and ``make_reference.py`` both rebuild
them here with integer slicing only (no resize), so that both sides feed the
same integers:

* ``astronaut``: ``skimage.data.astronaut()[40:200, 148:308]``, a 160 x 160
  crop around the face (PNG, decoded losslessly);
* two deep-funneled LFW images (``LFW_FILES``), centre 160 x 160 crop
  ``[45:205, 45:205]`` of the 250 x 250 image, decoded by Pillow. Another
  JPEG decoder may give other integers: the digest tells.

Importable as ``tests.data.facenet.reference_inputs`` (tests) and as
``reference_inputs`` (the script, run from this folder's path).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

#: LFW images, relative to the ``lfw`` folder of the data root.
LFW_FILES = (
    "lfw-deepfunneled/Abdullah_Gul/Abdullah_Gul_0013.jpg",
    "lfw-deepfunneled/Abdullah_Gul/Abdullah_Gul_0014.jpg",
)
#: Names of the inputs, in the order of the reference arrays.
NAMES = ("astronaut", *LFW_FILES)


def sha256_of(image: np.ndarray) -> str:
    """sha256 of a uint8 image's shape and bytes."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    return hashlib.sha256(repr(image.shape).encode() + image.tobytes()).hexdigest()


def astronaut() -> np.ndarray:
    """uint8 (160, 160, 3): the face of ``skimage.data.astronaut()``."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[40:200, 148:308], dtype=np.uint8)


def lfw_crop(path: str | Path) -> np.ndarray:
    """uint8 (160, 160, 3): the centre of a 250 x 250 deep-funneled LFW image."""
    from PIL import Image

    with Image.open(path) as img:
        rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(rgb[45:205, 45:205])


def reference_inputs(lfw_root: str | Path | None) -> dict[str, np.ndarray]:
    """The inputs by name; the LFW ones only when ``lfw_root`` holds them."""
    out = {"astronaut": astronaut()}
    if lfw_root is not None:
        for rel in LFW_FILES:
            path = Path(lfw_root) / rel
            if path.is_file():
                out[rel] = lfw_crop(path)
    return out
