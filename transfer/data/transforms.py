"""Per-image transforms applied as images are loaded: grey/RGB, resize, crops.

Each transform is a small frozen dataclass: calling it maps one image array
to another, and ``spec()`` describes it for cache keys and saved recipes.
Images are ``(height, width)`` grey or ``(height, width, 3)`` RGB, with values
in [0, 255].
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from transfer._registry import TRANSFORMS, register_transform
from transfer._validation import as_pair

# ITU-R BT.601 luma, as PIL's convert("L") and scikit-image's rgb2gray (BT.709
# there) differ slightly; we document ours.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class Transform:
    """Base class: a callable on one image with a ``spec()`` for cache keys."""

    name: str = ""

    def __call__(self, image: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def apply_batch(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """The transform of several images (a list: shapes may differ).

        One image at a time by default; a transform that gains from seeing
        a batch at once (face alignment: one detector call for many images)
        overrides it, with results equal to calling it on each image.
        """
        return [self(image) for image in images]

    def spec(self) -> dict:
        return {"name": self.name, **dataclasses.asdict(self)}


def to_grey(image: np.ndarray) -> np.ndarray:
    """RGB to grey with ITU-R BT.601 weights; grey images pass through."""
    if image.ndim == 2:
        return image
    if image.shape[-1] == 1:
        return image[..., 0]
    return np.tensordot(image[..., :3].astype(np.float32), _LUMA, axes=([-1], [0]))


@register_transform("grey")
@dataclass(frozen=True)
class Grey(Transform):
    """Convert to a single grey channel (ITU-R BT.601 luma)."""

    name = "grey"

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return to_grey(image)


@register_transform("rgb")
@dataclass(frozen=True)
class RGB(Transform):
    """Convert to three channels (a grey image is repeated)."""

    name = "rgb"

    def __call__(self, image: np.ndarray) -> np.ndarray:
        if image.ndim == 2:
            return np.repeat(image[..., None], 3, axis=-1)
        if image.shape[-1] == 1:
            return np.repeat(image, 3, axis=-1)
        return image[..., :3]


def _resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    from skimage.transform import resize

    if image.shape[:2] == tuple(shape):
        return image
    out_shape = tuple(shape) + image.shape[2:]
    return resize(
        image.astype(np.float32),
        out_shape,
        order=1,
        mode="reflect",
        anti_aliasing=True,
        preserve_range=True,
    ).astype(np.float32)


@register_transform("resize")
@dataclass(frozen=True)
class Resize(Transform):
    """Resize to ``size`` = (height, width) (bilinear, anti-aliased).

    Parameters
    ----------
    size : int or (int, int)
        Target (height, width); an int gives a square.
    """

    size: int | tuple[int, int] = 64
    name = "resize"

    def __post_init__(self) -> None:
        h, w = as_pair(self.size)
        if h < 1 or w < 1:
            raise ValueError(f"resize: 'size' must be positive, got {self.size!r}")
        object.__setattr__(self, "size", (h, w))

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return _resize(image, self.size)


@register_transform("center_crop")
@dataclass(frozen=True)
class CenterCrop(Transform):
    """Crop the central ``size`` = (height, width) region.

    Parameters
    ----------
    size : int or (int, int)
        Crop (height, width); must not exceed the image.
    """

    size: int | tuple[int, int] = 64
    name = "center_crop"

    def __post_init__(self) -> None:
        h, w = as_pair(self.size)
        if h < 1 or w < 1:
            raise ValueError(f"center_crop: 'size' must be positive, got {self.size!r}")
        object.__setattr__(self, "size", (h, w))

    def __call__(self, image: np.ndarray) -> np.ndarray:
        h, w = self.size
        H, W = image.shape[:2]
        if h > H or w > W:
            raise ValueError(f"center_crop: size {self.size} exceeds the image ({H}, {W})")
        top, left = (H - h) // 2, (W - w) // 2
        return image[top : top + h, left : left + w]


@register_transform("crop")
@dataclass(frozen=True)
class Crop(Transform):
    """Crop rows ``top:bottom`` and columns ``left:right`` (a fixed box)."""

    top: int = 0
    bottom: int = 0
    left: int = 0
    right: int = 0
    name = "crop"

    def __post_init__(self) -> None:
        if not (0 <= self.top < self.bottom and 0 <= self.left < self.right):
            raise ValueError(
                "crop: need 0 <= top < bottom and 0 <= left < right, got "
                f"top={self.top}, bottom={self.bottom}, left={self.left}, right={self.right}"
            )

    def __call__(self, image: np.ndarray) -> np.ndarray:
        H, W = image.shape[:2]
        if self.bottom > H or self.right > W:
            raise ValueError(f"crop: box exceeds the image ({H}, {W})")
        return image[self.top : self.bottom, self.left : self.right]


@register_transform("pad")
@dataclass(frozen=True)
class Pad(Transform):
    """Add a constant border of ``width`` pixels on every side.

    For instance scikit-learn's 8x8 digits resized to 20x20 and padded by 4
    are framed like MNIST's 28x28 digits (20x20 boxes in a 4-pixel margin,
    LeCun et al. 1998).

    Parameters
    ----------
    width : int
        Border width in pixels (>= 1).
    value : float, default=0.0
        Border value (0: black).
    """

    width: int = 4
    value: float = 0.0
    name = "pad"

    def __post_init__(self) -> None:
        if isinstance(self.width, bool) or not isinstance(self.width, int) or self.width < 1:
            raise ValueError(f"pad: 'width' must be an int >= 1, got {self.width!r}")

    def __call__(self, image: np.ndarray) -> np.ndarray:
        w = self.width
        widths = ((w, w), (w, w)) + ((0, 0),) * (image.ndim - 2)
        return np.pad(image, widths, mode="constant", constant_values=self.value)


@register_transform("lfw_crop")
@dataclass(frozen=True)
class LFWCrop(Transform):
    """The crop and resize of scikit-learn's ``fetch_lfw_people``/``fetch_lfw_pairs``.

    Keeps rows 70:195 and columns 78:172 of a 250x250 LFW image (125x94, the
    face without most of the background), then scales by ``resize`` (0.5 in
    scikit-learn, giving 62x47).
    """

    resize: float = 0.5
    name = "lfw_crop"

    def __post_init__(self) -> None:
        if not (0 < self.resize <= 4):
            raise ValueError(f"lfw_crop: 'resize' must be in (0, 4], got {self.resize!r}")

    def __call__(self, image: np.ndarray) -> np.ndarray:
        if image.shape[:2] != (250, 250):
            raise ValueError(
                f"lfw_crop expects 250x250 LFW images, got {image.shape[:2]}; use 'crop' instead"
            )
        face = image[70:195, 78:172]
        h = max(1, int(125 * self.resize))
        w = max(1, int(94 * self.resize))
        return _resize(face, (h, w))


def make_transform(spec: str | dict) -> Transform:
    """Build a transform from a recipe entry: ``"grey"`` or ``{"resize": {"size": 64}}``."""
    if isinstance(spec, str):
        spec = {spec: None}
    if isinstance(spec, dict) and len(spec) == 1:
        ((name, params),) = spec.items()
        if name not in TRANSFORMS:
            # transforms registered by other packages (``align``) load on first use
            from transfer.registry import load_components

            load_components()
        return TRANSFORMS.create(name, **(params or {}))
    raise ValueError(
        f"a transform is a name or a one-key mapping {{name: {{params}}}}, got {spec!r}"
    )
