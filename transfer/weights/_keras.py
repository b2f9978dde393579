"""Set converted arrays on a Keras model, checking every layer (converters' shared step)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np


def save_mapped_weights(
    model: Any, mapping: dict[str, list[np.ndarray]], dest: str | os.PathLike, origin: str
) -> Path:
    """Set ``mapping[layer] = [arrays]`` on ``model`` and save its weights at ``dest``.

    Every layer of ``model`` that has weights must be in ``mapping`` and the
    other way round, and every array must have the shape of the variable it
    replaces.

    Raises
    ------
    ValueError
        Naming the layers without weights or without a layer, or the layer
        whose shapes differ (with both shapes); ``origin`` names the source.
    """
    with_weights = {layer.name for layer in model.layers if layer.weights}
    if with_weights != set(mapping):
        missing = sorted(with_weights - set(mapping))
        extra = sorted(set(mapping) - with_weights)
        raise ValueError(
            f"Keras layers without weights in {origin}: {missing}; weights without a layer: {extra}"
        )
    for name, arrays in mapping.items():
        layer = model.get_layer(name)
        expected = [tuple(w.shape) for w in layer.weights]
        got = [a.shape for a in arrays]
        if expected != got:
            raise ValueError(f"layer {name!r}: expected shapes {expected}, {origin} gives {got}")
        layer.set_weights(arrays)
    dest = Path(dest)
    model.save_weights(str(dest))
    return dest


def save_mapped_model(
    model: Any,
    mapping: dict[str, list[np.ndarray]],
    dest: str | os.PathLike,
    origin: str,
    n_params: int,
) -> Path:
    """:func:`save_mapped_weights`, then the whole model as ``.keras`` at ``dest``.

    The checked weights go to a ``.weights.h5`` beside ``dest`` first (the
    shared check writes weights only), which is removed once the model holds
    them; the model must then count ``n_params`` parameters.

    Raises
    ------
    ValueError
        As :func:`save_mapped_weights`, or when the parameter count differs.
    """
    dest = Path(dest)
    weights_file = dest.with_name(f"{dest.stem}.weights.h5")
    save_mapped_weights(model, mapping, weights_file, origin)
    weights_file.unlink()
    if model.count_params() != n_params:
        raise ValueError(f"the model has {model.count_params()} parameters, expected {n_params}")
    model.save(str(dest))
    return dest
