"""Convert torchvision's MobileNetV2 ImageNet weights (a ``.pth``) to Keras 3.

The state dict ``mobilenet_v2-b0353104.pth`` (torchvision's published
weights, top-1 71.878%) is read without torch by
:func:`transfer.weights.pth.read_state_dict`. Its keys follow
``torchvision.models.MobileNetV2``:

* ``features.0.0.weight`` and BatchNorm ``features.0.1.*`` (the stem);
* ``features.{i}.conv.*`` for the inverted residual blocks i = 1..17: for
  block 1 (expansion 1) ``conv.0.0`` depthwise, ``conv.0.1`` BN, ``conv.1``
  projection, ``conv.2`` BN; for the others ``conv.0.0``/``conv.0.1``
  expansion, ``conv.1.0``/``conv.1.1`` depthwise, ``conv.2``/``conv.3``
  projection;
* ``features.18.0.weight`` and ``features.18.1.*`` (the 1x1 conv to 1280);
* ``classifier.1.{weight,bias}`` (the Linear 1280 -> 1000 after Dropout).

They map one to one onto :mod:`transfer.features.cnn.architectures.mobilenet_v2_torch`,
which mirrors torchvision's padding and BatchNorm epsilon. Kernels are
transposed from PyTorch's ``(out, in, kh, kw)`` to Keras' ``(kh, kw, in,
out)``, depthwise kernels from ``(c, 1, kh, kw)`` to ``(kh, kw, c, 1)`` and
the Linear weight from ``(out, in)`` to ``(in, out)``. Every tensor except the
``num_batches_tracked`` counters is used; a missing, left-over or misshapen
tensor is an error.

TensorFlow, Keras and the architecture module (importing
:mod:`transfer.features.cnn` registers it) are imported inside the
functions only; torch is never imported.

References
----------
.. [1] M. Sandler, A. Howard, M. Zhu, A. Zhmoginov, L.-C. Chen, "MobileNetV2:
   Inverted Residuals and Linear Bottlenecks", CVPR 2018.
.. [2] torchvision, ``torchvision/models/mobilenetv2.py``
   (https://github.com/pytorch/vision), BSD-3-Clause.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["build_model", "convert", "keras_weights", "torch_layout"]

# PyTorch BatchNorm2d names, in Keras' variable order (gamma, beta, moving_mean, moving_variance)
_BN = ("weight", "bias", "running_mean", "running_var")
_IGNORED_SUFFIX = ".num_batches_tracked"


def torch_layout(classes: int = 1000) -> list[tuple[str, str, str, tuple[int, ...]]]:
    """The expected layout: ``(keras_layer, kind, torch_prefix, torch_kernel_shape)``.

    ``kind`` is ``"conv"``, ``"depthwise"``, ``"bn"`` or ``"dense"``; for
    ``"bn"`` the shape is ``(channels,)``, for ``"dense"`` ``(classes, 1280)``.
    """
    from transfer.features.cnn.architectures import mobilenet_v2_torch as arch

    out: list[tuple[str, str, str, tuple[int, ...]]] = []

    def conv_bn(layer: str, kind: str, conv: str, bn: str, shape: tuple[int, ...]) -> None:
        out.append((layer, kind, conv, shape))
        out.append((f"{layer}_bn", "bn", bn, (shape[0],)))

    conv_bn("stem_conv", "conv", "features.0.0", "features.0.1", (arch.STEM_CHANNELS, 3, 3, 3))
    for i, in_ch, out_ch, _stride, t in arch.block_settings():
        p = f"features.{i}.conv"
        hidden = in_ch * t
        if t == 1:
            conv_bn(f"block{i}_depthwise", "depthwise", f"{p}.0.0", f"{p}.0.1", (hidden, 1, 3, 3))
            conv_bn(f"block{i}_project", "conv", f"{p}.1", f"{p}.2", (out_ch, hidden, 1, 1))
        else:
            conv_bn(f"block{i}_expand", "conv", f"{p}.0.0", f"{p}.0.1", (hidden, in_ch, 1, 1))
            conv_bn(f"block{i}_depthwise", "depthwise", f"{p}.1.0", f"{p}.1.1", (hidden, 1, 3, 3))
            conv_bn(f"block{i}_project", "conv", f"{p}.2", f"{p}.3", (out_ch, hidden, 1, 1))
    last = arch.block_settings()[-1][2]
    conv_bn("head_conv", "conv", "features.18.0", "features.18.1", (arch.HEAD_CHANNELS, last, 1, 1))
    out.append(("logits", "dense", "classifier.1", (classes, arch.HEAD_CHANNELS)))
    return out


def keras_weights(state_dict: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Map torchvision's MobileNetV2 state dict onto the Keras layer names.

    Parameters
    ----------
    state_dict : dict of str to ndarray
        As returned by :func:`transfer.weights.pth.read_state_dict`. The
        number of classes is taken from ``classifier.1.weight``.

    Returns
    -------
    dict
        ``{keras_layer_name: [arrays in the layer's variable order]}``, float32.

    Raises
    ------
    ValueError
        Naming the tensor and the Keras layer, when a tensor is missing or has
        the wrong shape, or naming the tensors that no layer uses.
    """
    used: set[str] = set()

    def take(key: str, layer: str, shape: tuple[int, ...]) -> np.ndarray:
        if key not in state_dict:
            raise ValueError(
                f"layer {layer!r}: the state dict has no tensor {key!r}; "
                "it is not torchvision's MobileNetV2 (width 1.0)"
            )
        a = np.asarray(state_dict[key], dtype=np.float32)
        if a.shape != shape:
            raise ValueError(
                f"layer {layer!r}: tensor {key!r} has shape {a.shape}, expected {shape}"
            )
        used.add(key)
        return a

    head = state_dict.get("classifier.1.weight")
    classes = int(np.shape(head)[0]) if head is not None and np.ndim(head) == 2 else 1000
    out: dict[str, list[np.ndarray]] = {}
    for layer, kind, prefix, shape in torch_layout(classes):
        if kind == "bn":
            out[layer] = [take(f"{prefix}.{v}", layer, shape) for v in _BN]
        elif kind == "conv":  # (out, in, kh, kw) -> (kh, kw, in, out)
            out[layer] = [take(f"{prefix}.weight", layer, shape).transpose(2, 3, 1, 0)]
        elif kind == "depthwise":  # (c, 1, kh, kw) -> (kh, kw, c, 1)
            out[layer] = [take(f"{prefix}.weight", layer, shape).transpose(2, 3, 0, 1)]
        else:  # dense: (out, in) -> (in, out)
            kernel = take(f"{prefix}.weight", layer, shape).T
            out[layer] = [kernel, take(f"{prefix}.bias", layer, (shape[0],))]
    left = [k for k in state_dict if k not in used and not k.endswith(_IGNORED_SUFFIX)]
    if left:
        more = f" and {len(left) - 5} more" if len(left) > 5 else ""
        raise ValueError(
            f"{len(left)} tensor(s) of the state dict map onto no Keras layer: "
            f"{', '.join(left[:5])}{more}; it is not torchvision's MobileNetV2 (width 1.0)"
        )
    return {k: [np.ascontiguousarray(a) for a in v] for k, v in out.items()}


def build_model(input_size: int = 224, classes: int = 1000) -> Any:
    """An untrained torchvision-layout MobileNetV2 with its top."""
    from transfer.features.cnn.architectures import mobilenet_v2_torch as arch

    return arch.build((input_size, input_size, 3), include_top=True, classes=classes)


def convert(data: bytes, dest: str | os.PathLike, record: Any = None) -> Path:
    """Convert the ``.pth`` bytes ``data`` to a Keras ``.weights.h5`` at ``dest``.

    Parameters
    ----------
    data : bytes
        Content of ``mobilenet_v2-b0353104.pth`` (already checked against its
        sha256).
    dest : str or Path
        Output path; must end in ``.weights.h5``.
    record : WeightsRecord, optional
        Gives the input size (default 224).

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    ValueError
        Naming the layer, when a tensor is missing, left over or does not
        fit the Keras layer.
    """
    from transfer.weights._keras import save_mapped_weights
    from transfer.weights.pth import read_state_dict

    mapping = keras_weights(read_state_dict(data, str(getattr(record, "member", "<pth>"))))
    classes = mapping["logits"][1].shape[0]
    model = build_model(getattr(record, "input_size", None) or 224, classes)
    return save_mapped_weights(model, mapping, dest, "the state dict")
