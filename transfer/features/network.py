"""Extractors that run a Keras network: the public base :class:`NetworkExtractor`.

:class:`~transfer.features.cnn.CNNFeatures` (a pretrained ImageNet CNN),
:class:`~transfer.features.cnn.FineTunedCNN` (one fine-tuned on your labels)
and :class:`~transfer.features.identity.FaceNetFeatures` (a face-identity
network) differ only in which network they load and what they do with its
output; :class:`NetworkExtractor` holds what they share:

* **lazy model build**: nothing is loaded in ``__init__`` or at import; the
  network is built, its weights loaded (and sha256-checked) and its feature
  function compiled on the first ``fit``/``transform``, then kept per
  instance and shared by clones through a small process-wide cache;
* **batching**: :func:`run_batches` runs one compiled ``tf.function`` on
  fixed-size batches (the last padded, so it traces once) and fills the
  output in place; image files are decoded by :func:`file_batches`
  (``tf.data``), other inputs are prepared in a background thread;
* **pooling**: :func:`make_forward` resizes, applies the weights'
  preprocessing, runs the network in inference mode and reduces each tapped
  layer to a vector (named stages in :data:`STAGES` or any Keras layer name);
* **pickling**: ``__getstate__`` drops the live model (the compiled
  functions, :attr:`NetworkExtractor._live_attributes`), rebuilt on demand;
* **caching**: :meth:`NetworkExtractor.cache_key` covers the class, the
  parameters and the sha256 of the weights (:func:`weights_identity`).

TensorFlow and Keras are imported inside functions only, through
:func:`transfer._quiet.import_tensorflow` (no start-up notices on stderr).
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import queue
import threading
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from transfer._progress import track
from transfer._quiet import import_tensorflow, notices_dropped
from transfer._registry import did_you_mean
from transfer._validation import validate_params
from transfer.data.imageset import ImageSet
from transfer.features.base import BaseExtractor, stable_hash
from transfer.weights.records import IDENTITY_WEIGHTS, WEIGHTS, get_record, preprocess_mode

if TYPE_CHECKING:
    from transfer.features.cnn.backbones import Backbone

__all__ = [
    "STAGES",
    "NetworkExtractor",
    "ResolvedWeights",
    "extract",
    "file_batches",
    "is_decodable_file_set",
    "layer_names",
    "load_network",
    "make_forward",
    "make_tflite_forward",
    "run_batches",
    "stage_tensor",
    "to_rgb",
    "weights_identity",
]

#: Named stages of a network, besides any Keras layer name.
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


def layer_names(layer: str | Sequence[str]) -> tuple[str, ...]:
    """A ``layer`` parameter (one name or a list) as a tuple of names."""
    return (layer,) if isinstance(layer, str) else tuple(layer)


@dataclass(frozen=True)
class ResolvedWeights:
    """What the ``weights`` (and ``backbone``) of a network extractor point at.

    Attributes
    ----------
    kind : {"prepared", "imagenet", "file", "model"}
        Prepared weights of :data:`transfer.weights.WEIGHTS`, Keras' own
        ImageNet download, a weights file for ``backbone``, or a whole
        ``.keras`` model.
    backbone : Backbone or None
        The architecture to build (None for a whole model).
    path : str or None
        The file to load (None for prepared weights and Keras' download).
    preprocessing : str
        A mode of :func:`transfer.weights.preprocess_mode`.
    input_size : int
        Side of the square network input.
    include_top : bool
        Whether the built network keeps its classifier.
    """

    kind: str
    backbone: Backbone | None
    path: str | None
    preprocessing: str
    input_size: int
    include_top: bool


def load_network(resolved: ResolvedWeights) -> Any:
    """The Keras model behind resolved weights; prepared weights are sha256-checked."""
    import_tensorflow()
    import keras

    if resolved.kind == "model":
        return keras.saving.load_model(resolved.path, compile=False, safe_mode=True)
    bb = resolved.backbone
    if resolved.kind == "imagenet":
        # imported here: transfer.features.cnn imports this module
        from transfer.features.cnn.backbones import keras_imagenet_model

        return keras_imagenet_model(bb, resolved.input_size)
    model = bb.build(resolved.input_size, include_top=resolved.include_top)
    if resolved.kind == "prepared":
        from transfer.weights.store import load_path

        model.load_weights(str(load_path(bb.weights if resolved.path is None else resolved.path)))
    else:
        model.load_weights(resolved.path)
    return model


def stage_tensor(model: Any, layer: str) -> tuple[Any, str | None]:
    """The tensor behind a stage of :data:`STAGES` or a layer name, and how a stage is reduced.

    Returns
    -------
    tensor : KerasTensor
    reduction : {"avg", "softmax"} or None
        None: the pooling of the extractor applies.
    """
    import_tensorflow()
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


def _tap_model(model: Any, layers: Sequence[str], label: str) -> tuple[Any, list]:
    """A Keras model whose outputs are the tensors of ``layers``, and their reductions."""
    import keras

    names = [*STAGES, *(lyr.name for lyr in model.layers)]
    taps = []
    for name in layers:
        try:
            taps.append(stage_tensor(model, name))
        except ValueError as exc:
            if name in STAGES:
                raise ValueError(f"{exc} ({label})") from None
            raise ValueError(
                f"CNNFeatures: {label} has no layer {name!r}.{did_you_mean(name, names)} "
                f"Use one of {STAGES} or a Keras layer name"
            ) from None
    return keras.Model(model.inputs, [t for t, _ in taps]), taps


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
    tf = import_tensorflow()
    sub, taps = _tap_model(model, layers, label)
    size = int(input_size)

    def forward(x):
        if x.shape[1] != size or x.shape[2] != size:
            x = tf.image.resize(x, (size, size), method="bilinear", antialias=True)
        x = preprocess_mode(preprocessing, x)
        return _pooled(sub(x, training=False), taps, pooling, batch_size)

    return tf.function(forward, reduce_retracing=True)


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
    tf = import_tensorflow()
    import keras

    sub, taps = _tap_model(model, layers, label)
    size = int(input_size)
    inp = keras.Input((size, size, 3), batch_size=batch_size)
    x = keras.layers.Lambda(lambda t: preprocess_mode(preprocessing, t))(inp)
    out = _pooled(sub(x), taps, pooling, batch_size)
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    # the converter logs a dozen C++ lines, the interpreter "INFO: Created ... XNNPACK"
    with notices_dropped():
        with contextlib.redirect_stdout(io.StringIO()):  # Keras' export prints every capture
            flat = tf.lite.TFLiteConverter.from_keras_model(keras.Model(inp, out)).convert()
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
    resolved: ResolvedWeights,
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


def file_batches(paths: Sequence[str], size: int, batch_size: int) -> Iterator[np.ndarray]:
    """Decode and resize image files in a ``tf.data`` pipeline, batch by batch.

    Decoding and resizing run in parallel threads and overlap with the
    network's compute (``prefetch``); memory holds a few batches only.

    Yields
    ------
    ndarray of shape (batch_size, size, size, 3), float32
        RGB in [0, 255]; the last batch may be shorter.
    """
    tf = import_tensorflow()

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

    Raises
    ------
    RuntimeError
        When ``batches`` do not hold ``total`` images, naming ``label``.
    """
    tf = import_tensorflow()
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

    Files are decoded by :func:`file_batches` (``tf.data``); anything else
    goes through the estimator's own batching in a background thread.
    """
    bs = estimator.batch_size_
    if is_decodable_file_set(X):
        batches = file_batches([str(p) for p in X.paths], input_size, bs)
    else:
        batches = _prefetch(to_rgb(b) for b in estimator._iter_batches(X))
    return run_batches(forward, batches, len(X), bs, type(estimator).__name__)


def weights_identity(weights: str) -> dict[str, Any]:
    """What identifies the content of ``weights`` in a cache key.

    Parameters
    ----------
    weights : str
        A name of :data:`transfer.weights.WEIGHTS` or
        :data:`~transfer.weights.records.IDENTITY_WEIGHTS`, or a file path.

    Returns
    -------
    dict
        For a known name, the sha256 of its source file, its converter
        version and its preprocessing; for a file, its sha256 (None when it
        does not exist: the extractor fails on ``fit`` anyway).
    """
    if weights in WEIGHTS or weights in IDENTITY_WEIGHTS:
        record = get_record(weights)
        return {
            "sha256": record.sha256,
            "converter_version": record.converter_version,
            "preprocessing": record.preprocessing,
        }
    from transfer.weights.store import sha256_file

    return {"file_sha256": sha256_file(weights) if os.path.isfile(weights) else None}


class NetworkExtractor(BaseExtractor):
    """Base class of extractors whose features come from a Keras network.

    The network is built lazily: :meth:`_forward` compiles the feature
    function of ``layers`` on first use (the first ``fit`` or ``transform``),
    keeps it on the instance, and rebuilds it when a parameter in
    :meth:`_model_key` changes; pickling drops it (``_live_attributes``).
    ``transform`` streams batches of ``batch_size_`` images through it with
    :func:`extract` (files decoded by ``tf.data``, the last batch padded).

    A subclass has parameters ``weights`` and ``batch_size`` (and may have
    ``layer``, ``pooling`` and ``runtime``, read by the default hooks) and
    overrides:

    * :meth:`_resolved` — the :class:`ResolvedWeights` its ``weights`` point
      at (the default :meth:`_make_forward` builds that network);
    * or :meth:`_make_forward` itself, for a network of its own (fine-tuned),
      together with :meth:`_input_size`;
    * :meth:`_finish` to post-process the features (FaceNet's L2 norm);
    * :meth:`_cache_identity` for what, besides the parameters, identifies
      its output in :meth:`cache_key` (by default the weights' sha256 and
      the layers).

    Its extractors are tagged ``{"kind": "learned"}``.
    """

    _live_attributes = ("_forwards", "_forward_key", "_forward_size")

    def __transfer_tags__(self) -> dict[str, Any]:
        tags = super().__transfer_tags__()
        tags["kind"] = "learned"
        return tags

    # -- hooks ---------------------------------------------------------------
    def _resolved(self) -> ResolvedWeights:  # pragma: no cover - subclasses define it
        raise NotImplementedError(f"{type(self).__name__} must define _resolved()")

    def _feature_layers(self) -> tuple[str, ...]:
        """The layers ``transform`` returns (the ``layer`` parameter)."""
        return layer_names(self.layer)

    def _model_key(self) -> tuple:
        """The parameters the compiled functions depend on: a change rebuilds them."""
        return (str(self.weights), int(self.batch_size))

    def _weights_file(self, resolved: ResolvedWeights) -> Path | None:
        """The file the network loads from (checked); its size and mtime key the shared cache."""
        return Path(resolved.path) if resolved.path else None

    def _make_forward(self, layers: tuple[str, ...]) -> Any:
        """Build (or take from the process-wide cache) the feature function of ``layers``."""
        resolved = self._resolved()
        path = self._weights_file(resolved)
        stat = path.stat() if path else None  # a re-prepared file must not hit the old model
        file_id = (str(path), stat.st_size, stat.st_mtime_ns) if stat else ()
        self._forward_size = int(resolved.input_size)
        return _compiled_forward(
            resolved,
            str(self.weights),
            layers,
            getattr(self, "pooling", "avg"),
            int(self.batch_size),
            file_id,
            getattr(self, "runtime", "tensorflow"),
        )

    def _input_size(self) -> int:
        """Side of the network input (image files are decoded at that size)."""
        self._forward()
        return self._forward_size

    def _finish(self, features: np.ndarray) -> np.ndarray:
        """Post-process a block of features; unchanged by default."""
        return features

    def _cache_identity(self) -> dict[str, Any]:
        """What identifies the output besides the parameters (merged into the cache key)."""
        return {
            "weights": weights_identity(str(self.weights)),
            "layers": list(self._feature_layers()),
        }

    # -- the live model ------------------------------------------------------
    def _forward(self, layers: Sequence[str] | None = None) -> Any:
        """The compiled feature function of ``layers`` (default: the extractor's own).

        Built on first use, TensorFlow imported quietly (see
        :mod:`transfer._quiet`); kept until a parameter of
        :meth:`_model_key` changes.
        """
        layers = self._feature_layers() if layers is None else tuple(layers)
        key = self._model_key()
        if self.__dict__.get("_forward_key") != key:
            self.__dict__["_forwards"] = {}
            self.__dict__["_forward_key"] = key
        forwards = self.__dict__["_forwards"]
        if layers not in forwards:
            import_tensorflow()
            forwards[layers] = self._make_forward(layers)
        return forwards[layers]

    def _reset_forward(self) -> None:
        """Forget the compiled functions (after the network changed)."""
        for name in self._live_attributes:
            self.__dict__.pop(name, None)

    # -- BaseExtractor -------------------------------------------------------
    def _fit(self, X: Any, y: Any) -> None:
        self._forward()  # loads (and checks) the weights; an unknown layer fails here

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
        if self.__sklearn_tags__().requires_fit:
            check_is_fitted(self)
        validate_params(self)
        return self._finish(extract(self, self._forward(), X, self._input_size()))

    def _transform_batch(self, images: np.ndarray) -> np.ndarray:
        out = run_batches(
            self._forward(),
            iter([to_rgb(images)]),
            len(images),
            self.batch_size_,
            type(self).__name__,
        )
        return self._finish(out)

    def cache_key(self) -> str:
        """Covers the class, the parameters and :meth:`_cache_identity` (the weights' sha256)."""
        return stable_hash(
            {
                "class": f"{type(self).__module__}.{type(self).__qualname__}",
                "version": self._cache_version,
                "params": {**self.get_params(deep=False), "weights": str(self.weights)},
                "resize": "bilinear-antialias",
                **self._cache_identity(),
            }
        )
