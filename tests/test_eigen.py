"""The filtered subspace iteration against LAPACK's syevr."""

import numpy as np
import pytest
import scipy.linalg

from transfer import _eigen
from transfer._eigen import leading_eigenvectors


def _scatter(d: int, n: int, decay: float, seed: int = 0) -> np.ndarray:
    """The scatter of ``n`` Gaussian rows with a power-law spectrum (as image features have)."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((d, d)))
    scales = np.arange(1, d + 1, dtype=float) ** -decay
    X = rng.standard_normal((n, d)) * scales @ basis.T
    X -= X.mean(axis=0)
    return X.T @ X


@pytest.mark.parametrize("decay", [0.5, 1.0])
def test_iteration_spans_lapacks_subspace(decay):
    S = _scatter(900, 1400, decay)
    k = 64
    w_ref, V_ref = leading_eigenvectors(S, k, method="lapack")
    S_before = S.copy()
    w, V = leading_eigenvectors(S, k, method="iterative", max_iter=60)
    np.testing.assert_array_equal(S, S_before)  # not modified
    np.testing.assert_allclose(w, w_ref, rtol=1e-10)
    np.testing.assert_allclose(V.T @ V, np.eye(k), atol=1e-12)
    gaps = np.min(w_ref[:-1] - w_ref[1:]) / w_ref[0]
    angle = np.max(scipy.linalg.subspace_angles(V, V_ref))
    assert angle < 1e-7, (angle, gaps)
    # the residual bound it stops on holds for every returned pair
    res = np.linalg.norm(S @ V - V * w, axis=0)
    assert res.max() <= 1e-12 * w[0]


def test_auto_takes_lapack_for_small_or_wide_blocks():
    S = _scatter(300, 400, 1.0)
    np.testing.assert_array_equal(
        leading_eigenvectors(S, 20)[1], leading_eigenvectors(S, 20, method="lapack")[1]
    )
    assert _eigen.ITERATIVE_MIN_DIM > 300


def test_falls_back_to_lapack_when_not_converged_and_handles_low_rank():
    S = _scatter(900, 1400, 1.0)
    ref = leading_eigenvectors(S, 64, method="lapack")
    got = leading_eigenvectors(S, 64, method="iterative", max_iter=1)
    np.testing.assert_array_equal(got[1], ref[1])
    # rank 80 < block 100: the block holds the whole range, exact at once
    low = _scatter(900, 81, 0.5)
    w_ref, V_ref = leading_eigenvectors(low, 50, method="lapack")
    w, V = leading_eigenvectors(low, 50, method="iterative")
    np.testing.assert_allclose(w, w_ref, rtol=1e-10)
    assert np.max(scipy.linalg.subspace_angles(V, V_ref)) < 1e-8


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"k": 0}, "k must be in"), ({"k": 5, "method": "arpack"}, "method must be")],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        leading_eigenvectors(np.eye(4), **kwargs)


def test_joint_bayesian_scores_equal_with_either_solver(monkeypatch):
    from transfer.heads.verification import JointBayesian

    rng = np.random.default_rng(1)
    ids = np.repeat(np.arange(40), 16)
    d = 400
    scales = np.arange(1, d + 1, dtype=float) ** -0.7
    X = (rng.standard_normal((40, d)) * scales)[ids] + rng.standard_normal((len(ids), d)) * scales
    pairs = rng.integers(0, len(ids), size=(400, 2))

    def scores(min_dim):
        monkeypatch.setattr(_eigen, "ITERATIVE_MIN_DIM", min_dim)
        jb = JointBayesian(n_components=24, tol=1e-9, max_iter=5000).fit_identities(X, ids)
        return jb.score_pairs(X[pairs[:, 0]], X[pairs[:, 1]])

    ref, got = scores(10**9), scores(0)  # LAPACK, then the block iteration
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6 * np.abs(ref).max())


@pytest.mark.parametrize(("n", "k"), [(300, 40), (300, 300)])
def test_joint_bayesian_axes_with_fewer_images_than_features_span_pcas(n, k):
    from sklearn.decomposition import PCA

    from transfer.heads.verification.joint_bayesian import _principal_axes

    rng = np.random.default_rng(2)
    d = 500
    X = rng.standard_normal((n, d)) * np.arange(1, d + 1) ** -0.5
    axes = _principal_axes(X, X.mean(axis=0), k)  # the Gram matrix, or the SVD at full rank
    ref = PCA(n_components=min(k, n - 1), svd_solver="full").fit(X).components_
    np.testing.assert_allclose(axes @ axes.T, np.eye(k), atol=1e-10)
    assert np.max(scipy.linalg.subspace_angles(axes[: len(ref)].T, ref.T)) < 1e-8
