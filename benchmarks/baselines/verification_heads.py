"""Frozen copy of the verification heads and the protocol's threshold cross-fitting
as of commit 0cdc77b (before the "fast by default" work), trimmed to what
``benchmarks/bench_verification.py`` times as its baseline.

Our own code, copied from ``git show 0cdc77b:transfer/heads/verification/*.py``
and ``transfer/protocols/verification.py``: registration decorators dropped,
the protocol reduced to its per-fold fitting (``fit_fold``). Not imported by
the package; do not edit except to keep it running.
"""

# ruff: noqa

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np
import scipy.linalg
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from sklearn.utils import check_array
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import _num_samples, check_is_fitted, validate_data

from transfer._tags import component_tags
from transfer._validation import NONE, Interval, Options, validate_params


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


def _group_sums(X: np.ndarray, identities: np.ndarray):
    """Per-identity sums (n_ids, d), counts, and each row's identity index (one sparse product)."""
    _, index = np.unique(identities, return_inverse=True)
    index = index.reshape(-1)
    n_ids = int(index.max()) + 1
    indicator = csr_matrix(
        (np.ones(len(index)), (index, np.arange(len(index)))), shape=(n_ids, len(index))
    )
    sums = np.asarray(indicator @ X)
    counts = np.bincount(index, minlength=n_ids).astype(np.float64)
    return sums, counts, index


_GROUP_ABOVE = 1.0


def joint_bayesian_em(
    X: np.ndarray,
    identities: np.ndarray,
    max_iter: int = 100,
    tol: float = 1e-5,
    reg: float = 1e-6,
) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """EM estimate of the Joint Bayesian covariances S_mu and S_eps.

    The model of [1]_: a centred feature vector is ``x = mu + eps``, with
    ``mu ~ N(0, S_mu)`` shared by all images of one identity and
    ``eps ~ N(0, S_eps)`` independent per image.

    The E-step of [1]_ (Sec. 3.3) needs, for an identity with ``m`` images,
    ``F = S_eps^-1`` and ``G = -(m S_mu + S_eps)^-1 S_mu S_eps^-1``, which
    depend on ``m`` only. Here one joint eigendecomposition per iteration,
    ``W^T S_eps W = I`` and ``W^T S_mu W = diag(lam)``, makes them diagonal
    for every ``m`` at once: in the coordinates ``z = W^T x`` the posterior
    of ``mu`` for an identity of ``m`` images summing to ``s`` has mean
    ``lam / (m lam + 1) * (W^T s)`` and variance ``lam / (m lam + 1)``, per
    coordinate. The M-step then needs only weighted Gram matrices of the
    identity sums: identities whose size ``m`` is shared by many others
    (more than ``d``, such as LFW's one-image identities) enter as a
    group through their scatter ``sum s s^T``, computed once; the others
    through one matrix product over their rows. No loop runs over identities;
    the cost per iteration is ``O(n_rows d^2 + d^3)``.

    The M-step sets ``S_mu`` to the mean of ``E[mu mu^T]`` over identities and
    ``S_eps`` to the mean of ``E[eps eps^T]`` over images, *including* the
    posterior covariances. This is the exact EM of the model, which increases
    the likelihood at every step and recovers the covariances. [1]_ updates
    with the covariances of the posterior means only; that drops the
    posterior uncertainty, so its fixed point underestimates both matrices
    (by 15-20% of their trace on synthetic identities of 2 to 8 images, and
    with one image size ``m`` it shrinks both by ``m S_mu (m S_mu +
    S_eps)^-1`` at every step, never settling).

    Identities with a single image have no within-person information: their
    likelihood is ``N(0, S_mu + S_eps)``, so they inform only the sum of the
    two covariances. At initialisation they enter the between-identity
    scatter (``S_mu``) through their mean, which is the image itself, and
    nothing of the within-identity scatter (``S_eps``); in EM they enter both
    updates through their posterior, as the likelihood requires. At least one
    identity needs two or more images.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Centred features (float64).
    identities : ndarray of shape (n_samples,)
        Identity label of each row.
    max_iter : int, default=100
        Iteration cap.
    tol : float, default=1e-5
        Stop when the relative Frobenius change of both matrices falls below it.
    reg : float, default=1e-6
        Ridge added to both matrices after every update, relative to the mean
        feature variance; keeps ``S_eps`` invertible when features outnumber
        the within-person degrees of freedom.

    Returns
    -------
    S_mu, S_eps : ndarray of shape (n_features, n_features)
    n_iter : int
    converged : bool

    References
    ----------
    .. [1] Chen, Cao, Wang, Wen, Sun. "Bayesian face revisited: a joint
       formulation." ECCV 2012.
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    sums, counts, index = _group_sums(X, identities)
    n_ids = len(counts)
    if n == n_ids:
        raise ValueError(
            "every identity in y has a single image, so the within-person covariance "
            "S_eps cannot be estimated: y must give at least one identity two or more images"
        )
    scale = float(np.einsum("ij,ij->", X, X)) / (n * d)  # mean feature variance
    ridge = reg * max(scale, np.finfo(np.float64).tiny) * np.eye(d)
    means = sums / counts[:, None]
    # within-identity scatter from the deviations of the images of identities
    # with two or more images (one-image identities add 0): one X^T X-sized
    # symmetric product, no cancellation between two large scatters
    multi = counts[index] > 1
    dev = X[multi]
    dev -= means[index[multi]]
    S_w = _sym(dev.T @ dev)
    del dev

    sizes, size_count = np.unique(counts, return_counts=True)
    grouped = sizes[size_count > _GROUP_ABOVE * d]
    row_wise = ~np.isin(counts, grouped)
    rows, m_rows = sums[row_wise], counts[row_wise][:, None]
    scatters = []  # (m, R or P): R^T R = P = sum of s s^T over the identities of size m
    row_means = means[row_wise]
    between = row_means.T @ row_means  # sum_i mean_i mean_i^T
    for m in grouped:
        group = sums[counts == m]
        P = group.T @ group
        between += P / (m * m)
        scatters.append((m, _upper_factor(P) if len(group) >= d else (None, P)))
    S_mu = _sym(between) / n_ids + ridge
    S_eps = S_w / (n - n_ids) + ridge
    del between, means

    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        lam, W, B = _joint_eigh(S_mu, S_eps, back=True)  # B = S_eps W = W^-T
        # per identity and coordinate: E[mu] = a * s_z and sqrt(m) (mean - E[mu]) = v * s_z
        Sz = rows @ W
        denom = m_rows * lam + 1.0
        Mz = Sz * (lam / denom)
        Vz = Sz / (np.sqrt(m_rows) * denom)
        del Sz
        Mu_z = Mz.T @ Mz
        Eps_z = Vz.T @ Vz
        del Mz, Vz
        for m, (R, P) in scatters:
            if R is not None:  # W^T P W = (R W)^T (R W): a triangular and a symmetric product
                RW = scipy.linalg.blas.dtrmm(1.0, R, W, lower=0)
                Q = RW.T @ RW
                del RW
            else:
                Q = W.T @ (P @ W)
            a = lam / (m * lam + 1.0)
            v = 1.0 / (np.sqrt(m) * (m * lam + 1.0))
            Mu_z += a[:, None] * Q * a[None, :]
            Eps_z += v[:, None] * Q * v[None, :]
        post_var = lam / (sizes[:, None] * lam + 1.0)  # (n_sizes, d), same for each size
        Mu_z[np.diag_indices(d)] += size_count @ post_var
        Eps_z[np.diag_indices(d)] += (size_count * sizes) @ post_var
        # back from z-coordinates; the within-identity scatter S_w needs no
        # round trip (B W^T S_w W B^T = S_w)
        new_mu = _sym(B @ Mu_z @ B.T) / n_ids + ridge
        new_eps = (S_w + _sym(B @ Eps_z @ B.T)) / n + ridge
        change = max(_rel_change(new_mu, S_mu), _rel_change(new_eps, S_eps))
        S_mu, S_eps = new_mu, new_eps
        if change < tol:
            converged = True
            break
    return S_mu, S_eps, n_iter, converged


def _sym(M: np.ndarray) -> np.ndarray:
    return (M + M.T) / 2.0


def _rel_change(new: np.ndarray, old: np.ndarray) -> float:
    return float(np.linalg.norm(new - old) / max(np.linalg.norm(old), 1e-300))


def _joint_eigh(S_mu: np.ndarray, S_eps: np.ndarray, back: bool = False):
    """``W`` with ``W^T S_eps W = I`` and ``W^T S_mu W = diag(lam)``, ``lam >= 0``.

    Through the Cholesky factor ``L`` of ``S_eps``, ``C = L^-1 S_mu L^-T``
    (``sygst``) and the divide and conquer symmetric eigensolver
    (``syevd``) on ``C = U diag(lam) U^T``; ``W = L^-T U``. With ``back``,
    also returns ``B = S_eps W = W^-T = L U``, the map back from the
    eigenbasis.
    """
    L = scipy.linalg.cholesky(S_eps, lower=True, check_finite=False)
    # C = L^-1 S_mu L^-T (its lower triangle), in d^3 flops rather than two solves' 2 d^3
    C, info = scipy.linalg.lapack.dsygst(S_mu, L, itype=1, lower=1)
    if info != 0:  # pragma: no cover - LAPACK argument error
        raise np.linalg.LinAlgError(f"dsygst failed (info={info})")
    C = np.tril(C)
    C += np.tril(C, -1).T
    lam, U = scipy.linalg.eigh(C, driver="evd", overwrite_a=True, check_finite=False)
    W = scipy.linalg.solve_triangular(L, U, lower=True, trans="T", check_finite=False)
    lam = np.maximum(lam, 0.0)
    if not back:
        return lam, W
    return lam, W, scipy.linalg.blas.dtrmm(1.0, L, U, lower=1)  # L U, triangular product


def _upper_factor(P: np.ndarray):
    """``(R, None)`` with upper-triangular ``R^T R = P``, or ``(None, P)`` if ``P`` is singular."""
    try:
        R = scipy.linalg.cholesky(P, lower=False, check_finite=False)
    except np.linalg.LinAlgError:
        return None, P
    return np.asfortranarray(R), None


class JointBayesian(PairVerifier):
    """Joint Bayesian verification (Chen et al., ECCV 2012).

    Models a feature vector as ``x = mu + eps`` (identity plus within-person
    variation, both Gaussian with covariances ``S_mu`` and ``S_eps``
    estimated by EM, see :func:`joint_bayesian_em`) and scores a pair by the
    log-likelihood ratio of "same" against "different" [1]_::

        r(x1, x2) = x1^T A x1 + x2^T A x2 - 2 x1^T G x2

    with ``A = (S_mu + S_eps)^-1 - (F + G)`` and ``[[F + G, G], [G, F + G]]``
    the inverse of the joint covariance of a same-identity pair; ``r`` is
    twice the log-likelihood ratio up to an additive constant, which the
    fitted threshold absorbs.

    Train it with identity labels, the usual way, through
    ``fit_identities(X, identities)`` then ``fit_threshold(X_pairs, same)``;
    or from pairs alone with ``fit(X_pairs, same)`` (identities are then the
    components of the "same" graph, see :mod:`transfer.heads.verification`). Scoring is
    vectorised over pairs: two matrix products in the joint eigenbasis of
    ``S_mu`` and ``S_eps``, in which ``A`` and ``G`` are diagonal.

    Parameters
    ----------
    n_components : int or None, default=None
        PCA dimensions fitted (with mean-centring) on the training images
        before the model, capped at the number of images and features; None
        only centres.
    binarize : {None, "zero", "median"}, default=None
        Binarise features first (before PCA), with thresholds fitted on the
        training images, to run JB on binary codes as DeepID2+ [2]_ does;
        see :func:`binarization_thresholds`.
    max_iter : int, default=100
        EM iteration cap.
    tol : float, default=1e-5
        EM stops when the relative Frobenius change of both covariances is
        below ``tol``.
    reg : float, default=1e-6
        Ridge added to both covariances, relative to the mean feature
        variance, for numerical stability.

    Attributes
    ----------
    S_mu_, S_eps_ : ndarray of shape (n_dims, n_dims)
        Identity and within-person covariances (``n_dims`` is the PCA
        dimension, or the number of features).
    A_, G_ : ndarray of shape (n_dims, n_dims)
        The matrices of the log-likelihood ratio, acting on centred (and
        projected) features.
    mean_ : ndarray of shape (n_features,)
        Training mean (after binarisation, if any).
    pca_ : PCA or None
    thresholds_ : ndarray of shape (n_features,) or None
        Binarisation thresholds.
    n_iter_ : int
        EM iterations run.
    threshold_ : float or None
        Decision threshold on ``r``; None after ``fit_identities`` until
        ``fit_threshold``.
    classes_ : ndarray of shape (2,)

    References
    ----------
    .. [1] Chen, Cao, Wang, Wen, Sun. "Bayesian face revisited: a joint
       formulation." ECCV 2012.
    .. [2] Sun, Wang, Tang. "Deeply learned face representations are sparse,
       selective, and robust." CVPR 2015.
    """

    _parameter_constraints = {
        "n_components": [NONE, Interval(numbers.Integral, 1, None)],
        "binarize": [NONE, Options(("zero", "median"))],
        "max_iter": [Interval(numbers.Integral, 1, None)],
        "tol": [Interval(numbers.Real, 0, None)],
        "reg": [Interval(numbers.Real, 0, None)],
    }

    def __init__(
        self,
        n_components: int | None = None,
        binarize: str | None = None,
        max_iter: int = 100,
        tol: float = 1e-5,
        reg: float = 1e-6,
    ) -> None:
        self.n_components = n_components
        self.binarize = binarize
        self.max_iter = max_iter
        self.tol = tol
        self.reg = reg

    def __transfer_tags__(self) -> dict[str, Any]:
        """Tags (see :mod:`transfer._tags`): binary codes when ``binarize`` is set."""
        tags = super().__transfer_tags__()
        binary = self.binarize is not None
        tags.update(
            binary_codes=binary,
            binary_code_column=f"Joint Bayesian ({'binary' if binary else 'real'})",
        )
        return tags

    def _project(self, X: np.ndarray) -> np.ndarray:
        if self.thresholds_ is not None:
            X = binarize(X, self.thresholds_)
        if self.pca_ is not None:
            return self.pca_.transform(X)
        return X - self.mean_

    def _fit_images(self, X, identities):
        self.thresholds_ = (
            binarization_thresholds(X, self.binarize) if self.binarize is not None else None
        )
        if self.thresholds_ is not None:
            X = binarize(X, self.thresholds_)
        self.mean_ = X.mean(axis=0)
        self.pca_ = None
        if self.n_components is not None:
            k = min(int(self.n_components), X.shape[0], X.shape[1])
            solver = "covariance_eigh" if X.shape[0] >= X.shape[1] else "full"
            self.pca_ = PCA(n_components=k, svd_solver=solver).fit(X)
        Z = self._project(X)
        S_mu, S_eps, n_iter, converged = joint_bayesian_em(
            Z, identities, max_iter=self.max_iter, tol=self.tol, reg=self.reg
        )
        if not converged:
            warnings.warn(
                f"JointBayesian: EM did not converge in max_iter={self.max_iter} iterations "
                f"(tol={self.tol}); increase max_iter. EM is slow where S_mu is much "
                "smaller than S_eps; the scores usually settle long before the matrices.",
                ConvergenceWarning,
                stacklevel=self._stacklevel,
            )
        self.S_mu_, self.S_eps_, self.n_iter_ = S_mu, S_eps, n_iter
        # In the joint eigenbasis (W^T S_eps W = I, W^T S_mu W = diag(lam)) the
        # same-pair covariance is [[lam+1, lam], [lam, lam+1]] per coordinate.
        lam, W = _joint_eigh(S_mu, S_eps)
        # a = 1/(lam+1) - (lam+1)/(2 lam+1) and g, both <= 0: A and G are
        # negative semi-definite, each one symmetric product
        self._a = -(lam * lam) / ((lam + 1.0) * (2.0 * lam + 1.0))
        self._g = -lam / (2.0 * lam + 1.0)
        self._W = W
        Wa = W * np.sqrt(-self._a)
        Wg = W * np.sqrt(-self._g)
        self.A_ = -(Wa @ Wa.T)
        self.G_ = -(Wg @ Wg.T)

    def _score(self, X1, X2):
        # r = sum_j a_j (z1_j^2 + z2_j^2) - 2 g_j z1_j z2_j, z = W^T x: one product
        n = len(X1)
        Z = self._project(np.concatenate([X1, X2])) @ self._W
        Z1, Z2 = Z[:n], Z[n:]
        return (Z1 * Z1 + Z2 * Z2) @ self._a - 2.0 * ((Z1 * Z2) @ self._g)


class _ImagePreprocessing:
    """Centring / standardisation fitted on the training images."""

    def _fit_preprocessing(self, X: np.ndarray) -> None:
        mode = self.preprocessing
        self.mean_ = X.mean(axis=0) if mode != "none" else np.zeros(X.shape[1])
        if mode == "standardize":
            std = X.std(axis=0)
            self.scale_ = np.where(std > 0, std, 1.0)
        else:
            self.scale_ = np.ones(X.shape[1])

    def _prep(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean_) / self.scale_


_PREPROCESSING = [Options(("none", "center", "standardize"))]


class CosineVerifier(_ImagePreprocessing, PairVerifier):
    """Cosine similarity of the two feature vectors, with a fitted threshold.

    Parameters
    ----------
    preprocessing : {"none", "center", "standardize"}, default="none"
        Transform applied to every image before the cosine, fitted on the
        training images: nothing, subtract the mean ("center"; often helps
        non-negative features such as ReLU activations, which otherwise all
        lie in one orthant), or subtract the mean and divide by the standard
        deviation.

    Attributes
    ----------
    mean_, scale_ : ndarray of shape (n_features,)
        The fitted preprocessing.
    threshold_ : float
        Cosine threshold maximising training accuracy.
    classes_ : ndarray of shape (2,)
        Pair labels; ``classes_[1]`` means same.

    References
    ----------
    .. [1] Nguyen, Bai. "Cosine similarity metric learning for face
       verification." ACCV 2010.
    """

    _parameter_constraints = {"preprocessing": _PREPROCESSING}

    def __init__(self, preprocessing: str = "none") -> None:
        self.preprocessing = preprocessing

    def _fit_images(self, X, identities):
        self._fit_preprocessing(X)

    def _score(self, X1, X2):
        Z1, Z2 = self._prep(X1), self._prep(X2)
        n1 = np.maximum(np.linalg.norm(Z1, axis=1), 1e-12)
        n2 = np.maximum(np.linalg.norm(Z2, axis=1), 1e-12)
        return np.einsum("ij,ij->i", Z1, Z2) / (n1 * n2)


class EuclideanVerifier(_ImagePreprocessing, PairVerifier):
    """Negative Euclidean distance of the two feature vectors, with a fitted threshold.

    Parameters
    ----------
    preprocessing : {"none", "center", "standardize"}, default="none"
        Transform applied to every image first, fitted on the training
        images (centring does not change distances; standardising does).

    Attributes
    ----------
    mean_, scale_ : ndarray of shape (n_features,)
    threshold_ : float
    classes_ : ndarray of shape (2,)

    References
    ----------
    .. [1] Schroff, Kalenichenko, Philbin. "FaceNet: a unified embedding for
       face recognition and clustering." CVPR 2015.
    """

    _parameter_constraints = {"preprocessing": _PREPROCESSING}

    def __init__(self, preprocessing: str = "none") -> None:
        self.preprocessing = preprocessing

    def _fit_images(self, X, identities):
        self._fit_preprocessing(X)

    def _score(self, X1, X2):
        return -np.linalg.norm(self._prep(X1) - self._prep(X2), axis=1)


class HammingVerifier(PairVerifier):
    """Binarised features compared by the fraction of agreeing bits.

    Each feature becomes one bit, ``x > t`` with per-feature thresholds
    fitted on the training images; the score is ``1 - hamming / n_features``,
    the fraction of bits on which the two codes agree (a monotone transform
    of minus the Hamming distance). DeepID2+ [1]_ showed that binarising
    face-identity features this way loses little verification accuracy.

    Parameters
    ----------
    threshold : {"zero", "median"}, default="zero"
        See :func:`binarization_thresholds`.

    Attributes
    ----------
    thresholds_ : ndarray of shape (n_features,)
        Per-feature binarisation thresholds.
    threshold_ : float
        Decision threshold on the agreement fraction.
    classes_ : ndarray of shape (2,)

    References
    ----------
    .. [1] Sun, Wang, Tang. "Deeply learned face representations are sparse,
       selective, and robust." CVPR 2015.
    """

    _parameter_constraints = {"threshold": [Options(("zero", "median"))]}

    def __init__(self, threshold: str = "zero") -> None:
        self.threshold = threshold

    def __transfer_tags__(self) -> dict[str, Any]:
        """Tags (see :mod:`transfer._tags`): a pair head on binary codes."""
        tags = super().__transfer_tags__()
        tags.update(binary_codes=True, binary_code_column="Hamming (binary)")
        return tags

    def _fit_images(self, X, identities):
        self.thresholds_ = binarization_thresholds(X, self.threshold)

    def _score(self, X1, X2):
        b1 = X1 > self.thresholds_
        b2 = X2 > self.thresholds_
        return (b1 == b2).mean(axis=1)


class PairSVM(PairVerifier):
    """Linear SVM on symmetric pair features ``[|x1 - x2|, x1 * x2]``.

    The pair is described by its element-wise absolute difference and
    product, both symmetric in the two images, and a linear SVM learns which
    of those agree for the same person. The threshold on the SVM margin is
    then refitted for training accuracy, like every verifier here.

    Parameters
    ----------
    C : float, default=1.0
        Inverse regularisation strength.
    standardize : bool, default=True
        Standardise the pair features (fitted on the training pairs).
    max_iter : int, default=5000
        Iteration cap of the liblinear solver.

    Attributes
    ----------
    model_ : Pipeline
        The fitted (scaler and) LinearSVC.
    n_iter_ : int
    threshold_ : float
    classes_ : ndarray of shape (2,)

    References
    ----------
    .. [1] Sun, Wang, Tang. "Deep learning face representation by joint
       identification-verification." NIPS 2014 (pair features for verification).
    .. [2] Fan, Chang, Hsieh, Wang, Lin. "LIBLINEAR: A library for large
       linear classification." JMLR 9, 2008.
    """

    _parameter_constraints = {
        "C": [Interval(numbers.Real, 0, None, closed="neither")],
        "standardize": [Options((True, False))],
        "max_iter": [Interval(numbers.Integral, 1, None)],
    }
    _learns_from_images = False

    def __init__(self, C: float = 1.0, standardize: bool = True, max_iter: int = 5000) -> None:
        self.C = C
        self.standardize = standardize
        self.max_iter = max_iter

    @staticmethod
    def _features(X1: np.ndarray, X2: np.ndarray) -> np.ndarray:
        return np.hstack([np.abs(X1 - X2), X1 * X2])

    def _fit_pairs(self, X1, X2, same):
        steps = [("scale", StandardScaler())] if self.standardize else []
        svm = LinearSVC(C=self.C, max_iter=self.max_iter)
        self.model_ = Pipeline([*steps, ("svm", svm)]).fit(self._features(X1, X2), same)
        self.n_iter_ = int(np.max(self.model_[-1].n_iter_))

    def _score(self, X1, X2):
        return self.model_.decision_function(self._features(X1, X2))


class FrozenProtocol:
    """The fold-level fitting of ``VerificationProtocol`` as of 0cdc77b."""

    def __init__(self, training: str = "unrestricted", threshold_folds: int = 5) -> None:
        self.training = training
        self.threshold_folds = threshold_folds

    def _fit(
        self,
        model: Any,
        X: np.ndarray,
        labels: np.ndarray,
        images: np.ndarray,
        pairs: np.ndarray,
        same: np.ndarray,
    ) -> Any:
        """Fit ``model`` on one training side (images + pairs), threshold included."""
        if self.training == "unrestricted" and component_tags(model).get(
            "learns_from_images", False
        ):
            model.fit_identities(X[images], labels[images])
            return model.fit_threshold(X[pairs], same)
        return model.fit(X[pairs], same)

    def _crossfit_threshold(
        self, head: Any, X: np.ndarray, labels: np.ndarray, fold: PairFold
    ) -> float | None:
        """Threshold maximising accuracy on out-of-sample scores of the training pairs."""
        pairs, same = fold.train_pairs, fold.train_same
        ids = labels[pairs]  # (n_pairs, 2) identities
        people = np.unique(ids)
        k = min(self.threshold_folds, len(people))
        group_of = dict(
            zip(people, np.random.default_rng(0).permutation(len(people)) % k, strict=True)
        )
        left_group = np.array([group_of[i] for i in ids[:, 0]])
        scores = np.full(len(pairs), np.nan)
        for g in range(k):
            held = left_group == g
            out_people = [p for p, q in group_of.items() if q == g]
            touches = np.isin(ids, out_people).any(axis=1)
            keep = ~touches
            if not held.any() or len(set(same[keep].tolist())) < 2:
                continue
            images = np.unique(pairs[keep])
            with warnings.catch_warnings():
                # the fit on the whole training side reports convergence once
                warnings.simplefilter("ignore", ConvergenceWarning)
                model = self._fit(clone(head), X, labels, images, pairs[keep], same[keep])
            scores[held] = model.score_pairs(X[pairs[held, 0]], X[pairs[held, 1]])
        ok = np.isfinite(scores)
        if len(set(same[ok].tolist())) < 2:
            return None  # too few identities to cross-fit: fall back to in-sample
        return best_threshold(scores[ok], same[ok])

    def fit_fold(self, head: Any, X: np.ndarray, labels: np.ndarray, fold: Any) -> Any:
        """``evaluate``'s fitting: the head on the training side, then the cross-fitted threshold."""
        model = self._fit(clone(head), X, labels, fold.train, fold.train_pairs, fold.train_same)
        if self.threshold_folds:
            threshold = self._crossfit_threshold(head, X, labels, fold)
            if threshold is not None:
                model.threshold_ = threshold
        return model
