"""Learned features: activations of pretrained CNNs (importing registers "cnn").

Importing this package is cheap: TensorFlow, Keras and the weights load on
the first ``fit``/``transform``.
"""

from transfer.features.cnn.backbones import BACKBONES, Backbone, get_backbone, list_backbones
from transfer.features.cnn.extractor import (
    CNNFeatures,
    center_crop,
    imagenet_class_names,
    imagenet_top_k,
    resolve_weights,
)
from transfer.features.cnn.finetune import FineTunedCNN
from transfer.features.network import STAGES, to_rgb

__all__ = [
    "BACKBONES",
    "STAGES",
    "Backbone",
    "CNNFeatures",
    "FineTunedCNN",
    "center_crop",
    "get_backbone",
    "imagenet_class_names",
    "imagenet_top_k",
    "list_backbones",
    "resolve_weights",
    "to_rgb",
]
