"""The extractor contract shared by handcrafted and learned features.

An extractor is a scikit-learn transformer: ``__init__`` stores parameters,
``fit`` validates them (and learns, for stateful extractors), ``transform``
maps images to a float32 matrix ``(n_samples, n_features)``, batch by batch,
so memory stays bounded however many images come in.

Inputs accepted by ``fit``/``transform``:

* an ndarray of images ``(n, height, width)`` or ``(n, height, width, channels)``
  with values in [0, 255];
* an ndarray ``(n, height * width)`` of flattened grey images, when the
  ``image_shape`` parameter says their shape (scikit-learn's digits, Olivetti
  and LFW arrays come this way);
* a :class:`transfer.data.ImageSet` (images decoded lazily, batch by batch).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from transfer._progress import track
from transfer._validation import NONE, IntPair, validate_params
from transfer.data.imageset import ImageSet


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: NumPy scalars and arrays to Python, tuples to lists,
    dicts sorted by key, an estimator to its class name and parameters."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, BaseEstimator):
        return {"class": type(value).__qualname__, "params": to_jsonable(value.get_params())}
    return value


def stable_hash(obj: Any) -> str:
    """sha256 of a JSON rendering of ``obj`` (dicts sorted)."""
    text = json.dumps(to_jsonable(obj), sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def array_digest(array: Any) -> str:
    """sha256 of an array's shape, dtype and bytes."""
    arr = np.ascontiguousarray(np.asarray(array))
    h = hashlib.sha256(repr((arr.shape, arr.dtype.str)).encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def as_image_array(X: Any, image_shape: Any = None) -> np.ndarray:
    """Validate an in-memory batch of images; returns float32 ``(n, h, w[, c])``.

    Raises
    ------
    ValueError
        For an empty batch, NaN/inf values, or a 2-D array without a usable
        ``image_shape``.
    """
    X = np.asarray(X)
    if X.dtype == object or not np.issubdtype(X.dtype, np.number):
        raise ValueError(f"images must be a numeric array, got dtype {X.dtype}")
    if X.ndim == 2:
        if image_shape is None:
            raise ValueError(
                f"got a 2-D array of shape {X.shape}: pass image_shape=(height, width) so the "
                "rows can be read as flattened images, or pass images of shape (n, h, w[, c])"
            )
        shape = tuple(image_shape) if not np.isscalar(image_shape) else (image_shape,) * 2
        if int(np.prod(shape)) != X.shape[1]:
            raise ValueError(
                f"image_shape={tuple(shape)} has {int(np.prod(shape))} pixels but the rows "
                f"have {X.shape[1]} values"
            )
        X = X.reshape((X.shape[0], *shape))
    elif X.ndim not in (3, 4):
        raise ValueError(
            f"images must have shape (n, h, w) or (n, h, w, c), got an array of shape {X.shape}"
        )
    if X.shape[0] == 0:
        raise ValueError("got 0 images; at least one is required")
    X = X.astype(np.float32, copy=False)
    if not np.all(np.isfinite(X)):
        raise ValueError("images contain NaN or infinite values")
    return X


class BaseExtractor(TransformerMixin, BaseEstimator):
    """Base class for feature extractors.

    Subclasses implement ``_transform_batch(images) -> ndarray`` on a float32
    batch, and ``_fit(X, y)`` if they learn anything (then they also set the
    ``requires_fit`` tag to True, which the runner uses to fit per fold).
    Extractors running a network derive from
    :class:`transfer.features.network.NetworkExtractor`.

    Tags (:mod:`transfer._tags`): ``kind`` is "handcrafted" here; learned
    extractors say "learned".
    """

    _parameter_constraints: dict = {"image_shape": [NONE, IntPair()]}
    #: Attributes holding live models (TensorFlow functions, ...): rebuilt on
    #: demand, never pickled.
    _live_attributes: tuple[str, ...] = ()
    #: Bumped when a change alters the output for the same parameters.
    _cache_version: int = 1

    @property
    def batch_size_(self) -> int:
        """Images per batch when streaming: the ``batch_size`` parameter, else 256
        (settable, e.g. to stream one image at a time in a test)."""
        override = self.__dict__.get("_batch_size")
        return int(override if override is not None else getattr(self, "batch_size", 256))

    @batch_size_.setter
    def batch_size_(self, value: int) -> None:
        self.__dict__["_batch_size"] = int(value)

    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())  # may be self.__dict__ itself: copy
        for name in self._live_attributes:
            state.pop(name, None)
        return state

    # -- scikit-learn API -------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> BaseExtractor:
        """Validate parameters (and learn, for stateful extractors).

        Parameters
        ----------
        X : ndarray of shape (n_samples, height, width[, channels]) or ImageSet
            Training images.
        y : ignored for unsupervised extractors.

        Returns
        -------
        self : object
        """
        validate_params(self)
        if isinstance(X, ImageSet):
            self.image_shape_ = X.image_shape()
        else:
            X = as_image_array(X, getattr(self, "image_shape", None))
            self.image_shape_ = tuple(X.shape[1:])
            self.n_features_in_ = int(np.prod(self.image_shape_))
        self._fit(X, y)
        return self

    def _fit(self, X: Any, y: Any) -> None:
        """Learn from training images; nothing by default."""

    def learned_stage(self) -> tuple[BaseExtractor, Any] | None:
        """Split a learning extractor into a stateless stage and a learned projection.

        An extractor whose learning happens on top of features it computes
        without learning (a PCA of histograms, a whitening) returns
        ``(stage, projection)``: ``stage`` an extractor that does not learn,
        ``projection`` an unfitted scikit-learn transformer, such that
        ``projection.fit(stage.transform(A)).transform(stage.transform(B))``
        equals ``clone(self).fit(A).transform(B)``. The runner then computes
        (and caches) the stage once for all images and fits only the
        projection per fold, on the cached training rows. None (the default)
        means the extractor must be refitted on images.
        """
        return None

    def transform(self, X: Any) -> np.ndarray:
        """Extract features.

        Parameters
        ----------
        X : ndarray of shape (n_samples, height, width[, channels]) or ImageSet
            Images with values in [0, 255].

        Returns
        -------
        features : ndarray of shape (n_samples, n_features), float32
        """
        if self.__sklearn_tags__().requires_fit:
            check_is_fitted(self)
        else:
            validate_params(self)
        chunks = [
            np.asarray(self._transform_batch(batch), dtype=np.float32)
            for batch in track(self._iter_batches(X), total=len(X), description=type(self).__name__)
        ]
        return np.concatenate(chunks).astype(np.float32, copy=False)

    def _iter_batches(self, X: Any) -> Iterator[np.ndarray]:
        if isinstance(X, ImageSet):
            if len(X) == 0:
                raise ValueError(f"the image set {X.name!r} is empty")
            yield from X.iter_batches(self.batch_size_)
            return
        X = as_image_array(X, getattr(self, "image_shape", None))
        expected = getattr(self, "image_shape_", None)
        if expected is not None and tuple(X.shape[1:]) != tuple(expected):
            raise ValueError(
                f"{type(self).__name__} was fitted on images of shape {tuple(expected)}, "
                f"got {tuple(X.shape[1:])}"
            )
        for start in range(0, len(X), self.batch_size_):
            yield X[start : start + self.batch_size_]

    def _transform_batch(self, images: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names ``<class>0 .. <class>{n-1}`` of the output features."""
        check_is_fitted(self, "image_shape_")
        probe = np.zeros((1, *self.image_shape_), dtype=np.float32)
        n = self._transform_batch(probe).shape[1]
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}{i}" for i in range(n)], dtype=object)

    def __transfer_tags__(self) -> dict[str, Any]:
        """This extractor's tags (see :mod:`transfer._tags`); subclasses update them."""
        return {"kind": "handcrafted"}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    # -- caching ----------------------------------------------------------
    def cache_key(self) -> str:
        """A key covering everything that changes this extractor's output."""
        return stable_hash(
            {
                "class": f"{type(self).__module__}.{type(self).__qualname__}",
                "version": self._cache_version,
                "params": self.get_params(deep=False),
            }
        )
