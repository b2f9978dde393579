"""Learned features: activations of pretrained CNNs (importing registers "cnn").

Importing this package is cheap: TensorFlow, Keras and the weights load on
the first ``fit``/``transform``.
"""

from transfer.features.cnn.extractor import (
    STAGES,
    CNNFeatures,
    center_crop,
    imagenet_class_names,
    imagenet_top_k,
    to_rgb,
)

__all__ = [
    "STAGES",
    "CNNFeatures",
    "center_crop",
    "imagenet_class_names",
    "imagenet_top_k",
    "to_rgb",
]
