"""The two input images of the CNN references, recomputed from ``skimage.data``.

The ``*_reference.npz`` files beside this module hold only numbers computed
for this project (PyTorch logits, pooled features, preprocessing constants)
and :func:`images_sha256` of the uint8 input; the images themselves --
scikit-image's ``data.chelsea()`` and ``data.coffee()`` -- are not ours to
commit, so the tests and the ``make_*_reference.py`` scripts both rebuild them
with :func:`reference_images`. Should a scikit-image release resize
differently, the digest no longer matches and the references must be
regenerated with the ``make_*`` scripts (which need torch).

Importable as ``tests.data.cnn.reference_images`` (tests) and as
``reference_images`` (the scripts, run from this folder's path).
"""

from __future__ import annotations

import hashlib

import numpy as np

#: The images, in this order (``skimage.data`` function names).
NAMES = ("chelsea", "coffee")


def reference_images(size: int) -> np.ndarray:
    """chelsea and coffee resized (bilinear, antialiased) to ``size`` x ``size``.

    Returns uint8 RGB of shape ``(2, size, size, 3)``: each image, as float64
    in 0..255, goes through ``skimage.transform.resize(order=1,
    anti_aliasing=True, preserve_range=True)`` and is rounded half to even and
    clipped to 0..255. The aspect ratio is not kept (both are squashed).
    """
    from skimage import data, transform

    out = []
    for name in NAMES:
        img = getattr(data, name)().astype(np.float64)
        r = transform.resize(img, (size, size), order=1, anti_aliasing=True, preserve_range=True)
        out.append(np.clip(np.rint(r), 0, 255).astype(np.uint8))
    return np.stack(out)


def images_sha256(images: np.ndarray) -> str:
    """Hex sha256 of the images as C-contiguous uint8 bytes, with their shape.

    The shape is hashed too (``"2x224x224x3:"`` before the bytes), so the same
    bytes laid out differently do not collide.
    """
    a = np.ascontiguousarray(images)
    if a.dtype != np.uint8:
        raise TypeError(f"expected uint8 images, got {a.dtype}")
    h = hashlib.sha256("x".join(map(str, a.shape)).encode() + b":")
    h.update(a.tobytes())
    return h.hexdigest()
