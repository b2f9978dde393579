"""Selecting classes and images of an ImageSet: :func:`select_classes`."""

from __future__ import annotations

import numbers
from dataclasses import replace

import numpy as np

from transfer._validation import InvalidParameterError
from transfer.data._checks import check_int
from transfer.data.imageset import ImageSet


def select_classes(
    imageset: ImageSet,
    min_per_class: int | None = None,
    max_per_class: int | None = None,
    max_classes: int | None = None,
    seed: int | None = 0,
) -> ImageSet:
    """A subset of ``imageset`` by class, with classes re-indexed to ``0 .. k-1``.

    Steps, in order: keep classes with at least ``min_per_class`` images; keep
    the ``max_classes`` classes with the most images (ties to the lower class
    index); within each class keep ``max_per_class`` images drawn at random
    (``seed``). Kept classes and images stay in their original order, and
    ``class_names`` lists the kept classes in that order.

    When the set comes with a train/test split (``imageset.split`` holding
    ``"train"``, e.g. ``image_folder(..., test_path=...)`` or ``npz``), the
    three limits count and draw its *training* images only: every image
    outside the training split (the official test set) of a kept class is
    kept, so that the test set is not cut down by a limit meant for training.

    Parameters
    ----------
    imageset : ImageSet
    min_per_class, max_per_class, max_classes : int, optional
    seed : int or None
        Seed of the per-class draw.

    Returns
    -------
    ImageSet

    Raises
    ------
    ValueError
        When no image remains, naming the limits.
    """
    if not isinstance(imageset, ImageSet):
        raise InvalidParameterError(
            f"select_classes needs an ImageSet; got {type(imageset).__name__}."
        )
    loader = "select_classes"
    min_per_class = check_int(loader, "min_per_class", min_per_class, 1)
    max_per_class = check_int(loader, "max_per_class", max_per_class, 1)
    max_classes = check_int(loader, "max_classes", max_classes, 1)
    if seed is not None and not (isinstance(seed, numbers.Integral) and not isinstance(seed, bool)):
        raise InvalidParameterError(
            f"The 'seed' parameter of select_classes must be an int or None; got {seed!r}."
        )
    labels = np.asarray(imageset.labels)
    # The limits apply to the images a head is trained on; a given test split
    # is the benchmark and stays whole.
    if imageset.split is not None and np.any(imageset.split == "train"):
        limited = np.asarray(imageset.split == "train")
        what = "training images"
    else:
        limited = np.ones(len(labels), dtype=bool)
        what = "images"
    counts = np.bincount(labels[limited], minlength=imageset.n_classes)
    kept = np.flatnonzero(counts >= (min_per_class or 1))
    if max_classes is not None and len(kept) > max_classes:
        top = kept[np.lexsort((kept, -counts[kept]))][:max_classes]
        kept = np.sort(top)
    if len(kept) == 0:
        raise ValueError(
            f"select_classes: no class of {imageset.name!r} has min_per_class={min_per_class} "
            f"{what} (the most is {counts.max() if len(counts) else 0})"
        )
    rng = np.random.default_rng(seed)
    chosen = []
    for k in kept:
        idx = np.flatnonzero((labels == k) & limited)
        if max_per_class is not None and len(idx) > max_per_class:
            idx = np.sort(rng.choice(idx, size=max_per_class, replace=False))
        chosen.append(idx)
        chosen.append(np.flatnonzero((labels == k) & ~limited))
    indices = np.sort(np.concatenate(chosen))
    remap = np.full(imageset.n_classes, -1, dtype=np.int64)
    remap[kept] = np.arange(len(kept))
    sub = imageset.subset(indices)
    return replace(
        sub,
        labels=remap[sub.labels],
        class_names=tuple(imageset.class_names[k] for k in kept),
        _fingerprint_cache={},
    )
