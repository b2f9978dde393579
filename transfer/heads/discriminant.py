"""The two stages of Fisherfaces, computed where the work is small.

:class:`FisherfacesHead` (PCA to ``n_samples - n_classes`` dimensions, then
LDA with Ledoit-Wolf shrinkage of the within-class covariance) spent most of
a LFW-people fold (2,418 rows of 2,900 features) in two places:
scikit-learn's full SVD for the PCA, and its shrinkage LDA, which builds one
``p x p`` covariance per class (62 of them) and solves with an SVD-based
least squares. Here:

- :class:`GramPCA` takes the principal axes from the eigenvectors of the
  ``n x n`` Gram matrix of the centred rows when rows are fewer than
  columns (``X X^T = U S^2 U^T``, axes ``X^T U S^-1``), the covariance's
  otherwise: one symmetric eigendecomposition instead of an SVD of the
  ``n x d`` matrix. The subspace and the projections are those of
  scikit-learn's ``PCA`` up to the signs of the axes (the components with
  eigenvalues below ``1e-10`` of the largest are dropped; scikit-learn keeps
  them as noise directions).
- :class:`ShrunkLDA` is scikit-learn's ``LinearDiscriminantAnalysis(
  solver="lsqr", shrinkage=...)`` in closed form. The Ledoit-Wolf intensity
  of each class needs only ``||X_c^T X_c||_F^2 = ||X_c X_c^T||_F^2``, an
  ``n_c x n_c`` Gram matrix, and the weighted sum of the shrunk class
  covariances is ``W^T W + diag(v)`` with ``W`` the rows of every class
  centred and scaled: one Cholesky solve, of that ``p x p`` matrix, or, by
  the Woodbury identity, of an ``n x n`` one when rows are fewer than
  columns (LDA on raw wide features).

References
----------
.. [1] P. Belhumeur, J. Hespanha and D. Kriegman, "Eigenfaces vs. Fisherfaces:
       recognition using class specific linear projection", IEEE TPAMI 19(7), 1997.
.. [2] O. Ledoit and M. Wolf, "A well-conditioned estimator for
       large-dimensional covariance matrices", J. Multivariate Analysis 88, 2004.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from scipy import linalg
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

__all__ = ["GramPCA", "ShrunkLDA", "ledoit_wolf_intensity"]

#: Eigenvalues below this fraction of the largest are numerical zeros.
_RANK_TOL = 1e-10


class GramPCA(TransformerMixin, BaseEstimator):
    """PCA to ``n_components`` axes by one symmetric eigendecomposition.

    Parameters
    ----------
    n_components : int or float in (0, 1)
        Number of axes, or the fraction of the variance to keep.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
    components_ : ndarray of shape (n_components_, n_features)
        Unit principal axes, by decreasing variance.
    explained_variance_ : ndarray of shape (n_components_,)
    """

    def __init__(self, n_components: int | float = 1) -> None:
        self.n_components = n_components

    def fit(self, X: np.ndarray, y: Any = None) -> GramPCA:
        """Find the principal axes of ``X`` (float64 recommended)."""
        X = np.asarray(X, dtype=np.float64)
        n, d = X.shape
        self.mean_ = X.mean(axis=0)
        Xc = X - self.mean_
        if n < d:  # the n x n Gram matrix: eigenvectors are the scores' directions
            w, U = linalg.eigh(Xc @ Xc.T)
        else:
            w, U = linalg.eigh(Xc.T @ Xc)
        order = np.argsort(w)[::-1]
        w, U = np.clip(w[order], 0.0, None), U[:, order]
        rank = int(np.sum(w > _RANK_TOL * max(w[0], np.finfo(float).tiny)))
        variance = w / max(n - 1, 1)
        if isinstance(self.n_components, numbers.Integral):
            k = min(int(self.n_components), rank)
        else:
            ratio = np.cumsum(variance) / max(variance.sum(), np.finfo(float).tiny)
            k = min(int(np.searchsorted(ratio, float(self.n_components), side="right")) + 1, rank)
        k = max(k, 1)
        if n < d:
            axes = (Xc.T @ U[:, :k]) / np.sqrt(np.maximum(w[:k], np.finfo(float).tiny))
            self.components_ = axes.T
        else:
            self.components_ = U[:, :k].T
        self.explained_variance_ = variance[:k]
        self.n_components_ = k
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Coordinates of ``X`` on the principal axes."""
        check_is_fitted(self, "components_")
        return (np.asarray(X, dtype=np.float64) - self.mean_) @ self.components_.T


def ledoit_wolf_intensity(Xc: np.ndarray) -> float:
    """Ledoit-Wolf shrinkage intensity of centred rows ``Xc`` (n, p).

    Equal to :func:`sklearn.covariance.ledoit_wolf_shrinkage` of the same
    (centred) data, computed from the ``n x n`` Gram matrix rather than the
    ``p x p`` covariance.
    """
    n, p = Xc.shape
    if p == 1 or n == 0:
        return 0.0
    X2 = Xc * Xc
    trace = X2.sum(axis=0) / n
    mu = trace.sum() / p
    beta_ = float(np.sum(X2.sum(axis=1) ** 2))  # sum of <X2^T, X2>'s entries
    gram = Xc @ Xc.T if n <= p else Xc.T @ Xc
    delta_ = float(np.sum(gram * gram)) / n**2  # ||X^T X||_F^2 / n^2
    beta = (beta_ / n - delta_) / (p * n)
    delta = (delta_ - 2.0 * mu * trace.sum() + p * mu**2) / p
    beta = min(beta, delta)
    return 0.0 if beta == 0 else beta / delta


def _solve_low_rank_plus_diagonal(W: np.ndarray, d: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``(W^T W + diag(d))^-1 B``: by the Woodbury identity in the ``n x n`` space when
    ``W`` (n, p) has fewer rows than columns and ``d`` is positive, else by Cholesky
    (least squares when the matrix is singular, as scikit-learn's ``lstsq``)."""
    n, p = W.shape
    if n < p and d.min() > 1e-12 * d.max():
        # (D + W^T W)^-1 = D^-1/2 (I - V^T (I + V V^T)^-1 V) D^-1/2, V = W D^-1/2:
        # the inner matrix is SPD with eigenvalues >= 1
        root = np.sqrt(d)
        V = W / root
        Bs = B / root[:, None]
        inner = V @ V.T
        inner.flat[:: n + 1] += 1.0
        return (Bs - V.T @ linalg.cho_solve(linalg.cho_factor(inner), V @ Bs)) / root[:, None]
    A = W.T @ W
    A.flat[:: p + 1] += d
    try:
        return linalg.cho_solve(linalg.cho_factor(A), B)
    except linalg.LinAlgError:  # singular (no shrinkage): the least-squares solution
        return linalg.lstsq(A, B)[0]


class ShrunkLDA(ClassifierMixin, BaseEstimator):
    """Linear discriminant analysis with a shrunk within-class covariance.

    The same model as ``LinearDiscriminantAnalysis(solver="lsqr",
    shrinkage=shrinkage)`` (each class's covariance shrunk on its own, "auto"
    by the Ledoit-Wolf lemma on standardised features, weighted by the class
    priors), solved in closed form.

    Parameters
    ----------
    shrinkage : "auto" or float in [0, 1], default="auto"

    Attributes
    ----------
    classes_, priors_, means_, coef_ (n_classes, n_features), intercept_
    """

    def __init__(self, shrinkage: str | float = "auto") -> None:
        self.shrinkage = shrinkage

    def fit(self, X: np.ndarray, y: np.ndarray) -> ShrunkLDA:
        """Fit on rows ``X`` and labels ``y``."""
        X = np.asarray(X, dtype=np.float64)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        n, p = X.shape
        counts = np.bincount(y_index, minlength=len(self.classes_))
        self.priors_ = counts / n
        self.means_ = np.zeros((len(self.classes_), p))
        rows = np.empty_like(X)
        diagonal = np.zeros(p)
        for c in range(len(self.classes_)):
            Xg = X[y_index == c]
            self.means_[c] = Xg.mean(axis=0)
            Xc = Xg - self.means_[c]
            n_c = len(Xg)
            if self.shrinkage == "auto":  # on standardised features, then scaled back
                scale = np.sqrt((Xc * Xc).mean(axis=0))
                scale[scale < 10 * np.finfo(np.float64).eps] = 1.0
                Xs = Xc / scale
                delta = ledoit_wolf_intensity(Xs)
                mu = float((Xs * Xs).sum()) / (n_c * p)
                diagonal += self.priors_[c] * delta * mu * scale**2
            else:
                delta = float(self.shrinkage)
                mu = float((Xc * Xc).sum()) / (n_c * p)
                diagonal += self.priors_[c] * delta * mu
            rows[y_index == c] = Xc * np.sqrt(self.priors_[c] * (1.0 - delta) / n_c)
        self.coef_ = _solve_low_rank_plus_diagonal(rows, diagonal, self.means_.T).T
        self.intercept_ = -0.5 * np.sum(self.means_ * self.coef_, axis=1) + np.log(self.priors_)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Class scores (n_samples, n_classes); binary: the margin of ``classes_[1]``."""
        check_is_fitted(self, "coef_")
        scores = np.asarray(X, dtype=np.float64) @ self.coef_.T + self.intercept_
        return scores[:, 1] - scores[:, 0] if scores.shape[1] == 2 else scores

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The class of highest score."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]
