"""The ImageSet: images (in memory or as lazily decoded files) with their labels."""

from __future__ import annotations

import hashlib
import inspect
import numbers
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from transfer.data.decode import (
    DECODER_VERSION,
    ImageReadError,
    check_image_file,
    image_file_shape,
    read_image,
)
from transfer.data.transforms import Transform

__all__ = ["UNLABELLED", "ImageReadError", "ImageSet", "read_image"]

# How many unreadable files check_files names; the count covers them all.
_SHOWN = 5
#: The class name of images without labels.
UNLABELLED = "unlabelled"


@dataclass(frozen=True, eq=False)
class ImageSet:
    """A labelled set of images, held in memory or referenced by file.

    An ImageSet works as ``X`` in scikit-learn's model selection
    (``cross_val_score(pipeline, image_set, image_set.labels)``,
    ``GridSearchCV``): indexing it with an array of indices, a boolean mask
    or a slice gives the subset (:meth:`subset`, still lazy), and ``shape``
    is ``(n_images,)``, which is what scikit-learn's ``_safe_indexing`` and
    ``_num_samples`` ask for. An integer index gives one decoded image.

    Parameters
    ----------
    name : str
        A short name for reports.
    labels : ndarray of shape (n_images,), optional
        Integer class index of each image (for face sets, the identity).
        Without labels (loose files) every image is class 0, named
        ``"unlabelled"``.
    class_names : tuple of str
        ``class_names[k]`` names class ``k``.
    images : ndarray of shape (n_images, height, width[, channels]), optional
        Images in memory (uint8 or float in [0, 255]); or, for images of
        different sizes, a 1-D object array holding one image array each.
        Exactly one of ``images`` and ``paths`` is given.
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
    labels: np.ndarray | None = None
    class_names: tuple[str, ...] = ()
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
        if self.labels is None:
            if self.class_names not in ((), (UNLABELLED,)):
                raise ValueError("an ImageSet with class_names needs labels")
            # frozen: the defaults of an unlabelled set are filled in once, here
            object.__setattr__(self, "labels", np.zeros(n, dtype=np.int64))
            object.__setattr__(self, "class_names", (UNLABELLED,))
        if len(self.labels) != n:
            raise ValueError(f"{n} images but {len(self.labels)} labels")
        for attr in ("identities", "attributes", "split"):
            value = getattr(self, attr)
            if value is not None and len(value) != n:
                raise ValueError(f"{n} images but {len(value)} {attr}")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def shape(self) -> tuple[int]:
        """``(n_images,)``: scikit-learn indexes an ``X`` with a ``shape`` as an array."""
        return (len(self),)

    def __getitem__(self, key):
        """One decoded image for an integer, else the subset (see :meth:`subset`).

        Parameters
        ----------
        key : int, slice, array of int or bool, or (key, ...)
            An integer gives the image (after the transforms); indices, a
            boolean mask of ``len(self)`` or a slice give an ImageSet.
            scikit-learn indexes as ``X[indices, ...]``, which is accepted.
        """
        if isinstance(key, tuple):
            if len(key) == 2 and key[1] is Ellipsis:
                key = key[0]
            else:
                raise IndexError(f"an ImageSet is indexed along its images only; got {key!r}")
        if isinstance(key, numbers.Integral) and not isinstance(key, bool):
            i = int(key)
            if not -len(self) <= i < len(self):
                raise IndexError(f"image index {i} out of range for {len(self)} images")
            return self._load_one(i % len(self))
        if isinstance(key, slice):
            return self.subset(np.arange(len(self))[key])
        idx = np.asarray(key)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise IndexError(
                    f"a boolean mask over an ImageSet needs {len(self)} values, got {idx.shape}"
                )
            return self.subset(np.flatnonzero(idx))
        if idx.ndim != 1 or not (idx.size == 0 or np.issubdtype(idx.dtype, np.integer)):
            raise IndexError(
                "an ImageSet is indexed by an int, a slice, or a 1-D array of indices or of "
                f"booleans; got {key!r}"
            )
        return self.subset(idx)

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
        self,
        batch_size: int = 256,
        indices: Sequence[int] | None = None,
        sizes: str = "same",
    ) -> Iterator[np.ndarray | list[np.ndarray]]:
        """Yield decoded, transformed images in batches, as float32 arrays.

        Parameters
        ----------
        batch_size : int, default=256
            Images per batch (at most).
        indices : sequence of int, optional
            The images to load, in this order; all by default.
        sizes : {"same", "split", "list"}, default="same"
            What images of different shapes do. "same": they are an error
            (every batch is one array). "split": a batch ends where the
            shape changes, so each is one array of one shape. "list": a
            batch holding several shapes is a list of float32 arrays (for
            extractors that take each image alone).

        Raises
        ------
        ImageReadError
            For an unreadable file, naming it.
        ValueError
            With ``sizes="same"``, when images differ in shape after the
            transforms: the message lists the distinct shapes, with a file
            of each.
        """
        if sizes not in ("same", "split", "list"):
            raise ValueError(f"sizes must be 'same', 'split' or 'list'; got {sizes!r}")
        order = np.arange(len(self)) if indices is None else np.asarray(indices)
        shape = None
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            if self.images is not None and self.images.dtype != object and not self.transforms:
                yield np.asarray(self.images[chunk], dtype=np.float32)
                continue
            imgs = [
                read_image(self.paths[int(i)]) if self.paths is not None else self.images[i]
                for i in chunk
            ]
            names = None
            for t in self.transforms:  # a whole chunk per call: alignment batches
                batched = getattr(t, "apply_batch", None)  # any callable is a transform
                if batched is None:
                    imgs = [t(im) for im in imgs]
                elif "names" in inspect.signature(batched).parameters:
                    # a transform that warns about an image (no face found) names its file
                    names = names or [self.describe(int(i)) for i in chunk]
                    imgs = batched(imgs, names=names)
                else:
                    imgs = batched(imgs)
            imgs = [np.asarray(im, dtype=np.float32) for im in imgs]
            if sizes == "same":
                for i, img in zip(chunk, imgs, strict=True):
                    if shape is None:
                        shape = img.shape
                    elif img.shape != shape:
                        raise ValueError(self._mixed_shapes_message(order, int(i), img.shape))
            if len({im.shape for im in imgs}) <= 1:
                yield np.stack(imgs) if imgs else np.zeros((0,), dtype=np.float32)
            elif sizes == "list":
                yield imgs
            else:  # "split": runs of one shape, in order
                run = [imgs[0]]
                for img in imgs[1:]:
                    if img.shape != run[0].shape:
                        yield np.stack(run)
                        run = []
                    run.append(img)
                yield np.stack(run)

    def _mixed_shapes_message(self, order: np.ndarray, i: int, shape: tuple) -> str:
        """Why images of several shapes cannot be batched: the shapes, a file of each."""
        if self.transforms:
            # shapes after the transforms are known only by decoding: name the two met
            first = int(order[0])
            seen = (
                f"after the transforms {self.describe(i)} has shape {shape}, "
                f"{self.describe(first)} {tuple(self._load_one(first).shape)}"
            )
        else:
            examples: dict[tuple, list] = {}
            for j in order:
                j = int(j)
                if self.paths is not None:
                    found = image_file_shape(self.paths[j])
                else:
                    found = tuple(np.shape(self.images[j]))
                examples.setdefault(found, []).append(j)
            ranked = sorted(examples.items(), key=lambda kv: -len(kv[1]))
            listed = "; ".join(
                f"{s} x {len(js)} (e.g. {self.describe(js[0])})" for s, js in ranked[:_SHOWN]
            )
            more = f"; and {len(ranked) - _SHOWN} more shapes" if len(ranked) > _SHOWN else ""
            seen = f"{len(ranked)} different shapes: {listed}{more}"
        return (
            f"the images of {self.name!r} differ in shape ({seen}); this extractor needs "
            "images of one size: add a 'resize' transform (ImageSet.with_transforms("
            "Resize((h, w))), or 'transforms: [{resize: {size: [h, w]}}]' in a recipe)"
        )

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
        if self.images is not None and self.images.dtype == object:
            h.update(f"{len(self.images)} images of several shapes\0".encode())
            for img in self.images:
                arr = np.ascontiguousarray(img)
                h.update(repr((arr.shape, arr.dtype.str)).encode())
                h.update(arr.tobytes())
        elif self.images is not None:
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
