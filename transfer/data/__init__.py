"""Datasets: the ImageSet, loaders by name, and per-image transforms.

Importing this package registers every dataset loader; it imports neither
TensorFlow nor TensorFlow Datasets (``tfds:`` datasets import them on load).
"""

from transfer.data.imageset import ImageReadError, ImageSet, read_image
from transfer.data.loaders import (
    IMAGE_EXTENSIONS,
    celeba,
    image_folder,
    lfw,
    lfw_image_folder,
    lfw_image_path,
    npz,
    open_dataset,
    orl,
    read_celeba_attributes,
    read_lfw_people,
    select_classes,
    skimage_lfw_subset,
    sklearn_digits,
)
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
    "RGB",
    "CenterCrop",
    "Crop",
    "DatasetNotAvailableError",
    "Grey",
    "ImageReadError",
    "ImageSet",
    "LFWCrop",
    "Resize",
    "Transform",
    "celeba",
    "image_folder",
    "lfw",
    "lfw_image_folder",
    "lfw_image_path",
    "load_tfds",
    "make_transform",
    "npz",
    "open_dataset",
    "orl",
    "read_celeba_attributes",
    "read_image",
    "read_lfw_people",
    "select_classes",
    "skimage_lfw_subset",
    "sklearn_digits",
]
