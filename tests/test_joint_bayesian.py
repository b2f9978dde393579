"""The accelerated Joint Bayesian EM: same fixed point and scores as plain EM, fewer steps."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest

import transfer.heads.verification.joint_bayesian as jb_module
from transfer.heads.verification import JointBayesian, joint_bayesian_em

_BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_joint_bayesian.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_joint_bayesian", _BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def lfw_like():
    """LFW-shaped synthetic identities (power-law sizes, most with one image), d=16."""
    bench = _bench()
    sizes = bench.lfw_like_sizes(150, largest=30, seed=3)
    X, y = bench.synthetic_identities(16, sizes, seed=3)
    return X - X.mean(axis=0), y


def _scores(S_mu, S_eps, X1, X2):
    A, G = _bench().reference_ratio_matrices(S_mu, S_eps)
    return (
        np.einsum("ij,jk,ik->i", X1, A, X1)
        + np.einsum("ij,jk,ik->i", X2, A, X2)
        - 2 * (np.einsum("ij,jk,ik->i", X1, G, X2))
    )


@pytest.mark.slow  # the reference is a Python loop over identities, ~500 iterations
@pytest.mark.parametrize("reg, rtol", [(0.0, 1e-6), (1e-6, 2e-5)])
def test_same_fixed_point_and_scores_as_plain_em(lfw_like, reg, rtol):
    # both run to convergence: matrices and log-likelihood-ratio scores agree.
    # Without ridge the fixed points are the same (the parameter-expanded
    # step shares EM's fixed points); the ridge, added after every update,
    # moves each map's fixed point by O(reg), differently: 1e-5 here, a
    # twentieth of the default stopping tolerance's 1e-5 per step
    X, y = lfw_like
    ref_mu, ref_eps, ref_iter = _bench().reference_em(X, y, max_iter=5000, tol=1e-11, reg=reg)
    S_mu, S_eps, n_iter, converged = joint_bayesian_em(X, y, max_iter=5000, tol=1e-11, reg=reg)
    assert converged and ref_iter < 5000
    assert n_iter < ref_iter / 2  # the acceleration pays
    scale = np.linalg.norm(ref_mu) + np.linalg.norm(ref_eps)
    assert np.linalg.norm(S_mu - ref_mu) / scale < rtol
    assert np.linalg.norm(S_eps - ref_eps) / scale < rtol
    rng = np.random.default_rng(0)
    i, j = rng.integers(0, len(X), size=(2, 500))
    ours, ref = _scores(S_mu, S_eps, X[i], X[j]), _scores(ref_mu, ref_eps, X[i], X[j])
    assert np.max(np.abs(ours - ref)) / np.max(np.abs(ref)) < rtol


def test_log_likelihood_is_that_of_the_model(lfw_like):
    # the E-step's log-likelihood equals the Gaussian density of each
    # identity's stacked images (covariance I_m x S_eps + 1 1^T x S_mu), up to
    # the constant -n d / 2 log(2 pi)
    from scipy.stats import multivariate_normal

    X, y = lfw_like
    X, y = X[:, :4], y  # small d: the stacked covariance is (4 m) x (4 m)
    st = jb_module._statistics(X, y, 1e-6)
    S_mu, S_eps = jb_module._start(st)
    _, ll = jb_module._em_step(st, S_mu, S_eps, loglik=True)
    direct = 0.0
    for k in np.unique(y):
        rows = X[y == k]
        m = len(rows)
        cov = np.kron(np.eye(m), S_eps) + np.kron(np.ones((m, m)), S_mu)
        direct += multivariate_normal(np.zeros(4 * m), cov).logpdf(rows.reshape(-1))
    const = -0.5 * X.size * np.log(2 * np.pi)
    assert ll + const == pytest.approx(direct, rel=1e-9)


def test_likelihood_never_decreases(lfw_like, monkeypatch):
    X, y = lfw_like
    seen = []
    step = jb_module._em_step

    def spy(st, S_mu, S_eps, **kw):
        out = step(st, S_mu, S_eps, **kw)
        if kw.get("loglik") and not kw.get("strict"):
            seen.append(out[1])  # at theta1 of each cycle
        return out

    monkeypatch.setattr(jb_module, "_em_step", spy)
    joint_bayesian_em(X, y, max_iter=300, tol=1e-12)
    assert len(seen) > 5
    assert np.all(np.diff(seen) >= -1e-9 * np.abs(seen[:-1]))


def test_start_removes_the_noise_in_identity_means():
    # balanced identities: the moment start is the unbiased ANOVA estimate,
    # between - S_eps / m, far closer to the truth than the scatter of the means
    rng = np.random.default_rng(5)
    d, n_ids, m = 3, 4000, 2
    mu = rng.normal(size=(n_ids, d))  # S_mu = I
    X = np.repeat(mu, m, axis=0) + 2.0 * rng.normal(size=(n_ids * m, d))  # S_eps = 4 I
    y = np.repeat(np.arange(n_ids), m)
    st = jb_module._statistics(X, y, 1e-6)
    S_mu, S_eps = jb_module._start(st)
    np.testing.assert_allclose(S_eps, 4 * np.eye(d), atol=0.25)
    np.testing.assert_allclose(S_mu, np.eye(d), atol=0.15)
    assert np.trace(st.between / n_ids) > 2.8  # the plain scatter: S_mu + S_eps / 2 = 3 I


def test_no_convergence_warning_at_defaults_on_lfw_like_features(lfw_like):
    X, y = lfw_like
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jb = JointBayesian(n_components=12).fit_identities(X, y)
        jb_bin = JointBayesian(n_components=12, binarize="median").fit_identities(X, y)
    assert jb.n_iter_ < 1000 and jb_bin.n_iter_ < 1000


def test_extrapolation_outside_the_cone_is_refused(lfw_like):
    X, y = lfw_like
    st = jb_module._statistics(X, y, 1e-6)
    S_mu, S_eps = jb_module._start(st)
    with pytest.raises(np.linalg.LinAlgError):
        jb_module._em_step(st, S_mu - 10 * np.eye(len(S_mu)) * np.trace(S_mu), S_eps, strict=True)
    with pytest.raises(np.linalg.LinAlgError):
        jb_module._em_step(st, S_mu, -S_eps, strict=True)


@pytest.mark.parametrize("binarize", [None, "median"])
@pytest.mark.parametrize("n_images", [60, 400])  # fewer images than features, and more
def test_leading_axes_score_as_a_full_pca(binarize, n_images):
    # only the k leading eigenvectors are computed; the model is fitted on the
    # same subspace as with scikit-learn's full PCA, so the scores agree
    from sklearn.decomposition import PCA

    bench = _bench()
    sizes = bench.lfw_like_sizes(n_images // 2, largest=12, seed=7)
    X, y = bench.synthetic_identities(80, sizes, seed=7)
    X, y = np.abs(X[:n_images]), y[:n_images]
    jb = JointBayesian(n_components=20, binarize=binarize, tol=1e-10).fit_identities(X, y)
    Xb = X if binarize is None else jb_module.binarize(X, jb.thresholds_)
    k = min(20, *Xb.shape)
    pca = PCA(n_components=k, svd_solver="full").fit(Xb)
    S_mu, S_eps, _, _ = joint_bayesian_em(pca.transform(Xb), y, max_iter=1000, tol=1e-10)
    rng = np.random.default_rng(1)
    i, j = rng.integers(0, len(X), size=(2, 300))
    ref = _scores(S_mu, S_eps, pca.transform(Xb[i]), pca.transform(Xb[j]))
    ours = jb.score_pairs(X[i], X[j])
    # r differs from the paper's by a constant only (A, G are the same
    # matrices): compare after removing the mean
    np.testing.assert_allclose(
        ours - ours.mean(), ref - ref.mean(), rtol=0, atol=1e-6 * np.abs(ref).max()
    )
    # the axes are orthonormal and span the PCA's subspace
    P = jb.components_ @ pca.components_.T
    np.testing.assert_allclose(np.linalg.svd(P, compute_uv=False), 1.0, atol=1e-9)


@pytest.mark.parametrize("binarize", [None, "median"])
def test_crossfit_copy_starts_warm_and_reaches_the_cold_fit(binarize):
    # the inner fits of a cross-fitted threshold: a copy whose EM starts from
    # the fitted head's covariances (carried onto its own PCA axes) ends where
    # a fit from scratch ends, to the EM's tolerance, in far fewer steps
    from sklearn.base import clone

    bench = _bench()
    sizes = bench.lfw_like_sizes(400, largest=25, seed=11)
    X, y = bench.synthetic_identities(48, sizes, seed=11)
    X = np.abs(X)
    sub = ~np.isin(y, np.unique(y)[::5])  # a group of identities held out
    rng = np.random.default_rng(2)
    i, j = rng.integers(0, len(X), size=(2, 400))
    for tol in (1e-5, 1e-10):  # the default, then to the fixed point
        full = JointBayesian(n_components=24, binarize=binarize, tol=tol).fit_identities(X, y)
        warm = full.crossfit_copy()
        assert not hasattr(warm, "S_mu_")  # unfitted, with the same parameters
        assert warm.get_params() == full.get_params()
        warm.fit_identities(X[sub], y[sub])
        assert not hasattr(warm, "_em_start")  # used once
        cold = clone(full).fit_identities(X[sub], y[sub])
        np.testing.assert_allclose(warm.components_, cold.components_)
        ref = cold.score_pairs(X[i], X[j])
        if tol == 1e-5:  # the start is what the default tolerance pays for
            # binary codes: the copy's own medians move the codes, a start less close
            assert warm.n_iter_ < (0.75 if binarize is None else 1.0) * cold.n_iter_
        else:
            assert warm.n_iter_ < cold.n_iter_
            np.testing.assert_allclose(
                warm.score_pairs(X[i], X[j]), ref, atol=1e-6 * np.abs(ref).max()
            )


def test_rotated_start_undoes_a_change_of_axes():
    rng = np.random.default_rng(4)
    axes = np.linalg.qr(rng.normal(size=(10, 4)))[0].T  # (4, 10) orthonormal rows
    A = rng.normal(size=(4, 4))
    S_mu, S_eps = A @ A.T, np.diag([1.0, 2.0, 3.0, 4.0])
    # the same subspace, axes swapped and one negated
    new_axes = axes[[1, 0, 2, 3]] * np.array([[1.0], [-1.0], [1.0], [1.0]])
    R = new_axes @ axes.T
    got_mu, got_eps = jb_module._rotated_start(S_mu, S_eps, axes, new_axes)
    np.testing.assert_allclose(got_mu, R @ S_mu @ R.T, atol=1e-12)
    np.testing.assert_allclose(np.diag(got_eps), [2.0, 1.0, 3.0, 4.0], atol=1e-12)
    # without PCA the start is taken as it is; mismatched or singular ones are refused
    assert jb_module._rotated_start(S_mu, S_eps, None, None)[1] is S_eps
    assert jb_module._rotated_start(S_mu, S_eps, axes, None) is None
    assert jb_module._rotated_start(S_mu, S_eps, axes, axes[:, :9]) is None
    # fewer axes (a copy with fewer images than n_components): the start on those
    fewer = jb_module._rotated_start(S_mu, S_eps, axes, axes[:3])
    np.testing.assert_allclose(fewer[0], S_mu[:3, :3], atol=1e-12)
    orthogonal = np.linalg.qr(np.vstack([axes, rng.normal(size=(4, 10))]).T)[0].T[4:]
    # a subspace the old axes miss starts from their mean variances
    iso_mu, iso_eps = jb_module._rotated_start(S_mu, S_eps, axes, orthogonal)
    np.testing.assert_allclose(iso_eps, 2.5 * np.eye(4), atol=1e-12)
    np.testing.assert_allclose(iso_mu, np.trace(S_mu) / 4 * np.eye(4), atol=1e-12)


def test_em_start_of_the_wrong_shape_is_refused(lfw_like):
    X, y = lfw_like
    with pytest.raises(ValueError, match="'start' must be two"):
        joint_bayesian_em(X, y, start=(np.eye(3), np.eye(3)))
