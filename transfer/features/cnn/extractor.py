"""Features from a pretrained convolutional network (Keras 3, TensorFlow).

:class:`CNNFeatures` reads the activations of one layer of a pretrained
ImageNet network, pooled to a vector. The network is built, and its weights
loaded and checked, on the first ``fit``/``transform``: never at import and
never in ``__init__``; TensorFlow is imported inside methods only.

References
----------
.. [1] A. G. Howard, M. Zhu, B. Chen, D. Kalenichenko, W. Wang, T. Weyand,
   M. Andreetto, H. Adam, "MobileNets: Efficient Convolutional Neural
   Networks for Mobile Vision Applications", arXiv:1704.04861, 2017.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import numbers
from pathlib import Path
from typing import Any

import numpy as np

from transfer._registry import did_you_mean, register_extractor
from transfer._validation import NONE, InstanceOf, Interval, Options
from transfer.features.base import BaseExtractor, as_image_array, stable_hash
from transfer.weights.records import WEIGHTS, get_record, preprocess

__all__ = [
    "STAGES",
    "CNNFeatures",
    "center_crop",
    "imagenet_class_names",
    "imagenet_top_k",
    "to_rgb",
]

#: Named stages of the network, besides any Keras layer name.
STAGES = ("global_pool", "logits", "predictions")
#: Keras layers behind the named stages of keras.applications.MobileNet.
_STAGE_LAYERS = {
    "global_pool": "conv_pw_13_relu",
    "logits": "conv_preds",
    "predictions": "predictions",
}


def to_rgb(images: np.ndarray) -> np.ndarray:
    """Grey ``(n, h, w)`` or ``(n, h, w, 1)`` to RGB; RGBA drops alpha.

    Returns
    -------
    ndarray of shape (n_samples, height, width, 3), float32
    """
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"expected grey (n, h, w[, 1]), RGB or RGBA images, got an array of shape {x.shape}"
        )
    if x.shape[-1] == 1:
        return np.repeat(x, 3, axis=-1)
    return x[..., :3]


def center_crop(images: np.ndarray, resize: int = 256, crop: int = 224) -> np.ndarray:
    """ImageNet evaluation geometry: shorter side to ``resize``, centre ``crop``.

    Parameters
    ----------
    images : ndarray of shape (n_samples, height, width[, channels])
        Values in [0, 255].
    resize, crop : int
        Shorter side after the (bilinear, antialiased) resize; side of the crop.

    Returns
    -------
    ndarray of shape (n_samples, crop, crop, 3), float32
    """
    import tensorflow as tf

    out = []
    for img in to_rgb(images):
        h, w = img.shape[:2]
        scale = resize / min(h, w)
        nh, nw = max(crop, round(h * scale)), max(crop, round(w * scale))
        r = tf.image.resize(img[None], (nh, nw), method="bilinear", antialias=True)[0].numpy()
        top, left = (nh - crop) // 2, (nw - crop) // 2
        out.append(r[top : top + crop, left : left + crop])
    return np.clip(np.stack(out), 0, 255).astype(np.float32)


@functools.cache
def imagenet_class_names() -> tuple[str, ...]:
    """The 1000 ImageNet class names, in Keras' (sorted synset) order.

    Read from a file installed with ``tensorflow-datasets``
    (``tensorflow_datasets/datasets/siscore/labels.py``, the list
    ``IMAGENET_LABELS_LIST``), parsed without importing it: nothing is
    downloaded, unlike ``keras.applications.imagenet_utils.decode_predictions``.

    Raises
    ------
    FileNotFoundError
        When tensorflow-datasets is not installed or the list moved.
    """
    spec = importlib.util.find_spec("tensorflow_datasets")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("ImageNet class names need tensorflow-datasets installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets/siscore/labels.py"
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FileNotFoundError(f"ImageNet class names: cannot read {path}: {exc}") from exc
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "IMAGENET_LABELS_LIST"
        ):
            names = tuple(ast.literal_eval(node.value))
            if len(names) == 1000:
                return names
    raise FileNotFoundError(f"no 1000-name IMAGENET_LABELS_LIST in {path}")


def imagenet_top_k(
    images: Any, k: int = 5, weights: str = "mobilenet_v1_1.0_224"
) -> list[list[tuple[str, float]]]:
    """ImageNet classes of images, for sanity checks of pretrained weights.

    Applies the evaluation geometry (shorter side 256, centre 224 crop, see
    :func:`center_crop`) and the network's softmax.

    Parameters
    ----------
    images : ndarray of shape (n_samples, height, width[, channels])
        Values in [0, 255].
    k : int, default=5
    weights : str, default="mobilenet_v1_1.0_224"

    Returns
    -------
    list of lists of (class name, probability)
        The ``k`` most probable classes per image, most probable first.
    """
    record = get_record(weights)
    size = record.input_size
    crops = center_crop(as_image_array(images), resize=round(size * 256 / 224), crop=size)
    probs = CNNFeatures(weights=weights, layer="predictions", input_size=size).transform(crops)
    names = imagenet_class_names()
    return [[(names[i], float(p[i])) for i in np.argsort(-p)[:k]] for p in probs]


@functools.lru_cache(maxsize=4)
def _compiled_forward(
    weights: str,
    layer: str,
    pooling: str,
    size: int,
    batch_size: int,
    path: str,
    file_id: tuple,
) -> Any:
    """Build the network, load its weights, compile the forward pass.

    Cached so that clones (cross-validation, grid searches) share one model
    instead of rebuilding it; the caller has checked the file's sha256.
    """
    import keras
    import tensorflow as tf

    record = get_record(weights)
    model = keras.applications.MobileNet(
        input_shape=(size, size, 3),
        alpha=1.0,
        weights=None,
        include_top=True,
        classes=record.n_classes,
    )
    model.load_weights(path)
    try:
        output = model.get_layer(_STAGE_LAYERS.get(layer, layer)).output
    except ValueError:
        names = [*STAGES, *(lyr.name for lyr in model.layers)]
        raise ValueError(
            f"CNNFeatures: the model of {weights!r} has no layer {layer!r}."
            f"{did_you_mean(layer, names)} Use one of {STAGES} or a Keras layer name"
        ) from None
    sub = keras.Model(model.inputs, output)
    # named stages have a fixed reduction; "global_pool" is the spatial mean
    reduce = "avg" if layer == "global_pool" else None if layer in STAGES else pooling

    def forward(x):
        y = sub(x, training=False)
        if len(y.shape) == 4 and reduce == "avg":
            y = tf.reduce_mean(y, axis=(1, 2))
        elif len(y.shape) == 4 and reduce == "max":
            y = tf.reduce_max(y, axis=(1, 2))
        return tf.reshape(y, (tf.shape(y)[0], -1))

    spec = tf.TensorSpec((batch_size, size, size, 3), tf.float32)
    return tf.function(forward, input_signature=[spec])


@register_extractor("cnn")
class CNNFeatures(BaseExtractor):
    """Activations of a pretrained CNN layer, pooled to a vector.

    Images are converted to RGB (grey channels repeated), resized to
    ``input_size`` x ``input_size`` with a plain bilinear (antialiased)
    resize that ignores the aspect ratio (no crop: the whole image is kept),
    scaled as the weights' record says, and run through the network in
    inference mode on fixed-size batches (the last one padded) by one
    ``tf.function``.

    Parameters
    ----------
    weights : str, default="mobilenet_v1_1.0_224"
        A name of :data:`transfer.weights.WEIGHTS`; prepared with
        ``transfer weights prepare NAME``.
    layer : str, default="global_pool"
        "global_pool" (the last convolutional block averaged over space:
        1024 features for MobileNet), "logits" (pre-softmax class scores),
        "predictions" (softmax), or the name of any Keras layer of the model.
    pooling : {"avg", "max", "flatten"}, default="avg"
        How a spatial layer ``(h, w, c)`` becomes a vector; ignored for the
        named stages.
    input_size : int, default=224
        Side of the square network input.
    batch_size : int, default=32
        Images per forward pass.
    image_shape : (int, int), optional
        Shape of flattened grey images given as rows of a 2-D array.

    Attributes
    ----------
    image_shape_ : tuple
        Shape of one input image, set by ``fit``.

    References
    ----------
    .. [1] A. G. Howard et al., "MobileNets: Efficient Convolutional Neural
       Networks for Mobile Vision Applications", arXiv:1704.04861, 2017.

    Examples
    --------
    >>> from transfer.features.cnn import CNNFeatures
    >>> CNNFeatures(layer="global_pool").fit_transform(images).shape  # doctest: +SKIP
    (n_images, 1024)
    """

    _parameter_constraints: dict = {
        **BaseExtractor._parameter_constraints,
        "weights": [Options(tuple(sorted(WEIGHTS)))],
        "layer": [InstanceOf(str)],
        "pooling": [Options(("avg", "max", "flatten"))],
        "input_size": [Interval(numbers.Integral, 32, None)],
        "batch_size": [Interval(numbers.Integral, 1, None)],
        "image_shape": [NONE, *BaseExtractor._parameter_constraints["image_shape"][1:]],
    }
    _cache_version = 1

    def __init__(
        self,
        weights: str = "mobilenet_v1_1.0_224",
        layer: str = "global_pool",
        *,
        pooling: str = "avg",
        input_size: int = 224,
        batch_size: int = 32,
        image_shape: Any = None,
    ) -> None:
        self.weights = weights
        self.layer = layer
        self.pooling = pooling
        self.input_size = input_size
        self.batch_size = batch_size
        self.image_shape = image_shape

    @property
    def batch_size_(self) -> int:  # the base class streams batches of this size
        return int(self.batch_size)

    # -- the live model (never pickled) -----------------------------------
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_forward", None)
        state.pop("_forward_key", None)
        return state

    def _model_key(self) -> tuple:
        return (self.weights, self.layer, self.pooling, int(self.input_size), int(self.batch_size))

    def _build(self) -> Any:
        """The compiled forward pass; loads (and checks) the weights on first use."""
        if getattr(self, "_forward_key", None) == self._model_key():
            return self._forward
        from transfer.weights.store import load_path

        path = load_path(self.weights)  # checks the sha256 on every load
        stat = path.stat()  # a re-prepared file must not hit the old model
        self._forward = _compiled_forward(
            *self._model_key(), str(path), (stat.st_size, stat.st_mtime_ns)
        )
        self._forward_key = self._model_key()
        return self._forward

    # -- BaseExtractor ------------------------------------------------------
    def _fit(self, X: Any, y: Any) -> None:
        self._build()

    def _transform_batch(self, images: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        forward = self._build()
        record = get_record(self.weights)
        size, bs = int(self.input_size), int(self.batch_size)
        rgb = to_rgb(images)
        if rgb.shape[1:3] != (size, size):
            rgb = tf.image.resize(rgb, (size, size), method="bilinear", antialias=True).numpy()
        x = preprocess(record, rgb)
        out = []
        for start in range(0, len(x), bs):
            chunk = x[start : start + bs]
            n = len(chunk)
            if n < bs:  # fixed shape: one trace of the tf.function
                pad = np.zeros((bs - n, *chunk.shape[1:]), dtype=np.float32)
                chunk = np.concatenate([chunk, pad])
            out.append(forward(tf.constant(chunk)).numpy()[:n])
        return np.concatenate(out).astype(np.float32, copy=False)

    def cache_key(self) -> str:
        """Covers the class, parameters, weights' sha256, layer and preprocessing."""
        record = get_record(self.weights) if self.weights in WEIGHTS else None
        return stable_hash(
            {
                "class": f"{type(self).__module__}.{type(self).__qualname__}",
                "version": self._cache_version,
                "params": self.get_params(deep=False),
                "weights_sha256": record.sha256 if record else None,
                "converter_version": record.converter_version if record else None,
                "layer": self.layer,
                "preprocessing": record.preprocessing if record else None,
                "resize": "bilinear-antialias",
            }
        )
