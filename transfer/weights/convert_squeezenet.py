"""Convert the Keras 2 HDF5 weights of SqueezeNet v1.1 (no top) to Keras 3.

The source, ``squeezenet_v1.1_weights_tf_dim_ordering_tf_kernels_notop.h5``
(rcmalli/keras-squeezenet, via DeepCognition/keras-squeezenet), is in the
legacy Keras 2 weights layout: a root attribute ``layer_names`` and one group
per layer whose attribute ``weight_names`` lists its datasets in the layer's
variable order. Only the 25 convolutions hold weights, a kernel
(height, width, in, out) and a bias each: ``conv1`` and
``fire{i}/{squeeze1x1,expand1x1,expand3x3}`` for i = 2..9 (722,496 parameters).
Keras 3 forbids ``/`` in layer names, so they map onto the layers of
:func:`transfer.features.cnn.architectures.squeezenet.build`: ``conv1`` ->
``stem_conv1`` and ``fire{i}/{part}`` -> ``block{i}_{part}``. The arrays are
copied unchanged (the file is already channels-last).

TensorFlow and Keras are imported inside the functions only.

References
----------
.. [1] F. N. Iandola, S. Han, M. W. Moskewicz, K. Ashraf, W. J. Dally,
   K. Keutzer, "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters
   and <0.5MB model size", arXiv:1602.07360, 2016.
.. [2] R. C. Malli, keras-squeezenet, https://github.com/rcmalli/keras-squeezenet.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "N_PARAMS",
    "build_model",
    "convert",
    "h5_layer_name",
    "keras_layer_name",
    "keras_weights",
    "set_weights",
]

#: Parameters of SqueezeNet v1.1 without its classifier.
N_PARAMS = 722_496

_FIRE = re.compile(r"^fire([2-9])/(squeeze1x1|expand1x1|expand3x3)$")


def _text(value: Any) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def keras_layer_name(h5_name: str) -> str:
    """The Keras layer that receives the weights of the HDF5 layer ``h5_name``.

    Raises
    ------
    ValueError
        Naming the layer, if it is not a SqueezeNet v1.1 convolution.
    """
    if h5_name == "conv1":
        return "stem_conv1"
    match = _FIRE.match(h5_name)
    if match is None:
        raise ValueError(
            f"the HDF5 layer {h5_name!r} holds weights but is not a SqueezeNet v1.1 convolution "
            "('conv1' or 'fire{2..9}/{squeeze1x1,expand1x1,expand3x3}')"
        )
    return f"block{match.group(1)}_{match.group(2)}"


def h5_layer_name(keras_name: str) -> str:
    """The HDF5 name of the Keras layer ``keras_name`` (inverse of :func:`keras_layer_name`)."""
    if keras_name == "stem_conv1":
        return "conv1"
    match = re.match(r"^block([2-9])_(squeeze1x1|expand1x1|expand3x3)$", keras_name)
    return f"fire{match.group(1)}/{match.group(2)}" if match else keras_name


def _both(keras_name: str) -> str:
    return f"{keras_name!r} (HDF5 {h5_layer_name(keras_name)!r})"


def keras_weights(h5_data: bytes) -> dict[str, list[np.ndarray]]:
    """Read the Keras 2 HDF5 bytes and map its weights onto Keras layer names.

    Parameters
    ----------
    h5_data : bytes
        The content of the legacy Keras 2 weights file.

    Returns
    -------
    dict
        ``{keras_layer_name: [kernel, bias]}`` (float32), in the file's order;
        layers without weights (ReLU, pools, concat, dropout) are skipped.

    Raises
    ------
    ValueError
        If the bytes are not a Keras 2 weights file (no ``layer_names``), a
        listed layer or weight is missing, or a layer holding weights is not
        one of SqueezeNet's convolutions; the message names the layer.
    """
    import h5py

    try:
        f = h5py.File(io.BytesIO(h5_data), "r")
    except OSError as exc:
        raise ValueError(f"the SqueezeNet weights are not an HDF5 file: {exc}") from exc
    with f:
        root = f["model_weights"] if "model_weights" in f else f  # a whole-model save
        if "layer_names" not in root.attrs:
            raise ValueError(
                "the HDF5 file has no 'layer_names' attribute: it is not a Keras 2 weights file"
            )
        out: dict[str, list[np.ndarray]] = {}
        for raw in root.attrs["layer_names"]:
            name = _text(raw)
            if name not in root:
                raise ValueError(f"the HDF5 layer {name!r} is listed in 'layer_names' but absent")
            group = root[name]
            weight_names = [_text(w) for w in group.attrs.get("weight_names", [])]
            if not weight_names:
                continue
            target = keras_layer_name(name)
            if target in out:
                raise ValueError(f"the HDF5 layer {name!r} appears twice")
            arrays = []
            for w in weight_names:
                if w not in group:
                    raise ValueError(f"the HDF5 layer {name!r} lists the weight {w!r} but lacks it")
                arrays.append(np.asarray(group[w][()], dtype=np.float32))
            out[target] = arrays
    return out


def build_model(input_size: int = 227) -> Any:
    """An untrained SqueezeNet v1.1 without its top (512-d ``global_pool`` output)."""
    from transfer.features.cnn.architectures import squeezenet

    return squeezenet.build((input_size, input_size, 3), include_top=False)


def set_weights(model: Any, mapping: dict[str, list[np.ndarray]]) -> None:
    """Set ``mapping`` onto ``model``, requiring a one-to-one, shape-exact match.

    Raises
    ------
    ValueError
        Naming the layer: a mapped layer the model lacks, a shape mismatch, or a
        model layer with weights that the mapping leaves unset.
    """
    for name, arrays in mapping.items():
        try:
            layer = model.get_layer(name)
        except ValueError:
            raise ValueError(
                f"the weights of layer {_both(name)} have no counterpart in the Keras model"
            ) from None
        expected = [tuple(w.shape) for w in layer.weights]
        got = [tuple(a.shape) for a in arrays]
        if expected != got:
            raise ValueError(
                f"layer {_both(name)}: expected shapes {expected}, the file gives {got}"
            )
        layer.set_weights(arrays)
    unset = [layer.name for layer in model.layers if layer.weights and layer.name not in mapping]
    if unset:
        raise ValueError(
            "the file has no weights for the layers " + ", ".join(_both(n) for n in unset)
        )


def convert(data: bytes, dest: str | os.PathLike, record: Any = None) -> Path:
    """Convert the Keras 2 HDF5 bytes ``data`` to a Keras 3 ``.weights.h5`` at ``dest``.

    Parameters
    ----------
    data : bytes
        The source file (already checked against its sha256).
    dest : str or Path
        Output path; must end in ``.weights.h5``.
    record : WeightsRecord, optional
        Gives the input size (default 227); the weights do not depend on it.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    ValueError
        Naming the layer, when the file does not match SqueezeNet v1.1 (see
        :func:`keras_weights` and :func:`set_weights`), or when not all
        722,496 parameters are set.
    """
    size = int(getattr(record, "input_size", 0) or 227)
    model = build_model(size)
    mapping = keras_weights(data)
    set_weights(model, mapping)
    n = sum(int(a.size) for arrays in mapping.values() for a in arrays)
    if n != N_PARAMS or model.count_params() != N_PARAMS:
        raise ValueError(f"expected {N_PARAMS} parameters, the file gives {n}")
    dest = Path(dest)
    model.save_weights(str(dest))
    return dest
