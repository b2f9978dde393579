"""The extractor contract shared by handcrafted and learned features.

An extractor is a scikit-learn transformer: ``__init__`` stores parameters,
``fit`` validates them (and learns, for stateful extractors), ``transform``
maps images to a float32 matrix ``(n_samples, n_features)``, batch by batch,
so memory stays bounded however many images come in.

Inputs accepted by ``fit``/``transform`` (:func:`as_extractor_input` reads
them; values in [0, 255]):

* an ndarray batch of images ``(n, height, width)`` or
  ``(n, height, width, channels)``;
* one image as an ndarray, ``(height, width, c)`` with ``c`` in {1, 3, 4}
  and both ``height`` and ``width`` above 4: its batch axis is added, and
  ``transform`` returns one row ``(1, n_features)`` (scikit-learn's
  convention). Any other 3-D array is a batch of grey images, except that
  an extractor tagged ``colour_input`` (it works on RGB images, e.g. a
  network with 3 input channels) also takes a small ``(h, w, 3)`` as one
  image; a 3-D array that could be either (``(3, 64, 3)``: three grey
  images 64 x 3, or one RGB image 3 x 64) is refused, saying to pass
  ``X[None]`` for one image. A 2-D array is ``(n, height * width)``
  flattened grey images when the ``image_shape`` parameter says their
  shape (scikit-learn's digits, Olivetti and LFW arrays come this way);
  without ``image_shape``, it is one grey image ``(height, width)`` (as
  :func:`transfer.data.read_image` gives a grey file) when both sides are
  above 4 (an extractor of colour images repeats it to RGB), and is
  refused otherwise, saying to pass ``X[None]`` or ``image_shape``;
* a list or tuple of images (each one image, even a small one), of one
  shape or, for extractors tagged ``mixed_sizes``, of several;
* an image file path (str or path-like), a list or tuple of them, or a
  folder (every image file under it, recursively, in natural order, found
  by content as the ``files`` dataset finds them), decoded by
  :func:`transfer.data.read_image`;
* a :class:`transfer.data.ImageSet` (images decoded lazily, batch by batch).

Images of different sizes in one call need an extractor that sizes them
itself, tagged ``mixed_sizes`` (a network resizing to its input, dlib's
ResNet cutting its own face chip); any other refuses them with the list of
the distinct sizes, suggesting a ``resize`` transform.

Subclasses that override ``fit`` or ``transform`` get the same input
handling: :meth:`BaseExtractor.__init_subclass__` wraps those methods so
that ``X`` reaches them read as above (the way scikit-learn wraps
``transform`` for ``set_output``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from transfer._progress import track
from transfer._tags import component_tags
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


#: A side of at most this many pixels makes a 3-D array's meaning ambiguous.
_SMALL = 4
#: Channel counts of one image given without its batch axis.
_CHANNELS = (1, 3, 4)


class _ImageBatch(np.ndarray):
    """A list of images stacked into a batch: read again, it stays a batch.

    (A list of ten grey 8 x 3 images stacks to ``(10, 8, 3)``, which as a
    plain array would be one colour image.)
    """


def _is_path(x: Any) -> bool:
    return isinstance(x, str | os.PathLike)


def _path_input(path: Any) -> ImageSet:
    """One image file as a set of one, or a folder as every image file under it."""
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    if os.path.isdir(path):
        from transfer.data.datasets.loose import loose_files

        return loose_files(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no image file or folder {path!r}")
    return ImageSet(name=os.path.basename(path), paths=(path,), root=os.path.dirname(path))


def _sequence_input(X: list | tuple) -> ImageSet | np.ndarray:
    """A list of paths as a lazy set; a list of images as a batch (or a set, when ragged)."""
    if len(X) == 0:
        raise ValueError("got 0 images; at least one is required")
    if all(_is_path(x) for x in X):
        paths = tuple(os.path.abspath(os.path.expanduser(os.fspath(x))) for x in X)
        folders = [p for p in paths if os.path.isdir(p)]
        if folders:
            raise ValueError(
                f"{folders[0]!r} in the list of image files is a folder: pass a folder alone "
                "(all its images), or list its files"
            )
        missing = [p for p in paths if not os.path.exists(p)]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise FileNotFoundError(f"no image file {missing[0]!r}{more}")
        return ImageSet(
            name="files", paths=paths, root=os.path.commonpath([os.path.dirname(p) for p in paths])
        )
    if any(_is_path(x) for x in X):
        raise ValueError(
            "a list of images holds image arrays only or file paths only; got both "
            "(read the files with transfer.data.read_image first)"
        )
    images = [np.asarray(x) for x in X]
    if len({im.shape for im in images}) == 1:
        return np.stack(images).view(_ImageBatch)  # each element is one image: no guessing
    for i, im in enumerate(images):
        if im.ndim not in (2, 3) or im.dtype == object or not np.issubdtype(im.dtype, np.number):
            raise ValueError(
                f"image {i} of the list has shape {im.shape} and dtype {im.dtype}: each image "
                "must be a numeric (h, w) or (h, w, c) array"
            )
    ragged = np.empty(len(images), dtype=object)
    for i, im in enumerate(images):
        ragged[i] = im
    return ImageSet(name="images", images=ragged)


def as_extractor_input(
    X: Any, image_shape: Any = None, colour: bool = False
) -> ImageSet | np.ndarray:
    """Read what an extractor was given as an ImageSet or an array batch of images.

    The rules are those of this module's docstring: paths, lists of paths
    and folders become a lazy :class:`~transfer.data.ImageSet` (decoded by
    :func:`transfer.data.read_image`), a list of images of several shapes an
    in-memory one, and one image given as a 3-D array gets its batch axis.
    Values are not checked here (:func:`as_image_array` does, batch by
    batch), so it costs nothing on an array batch and may be applied twice.

    Parameters
    ----------
    X : ndarray, list, tuple, str, path-like or ImageSet
        Images, one image, image files or a folder of them.
    image_shape : (int, int), optional
        The extractor's ``image_shape``: a 2-D array is then rows of
        flattened images, returned unchanged; without it, a 2-D array with
        both sides above 4 is one grey image.
    colour : bool, default=False
        The extractor works on colour images (the ``colour_input`` tag): a
        3-D array ``(h, w, 3)`` or ``(h, w, 4)`` is one image even when a
        side is small.

    Returns
    -------
    ImageSet or ndarray
        An ndarray is a batch ``(n, h, w[, c])`` or, with ``image_shape``,
        ``(n, h * w)``; anything it cannot be is left to
        :func:`as_image_array` to refuse.

    Raises
    ------
    ValueError
        For a 3-D array that may be one image or a batch (``(3, 64, 3)``),
        an empty list, a list mixing paths and arrays or holding a folder.
    FileNotFoundError
        For a path that does not exist, naming it.
    """
    if isinstance(X, ImageSet | _ImageBatch):
        return X
    if _is_path(X):
        return _path_input(X)
    if isinstance(X, list | tuple):
        return _sequence_input(X)
    X = np.asarray(X)
    if X.dtype.kind in "US" or (
        X.dtype == object and X.ndim == 1 and X.size and all(_is_path(x) for x in X)
    ):
        return _sequence_input([str(x) for x in X.ravel()]) if X.ndim else _path_input(str(X))
    if X.dtype == object and X.ndim == 1 and X.size:  # images of several shapes
        return _sequence_input(list(X))
    if X.ndim == 2 and image_shape is None and min(X.shape) > _SMALL:
        return X[None]  # one grey image (h, w), as read_image gives a grey file
    if X.ndim != 3 or X.shape[-1] not in _CHANNELS:
        return X
    h, w, c = X.shape
    if h > _SMALL and w > _SMALL:
        return X[None]  # one image: (h, w, c)
    if colour and c in (3, 4):
        return X[None]
    raise ValueError(
        f"an array of shape {X.shape} may be one image ({h} x {w}, {c} channel(s)) or "
        f"{h} grey images of {w} x {c}: pass one image as X[None] (shape {(1, *X.shape)}), "
        f"or grey images as (n, h, w, 1) (X[..., None])"
    )


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
                f"got a 2-D array of shape {X.shape}, which may be rows of flattened images or "
                "one grey image: pass image_shape=(height, width) so the rows are read as "
                f"flattened images, or one grey image as X[None] (shape {(1, *X.shape)}), or "
                "images of shape (n, h, w[, c])"
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


def _reading_input(method: Callable) -> Callable:
    """``method(self, X, ...)`` with ``X`` read by :meth:`BaseExtractor._input` first."""

    @functools.wraps(method)
    def wrapper(self, X, *args, **kwargs):
        return method(self, self._input(X), *args, **kwargs)

    wrapper._reads_input = True
    return wrapper


class BaseExtractor(TransformerMixin, BaseEstimator):
    """Base class for feature extractors.

    Subclasses implement ``_transform_batch(images) -> ndarray`` on a float32
    batch, and ``_fit(X, y)`` if they learn anything (then they also set the
    ``requires_fit`` tag to True, which the runner uses to fit per fold).
    Extractors running a network derive from
    :class:`transfer.features.network.NetworkExtractor`.

    Tags (:mod:`transfer._tags`): ``kind`` is "handcrafted" here; learned
    extractors say "learned". Two tags say what inputs it takes (absent
    means False): ``colour_input`` (it works on RGB images, so a small
    ``(h, w, 3)`` array is one image) and ``mixed_sizes``, for extractors
    that take images of different sizes in one call: "split" (each batch
    ``_transform_batch`` receives is one array of one shape; a batch ends
    where the shape changes) or "list" (a batch holding several shapes
    comes as a list of arrays).

    Output on one image is one row, ``(1, n_features)``.
    """

    _parameter_constraints: dict = {"image_shape": [NONE, IntPair()]}
    #: Attributes holding live models (TensorFlow functions, ...): rebuilt on
    #: demand, never pickled.
    _live_attributes: tuple[str, ...] = ()
    #: Bumped when a change alters the output for the same parameters.
    _cache_version: int = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # a subclass's own fit / transform takes every input form too
        for name in ("fit", "transform"):
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "_reads_input", False):
                setattr(cls, name, _reading_input(method))

    def _input(self, X: Any) -> ImageSet | np.ndarray:
        """``X`` read by :func:`as_extractor_input` with this extractor's tags."""
        return as_extractor_input(
            X,
            getattr(self, "image_shape", None),
            colour=bool(component_tags(self).get("colour_input")),
        )

    def _mixed_sizes(self) -> str:
        """How batches carry images of several shapes: "same" (refused), "split" or "list"."""
        mode = component_tags(self).get("mixed_sizes")
        if not mode:
            return "same"
        return "list" if mode == "list" else "split"

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
        X : ndarray of shape (n_samples, height, width[, channels]), ImageSet, or paths
            Training images, or one image, image files or a folder (see the
            module docstring).
        y : ignored for unsupervised extractors.

        Returns
        -------
        self : object
        """
        validate_params(self)
        X = self._input(X)
        if isinstance(X, ImageSet):
            if len(X) == 0:
                raise ValueError(f"the image set {X.name!r} is empty")
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
        X : ndarray of shape (n_samples, height, width[, channels]), ImageSet, or paths
            Images with values in [0, 255]; or one image, image files or a
            folder (see the module docstring).

        Returns
        -------
        features : ndarray of shape (n_samples, n_features), float32
            One row per image: ``(1, n_features)`` for one image.
        """
        if self.__sklearn_tags__().requires_fit:
            check_is_fitted(self)
        else:
            validate_params(self)
        X = self._input(X)
        chunks = [
            np.asarray(self._transform_batch(batch), dtype=np.float32)
            for batch in track(self._iter_batches(X), total=len(X), description=type(self).__name__)
        ]
        return np.concatenate(chunks).astype(np.float32, copy=False)

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """``fit(X, y).transform(X)``, with ``X`` read once (a folder is listed once)."""
        X = self._input(X)
        return self.fit(X, y, **fit_params).transform(X)

    def _iter_batches(self, X: Any) -> Iterator[np.ndarray | list[np.ndarray]]:
        X = self._input(X)
        mixed = self._mixed_sizes()
        if isinstance(X, ImageSet):
            if len(X) == 0:
                raise ValueError(f"the image set {X.name!r} is empty")
            yield from X.iter_batches(self.batch_size_, sizes=mixed)
            return
        X = as_image_array(X, getattr(self, "image_shape", None))
        expected = getattr(self, "image_shape_", None)
        if mixed == "same" and expected is not None and tuple(X.shape[1:]) != tuple(expected):
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
