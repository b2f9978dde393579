"""Face-identity networks as extractors (importing registers them).

Importing this package is cheap: TensorFlow, Keras and the weights load on
the first ``fit``/``transform``.
"""

from transfer.features.identity.facenet import FaceNetFeatures

__all__ = ["FaceNetFeatures"]

from transfer.features.identity.dlib_resnet import DlibResNetFeatures

__all__ += ["DlibResNetFeatures"]
