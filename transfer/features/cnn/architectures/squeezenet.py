"""SqueezeNet v1.1 in Keras 3, laid out like rcmalli/keras-squeezenet.

The network: ``conv1`` (3x3, 64 filters, stride 2, 'valid') + ReLU, max-pool
3x3/2, then eight fire modules ``fire2`` ... ``fire9``, each a 1x1 *squeeze*
convolution + ReLU feeding a 1x1 and a 3x3 ('same') *expand* convolution, each
+ ReLU, concatenated on the channel axis (1x1 first). Max-pools 3x3/2 follow
``conv1``, ``fire3`` and ``fire5``. All pools use 'valid' padding (floor), as in
the Keras reference code whose weights :mod:`transfer.weights.convert_squeezenet`
converts (Caffe's original rounds pool sizes up, so at 227x227 its grids after
``pool3``/``pool5`` are 28/14 where this model's are 27/13).

Layer names follow the conventions of :mod:`transfer.features.cnn.architectures`:
``stem_conv1``, ``stem_relu1``, ``stem_pool1``; the layers of fire module ``i``
are ``block{i}_squeeze1x1``, ``block{i}_squeeze1x1_relu``, ``block{i}_expand1x1``,
``block{i}_expand1x1_relu``, ``block{i}_expand3x3``, ``block{i}_expand3x3_relu``,
``block{i}_concat`` (the original ``fire{i}/squeeze1x1`` etc.), and the pools
after fire3 and fire5 are ``block3_pool`` and ``block5_pool`` (the original
``pool3`` and ``pool5``). Blocks are therefore numbered 2..9, as in the paper.

References
----------
.. [1] F. N. Iandola, S. Han, M. W. Moskewicz, K. Ashraf, W. J. Dally,
   K. Keutzer, "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters
   and <0.5MB model size", arXiv:1602.07360, 2016.
.. [2] SqueezeNet v1.1, https://github.com/forresti/SqueezeNet (Caffe).
.. [3] R. C. Malli, keras-squeezenet, https://github.com/rcmalli/keras-squeezenet.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FIRE_WIDTHS", "POOL_AFTER", "build"]

#: ``{fire index: (squeeze filters, expand filters per branch)}``.
FIRE_WIDTHS: dict[int, tuple[int, int]] = {
    2: (16, 64),
    3: (16, 64),
    4: (32, 128),
    5: (32, 128),
    6: (48, 192),
    7: (48, 192),
    8: (64, 256),
    9: (64, 256),
}
#: Fire modules followed by a 3x3/2 max-pool.
POOL_AFTER: tuple[int, ...] = (3, 5)


def _fire(x: Any, i: int, squeeze: int, expand: int) -> Any:
    from keras import layers

    p = f"block{i}_"
    s = layers.Conv2D(squeeze, 1, padding="valid", name=p + "squeeze1x1")(x)
    s = layers.ReLU(name=p + "squeeze1x1_relu")(s)
    left = layers.Conv2D(expand, 1, padding="valid", name=p + "expand1x1")(s)
    left = layers.ReLU(name=p + "expand1x1_relu")(left)
    right = layers.Conv2D(expand, 3, padding="same", name=p + "expand3x3")(s)
    right = layers.ReLU(name=p + "expand3x3_relu")(right)
    return layers.Concatenate(axis=-1, name=p + "concat")([left, right])


def build(
    input_shape: tuple[int | None, int | None, int] = (227, 227, 3),
    *,
    include_top: bool = False,
    classes: int = 1000,
) -> Any:
    """An untrained SqueezeNet v1.1 (channels last).

    Parameters
    ----------
    input_shape : (height, width, 3), default=(227, 227, 3)
        Caffe-preprocessed BGR images (see :func:`transfer.weights.preprocess`).
        Any size from 31x31 up works: the convolutions are size-independent.
    include_top : bool, default=False
        Without it (the default, since the only pretrained weights have no
        classifier) the model outputs the 512-d ``"global_pool"`` vector
        (``GlobalAveragePooling2D`` of fire9). With it, ``Dropout(0.5)``
        (``"head_dropout"``) and a ``Dense`` layer ``"logits"`` (no
        activation) follow, for training a classifier from scratch or
        fine-tuning. The original top is dropout, a 1x1 convolution ``conv10``
        to ``classes``, ReLU and global average pooling; a 1x1 convolution
        commutes with averaging, so this head is the same map without the
        ReLU, which would clip logits to be non-negative. It keeps the
        toolkit's convention that ``"global_pool"`` is the feature vector and
        ``"logits"`` the output.
    classes : int, default=1000
        Width of ``"logits"`` (only with ``include_top``).

    Returns
    -------
    keras.Model
        Named ``"squeezenet_v1_1"``; 722,496 parameters without the top.
    """
    import keras
    from keras import layers

    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = layers.Conv2D(64, 3, strides=2, padding="valid", name="stem_conv1")(inputs)
    x = layers.ReLU(name="stem_relu1")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="valid", name="stem_pool1")(x)
    for i, (squeeze, expand) in FIRE_WIDTHS.items():
        x = _fire(x, i, squeeze, expand)
        if i in POOL_AFTER:
            x = layers.MaxPooling2D(3, strides=2, padding="valid", name=f"block{i}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    if include_top:
        x = layers.Dropout(0.5, name="head_dropout")(x)
        x = layers.Dense(classes, name="logits")(x)
    return keras.Model(inputs, x, name="squeezenet_v1_1")
