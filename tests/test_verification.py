"""Verification heads and metrics: Joint Bayesian EM, thresholds, distances, metrics."""

from __future__ import annotations

import importlib.util
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

import transfer.heads.verification.base as verification_base
import transfer.heads.verification.joint_bayesian as jb_module
from transfer._validation import InvalidParameterError
from transfer.heads.verification import (
    CosineVerifier,
    EuclideanVerifier,
    HammingVerifier,
    JointBayesian,
    PairSVM,
    PairVerifier,
    best_threshold,
    binarization_thresholds,
    binarize,
    joint_bayesian_em,
    pairs_to_identities,
)
from transfer.protocols.verification_metrics import (
    equal_error_rate,
    tar_at_far,
    verification_metrics,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    # the matrices here are tiny: BLAS threads only add synchronisation
    with threadpool_limits(1):
        yield


def _bench():
    """The benchmark module, home of the per-identity reference EM."""
    spec = importlib.util.spec_from_file_location(
        "bench_joint_bayesian", REPO / "benchmarks" / "bench_joint_bayesian.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- synthetic data


def _random_cov(rng, d, floor):
    A = rng.normal(size=(d, d))
    return A @ A.T / d + floor * np.eye(d)


def identities(rng, n_ids, S_mu, S_eps, sizes=(2, 8)):
    """Images ``mu + eps`` of ``n_ids`` identities, each with ``sizes`` images."""
    d = len(S_mu)
    m = rng.integers(sizes[0], sizes[1] + 1, size=n_ids)
    y = np.repeat(np.arange(n_ids), m)
    mu = rng.multivariate_normal(np.zeros(d), S_mu, size=n_ids)
    eps = rng.multivariate_normal(np.zeros(d), S_eps, size=len(y))
    return mu[y] + eps, y, mu, eps


def pairs(rng, X, y, n_diff=None):
    """Every identity's first two images as a same pair, plus random different pairs."""
    order = np.argsort(y, kind="stable")
    ys = y[order]
    start = np.flatnonzero(np.r_[True, ys[1:] != ys[:-1]])
    ok = np.r_[start[1:], len(ys)] - start >= 2
    a, b = order[start[ok]], order[start[ok] + 1]
    n_diff = len(a) if n_diff is None else n_diff
    i, j = rng.integers(0, len(X), size=(2, 4 * n_diff))
    keep = np.flatnonzero(y[i] != y[j])[:n_diff]
    first = np.r_[a, i[keep]]
    second = np.r_[b, j[keep]]
    same = np.r_[np.ones(len(a), bool), np.zeros(len(keep), bool)]
    return np.stack([X[first], X[second]], axis=1), same


@pytest.fixture(scope="module")
def truth():
    rng = np.random.default_rng(0)
    d = 10
    return _random_cov(rng, d, 0.5), _random_cov(rng, d, 0.2)


@pytest.fixture(scope="module")
def pair_data():
    """Training and test pairs from disjoint synthetic identities (d=8)."""
    rng = np.random.default_rng(1)
    S_mu, S_eps = _random_cov(rng, 8, 0.5), 0.3 * _random_cov(rng, 8, 0.2)
    X, y, _, _ = identities(rng, 150, S_mu, S_eps)
    Xt, yt, _, _ = identities(rng, 150, S_mu, S_eps)
    return pairs(rng, X, y) + pairs(rng, Xt, yt)


def _rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


# --------------------------------------------------------------------------- (a) EM


def test_em_recovers_known_covariances(truth):
    # 300 identities x 2-8 images, d=10. Bounds: relative Frobenius error
    # below 0.3 for S_mu (300 draws of mu; the sample covariance of the true
    # mu is itself 0.16 off) and 0.1 for S_eps (~1500 draws; oracle 0.05).
    S_mu, S_eps = truth
    X, y, mu, eps = identities(np.random.default_rng(2), 300, S_mu, S_eps)
    jb = JointBayesian(tol=1e-8, max_iter=500).fit_identities(X, y)
    oracle_mu = _rel(np.cov(mu.T), S_mu)
    oracle_eps = _rel(np.cov(eps.T), S_eps)
    assert _rel(jb.S_mu_, S_mu) < 0.3
    assert _rel(jb.S_eps_, S_eps) < 0.1
    # and no worse than 1.5x what knowing mu and eps would give
    assert _rel(jb.S_mu_, S_mu) < 1.5 * oracle_mu + 0.02
    assert _rel(jb.S_eps_, S_eps) < 1.5 * oracle_eps + 0.02
    assert 1 < jb.n_iter_ < 500


def test_vectorised_em_step_equals_per_identity_loop(truth):
    # one plain EM step from the reference's start equals one iteration of
    # the paper's per-identity loop (the acceleration only chooses the points;
    # the parameter-expanded step is checked against plain EM's fixed point
    # in test_joint_bayesian.py)
    S_mu, S_eps = truth
    rng = np.random.default_rng(3)
    X, y, _, _ = identities(rng, 120, S_mu, S_eps, sizes=(1, 6))
    X = X - X.mean(axis=0)
    ref_mu, ref_eps, _ = _bench().reference_em(X, y, max_iter=1, tol=0.0, reg=1e-6)
    st = jb_module._statistics(X, y, 1e-6)
    start = (st.between / st.n_ids + st.ridge, st.S_w / (st.n - st.n_ids) + st.ridge)
    (S_mu_hat, S_eps_hat), _ = jb_module._em_step(st, *start, expand=False)
    np.testing.assert_allclose(S_mu_hat, ref_mu, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(S_eps_hat, ref_eps, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("group_above", [0.0, np.inf])
def test_grouped_sizes_equal_row_wise(truth, monkeypatch, group_above):
    # sizes shared by many identities go through their scatter matrix, the
    # others row by row; all grouped (0) or none (inf) must agree
    S_mu, S_eps = truth
    X, y, _, _ = identities(np.random.default_rng(4), 200, S_mu, S_eps, sizes=(1, 3))
    X = X - X.mean(axis=0)
    default = joint_bayesian_em(X, y, max_iter=5, tol=0)
    monkeypatch.setattr(jb_module, "_GROUP_ABOVE", group_above)
    other = joint_bayesian_em(X, y, max_iter=5, tol=0)
    np.testing.assert_allclose(other[0], default[0], rtol=1e-9)
    np.testing.assert_allclose(other[1], default[1], rtol=1e-9)


def test_small_groups_use_the_scatter_itself(truth, monkeypatch):
    # a grouped size with fewer identities than dimensions has a singular
    # scatter (no Cholesky factor): the general product must agree too
    S_mu, S_eps = truth
    X, y, _, _ = identities(np.random.default_rng(14), 200, S_mu, S_eps, sizes=(1, 40))
    X = X - X.mean(axis=0)
    row_wise = joint_bayesian_em(X, y, max_iter=5, tol=0)
    monkeypatch.setattr(jb_module, "_GROUP_ABOVE", 0.0)
    grouped = joint_bayesian_em(X, y, max_iter=5, tol=0)
    np.testing.assert_allclose(grouped[0], row_wise[0], rtol=1e-9)
    np.testing.assert_allclose(grouped[1], row_wise[1], rtol=1e-9)


@pytest.mark.slow
def test_benchmark_quick_runs(tmp_path):
    result = _bench().main(
        [
            "--quick",
            "--threads",
            "1",
            "--json",
            str(tmp_path / "b.json"),
            "--markdown",
            str(tmp_path / "b.md"),
        ]
    )
    assert all(row["max_rel_score_diff"] < 1e-6 for row in result["rows"])
    assert (tmp_path / "b.json").exists() and "end-to-end" in (tmp_path / "b.md").read_text()


def test_ratio_matrices_match_the_paper(truth):
    S_mu, S_eps = truth
    X, y, _, _ = identities(np.random.default_rng(5), 100, S_mu, S_eps)
    jb = JointBayesian().fit_identities(X, y)
    A, G = _bench().reference_ratio_matrices(jb.S_mu_, jb.S_eps_)
    np.testing.assert_allclose(jb.A_, A, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(jb.G_, G, rtol=1e-7, atol=1e-9)
    X1, X2 = X[:7], X[7:14]
    ref = _bench().reference_scores(A, G, X1 - jb.mean_, X2 - jb.mean_)
    np.testing.assert_allclose(jb.score_pairs(X1, X2), ref, rtol=1e-8)


def test_pca_in_front(truth):
    S_mu, S_eps = truth
    X, y, _, _ = identities(np.random.default_rng(6), 100, S_mu, S_eps)
    jb = JointBayesian(n_components=4).fit_identities(X, y)
    assert jb.S_mu_.shape == jb.A_.shape == (4, 4)
    assert jb.score_pairs(X[:3], X[3:6]).shape == (3,)


# --------------------------------------------------------------------------- (b) ranking


# EM needs ~1,900 iterations to settle the matrices here (S_mu << S_eps along
# the nuisance), while the ranking is perfect after a few
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_jb_ranks_same_above_different_and_beats_cosine():
    # Within-person noise is huge along 3 nuisance directions (pose, light...)
    # and small elsewhere, identity spread is isotropic: cosine is dominated
    # by the nuisance, JB whitens it away. The directions are rotated off the
    # axes, so per-feature standardisation cannot help cosine either.
    rng = np.random.default_rng(7)
    d = 20
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    S_mu = np.eye(d)
    S_eps = Q @ np.diag(np.r_[np.full(3, 100.0), np.full(d - 3, 0.05)]) @ Q.T
    X, y, _, _ = identities(rng, 300, S_mu, S_eps)
    Xt, yt, _, _ = identities(rng, 200, S_mu, S_eps)
    P, same = pairs(rng, Xt, yt, n_diff=400)
    jb = JointBayesian().fit_identities(X, y)
    auc_jb = roc_auc_score(same, jb.score_pairs(P[:, 0], P[:, 1]))
    assert auc_jb > 0.95
    for prep in ("none", "standardize"):
        cos = CosineVerifier(prep).fit_identities(X, y)
        assert roc_auc_score(same, cos.score_pairs(P[:, 0], P[:, 1])) < 0.75  # measured 0.53, 0.57
    # trained from pairs only (image-restricted), JB still ranks well
    Ptr, same_tr = pairs(rng, X, y)
    jb_pairs = JointBayesian().fit(Ptr, same_tr)
    assert roc_auc_score(same, jb_pairs.decision_function(P)) > 0.95


def test_every_verifier_ranks_and_classifies(pair_data):
    P, same, Pt, same_t = pair_data
    for head in (CosineVerifier(), EuclideanVerifier("standardize"), JointBayesian(), PairSVM()):
        head.fit(P, same)
        assert roc_auc_score(same_t, head.decision_function(Pt)) > 0.9, type(head).__name__
        assert head.score(Pt, same_t) > 0.8, type(head).__name__


@pytest.mark.parametrize(
    ("n_ids", "d", "form", "auto"),
    [(60, 120, "gram", True), (300, 20, "primal", False), (300, 20, "features", True)],
)
def test_pair_svm_solves_liblinears_problem(n_ids, d, form, auto):
    """Every formulation of the pair SVM is LIBLINEAR's squared-hinge SVM, at its optimum.

    "auto" solves through the Gram matrix of the pairs when they are fewer
    than pair features, and with LIBLINEAR otherwise. The reference is the
    previous implementation (a StandardScaler and LinearSVC pipeline) run to
    a tight tolerance.
    """
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    rng = np.random.default_rng(3)
    S_mu, S_eps = _random_cov(rng, d, 0.5), _random_cov(rng, d, 0.3)
    X, y, _, _ = identities(rng, n_ids, S_mu, S_eps)
    P, same = pairs(rng, X, y)
    Pt, _ = pairs(rng, X, y)
    F = PairSVM._features(P[:, 0], P[:, 1])
    assert (len(F) < F.shape[1]) == (form == "gram")
    for C in (0.1, 1.0):
        ours = PairSVM(C=C, formulation="auto" if auto else form).fit(P, same)
        assert ours.model_.formulation_ == form
        # "features" is the previous pipeline itself; Newton reaches the optimum it approaches
        liblinear = form == "features"
        ref = make_pipeline(
            StandardScaler(),
            LinearSVC(C=C, tol=1e-4 if liblinear else 1e-10, max_iter=5000 if liblinear else 10**6),
        ).fit(F, same)
        tol = 1e-12 if liblinear else 1e-5
        assert liblinear or ours.n_iter_ < 50
        want = ref.decision_function(PairSVM._features(Pt[:, 0], Pt[:, 1]))
        got = ours.score_pairs(Pt[:, 0], Pt[:, 1])
        np.testing.assert_allclose(got, want, atol=tol * np.abs(want).max() + 1e-6)


# --------------------------------------------------------------------------- (c) singletons


def test_singletons_do_not_break_fit(truth):
    S_mu, S_eps = truth
    rng = np.random.default_rng(8)
    X, y, _, _ = identities(rng, 150, S_mu, S_eps)
    Xs, _, _, _ = identities(rng, 300, S_mu, S_eps, sizes=(1, 1))
    Xall = np.vstack([X, Xs])
    yall = np.r_[y, 1000 + np.arange(len(Xs))]
    jb = JointBayesian(tol=1e-7, max_iter=500).fit_identities(Xall, yall)
    assert np.all(np.isfinite(jb.A_)) and np.all(np.isfinite(jb.G_))
    # one-image identities add information on S_mu + S_eps only, and do not bias it
    assert _rel(jb.S_mu_ + jb.S_eps_, S_mu + S_eps) < 0.15
    assert _rel(jb.S_eps_, S_eps) < 0.15


def test_only_singletons_raise():
    X = np.random.default_rng(9).normal(size=(20, 4))
    with pytest.raises(ValueError, match=r"y must give at least one identity two or more"):
        JointBayesian().fit_identities(X, np.arange(20))


def test_pairs_to_identities_links_same_pairs():
    a, b, c, d = np.eye(4)
    X1 = np.array([a, b, a])
    X2 = np.array([b, c, d])
    images, ids = pairs_to_identities(X1, X2, np.array([True, True, False]))
    assert len(images) == 4
    by_row = {tuple(r): k for r, k in zip(images, ids, strict=True)}
    assert by_row[tuple(a)] == by_row[tuple(b)] == by_row[tuple(c)]  # a~b, b~c
    assert by_row[tuple(d)] != by_row[tuple(a)]  # only in a "different" pair


# --------------------------------------------------------------------------- (d) thresholds


def test_best_threshold_maximises_accuracy_with_deterministic_ties():
    assert best_threshold(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1])) == 0.5
    # two cuts reach 3/4: between 0.1|0.5 and 0.5|0.9 -> the lower median one
    t = best_threshold(np.array([0.1, 0.5, 0.9, 0.3]), np.array([0, 1, 1, 1]))
    assert t == pytest.approx(0.2)
    # tied scores cannot be split
    t = best_threshold(np.array([1.0, 1.0, 1.0, 2.0]), np.array([0, 1, 1, 1]))
    assert t == pytest.approx(0.0)  # 3/4 by accepting everything, below 1.0 by the range
    assert best_threshold(np.array([0.0, 1.0]), np.array([1, 0])) in (-1.0, 2.0)


def test_threshold_comes_from_training_pairs_only(pair_data, monkeypatch):
    P, same, Pt, _ = pair_data
    calls = []
    real = verification_base.best_threshold
    monkeypatch.setattr(
        verification_base, "best_threshold", lambda s, t: calls.append(len(s)) or real(s, t)
    )
    head = CosineVerifier().fit(P, same)
    assert calls == [len(P)]
    t = head.threshold_
    pred = head.predict(Pt)
    assert calls == [len(P)] and head.threshold_ == t  # predicting refits nothing
    raw = head.score_pairs(Pt[:, 0], Pt[:, 1])
    np.testing.assert_array_equal(pred, raw > t)
    np.testing.assert_allclose(head.decision_function(Pt), raw - t)


def test_identity_fit_then_threshold(pair_data):
    P, same, Pt, same_t = pair_data
    images, ids = pairs_to_identities(P[:, 0], P[:, 1], same)
    jb = JointBayesian().fit_identities(images, ids)
    with pytest.raises(NotFittedError, match="fit_threshold"):
        jb.predict(Pt)
    jb.fit_threshold(P, same)
    assert jb.score(Pt, same_t) > 0.8
    with pytest.raises(TypeError, match="pairs only"):
        PairSVM().fit_identities(images, ids)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_works_in_cross_validation_and_grid_search(pair_data):
    P, same, _, _ = pair_data
    scores = cross_val_score(JointBayesian(), P, same, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.8
    grid = GridSearchCV(CosineVerifier(), {"preprocessing": ["none", "center"]}, cv=3)
    grid.fit(P, same)
    assert grid.best_params_["preprocessing"] in ("none", "center")
    # the 2-D concatenated form is the same data
    flat = P.reshape(len(P), -1)
    np.testing.assert_allclose(
        clone(grid.best_estimator_).fit(flat, same).decision_function(flat),
        grid.best_estimator_.decision_function(P),
    )


def test_labels_other_than_bool(pair_data):
    P, same, Pt, _ = pair_data
    names = np.where(same, "same", "diff")  # sorted: "diff" < "same"
    head = EuclideanVerifier().fit(P, names)
    assert set(head.predict(Pt)) <= {"same", "diff"}
    ref = EuclideanVerifier().fit(P, same)
    np.testing.assert_array_equal(head.predict(Pt) == "same", ref.predict(Pt))


# --------------------------------------------------------------------------- (e) binary codes


def test_binarize_and_thresholds():
    X = np.array([[-1.0, 2.0, 0.0], [3.0, 0.0, 1.0], [1.0, 1.0, 5.0]])
    np.testing.assert_array_equal(binarization_thresholds(X, "median"), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(binarization_thresholds(X, "zero"), [0, 0, 0])
    np.testing.assert_array_equal(binarize(X), [[0, 1, 0], [1, 0, 1], [1, 1, 1]])
    P = np.stack([X, X[::-1]], axis=1)
    assert binarize(P, [1.0, 1.0, 1.0]).shape == P.shape


def test_hamming_on_binarised_features():
    rng = np.random.default_rng(10)
    d = 64
    codes = rng.normal(size=(200, d))  # identity = a pattern of signs
    y = np.repeat(np.arange(200), 3)
    X = codes[y] + 0.3 * rng.normal(size=(len(y), d))
    P, same = pairs(rng, X, y)
    head = HammingVerifier().fit(P[::2], same[::2])
    b1, b2 = P[1::2, 0] > 0, P[1::2, 1] > 0
    np.testing.assert_allclose(head.score_pairs(P[1::2, 0], P[1::2, 1]), (b1 == b2).mean(1))
    assert roc_auc_score(same[1::2], head.decision_function(P[1::2])) > 0.99
    # median thresholds are fitted on the training images
    shifted = HammingVerifier("median").fit(P[::2] + 5.0, same[::2])
    assert np.all(np.abs(shifted.thresholds_ - 5.0) < 0.5)
    assert roc_auc_score(same[1::2], shifted.decision_function(P[1::2] + 5.0)) > 0.99
    # JB on the binary codes (DeepID2+), trained on identities
    train = y < 100
    jb = JointBayesian(binarize="zero", max_iter=30, tol=1e-3).fit_identities(X[train], y[train])
    jb.fit_threshold(P[::2], same[::2])
    assert roc_auc_score(same[1::2], jb.decision_function(P[1::2])) > 0.99


# --------------------------------------------------------------------------- (f) metrics


def test_metrics_on_hand_computed_example():
    scores = [0.9, 0.6, 0.4, 0.7, 0.3, 0.1]
    same = [True, True, True, False, False, False]
    m = verification_metrics(scores, same, threshold=0.5)
    assert m.accuracy == pytest.approx(4 / 6)  # 0.4 rejected, 0.7 accepted wrongly
    assert m.auc == pytest.approx(7 / 9)  # 7 of the 9 same/different orderings right
    assert m.eer == pytest.approx(1 / 3)  # accept >= 0.6: FAR = FRR = 1/3
    assert m.tar_at_far == {1e-3: pytest.approx(1 / 3), 1e-2: pytest.approx(1 / 3)}
    assert set(m.scalars()) == {"accuracy", "auc", "eer", "tar@far=0.001", "tar@far=0.01"}
    assert m.curves()["fpr"][0] == 0.0 and m.curves()["tpr"][-1] == 1.0


def test_eer_interpolates():
    # ROC (0,0) (0,.5) (1,.5) (1,1): FAR - FRR goes -1, -.5, .5 -> crosses halfway
    m = verification_metrics([3.0, 1.0, 2.0], [1, 1, 0])
    assert m.eer == pytest.approx(0.5)
    assert equal_error_rate(np.array([0.0, 0.2, 0.6]), np.array([0.0, 0.6, 1.0])) == (
        pytest.approx(0.3)
    )  # FRR 1, .4, 0 vs FAR 0, .2, .6: crossing at t = .5 between the last two


def test_tar_at_far_is_not_interpolated():
    diff = np.arange(200.0)  # 200 different pairs: FAR 1e-2 allows 2 false accepts
    scores = np.r_[[198.5, 150.5, 300.0], diff]
    same = np.r_[np.ones(3, bool), np.zeros(200, bool)]
    m = verification_metrics(scores, same)
    assert m.tar_at_far[1e-2] == pytest.approx(2 / 3)  # accept >= 198: FA 198, 199
    assert m.tar_at_far[1e-3] == pytest.approx(1 / 3)  # no false accept: only 300
    assert tar_at_far(np.array([0.0, 0.5]), np.array([0.4, 1.0]), 0.1) == 0.4


def test_metrics_of_perfect_and_reversed_scores():
    same = np.r_[np.ones(5, bool), np.zeros(5, bool)]
    good = verification_metrics(np.r_[np.arange(5) + 10.0, np.arange(5)], same, threshold=7)
    assert (good.accuracy, good.auc, good.eer, good.tar_at_far[1e-3]) == (1, 1, 0, 1)
    bad = verification_metrics(np.r_[np.arange(5), np.arange(5) + 10.0], same)
    assert bad.auc == 0 and bad.eer == 1


# --------------------------------------------------------------------------- (g) bad inputs


@pytest.mark.parametrize(
    ("X", "y", "match"),
    [
        (np.zeros((4, 3, 2)), [0, 1, 0, 1], r"shape \(n_pairs, 2, n_features\)"),
        (np.zeros((4, 5)), [0, 1, 0, 1], "width must be even"),
        (np.zeros((4, 2, 2, 1)), [0, 1, 0, 1], "pairs"),
        (np.zeros((4, 2, 3)), [0, 1, 0], "X and y must have the same length"),
        (np.full((4, 2, 3), np.nan), [0, 1, 0, 1], "X contains NaN"),
        (np.zeros((4, 2, 3)), [0, 1, 2, 1], "Only binary"),
        (np.zeros((4, 2, 3)), [1, 1, 1, 1], "1 class"),
    ],
)
def test_bad_pairs_raise(X, y, match):
    for head in (CosineVerifier(), JointBayesian()):
        with pytest.raises(ValueError, match=match):
            head.fit(X, y)


def test_bad_inputs_after_fit_and_parameters(pair_data):
    P, same, _, _ = pair_data
    head = JointBayesian().fit(P, same)
    with pytest.raises(ValueError, match="features"):
        head.predict(P[:, :, :3])
    with pytest.raises(ValueError, match="X1 and X2"):
        head.score_pairs(P[:3, 0], P[:4, 1])
    with pytest.raises(ValueError, match="X1 contains NaN"):
        head.score_pairs(np.full_like(P[:3, 0], np.nan), P[:3, 1])
    with pytest.raises(InvalidParameterError, match="'max_iter'"):
        JointBayesian(max_iter=0).fit(P, same)
    with pytest.raises(InvalidParameterError, match="'preprocessing'"):
        CosineVerifier(preprocessing="whiten").fit(P, same)
    with pytest.raises(ValueError, match="one identity label per row"):
        JointBayesian().fit_identities(P[:, 0], same[:-1])
    with pytest.raises(ValueError, match="same must have one label per score"):
        verification_metrics([0.1, 0.2], [True])
    with pytest.raises(ValueError, match="scores contains NaN"):
        verification_metrics([np.nan, 0.2], [True, False])
    with pytest.raises(ValueError, match="both same"):
        verification_metrics([0.1, 0.2], [True, True])


def test_pickle_and_no_convergence_warning_by_default(pair_data):
    P, same, Pt, _ = pair_data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        head = JointBayesian().fit(P, same)
    again = pickle.loads(pickle.dumps(head))
    np.testing.assert_array_equal(again.decision_function(Pt), head.decision_function(Pt))


# --------------------------------------------------------------------------- scikit-learn checks

VERIFIERS = [CosineVerifier(), EuclideanVerifier(), HammingVerifier(), JointBayesian(), PairSVM()]

# Reason for every entry: these checks feed 2-D tables of 3 or 5 columns. A
# 2-D X is the two feature vectors of each pair concatenated, so an odd
# width is not a pair and is refused ("width must be even"). Each one runs
# unchanged below on the same data with one column appended.
_ODD = "feeds an odd-width 2-D X, which is not a pair; run below on an even width"
ODD_WIDTH_CHECKS = {
    name: _ODD
    for name in (
        "check_dict_unchanged",
        "check_dont_overwrite_parameters",
        "check_estimators_dtypes",
        "check_estimators_nan_inf",
        "check_estimators_pickle",
        "check_f_contiguous_array_estimator",
        "check_fit2d_predict1d",
        "check_fit_score_takes_y",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_pipeline_consistency",
        "check_supervised_y_2d",
    )
}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(VERIFIERS)
def test_verifiers_pass_scikit_learn_checks(estimator, check):
    # skipped rather than xfailed: pytest renders every xfail's traceback from
    # estimator_checks.py, which costs more than the whole suite
    reason = ODD_WIDTH_CHECKS.get(getattr(check, "func", check).__name__)
    if reason:
        pytest.skip(reason)
    check(estimator)


def _even(cls):
    """``cls`` that appends a zero column to an odd-width 2-D X (checks' data only)."""

    def _pairs(self, X, y=None, **kw):
        if np.ndim(X) == 2 and np.shape(X)[1] % 2:
            X = np.asarray(X)
            X = np.hstack([X, np.zeros((len(X), 1), dtype=X.dtype)])
        return cls._pairs(self, X, y, **kw)

    sub = type(cls.__name__, (cls,), {"_pairs": _pairs, "__module__": __name__})
    sub.__qualname__ = f"Even{cls.__name__}"
    globals()[sub.__qualname__] = sub  # picklable by reference
    return sub


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("check_name", sorted(ODD_WIDTH_CHECKS))
@pytest.mark.parametrize("cls", [type(v) for v in VERIFIERS], ids=lambda c: c.__name__)
def test_odd_width_checks_on_even_width(cls, check_name):
    estimator = _even(cls)()
    getattr(estimator_checks, check_name)(cls.__name__, estimator)


def test_is_a_pair_verifier():
    assert all(isinstance(v, PairVerifier) for v in VERIFIERS)


@pytest.mark.parametrize("binarize_", [None, "median"])
def test_protocol_fast_path_equals_reference_path(binarize_, monkeypatch):
    # the verification protocol (cross-fitted threshold, 5 inner fits) with
    # the fast Joint Bayesian (parameter-expanded EM, leading PCA axes only)
    # against the reference path (plain EM, scikit-learn's full PCA), both
    # to convergence: same threshold, same accuracy, scores equal to the
    # ridge's O(reg) shift of the fixed point
    from sklearn.decomposition import PCA

    from transfer.protocols.verification import PairFold, VerificationProtocol

    rng = np.random.default_rng(21)
    S_mu, S_eps = _random_cov(rng, 16, 0.5), 0.3 * _random_cov(rng, 16, 0.2)
    X, y, _, _ = identities(rng, 240, S_mu, S_eps, sizes=(1, 5))
    X = np.abs(X)
    fold_of_id = rng.permutation(240) % 2
    train_ids = fold_of_id[y] == 0
    P, same = [], []
    for side in (train_ids, ~train_ids):  # a fold's pairs never cross the split
        idx = np.flatnonzero(side)
        firsts = [idx[y[idx] == k][:2] for k in np.unique(y[idx])]
        same_pairs = [r for r in firsts if len(r) == 2]
        diff_pairs = []
        while len(diff_pairs) < len(same_pairs):
            a, b = rng.choice(idx, 2, replace=False)
            if y[a] != y[b]:
                diff_pairs.append([a, b])
        P += same_pairs + diff_pairs
        same += [True] * len(same_pairs) + [False] * len(diff_pairs)
    P, same = np.asarray(P), np.asarray(same)
    test = ~train_ids[P[:, 0]]
    fold = PairFold(
        index=0,
        train=np.unique(P[~test]),
        test=np.unique(P[test]),
        train_pairs=P[~test],
        train_same=same[~test],
        test_pairs=P[test],
        test_same=same[test],
        test_rows=np.flatnonzero(test),
    )
    protocol = VerificationProtocol(training="unrestricted")
    head = JointBayesian(n_components=8, binarize=binarize_, tol=1e-10, max_iter=20000)
    fast = protocol.evaluate(head, X, y, fold)
    step = jb_module._em_step
    monkeypatch.setattr(
        jb_module, "_em_step", lambda st, a, b, **kw: step(st, a, b, expand=False, **kw)
    )
    monkeypatch.setattr(
        jb_module,
        "_principal_axes",
        lambda X, mean, k, binary=False: PCA(k, svd_solver="full").fit(X).components_,
    )
    ref = protocol.evaluate(head, X, y, fold)
    assert fast.metrics["accuracy"] == ref.metrics["accuracy"]
    scale = np.abs(ref.curves["scores"]).max()
    assert abs(fast.curves["threshold"][0] - ref.curves["threshold"][0]) < 1e-5 * scale
    np.testing.assert_allclose(fast.curves["scores"], ref.curves["scores"], atol=1e-5 * scale)
    np.testing.assert_array_equal(fast.y_pred, ref.y_pred)
