"""Convert dlib's ``dlib_face_recognition_resnet_model_v1.dat`` to a safe ``.keras`` model.

The source file is dlib's own binary serialization of the trained network
(``deserialize(file) >> net`` in C++), the same bytes dlib's Python module
loads. This module reads it without dlib, following dlib's sources
(``dlib/serialize.h``, ``dlib/float_details.h``, ``dlib/cuda/tensor.h``,
``dlib/dnn/core.h``, ``layers.h``, ``input.h``, ``loss.h``):

* integers: one control byte (low 4 bits: the number of bytes that follow,
  bit 7: negative), then the magnitude, little-endian;
* floats: a mantissa (int64) and an exponent (int16), both as integers,
  value ``mantissa * 2**exponent`` (exponents 32000-32002: inf, -inf, NaN);
* strings: the length, then the bytes; booleans: the character ``'1'`` or ``'0'``;
* tensors: version 2, the four dimensions, then little-endian float32s;
* a network: the loss layer (version, its details), then each layer
  wrapper's version from the output to the input, the input layer, and each
  layer's details and state from the input back to the output. A layer's
  details start with a version string (``"con_6"``, ``"affine_2"``,
  ``"bn_con2"``, ...) that says what follows.

The structure is that of :mod:`transfer.features.identity.dlib_resnet_net`
(dlib's ``anet_type``); the reader checks every version string, kernel
size, stride and padding against it and raises on the first difference,
and that the file ends where the network does. A ``bn_con2`` layer stored
where ``affine`` stands is turned into an affine one as dlib does (``gamma /
sqrt(running_variance + eps)``, ``beta - g * running_mean``). Each affine
layer is folded into the convolution before it, in float64 then rounded to
float32.

References
----------
.. [1] D. E. King, "Dlib-ml: A Machine Learning Toolkit", Journal of Machine
   Learning Research, vol. 10, pp. 1755-1758, 2009.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from transfer.weights.records import DLIB_MEAN_RGB

__all__ = [
    "DLIB_MEAN_RGB",
    "N_PARAMS",
    "DlibNetwork",
    "convert",
    "folded_weights",
    "read_network",
]

#: Parameters of the Keras port (convolutions with folded affines, the descriptor layer).
N_PARAMS = 5_607_488


class _Reader:
    """dlib's serialization primitives over a bytes buffer."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def _take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise ValueError(f"the dlib file ends early (at byte {self.pos}, {n} more wanted)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def int(self) -> int:
        control = self._take(1)[0]
        size = control & 0x0F
        if size == 0 or size > 8 or control & 0x70:
            raise ValueError(f"bad dlib integer control byte {control:#x} at byte {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def bool(self) -> bool:
        ch = bytes(self._take(1))
        if ch not in (b"0", b"1"):
            raise ValueError(f"bad dlib bool {ch!r} at byte {self.pos - 1}")
        return ch == b"1"

    def string(self) -> str:
        return bytes(self._take(self.int())).decode("latin-1")

    def float(self) -> float:
        if self.data[self.pos] & 0x70:
            raise ValueError(f"dlib's old text float format at byte {self.pos} is not supported")
        mantissa, exponent = self.int(), self.int()
        if exponent == 32000:
            return math.inf
        if exponent == 32001:
            return -math.inf
        if exponent == 32002:
            return math.nan
        return math.ldexp(mantissa, exponent)

    def tensor(self) -> np.ndarray:
        version = self.int()
        if version != 2:
            raise ValueError(f"unexpected dlib tensor version {version} at byte {self.pos}")
        shape = tuple(self.int() for _ in range(4))
        n = int(np.prod(shape))
        raw = self._take(4 * n)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)

    def alias_tensor(self) -> tuple[int, ...]:
        version = self.int()
        if version != 1:
            raise ValueError(f"unexpected dlib alias_tensor version {version} at byte {self.pos}")
        return tuple(self.int() for _ in range(4))

    def expect(self, *versions: str) -> str:
        at = self.pos
        got = self.string()
        if got not in versions:
            raise ValueError(f"expected dlib's {' or '.join(versions)} at byte {at}, found {got!r}")
        return got


@dataclass
class DlibNetwork:
    """What :func:`read_network` finds in the file.

    Attributes
    ----------
    means : tuple of float
        The input layer's per-channel means (red, green, blue).
    input_size : (int, int)
        The input layer's rows and columns.
    convolutions : list of (ndarray, ndarray)
        Each convolution's filters ``(n_filters, channels, rows, cols)`` and
        biases ``(n_filters,)`` (zeros when it has none), from the input on.
    affines : list of (ndarray, ndarray)
        Each affine layer's ``gamma`` and ``beta`` ``(channels,)``, from the input on.
    fc : ndarray of shape (256, 128)
        The ``fc_no_bias`` weights (inputs x outputs).
    layers : list of str
        The version string of every layer, from the input on.
    """

    means: tuple[float, ...] = ()
    input_size: tuple[int, int] = (0, 0)
    convolutions: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    affines: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    fc: np.ndarray | None = None
    layers: list[str] = field(default_factory=list)


def _anet_layers() -> list[tuple]:
    """dlib's ``anet_type`` below its loss, from the output to the input.

    Entries: ``("fc", n)``, ``("avg_pool", rows, cols, stride)``, ``("max_pool",
    rows, cols, stride)``, ``("relu",)``, ``("add_prev",)``, ``("affine",)``,
    ``("con", filters, size, stride)``, ``("tag",)``, ``("skip",)``.
    """
    from transfer.features.identity.dlib_resnet_net import LEVELS, STEM_FILTERS

    def block(n: int, stride: int) -> list[tuple]:
        return [("affine",), ("con", n, 3, 1), ("relu",), ("affine",), ("con", n, 3, stride)]

    def ares(n: int) -> list[tuple]:
        return [("relu",), ("add_prev",), *block(n, 1), ("tag",)]

    def ares_down(n: int) -> list[tuple]:
        return [
            ("relu",),
            ("add_prev",),
            ("avg_pool", 2, 2, 2),
            ("skip",),
            ("tag",),
            *block(n, 2),
            ("tag",),
        ]

    body: list[tuple] = []
    for filters, blocks, first_down in reversed(LEVELS):
        for j in reversed(range(blocks)):
            body += ares_down(filters) if first_down and j == 0 else ares(filters)
    return [
        ("fc", 128),
        ("avg_pool", 0, 0, 1),
        *body,
        ("max_pool", 3, 3, 2),
        ("relu",),
        ("affine",),
        ("con", STEM_FILTERS, 7, 2),
    ]


def _pad(size: int, stride: int) -> int:
    """dlib's default padding of a convolution or pooling layer."""
    return 0 if stride != 1 else size // 2


def _con(r: _Reader, spec: tuple, net: DlibNetwork) -> None:
    _, filters, size, stride = spec
    version = r.expect("con_4", "con_5", "con_6")
    params = r.tensor()
    num_filters = r.int()
    geometry = (r.int(), r.int(), r.int(), r.int(), r.int(), r.int())
    pad = _pad(size, stride)
    if num_filters != filters or geometry != (size, size, stride, stride, pad, pad):
        raise ValueError(
            f"dlib con layer {len(net.convolutions) + 1}: {num_filters} filters, (rows, cols, "
            f"strides, paddings) {geometry}; expected {filters} and "
            f"{(size, size, stride, stride, pad, pad)}"
        )
    shape = r.alias_tensor()
    biases = r.alias_tensor()
    for _ in range(4):  # learning-rate and weight-decay multipliers
        r.float()
    if version in ("con_5", "con_6"):
        r.bool()  # use_bias: the biases alias says it as well
    if version == "con_6" and r.bool():
        raise ValueError("a dlib con layer with a fused ReLU is not part of this network")
    n_w = int(np.prod(shape))
    flat = params.reshape(-1)
    w = flat[:n_w].reshape(shape)
    b = flat[n_w : n_w + int(np.prod(biases))] if int(np.prod(biases)) else np.zeros(shape[0])
    if flat.size != n_w + int(np.prod(biases)) or len(b) != shape[0]:
        raise ValueError(f"dlib con layer {len(net.convolutions) + 1}: {flat.size} parameters")
    net.convolutions.append((w.astype(np.float32), np.asarray(b, np.float32)))


def _affine(r: _Reader, net: DlibNetwork) -> None:
    version = r.expect("affine_", "affine_2", "bn_con2")
    if version == "bn_con2":
        params = r.tensor().reshape(-1)
        gamma_shape, _ = r.alias_tensor(), r.alias_tensor()
        r.tensor(), r.tensor()  # the last mini-batch's means and inverse stds
        running_means, running_vars = r.tensor().reshape(-1), r.tensor().reshape(-1)
        r.int(), r.float()  # num_updates, running_stats_window_size
        for _ in range(4):
            r.float()
        eps = r.float()
        n = int(np.prod(gamma_shape))
        # as affine_(const bn_&) does, in float32
        g = params[:n] / np.sqrt(running_vars + np.float32(eps))
        b = params[n : 2 * n] - g * running_means
    else:
        params = r.tensor().reshape(-1)
        gamma_shape, _ = r.alias_tensor(), r.alias_tensor()
        mode = r.int()
        if mode != 0:  # CONV_MODE: one gamma and beta per channel
            raise ValueError(f"a dlib affine layer in mode {mode} (not per channel)")
        if version == "affine_2" and r.bool():
            raise ValueError("a disabled dlib affine layer is not part of this network")
        n = int(np.prod(gamma_shape))
        g, b = params[:n], params[n : 2 * n]
    net.affines.append((np.asarray(g, np.float32), np.asarray(b, np.float32)))


def _pool(r: _Reader, spec: tuple) -> str:
    kind, rows, cols, stride = spec
    version = r.expect(f"{kind}_2")
    got = tuple(r.int() for _ in range(6))
    expected = (rows, cols, stride, stride, _pad(rows, stride), _pad(cols, stride))
    if got != expected:
        raise ValueError(f"dlib {kind} layer: (rows, cols, strides, paddings) {got} != {expected}")
    return version


def _fc(r: _Reader, spec: tuple, net: DlibNetwork) -> None:
    version = r.expect("fc_2", "fc_3")
    num_outputs, num_inputs = r.int(), r.int()
    params = r.tensor().reshape(-1)
    weights, _ = r.alias_tensor(), r.alias_tensor()
    bias_mode = r.int()
    for _ in range(4):
        r.float()
    if version == "fc_3":
        r.bool()
    if num_outputs != spec[1] or bias_mode != 1:  # FC_NO_BIAS
        raise ValueError(f"dlib fc layer: {num_outputs} outputs, bias mode {bias_mode}")
    n = int(np.prod(weights))
    net.fc = params[:n].reshape(num_inputs, num_outputs).astype(np.float32)


def _details(r: _Reader, spec: tuple, net: DlibNetwork) -> None:
    kind = spec[0]
    at = r.pos
    if kind == "con":
        _con(r, spec, net)
    elif kind == "affine":
        _affine(r, net)
    elif kind in ("avg_pool", "max_pool"):
        _pool(r, spec)
    elif kind == "relu":
        if r.expect("relu_", "relu_2") == "relu_2" and r.bool():
            raise ValueError("a disabled dlib relu layer is not part of this network")
    elif kind == "add_prev":
        r.expect("add_prev_")
    elif kind == "fc":
        _fc(r, spec, net)
    net.layers.append(_Reader(bytes(r.data[at : at + 64])).string())


def _layer_state(r: _Reader, version: int) -> None:
    """What an ``add_layer`` keeps after its details (flags and cached tensors)."""
    for _ in range(3):
        r.bool()
    r.tensor(), r.tensor()  # x_grad, cached_output
    if version == 2:
        r.tensor()  # params_grad


def read_network(data: bytes) -> DlibNetwork:
    """Read dlib's serialized ``anet_type`` (loss_metric on the face ResNet).

    Parameters
    ----------
    data : bytes
        The content of ``dlib_face_recognition_resnet_model_v1.dat``.

    Returns
    -------
    DlibNetwork

    Raises
    ------
    ValueError
        On the first byte that does not fit the network (naming what was
        expected, what was found and where), or when bytes are left over.
    """
    r = _Reader(data)
    if r.int() != 1:
        raise ValueError("not a dlib network: expected add_loss_layer version 1")
    if r.expect("loss_metric_", "loss_metric_2") == "loss_metric_2":
        r.float(), r.float()  # margin, distance threshold
    layers = _anet_layers()
    versions = []
    for i, spec in enumerate(layers):
        version = r.int()
        innermost = i == len(layers) - 1
        ok = {"tag": (1,), "skip": (1,)}.get(spec[0], (2, 3) if innermost else (1, 2))
        if version not in ok:
            raise ValueError(f"unexpected dlib {spec[0]} wrapper version {version} at byte {r.pos}")
        versions.append(version)
    net = DlibNetwork()
    r.expect("input_rgb_image_sized")
    net.means = (r.float(), r.float(), r.float())
    net.input_size = (r.int(), r.int())
    for spec, version in zip(reversed(layers), reversed(versions), strict=True):
        if spec[0] in ("tag", "skip"):
            continue
        _details(r, spec, net)
        if spec is layers[-1]:  # the layer on the input: its own state
            for _ in range(3):
                r.bool()
            r.tensor(), r.tensor(), r.tensor()
            if version == 3:
                r.int()  # sample expansion factor
        else:
            _layer_state(r, version)
    if r.pos != len(data):
        raise ValueError(f"{len(data) - r.pos} bytes left after dlib's network")
    return net


def folded_weights(net: DlibNetwork) -> dict[str, list[np.ndarray]]:
    """Keras arrays by layer name: each convolution with its affine folded in, the descriptor.

    ``gamma * (W x + b) + beta`` is the convolution ``gamma W`` with bias
    ``gamma b + beta``; computed in float64, rounded to float32. dlib's
    filters ``(out, in, rows, cols)`` become Keras' ``(rows, cols, in, out)``.
    """
    from transfer.features.identity.dlib_resnet_net import DESCRIPTOR_LAYER, conv_names

    names = conv_names()
    if not len(names) == len(net.convolutions) == len(net.affines):
        raise ValueError(
            f"{len(net.convolutions)} convolutions and {len(net.affines)} affine layers in the "
            f"dlib file; the Keras port has {len(names)}"
        )
    out: dict[str, list[np.ndarray]] = {}
    for name, (w, b), (g, beta) in zip(names, net.convolutions, net.affines, strict=True):
        g64 = g.astype(np.float64)
        kernel = w.astype(np.float64).transpose(2, 3, 1, 0) * g64
        bias = b.astype(np.float64) * g64 + beta
        out[name] = [kernel.astype(np.float32), bias.astype(np.float32)]
    out[DESCRIPTOR_LAYER] = [np.asarray(net.fc, np.float32)]
    return out


def convert(data: bytes, dest: str | os.PathLike, record: Any = None) -> Path:
    """Convert dlib's ``.dat`` bytes ``data`` to a ``.keras`` model at ``dest``.

    Parameters
    ----------
    data : bytes
        The source file (already checked against its sha256).
    dest : str or Path
        Output path; must end in ``.keras``.
    record : WeightsRecord, optional
        Gives the input size (default 150).

    Returns
    -------
    Path
        ``dest``, a model that ``keras.saving.load_model(dest, safe_mode=True)``
        loads once :mod:`transfer.features.identity.dlib_resnet_net` is
        imported (it registers :class:`~.dlib_resnet_net.PaddedAdd`).

    Raises
    ------
    ValueError
        When the file is not dlib's face ResNet (see :func:`read_network`),
        its input means are not :data:`DLIB_MEAN_RGB` (the ``"dlib"``
        preprocessing), or a shape differs (naming the layer).
    """
    from transfer.features.identity.dlib_resnet_net import build
    from transfer.weights._keras import save_mapped_model

    dest = Path(dest)
    if dest.suffix != ".keras":
        raise ValueError(f"the converted dlib ResNet must be saved as .keras, got {dest}")
    net = read_network(data)
    if not np.allclose(net.means, DLIB_MEAN_RGB, rtol=0, atol=1e-4):
        raise ValueError(
            f"the dlib file's input means {net.means} are not {DLIB_MEAN_RGB}, those of the "
            "'dlib' preprocessing"
        )
    model = build(int(getattr(record, "input_size", 150) or 150))
    return save_mapped_model(model, folded_weights(net), dest, "the dlib .dat", N_PARAMS)
