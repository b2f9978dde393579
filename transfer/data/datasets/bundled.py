"""Datasets that ship inside scikit-learn and scikit-image: no file to read."""

from __future__ import annotations

import numpy as np

from transfer.data._checks import no_path
from transfer.data.catalog import DatasetInfo, register_loader
from transfer.data.imageset import ImageSet

DIGITS = DatasetInfo(
    name="sklearn_digits",
    summary="scikit-learn's digits: 1,797 grey 8x8 images of 0-9, scaled to [0, 255].",
    layout="inside scikit-learn (sklearn.datasets.load_digits)",
    citation=(
        'E. Alpaydin and C. Kaynak, "Optical Recognition of Handwritten Digits", UCI Machine '
        "Learning Repository, 1998."
    ),
    url="https://archive.ics.uci.edu/dataset/80",
    takes_path=False,
)

LFW_SUBSET = DatasetInfo(
    name="skimage_lfw_subset",
    summary="scikit-image's data.lfw_subset(): 100 faces then 100 non-faces, 25x25 grey.",
    layout="inside scikit-image (skimage.data.lfw_subset)",
    citation=(
        'G. B. Huang, M. Ramesh, T. Berg and E. Learned-Miller, "Labeled Faces in the Wild", '
        "University of Massachusetts, Amherst, TR 07-49, 2007 (faces); scikit-image's "
        "data module (non-faces)."
    ),
    url="https://scikit-image.org/docs/stable/api/skimage.data.html#skimage.data.lfw_subset",
    takes_path=False,
)


@register_loader(DIGITS)
def sklearn_digits(path: None = None) -> ImageSet:
    """scikit-learn's digits: 1,797 grey 8x8 images of 0-9, scaled to [0, 255].

    The 17 grey levels 0..16 are multiplied by 255/16 (float32), so that
    extractors see the same range as for other images.
    """
    no_path("sklearn_digits", path)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return ImageSet(
        name="sklearn_digits",
        labels=bunch.target.astype(np.int64),
        class_names=tuple(str(t) for t in bunch.target_names),
        images=(bunch.images * (255.0 / 16.0)).astype(np.float32),
    )


@register_loader(LFW_SUBSET)
def skimage_lfw_subset(path: None = None) -> ImageSet:
    """scikit-image's ``data.lfw_subset()``: 100 faces then 100 non-faces, 25x25 grey.

    Class 0 is "face", class 1 "non-face"; values are scaled from [0, 1] to
    [0, 255] (float32).
    """
    no_path("skimage_lfw_subset", path)
    from skimage.data import lfw_subset

    images = np.asarray(lfw_subset(), dtype=np.float64)
    if images.max() <= 1.0:
        images = images * 255.0
    n_faces = 100
    labels = (np.arange(len(images)) >= n_faces).astype(np.int64)
    return ImageSet(
        name="skimage_lfw_subset",
        labels=labels,
        class_names=("face", "non-face"),
        images=images.astype(np.float32),
    )
