"""The built-in dataset loaders, one module per dataset family.

Importing this package registers them all (with their :class:`DatasetInfo`);
``transfer.data`` imports it, so ``transfer.registry.load_components()``
registers them too.

* :mod:`.folder` -- ``image_folder``: one subfolder per class;
* :mod:`.loose` -- ``files``: image files in any layout, found by content,
  labels none, from the parent folder or from a pattern on the file names;
* :mod:`.orl` -- ``orl``: the AT&T (ORL) faces;
* :mod:`.lfw` -- ``lfw``: Labeled Faces in the Wild, people files, image paths;
* :mod:`.celeba` -- ``celeba``: CelebA faces and attributes;
* :mod:`.arrays` -- ``npz``: Keras-style ``.npz`` arrays;
* :mod:`.synthetic` -- ``parity``: generated d-bit parity vectors;
* :mod:`.bundled` -- ``sklearn_digits``, ``skimage_lfw_subset``: sets inside
  scikit-learn and scikit-image.

``tfds:NAME`` datasets are in :mod:`transfer.data.tfds`.
"""

from transfer.data.datasets._files import IMAGE_EXTENSIONS
from transfer.data.datasets.arrays import npz
from transfer.data.datasets.bundled import skimage_lfw_subset, sklearn_digits
from transfer.data.datasets.celeba import celeba, read_celeba_attributes
from transfer.data.datasets.folder import image_folder
from transfer.data.datasets.lfw import lfw, lfw_image_folder, lfw_image_path, read_lfw_people
from transfer.data.datasets.loose import loose_files
from transfer.data.datasets.orl import orl
from transfer.data.datasets.synthetic import parity

__all__ = [
    "IMAGE_EXTENSIONS",
    "celeba",
    "image_folder",
    "lfw",
    "lfw_image_folder",
    "lfw_image_path",
    "loose_files",
    "npz",
    "orl",
    "parity",
    "read_celeba_attributes",
    "read_lfw_people",
    "skimage_lfw_subset",
    "sklearn_digits",
]
