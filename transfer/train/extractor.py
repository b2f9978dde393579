"""Features of a network the toolkit trained, frozen at any named layer."""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from transfer._registry import did_you_mean, register_extractor
from transfer._validation import NONE, InstanceOf, Interval, Options, SequenceOf
from transfer.features.base import BaseExtractor

__all__ = ["TrainedFeatures"]


@register_extractor("trained", "A network trained on a dataset A (train: stage), frozen at a layer")
class TrainedFeatures(BaseExtractor):
    """The activations of a trained Keras network at one or more named layers.

    In a recipe, ``network`` names a job of the ``train:`` section and the
    runner trains it (or finds it in the cache) and fills ``weights``; in
    Python, ``weights`` is the ``model.keras`` that ``transfer train`` or
    :func:`transfer.train.train_network` wrote (any Keras model whose input
    takes images in [0, 255] works). Images are brought to the network's
    input: resized (bilinear) when their size differs, grey made RGB or RGB
    made grey (BT.601 luma) when the channels differ.

    Parameters
    ----------
    weights : str or path, optional
        The ``.keras`` file; loaded with ``safe_mode=True``.
    network : str, optional
        A ``train:`` job of the recipe (recipes only).
    layer : str or list of str, default="embedding"
        Layer names (:mod:`transfer.train.architectures` documents them);
        several are concatenated.
    pooling : {"avg", "max", "flatten"}, default="avg"
        How a 4-D feature map becomes a vector.
    batch_size : int, default=256

    References
    ----------
    .. [1] Yosinski, Clune, Bengio, Lipson. "How transferable are features in
       deep neural networks?" NeurIPS 2014.
    """

    _parameter_constraints: dict = {
        **BaseExtractor._parameter_constraints,
        "weights": [NONE, InstanceOf(str), InstanceOf(os.PathLike)],
        "network": [NONE, InstanceOf(str)],
        "layer": [InstanceOf(str), SequenceOf(InstanceOf(str))],
        "pooling": [Options(("avg", "max", "flatten"))],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
    }
    _live_attributes = ("_taps",)

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        network: str | None = None,
        layer: str | Sequence[str] = "embedding",
        pooling: str = "avg",
        batch_size: int = 256,
        image_shape: Any = None,
    ) -> None:
        self.weights = weights
        self.network = network
        self.layer = layer
        self.pooling = pooling
        self.batch_size = batch_size
        self.image_shape = image_shape

    def __transfer_tags__(self) -> dict[str, Any]:
        tags = super().__transfer_tags__()
        tags["kind"] = "learned"
        # a network trained here may take grey images (LeNet-5 on digits)
        tags["colour_input"] = False
        return tags

    def _layers(self) -> tuple[str, ...]:
        return (self.layer,) if isinstance(self.layer, str) else tuple(self.layer)

    def _path(self) -> str:
        if self.weights is None:
            where = (
                f"the recipe's train job {self.network!r} has not been resolved"
                if self.network
                else "no weights given"
            )
            raise ValueError(
                f"TrainedFeatures: {where}; pass weights=PATH to a model.keras written by "
                "`transfer train` (or use network: LABEL inside a recipe)"
            )
        path = os.fspath(self.weights)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"TrainedFeatures: weights file {path!r} does not exist")
        return path

    def _tap(self) -> Any:
        """(model, tap model) built once per process and weights file."""
        tap = self.__dict__.get("_taps")
        if tap is not None and tap[0] == (self._path(), self._layers()):
            return tap[1]
        from transfer._quiet import import_tensorflow

        import_tensorflow()
        import keras

        model = keras.saving.load_model(self._path(), safe_mode=True, compile=False)
        names = [lyr.name for lyr in model.layers]
        outs = []
        for name in self._layers():
            if name not in names:
                raise ValueError(
                    f"TrainedFeatures: the network {self._path()!r} has no layer {name!r}."
                    f"{did_you_mean(name, names)} Layers: {', '.join(names)}"
                )
            outs.append(model.get_layer(name).output)
        sub = keras.Model(model.inputs[0], outs)
        self.__dict__["_taps"] = ((self._path(), self._layers()), (model, sub))
        return model, sub

    def _fine_tuned(self) -> Any:
        """A ``CNNFeatures`` of the weights when they are a fine-tuned network
        (``FineTunedCNN.save``'s card beside them: its preprocessing and input
        size apply), else None."""
        import json

        from transfer.features.cnn.finetune import CARD_FORMAT

        card = os.path.splitext(self._path())[0] + ".json"
        try:
            with open(card, encoding="utf-8") as f:
                fine_tuned = json.load(f).get("format") == CARD_FORMAT
        except (OSError, ValueError):
            fine_tuned = False
        if not fine_tuned:
            return None
        from transfer.features.cnn import CNNFeatures

        return CNNFeatures(self._path(), layer=list(self._layers()), pooling=self.pooling)

    def _fit(self, X: Any, y: Any) -> None:
        delegate = self._fine_tuned()
        if delegate is not None:
            self.delegate_ = delegate.fit(X)
            self.input_shape_ = (int(delegate.input_size_),) * 2 + (3,)
            return
        self.delegate_ = None
        model, _ = self._tap()  # loads and checks the layers now
        self.input_shape_ = tuple(int(s) for s in model.inputs[0].shape[1:])

    def _adapt(self, images: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        x = np.asarray(images, dtype=np.float32)
        if x.ndim == 3:
            x = x[..., None]
        h, w, c = shape
        if x.shape[-1] != c:
            if c == 1:
                luma = np.array([0.299, 0.587, 0.114], dtype=np.float32)
                x = np.tensordot(x[..., :3], luma, axes=([-1], [0]))[..., None]
            else:
                x = np.repeat(x[..., :1], c, axis=-1)
        if x.shape[1:3] != (h, w):
            import tensorflow as tf

            x = tf.image.resize(x, (h, w), method="bilinear", antialias=True).numpy()
        return x

    def _transform_batch(self, images: np.ndarray) -> np.ndarray:
        model, sub = self._tap()
        shape = tuple(int(s) for s in model.inputs[0].shape[1:])
        outs = sub(self._adapt(images, shape), training=False)
        outs = outs if isinstance(outs, list | tuple) else [outs]
        vecs = []
        for y in outs:
            y = np.asarray(y)
            if y.ndim == 4 and self.pooling == "avg":
                y = y.mean(axis=(1, 2))
            elif y.ndim == 4 and self.pooling == "max":
                y = y.max(axis=(1, 2))
            vecs.append(y.reshape(len(y), -1))
        return np.concatenate(vecs, axis=1)

    def transform(self, X: Any) -> np.ndarray:
        """Features at ``layer`` of images ``X`` (values in [0, 255])."""
        check_is_fitted(self, "input_shape_")
        if getattr(self, "delegate_", None) is not None:  # a fine-tuned network
            return self.delegate_.transform(X)
        return super().transform(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False  # the network is trained before; fit only loads it
        return tags

    def _cache_identity(self) -> dict[str, Any]:
        from transfer.weights.store import file_sha256

        path = None if self.weights is None else os.fspath(self.weights)
        if path and os.path.isfile(path):
            return {"weights_sha256": file_sha256(path)}
        return {"pending": path, "network": self.network}

    def cache_key(self) -> str:
        """Covers the parameters and the sha256 of the weights file."""
        from transfer.features.base import stable_hash

        return stable_hash({"base": super().cache_key(), "identity": self._cache_identity()})
