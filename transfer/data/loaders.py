"""Former home of the dataset loaders, kept so that existing imports work.

The loaders now live in :mod:`transfer.data.datasets` (one module per
dataset family), :func:`open_dataset` and :class:`DatasetInfo` in
:mod:`transfer.data.catalog`, and :func:`select_classes` in
:mod:`transfer.data.selection`. New code imports from :mod:`transfer.data`.
"""

from transfer.data.catalog import DatasetInfo, dataset_info, open_dataset
from transfer.data.datasets import (
    IMAGE_EXTENSIONS,
    celeba,
    image_folder,
    lfw,
    lfw_image_folder,
    lfw_image_path,
    npz,
    orl,
    read_celeba_attributes,
    read_lfw_people,
    skimage_lfw_subset,
    sklearn_digits,
)
from transfer.data.selection import select_classes

__all__ = [
    "IMAGE_EXTENSIONS",
    "DatasetInfo",
    "celeba",
    "dataset_info",
    "image_folder",
    "lfw",
    "lfw_image_folder",
    "lfw_image_path",
    "npz",
    "open_dataset",
    "orl",
    "read_celeba_attributes",
    "read_lfw_people",
    "select_classes",
    "skimage_lfw_subset",
    "sklearn_digits",
]
