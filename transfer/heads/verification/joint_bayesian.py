"""Joint Bayesian verification: EM for the identity and within-person covariances.

References
----------
.. [1] Chen, Cao, Wang, Wen, Sun. "Bayesian face revisited: a joint
   formulation." ECCV 2012.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
from scipy.sparse import csr_matrix
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from transfer._eigen import leading_eigenvectors
from transfer._registry import register_head
from transfer._validation import NONE, Interval, Options
from transfer.heads.verification.base import PairVerifier, binarization_thresholds, binarize

__all__ = ["JointBayesian", "joint_bayesian_em"]


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


# A size m shared by k identities costs 4 d^3 flops per iteration as a group
# (W^T P W, two products) and 4 k d^2 row by row (W^T s, then two symmetric
# rank-k updates): group when k > d.
_GROUP_ABOVE = 1.0


@dataclass(frozen=True)
class _Statistics:
    """What the EM needs of the data, computed once: per-identity sums and scatters."""

    rows: np.ndarray  # sums of the identities handled row by row, (n_rows, d)
    m_rows: np.ndarray  # their sizes, (n_rows, 1)
    scatters: list  # (m, (R, P)) for each size handled as a group, see _upper_factor
    sizes: np.ndarray  # distinct identity sizes
    size_count: np.ndarray  # identities of each size
    S_w: np.ndarray  # within-identity scatter
    between: np.ndarray  # sum over identities of mean mean^T
    n: int
    n_ids: int
    ridge: np.ndarray


def _statistics(X: np.ndarray, identities: np.ndarray, reg: float) -> _Statistics:
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
    row_means = means[row_wise]
    between = row_means.T @ row_means  # sum_i mean_i mean_i^T
    scatters = []
    for m in grouped:
        group = sums[counts == m]
        P = group.T @ group
        between += P / (m * m)
        scatters.append((m, _upper_factor(P) if len(group) >= d else (None, P)))
    return _Statistics(
        rows=sums[row_wise],
        m_rows=counts[row_wise][:, None],
        scatters=scatters,
        sizes=sizes,
        size_count=size_count,
        S_w=S_w,
        between=_sym(between),
        n=n,
        n_ids=n_ids,
        ridge=ridge,
    )


def _start(st: _Statistics) -> tuple[np.ndarray, np.ndarray]:
    """Moment estimates of ``S_mu`` and ``S_eps``, the EM's starting point.

    ``S_eps`` is the pooled within-identity covariance. The mean of an
    identity of ``m`` images has covariance ``S_mu + S_eps / m``, so the
    scatter of the identity means overestimates ``S_mu`` by ``S_eps`` times
    the average ``1 / m`` (three quarters of it on LFW, where most identities
    have one image); that excess is removed in the joint eigenbasis of the
    two matrices, where it is a shift of each eigenvalue, clipped at 0 to
    keep ``S_mu`` positive semi-definite (the ANOVA estimator of a variance
    component, e.g. Searle, Casella, McCulloch, "Variance Components", 1992,
    Ch. 3). This starts the EM much closer to its fixed point than the
    plain scatter of the means.
    """
    S_eps = st.S_w / (st.n - st.n_ids) + st.ridge
    excess = float(st.size_count @ (1.0 / st.sizes)) / st.n_ids
    lam, _, B, _ = _joint_eigh(st.between / st.n_ids, S_eps, back=True)
    lam = np.maximum(lam - excess, 0.0)
    S_mu = _sym((B * lam) @ B.T) + st.ridge
    return S_mu, S_eps


def _px_update(K: np.ndarray, H: np.ndarray, J: np.ndarray, T: np.ndarray):
    """The parameter-expanded M-step [3]_: ``(N_ids S_mu, between part of n S_eps)``.

    The model is expanded to ``x = alpha b + eps`` with ``b ~ N(0, S_b)``
    (``alpha = I`` at the current point, where the E-step is taken). The
    M-step then fits ``alpha`` too, as the regression of the images on their
    identity's posterior ``b``: ``alpha = H J^-1`` with ``H = sum_i s_i
    E[b_i]^T`` and ``J = sum_i m_i E[b_i b_i^T]``; ``S_mu = alpha S_b
    alpha^T`` with ``S_b = K / N_ids``, ``K = sum_i E[b_i b_i^T]``, and
    ``S_eps`` the residual scatter, ``T - H J^-1 H^T`` plus the within-identity
    scatter, ``T = sum_i s_i s_i^T / m_i``. The fixed points are those of
    EM and the likelihood still never decreases, but the expanded step
    moves the identity covariance by the regression ``alpha``, which plain
    EM only approaches by many small steps when identities have few images.
    """
    cho = scipy.linalg.cho_factor(J, lower=True, check_finite=False)
    alpha = scipy.linalg.cho_solve(cho, H.T, check_finite=False).T
    return alpha @ K @ alpha.T, T - alpha @ H.T


def _em_step(
    st: _Statistics,
    S_mu: np.ndarray,
    S_eps: np.ndarray,
    *,
    loglik: bool = False,
    strict: bool = False,
    expand: bool = True,
):
    """One exact EM update from ``(S_mu, S_eps)``; with ``loglik`` also the log-likelihood there.

    Raises ``LinAlgError`` when ``S_eps`` is not positive definite or, with
    ``strict``, ``S_mu`` not positive semi-definite (an extrapolated point
    outside the parameter space).
    """
    d = len(S_mu)
    lam, W, B, logdet_eps = _joint_eigh(S_mu, S_eps, back=True, strict=strict)
    # per identity and coordinate: E[mu] = a * s_z and sqrt(m) (mean - E[mu]) = v * s_z
    Sz = st.rows @ W
    denom = st.m_rows * lam + 1.0
    Mz = Sz * (lam / denom)
    if loglik:
        # sum over identities of s_z^T diag(a) s_z and s_z^T s_z / m
        quad = float(np.einsum("ij,ij->", Mz, Sz))
        total = float(np.einsum("ij,ij->", Sz, Sz / st.m_rows))
    if expand:
        # the sufficient statistics of the expanded M-step (see _px_update), in z
        Mu_z = Mz.T @ Mz  # sum E[mu] E[mu]^T
        H_z = Sz.T @ Mz  # sum s E[mu]^T
        J_z = (Mz * st.m_rows).T @ Mz  # sum m E[mu] E[mu]^T
        T_z = (Sz / st.m_rows).T @ Sz  # sum s s^T / m
    else:
        Vz = Sz / (np.sqrt(st.m_rows) * denom)
        Mu_z = Mz.T @ Mz
        Eps_z = Vz.T @ Vz
        del Vz
    del Sz, Mz
    for m, (R, P) in st.scatters:
        if R is not None:  # W^T P W = (R W)^T (R W): a triangular and a symmetric product
            RW = scipy.linalg.blas.dtrmm(1.0, R, W, lower=0)
            Q = RW.T @ RW
            del RW
        else:
            Q = W.T @ (P @ W)
        a = lam / (m * lam + 1.0)
        Mu_z += a[:, None] * Q * a[None, :]
        if expand:
            H_z += Q * a[None, :]
            J_z += m * (a[:, None] * Q * a[None, :])
            T_z += Q / m
        else:
            v = 1.0 / (np.sqrt(m) * (m * lam + 1.0))
            Eps_z += v[:, None] * Q * v[None, :]
        if loglik:
            quad += float(np.diag(Q) @ a)
            total += float(np.trace(Q)) / m
    post_var = lam / (st.sizes[:, None] * lam + 1.0)  # (n_sizes, d), same for each size
    Mu_z[np.diag_indices(d)] += st.size_count @ post_var
    if expand:
        J_z[np.diag_indices(d)] += (st.size_count * st.sizes) @ post_var
        Mu_z, Eps_z = _px_update(Mu_z, H_z, J_z, T_z)
    else:
        Eps_z[np.diag_indices(d)] += (st.size_count * st.sizes) @ post_var
    # back from z-coordinates; the within-identity scatter S_w needs no
    # round trip (B W^T S_w W B^T = S_w)
    new_mu = _sym(B @ Mu_z @ B.T) / st.n_ids + st.ridge
    new_eps = (st.S_w + _sym(B @ Eps_z @ B.T)) / st.n + st.ridge
    ll = None
    if loglik:
        # in z = W^T x an identity of m images is N(0, I + lam 1 1^T) per
        # coordinate: log det = log(1 + m lam), inverse I - lam / (1 + m lam) 1 1^T;
        # sum_i x_i^T S_eps^-1 x_i = tr(W^T S_w W) + sum_ids |s_z|^2 / m
        total += float(np.einsum("ij,ij->", st.S_w @ W, W))
        logdet = st.n * logdet_eps + float(
            st.size_count @ np.log1p(st.sizes[:, None] * lam).sum(axis=1)
        )
        ll = -0.5 * (logdet + total - quad)
    return (new_mu, new_eps), ll


def joint_bayesian_em(
    X: np.ndarray,
    identities: np.ndarray,
    max_iter: int = 1000,
    tol: float = 1e-5,
    reg: float = 1e-6,
    start: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """EM estimate of the Joint Bayesian covariances S_mu and S_eps, accelerated.

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

    Plain EM converges slowly here (about a thousand iterations to
    ``tol=1e-5`` on LBP, HOG, Gabor or pixel features of LFW), so three
    things speed it up without changing its fixed point. Each step is the
    parameter-expanded EM step of [3]_ (see :func:`_px_update`), which
    shares EM's fixed points and its monotone likelihood but moves further
    per step (2 to 3 times fewer steps on LFW-like identities; the ridge
    below, added after each update, shifts the two maps' fixed points by
    ``O(reg)``, about 1e-5 relative). It starts from the moment
    (ANOVA) estimates of both matrices, see :func:`_start`. And it is
    accelerated by SQUAREM [2]_ (scheme S3): from two EM steps
    ``theta -> theta1 -> theta2`` it extrapolates along ``r = theta1 - theta``,
    ``v = theta2 - 2 theta1 + theta`` to ``theta - 2 a r + a^2 v`` with
    ``a = -|r| / |v|``, then takes one EM step from there. The extrapolation
    is kept only if its log-likelihood is at least that of ``theta1`` and
    both matrices stay valid covariances; otherwise ``a`` is halved towards
    -1 (``a = -1`` is plain EM). The likelihood therefore never decreases
    from one cycle to the next, and every returned point is the output of
    an exact EM step whose change is below ``tol``: the stopping rule is that
    of plain EM.

    Identities with a single image have no within-person information: their
    likelihood is ``N(0, S_mu + S_eps)``, so they inform only the sum of the
    two covariances; in EM they enter both updates through their posterior,
    as the likelihood requires. At least one identity needs two or more
    images.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Centred features (float64).
    identities : ndarray of shape (n_samples,)
        Identity label of each row.
    max_iter : int, default=1000
        Cap on the EM steps (E-steps), extrapolated ones included.
    tol : float, default=1e-5
        Stop when one EM step changes both matrices by less than ``tol``
        (relative Frobenius norm).
    reg : float, default=1e-6
        Ridge added to both matrices after every update, relative to the mean
        feature variance; keeps ``S_eps`` invertible when features outnumber
        the within-person degrees of freedom.
    start : (S_mu, S_eps), optional
        Where the EM starts, instead of the moment estimates: e.g. the fit
        on a larger set of the same identities' images, which is near the
        fixed point. EM converges to the same fixed point (to ``tol``) from
        any positive-definite start; a start near it takes fewer steps.

    Returns
    -------
    S_mu, S_eps : ndarray of shape (n_features, n_features)
    n_iter : int
        EM steps run.
    converged : bool

    References
    ----------
    .. [1] Chen, Cao, Wang, Wen, Sun. "Bayesian face revisited: a joint
       formulation." ECCV 2012.
    .. [2] Varadhan, Roland. "Simple and globally convergent methods for
       accelerating the convergence of any EM algorithm." Scandinavian
       Journal of Statistics 35(2), 2008.
    .. [3] Liu, Rubin, Wu. "Parameter expansion to accelerate EM: the PX-EM
       algorithm." Biometrika 85(4), 1998.
    """
    X = np.asarray(X, dtype=np.float64)
    st = _statistics(X, identities, reg)
    if start is None:
        theta = _start(st)
    else:
        theta = tuple(np.array(m, dtype=np.float64) for m in start)
        d = X.shape[1]
        if any(m.shape != (d, d) for m in theta):
            raise ValueError(
                f"joint_bayesian_em: 'start' must be two ({d}, {d}) matrices, got shapes "
                f"{[m.shape for m in theta]}"
            )
    n_iter = 0

    def step(point, **kw):
        nonlocal n_iter
        n_iter += 1
        return _em_step(st, *point, **kw)

    def settled(new, old) -> bool:
        return max(_rel_change(new[0], old[0]), _rel_change(new[1], old[1])) < tol

    while n_iter < max_iter:
        theta1, _ = step(theta)
        if settled(theta1, theta) or n_iter >= max_iter:
            return (*theta1, n_iter, settled(theta1, theta))
        theta2, ll1 = step(theta1, loglik=True)
        if settled(theta2, theta1) or n_iter >= max_iter:
            return (*theta2, n_iter, settled(theta2, theta1))
        r = [b - a for a, b in zip(theta, theta1, strict=True)]
        v = [c - 2.0 * b + a for a, b, c in zip(theta, theta1, theta2, strict=True)]
        r_norm = np.sqrt(sum(float(np.vdot(x, x)) for x in r))
        v_norm = np.sqrt(sum(float(np.vdot(x, x)) for x in v))
        alpha = min(-r_norm / v_norm, -1.0) if v_norm > 0 else -1.0
        following = theta2  # plain EM unless an extrapolation is accepted
        while alpha < -1.0 and n_iter < max_iter:
            point = tuple(
                a - 2.0 * alpha * dr + alpha * alpha * dv
                for a, dr, dv in zip(theta, r, v, strict=True)
            )
            try:
                new, ll = step(point, loglik=True, strict=True)
            except np.linalg.LinAlgError:
                ll = -np.inf  # outside the parameter space
            # near the optimum the log-likelihood is flat to rounding: a
            # difference below that is no evidence against the extrapolation
            if ll >= ll1 - 1e-12 * abs(ll1):
                if settled(new, point):
                    return (*new, n_iter, True)
                following = new
                break
            # back towards plain EM; close enough to -1 is plain EM
            alpha = (alpha - 1.0) / 2.0
            if alpha > -1.01:
                break
        theta = following
    return (*theta, n_iter, False)


def _sym(M: np.ndarray) -> np.ndarray:
    return (M + M.T) / 2.0


def _rel_change(new: np.ndarray, old: np.ndarray) -> float:
    return float(np.linalg.norm(new - old) / max(np.linalg.norm(old), 1e-300))


def _joint_eigh(S_mu: np.ndarray, S_eps: np.ndarray, back: bool = False, strict: bool = False):
    """``W`` with ``W^T S_eps W = I`` and ``W^T S_mu W = diag(lam)``, ``lam >= 0``.

    Through the Cholesky factor ``L`` of ``S_eps``, ``C = L^-1 S_mu L^-T``
    (``sygst``) and the divide and conquer symmetric eigensolver
    (``syevd``) on ``C = U diag(lam) U^T``; ``W = L^-T U``. With ``back``,
    also returns ``B = S_eps W = W^-T = L U``, the map back from the
    eigenbasis, and ``log det S_eps``. Negative ``lam`` (rounding) are set to
    0, or with ``strict`` raise ``LinAlgError``, as a non-positive-definite
    ``S_eps`` always does.
    """
    L = scipy.linalg.cholesky(S_eps, lower=True, check_finite=False)
    # C = L^-1 S_mu L^-T (its lower triangle), in d^3 flops rather than two solves' 2 d^3
    C, info = scipy.linalg.lapack.dsygst(S_mu, L, itype=1, lower=1)
    if info != 0:  # pragma: no cover - LAPACK argument error
        raise np.linalg.LinAlgError(f"dsygst failed (info={info})")
    C = np.tril(C)
    C += np.tril(C, -1).T
    lam, U = scipy.linalg.eigh(C, driver="evd", overwrite_a=True, check_finite=False)
    if strict and lam[0] < 0.0:
        raise np.linalg.LinAlgError("S_mu is not positive semi-definite")
    W = scipy.linalg.solve_triangular(L, U, lower=True, trans="T", check_finite=False)
    lam = np.maximum(lam, 0.0)
    if not back:
        return lam, W
    logdet = 2.0 * float(np.sum(np.log(np.diag(L))))
    return lam, W, scipy.linalg.blas.dtrmm(1.0, L, U, lower=1), logdet  # L U, triangular product


def _principal_axes(X: np.ndarray, mean: np.ndarray, k: int, binary: bool = False) -> np.ndarray:
    """The ``k`` leading principal axes of ``X``, rows of shape (k, n_features).

    Only the ``k`` leading eigenvectors of the scatter are computed
    (:func:`transfer._eigen.leading_eigenvectors`: a Chebyshev-filtered block
    iteration on wide features, LAPACK's ``syevr`` on an index range
    otherwise), not the whole spectrum that a full PCA computes and throws
    away; they span the same subspace as :class:`sklearn.decomposition.PCA`'s
    components (the Joint Bayesian model and its scores do not depend on the
    basis chosen within it). With fewer images than features, the same on
    the images' ``n x n`` Gram matrix, the axes then ``Xc^T u / sqrt(lambda)``
    (the SVD of the centred images when ``k`` reaches their rank). Binary
    codes form their scatter in float32: the products of 0/1 values are
    counts, exact in float32 up to 2**24 images, at twice the speed.
    """
    n, d = X.shape
    if n < d:
        Xc = X - mean
        w, U = leading_eigenvectors(Xc @ Xc.T, k)
        if w[-1] > 1e-10 * w[0]:
            return ((Xc.T @ U) / np.sqrt(w)).T
        _, _, Vt = scipy.linalg.svd(Xc, full_matrices=False, check_finite=False)
        return Vt[:k]
    if binary and n < 2**24:
        B = X.astype(np.float32)
        scatter = (B.T @ B).astype(np.float64) - n * np.outer(mean, mean)
    else:
        Xc = X - mean
        scatter = Xc.T @ Xc
    return leading_eigenvectors(scatter, k)[1].T


def _rotated_start(
    S_mu: np.ndarray, S_eps: np.ndarray, axes: np.ndarray | None, new_axes: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Covariances fitted on the PCA ``axes``, carried to ``new_axes`` as an EM start.

    With ``R = new_axes axes^T`` (near orthogonal when both span nearly the
    same subspace; it also undoes sign flips and swaps of close eigenvectors),
    ``R S R^T``, plus the old mean variance along the new directions that
    the old axes miss. None when ``S_eps`` does not stay positive definite
    or the shapes do not match: the EM then starts from the moment estimates.
    """
    if (axes is None) != (new_axes is None):
        return None
    if axes is not None:
        if axes.shape[1] != new_axes.shape[1] or axes.shape[0] != S_mu.shape[0]:
            return None
        R = new_axes @ axes.T
        # directions of the new subspace outside the old one (I - R R^T, PSD
        # since ||R|| <= 1) start with the old mean variance
        P = np.eye(len(R)) - R @ R.T
        S_mu = _sym(R @ S_mu @ R.T + P * (np.trace(S_mu) / len(S_mu)))
        S_eps = _sym(R @ S_eps @ R.T + P * (np.trace(S_eps) / len(S_eps)))
    try:
        scipy.linalg.cholesky(S_eps, check_finite=False)
    except np.linalg.LinAlgError:
        return None
    return S_mu, S_eps


def _upper_factor(P: np.ndarray):
    """``(R, None)`` with upper-triangular ``R^T R = P``, or ``(None, P)`` if ``P`` is singular."""
    try:
        R = scipy.linalg.cholesky(P, lower=False, check_finite=False)
    except np.linalg.LinAlgError:
        return None, P
    return np.asfortranarray(R), None


@register_head("joint_bayesian")
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
    max_iter : int, default=1000
        Cap on the EM steps (see :func:`joint_bayesian_em`); LBP, HOG,
        Gabor and pixel features of LFW at 128 PCA dimensions need 150 to 600.
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
    components_ : ndarray of shape (n_components, n_features) or None
        Principal axes of the training images (rows, by decreasing
        variance), as in :class:`sklearn.decomposition.PCA`; None without PCA.
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
        max_iter: int = 1000,
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

    def crossfit_copy(self) -> JointBayesian:
        """An unfitted copy for the inner fits of a cross-fitted threshold, warm.

        The copy fits from scratch (binarisation, PCA and EM on its own
        images), except that its EM starts from this fitted head's
        covariances rather than from the moment estimates: the fixed point
        of 4/5 of the training identities is near that of all of them, so
        the EM reaches the same ``tol`` in fewer steps (the result is that
        of a cold start to ``tol``). Unsupervised stages are not shared:
        PCA axes fitted with the held-out images capture part of their
        within-person variation, and the scores of that group then look in
        sample (measured on View 2-shaped folds: thresholds moved by 2-8 %
        and binary-code accuracy fell 2-3 points).

        Returns
        -------
        JointBayesian
            Unfitted (``fit_identities`` fits it), with this head's parameters.
        """
        check_is_fitted(self, "S_mu_")
        copy = clone(self)
        copy._em_start = (self.S_mu_, self.S_eps_, self.components_)
        return copy

    def _project(self, X: np.ndarray) -> np.ndarray:
        if self.thresholds_ is not None:
            X = binarize(X, self.thresholds_)
        if self.components_ is not None:
            return (X - self.mean_) @ self.components_.T
        return X - self.mean_

    def _fit_images(self, X, identities):
        start = self.__dict__.pop("_em_start", None)  # set by crossfit_copy
        self.thresholds_ = (
            binarization_thresholds(X, self.binarize) if self.binarize is not None else None
        )
        if self.thresholds_ is not None:
            X = binarize(X, self.thresholds_)
        self.mean_ = X.mean(axis=0)
        self.components_ = None
        if self.n_components is not None:
            k = min(int(self.n_components), X.shape[0], X.shape[1])
            self.components_ = _principal_axes(
                X, self.mean_, k, binary=self.thresholds_ is not None
            )
        Z = self._project(X)
        if start is not None:
            start = _rotated_start(*start, self.components_)
        # the EM's products are small (d = n_components): extra BLAS threads
        # only add synchronisation, and spin against other work on a busy machine
        with threadpool_limits(1 if Z.shape[1] <= 512 else None, user_api="blas"):
            warm = {} if start is None else {"start": start}
            S_mu, S_eps, n_iter, converged = joint_bayesian_em(
                Z, identities, max_iter=self.max_iter, tol=self.tol, reg=self.reg, **warm
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
