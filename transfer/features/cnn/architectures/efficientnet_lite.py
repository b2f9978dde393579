"""EfficientNet-Lite0..4 in Keras 3.

EfficientNet-Lite is the mobile/edge variant of EfficientNet released with
the TensorFlow TPU reference models: the same MBConv backbone as B0, but

* no squeeze-and-excitation (poorly supported by mobile accelerators);
* ReLU6 instead of swish everywhere (for easier post-training quantization);
* the stem (32 filters) and the head (1280 filters), as well as the number of
  blocks in the first and last stages, are *not* scaled with the width and
  depth multipliers.

Convolutions use TensorFlow's ``"same"`` padding (the asymmetric padding of
the original, which the PyTorch port reproduces with its "static same
padding"), batch normalisation uses ``epsilon=1e-3``, ``momentum=0.99``.
Stochastic depth (drop-connect) only acts in training and is not modelled;
dropout precedes the classifier.

The model takes images already preprocessed as ``(x - 127) / 128`` on RGB in
[0, 255] (:func:`transfer.weights.preprocess`, mode ``"lite"``); there is no
rescaling layer inside.

Layer names: ``stem_{conv,bn,relu}``; for the i-th MBConv block (flat index,
as the ``_blocks.{i}`` of the PyTorch state dict) ``block{i}_expand_{conv,bn,
relu}`` (absent when the expansion ratio is 1), ``block{i}_dw_{conv,bn,relu}``,
``block{i}_project_{conv,bn}``, ``block{i}_add``; ``head_{conv,bn,relu}``,
``global_pool``, ``dropout`` and ``logits``.

References
----------
.. [1] M. Tan, Q. V. Le, "EfficientNet: Rethinking Model Scaling for
   Convolutional Neural Networks", ICML 2019, arXiv:1905.11946.
.. [2] R. Liu, "Higher accuracy on vision models with EfficientNet-Lite",
   TensorFlow blog, 2020; ``models/official/efficientnet/lite/
   efficientnet_lite_builder.py`` in https://github.com/tensorflow/tpu.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BN_EPSILON",
    "BN_MOMENTUM",
    "VARIANTS",
    "BlockSpec",
    "block_specs",
    "build",
    "efficientnet_lite0",
    "efficientnet_lite1",
    "efficientnet_lite2",
    "efficientnet_lite3",
    "efficientnet_lite4",
    "round_filters",
]

#: Batch-norm epsilon of the original (TF) and of the PyTorch port.
BN_EPSILON = 1e-3
#: Keras/TF momentum (PyTorch's ``momentum=0.01``).
BN_MOMENTUM = 0.99

#: variant -> (width multiplier, depth multiplier, resolution, dropout rate)
VARIANTS: dict[int, tuple[float, float, int, float]] = {
    0: (1.0, 1.0, 224, 0.2),
    1: (1.0, 1.1, 240, 0.2),
    2: (1.1, 1.2, 260, 0.3),
    3: (1.2, 1.4, 280, 0.3),
    4: (1.4, 1.8, 300, 0.3),
}

# The seven stages of the B0 / Lite0 baseline:
# (repeats, kernel, stride, expand ratio, input filters, output filters)
_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
_STEM_FILTERS = 32
_HEAD_FILTERS = 1280
_DIVISOR = 8


@dataclass(frozen=True)
class BlockSpec:
    """One MBConv block: kernel size, stride, expansion ratio, channels."""

    kernel: int
    stride: int
    expand: int
    filters_in: int
    filters_out: int

    @property
    def expanded(self) -> int:
        """Channels after the expansion (those of the depthwise conv)."""
        return self.filters_in * self.expand

    @property
    def residual(self) -> bool:
        """Whether the block adds its input (stride 1, same channels)."""
        return self.stride == 1 and self.filters_in == self.filters_out


def round_filters(filters: int, width: float) -> int:
    """Scale ``filters`` by ``width``, rounded to a multiple of 8 (never -10 %)."""
    scaled = filters * width
    new = max(_DIVISOR, int(scaled + _DIVISOR / 2) // _DIVISOR * _DIVISOR)
    if new < 0.9 * scaled:
        new += _DIVISOR
    return int(new)


def _check_variant(variant: int) -> tuple[float, float, int, float]:
    try:
        return VARIANTS[variant]
    except KeyError:
        raise ValueError(
            f"EfficientNet-Lite variant must be one of {sorted(VARIANTS)}, got {variant!r}"
        ) from None


def block_specs(variant: int) -> list[BlockSpec]:
    """The MBConv blocks of EfficientNet-Lite``variant``, in order.

    Parameters
    ----------
    variant : int
        0 to 4.

    Returns
    -------
    list of BlockSpec
        16 blocks for Lite0, 18 for Lite1, 21 for Lite2.
    """
    width, depth, _, _ = _check_variant(variant)
    specs: list[BlockSpec] = []
    last = len(_STAGES) - 1
    for s, (repeats, kernel, stride, expand, f_in, f_out) in enumerate(_STAGES):
        f_in = _STEM_FILTERS if s == 0 else round_filters(f_in, width)
        f_out = round_filters(f_out, width)
        if s not in (0, last):  # Lite keeps the first and last stages' depth
            repeats = math.ceil(depth * repeats)
        for r in range(repeats):
            specs.append(BlockSpec(kernel, stride if r == 0 else 1, expand, f_in, f_out))
            f_in = f_out
    return specs


def _conv_bn_relu(x: Any, filters: int, kernel: int, stride: int, prefix: str, relu: bool) -> Any:
    from keras import layers

    x = layers.Conv2D(
        filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{prefix}_conv"
    )(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{prefix}_bn")(x)
    if relu:
        x = layers.ReLU(6.0, name=f"{prefix}_relu")(x)
    return x


def _mbconv(x: Any, spec: BlockSpec, i: int) -> Any:
    from keras import layers

    inputs = x
    if spec.expand != 1:
        x = _conv_bn_relu(x, spec.expanded, 1, 1, f"block{i}_expand", relu=True)
    x = layers.DepthwiseConv2D(
        spec.kernel, strides=spec.stride, padding="same", use_bias=False, name=f"block{i}_dw_conv"
    )(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"block{i}_dw_bn")(
        x
    )
    x = layers.ReLU(6.0, name=f"block{i}_dw_relu")(x)
    x = _conv_bn_relu(x, spec.filters_out, 1, 1, f"block{i}_project", relu=False)
    if spec.residual:
        x = layers.Add(name=f"block{i}_add")([x, inputs])
    return x


def build(
    input_shape: tuple[int | None, int | None, int] | None = None,
    *,
    include_top: bool = True,
    classes: int = 1000,
    variant: int = 0,
) -> Any:
    """An untrained EfficientNet-Lite``variant``.

    Parameters
    ----------
    input_shape : tuple (height, width, 3), optional
        Default: the variant's resolution (224, 240, 260, 280, 300 for
        Lite0..4), the one its ImageNet weights were trained and evaluated at.
    include_top : bool, default=True
        Add dropout and the ``Dense`` layer ``"logits"`` (no activation).
    classes : int, default=1000
        Outputs of ``"logits"``.
    variant : int, default=0
        0 to 4.

    Returns
    -------
    keras.Model
        Named ``"efficientnet_lite{variant}"``; outputs logits with
        ``include_top``, else the pooled ``"global_pool"`` vector (1280-d).
    """
    import keras
    from keras import layers

    _, _, resolution, dropout = _check_variant(variant)
    if input_shape is None:
        input_shape = (resolution, resolution, 3)
    inputs = keras.Input(shape=input_shape, name="input")
    x = _conv_bn_relu(inputs, _STEM_FILTERS, 3, 2, "stem", relu=True)
    for i, spec in enumerate(block_specs(variant)):
        x = _mbconv(x, spec, i)
    x = _conv_bn_relu(x, _HEAD_FILTERS, 1, 1, "head", relu=True)
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    if include_top:
        x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Dense(classes, name="logits")(x)
    return keras.Model(inputs, x, name=f"efficientnet_lite{variant}")


def efficientnet_lite0(
    input_shape: tuple[int | None, int | None, int] = (224, 224, 3),
    *,
    include_top: bool = True,
    classes: int = 1000,
) -> Any:
    """EfficientNet-Lite0 (width 1.0, depth 1.0, 224 px); see :func:`build`."""
    return build(input_shape, include_top=include_top, classes=classes, variant=0)


def efficientnet_lite1(
    input_shape: tuple[int | None, int | None, int] = (240, 240, 3),
    *,
    include_top: bool = True,
    classes: int = 1000,
) -> Any:
    """EfficientNet-Lite1 (width 1.0, depth 1.1, 240 px); see :func:`build`."""
    return build(input_shape, include_top=include_top, classes=classes, variant=1)


def efficientnet_lite2(
    input_shape: tuple[int | None, int | None, int] = (260, 260, 3),
    *,
    include_top: bool = True,
    classes: int = 1000,
) -> Any:
    """EfficientNet-Lite2 (width 1.1, depth 1.2, 260 px); see :func:`build`."""
    return build(input_shape, include_top=include_top, classes=classes, variant=2)


def efficientnet_lite3(
    input_shape: tuple[int | None, int | None, int] = (280, 280, 3),
    *,
    include_top: bool = True,
    classes: int = 1000,
) -> Any:
    """EfficientNet-Lite3 (width 1.2, depth 1.4, 280 px; no weights here); see :func:`build`."""
    return build(input_shape, include_top=include_top, classes=classes, variant=3)


def efficientnet_lite4(
    input_shape: tuple[int | None, int | None, int] = (300, 300, 3),
    *,
    include_top: bool = True,
    classes: int = 1000,
) -> Any:
    """EfficientNet-Lite4 (width 1.4, depth 1.8, 300 px; no weights here); see :func:`build`."""
    return build(input_shape, include_top=include_top, classes=classes, variant=4)
