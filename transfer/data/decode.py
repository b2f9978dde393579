"""Image files to arrays: the one decoder behind every ImageSet of files.

:func:`read_image` maps every PIL mode onto the toolkit's convention, grey
``(height, width)`` or RGB ``(height, width, 3)`` on the 0..255 scale, so
that handcrafted features see what the CNN path (``tf.io.decode_image``)
sees:

* 8-bit grey (``L``, ``1``) and colour (``RGB``, ``P``, ``CMYK``, ``YCbCr``,
  ...) images come back as uint8, colour ones converted to RGB;
* 16-bit grey images (``I;16``: 16-bit PNG and TIFF) and 32-bit integer ones
  (``I``: PIL's mode for 16-bit PGM, scaled by PIL to 0..65535) are divided
  by 257, so 65535 maps to 255, and come back as float32 (clipped to
  [0, 255]); PIL's own conversion to ``L`` saturates them instead;
* 16-bit RGB PNGs: PIL keeps the high byte of each sample (``value // 256``,
  as ``tf.io.decode_image`` does), within 1 of ``value / 257``;
* float images (``F``) come back as float32: taken as [0, 1] when no value
  exceeds 1 (the scikit-image convention), else as 0..255, then clipped;
* an alpha channel (``LA``, ``PA``, ``RGBA``) is dropped, as
  ``tf.io.decode_image(channels=3)`` does; ``LA`` stays grey.

Decompression bombs
-------------------
PIL refuses images of more than twice ``PIL.Image.MAX_IMAGE_PIXELS`` pixels
(about 179 million by default), as a guard against files crafted to exhaust
memory. Such a file raises :class:`ImageReadError` naming it and its pixel
count. To read larger images, set the environment variable
``TRANSFER_MAX_IMAGE_PIXELS`` to the largest pixel count to accept, or to
``none`` for no limit; it is read at each call, never at import.
"""

from __future__ import annotations

import functools
import os
import stat
import struct
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

MAX_PIXELS_ENV = "TRANSFER_MAX_IMAGE_PIXELS"

# Bumped whenever read_image maps some file to different pixels, so that
# ImageSet fingerprints (and the feature caches keyed on them) change too.
# 2: 16-bit, integer and float images scaled instead of clipped at 255.
DECODER_VERSION = 2

_GREY_8BIT = frozenset({"1", "L", "LA", "La"})
# Errors PIL raises on corrupt or truncated files, depending on the format.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError)
# PIL's limit is a module global; lifting it for one file is serialised.
_LIMIT_LOCK = threading.Lock()


class ImageReadError(ValueError):
    """An image file that cannot be decoded (corrupt, empty, not an image, too large)."""


_PIL_DEFAULT = object()


def _allowed_pixels(path: str):
    """The pixel limit from the environment: an int, None (no limit) or PIL's own."""
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return _PIL_DEFAULT
    if raw.lower() in ("none", "unlimited"):
        return None
    try:
        value = int(raw.replace("_", "").replace(",", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise ImageReadError(
            f"cannot read image {path!r}: the environment variable {MAX_PIXELS_ENV}={raw!r} "
            "must be a number of pixels >= 1 or 'none'"
        )
    return value


@contextmanager
def _pil_limit_lifted() -> Iterator[None]:
    from PIL import Image

    with _LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _too_large(path: str, size: tuple[int, int], limit: int) -> ImageReadError:
    width, height = size
    return ImageReadError(
        f"cannot read image {path!r}: it has {width * height:,} pixels ({width}x{height}), "
        f"over the limit of {limit:,} that guards against decompression bombs; to read it, "
        f"set the environment variable {MAX_PIXELS_ENV} to at least {width * height} "
        "(or to 'none' for no limit)"
    )


def _open(path: str, decode: bool):
    """The PIL image of ``path``, its header parsed and, if ``decode``, its pixels.

    Applies the pixel limit (``TRANSFER_MAX_IMAGE_PIXELS``, else PIL's).
    Decoding errors propagate; the caller names the file.
    """
    from PIL import Image

    allowed = _allowed_pixels(path)
    try:
        img = Image.open(path)
    except Image.DecompressionBombError:
        with _pil_limit_lifted(), Image.open(path) as probe:
            size = probe.size
        if allowed is _PIL_DEFAULT:
            raise _too_large(path, size, 2 * Image.MAX_IMAGE_PIXELS) from None
        if allowed is not None and size[0] * size[1] > allowed:
            raise _too_large(path, size, allowed) from None
        with _pil_limit_lifted():
            img = Image.open(path)
            return _loaded(img) if decode else img
    if isinstance(allowed, int) and img.size[0] * img.size[1] > allowed:
        img.close()
        raise _too_large(path, img.size, allowed)
    return _loaded(img) if decode else img


def _loaded(img):
    """``img`` with its pixels decoded; closed if decoding fails."""
    try:
        img.load()
    except BaseException:
        img.close()
        raise
    return img


def _to_array(img) -> np.ndarray:
    """A decoded PIL image as grey or RGB, uint8 or float32 on the 0..255 scale."""
    mode = img.mode
    if mode.startswith("I;16") or mode == "I":
        # 65535 / 257 == 255 exactly; PIL's convert("L") clips at 255 instead.
        arr = np.asarray(img).astype(np.float32) / np.float32(257.0)
        return np.clip(arr, 0.0, 255.0)
    if mode == "F":
        arr = np.nan_to_num(np.asarray(img, dtype=np.float32), nan=0.0, posinf=255.0, neginf=0.0)
        if arr.size and arr.max() <= 1.0:
            arr = arr * np.float32(255.0)
        return np.clip(arr, 0.0, 255.0)
    if mode in _GREY_8BIT:
        return np.asarray(img.convert("L"), dtype=np.uint8)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode one image file onto the 0..255 scale.

    Grey images come back as ``(height, width)``, everything else as RGB
    ``(height, width, 3)``: uint8 for 8-bit files, float32 in [0, 255] for
    16-bit, integer and float ones (see the module docstring for each mode).

    Parameters
    ----------
    path : str or path-like
        The image file.

    Returns
    -------
    ndarray of shape (height, width) or (height, width, 3)

    Raises
    ------
    ImageReadError
        Naming the file when it is missing, empty, cannot be decoded, or has
        more pixels than allowed (``TRANSFER_MAX_IMAGE_PIXELS``).
    """
    from PIL import UnidentifiedImageError

    path = os.fspath(path)
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise ImageReadError(f"cannot read image {path!r}: {exc.strerror or exc}") from None
    if size == 0:
        raise ImageReadError(f"cannot read image {path!r}: the file is empty")
    try:
        img = _open(path, decode=True)
        with img:
            arr = _to_array(img)
    except ImageReadError:
        raise
    except (UnidentifiedImageError, *_DECODE_ERRORS) as exc:
        raise ImageReadError(f"cannot read image {path!r}: {exc}") from None
    return np.ascontiguousarray(arr)


def check_image_file(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be read as an image, or None when it looks readable.

    Cheap: checks that the file exists, is a regular, non-empty, readable
    file, and that its header parses as an image within the pixel limit; the
    pixels are not decoded, so a file truncated after its header passes.
    """
    from PIL import UnidentifiedImageError

    path = os.fspath(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        return exc.strerror or str(exc)
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_size == 0:
        return "the file is empty"
    try:
        with _open(path, decode=False):
            pass
    except ImageReadError as exc:
        return str(exc).removeprefix(f"cannot read image {path!r}: ")
    except (UnidentifiedImageError, *_DECODE_ERRORS) as exc:
        return str(exc) or type(exc).__name__
    return None


def is_image_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an image file by its content, whatever its extension.

    A header check: PIL recognises the format and parses the header (the
    pixels are not decoded, and the pixel limit does not apply: an image
    too large to read is still an image, refused with its own error when
    read). The answer is cached per path, size and modification time, so
    listing the same folder again costs one ``stat`` per file.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    bool
        False for a missing, empty, unreadable or non-regular file, or one
        whose header no PIL plugin recognises.
    """
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
        return False
    return _sniff(path, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=1 << 16)
def _sniff(path: str, size: int, mtime_ns: int) -> bool:
    """PIL parses the header of ``path`` (``size`` and ``mtime_ns`` key the cache)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path):
                return True
    except Image.DecompressionBombError:
        return True  # an image, only too large: read_image names it when asked to read it
    except (UnidentifiedImageError, *_DECODE_ERRORS):
        return False


def image_file_shape(path: str | os.PathLike) -> tuple[int, ...] | None:
    """The shape :func:`read_image` gives ``path``, from its header; None if unreadable.

    ``(height, width)`` for grey and 16-bit / integer / float modes,
    ``(height, width, 3)`` for the others, as :func:`read_image` maps them.
    """
    from PIL import Image

    path = os.fspath(path)
    try:
        with _pil_limit_lifted(), Image.open(path) as img:
            width, height = img.size
            mode = img.mode
    except Exception:  # a shape for a message only: the reader names what is wrong
        return None
    grey = mode in _GREY_8BIT or mode.startswith("I;16") or mode in ("I", "F")
    return (height, width) if grey else (height, width, 3)
