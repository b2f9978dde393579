"""The base of every pair verifier, and helpers shared by several of them.

:class:`PairVerifier` holds the input conventions, the fitting paths
(``fit`` on pairs, ``fit_identities`` then ``fit_threshold``) and the
scoring API; the conventions are described in :mod:`transfer.heads.verification`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_array
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import _num_samples, check_is_fitted, validate_data

from transfer._validation import validate_params

__all__ = [
    "PairVerifier",
    "best_threshold",
    "binarization_thresholds",
    "binarize",
    "pairs_to_identities",
]


# --------------------------------------------------------------------------- helpers


def binarization_thresholds(X: Any, method: str = "zero") -> np.ndarray:
    """Per-feature thresholds for binary codes, fitted on training images.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training features.
    method : {"zero", "median"}, default="zero"
        "zero" thresholds every feature at 0, the activated / not activated
        split of ReLU features used by DeepID2+ [1]_; "median" thresholds each
        feature at its training median, so every bit is on for half the
        training images (useful for features that are not centred at zero).

    Returns
    -------
    thresholds : ndarray of shape (n_features,)

    References
    ----------
    .. [1] Sun, Wang, Tang. "Deeply learned face representations are sparse,
       selective, and robust." CVPR 2015.
    """
    X = check_array(X, dtype=np.float64, input_name="X")
    if method == "zero":
        return np.zeros(X.shape[1])
    if method == "median":
        return np.median(X, axis=0)
    raise ValueError(f"method must be one of {{'zero', 'median'}}; got {method!r}")


def binarize(X: Any, thresholds: Any = 0.0) -> np.ndarray:
    """Binary codes ``X > thresholds`` as float64 0/1 (for JB or Hamming).

    Parameters
    ----------
    X : array-like of shape (..., n_features)
        Features; any leading shape (images, or pairs of shape
        ``(n_pairs, 2, n_features)``).
    thresholds : float or array-like of shape (n_features,), default=0.0
        See :func:`binarization_thresholds`.

    Returns
    -------
    codes : ndarray of the shape of ``X``, float64 with values 0 and 1

    References
    ----------
    .. [1] Sun, Wang, Tang. "Deeply learned face representations are sparse,
       selective, and robust." CVPR 2015.
    """
    X = np.asarray(X, dtype=np.float64)
    return (X > np.asarray(thresholds, dtype=np.float64)).astype(np.float64)


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The threshold that maximises the accuracy of ``scores > threshold``.

    Candidates are the midpoints between consecutive distinct sorted scores,
    plus one below the smallest and one above the largest score. When
    several candidates reach the best accuracy, the median one (lower
    median for an even count) is taken: deterministic, and central among the
    best choices. Cost O(n log n), no loop over pairs.

    Parameters
    ----------
    scores : ndarray of shape (n_pairs,)
        Similarity scores, higher meaning "same".
    same : ndarray of shape (n_pairs,), bool

    Returns
    -------
    threshold : float
    """
    scores = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    order = np.argsort(scores, kind="stable")
    s, t = scores[order], same[order]
    n = len(s)
    # cutting after k sorted scores predicts "different" for the first k
    neg_below = np.concatenate([[0], np.cumsum(~t)])
    pos_above = int(t.sum()) - np.concatenate([[0], np.cumsum(t)])
    correct = neg_below + pos_above  # length n + 1, k = 0..n
    valid = np.ones(n + 1, dtype=bool)
    valid[1:n] = s[1:] > s[:-1]  # a cut inside a run of tied scores is not realisable
    k_all = np.flatnonzero(valid)
    best = correct[k_all].max()
    winners = k_all[correct[k_all] == best]
    k = int(winners[(len(winners) - 1) // 2])
    margin = max(float(s[-1] - s[0]), 1.0)
    if k == 0:
        return float(s[0] - margin)
    if k == n:
        return float(s[-1] + margin)
    return float((s[k - 1] + s[k]) / 2.0)


def pairs_to_identities(X1: np.ndarray, X2: np.ndarray, same: np.ndarray):
    """Distinct images of a set of pairs and identity labels implied by "same" pairs.

    Parameters
    ----------
    X1, X2 : ndarray of shape (n_pairs, n_features)
    same : ndarray of shape (n_pairs,), bool

    Returns
    -------
    images : ndarray of shape (n_images, n_features)
        The distinct rows of ``X1`` and ``X2``.
    identities : ndarray of shape (n_images,), int
        Connected components of the graph linking the two images of every
        "same" pair; images that appear only in "different" pairs are
        identities of one image.
    """
    stacked = np.concatenate([X1, X2])
    images, inverse = np.unique(stacked, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    n = len(X1)
    a, b = inverse[:n][same], inverse[n:][same]
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(len(images), len(images)))
    _, identities = connected_components(graph, directed=False)
    return images, identities


# --------------------------------------------------------------------------- base


class PairVerifier(ClassifierMixin, BaseEstimator):
    """Base class of verification heads: a binary classifier over pairs.

    Subclasses implement ``_score(X1, X2)`` (raw similarity, higher meaning
    "same") and either ``_fit_images(images, identities)`` (a model of single
    images, learned from pairs through :func:`pairs_to_identities` or from
    identity labels by :meth:`fit_identities`) or ``_fit_pairs(X1, X2, same)``.
    See :mod:`transfer.heads.verification` for the input conventions.
    """

    _parameter_constraints: dict = {}
    #: Whether ``fit_identities`` can train the model from images with
    #: identity labels (False for heads that learn from pairs only).
    _learns_from_images = True

    def __transfer_tags__(self) -> dict[str, Any]:
        """Tags of this head (see :mod:`transfer._tags`): it scores pairs."""
        return {"scores_pairs": True, "learns_from_images": bool(self._learns_from_images)}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        # scikit-learn's generic checks label pairs by where their vectors lie,
        # not by whether the two halves match, which no verifier can learn
        tags.classifier_tags.poor_score = True
        return tags

    # -- input handling

    def _pairs(self, X: Any, y: Any = None, *, reset: bool, fit_y: bool = False):
        """Validate pairs; return ``X1, X2`` (float64) and the validated ``y``."""
        name = type(self).__name__
        if fit_y and y is None:
            raise ValueError(f"{name} requires y to be passed, but the target y is None.")
        if fit_y and _num_samples(X) != _num_samples(y):
            raise ValueError(
                f"X and y must have the same length: X has {_num_samples(X)} pairs but "
                f"y has {_num_samples(y)} labels."
            )
        ndim = getattr(X, "ndim", None)
        if ndim is None:  # lists and array-likes; ragged input fails in validate_data
            try:
                ndim = np.asarray(X).ndim
            except (TypeError, ValueError):
                ndim = 2
        if ndim == 3:
            X = check_array(X, allow_nd=True, dtype=np.float64, input_name="X")
            if X.shape[1] != 2:
                raise ValueError(
                    "X must hold pairs, of shape (n_pairs, 2, n_features) or "
                    f"(n_pairs, 2 * n_features); got an array of shape {X.shape}."
                )
            X = X.reshape(len(X), -1)
        elif ndim > 3:
            raise ValueError(
                "X must hold pairs, of shape (n_pairs, 2, n_features) or "
                f"(n_pairs, 2 * n_features); got an array with {ndim} dimensions."
            )
        if fit_y:
            X, y = validate_data(self, X, y, reset=reset, dtype=np.float64)
            check_classification_targets(y)
            kind = type_of_target(y, input_name="y")
            if kind != "binary":
                raise ValueError(
                    "Only binary classification is supported: y must say same / different "
                    f"for each pair. The type of the target is {kind}."
                )
            if len(np.unique(y)) < 2:
                raise ValueError(
                    f"{name} needs both same and different pairs to fit its threshold; "
                    "y has 1 class."
                )
        else:
            X = validate_data(self, X, reset=reset, dtype=np.float64)
        width = X.shape[1]
        if width % 2:
            raise ValueError(
                "X must hold pairs: a 2-D X is the two feature vectors concatenated, "
                f"so its width must be even; got n_features = {width}."
            )
        d = width // 2
        return X[:, :d], X[:, d:], y

    def _same(self, y: np.ndarray) -> np.ndarray:
        self.classes_ = np.unique(y)
        return y == self.classes_[1]

    # -- fitting

    def crossfit_copy(self) -> PairVerifier:
        """An unfitted copy for the inner fits of a cross-fitted threshold.

        :class:`~transfer.protocols.verification.VerificationProtocol` fits
        one copy per group of training identities, without that group, to
        score its pairs out of sample. A head may return a copy whose fit
        starts from this fitted head's solution (Joint Bayesian's EM, the
        pair SVM's Newton steps) and reaches the fit from scratch; nothing
        fitted with the held-out images may be kept (an unsupervised stage
        such as a PCA would make their scores look in sample). By default
        the copy is an unfitted clone.

        Returns
        -------
        PairVerifier
        """
        return clone(self)

    def fit(self, X: Any, y: Any) -> PairVerifier:
        """Fit the similarity model and the threshold on training pairs.

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2 * n_features)
            Training pairs.
        y : array-like of shape (n_pairs,)
            Same-identity labels (bool, or two labels of which the larger means same).

        Returns
        -------
        self
        """
        validate_params(self)
        X1, X2, y = self._pairs(X, y, reset=True, fit_y=True)
        same = self._same(y)
        self._stacklevel = 4  # user -> fit -> _fit_pairs -> _fit_images
        self._fit_pairs(X1, X2, same)
        self.threshold_ = best_threshold(self._score(X1, X2), same)
        return self

    def _fit_pairs(self, X1: np.ndarray, X2: np.ndarray, same: np.ndarray) -> None:
        images, identities = pairs_to_identities(X1, X2, same)
        self._fit_images(images, identities)

    def _fit_images(self, X: np.ndarray, identities: np.ndarray) -> None:  # pragma: no cover
        raise NotImplementedError

    def fit_identities(self, X: Any, y: Any) -> PairVerifier:
        """Fit the similarity model on images with identity labels; no threshold yet.

        Call :meth:`fit_threshold` with training pairs before ``predict``.

        Parameters
        ----------
        X : array-like of shape (n_images, n_features)
            Training images' features.
        y : array-like of shape (n_images,)
            Identity labels.

        Returns
        -------
        self
        """
        name = type(self).__name__
        if not self._learns_from_images:
            raise TypeError(f"{name} learns from pairs only: use fit(X_pairs, same)")
        validate_params(self)
        if y is None:
            raise ValueError(f"{name}.fit_identities requires y (identity labels).")
        X = check_array(X, dtype=np.float64, input_name="X")
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(
                f"y must hold one identity label per row of X: X has {len(X)} rows, "
                f"y has shape {y.shape}."
            )
        for attr in ("threshold_", "classes_", "feature_names_in_"):
            if hasattr(self, attr):
                delattr(self, attr)
        self._stacklevel = 3  # user -> fit_identities -> _fit_images
        self._fit_images(X, y)
        self.n_features_in_ = 2 * X.shape[1]
        self.threshold_ = None
        return self

    def fit_threshold(self, X: Any, y: Any) -> PairVerifier:
        """Fit only the decision threshold, on training pairs, keeping the model.

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2 * n_features)
            Training pairs (never the pairs to be evaluated).
        y : array-like of shape (n_pairs,)
            Same-identity labels.

        Returns
        -------
        self
        """
        check_is_fitted(self, "n_features_in_")
        X1, X2, y = self._pairs(X, y, reset=False, fit_y=True)
        same = self._same(y)
        self.threshold_ = best_threshold(self._score(X1, X2), same)
        return self

    # -- scoring

    def score_pairs(self, X1: Any, X2: Any) -> np.ndarray:
        """Raw similarity of the rows of ``X1`` and ``X2``, before any threshold.

        Parameters
        ----------
        X1, X2 : array-like of shape (n_pairs, n_features)

        Returns
        -------
        scores : ndarray of shape (n_pairs,)
            Higher means more likely the same identity.
        """
        check_is_fitted(self, "n_features_in_")
        X1 = check_array(X1, dtype=np.float64, input_name="X1")
        X2 = check_array(X2, dtype=np.float64, input_name="X2")
        if X1.shape != X2.shape:
            raise ValueError(f"X1 and X2 must have the same shape; got {X1.shape} and {X2.shape}")
        if 2 * X1.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X1 has {X1.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_ // 2} features per image as input."
            )
        return self._score(X1, X2)

    def _score(self, X1: np.ndarray, X2: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def decision_function(self, X: Any) -> np.ndarray:
        """Similarity minus the training threshold: positive means "same".

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2 * n_features)

        Returns
        -------
        scores : ndarray of shape (n_pairs,)
        """
        check_is_fitted(self)
        if getattr(self, "threshold_", None) is None:
            raise NotFittedError(
                f"{type(self).__name__} has a model but no threshold: call "
                "fit_threshold(X_pairs, same) with training pairs first."
            )
        X1, X2, _ = self._pairs(X, reset=False)
        return self._score(X1, X2) - self.threshold_

    def predict(self, X: Any) -> np.ndarray:
        """Predicted pair labels, ``classes_[1]`` (same) where ``decision_function > 0``."""
        decision = self.decision_function(X)
        return self.classes_[(decision > 0).astype(int)]
