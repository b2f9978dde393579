"""L2-regularised linear models fitted in the span of the training rows.

With fewer training images than feature values (200 ORL faces x 10,304
pixels, 2,418 LFW faces x 2,914 pixels) the solution ``w`` of any
L2-regularised linear model whose loss depends on the data only through the
scores ``X w`` lies in the row space of ``X`` (the representer theorem [1]_).
Write the thin decomposition of the Gram matrix ``K = X X^T = U diag(s) U^T``
and ``V = X^T U diag(s)^{-1/2}`` (orthonormal columns spanning that row
space): then ``w = V a`` and ``X w = Z a`` with ``Z = U diag(s)^{1/2}`` of
shape (n_samples, rank), and ``||w|| = ||a||``. Fitting the very same
estimator (same loss, same ``C``, same intercept handling) on ``Z`` therefore
solves the same problem as on ``X``, exactly, at a cost of ``O(n^2 d)`` for the
Gram matrix plus the solver on an ``n x n`` problem instead of ``n x d``.
``coef_`` is mapped back as ``a V^T``, so predictions need no Gram matrix.
For the squared-hinge SVM on small sets the problem is solved exactly from
the Gram matrix itself (:func:`squared_hinge_newton`, [2]_).

:class:`LinearFit` chooses this "gram" formulation when rows are fewer than
columns and fits on the features otherwise; with ``C="auto"`` it searches
the C grid by stratified inner cross-validation reusing one Gram matrix (and
one eigendecomposition per inner fold) for every C.

References
----------
.. [1] Schoelkopf, Herbrich, Smola. "A generalized representer theorem."
   COLT 2001.
.. [2] Chapelle. "Training a support vector machine in the primal." Neural
   Computation 19(5), 2007.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

#: Eigenvalues of the Gram matrix below this fraction of the largest are
#: treated as zero (directions the training scores cannot see).
RANK_TOL = 1e-10


def row_space(K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of the training rows in an orthonormal basis of their span.

    Parameters
    ----------
    K : ndarray of shape (n, n)
        The Gram matrix ``X X^T`` of the training rows (float64).

    Returns
    -------
    Z : ndarray of shape (n, rank)
        ``U diag(s)^{1/2}``: ``Z Z^T = K``; the training rows' coordinates.
    P : ndarray of shape (n, rank)
        ``U diag(s)^{-1/2}``: the coordinates of other rows are ``X_new X^T P``
        and the basis itself is ``V = X^T P``.
    """
    s, U = np.linalg.eigh(K)
    keep = s > RANK_TOL * max(float(s[-1]), np.finfo(np.float64).tiny)
    s, U = s[keep][::-1], U[:, keep][:, ::-1]  # largest first: deterministic order
    root = np.sqrt(s)
    return U * root, U / root


#: Largest training set the squared-hinge SVM is solved for by exact Newton
#: steps (each a Cholesky solve of up to n x n per class: a few ms at 512);
#: larger ones run LIBLINEAR's dual coordinate descent on the row-space
#: coordinates, whose cost per pass is n x rank.
NEWTON_MAX_ROWS = 512


def squared_hinge_newton(
    K: np.ndarray,
    Y: np.ndarray,
    C: float,
    *,
    intercept_scaling: float = 1.0,
    max_iter: int = 100,
) -> tuple[np.ndarray, int, bool]:
    """L2-regularised squared-hinge SVMs from a Gram matrix, by exact Newton steps.

    Solves, for every column ``y`` of ``Y`` (labels in {-1, +1}), LIBLINEAR's
    L2-loss SVM with a penalised intercept (the constant feature
    ``intercept_scaling``, as :class:`sklearn.svm.LinearSVC`)::

        min_w 1/2 ||w||^2 + C sum_i max(0, 1 - y_i w . x_i)^2

    with ``w = sum_i beta_i x_i``. On the set ``S`` of margin violators the
    objective is quadratic and its minimiser is ``beta_S = (K_SS + I/(2C))^-1
    y_S`` (zero elsewhere); Chapelle's primal Newton method [1]_ steps there
    with an exact line search until ``S`` no longer changes, which gives the
    optimum exactly, in a handful of steps. The first step (``S`` = all rows)
    is the same linear system for every column, solved once.

    Parameters
    ----------
    K : ndarray of shape (n, n)
        Gram matrix of the training rows (without the intercept feature).
    Y : ndarray of shape (n, m)
        One {-1, +1} column per binary problem (one-vs-rest).
    C : float
        Inverse regularisation strength.
    intercept_scaling : float, default=1.0
        Value of the constant feature that carries the intercept.
    max_iter : int, default=100
        Newton steps allowed per problem.

    Returns
    -------
    beta : ndarray of shape (n, m)
        Expansion coefficients: ``w = X^T beta``, intercept
        ``intercept_scaling**2 * beta.sum(0)``.
    n_iter : int
        The most Newton steps any problem took.
    converged : bool
        Whether every problem reached a stable active set.

    References
    ----------
    .. [1] Chapelle. "Training a support vector machine in the primal."
       Neural Computation 19(5), 2007.
    """
    from scipy.linalg import cho_factor, cho_solve

    K = np.asarray(K, dtype=np.float64) + float(intercept_scaling) ** 2
    Y = np.asarray(Y, dtype=np.float64)
    n = len(K)
    ridge = 1.0 / (2.0 * C)
    first = K.copy()
    first.flat[:: n + 1] += ridge
    B = cho_solve(cho_factor(first, check_finite=False), Y, check_finite=False)
    n_iter, converged = 1, True
    for j in range(Y.shape[1]):
        y, beta = Y[:, j], B[:, j]
        out = K @ beta
        active = y * out < 1.0
        for step in range(2, max_iter + 1):
            idx = np.flatnonzero(active)
            target = np.zeros(n)
            if idx.size:
                sub = K[np.ix_(idx, idx)]
                sub.flat[:: idx.size + 1] += ridge
                target[idx] = cho_solve(cho_factor(sub, check_finite=False), y[idx])
            delta = target - beta
            q = K @ delta  # how the step moves the outputs (beta itself is not unique
            n_iter = max(n_iter, step)  # when K is singular: compare outputs)
            if np.max(np.abs(q)) <= 1e-12 * max(1.0, float(np.max(np.abs(out)))):
                break  # already the minimiser on its own active set: optimal
            t = _line_step(beta, delta, out, q, y, C)
            if t == 0.0:
                break  # no descent left within round-off
            beta = beta + t * delta
            out = out + t * q
            now = y * out < 1.0
            if t >= 1.0 - 1e-9 and np.array_equal(now, active):
                break
            active = now
        else:
            converged = False
        B[:, j] = beta
    return B, n_iter, converged


def _line_step(
    beta: np.ndarray, delta: np.ndarray, out: np.ndarray, q: np.ndarray, y: np.ndarray, C: float
) -> float:
    """Exact minimiser on [0, 1] of the objective along ``beta + t delta``.

    Its derivative in ``t`` is piecewise linear and increasing, so the root
    is bracketed by bisection to machine precision (each probe O(n)).
    """
    a0, a1 = float(beta @ q), float(delta @ q)  # beta' K delta, delta' K delta
    yq, margin = y * q, 1.0 - y * out

    def slope(t: float) -> float:
        return a0 + t * a1 - 2.0 * C * float(yq @ np.maximum(margin - t * yq, 0.0))

    tol = 1e-12 * (abs(a0) + abs(a1) + 2.0 * C * float(np.abs(yq) @ np.abs(margin)))
    if slope(0.0) >= -tol:
        return 0.0  # not a descent direction within round-off: at the optimum
    if slope(1.0) <= tol:  # the full step (within round-off)
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if slope(mid) < 0.0 else (lo, mid)
    return 0.5 * (lo + hi)


class LinearFit(BaseEstimator):
    """Fit a linear scikit-learn estimator in the row space or on the features.

    Parameters
    ----------
    estimator : estimator
        An unfitted L2-regularised linear classifier with a ``C`` parameter
        and ``coef_`` / ``intercept_`` (``LinearSVC``, ``LogisticRegression``).
        In the "gram" formulation a squared-hinge ``LinearSVC`` on at most
        :data:`NEWTON_MAX_ROWS` rows is solved from the Gram matrix by
        :func:`squared_hinge_newton` (its ``intercept_scaling`` and
        ``max_iter`` apply); otherwise the estimator is fitted on the
        coordinates of the rows in their span (:func:`row_space`), a
        ``LinearSVC`` by its dual coordinate descent.
    C : float or "auto"
        Its C; "auto" picks one of ``grid`` by stratified inner cross-validation.
    standardize : bool
        Standardise the features first (the scaler is fitted on each inner
        training fold, as a Pipeline inside GridSearchCV would).
    formulation : {"auto", "gram", "features"}
        "gram" solves through the Gram matrix of the training rows;
        "features" hands the features to the estimator as they are; "auto"
        takes "gram" when the training set has fewer rows than columns. (With
        more rows, each Newton step costs ``|S|^3`` per class, where ``S`` is
        the set of margin violators: on 2,418 x 2,048 LFW Gabor features
        with 62 classes that is no faster than LIBLINEAR.)
    grid : tuple of float
        The C values searched by ``C="auto"``.

    Attributes
    ----------
    C_ : float
        The C used for the final fit.
    formulation_ : str
        "gram" or "features", as chosen.
    coef_ : ndarray of shape (n_outputs, n_features)
    intercept_ : ndarray of shape (n_outputs,)
    n_iter_ : int or ndarray
        The solver's iteration count on the final fit.
    """

    def __init__(
        self,
        estimator: Any,
        C: float | str = 1.0,
        standardize: bool = False,
        formulation: str = "auto",
        grid: tuple[float, ...] = (),
    ) -> None:
        self.estimator = estimator
        self.C = C
        self.standardize = standardize
        self.formulation = formulation
        self.grid = grid

    def _newton(self) -> bool:
        est = self.estimator
        return (
            isinstance(est, LinearSVC)
            and est.loss == "squared_hinge"
            and est.penalty == "l2"
            and est.fit_intercept
            and est.class_weight is None
        )

    # -- fitting --------------------------------------------------------------
    def fit(self, X: np.ndarray, y: np.ndarray) -> LinearFit:
        """Fit on features ``X`` (n_samples, n_features) and encoded labels ``y``."""
        n, d = X.shape
        self._classes = np.unique(y)
        use_gram = self.formulation == "gram" or (self.formulation == "auto" and n < d)
        self.formulation_ = "gram" if use_gram else "features"
        # the Gram matrix of the raw features serves every inner fold and the
        # final fit; standardised features change with each fold's scaler
        K = _gram(X) if use_gram and not self.standardize else None
        self.C_ = self._search(X, y, K) if self.C == "auto" else float(self.C)
        self.scaler_ = StandardScaler().fit(X) if self.standardize else None
        Xs = self.scaler_.transform(X) if self.scaler_ is not None else X
        self.coef_, self.intercept_, self.n_iter_ = self._fit_one(Xs, y, self.C_, K)
        return self

    def _fit_one(
        self, Xs: np.ndarray, y: np.ndarray, C: float, K: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, Any]:
        """(coef, intercept, n_iter) of the estimator fitted on ``Xs`` (Gram ``K``)."""
        model = clone(self.estimator).set_params(C=C)
        if self.formulation_ == "features":
            model.fit(Xs, y)
            coef, intercept = model.coef_, model.intercept_
            return _as_f64(coef), np.atleast_1d(_as_f64(intercept)), model.n_iter_
        if K is None:
            K = _gram(Xs)
        X64 = Xs.T.astype(np.float64, copy=False)
        if self._newton() and len(K) <= NEWTON_MAX_ROWS:
            s = float(model.intercept_scaling)
            beta, n_iter, converged = squared_hinge_newton(
                K, self._targets(y), C, intercept_scaling=s, max_iter=model.max_iter
            )
            if not converged:
                warnings.warn(
                    f"the squared-hinge SVM (C={C}) did not reach a stable set of margin "
                    f"violators in max_iter={model.max_iter} Newton steps",
                    ConvergenceWarning,
                    stacklevel=4,
                )
            return (X64 @ beta).T, s * s * beta.sum(axis=0), n_iter
        Z, P = row_space(K)
        if isinstance(model, LinearSVC):
            # LIBLINEAR's dual coordinate descent, as it runs on the features
            # when rows are fewer than columns: it sees the data only through
            # the Gram matrix, so its iterates are the same, each update
            # costing O(rank) instead of O(n_features)
            model.set_params(dual=True)
        model.fit(Z, y)
        coef = _as_f64(model.coef_) @ (X64 @ P).T
        return coef, np.atleast_1d(_as_f64(model.intercept_)), model.n_iter_

    def _targets(self, y: np.ndarray) -> np.ndarray:
        """{-1, +1} columns: one per class (one-vs-rest), one for two classes."""
        if len(self._classes) == 2:
            return np.where(y == self._classes[1], 1.0, -1.0)[:, None]
        return np.where(y[:, None] == self._classes[None, :], 1.0, -1.0)

    def _search(self, X: np.ndarray, y: np.ndarray, K: np.ndarray | None) -> float:
        """The grid C with the best mean inner-fold accuracy (ties: the smaller C)."""
        smallest = int(np.bincount(y).min())
        if smallest < 2:
            raise ValueError(
                "C='auto' picks C by inner cross-validation on the training data, which needs "
                f"at least 2 training samples per class; the smallest class has {smallest}: "
                "give C a value"
            )
        cv = StratifiedKFold(n_splits=min(3, smallest), shuffle=True, random_state=0)
        accuracy = np.zeros(len(self.grid))
        for tr, va in cv.split(X, y):
            scaler = StandardScaler().fit(X[tr]) if self.standardize else None
            Xtr = scaler.transform(X[tr]) if scaler is not None else X[tr]
            Xva = scaler.transform(X[va]) if scaler is not None else X[va]
            Ktr = None
            if self.formulation_ == "gram":  # one Gram matrix for every C of the fold
                Ktr = K[np.ix_(tr, tr)] if K is not None else _gram(Xtr)
            inner = clone(self).set_params(C=1.0)
            inner._classes, inner.formulation_ = np.unique(y[tr]), self.formulation_
            for j, C in enumerate(self.grid):
                coef, intercept, _ = inner._fit_one(Xtr, y[tr], C, Ktr)
                scores = np.asarray(Xva, dtype=np.float64) @ coef.T + intercept
                pred = (scores[:, 0] > 0).astype(int) if scores.shape[1] == 1 else scores.argmax(1)
                accuracy[j] += np.mean(inner._classes[pred] == y[va])
        return float(self.grid[int(np.argmax(accuracy))])  # argmax: the first of equals

    # -- scores ---------------------------------------------------------------
    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Scores ``X coef_^T + intercept_``: (n,) for one output, else (n, n_outputs)."""
        Xs = self.scaler_.transform(X) if self.scaler_ is not None else X
        s = np.asarray(Xs, dtype=np.float64) @ self.coef_.T + self.intercept_
        return s[:, 0] if s.shape[1] == 1 else s


def _as_f64(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _gram(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    return X @ X.T


def _cross_gram(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    return np.asarray(A, dtype=np.float64) @ np.asarray(B, dtype=np.float64).T
