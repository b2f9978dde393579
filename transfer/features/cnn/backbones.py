"""Backbone presets as data: how to build a network and feed it.

A :class:`Backbone` names a Keras builder (a ``keras.applications``
function, or one of :mod:`transfer.features.cnn.architectures` for the
layouts that converted weights need), its native input size, its
preprocessing and its default weights: a name of
:data:`transfer.weights.WEIGHTS` (prepared offline, sha256-checked) or
``"imagenet"`` (Keras' own download, for online users). Adding a network
is adding a row, as in timm's and keras-hub's preset tables.

Every backbone is built with its classifier producing *logits*
(``classifier_activation=None``), so that the stages of
:class:`transfer.features.cnn.CNNFeatures` mean the same for all of them:
``"global_pool"`` is the last global average pooling, ``"logits"`` the
model's output, ``"predictions"`` their softmax.

One naming scheme with :mod:`transfer.weights`: a backbone converted from
offline weights also answers to the name of those weights
(``get_backbone("mobilenet_v1_1.0_224")`` is ``mobilenet_v1``), as a weights
name answers to its backbone's; :func:`canonical_backbone` gives the
backbone name that outputs and cache keys use.

Nothing here imports TensorFlow or Keras at import time.
"""

from __future__ import annotations

import importlib
import os
import re
import socket
from dataclasses import dataclass, replace
from typing import Any

from transfer._registry import AliasDict, UnknownNameError, did_you_mean
from transfer.weights.records import WEIGHTS

__all__ = [
    "BACKBONES",
    "Backbone",
    "canonical_backbone",
    "get_backbone",
    "keras_imagenet_model",
    "list_backbones",
]

#: Where Keras downloads ``keras.applications`` weights from.
_KERAS_WEIGHTS_HOST = "storage.googleapis.com/tensorflow/keras-applications"
_CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Backbone:
    """A network architecture and how to feed it.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"resnet50"``.
    builder : str
        ``"module:function"`` returning a ``keras.Model`` from
        ``input_shape``, ``include_top``, ``classes`` (and, for
        ``keras.applications``, ``weights`` and ``classifier_activation``).
    input_size : int
        Side of the square input the network was trained on.
    preprocessing : str
        A mode of :func:`transfer.weights.preprocess`.
    weights : str
        Default weights: a name of ``transfer.weights.WEIGHTS`` or
        ``"imagenet"`` (downloaded by Keras).
    block_pattern : str
        Regular expression whose groups identify the block a layer belongs
        to; fine-tuning unfreezes "the top k blocks" with it.
    kwargs : tuple of (str, value) pairs
        Extra keyword arguments for the builder (a tuple, so presets hash).
    fixed_size : bool
        Whether the architecture only accepts ``input_size`` (e.g. NASNet
        with its top).
    """

    name: str
    builder: str
    input_size: int
    preprocessing: str
    weights: str = "imagenet"
    block_pattern: str = r"^block_?(\d+[a-z]?)_"
    kwargs: tuple[tuple[str, Any], ...] = ()
    fixed_size: bool = False

    @property
    def is_keras_application(self) -> bool:
        return self.builder.startswith("keras.applications:")

    def build(
        self,
        input_size: int | None = None,
        *,
        include_top: bool = True,
        classes: int = 1000,
        keras_weights: str | None = None,
    ) -> Any:
        """Build the network (untrained unless ``keras_weights="imagenet"``).

        Parameters
        ----------
        input_size : int, optional
            Side of the square input; default :attr:`input_size`.
        include_top : bool, default=True
            Keep the classifier (whose output is then the logits).
        classes : int, default=1000
        keras_weights : {None, "imagenet"}
            For ``keras.applications`` backbones, Keras' own weights (see
            :func:`keras_imagenet_model` for the offline-safe path).
        """
        size = int(input_size or self.input_size)
        module, _, func = self.builder.partition(":")
        fn = getattr(importlib.import_module(module), func)
        kwargs = dict(self.kwargs)
        if self.is_keras_application:
            kwargs.update(weights=keras_weights, classifier_activation=None)
        elif keras_weights is not None:
            raise ValueError(f"backbone {self.name!r} has no Keras-hosted weights")
        return fn(input_shape=(size, size, 3), include_top=include_top, classes=classes, **kwargs)

    def block_of(self, layer_name: str) -> str | None:
        """The block a layer belongs to (None for stem or head layers)."""
        m = re.match(self.block_pattern, layer_name)
        return None if m is None else "/".join(g for g in m.groups() if g is not None)


def _keras(name: str, func: str, size: int, prep: str, pattern: str, **kwargs: Any) -> Backbone:
    return Backbone(
        name, f"keras.applications:{func}", size, prep, "imagenet", pattern, tuple(kwargs.items())
    )


_ARCH = "transfer.features.cnn.architectures"
_RESNET = r"^conv(\d)_block(\d+)_"
_EFFNET = r"^block(\d+[a-z])_"

BACKBONES: AliasDict = AliasDict(
    {
        b.name: b
        for b in (
            # architectures of the weights converted offline (transfer.weights)
            Backbone(
                "mobilenet_v1",
                "keras.applications:MobileNet",
                224,
                "tf",
                "mobilenet_v1_1.0_224",
                r"^conv_(?:dw|pw)_(\d+)",
                (("alpha", 1.0),),
            ),
            Backbone(
                "mobilenet_v2_torch",
                f"{_ARCH}.mobilenet_v2_torch:build",
                224,
                "torch",
                "mobilenet_v2_1.0_224",
            ),
            *(
                Backbone(
                    f"efficientnet_lite{i}",
                    f"{_ARCH}.efficientnet_lite:efficientnet_lite{i}",
                    size,
                    "lite",
                    f"efficientnet_lite{i}",
                )
                for i, size in ((0, 224), (1, 240), (2, 260))
            ),
            Backbone(
                "squeezenet_v1_1", f"{_ARCH}.squeezenet:build", 227, "caffe", "squeezenet_v1.1"
            ),
            # keras.applications families: Keras' ImageNet weights (online) or a file
            _keras("mobilenet", "MobileNet", 224, "tf", r"^conv_(?:dw|pw)_(\d+)"),
            _keras("mobilenet_v2", "MobileNetV2", 224, "tf", r"^block_(\d+)_"),
            _keras("mobilenet_v3_small", "MobileNetV3Small", 224, "raw", r"^expanded_conv_?(\d*)_"),
            _keras("mobilenet_v3_large", "MobileNetV3Large", 224, "raw", r"^expanded_conv_?(\d*)_"),
            _keras("resnet50", "ResNet50", 224, "caffe", _RESNET),
            _keras("resnet101", "ResNet101", 224, "caffe", _RESNET),
            _keras("resnet152", "ResNet152", 224, "caffe", _RESNET),
            _keras("resnet50_v2", "ResNet50V2", 224, "tf", _RESNET),
            _keras("resnet101_v2", "ResNet101V2", 224, "tf", _RESNET),
            _keras("resnet152_v2", "ResNet152V2", 224, "tf", _RESNET),
            _keras("vgg16", "VGG16", 224, "caffe", r"^block(\d+)_"),
            _keras("vgg19", "VGG19", 224, "caffe", r"^block(\d+)_"),
            _keras("inception_v3", "InceptionV3", 299, "tf", r"^(mixed\d+)"),
            _keras(
                "inception_resnet_v2", "InceptionResNetV2", 299, "tf", r"^(block\d+_\d+|mixed_\w+)"
            ),
            _keras("xception", "Xception", 299, "tf", r"^block(\d+)_"),
            _keras("densenet121", "DenseNet121", 224, "torch", _RESNET),
            _keras("densenet169", "DenseNet169", 224, "torch", _RESNET),
            _keras("densenet201", "DenseNet201", 224, "torch", _RESNET),
            _keras("nasnet_mobile", "NASNetMobile", 224, "tf", r"^(?:normal|reduction)_\w+?_(\d+)"),
            *(
                _keras(f"efficientnet_b{i}", f"EfficientNetB{i}", size, "raw", _EFFNET)
                for i, size in enumerate((224, 240, 260, 300, 380, 456, 528, 600))
            ),
            *(
                _keras(f"efficientnet_v2_{v.lower()}", f"EfficientNetV2{v}", size, "raw", _EFFNET)
                for v, size in (("B0", 224), ("B1", 240), ("B2", 260), ("B3", 300), ("S", 384))
            ),
            *(
                _keras(
                    f"convnext_{v.lower()}",
                    f"ConvNeXt{v}",
                    224,
                    "raw",
                    r"^convnext_\w+?_stage_(\d+)_block_(\d+)",
                )
                for v in ("Tiny", "Small", "Base")
            ),
        )
    },
    # a backbone also answers to the name of the weights converted to it
    {record.name: record.architecture for record in WEIGHTS.values()},
)
# NASNet with its top only accepts its native size
BACKBONES["nasnet_mobile"] = replace(BACKBONES["nasnet_mobile"], fixed_size=True)


def list_backbones() -> list[str]:
    """Names of the known backbones."""
    return sorted(BACKBONES)


def canonical_backbone(name: str) -> str:
    """The backbone name of ``name`` (a backbone name, or the name of weights converted to it).

    Other values are returned unchanged.

    Examples
    --------
    >>> canonical_backbone("mobilenet_v1_1.0_224")
    'mobilenet_v1'
    """
    return BACKBONES.canonical(name)


def get_backbone(name: str) -> Backbone:
    """The :class:`Backbone` registered as ``name`` (or an alias); else an error naming
    the closest."""
    try:
        return BACKBONES[name]
    except (KeyError, TypeError):
        raise UnknownNameError(
            f"unknown backbone {name!r}.{did_you_mean(str(name), list_backbones())} "
            f"Known backbones: {', '.join(list_backbones())}"
        ) from None


def backbone_of_weights(weights: str) -> Backbone:
    """The backbone a prepared-weights name (``transfer.weights``) belongs to."""
    return get_backbone(WEIGHTS[weights].architecture)


def keras_imagenet_model(backbone: Backbone, input_size: int, include_top: bool = True) -> Any:
    """Build a ``keras.applications`` backbone with Keras' ImageNet weights.

    Keras downloads the weights on first use into ``$KERAS_HOME/models``
    (default ``~/.keras/models``) and reuses them afterwards. Without a
    cached copy and without network this fails within seconds (sockets get a
    timeout, so a firewall that drops packets cannot hang it either).

    Raises
    ------
    transfer.weights.WeightsError
        Naming the backbone, where Keras looked, and the weights that
        ``transfer`` prepares offline.
    """
    from transfer.weights.store import WeightsError

    keras_home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(_CONNECT_TIMEOUT_S)
    try:
        return backbone.build(input_size, include_top=include_top, keras_weights="imagenet")
    except Exception as exc:  # Keras raises a bare Exception on URL failures
        if not isinstance(exc, OSError) and "URL fetch failure" not in str(exc):
            raise
        raise WeightsError(
            f"cannot fetch the ImageNet weights of the backbone {backbone.name!r}: Keras downloads "
            f"them from https://{_KERAS_WEIGHTS_HOST}/ into {keras_home}/models ({exc}). Without "
            "internet use weights that transfer prepares offline: CNNFeatures(weights=NAME) with "
            f"NAME one of {', '.join(sorted(WEIGHTS))} (`transfer weights list`), or copy the "
            f"Keras weights file into {keras_home}/models, or pass its path as weights=PATH"
        ) from exc
    finally:
        socket.setdefaulttimeout(old)
