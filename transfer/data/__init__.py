"""Datasets: the ImageSet, loaders by name with their metadata, per-image transforms.

Importing this package registers every dataset loader (the modules of
:mod:`transfer.data.datasets` and :mod:`transfer.data.tfds`); it imports
neither TensorFlow nor TensorFlow Datasets (``tfds:`` datasets import them on
load). :func:`dataset_info` gives a dataset's :class:`DatasetInfo` (layout,
citation, usual folder); :func:`read_image` is the one image decoder.
"""

from transfer.data.catalog import DatasetInfo, dataset_info, open_dataset, register_loader
from transfer.data.datasets import (
    IMAGE_EXTENSIONS,
    celeba,
    image_folder,
    lfw,
    lfw_image_folder,
    lfw_image_path,
    loose_files,
    npz,
    orl,
    read_celeba_attributes,
    read_lfw_people,
    skimage_lfw_subset,
    sklearn_digits,
)
from transfer.data.decode import MAX_PIXELS_ENV, ImageReadError, is_image_file, read_image
from transfer.data.imageset import ImageSet
from transfer.data.selection import select_classes
from transfer.data.tfds import DatasetNotAvailableError, load_tfds
from transfer.data.transforms import (
    RGB,
    CenterCrop,
    Crop,
    Grey,
    LFWCrop,
    Resize,
    Transform,
    make_transform,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS_ENV",
    "RGB",
    "CenterCrop",
    "Crop",
    "DatasetInfo",
    "DatasetNotAvailableError",
    "Grey",
    "ImageReadError",
    "ImageSet",
    "LFWCrop",
    "Resize",
    "Transform",
    "celeba",
    "dataset_info",
    "image_folder",
    "is_image_file",
    "lfw",
    "lfw_image_folder",
    "lfw_image_path",
    "load_tfds",
    "loose_files",
    "make_transform",
    "npz",
    "open_dataset",
    "orl",
    "read_celeba_attributes",
    "read_image",
    "read_lfw_people",
    "register_loader",
    "select_classes",
    "skimage_lfw_subset",
    "sklearn_digits",
]
