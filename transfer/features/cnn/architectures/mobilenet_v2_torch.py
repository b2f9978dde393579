"""MobileNetV2 (width 1.0) laid out exactly like torchvision's, in Keras 3.

``keras.applications.MobileNetV2`` cannot take torchvision's weights: Keras
pads its stride-2 convolutions asymmetrically (``correct_pad``) and uses
BatchNorm epsilon 1e-3, whereas torchvision pads every 3x3 convolution by one
pixel on each side and uses epsilon 1e-5. This builder mirrors torchvision's
``torchvision.models.mobilenet_v2`` module by module:

* ``features.0``: 3x3 stride-2 conv 32 + BN + ReLU6 (``stem_...``);
* ``features.1`` .. ``features.17``: inverted residual blocks
  (``block1_...`` .. ``block17_...``, numbered like torchvision's
  ``features`` index): optional 1x1 expansion conv + BN + ReLU6
  (``block{i}_expand``), 3x3 depthwise conv + BN + ReLU6
  (``block{i}_depthwise``), linear 1x1 projection conv + BN
  (``block{i}_project``), and a residual add when the stride is 1 and the
  channel count is unchanged (``block{i}_add``);
* ``features.18``: 1x1 conv 1280 + BN + ReLU6 (``head_...``);
* global average pooling (``global_pool``), then ``Dropout(0.2)`` and the
  1000-way ``Dense`` ``logits`` (no softmax) when ``include_top``.

Every 3x3 convolution is ``ZeroPadding2D(1)`` followed by a ``"valid"``
convolution, as PyTorch's ``padding=1``. Convolutions have no bias.
Inputs are RGB in [0, 1] normalised by the ImageNet mean and standard
deviation (``preprocessing="torch"``).

References
----------
.. [1] M. Sandler, A. Howard, M. Zhu, A. Zhmoginov, L.-C. Chen, "MobileNetV2:
   Inverted Residuals and Linear Bottlenecks", CVPR 2018.
.. [2] torchvision, ``torchvision/models/mobilenetv2.py``
   (https://github.com/pytorch/vision), BSD-3-Clause.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BN_EPSILON", "INVERTED_RESIDUAL_SETTING", "block_settings", "build"]

#: torchvision's BatchNorm2d default epsilon.
BN_EPSILON = 1e-5
#: ``(expand_ratio t, out_channels c, repeats n, first_stride s)`` as in [1]_, Table 2.
INVERTED_RESIDUAL_SETTING: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
DROPOUT = 0.2


def block_settings() -> list[tuple[int, int, int, int, int]]:
    """The 17 inverted residual blocks: ``(index, in, out, stride, expand_ratio)``.

    ``index`` is torchvision's ``features`` index (1..17).
    """
    out = []
    in_ch = STEM_CHANNELS
    index = 1
    for t, c, n, s in INVERTED_RESIDUAL_SETTING:
        for k in range(n):
            out.append((index, in_ch, c, s if k == 0 else 1, t))
            in_ch = c
            index += 1
    return out


def _conv_bn(
    x: Any,
    filters: int,
    kernel: int,
    stride: int,
    name: str,
    *,
    depthwise: bool = False,
    relu: bool = True,
) -> Any:
    """Conv (no bias) + BN(eps 1e-5) [+ ReLU6]; 3x3 convs are padded 1 on each side."""
    from keras import layers

    if kernel == 3:
        x = layers.ZeroPadding2D(padding=1, name=f"{name}_pad")(x)
    if depthwise:
        x = layers.DepthwiseConv2D(
            kernel, strides=stride, padding="valid", use_bias=False, name=name
        )(x)
    else:
        x = layers.Conv2D(
            filters, kernel, strides=stride, padding="valid", use_bias=False, name=name
        )(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=0.9, name=f"{name}_bn")(x)
    if relu:
        x = layers.ReLU(max_value=6.0, name=f"{name}_relu")(x)
    return x


def build(
    input_shape: tuple[int, int, int] = (224, 224, 3),
    *,
    include_top: bool = True,
    classes: int = 1000,
) -> Any:
    """Build an untrained torchvision-layout MobileNetV2 (width 1.0).

    Parameters
    ----------
    input_shape : tuple of int
        ``(height, width, 3)``, channels last.
    include_top : bool
        Add ``Dropout(0.2)`` and the ``Dense`` layer ``"logits"`` (no
        activation); otherwise the model outputs the 1280-d pooled vector of
        ``"global_pool"``.
    classes : int
        Width of ``"logits"``.

    Returns
    -------
    keras.Model
        Named ``"mobilenet_v2_torch"``.
    """
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape, name="input")
    x = _conv_bn(inputs, STEM_CHANNELS, 3, 2, "stem_conv")
    for i, in_ch, out_ch, stride, t in block_settings():
        shortcut = x
        if t != 1:
            x = _conv_bn(x, in_ch * t, 1, 1, f"block{i}_expand")
        x = _conv_bn(x, in_ch * t, 3, stride, f"block{i}_depthwise", depthwise=True)
        x = _conv_bn(x, out_ch, 1, 1, f"block{i}_project", relu=False)
        if stride == 1 and in_ch == out_ch:
            x = layers.Add(name=f"block{i}_add")([shortcut, x])
    x = _conv_bn(x, HEAD_CHANNELS, 1, 1, "head_conv")
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    if include_top:
        x = layers.Dropout(DROPOUT, name="dropout")(x)
        x = layers.Dense(classes, name="logits")(x)
    return keras.Model(inputs, x, name="mobilenet_v2_torch")
