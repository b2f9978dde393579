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

import contextlib
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from transfer._blas import single_threaded_blas

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


#: An active set of at most this many rows is always solved exactly (one
#: Cholesky of |S| x |S| per class and Newton step).
EXACT_MAX_ROWS = 512
#: Larger active sets are solved exactly too when a step has at most
#: EXACT_MAX_PROBLEMS of them and their solves together stay under
#: EXACT_MAX_FLOPS floating-point operations (about a second of two cores).
#: Otherwise they take a truncated conjugate-gradient step: its
#: Hessian-vector products serve all of a step's problems in one matrix
#: product, which pays with many problems (62 one-vs-rest classes of
#: LFW-people: 4x faster than exact steps), but its count of iterations grows
#: with the conditioning of the data, which costs more than exact solves
#: with one problem (the pair SVM on View 2's LBP pairs: 8x slower).
EXACT_MAX_FLOPS = 1e11
EXACT_MAX_PROBLEMS = 4
#: Below this many rows an exact solve runs on one BLAS thread (threads cost
#: more than they bring on small factorisations).
SMALL_SOLVE_ROWS = 1024
#: Largest training set whose full Gram matrix is kept (n x n float64).
GRAM_MAX_ROWS = 4096


def squared_hinge_ovr(
    Y: np.ndarray,
    C: float,
    *,
    X: np.ndarray | None = None,
    K: np.ndarray | None = None,
    rotated: Rotated | None = None,
    intercept_scaling: float = 1.0,
    max_iter: int = 100,
    tol: float = 1e-8,
    start_rows: int = 256,
    start: np.ndarray | None = None,
) -> tuple[np.ndarray, int, bool]:
    """L2-regularised squared-hinge SVMs sharing one training set, all at once.

    Solves, for every column ``y`` of ``Y`` (labels in {-1, +1}), LIBLINEAR's
    L2-loss SVM with a penalised intercept (the constant feature
    ``intercept_scaling``, as :class:`sklearn.svm.LinearSVC`)::

        min_w 1/2 ||w||^2 + C sum_i max(0, 1 - y_i w . x_i)^2

    by Chapelle's primal Newton method [1]_ with exact line search, every
    problem (one-vs-rest class, attribute) in the same matrix products. On
    the set ``S`` of margin violators the objective is quadratic; its
    minimiser has ``w = sum_{i in S} beta_i x_i`` with ``beta_S = (K_SS +
    I/(2C))^-1 y_S``. A problem whose ``S`` has at most
    :data:`EXACT_MAX_ROWS` rows steps there exactly (one Cholesky of
    ``|S| x |S|``, or in the primal form of ``(d+1) x (d+1)`` when that is
    smaller), and so do larger ones when a step has at most
    :data:`EXACT_MAX_PROBLEMS` of them, smallest first while the step's exact
    solves stay within :data:`EXACT_MAX_FLOPS`; the others take a truncated
    conjugate-gradient Newton step (Hessian-vector products for all such
    problems in one pair of matrix products, as in LIBLINEAR's TRON [2]_),
    whose iterations grow with the conditioning of the data. The first step
    (``S`` = all rows) is one shared linear system. A problem has converged
    when an exact step keeps its ``S``, which is then the optimum exactly,
    or when its gradient has fallen below ``tol`` times its initial norm.

    The data is given either as features ``X`` (the "primal" form: the
    unknowns are ``w``, products cost O(n d)) or as a Gram matrix ``K``
    (the kernel form: the unknowns are ``beta`` with ``w = X^T beta``,
    products cost O(n^2); best when n < d).

    Parameters
    ----------
    Y : ndarray of shape (n, m)
        One {-1, +1} column per binary problem.
    C : float
        Inverse regularisation strength.
    X : ndarray of shape (n, d), optional
        The training rows (primal form).
    K : ndarray of shape (n, n), optional
        Their Gram matrix ``X X^T``, without the intercept (kernel form).
    intercept_scaling : float, default=1.0
        Value of the constant feature that carries the intercept.
    max_iter : int, default=100
        Newton steps allowed.
    tol : float, default=1e-8
        Relative gradient norm at which a problem on the conjugate-gradient
        path counts as converged.
    start_rows : int, default=256
        With more than twice this many rows, each problem starts from the
        minimiser on its ``start_rows`` rows of smallest margin after the
        first step (:func:`_working_start`) rather than from the first step
        itself; 0 turns this off. The optimum is the same.
    start : ndarray of bool, shape (n, m), optional
        A guess of each problem's margin violators at the optimum (e.g. those
        of a solution on a superset of the rows): the first step is then
        the exact minimiser on that set, instead of the all-rows step and
        the working start; Newton continues from it to the same optimum.

    Returns
    -------
    B : ndarray
        Primal form: ``(d + 1, m)``, the weights with the intercept feature's
        weight last (the intercept is ``intercept_scaling * B[-1]``). Kernel
        form: ``(n, m)`` expansion coefficients (``w = X^T B``, intercept
        ``intercept_scaling**2 * B.sum(0)``).
    n_iter : int
        Newton steps taken.
    converged : bool
        Whether every problem converged.

    References
    ----------
    .. [1] Chapelle. "Training a support vector machine in the primal."
       Neural Computation 19(5), 2007.
    .. [2] Lin, Weng, Keerthi. "Trust region Newton method for large-scale
       logistic regression." JMLR 9, 2008.
    """
    from scipy.linalg import cho_factor, cho_solve

    if sum(a is not None for a in (X, K, rotated)) != 1:
        raise ValueError(
            "give exactly one of X (primal form), K (kernel form) or rotated (primal form "
            "on rotate_features(X))"
        )
    Y = np.asarray(Y, dtype=np.float64)
    n, m = Y.shape
    s2 = float(intercept_scaling) ** 2
    kernel = K is not None
    scales = None
    if kernel:
        K = np.asarray(K, dtype=np.float64) + s2
        G = K
    elif rotated is not None:
        F, scales = rotated.Z, rotated.scales
        G = F @ F.T if n <= GRAM_MAX_ROWS else None
    else:
        F = _with_intercept(X, intercept_scaling)
        G = F @ F.T if n <= GRAM_MAX_ROWS else None
    ridge = 1.0 / (2.0 * C)

    def forward(V: np.ndarray) -> np.ndarray:  # the outputs X w of directions V
        return K @ V if kernel else F @ V

    def block(idx: np.ndarray) -> np.ndarray:  # K_SS (+ intercept) of the rows idx
        if G is not None:
            return G[np.ix_(idx, idx)]
        return F[idx] @ F[idx].T

    def expand(idx: np.ndarray, beta: np.ndarray) -> np.ndarray:  # the unknowns of beta_S
        if kernel:
            out = np.zeros(n)
            out[idx] = beta
            return out
        return F[idx].T @ beta

    def gradient(B: np.ndarray, R: np.ndarray) -> np.ndarray:
        return B - 2.0 * C * (R if kernel else F.T @ R)

    def norms(V: np.ndarray, KV: np.ndarray | None = None) -> np.ndarray:
        if kernel:
            return np.sqrt(np.maximum(np.einsum("ij,ij->j", V, K @ V if KV is None else KV), 0))
        return np.sqrt(np.einsum("ij,ij->j", V, V))

    def minimiser(idx: np.ndarray, j: int) -> np.ndarray:  # the unknowns of problem j on S = idx
        one_thread = idx.size < SMALL_SOLVE_ROWS
        with single_threaded_blas() if one_thread else contextlib.nullcontext():
            if not kernel and F.shape[1] < idx.size:  # (d+1) x (d+1) normal equations
                Fs = F[idx]
                A = Fs.T @ Fs
                A *= 2.0 * C
                A.flat[:: A.shape[0] + 1] += 1.0
                rhs = 2.0 * C * (Fs.T @ Y[idx, j])
                return cho_solve(cho_factor(A, check_finite=False), rhs)
            sub = block(idx)
            sub.flat[:: idx.size + 1] += ridge
            return expand(idx, cho_solve(cho_factor(sub, check_finite=False), Y[idx, j]))

    if start is not None:
        start = np.asarray(start, dtype=bool)
        if start.shape != (n, m):
            raise ValueError(
                f"'start' must be a boolean array of shape {(n, m)}, got {start.shape}"
            )
    g0 = norms(2.0 * C * Y) if kernel else norms(2.0 * C * (F.T @ Y))
    g0 = np.maximum(g0, np.finfo(np.float64).tiny)
    if start is not None:  # step 1: the minimiser on the guessed violators
        B = np.zeros((n if kernel else F.shape[1], m))
        for j in range(m):
            idx = np.flatnonzero(start[:, j])
            if idx.size:
                B[:, j] = minimiser(idx, j)
        out = forward(B)
    # step 1: every row a violator, the same system for all problems
    elif kernel:
        first = K.copy()
        first.flat[:: n + 1] += ridge
        B = cho_solve(cho_factor(first, check_finite=False), Y, check_finite=False)
    else:
        first = F.T @ F * (2.0 * C)
        first.flat[:: first.shape[0] + 1] += 1.0
        B = cho_solve(cho_factor(first, check_finite=False), 2.0 * C * (F.T @ Y))
    if start is None:
        out = forward(B)
    if start is None and start_rows and n > 2 * start_rows:
        B, out = _working_start(Y, B, out, start_rows, ridge, block, expand, forward)
    active = Y * out < 1.0
    done = np.zeros(m, dtype=bool)
    n_iter = 1
    for step in range(2, max_iter + 1):
        margin = 1.0 - Y * out
        R = Y * np.maximum(margin, 0.0)
        live = np.flatnonzero(~done)
        if live.size == 0:
            break
        n_iter = step
        dirs = np.zeros((B.shape[0], live.size))
        sizes = active[:, live].sum(axis=0)
        exact = _exact_steps(sizes, None if kernel else F.shape[1], G is not None)
        for col, j in enumerate(live):
            if not exact[col]:
                continue
            idx = np.flatnonzero(active[:, j])
            if not idx.size:
                dirs[:, col] = -B[:, j]
                continue
            dirs[:, col] = minimiser(idx, j) - B[:, j]
        cg = np.flatnonzero(~exact)
        if cg.size:
            cols = live[cg]
            g = gradient(B[:, cols], R[:, cols])
            gn = norms(g)
            settled = gn <= tol * g0[cols]
            done[cols[settled]] = True
            dirs[:, cg] = _cg_step(
                g, active[:, cols], C, F=None if kernel else F, K=K, scales=scales
            )
        q = forward(dirs)
        t = _line_steps(B[:, live], dirs, out[:, live], q, Y[:, live], C, kernel)
        B[:, live] += t * dirs
        out[:, live] += t * q
        now = Y[:, live] * out[:, live] < 1.0
        stable = np.all(now == active[:, live], axis=0)
        # a step that no longer moves the outputs: already optimal on its set
        scale = np.maximum(1.0, np.max(np.abs(out[:, live]), axis=0))
        still = np.max(np.abs(q), axis=0) * t <= 1e-12 * scale
        done[live] |= exact & ((stable & (t >= 1.0 - 1e-9)) | still | (t == 0.0))
        active[:, live] = now
    converged = bool(done.all())
    if rotated is not None:
        B = rotated.V @ B
    return B, n_iter, converged


def _exact_steps(sizes: np.ndarray, p: int | None, gram_kept: bool) -> np.ndarray:
    """Which problems, of active-set ``sizes``, take an exact Newton step.

    ``p`` is the primal width ``d + 1`` (None in the kernel form, where the
    Gram matrix is at hand); ``gram_kept`` whether ``K_SS`` blocks are read
    from a stored Gram matrix rather than computed from the rows. Sets of at
    most :data:`EXACT_MAX_ROWS` rows always do; larger ones, when at most
    :data:`EXACT_MAX_PROBLEMS` of them, smallest first while the step's
    solves stay within :data:`EXACT_MAX_FLOPS`.
    """
    s = sizes.astype(np.float64)
    cost = s**3 / 3.0
    if p is not None:
        if not gram_kept:
            cost += s * s * p
        cost = np.minimum(cost, s * p * p + p**3 / 3.0)
    exact = sizes <= EXACT_MAX_ROWS
    if np.count_nonzero(~exact) > EXACT_MAX_PROBLEMS:
        return exact
    spent = float(cost[exact].sum())
    for j in np.argsort(sizes, kind="stable"):
        if exact[j]:
            continue
        if spent + cost[j] > EXACT_MAX_FLOPS:
            break
        exact[j] = True
        spent += cost[j]
    return exact


def _with_intercept(X: np.ndarray, intercept_scaling: float) -> np.ndarray:
    """``[X, intercept_scaling]`` in float64."""
    F = np.empty((len(X), X.shape[1] + 1))
    F[:, :-1] = X
    F[:, -1] = intercept_scaling
    return F


@dataclass(frozen=True)
class Rotated:
    """Training rows (with the intercept feature) in the eigenbasis of their scatter.

    ``Z = [X, s] V`` with ``[X, s]^T [X, s] = V diag(scales) V^T``: in these
    coordinates the scatter is diagonal, which makes a good preconditioner
    of the conjugate-gradient Newton steps of :func:`squared_hinge_ovr` (the
    solution is mapped back with ``V``). Computed once per training set by
    :func:`rotate_features` and reused for every C.
    """

    Z: np.ndarray
    V: np.ndarray
    scales: np.ndarray


def rotate_features(X: np.ndarray, intercept_scaling: float = 1.0) -> Rotated:
    """The :class:`Rotated` form of ``X`` (one ``(d+1) x (d+1)`` eigendecomposition)."""
    F = _with_intercept(X, intercept_scaling)
    scales, V = np.linalg.eigh(F.T @ F)
    return Rotated(Z=F @ V, V=V, scales=np.maximum(scales, 0.0))


def _working_start(Y, B, out, rows, ridge, block, expand, forward):
    """Start each problem at the minimiser on its ``rows`` rows of smallest margin.

    After the first (all-rows) step most rows of a one-vs-rest problem still
    violate the margin, and an exact Newton step would factorise them all;
    the minimiser on the rows nearest the boundary is a start whose set of
    violators is already close to the optimum's (Newton then continues
    from it, so the optimum is the same).
    """
    from scipy.linalg import cho_factor, cho_solve

    B = B.copy()
    with single_threaded_blas():
        for j in range(Y.shape[1]):
            y = Y[:, j]
            idx = np.sort(np.argsort(y * out[:, j])[:rows])
            sub = block(idx)
            sub.flat[:: idx.size + 1] += ridge
            beta = cho_solve(cho_factor(sub, check_finite=False), y[idx])
            B[:, j] = expand(idx, beta)
    return B, forward(B)


def _cg_step(
    g: np.ndarray,
    active: np.ndarray,
    C: float,
    *,
    F: np.ndarray | None,
    K: np.ndarray | None,
    scales: np.ndarray | None = None,
    max_cg: int = 250,
) -> np.ndarray:
    """Truncated conjugate-gradient solutions of ``H s = -g``, one per column.

    ``H = I + 2C X_S^T X_S`` (the generalized Hessian of each problem on its
    margin violators ``S``, the column of ``active``). In the kernel form the
    unknowns are expansion coefficients and the inner product is the one of
    ``K`` (in which ``v -> v + 2C D K v`` is self-adjoint). Each column stops
    when its residual is below ``min(0.1, sqrt(|g| / |g_0|))`` of ``|g|``
    (an inexact Newton forcing term); all columns advance in the same
    matrix products. ``scales`` (primal form on rotated features whose
    ``F^T F`` is the diagonal ``scales``) preconditions each column by the
    diagonal ``1 + 2C rho scales``, ``rho`` the column's fraction of
    violators: the Hessian it would have if its violators were a random
    sample of the rows.
    """
    D = active.astype(np.float64)
    s = np.zeros_like(g)
    r = -g
    if K is not None:
        return _cg_kernel(s, r, D, C, K, max_cg)
    inv = None
    if scales is not None:
        inv = 1.0 / (1.0 + 2.0 * C * np.outer(scales, D.mean(axis=0)))
    z = r * inv if inv is not None else r
    rz = np.einsum("ij,ij->j", r, z)
    stop = (0.1**2) * rz
    p = z.copy()
    going = rz > 0
    for _ in range(max_cg):
        idx = np.flatnonzero(going)  # converged columns leave the products
        if not idx.size:
            break
        P = p[:, idx]
        Ap = P + 2.0 * C * (F.T @ (D[:, idx] * (F @ P)))
        pAp = np.einsum("ij,ij->j", P, Ap)
        alpha = rz[idx] / np.where(pAp > 0, pAp, 1.0)
        s[:, idx] += alpha * P
        r[:, idx] -= alpha * Ap
        z = r[:, idx] * inv[:, idx] if inv is not None else r[:, idx]
        rz_new = np.einsum("ij,ij->j", r[:, idx], z)
        beta = rz_new / np.where(rz[idx] > 0, rz[idx], 1.0)
        rz[idx] = rz_new
        p[:, idx] = z + beta * P
        going[idx] = rz_new > stop[idx]
    return s


def _cg_kernel(
    s: np.ndarray, r: np.ndarray, D: np.ndarray, C: float, K: np.ndarray, max_cg: int
) -> np.ndarray:
    """:func:`_cg_step` in the kernel form: conjugate gradients in ``K``'s inner product."""
    Kr = K @ r
    rr = np.einsum("ij,ij->j", r, Kr)
    stop = (0.1**2) * rr
    p, Kp = r.copy(), Kr.copy()
    going = rr > 0
    for _ in range(max_cg):
        idx = np.flatnonzero(going)
        if not idx.size:
            break
        P, KP = p[:, idx], Kp[:, idx]
        Ap = P + 2.0 * C * D[:, idx] * KP
        pAp = np.einsum("ij,ij->j", KP, Ap)
        alpha = rr[idx] / np.where(pAp > 0, pAp, 1.0)
        s[:, idx] += alpha * P
        r[:, idx] -= alpha * Ap
        Kr_i = Kr[:, idx] - alpha * (K @ Ap)
        Kr[:, idx] = Kr_i
        rr_new = np.einsum("ij,ij->j", r[:, idx], Kr_i)
        beta = rr_new / np.where(rr[idx] > 0, rr[idx], 1.0)
        rr[idx] = rr_new
        p[:, idx] = r[:, idx] + beta * P
        Kp[:, idx] = Kr_i + beta * KP
        going[idx] = rr_new > stop[idx]
    return s


def _line_steps(
    B: np.ndarray,
    dirs: np.ndarray,
    out: np.ndarray,
    q: np.ndarray,
    Y: np.ndarray,
    C: float,
    kernel: bool,
) -> np.ndarray:
    """Exact minimisers ``t >= 0`` of each objective along ``B + t dirs``.

    The derivative in ``t`` is piecewise linear and increasing; it is
    bracketed (doubling from 1) and bisected to machine precision, all
    columns at once (each probe O(n m)).
    """
    if kernel:  # w . s and s . s in the kernel's inner product
        a0 = np.einsum("ij,ij->j", B, q)
        a1 = np.einsum("ij,ij->j", dirs, q)
    else:
        a0 = np.einsum("ij,ij->j", B, dirs)
        a1 = np.einsum("ij,ij->j", dirs, dirs)
    yq = Y * q
    margin = 1.0 - Y * out

    def slope(t: np.ndarray) -> np.ndarray:
        return a0 + t * a1 - 2.0 * C * np.einsum("ij,ij->j", yq, np.maximum(margin - t * yq, 0.0))

    scale = np.abs(a0) + np.abs(a1) + 2.0 * C * np.einsum("ij,ij->j", np.abs(yq), np.abs(margin))
    descent = slope(np.zeros(len(a0))) < -1e-12 * scale
    lo, hi = np.zeros(len(a0)), np.ones(len(a0))
    for _ in range(60):  # bracket: the minimiser lies below hi
        low = descent & (slope(hi) < 0.0)
        if not low.any():
            break
        lo, hi = np.where(low, hi, lo), np.where(low, 2.0 * hi, hi)
    full = descent & (np.abs(slope(np.ones(len(a0)))) <= 1e-12 * scale)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        neg = slope(mid) < 0.0
        lo, hi = np.where(neg, mid, lo), np.where(neg, hi, mid)
    t = np.where(descent, 0.5 * (lo + hi), 0.0)
    return np.where(full, 1.0, t)


def squared_hinge_newton(
    K: np.ndarray,
    Y: np.ndarray,
    C: float,
    *,
    intercept_scaling: float = 1.0,
    max_iter: int = 100,
) -> tuple[np.ndarray, int, bool]:
    """:func:`squared_hinge_ovr` in the kernel form: ``(beta, n_iter, converged)``.

    ``w = X^T beta`` and the intercept is ``intercept_scaling**2 * beta.sum(0)``.
    """
    return squared_hinge_ovr(Y, C, K=K, intercept_scaling=intercept_scaling, max_iter=max_iter)


class LinearFit(BaseEstimator):
    """Fit a linear scikit-learn estimator in the row space or on the features.

    Parameters
    ----------
    estimator : estimator
        An unfitted L2-regularised linear classifier with a ``C`` parameter
        and ``coef_`` / ``intercept_`` (``LinearSVC``, ``LogisticRegression``).
        A squared-hinge ``LinearSVC`` is solved by :func:`squared_hinge_ovr`
        (all one-vs-rest problems in the same matrix products; its
        ``intercept_scaling`` and ``max_iter`` apply) in the "gram" and
        "primal" formulations; any other estimator is fitted on the
        coordinates of the rows in their span (:func:`row_space`) in the
        "gram" formulation and on the features otherwise.
    C : float or "auto"
        Its C; "auto" picks one of ``grid`` by stratified inner cross-validation.
    standardize : bool
        Standardise the features first (the scaler is fitted on each inner
        training fold, as a Pipeline inside GridSearchCV would).
    formulation : {"auto", "gram", "primal", "features"}
        "gram" solves through the Gram matrix of the training rows (the
        unknowns are one coefficient per row); "primal" solves the
        squared-hinge SVM by Newton steps on the weights themselves (other
        estimators: as "features"); "features" hands the features to the
        estimator as they are (LIBLINEAR for ``LinearSVC``); "auto" takes
        "gram" when the training set has fewer rows than columns and
        "primal" otherwise.
    grid : tuple of float
        The C values searched by ``C="auto"``.

    Attributes
    ----------
    C_ : float
        The C used for the final fit.
    formulation_ : str
        "gram", "primal" or "features", as chosen.
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
    def fit(self, X: np.ndarray, y: np.ndarray, start: np.ndarray | None = None) -> LinearFit:
        """Fit on features ``X`` (n_samples, n_features) and encoded labels ``y``.

        ``start``: a guess of the final fit's margin violators for the Newton
        solver (see :func:`squared_hinge_ovr`); ignored by LIBLINEAR.
        """
        n, d = X.shape
        self._classes = np.unique(y)
        form = self.formulation
        if form == "auto":
            form = "gram" if n < d else "primal"
        if form == "primal" and not self._newton():
            form = "features"
        self.formulation_ = form
        use_gram = form == "gram"
        # the Gram matrix of the raw features serves every inner fold and the
        # final fit; standardised features change with each fold's scaler
        K = _gram(X) if use_gram and not self.standardize else None
        self.C_ = self._search(X, y, K) if self.C == "auto" else float(self.C)
        self.scaler_ = StandardScaler().fit(X) if self.standardize else None
        Xs = self.scaler_.transform(X) if self.scaler_ is not None else X
        self.coef_, self.intercept_, self.n_iter_ = self._fit_one(Xs, y, self.C_, K, start)
        return self

    def _fit_one(
        self,
        Xs: np.ndarray,
        y: np.ndarray,
        C: float,
        K: np.ndarray | None,
        start: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, Any]:
        """(coef, intercept, n_iter) of the estimator fitted on ``Xs`` (Gram ``K``)."""
        model = clone(self.estimator).set_params(C=C)
        if self.formulation_ == "primal":
            s = float(model.intercept_scaling)
            W, n_iter, converged = squared_hinge_ovr(
                self._targets(y),
                C,
                X=Xs,
                intercept_scaling=s,
                max_iter=model.max_iter,
                start=start,
            )
            self._warn_unconverged(converged, C, model.max_iter)
            return W[:-1].T.copy(), s * W[-1], n_iter
        if self.formulation_ == "features":
            model.fit(Xs, y)
            coef, intercept = model.coef_, model.intercept_
            return _as_f64(coef), np.atleast_1d(_as_f64(intercept)), model.n_iter_
        if K is None:
            K = _gram(Xs)
        if self._newton():
            s = float(model.intercept_scaling)
            beta, n_iter, converged = squared_hinge_ovr(
                self._targets(y), C, K=K, intercept_scaling=s, max_iter=model.max_iter, start=start
            )
            self._warn_unconverged(converged, C, model.max_iter)
            X64 = Xs.T.astype(np.float64, copy=False)
            return (X64 @ beta).T, s * s * beta.sum(axis=0), n_iter
        Z, P = row_space(K)
        if isinstance(model, LinearSVC):
            # other LinearSVC losses: LIBLINEAR's dual coordinate descent, as
            # it runs on the features when rows are fewer than columns; it
            # sees the data only through the Gram matrix, so its iterates are
            # the same, each update costing O(rank) instead of O(n_features)
            model.set_params(dual=True)
        model.fit(Z, y)
        X64 = Xs.T.astype(np.float64, copy=False)
        coef = _as_f64(model.coef_) @ (X64 @ P).T
        return coef, np.atleast_1d(_as_f64(model.intercept_)), model.n_iter_

    @staticmethod
    def _warn_unconverged(converged: bool, C: float, max_iter: int) -> None:
        if not converged:
            warnings.warn(
                f"the squared-hinge SVM (C={C}) did not converge in max_iter={max_iter} "
                "Newton steps",
                ConvergenceWarning,
                stacklevel=5,
            )

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
