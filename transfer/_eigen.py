"""Leading eigenvectors of a large symmetric positive semi-definite matrix.

A PCA to ``k`` dimensions needs the ``k`` leading eigenvectors of a ``d x d``
scatter matrix. LAPACK's ``syevr`` on an index range reduces the whole
matrix to tridiagonal form first: ``4/3 d^3`` flops, half of them
matrix-vector bound and on one core (about 10 s at ``d = 3,776`` on a 2-core
EPYC). :func:`leading_eigenvectors` instead filters a block of ``2 k``
vectors by Chebyshev polynomials of the matrix, all matrix-matrix products
(Zhou & Saad's filtered subspace iteration [1]_, with Rayleigh-Ritz and
locking of the converged vectors [2]_); it stops when every wanted Ritz pair's
residual is below ``tol`` times the largest eigenvalue, and falls back to
``syevr`` when it does not get there.

References
----------
.. [1] Zhou, Saad. "A Chebyshev-Davidson algorithm for large symmetric
   eigenproblems." SIAM J. Matrix Anal. Appl. 29(3), 2007; Zhou, Saad, Tiago,
   Chelikowsky. "Self-consistent-field calculations using Chebyshev-filtered
   subspace iteration." J. Comput. Phys. 219(1), 2006.
.. [2] Saad. "Numerical Methods for Large Eigenvalue Problems", 2nd ed.,
   SIAM 2011, chapters 5 and 7 (subspace iteration, locking, Chebyshev
   acceleration).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg

from transfer._blas import single_threaded_blas

__all__ = ["leading_eigenvectors"]

# syevr against the iteration for k = 128 leading axes of LBP histograms' scatter
# on 2 cores: 1.5 s / 2.5 s at d = 2,048, 4.8 s / 3.6 s at 2,916, 9.8 s / 4.7 s
# at 3,776 (the block iteration's products grow as d^2, syevr's as d^3)
ITERATIVE_MIN_DIM = 2560
# The filter's largest amplification per step: the converged columns are
# locked, the others stay well conditioned for the QR at this ratio.
_MAX_GROWTH = 1e8
_MAX_DEGREE = 8


def _syevr(S: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    d = S.shape[0]
    # one BLAS thread: the reduction to tridiagonal form is matrix-vector
    # bound, and threads only synchronise (2.5x to 25x slower with two on 2
    # cores, at 2,048 to 256 features)
    with single_threaded_blas():
        w, V = scipy.linalg.eigh(
            S, subset_by_index=[d - k, d - 1], driver="evr", check_finite=False
        )
    return w[::-1], V[:, ::-1]


def _orthonormal(Y: np.ndarray) -> np.ndarray:
    """An orthonormal basis of the range of ``Y`` (full column rank).

    Cholesky QR, twice ("CholQR2": all matrix-matrix products, several times
    faster than Householder QR on a tall block), on columns scaled to unit
    norm: the filtered columns are near-orthogonal with very different
    norms, so scaling leaves a well-conditioned Gram matrix. Householder QR
    when a Cholesky factorisation fails.
    """
    Q = Y / np.linalg.norm(Y, axis=0)
    try:
        for _ in range(2):
            G = Q.T @ Q
            with single_threaded_blas():  # a small factorisation: see _rayleigh_ritz
                R = scipy.linalg.cholesky(G, lower=False, check_finite=False)
            Q = scipy.linalg.solve_triangular(R, Q.T, trans="T", check_finite=False).T
    except np.linalg.LinAlgError:
        Q, _ = scipy.linalg.qr(Y, mode="economic", check_finite=False)
    return Q


def _rayleigh_ritz(S: np.ndarray, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ritz values (descending), vectors and ``S`` times the vectors, for the range of ``Q``."""
    SQ = S @ Q
    H = Q.T @ SQ
    # the block's own eigenproblem is small (2k wide): a second BLAS thread only
    # synchronises, and on a busy machine it waits for a core (one thread: the
    # whole iteration 1.4-1.7x faster under load, 3-7 % slower on a quiet machine)
    with single_threaded_blas():
        theta, W = scipy.linalg.eigh(H, check_finite=False)
    W = W[:, ::-1]
    return theta[::-1], Q @ W, SQ @ W


def leading_eigenvectors(
    S: np.ndarray,
    k: int,
    tol: float = 1e-12,
    max_iter: int = 60,
    method: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest eigenvalues and their eigenvectors of a symmetric PSD ``S``.

    Parameters
    ----------
    S : ndarray of shape (d, d)
        Symmetric positive semi-definite (a scatter or covariance matrix).
        Not modified.
    k : int
        How many leading eigenpairs, ``1 <= k <= d``.
    tol : float, default=1e-12
        The iteration stops when every wanted pair ``(theta, v)`` has
        ``||S v - theta v|| <= tol * theta_1``. The subspace it spans is then
        within ``tol * theta_1 / (lambda_k - lambda_{k+1})`` of the exact one
        (Davis-Kahan).
    max_iter : int, default=60
        Filter steps before falling back to LAPACK.
    method : {"auto", "iterative", "lapack"}, default="auto"
        ``"auto"``: the filtered iteration when ``d >= 2560`` and the block
        (``2 k``) is at most a third of ``d``, LAPACK's ``syevr`` otherwise.

    Returns
    -------
    values : ndarray of shape (k,)
        Descending.
    vectors : ndarray of shape (d, k)
        Orthonormal columns.
    """
    d = S.shape[0]
    if method not in ("auto", "iterative", "lapack"):
        raise ValueError(f"method must be 'auto', 'iterative' or 'lapack', got {method!r}")
    if not 1 <= k <= d:
        raise ValueError(f"k must be in [1, {d}], got {k}")
    b = min(d, 2 * k)
    if method == "lapack" or (method == "auto" and (d < ITERATIVE_MIN_DIM or 3 * b > d)):
        return _syevr(S, k)
    rng = np.random.default_rng(0)
    Q = _orthonormal(rng.standard_normal((d, b)))
    theta, Q, SQ = _rayleigh_ritz(S, Q)
    for _ in range(max_iter):
        scale = max(float(theta[0]), np.finfo(float).tiny)
        res = np.linalg.norm(SQ[:, :k] - Q[:, :k] * theta[:k], axis=0)
        done = res <= tol * scale
        if done.all():
            return theta[:k], Q[:, :k]
        locked = int(np.argmin(done))  # the leading converged run stays as it is
        # Chebyshev filter damping [0, c] (c: the smallest Ritz value, at or
        # below the unwanted part of the spectrum) and growing the rest; its
        # degree keeps the largest active growth under _MAX_GROWTH
        c = float(theta[-1])
        if c <= tol * scale:
            break  # S's rank is below the block: LAPACK handles it
        x_top = 2.0 * float(theta[locked]) / c - 1.0
        degree = _MAX_DEGREE
        if x_top > 1.0:
            degree = int(min(_MAX_DEGREE, max(1, math.acosh(_MAX_GROWTH) // math.acosh(x_top))))
        half = 0.5 * c
        Y0 = Q[:, locked:]
        Y1 = (SQ[:, locked:] - half * Y0) / half  # SQ is S Q: the first product is free
        for _ in range(degree - 1):
            Y0, Y1 = Y1, 2.0 * (S @ Y1 - half * Y1) / half - Y0
        block = np.concatenate([Q[:, :locked], Y1], axis=1)
        Q = _orthonormal(block)
        theta, Q, SQ = _rayleigh_ritz(S, Q)
    return _syevr(S, k)
