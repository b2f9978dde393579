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
  parameters and the sha256 of the weights (:func:`weights_identity`);
* **engine**: :func:`build_forward` converts the feature function to a
  TensorFlow Lite flat buffer and runs it on the fastest engine of
  :data:`ENGINES` (TFLite with XNNPACK; OpenVINO when installed) that
  matches TensorFlow on a few images, else on TensorFlow
  (``runtime="auto"``); converted networks and the verdicts are cached on
  disk (:func:`runtime_cache_dir`).

TensorFlow and Keras are imported inside functions only, through
:func:`transfer._quiet.import_tensorflow` (no start-up notices on stderr).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import logging
import os
import queue
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from transfer._io import atomic_write, default_cache_dir
from transfer._progress import track
from transfer._quiet import import_tensorflow, notices_dropped
from transfer._registry import did_you_mean
from transfer._validation import validate_params
from transfer.data.imageset import ImageSet
from transfer.features.base import BaseExtractor, stable_hash
from transfer.weights.records import (
    IDENTITY_WEIGHTS,
    WEIGHTS,
    canonical_weights,
    get_record,
    preprocess_mode,
)

if TYPE_CHECKING:
    from transfer.features.cnn.backbones import Backbone

__all__ = [
    "ENGINES",
    "RUNTIMES",
    "STAGES",
    "AutoForward",
    "NetworkExtractor",
    "OpenVINOForward",
    "ResolvedWeights",
    "TFLiteForward",
    "build_forward",
    "engine_of",
    "extract",
    "file_batches",
    "is_decodable_file_set",
    "layer_names",
    "load_network",
    "make_forward",
    "make_tflite_forward",
    "model_digest",
    "run_batches",
    "runtime_cache_dir",
    "stage_tensor",
    "to_rgb",
    "weights_identity",
]

#: Named stages of a network, besides any Keras layer name.
STAGES = ("global_pool", "logits", "predictions")
#: A Keras model whose name ends so has independent sigmoid outputs (a
#: multi-label classifier, such as a network fine-tuned on face attributes):
#: its "predictions" stage is the sigmoid of the logits, not their softmax.
MULTILABEL_SUFFIX = "_multilabel"
#: Values of the ``runtime`` parameter: "auto" is the fastest verified engine, else TensorFlow;
#: the others force one engine (an engine of :data:`ENGINES` raises when it does not match).
RUNTIMES = ("auto", "tensorflow", "tflite", "openvino")
#: Largest difference allowed between an engine and TensorFlow, per unit of feature scale.
VERIFY_TOLERANCE = 1e-4
#: Images in one ``transform`` from which "auto" converts a network it has not cached.
AUTO_MIN_IMAGES = 256
#: "auto" keeps TensorFlow when it runs the check in under this share of the best engine's time.
SLOWER_MARGIN = 0.8
#: Images of the timed batch of the check (its images repeated): a batch, not one image,
#: since engines rank differently on a single image than on the batches of ``transform``.
TIMING_IMAGES = 16
#: Format of the converted-engine cache entries (a change orphans the old ones).
_ENGINE_FORMAT = 2
#: Sub-batches queued per OpenVINO stream for one batch: more than one, so that a
#: stream slowed down (a core shared with decoding) leaves its last part to another.
OPENVINO_JOBS_PER_STREAM = 2

logger = logging.getLogger("transfer")


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
    reduction : {"avg", "softmax", "sigmoid"} or None
        None: the pooling of the extractor applies. "predictions" is the
        softmax of the logits, or their sigmoid for a multi-label model
        (name ending in :data:`MULTILABEL_SUFFIX`).
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
        if layer == "logits":
            return out, None
        return out, "sigmoid" if model.name.endswith(MULTILABEL_SUFFIX) else "softmax"
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


def _pooled(outs: Any, taps: list, pooling: str) -> Any:
    """Reduce each tapped output to ``(n, k)`` and concatenate (``keras.ops``).

    ``k`` is static (the input side is fixed) and the batch is not: the same
    graph serves any batch size, so one converted engine does too.
    """
    import keras

    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    vecs = []
    for y, (_, stage) in zip(outs, taps, strict=True):
        reduce = stage or pooling
        if len(y.shape) == 4 and reduce == "avg":
            y = keras.ops.mean(y, axis=(1, 2))
        elif len(y.shape) == 4 and reduce == "max":
            y = keras.ops.max(y, axis=(1, 2))
        y = keras.ops.reshape(y, (-1, int(np.prod(y.shape[1:]))))
        if stage == "softmax":
            y = keras.ops.softmax(y)
        elif stage == "sigmoid":
            y = keras.ops.sigmoid(y)
        vecs.append(y)
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

    The returned ``tf.function`` takes a batch of RGB images with values in
    [0, 255] (any height and width: resized inside to ``input_size``; any
    batch size, though :func:`run_batches` always gives ``batch_size`` so that
    it traces once), applies ``preprocessing`` (a mode of
    :func:`transfer.weights.preprocess_mode`), runs the network in inference
    mode, reduces each of ``layers`` (stages or Keras layer names) to a
    vector and concatenates them into ``(n, n_features)``.

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
        return _pooled(sub(x, training=False), taps, pooling)

    return tf.function(forward, reduce_retracing=True)


def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, not the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _engine_input(x: Any, size: int) -> np.ndarray:
    """A batch as an engine takes it: resized to ``size`` when it is not, C-contiguous float32."""
    if x.shape[1] != size or x.shape[2] != size:
        tf = import_tensorflow()
        x = tf.image.resize(x, (size, size), method="bilinear", antialias=True)
    return np.ascontiguousarray(np.asarray(x), dtype=np.float32)


class TFLiteForward:
    """A feature function run by the TensorFlow Lite interpreter (XNNPACK kernels).

    Takes what :func:`make_forward`'s function takes (a batch of RGB images
    in [0, 255], resized here when their side is not ``input_size``) and
    returns an ``(n, n_features)`` array. The flat buffer has a free batch
    dimension: the interpreter's tensors are re-allocated when the batch size
    changes (once, with ``run_batches``' fixed batches). One interpreter, with
    as many threads as this process may use; calls are serialised by a lock
    (an interpreter is not thread-safe).
    """

    runtime = "tflite"

    def __init__(self, flatbuffer: bytes, input_size: int) -> None:
        tf = import_tensorflow()
        with notices_dropped():  # "INFO: Created TensorFlow Lite XNNPACK delegate"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tf.lite.Interpreter announces its move to LiteRT
                self._interpreter = tf.lite.Interpreter(
                    model_content=flatbuffer, num_threads=_usable_cpus()
                )
            self._interpreter.allocate_tensors()
        self._in = self._interpreter.get_input_details()[0]["index"]
        self._out = self._interpreter.get_output_details()[0]["index"]
        self._size = int(input_size)
        self._batch = None
        self._lock = threading.Lock()

    def __call__(self, x: Any) -> np.ndarray:
        x = _engine_input(x, self._size)
        with self._lock:
            if self._batch != len(x):
                self._interpreter.resize_tensor_input(self._in, x.shape, strict=False)
                self._interpreter.allocate_tensors()
                self._batch = len(x)
            self._interpreter.set_tensor(self._in, x)
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._out).copy()


class OpenVINOForward:
    """A feature function run by OpenVINO's CPU plugin, read from the TFLite flat buffer.

    Takes and returns what :class:`TFLiteForward` does. The network is read
    by OpenVINO's TensorFlow Lite front end (so one converted flat buffer,
    cached once, serves every engine) and compiled for FP32 inference
    (``INFERENCE_PRECISION_HINT="f32"``: on CPUs with AMX or AVX-512 BF16,
    OpenVINO would otherwise run in bfloat16, far from TensorFlow's
    features) in throughput mode: several single-threaded streams, as many
    as OpenVINO chooses for the CPUs this process may use. Single-threaded
    streams need no barrier between threads, which keeps a shared machine
    (another job taking a core for a moment) from stalling every layer.
    Each batch is cut into sub-batches of :meth:`sub_batch` images, at least
    :data:`OPENVINO_JOBS_PER_STREAM` per stream, queued on an
    ``AsyncInferQueue``: a stream that finishes early takes the next
    sub-batch instead of waiting for a slower one (a core shared with
    ``tf.data``'s decoding of the next batch, or with another job). The
    inputs are shared with OpenVINO, not copied.

    Requires the optional package ``openvino``.
    """

    runtime = "openvino"

    def __init__(self, flatbuffer: bytes, input_size: int) -> None:
        import openvino as ov

        core = ov.Core()
        cpus = _usable_cpus()
        # OpenVINO's readers take a path, not bytes; the network is in memory once compiled
        with tempfile.TemporaryDirectory(prefix="transfer-openvino-") as tmp:
            path = Path(tmp) / "network.tflite"
            path.write_bytes(flatbuffer)
            model = core.read_model(str(path))
            self._compiled = core.compile_model(
                model,
                "CPU",
                {
                    "INFERENCE_PRECISION_HINT": "f32",
                    "PERFORMANCE_HINT": "THROUGHPUT",
                    "INFERENCE_NUM_THREADS": cpus,
                },
            )
        self.streams = max(1, int(self._compiled.get_property("NUM_STREAMS")))
        self._queue = ov.AsyncInferQueue(self._compiled, self.streams)
        self._size = int(input_size)
        self._lock = threading.Lock()

    def sub_batch(self, n: int) -> int:
        """Images per queued request for a batch of ``n``: about ``n / (streams x jobs)``."""
        jobs = self.streams * OPENVINO_JOBS_PER_STREAM if self.streams > 1 else 1
        return max(1, -(-int(n) // jobs))

    def __call__(self, x: Any) -> np.ndarray:
        x = _engine_input(x, self._size)
        step = self.sub_batch(len(x))
        starts = range(0, len(x), step)
        parts: list[np.ndarray | None] = [None] * len(starts)

        def done(request: Any, i: int) -> None:
            parts[i] = request.get_output_tensor(0).data.copy()

        with self._lock:
            self._queue.set_callback(done)
            for i, start in enumerate(starts):
                # x outlives wait_all: OpenVINO reads the sub-batch in place
                self._queue.start_async({0: x[start : start + step]}, i, share_inputs=True)
            self._queue.wait_all()
        return np.concatenate(parts)


#: The engines that run a converted network (its TFLite flat buffer): name -> (the
#: package it needs, or None when TensorFlow has it; its class). "auto" tries each
#: one that is installed and runs the fastest that matches TensorFlow.
ENGINES: dict[str, tuple[str | None, type]] = {
    "tflite": (None, TFLiteForward),
    "openvino": ("openvino", OpenVINOForward),
}
#: How log lines and errors name the engines.
_ENGINE_NAMES = {"tflite": "TFLite", "openvino": "OpenVINO", "tensorflow": "TensorFlow"}


def _installed_engines() -> dict[str, str]:
    """The engines of :data:`ENGINES` whose package is installed, with its version."""
    out = {}
    for name, (package, _) in ENGINES.items():
        if package is None:
            out[name] = ""
            continue
        if importlib.util.find_spec(package) is None:
            logger.debug("engine %s skipped: the package %r is not installed", name, package)
            continue
        try:
            out[name] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:  # importable but not installed by pip
            out[name] = "unknown"
    return out


def engine_of(forward: Any) -> str:
    """Which engine runs a feature function: a name of :data:`ENGINES` or "tensorflow"."""
    return getattr(forward, "runtime", "tensorflow")


def _convert(forward: Any, input_size: int) -> tuple[bytes, Any]:
    """The TFLite flat buffer of a :func:`make_forward` function, any batch size.

    The function is traced once, for a free batch size; that trace has its
    variables frozen into constants and is converted as it is (no second
    trace through Keras' export, which costs 3-5x more time on MobileNet).

    Returns
    -------
    flatbuffer : bytes
    traced : ConcreteFunction
        The TensorFlow trace it was converted from (the reference of its check).
    """
    tf = import_tensorflow()
    # no public API freezes a concrete function; a missing one only means fallback
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    # a trace of its own at the input size: the extractor's function may have been
    # traced for other sizes already (then generalised, resize included, which TFLite lacks)
    spec = tf.TensorSpec((None, input_size, input_size, 3), tf.float32)
    traced = tf.function(forward.python_function, input_signature=[spec]).get_concrete_function()
    frozen = convert_variables_to_constants_v2(traced)
    absl = logging.getLogger("absl")
    level = absl.level
    # the converter logs a dozen C++ lines; absl warns that a frozen function has no
    # trackable object (it has no variables left to track)
    with notices_dropped(), contextlib.redirect_stdout(io.StringIO()):
        absl.setLevel(logging.ERROR)
        try:
            return tf.lite.TFLiteConverter.from_concrete_functions([frozen]).convert(), traced
        finally:
            absl.setLevel(level)


def make_tflite_forward(
    model: Any,
    layers: Sequence[str],
    *,
    preprocessing: str,
    input_size: int,
    pooling: str = "avg",
    batch_size: int = 32,
    label: str = "the model",
) -> TFLiteForward:
    """The feature function of :func:`make_forward`, converted to TensorFlow Lite (XNNPACK).

    The preprocessing, network, pooling and concatenation are converted into
    one TFLite flat buffer (any batch size). Neither verified nor cached:
    :func:`build_forward` (the extractors' ``runtime``) does both.
    """
    forward = make_forward(
        model,
        layers,
        preprocessing=preprocessing,
        input_size=input_size,
        pooling=pooling,
        batch_size=batch_size,
        label=label,
    )
    return TFLiteForward(_convert(forward, int(input_size))[0], int(input_size))


def model_digest(model: Any) -> str:
    """sha256 over every weight array of a Keras model (dtypes, shapes, values, in order).

    Stable across saves and processes, unlike the bytes of a ``.keras`` file,
    and free of names (Keras numbers unnamed layers per process); identifies
    a network built in memory (fine-tuned) as well as a loaded one.
    """
    h = hashlib.sha256()
    for w in model.weights:
        a = np.ascontiguousarray(np.asarray(w.numpy()))
        h.update(f"{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _unnamed(config: Any) -> Any:
    """A layer config without its (per-process) names."""
    if isinstance(config, dict):
        return {k: _unnamed(v) for k, v in config.items() if k != "name"}
    if isinstance(config, (list, tuple)):
        return [_unnamed(v) for v in config]
    return config


def _architecture(model: Any) -> str:
    """sha256 of the layers' classes and configurations (activations, strides), names left out."""
    h = hashlib.sha256()
    for layer in model.layers:
        h.update(type(layer).__name__.encode())
        try:
            h.update(json.dumps(_unnamed(layer.get_config()), sort_keys=True, default=str).encode())
        except Exception:  # a layer without a usable config: its class and weights only
            pass
    return h.hexdigest()


def runtime_cache_dir() -> Path:
    """Where converted engines are kept: ``default_cache_dir() / "engines"``."""
    return default_cache_dir() / "engines"


def verification_images(input_size: int) -> np.ndarray:
    """The images an engine is checked on: 3 photos and 1 noise image, deterministic.

    scikit-image's ``chelsea`` (a cat), ``coffee`` and ``astronaut`` (a face),
    shipped with the package (nothing downloaded), and uniform noise (seed 0),
    resized like every input to ``input_size``.

    Returns
    -------
    ndarray of shape (4, input_size, input_size, 3), float32
        RGB in [0, 255].
    """
    tf = import_tensorflow()
    from skimage import data

    size = int(input_size)
    photos = [data.chelsea(), data.coffee(), data.astronaut()]
    out = [
        tf.image.resize(np.asarray(p, np.float32), (size, size), antialias=True).numpy()
        for p in photos
    ]
    out.append(np.random.default_rng(0).uniform(0, 255, (size, size, 3)).astype(np.float32))
    return np.clip(np.stack(out), 0.0, 255.0)


def _verify(reference: Any, engines: dict[str, Any], input_size: int) -> dict[str, Any]:
    """Check ``engines`` against ``reference`` on :func:`verification_images`, and time them.

    The compared batch holds the 4 images and a black one (what pads the
    last batch of ``run_batches``). Then the reference and every engine that
    matched in shape and finiteness run :data:`TIMING_IMAGES` images (those
    repeated) 3 times, interleaved; the best times are kept.

    Returns
    -------
    dict
        ``scale``, the largest absolute feature of the reference;
        ``tensorflow_s``, its best time; ``engines``, for each engine its
        ``max_abs_diff`` and ``seconds`` (or its ``error`` when it failed to
        run).
    """
    tf = import_tensorflow()
    images = verification_images(input_size)
    images = np.concatenate([images, np.zeros_like(images[:1])])
    ref = np.asarray(reference(tf.constant(images)), dtype=np.float64)
    scale = float(np.max(np.abs(ref)))
    results: dict[str, dict[str, Any]] = {}
    for name, engine in engines.items():
        try:
            got = np.asarray(engine(images), dtype=np.float64)
        except Exception as exc:  # an engine that cannot run this network is not used
            results[name] = {"error": f"{type(exc).__name__}: {exc}".strip()[:2000]}
            continue
        ok_shape = got.shape == ref.shape and bool(np.all(np.isfinite(got)))
        diff = float(np.max(np.abs(got - ref))) if ok_shape else float("inf")
        results[name] = {"max_abs_diff": diff}
    timed = np.resize(images, (TIMING_IMAGES, *images.shape[1:]))  # the 5 images, repeated
    batch = tf.constant(timed)
    runs = {"tensorflow": lambda: np.asarray(reference(batch))}
    for name, engine in engines.items():
        if np.isfinite(results[name].get("max_abs_diff", np.inf)):
            runs[name] = functools.partial(engine, timed)
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(3):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - t0)
    for name in runs.keys() - {"tensorflow"}:
        results[name]["seconds"] = best[name]
    return {"scale": scale, "tensorflow_s": best["tensorflow"], "engines": results}


def _engine_key(model: Any, layers: Sequence[str], settings: dict[str, Any]) -> str:
    """Disk-cache key of a converted engine: the network's content and everything traced."""
    tf = import_tensorflow()
    import keras

    return stable_hash(
        {
            "format": _ENGINE_FORMAT,
            "weights": model_digest(model),
            "architecture": _architecture(model),
            "layers": list(layers),
            **settings,
            # installing or upgrading an engine's package checks the network again
            "engines": _installed_engines(),
            "tolerance": VERIFY_TOLERANCE,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
        }
    )


def _passed(record: dict) -> dict[str, dict]:
    """The engines of a check's record that matched TensorFlow, with their results."""
    engines = record.get("engines")
    if not isinstance(engines, dict):
        raise ValueError("no 'engines' in the record")
    return {name: r for name, r in engines.items() if isinstance(r, dict) and r.get("ok")}


def _read_engine(key: str) -> tuple[dict, bytes | None] | None:
    """A cached engine record and flat buffer; None when absent or damaged (then rebuilt)."""
    folder = runtime_cache_dir() / key[:2]
    meta_path, flat_path = folder / f"{key}.json", folder / f"{key}.tflite"
    if not meta_path.exists():
        return None
    try:
        record = json.loads(meta_path.read_text())
        if not _passed(record):
            return record, None
        flat = flat_path.read_bytes()
        if hashlib.sha256(flat).hexdigest() != record["sha256"]:
            raise ValueError(f"sha256 mismatch of {flat_path}")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        logger.warning("engine cache entry %s is damaged (%s): converting again", key, exc)
        return None
    return record, flat


def _write_engine(key: str, record: dict, flat: bytes | None) -> None:
    """Store an engine (flat buffer first, then its record); a failed write only warns."""
    folder = runtime_cache_dir() / key[:2]
    try:
        if flat is not None:
            atomic_write(folder / f"{key}.tflite", lambda f: f.write(flat))
        text = json.dumps(record, indent=1).encode()
        atomic_write(folder / f"{key}.json", lambda f: f.write(text))
    except OSError as exc:
        logger.warning("cannot cache the converted engine in %s: %s", folder, exc)


def build_forward(
    model: Any,
    layers: Sequence[str],
    *,
    preprocessing: str,
    input_size: int,
    pooling: str = "avg",
    batch_size: int = 32,
    label: str = "the model",
    runtime: str = "auto",
    cache: bool = True,
) -> Any:
    """The feature function of a network on the fastest verified engine.

    ``runtime="tensorflow"`` gives :func:`make_forward`'s ``tf.function``.
    Otherwise that function is frozen and converted to a TensorFlow Lite
    flat buffer, and each engine of :data:`ENGINES` whose package is
    installed loads it: TFLite (XNNPACK, :class:`TFLiteForward`) and, with
    the optional ``openvino`` package, OpenVINO (:class:`OpenVINOForward`;
    absent, it is skipped with a DEBUG line). Each one runs
    :func:`verification_images` beside the TensorFlow function and matches
    when its largest difference is at most ``VERIFY_TOLERANCE * max(1,
    scale)`` (``scale``: the largest absolute feature of TensorFlow;
    features L2-normalised afterwards differ even less). "auto" runs the
    fastest engine that matches (timed on :data:`TIMING_IMAGES` images
    beside TensorFlow), unless TensorFlow runs them in under
    ``SLOWER_MARGIN`` of that engine's time (then TensorFlow, with an INFO
    line). An engine that does not match, or fails, is named in one warning
    on the ``"transfer"`` logger (the network, the layers, the difference)
    that says what runs instead; when none matches (or the conversion
    fails) that is TensorFlow. "tflite" and "openvino" force their engine
    and raise instead. These convert at once; "auto" does when its verdict
    is cached, else on the first :func:`extract` of at least
    :data:`AUTO_MIN_IMAGES` images (:class:`AutoForward`): a conversion
    costs more than it saves on a few images.

    With ``cache``, the flat buffer and the check's results are kept in
    :func:`runtime_cache_dir`, keyed by the sha256 of the network's weights
    (:func:`model_digest`), its architecture, ``layers``, ``pooling``,
    ``input_size``, ``preprocessing``, the installed engines' versions and
    the TensorFlow and Keras versions (not the batch size: the engines take
    any): another process (or extractor) loads it, and the verdicts and
    timings, without converting or checking again. Entries are written
    atomically and carry the buffer's sha256; a damaged one is converted
    again.

    Parameters
    ----------
    model : keras.Model
    layers : sequence of str
        Stages of :data:`STAGES` or Keras layer names.
    preprocessing : str
        A mode of :func:`transfer.weights.preprocess_mode`.
    input_size, pooling, batch_size, label
        As for :func:`make_forward`.
    runtime : {"auto", "tensorflow", "tflite", "openvino"}, default="auto"
    cache : bool, default=True
        Read and write the disk cache.

    Returns
    -------
    callable
        A batch of ``batch_size`` images to ``(batch_size, n_features)``;
        :func:`engine_of` tells which engine runs it.

    Raises
    ------
    RuntimeError
        With ``runtime="tflite"`` or ``"openvino"``, when the conversion
        fails or the engine differs from TensorFlow, or (OpenVINO) its
        package is not installed.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"'runtime' must be one of {RUNTIMES}, got {runtime!r}")
    if runtime in ENGINES and runtime not in _installed_engines():
        raise RuntimeError(
            f"runtime={runtime!r} needs the package {ENGINES[runtime][0]!r}: "
            f"pip install {ENGINES[runtime][0]}"
        )
    size, layers = int(input_size), tuple(layers)
    reference = make_forward(
        model,
        layers,
        preprocessing=preprocessing,
        input_size=size,
        pooling=pooling,
        batch_size=batch_size,
        label=label,
    )
    if runtime == "tensorflow":
        return reference
    settings = {  # not the batch size: the engines take any
        "pooling": pooling,
        "input_size": size,
        "preprocessing": preprocessing,
    }
    key = _engine_key(model, layers, settings) if cache else None
    cached = _read_engine(key) if key else None
    if runtime != "auto" or cached is not None:
        return _choose(reference, runtime, key, cached, label, layers, settings)
    return AutoForward(reference, key, label, layers, settings)


def _check(
    reference: Any, label: str, layers: tuple[str, ...], settings: dict[str, Any]
) -> tuple[dict, bytes | None]:
    """Convert the network, load it on every installed engine and check each one.

    Returns
    -------
    record : dict
        What the cache keeps: the settings, ``scale``, ``tensorflow_s``,
        ``tolerance`` and, per engine, ``ok``, ``max_abs_diff`` and
        ``seconds`` (or ``error``); ``error`` alone when the conversion failed.
    flatbuffer : bytes or None
    """
    size = settings["input_size"]
    record: dict[str, Any] = {"label": label, "layers": list(layers), **settings, "engines": {}}
    try:
        flat, traced = _convert(reference, size)
    except Exception as exc:  # any converter failure means TensorFlow
        record["error"] = f"{type(exc).__name__}: {exc}".strip()[:2000]
        return record, None
    engines, failed = {}, {}
    for name in _installed_engines():
        try:
            engines[name] = ENGINES[name][1](flat, size)
        except Exception as exc:  # an engine that cannot load this network is not used
            failed[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}".strip()[:2000]}
    check = _verify(traced, engines, size) if engines else {"scale": 1.0, "engines": {}}
    tol = VERIFY_TOLERANCE * max(1.0, check["scale"])
    for result in check["engines"].values():
        result["ok"] = bool(result.get("max_abs_diff", np.inf) <= tol)
    record.update(check, tolerance=tol, sha256=hashlib.sha256(flat).hexdigest())
    record["engines"].update(failed)
    return record, flat


def _mismatch(name: str, result: dict, record: dict) -> str:
    """Why an engine is not used, for a log line or an error."""
    shown = _ENGINE_NAMES.get(name, name)
    if "error" in result:
        return f"{shown} failed ({result['error'].splitlines()[0]})"
    return (
        f"{shown} differs from TensorFlow by {result['max_abs_diff']:.3g} "
        f"(more than {record['tolerance']:.3g})"
    )


def _choose(
    reference: Any,
    runtime: str,
    key: str | None,
    cached: tuple[dict, bytes | None] | None,
    label: str,
    layers: tuple[str, ...],
    settings: dict[str, Any],
) -> Any:
    """The engine :func:`build_forward` decides on: converted and checked unless ``cached``."""
    size = settings["input_size"]
    if cached is not None:
        record, flat = cached
    else:
        record, flat = _check(reference, label, layers, settings)
        if key:
            _write_engine(key, record, flat if _passed(record) else None)
    where = f"{label}, layers {', '.join(layers)}"
    passed = _passed(record)
    if "error" in record:
        reasons = [f"its TFLite conversion failed ({record['error'].splitlines()[0]})"]
    else:
        reasons = [
            _mismatch(name, result, record)
            for name, result in record["engines"].items()
            if name not in passed
        ]
    if runtime in ENGINES:
        if runtime in passed:
            return ENGINES[runtime][1](flat, size)
        why = reasons[0] if "error" in record else None
        if why is None:
            result = record["engines"].get(runtime, {"error": "not checked"})
            why = _mismatch(runtime, result, record)
        raise RuntimeError(f"runtime={runtime!r}: {where}: {why}")
    chosen = min(passed, key=lambda name: passed[name].get("seconds", 0.0)) if passed else None
    if chosen is not None:
        engine_s = passed[chosen].get("seconds", 0.0)
        tf_s = record.get("tensorflow_s", float("inf"))
        # a clear margin: a verdict timed on a busy machine must not flip a 2x engine
        if tf_s < SLOWER_MARGIN * engine_s:
            logger.info(
                "%s: TensorFlow is faster here than %s (%.3g s vs %.3g s on the check's "
                "images): running TensorFlow",
                where,
                _ENGINE_NAMES[chosen],
                tf_s,
                engine_s,
            )
            chosen = None
    engine = None
    if chosen is not None:
        try:
            engine = ENGINES[chosen][1](flat, size)
        except Exception as exc:  # loads in the check, but not here (a changed machine)
            reasons.append(_mismatch(chosen, {"error": f"{type(exc).__name__}: {exc}"}, record))
    if reasons:
        instead = _ENGINE_NAMES[engine_of(engine)] if engine is not None else "TensorFlow"
        logger.warning("%s: %s; running %s instead", where, "; ".join(reasons), instead)
    return engine if engine is not None else reference


class AutoForward:
    """The "auto" feature function while no engine is cached: TensorFlow until it pays.

    A conversion costs seconds (2-3 s for a MobileNet, 15-30 s for FaceNet on
    2 cores) and an engine saves a few milliseconds per image, so the network
    is converted and checked (:func:`build_forward`) when one call of
    :func:`extract` has at least :data:`AUTO_MIN_IMAGES` images; smaller
    calls run TensorFlow. Once converted, the engine is cached on disk and
    every later build starts on it, whatever the number of images.
    """

    def __init__(
        self,
        reference: Any,
        key: str | None,
        label: str,
        layers: tuple[str, ...],
        settings: dict[str, Any],
    ) -> None:
        self._reference = reference
        self._args = (key, label, layers, settings)
        self._engine: Any = None
        self._lock = threading.Lock()

    @property
    def runtime(self) -> str:
        """The engine that runs now: "tensorflow" until converted, then the chosen one."""
        return engine_of(self._engine) if self._engine is not None else "tensorflow"

    def prepare(self, n_images: int) -> None:
        """Convert, check and choose the engine when ``n_images`` pay for it (once)."""
        if self._engine is not None or n_images < AUTO_MIN_IMAGES:
            return
        with self._lock:
            if self._engine is None:
                key = self._args[0]
                self._engine = _choose(self._reference, "auto", key, None, *self._args[1:])

    def __call__(self, x: Any) -> Any:
        return (self._engine or self._reference)(x)


@functools.lru_cache(maxsize=4)
def _compiled_forward(
    resolved: ResolvedWeights,
    weights_label: str,
    layers: tuple[str, ...],
    pooling: str,
    batch_size: int,
    file_id: tuple,
    runtime: str = "auto",
) -> Any:
    """Build the network, load its weights, build its :func:`build_forward`.

    Cached so that clones (folds, grid searches) share one model; ``file_id``
    (path, size, mtime) keeps a re-prepared file from hitting the old model.
    """
    return build_forward(
        load_network(resolved),
        layers,
        preprocessing=resolved.preprocessing,
        input_size=resolved.input_size,
        pooling=pooling,
        batch_size=batch_size,
        label=f"the model of {weights_label!r}",
        runtime=runtime,
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
            # an engine takes the array itself (no copy into a tf.Tensor and back)
            x = chunk if engine_of(forward) in ENGINES else tf.constant(chunk, dtype=tf.float32)
            y = np.asarray(forward(x))[:n]
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
    if hasattr(forward, "prepare"):  # "auto": converts when this many images pay for it
        forward.prepare(len(X))
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
    ``layer``, ``pooling`` and ``runtime``, read by the default hooks; an
    absent ``runtime`` means "auto") and
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
        # RGB networks: a small (h, w, 3) array is one image. They resize every
        # image to their input inside, so images of several sizes run in
        # batches of one size each ("split")
        tags["colour_input"] = True
        tags["mixed_sizes"] = "split"
        return tags

    # -- hooks ---------------------------------------------------------------
    def _resolved(self) -> ResolvedWeights:  # pragma: no cover - subclasses define it
        raise NotImplementedError(f"{type(self).__name__} must define _resolved()")

    def _feature_layers(self) -> tuple[str, ...]:
        """The layers ``transform`` returns (the ``layer`` parameter)."""
        return layer_names(self.layer)

    def _model_key(self) -> tuple:
        """The parameters the compiled functions depend on: a change rebuilds them."""
        weights = canonical_weights(str(self.weights))
        return (weights, int(self.batch_size), getattr(self, "runtime", "auto"))

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
            canonical_weights(str(self.weights)),
            layers,
            getattr(self, "pooling", "avg"),
            int(self.batch_size),
            file_id,
            getattr(self, "runtime", "auto"),
        )

    @property
    def runtime_(self) -> str:
        """The engine that runs the features of ``layer`` now: "tflite", "openvino" or "tensorflow".

        With ``runtime="auto"``, the fastest engine whose converted network
        passed its check against TensorFlow (:func:`build_forward`): from the build
        when it was cached, else from the first ``transform`` of at least
        :data:`AUTO_MIN_IMAGES` images.

        Raises
        ------
        AttributeError
            Before the network was built (by ``fit`` or ``transform``).
        """
        forward = self.__dict__.get("_forwards", {}).get(self._feature_layers())
        if forward is None:
            raise AttributeError(f"{type(self).__name__}.runtime_: the network is not built yet")
        return engine_of(forward)

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

    def keras_model(self) -> Any:
        """The Keras network behind the features, whole (for its filters, say).

        Loaded from the weights on each call (the feature functions keep
        their own copy); a fine-tuned extractor gives its trained network.
        """
        import_tensorflow()
        own = getattr(self, "_network", None)  # FineTunedCNN: the trained network
        return own() if callable(own) else load_network(self._resolved())

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
        forward = self._forward()
        if hasattr(forward, "prepare"):
            forward.prepare(len(images))
        out = run_batches(
            forward,
            iter([to_rgb(images)]),
            len(images),
            self.batch_size_,
            type(self).__name__,
        )
        return self._finish(out)

    #: Parameters added after features were first cached, left out of
    #: :meth:`cache_key` at these (default) values: the features they give are
    #: the ones cached before, whose keys stay valid.
    _keyless_defaults: dict[str, Any] = {}

    def cache_key(self) -> str:
        """Covers the class, the parameters and :meth:`_cache_identity` (the weights' sha256).

        Not ``runtime``: every engine gives the TensorFlow features to
        ``VERIFY_TOLERANCE`` (an engine that does not is not used), so their
        outputs are interchangeable and share cache entries.
        """
        keyless = self._keyless_defaults
        params = {
            k: v
            for k, v in self.get_params(deep=False).items()
            if k != "runtime" and not (k in keyless and v == keyless[k])
        }
        return stable_hash(
            {
                "class": f"{type(self).__module__}.{type(self).__qualname__}",
                "version": self._cache_version,
                # one key whichever name (release or backbone alias) was given
                "params": {**params, "weights": canonical_weights(str(self.weights))},
                "resize": "bilinear-antialias",
                **self._cache_identity(),
            }
        )
