"""dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1``) in Keras 3.

The network of dlib's ``dnn_face_recognition_ex.cpp`` (its ``anet_type``;
the same in dlib's Python module), read from dlib's sources (``dlib/dnn``:
``layers.h``, ``input.h``, ``core.h``, ``cuda/cpu_dlib.cpp``):

* input: 150 x 150 RGB, ``(x - mean) / 256`` per channel with dlib's means
  (122.782, 117.001, 104.298): the ``"dlib"`` mode of
  :func:`transfer.weights.records.preprocess_mode`, applied outside the
  model;
* stem: ``con 32 7x7/2``, ``affine``, ``relu``, ``max_pool 3x3/2`` (150 ->
  72 -> 35 pixels);
* four levels of residual blocks: 3 x ``ares<32>``, then ``ares_down<64>``
  + 3 x ``ares<64>``, ``ares_down<128>`` + 2 x ``ares<128>``,
  ``ares_down<256>`` + 2 x ``ares<256>``, and one last ``ares_down<256>``.
  A block is ``con 3x3/s, affine, relu, con 3x3/1, affine``; ``ares`` adds
  its input (``add_prev``) then ``relu``; ``ares_down`` has stride 2 and adds
  its input average-pooled ``2x2/2`` instead;
* ``avg_pool_everything`` (global average) and ``fc_no_bias 128``: the
  descriptor.

dlib's defaults matter: a convolution or pooling pads by ``size // 2`` when
its stride is 1 and by 0 otherwise ("same" and "valid" here), and the output
side is ``1 + (side + 2 * pad - size) // stride``. So the stride-2 branches
and the pooled shortcuts do not always agree: 8 -> 3 (block) vs 4 (pool), and
4 -> 1 vs 2. dlib's ``add_prev`` then adds tensors of different shapes: the
output takes the larger size of each axis and each input is zero-padded at
the end (bottom rows, right columns, last channels; ``tt::add`` in
``cpu_dlib.cpp``), which also pads the shortcut's channels (32 -> 64 ...).
:class:`PaddedAdd` does exactly that. Every ``affine`` follows a convolution,
so the converter folds it into that convolution's kernel and bias
(``gamma * (W x + b) + beta``): the model holds only standard layers and
that one registered layer, and a saved ``.keras`` file loads with
``safe_mode=True``.

Importing this module imports Keras (the layer must be registered before a
``.keras`` file is loaded).

References
----------
.. [1] D. E. King, "Dlib-ml: A Machine Learning Toolkit", Journal of Machine
   Learning Research, vol. 10, pp. 1755-1758, 2009.
.. [2] K. He, X. Zhang, S. Ren and J. Sun, "Deep Residual Learning for Image
   Recognition", CVPR 2016.
"""

from __future__ import annotations

from typing import Any

import keras

__all__ = [
    "DESCRIPTOR_LAYER",
    "DESCRIPTOR_SIZE",
    "INPUT_SIZE",
    "LEVELS",
    "PaddedAdd",
    "build",
    "conv_names",
]

#: Side of the square RGB face chip the network was trained on.
INPUT_SIZE = 150
#: Size of the descriptor (``fc_no_bias``).
DESCRIPTOR_SIZE = 128
#: The Keras layer whose output is the descriptor.
DESCRIPTOR_LAYER = "descriptor"
#: The residual levels from the input on: (filters, blocks, whether the first block
#: is an ``ares_down``).
LEVELS = ((32, 3, False), (64, 4, True), (128, 3, True), (256, 3, True), (256, 1, True))
#: Filters of the stem convolution.
STEM_FILTERS = 32


@keras.saving.register_keras_serializable(package="transfer.identity")
class PaddedAdd(keras.layers.Layer):
    """dlib's ``add_prev``: the sum of two tensors, each zero-padded at the end to the larger shape.

    Takes ``[a, b]`` of shapes ``(n, h1, w1, c1)`` and ``(n, h2, w2, c2)``
    (static sizes) and returns ``(n, max(h), max(w), max(c))``: rows, columns
    and channels past an input's end count as zeros. With equal shapes it is
    a plain addition. Registered with Keras, so models holding it save and
    load with ``safe_mode=True``.
    """

    def call(self, inputs: Any) -> Any:
        a, b = inputs
        target = [max(int(a.shape[i]), int(b.shape[i])) for i in (1, 2, 3)]

        def padded(x: Any) -> Any:
            pads = [(0, t - int(s)) for t, s in zip(target, x.shape[1:], strict=True)]
            if not any(p for _, p in pads):
                return x
            return keras.ops.pad(x, [(0, 0), *pads])

        return padded(a) + padded(b)

    def compute_output_shape(self, input_shape: Any) -> Any:
        a, b = input_shape
        return (a[0], *(max(int(x), int(y)) for x, y in zip(a[1:], b[1:], strict=True)))


def conv_names() -> list[str]:
    """Names of the model's convolutions, in dlib's order (from the input on).

    The converter sets the ``k``-th convolution of dlib's file (with its
    ``affine`` folded in) on the ``k``-th name: ``stem_conv``, then
    ``block{i}_conv1`` and ``block{i}_conv2`` for the residual blocks
    ``i = 1..14``.
    """
    names = ["stem_conv"]
    n_blocks = sum(blocks for _, blocks, _ in LEVELS)
    for i in range(1, n_blocks + 1):
        names += [f"block{i}_conv1", f"block{i}_conv2"]
    return names


def _block(x: Any, filters: int, down: bool, name: str) -> Any:
    """``ares`` (or ``ares_down``): two 3x3 convolutions (affine folded in), shortcut, ReLU."""
    stride = 2 if down else 1
    y = keras.layers.Conv2D(
        filters, 3, strides=stride, padding="valid" if down else "same", name=f"{name}_conv1"
    )(x)
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv2")(y)
    shortcut = x
    if down:
        pool = keras.layers.AveragePooling2D(2, strides=2, padding="valid", name=f"{name}_pool")
        shortcut = pool(x)
    x = PaddedAdd(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_relu2")(x)


def build(input_size: int = INPUT_SIZE, name: str = "dlib_resnet_v1") -> keras.Model:
    """Build an untrained copy of dlib's face-recognition ResNet.

    Parameters
    ----------
    input_size : int, default=150
        Side of the square RGB input (dlib: 150; at least 64).
    name : str, default="dlib_resnet_v1"
        Name of the Keras model.

    Returns
    -------
    keras.Model
        Input ``(None, input_size, input_size, 3)``, already scaled by the
        ``"dlib"`` preprocessing; output ``(None, 128)``, the descriptor (not
        normalised), from the layer :data:`DESCRIPTOR_LAYER`.

    References
    ----------
    .. [1] D. E. King, dlib's ``examples/dnn_face_recognition_ex.cpp``
       (``anet_type``), http://dlib.net.
    .. [2] K. He et al., "Deep Residual Learning for Image Recognition", CVPR 2016.
    """
    size = int(input_size)
    if size < 64:
        raise ValueError(f"dlib's face ResNet needs inputs of at least 64 pixels, got {input_size}")
    inputs = keras.Input((size, size, 3), name="chip")
    x = keras.layers.Conv2D(STEM_FILTERS, 7, strides=2, padding="valid", name="stem_conv")(inputs)
    x = keras.layers.ReLU(name="stem_relu")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="valid", name="stem_pool")(x)
    i = 0
    for filters, blocks, first_down in LEVELS:
        for j in range(blocks):
            i += 1
            x = _block(x, filters, first_down and j == 0, f"block{i}")
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    x = keras.layers.Dense(DESCRIPTOR_SIZE, use_bias=False, name=DESCRIPTOR_LAYER)(x)
    return keras.Model(inputs, x, name=name)
