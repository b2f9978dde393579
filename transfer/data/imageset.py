"""The ImageSet: images (in memory or as lazily decoded files) with their labels."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from transfer.data.decode import DECODER_VERSION, ImageReadError, check_image_file, read_image
from transfer.data.transforms import Transform

__all__ = ["ImageReadError", "ImageSet", "read_image"]

# How many unreadable files check_files names; the count covers them all.
_SHOWN = 5


@dataclass(frozen=True, eq=False)
class ImageSet:
    """A labelled set of images, held in memory or referenced by file.

    Parameters
    ----------
    name : str
        A short name for reports.
    labels : ndarray of shape (n_images,)
        Integer class index of each image (for face sets, the identity).
    class_names : tuple of str
        ``class_names[k]`` names class ``k``.
    images : ndarray of shape (n_images, height, width[, channels]), optional
        Images in memory (uint8 or float in [0, 255]). Exactly one of
        ``images`` and ``paths`` is given.
    paths : tuple of str, optional
        Image files, decoded lazily batch by batch.
    identities : ndarray of shape (n_images,), optional
        Identity of each image, when it differs from ``labels``.
    attributes : ndarray of shape (n_images, n_attributes), optional
        Binary attributes (0/1), e.g. CelebA's 40.
    attribute_names : tuple of str
        Names of the attribute columns.
    split : ndarray of shape (n_images,) of str, optional
        A split given with the data ("train" / "test"), e.g. keras ``.npz``
        files; protocols may use it instead of drawing their own.
    transforms : tuple of Transform
        Applied in order to every image as it is loaded.
    root : str, optional
        Folder the paths are relative to, for stable fingerprints and names.
    """

    name: str
    labels: np.ndarray
    class_names: tuple[str, ...]
    images: np.ndarray | None = None
    paths: tuple[str, ...] | None = None
    identities: np.ndarray | None = None
    attributes: np.ndarray | None = None
    attribute_names: tuple[str, ...] = ()
    split: np.ndarray | None = None
    transforms: tuple[Transform, ...] = ()
    root: str | None = None
    _fingerprint_cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if (self.images is None) == (self.paths is None):
            raise ValueError("an ImageSet needs exactly one of 'images' and 'paths'")
        n = len(self.images) if self.images is not None else len(self.paths)
        if len(self.labels) != n:
            raise ValueError(f"{n} images but {len(self.labels)} labels")
        for attr in ("identities", "attributes", "split"):
            value = getattr(self, attr)
            if value is not None and len(value) != n:
                raise ValueError(f"{n} images but {len(value)} {attr}")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def lazy(self) -> bool:
        return self.paths is not None

    def split_counts(self) -> dict[str, int] | None:
        """How many images each given split holds, or None without a split.

        Returns
        -------
        dict of str to int, or None
            ``{"train": n, "test": m}`` (both keys always present, then any
            other split name in sorted order) when ``split`` is given.
        """
        if self.split is None:
            return None
        names, counts = np.unique(np.asarray(self.split).astype(str), return_counts=True)
        found = dict(zip(names.tolist(), counts.tolist(), strict=True))
        result = {"train": found.pop("train", 0), "test": found.pop("test", 0)}
        result.update(sorted(found.items()))
        return result

    def check_files(self, progress: bool | None = None) -> None:
        """Check, without decoding the pixels, that every image file can be opened.

        Each file must exist, be a regular, non-empty, readable file, and its
        header must parse as an image within the pixel limit (see
        :func:`transfer.data.read_image`). A few milliseconds per file, so
        it suits a dry run before a long extraction; a file corrupt after
        its header is only found when decoded. Sets held in memory pass.

        Parameters
        ----------
        progress : bool, optional
            Draw a progress bar; by default as set by
            ``transfer._config.set_config(progress=...)`` (the CLI turns it on).

        Raises
        ------
        ImageReadError
            Naming the first bad file, why, and how many files are bad.
        """
        if self.paths is None:
            return
        from transfer._config import config_context
        from transfer._progress import track

        bad: list[tuple[int, str]] = []
        with config_context(progress=progress):
            for i in track(range(len(self.paths)), len(self.paths), f"checking {self.name}"):
                reason = check_image_file(self.paths[i])
                if reason is not None:
                    bad.append((i, reason))
        if not bad:
            return
        first, reason = bad[0]
        others = ", ".join(self.describe(i) for i, _ in bad[1:_SHOWN])
        more = f"; others: {others}" + (", ..." if len(bad) > _SHOWN else "") if others else ""
        raise ImageReadError(
            f"{len(bad)} of {len(self.paths)} image files of {self.name!r} cannot be read; "
            f"the first is {self.paths[first]!r}: {reason}{more}"
        )

    def identity_array(self) -> np.ndarray:
        """Identities if given, else the labels."""
        return self.identities if self.identities is not None else self.labels

    def subset(self, indices: Sequence[int] | np.ndarray) -> ImageSet:
        """The images at ``indices`` (class names and transforms kept)."""
        idx = np.asarray(indices, dtype=np.intp)

        def take(a):
            return None if a is None else a[idx]

        return replace(
            self,
            labels=self.labels[idx],
            images=take(self.images),
            paths=None if self.paths is None else tuple(self.paths[i] for i in idx),
            identities=take(self.identities),
            attributes=take(self.attributes),
            split=take(self.split),
            _fingerprint_cache={},
        )

    def with_transforms(self, *transforms: Transform) -> ImageSet:
        """A copy with ``transforms`` appended to the existing ones."""
        return replace(self, transforms=self.transforms + tuple(transforms), _fingerprint_cache={})

    def describe(self, i: int) -> str:
        """A human name for image ``i`` (its file, or its index)."""
        if self.paths is not None:
            p = self.paths[i]
            return os.path.relpath(p, self.root) if self.root else p
        return f"{self.name}[{i}]"

    def _load_one(self, i: int) -> np.ndarray:
        img = read_image(self.paths[i]) if self.paths is not None else self.images[i]
        for t in self.transforms:
            img = t(img)
        return img

    def iter_batches(
        self, batch_size: int = 256, indices: Sequence[int] | None = None
    ) -> Iterator[np.ndarray]:
        """Yield decoded, transformed images in batches, as float32 arrays.

        Raises
        ------
        ImageReadError
            For an unreadable file, naming it.
        ValueError
            When images differ in shape after the transforms (add a resize).
        """
        order = np.arange(len(self)) if indices is None else np.asarray(indices)
        shape = None
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            if self.images is not None and not self.transforms:
                batch = np.asarray(self.images[chunk], dtype=np.float32)
            else:
                imgs = [
                    read_image(self.paths[int(i)]) if self.paths is not None else self.images[i]
                    for i in chunk
                ]
                for t in self.transforms:  # a whole chunk per call: alignment batches
                    batched = getattr(t, "apply_batch", None)  # any callable is a transform
                    imgs = batched(imgs) if batched is not None else [t(im) for im in imgs]
                for i, img in zip(chunk, imgs, strict=True):
                    if shape is None:
                        shape = img.shape
                    elif img.shape != shape:
                        raise ValueError(
                            f"image {self.describe(int(i))} has shape {img.shape} after the "
                            f"transforms, the first had {shape}: add a 'resize' transform so "
                            "all images share one size"
                        )
                batch = np.stack(imgs).astype(np.float32, copy=False)
            yield batch

    def load(self, indices: Sequence[int] | None = None) -> np.ndarray:
        """All (or the selected) images as one float32 array."""
        batches = list(self.iter_batches(indices=indices))
        if not batches:
            return np.zeros((0,), dtype=np.float32)
        return np.concatenate(batches)

    def image_shape(self) -> tuple[int, ...]:
        """Shape of one image after the transforms (decodes the first)."""
        return tuple(self._load_one(0).shape)

    def fingerprint(self) -> str:
        """sha256 over the content of every image, the order and the transforms.

        For files it hashes the bytes of each file (and its name relative to
        ``root``), so a changed, added or removed image changes the key, and
        the version of the decoder that turns them into pixels.
        """
        if "value" in self._fingerprint_cache:
            return self._fingerprint_cache["value"]
        h = hashlib.sha256()
        if self.images is not None:
            arr = np.ascontiguousarray(self.images)
            h.update(repr((arr.shape, arr.dtype.str)).encode())
            h.update(arr.tobytes())
        else:
            h.update(f"decoder {DECODER_VERSION}\0".encode())
            for i, p in enumerate(self.paths):
                h.update(self.describe(i).encode() + b"\0")
                with open(p, "rb") as f:
                    h.update(hashlib.sha256(f.read()).digest())
        h.update(repr([t.spec() for t in self.transforms]).encode())
        value = h.hexdigest()
        self._fingerprint_cache["value"] = value
        return value
