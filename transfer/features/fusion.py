"""Feature-level fusion: several extractors' features, normalised and concatenated.

Two face identity networks trained on different data make different
mistakes; DeepID2 (Sun et al., 2014) reached 99.15% on LFW by combining 25
networks' features and Joint Bayesian on top. :class:`FeatureFusion` does
that for any extractors of the toolkit: each part's features are
L2-normalised (so no part dominates by its scale), optionally weighted, and
concatenated. With the cosine verifier and weights ``w``, the fused
similarity is the ``w``-weighted mean of the parts' cosine similarities;
Joint Bayesian or a linear head on the fused vector *learns* the fusion on
the training folds.

In a recipe, the parts name other rows of the same recipe, and the runner
combines their features (taken from the feature cache, each computed with
its own row's transforms) instead of extracting anything again::

    extractors:
      - {name: facenet, label: facenet, transforms: [...]}
      - {name: dlib_resnet, label: dlib}
      - {name: fusion, label: facenet+dlib, params: {parts: [facenet, dlib]}}

From Python, the parts are extractors (or pipelines, e.g. an aligner and a
network) run on the same images::

    FeatureFusion([make_pipeline(Align(crop="box"), FaceNetFeatures()),
                   DlibResNetFeatures()])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from transfer._registry import register_extractor
from transfer._tags import component_tags
from transfer._validation import NONE, InstanceOf, Options, validate_params
from transfer.features.base import BaseExtractor, stable_hash

__all__ = ["FeatureFusion", "fuse_features"]


def fuse_features(
    parts: Sequence[np.ndarray], normalize: str = "l2", weights: Sequence[float] | None = None
) -> np.ndarray:
    """Concatenate per-part feature arrays, each L2-normalised and weighted.

    Parameters
    ----------
    parts : sequence of ndarray of shape (n_samples, n_features_i)
        One array per part, rows in the same order.
    normalize : {"l2", "none"}, default="l2"
        ``"l2"`` divides every row of every part by its Euclidean norm
        (a zero row stays zero).
    weights : sequence of float, optional
        One positive weight per part; part ``i`` is multiplied by
        ``sqrt(weights[i] / sum(weights))``, so that with ``"l2"`` the
        fused vectors have unit norm and their dot product is the weighted
        mean of the parts' cosine similarities. Default: equal weights.

    Returns
    -------
    ndarray of shape (n_samples, sum of n_features_i), float32
    """
    if len(parts) < 2:
        raise ValueError(f"fusion needs at least 2 parts, got {len(parts)}")
    arrays = [np.asarray(p, dtype=np.float32) for p in parts]
    for i, a in enumerate(arrays):
        if a.ndim != 2:
            raise ValueError(f"part {i} has features of shape {a.shape}; expected 2-D")
    sizes = {len(a) for a in arrays}
    if len(sizes) != 1:
        raise ValueError(f"parts have different numbers of rows: {[len(a) for a in arrays]}")
    if weights is None:
        weights = [1.0] * len(arrays)
    if len(weights) != len(arrays):
        raise ValueError(f"'weights' has {len(weights)} values for {len(arrays)} parts")
    w = np.asarray(weights, dtype=np.float64)
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ValueError(f"'weights' must be positive numbers, got {list(weights)}")
    scale = np.sqrt(w / w.sum())
    out = []
    for a, s in zip(arrays, scale, strict=True):
        if normalize == "l2":
            norms = np.linalg.norm(a, axis=1, keepdims=True)
            a = np.divide(a, norms, out=np.zeros_like(a), where=norms > 0)
        out.append(a * np.float32(s))
    return np.concatenate(out, axis=1).astype(np.float32, copy=False)


def _part_name(part: Any, i: int) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, tuple):
        return str(part[0])
    return f"{type(part).__name__.lower()}{i}"


def _estimator(part: Any) -> Any:
    return part[1] if isinstance(part, tuple) else part


@register_extractor("fusion", "Several extractors' features, each L2-normalised, concatenated")
class FeatureFusion(BaseExtractor):
    """Concatenated, normalised features of several extractors (feature-level fusion).

    Parameters
    ----------
    parts : list
        In a recipe: the labels of other extractor rows of the same recipe
        (their features, computed with their own transforms, are combined
        by the runner; nothing is extracted twice). From Python: extractors
        or pipelines, or ``(name, extractor)`` pairs, each applied to the
        images given to :meth:`transform`. At least two.
    normalize : {"l2", "none"}, default="l2"
        Per-part normalisation of every row before concatenation.
    weights : list of float, optional
        One positive weight per part (see :func:`fuse_features`); default
        equal weights.

    Attributes
    ----------
    parts_ : list of estimators
        The fitted parts (estimator parts only).

    Notes
    -----
    Tags: ``kind`` is "learned" when any part is learned (a network), else
    "handcrafted"; in a recipe the parts' rows answer (see
    :meth:`bind_rows`).

    References
    ----------
    .. [1] Y. Sun, X. Wang and X. Tang, "Deep Learning Face Representation by
           Joint Identification-Verification", NIPS 2014 (DeepID2: features
           of 25 networks concatenated, Joint Bayesian on top).
    .. [2] D. Chen, X. Cao, L. Wang, F. Wen and J. Sun, "Bayesian Face
           Revisited: A Joint Formulation", ECCV 2012.

    Examples
    --------
    >>> import numpy as np
    >>> from transfer.features.fusion import FeatureFusion
    >>> from transfer.features.handcrafted import HOGFeatures, PixelFeatures
    >>> images = np.random.default_rng(0).uniform(0, 255, (4, 32, 32))
    >>> fused = FeatureFusion([PixelFeatures(), HOGFeatures()]).fit_transform(images)
    >>> bool(np.allclose(np.linalg.norm(fused, axis=1), 1.0))
    True
    """

    _parameter_constraints: dict = {
        "parts": [InstanceOf((list, tuple))],
        "normalize": [Options(("l2", "none"))],
        "weights": [NONE, InstanceOf((list, tuple))],
    }

    def __init__(
        self,
        parts: Sequence[Any] = (),
        normalize: str = "l2",
        weights: Sequence[float] | None = None,
    ) -> None:
        self.parts = parts
        self.normalize = normalize
        self.weights = weights

    # -- recipe rows ----------------------------------------------------------
    def fused_rows(self) -> list[str]:
        """The recipe rows this fusion combines (its string parts; [] for estimator parts)."""
        return [p for p in self.parts if isinstance(p, str)]

    def bind_rows(self, rows: Mapping[str, Any], own_label: str | None = None) -> None:
        """Check the string parts against a recipe's rows and remember those rows' kinds.

        Parameters
        ----------
        rows : mapping of str to extractor
            Every extractor of the recipe, by label.
        own_label : str, optional
            This row's label (a fusion cannot name itself).

        Raises
        ------
        ValueError
            Naming the unknown, repeated or fused part, or fewer than two.
        """
        self._check_parts()
        names = self.fused_rows()
        if names and len(names) != len(self.parts):
            raise ValueError("'parts' mixes row labels and extractors; use one or the other")
        for name in names:
            if name == own_label:
                raise ValueError(f"'parts' names this row itself ({name!r})")
            if name not in rows:
                known = ", ".join(repr(k) for k in rows if k != own_label)
                raise ValueError(f"'parts' names no row of this recipe: {name!r} (rows: {known})")
            if hasattr(rows[name], "fused_rows") and rows[name].fused_rows():
                raise ValueError(f"'parts' names {name!r}, itself a fusion; name its parts instead")
        self._kinds = [component_tags(rows[n]).get("kind") for n in names]

    def _check_parts(self) -> None:
        validate_params(self)
        if len(self.parts) < 2:
            raise ValueError(f"'parts' needs at least 2 extractors, got {len(self.parts)}")
        names = [_part_name(p, i) for i, p in enumerate(self.parts)]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"'parts' repeats {', '.join(map(repr, repeated))}")
        if self.weights is not None and len(self.weights) != len(self.parts):
            n, k = len(self.weights), len(self.parts)
            raise ValueError(f"'weights' has {n} values for {k} parts")

    def combine(self, features: Sequence[np.ndarray]) -> np.ndarray:
        """Fuse the parts' features (one array per part, in the order of ``parts``)."""
        self._check_parts()
        return fuse_features(features, self.normalize, self.weights)

    # -- scikit-learn API -------------------------------------------------------
    def _input(self, X: Any) -> Any:
        return X  # each part reads the input itself, with its own rules

    def fit(self, X: Any, y: Any = None) -> FeatureFusion:
        """Fit every part on ``X`` (images, paths or an ImageSet, as the parts take).

        Returns
        -------
        self : object
        """
        self._check_parts()
        if self.fused_rows():
            raise ValueError(
                "'parts' names recipe rows "
                f"({', '.join(self.fused_rows())}); the runner combines their features. "
                "From Python, pass extractors instead"
            )
        self.parts_ = [clone(_estimator(p)).fit(X, y) for p in self.parts]
        return self

    def transform(self, X: Any) -> np.ndarray:
        """The fused features of ``X``.

        Returns
        -------
        ndarray of shape (n_samples, sum of the parts' n_features), float32
        """
        check_is_fitted(self, "parts_")
        return self.combine([np.asarray(p.transform(X)) for p in self.parts_])

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """``fit(X, y).transform(X)``."""
        return self.fit(X, y).transform(X)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``<part>__<feature>`` for every part's feature names."""
        check_is_fitted(self, "parts_")
        names = []
        for i, (part, fitted) in enumerate(zip(self.parts, self.parts_, strict=True)):
            prefix = _part_name(part, i)
            names += [f"{prefix}__{n}" for n in fitted.get_feature_names_out()]
        return np.asarray(names, dtype=object)

    # -- tags and caching -----------------------------------------------------
    def __transfer_tags__(self) -> dict[str, Any]:
        tags = super().__transfer_tags__()
        kinds = getattr(self, "_kinds", None)
        if kinds is None:
            kinds = [
                component_tags(_estimator(p)).get("kind")
                for p in self.parts
                if not isinstance(p, str)
            ]
            # a pipeline's kind is its last step's
            kinds += [
                component_tags(_estimator(p).steps[-1][1]).get("kind")
                for p in self.parts
                if hasattr(_estimator(p), "steps")
            ]
        tags["kind"] = "learned" if "learned" in kinds else "handcrafted"
        return tags

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = any(
            _estimator(p).__sklearn_tags__().requires_fit
            for p in self.parts
            if not isinstance(p, str)
        )
        return tags

    def cache_key(self) -> str:
        """A key covering each part's own key (a row label stands for its row, whose key the
        runner adds)."""
        parts = []
        for p in self.parts:
            est = _estimator(p)
            if isinstance(est, str):
                parts.append(est)
            elif hasattr(est, "cache_key"):
                parts.append(est.cache_key())
            else:
                parts.append(f"{type(est).__qualname__}:{est!r}")
        return stable_hash(
            {
                "class": f"{type(self).__module__}.{type(self).__qualname__}",
                "version": self._cache_version,
                "parts": parts,
                "normalize": self.normalize,
                "weights": list(self.weights) if self.weights is not None else None,
            }
        )
