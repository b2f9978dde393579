"""Networks the toolkit trains from scratch on a dataset A (the lecture's classics).

Each builder is registered in :data:`transfer._registry.ARCHITECTURES` and
has the signature ``build(input_shape, n_outputs, **params) -> keras.Model``.
Conventions, so that a trained network serves as a frozen extractor at any
named layer (:class:`transfer.features.cnn.CNNFeatures` with the saved
``.keras`` file):

* the model outputs logits from a ``Dense`` layer named ``"logits"``;
* the layer below it, the learned representation, is named
  ``"embedding"`` (LeNet-5's F6, DeepID2's identity layer, the pooled
  vector of the residual network);
* layers have stable, documented names (``c1``, ``s2``, ... for LeNet-5);
* the input is the image as the recipe's transforms deliver it, values in
  [0, 255]; a ``Rescaling`` layer named ``"scale"`` maps it to [0, 1].

Keras is imported inside the builders only.

References
----------
.. [1] LeCun, Bottou, Bengio, Haffner. "Gradient-based learning applied to
   document recognition." Proc. IEEE 1998.
.. [2] Karpathy. ConvNetJS CIFAR-10 demo (conv 5x5x16, pool, conv 5x5x20,
   pool, conv 5x5x20, pool, softmax), 2014.
.. [3] Sun, Chen, Wang, Tang. "Deep learning face representation by joint
   identification-verification." NeurIPS 2014 (DeepID2).
.. [4] He, Zhang, Ren, Sun. "Deep residual learning for image
   recognition." CVPR 2016.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from transfer._registry import register_architecture

__all__ = ["convnetjs_cifar10", "deepid2", "lenet5", "mlp", "small_resnet"]


def _keras() -> Any:
    from transfer._quiet import import_tensorflow

    import_tensorflow()
    import keras

    return keras


def _check_shape(input_shape: Sequence[int], name: str, min_side: int) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or min(shape[:2]) < min_side or shape[2] not in (1, 3):
        raise ValueError(
            f"{name}: input_shape must be (height, width, 1 or 3) with sides >= {min_side}, "
            f"got {tuple(input_shape)}"
        )
    return shape  # type: ignore[return-value]


@register_architecture("lenet5", "LeNet-5 (LeCun et al. 1998): C1-S2-C3-S4-C5-F6, 32x32 input")
def lenet5(
    input_shape: Sequence[int] = (32, 32, 1),
    n_outputs: int = 10,
    *,
    activation: str = "relu",
    pooling: str = "max",
    seed: int | None = None,
) -> Any:
    """LeNet-5 [1]_: two 5x5 convolutions with subsampling, then 120-84-n units.

    A 28x28 input (MNIST) is zero-padded to 32x32 as in the paper. The
    paper's scaled tanh and trainable average subsampling are available
    (``activation="tanh"``, ``pooling="avg"``); the defaults are the modern
    ReLU and max-pooling. Layers: ``c1`` (6 maps), ``s2``, ``c3`` (16
    maps, fully connected to s2 rather than the paper's sparse table),
    ``s4``, ``c5`` (120), ``embedding`` (F6, 84), ``logits``.
    """
    keras = _keras()
    h, w, c = _check_shape(input_shape, "lenet5", 28)
    init = keras.initializers.GlorotUniform(seed=seed)
    pool = keras.layers.MaxPooling2D if pooling == "max" else keras.layers.AveragePooling2D
    inputs = keras.Input((h, w, c), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="scale")(inputs)
    if min(h, w) < 32:
        x = keras.layers.ZeroPadding2D(((32 - h) // 2 + (32 - h) % 2, (32 - h) // 2), name="pad")(x)
    x = keras.layers.Conv2D(6, 5, activation=activation, kernel_initializer=init, name="c1")(x)
    x = pool(2, name="s2")(x)
    x = keras.layers.Conv2D(16, 5, activation=activation, kernel_initializer=init, name="c3")(x)
    x = pool(2, name="s4")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(120, activation=activation, kernel_initializer=init, name="c5")(x)
    x = keras.layers.Dense(84, activation=activation, kernel_initializer=init, name="embedding")(x)
    logits = keras.layers.Dense(n_outputs, kernel_initializer=init, name="logits")(x)
    return keras.Model(inputs, logits, name="lenet5")


@register_architecture("convnetjs_cifar10", "ConvNetJS's CIFAR-10 network: 3 x (conv 5x5, pool)")
def convnetjs_cifar10(
    input_shape: Sequence[int] = (32, 32, 3), n_outputs: int = 10, *, seed: int | None = None
) -> Any:
    """The ConvNetJS CIFAR-10 demo network [2]_.

    ``conv1`` 5x5x16 ReLU, ``pool1`` 2x2, ``conv2`` 5x5x20, ``pool2``,
    ``conv3`` 5x5x20, ``pool3`` (all convolutions padded), ``embedding``
    (the flattened pool3, 320 values at 32x32), ``logits``.
    """
    keras = _keras()
    h, w, c = _check_shape(input_shape, "convnetjs_cifar10", 8)
    init = keras.initializers.GlorotUniform(seed=seed)
    inputs = keras.Input((h, w, c), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="scale")(inputs)
    for i, filters in enumerate((16, 20, 20), start=1):
        x = keras.layers.Conv2D(
            filters, 5, padding="same", activation="relu", kernel_initializer=init, name=f"conv{i}"
        )(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = keras.layers.Flatten(name="embedding")(x)
    logits = keras.layers.Dense(n_outputs, kernel_initializer=init, name="logits")(x)
    return keras.Model(inputs, logits, name="convnetjs_cifar10")


@register_architecture("deepid2", "DeepID2-style face network: 4 conv stages, 160-d identity layer")
def deepid2(
    input_shape: Sequence[int] = (55, 47, 3),
    n_outputs: int = 10,
    *,
    embedding_size: int = 160,
    seed: int | None = None,
) -> Any:
    """A DeepID2-style network [3]_ on a small face (55x47 by default).

    ``conv1`` 4x4x20, ``pool1``, ``conv2`` 3x3x40, ``pool2``, ``conv3``
    3x3x60, ``pool3``, ``conv4`` 2x2x80 (the paper's locally connected
    layers are plain convolutions here); the identity layer ``embedding``
    (``embedding_size`` ReLU units) is fully connected to both pool3 and
    conv4, as in the paper (multi-scale features); ``logits`` for the
    identities of dataset A.
    """
    keras = _keras()
    h, w, c = _check_shape(input_shape, "deepid2", 31)
    init = keras.initializers.GlorotUniform(seed=seed)
    inputs = keras.Input((h, w, c), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="scale")(inputs)
    specs = ((20, 4), (40, 3), (60, 3))
    for i, (filters, size) in enumerate(specs, start=1):
        x = keras.layers.Conv2D(
            filters, size, activation="relu", kernel_initializer=init, name=f"conv{i}"
        )(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
    pool3 = x
    conv4 = keras.layers.Conv2D(80, 2, activation="relu", kernel_initializer=init, name="conv4")(
        pool3
    )
    both = keras.layers.Concatenate(name="multiscale")(
        [keras.layers.Flatten(name="flat3")(pool3), keras.layers.Flatten(name="flat4")(conv4)]
    )
    emb = keras.layers.Dense(
        int(embedding_size), activation="relu", kernel_initializer=init, name="embedding"
    )(both)
    logits = keras.layers.Dense(n_outputs, kernel_initializer=init, name="logits")(emb)
    return keras.Model(inputs, logits, name="deepid2")


@register_architecture("small_resnet", "A small residual network: 3 stages of basic blocks")
def small_resnet(
    input_shape: Sequence[int] = (32, 32, 3),
    n_outputs: int = 10,
    *,
    widths: Sequence[int] = (16, 32, 64),
    blocks_per_stage: int = 2,
    seed: int | None = None,
) -> Any:
    """A CIFAR-style residual network [4]_ (ResNet-14 with the defaults).

    A 3x3 stem, then per stage ``blocks_per_stage`` basic blocks (two 3x3
    convolutions with batch normalisation and an identity or 1x1 projection
    shortcut; the first block of stages 2 and 3 halves the resolution),
    named ``block{i}_{j}_...``; ``embedding`` is the global average pool.
    """
    keras = _keras()
    h, w, c = _check_shape(input_shape, "small_resnet", 8)
    init = keras.initializers.HeNormal(seed=seed)
    layers = keras.layers
    inputs = keras.Input((h, w, c), name="image")
    x = layers.Rescaling(1.0 / 255.0, name="scale")(inputs)
    x = layers.Conv2D(
        widths[0], 3, padding="same", use_bias=False, kernel_initializer=init, name="stem_conv"
    )(x)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for i, width in enumerate(widths, start=1):
        for j in range(1, int(blocks_per_stage) + 1):
            stride = 2 if (i > 1 and j == 1) else 1
            name = f"block{i}_{j}"
            shortcut = x
            y = layers.Conv2D(
                width,
                3,
                strides=stride,
                padding="same",
                use_bias=False,
                kernel_initializer=init,
                name=f"{name}_conv1",
            )(x)
            y = layers.BatchNormalization(name=f"{name}_bn1")(y)
            y = layers.ReLU(name=f"{name}_relu1")(y)
            y = layers.Conv2D(
                width,
                3,
                padding="same",
                use_bias=False,
                kernel_initializer=init,
                name=f"{name}_conv2",
            )(y)
            y = layers.BatchNormalization(name=f"{name}_bn2")(y)
            if stride != 1 or shortcut.shape[-1] != width:
                shortcut = layers.Conv2D(
                    width,
                    1,
                    strides=stride,
                    use_bias=False,
                    kernel_initializer=init,
                    name=f"{name}_proj",
                )(shortcut)
                shortcut = layers.BatchNormalization(name=f"{name}_proj_bn")(shortcut)
            x = layers.Add(name=f"{name}_add")([y, shortcut])
            x = layers.ReLU(name=f"{name}_out")(x)
    emb = layers.GlobalAveragePooling2D(name="embedding")(x)
    logits = layers.Dense(n_outputs, kernel_initializer=init, name="logits")(emb)
    return keras.Model(inputs, logits, name="small_resnet")


def _mlp_params(n_in: int, width: int, depth: int, n_out: int) -> int:
    """Weights and biases of ``depth`` hidden layers of ``width`` units."""
    hidden = (n_in + 1) * width + (depth - 1) * (width + 1) * width
    return hidden + (width + 1) * n_out


@register_architecture("mlp", "A fully connected network; depth x width, or matched to n_params")
def mlp(
    input_shape: Sequence[int] = (1, 8, 1),
    n_outputs: int = 2,
    *,
    depth: int = 1,
    width: int | None = None,
    n_params: int | None = 1000,
    activation: str = "relu",
    seed: int | None = None,
) -> Any:
    """``depth`` hidden layers of ``width`` units on the flattened image.

    With ``n_params`` (and no ``width``) the width is the largest whose total
    number of weights and biases does not exceed ``n_params``, so a shallow
    wide and a deep narrow network can be compared at an equal parameter
    budget (the depth argument on d-bit parity, Bengio 2009). Layers:
    ``hidden1`` .. ``hidden<depth>``, the last also named ``embedding``,
    then ``logits``.
    """
    keras = _keras()
    shape = tuple(int(s) for s in input_shape)
    n_in = int(np.prod(shape))
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"mlp: 'depth' must be an int >= 1, got {depth!r}")
    if width is None:
        if n_params is None:
            raise ValueError("mlp: give 'width' or 'n_params'")
        width = 1
        while _mlp_params(n_in, width + 1, depth, n_outputs) <= n_params:
            width += 1
    init = keras.initializers.GlorotUniform(seed=seed)
    inputs = keras.Input(shape, name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="scale")(inputs)
    x = keras.layers.Flatten(name="flatten")(x)
    for i in range(1, depth + 1):
        name = "embedding" if i == depth else f"hidden{i}"
        x = keras.layers.Dense(
            int(width), activation=activation, kernel_initializer=init, name=name
        )(x)
    logits = keras.layers.Dense(n_outputs, kernel_initializer=init, name="logits")(x)
    return keras.Model(inputs, logits, name=f"mlp{depth}x{width}")
