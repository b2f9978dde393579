"""The Gram formulation of the linear heads solves the same problem as on the features."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from transfer.heads import LinearSVMHead, LogisticHead
from transfer.heads.linear import row_space, squared_hinge_newton


def _svm_objective(coef, intercept, X, y, classes, C):
    """LIBLINEAR's L2-loss SVM objective summed over the one-vs-rest problems."""
    total = 0.0
    targets = [classes[1]] if len(classes) == 2 else classes
    for w, b, c in zip(np.atleast_2d(coef), np.atleast_1d(intercept), targets, strict=True):
        s = np.where(y == c, 1.0, -1.0)
        total += 0.5 * (w @ w + b * b) + C * np.sum(np.maximum(0.0, 1.0 - s * (X @ w + b)) ** 2)
    return total


def _wide(n=60, d=300, k=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    X = rng.normal(size=(n, d))
    X[:, :k] += 1.5 * np.eye(k)[y]
    return X, y


@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize("C", [0.01, 1.0])
def test_newton_reaches_liblinears_optimum(k, C):
    X, y = _wide(k=k)
    ref = LinearSVC(C=C, tol=1e-10, max_iter=100_000).fit(X, y)
    beta, n_iter, converged = squared_hinge_newton(
        X @ X.T,
        np.where(y[:, None] == np.arange(k)[None, :], 1.0, -1.0)[:, -1:]
        if k == 2
        else np.where(y[:, None] == np.arange(k)[None, :], 1.0, -1.0),
        C,
    )
    assert converged and n_iter < 30
    coef, intercept = (X.T @ beta).T, beta.sum(axis=0)
    np.testing.assert_allclose(coef, ref.coef_, atol=1e-5)
    np.testing.assert_allclose(intercept, ref.intercept_, atol=1e-5)
    classes = np.arange(k)
    ours = _svm_objective(coef, intercept, X, y, classes, C)
    assert ours <= _svm_objective(ref.coef_, ref.intercept_, X, y, classes, C) + 1e-9


def test_newton_optimum_has_zero_gradient():
    """Stationarity in w: w + 2C sum_{violators} (w.x_i + b - y_i) x_i = 0 (and for b)."""
    X, y = _wide(n=80, d=40, k=2, seed=3)  # more rows than columns
    s = np.where(y == 1, 1.0, -1.0)
    C = 0.5
    beta, _, converged = squared_hinge_newton(X @ X.T, s[:, None], C)
    w, b = X.T @ beta[:, 0], beta.sum()
    out = X @ w + b
    act = s * out < 1
    grad_w = w + 2 * C * X[act].T @ (out[act] - s[act])
    grad_b = b + 2 * C * np.sum(out[act] - s[act])
    assert converged
    assert np.max(np.abs(grad_w)) < 1e-8 and abs(grad_b) < 1e-8


def test_svm_head_formulations_agree_on_digits():
    """More rows than columns: "auto" takes the primal Newton path; all three agree."""
    X, y = load_digits(return_X_y=True)
    X = X[:300] / 16.0
    y = y[:300]
    heads = {
        form: LinearSVMHead(C=0.1, formulation=form).fit(X[:200], y[:200])
        for form in ("auto", "gram", "features")
    }
    assert heads["auto"].model_.formulation_ == "primal"
    assert heads["features"].model_.formulation_ == "features"
    ref = heads["features"]
    for form in ("auto", "gram"):
        np.testing.assert_allclose(
            heads[form].decision_function(X[200:]), ref.decision_function(X[200:]), atol=2e-3
        )
        assert np.array_equal(heads[form].predict(X[200:]), ref.predict(X[200:]))
    np.testing.assert_allclose(
        heads["auto"].decision_function(X[200:]),
        heads["gram"].decision_function(X[200:]),
        atol=1e-7,
    )
    assert heads["auto"].score(X[200:], y[200:]) > 0.85


def test_svm_head_on_wide_data_picks_gram_and_matches_liblinear():
    X, y = _wide(n=90, d=400, k=3, seed=1)
    head = LinearSVMHead(C=1.0).fit(X[:60], y[:60])
    ref = LinearSVC(C=1.0, tol=1e-10, max_iter=100_000).fit(X[:60], y[:60])
    assert head.model_.formulation_ == "gram"
    np.testing.assert_allclose(
        head.decision_function(X[60:]), ref.decision_function(X[60:]), atol=1e-5
    )


def test_logistic_gram_reaches_at_least_the_features_optimum():
    X, y = _wide(n=60, d=500, k=3, seed=2)
    objective = {}
    for form in ("gram", "features"):
        head = LogisticHead(C=0.05, formulation=form).fit(X, y)
        assert head.model_.formulation_ == form
        model = head.model_
        S = model.decision_function(X)
        Z = StandardScaler().fit(X).transform(X)
        np.testing.assert_allclose(Z @ model.coef_.T + model.intercept_, S, atol=1e-8)
        loss = np.sum(logsumexp(S, axis=1) - S[np.arange(len(y)), y])
        objective[form] = 0.5 * np.sum(model.coef_**2) + 0.05 * loss
        decision = head.decision_function(X)
        objective[form + "_pred"] = decision.argmax(1)
    assert objective["gram"] <= objective["features"] * (1 + 1e-6)
    assert abs(objective["gram"] - objective["features"]) < 1e-3 * objective["features"]
    assert np.array_equal(objective["gram_pred"], objective["features_pred"])


def test_row_space_reconstructs_the_gram_matrix_and_drops_null_directions():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 30))
    X[5:] = X[:5] * 2.0  # rank 5
    Z, P = row_space(X @ X.T)
    assert Z.shape == (10, 5)
    np.testing.assert_allclose(Z @ Z.T, X @ X.T, atol=1e-9)
    V = X.T @ P  # an orthonormal basis of the row space
    np.testing.assert_allclose(V.T @ V, np.eye(5), atol=1e-9)


def test_auto_C_with_gram_reuses_the_fold_structure_of_features():
    """C='auto' picks the same C through the Gram matrix as on the features."""
    X, y = _wide(n=90, d=300, k=3, seed=4)
    picked = {
        form: LinearSVMHead(C="auto", formulation=form).fit(X, y).C_
        for form in ("gram", "features")
    }
    assert picked["gram"] == picked["features"]


def test_newton_iteration_cap_warns():
    X, y = _wide(n=60, d=300, k=3)
    with pytest.warns(ConvergenceWarning, match="Newton steps"):
        LinearSVMHead(C=10.0, max_iter=1).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        LinearSVMHead(C=10.0).fit(X, y)


def test_formulation_is_validated():
    X, y = _wide()
    with pytest.raises(ValueError, match="'formulation' parameter of LinearSVMHead"):
        LinearSVMHead(formulation="dual").fit(X, y)


@pytest.mark.parametrize("form", ["primal", "gram"])
@pytest.mark.parametrize("flops", [0.0, 3e6, 1e11], ids=["cg", "mixed", "exact"])
def test_conjugate_gradient_steps_and_working_start_reach_liblinears_optimum(
    monkeypatch, form, flops
):
    """Large active sets take truncated-CG or exact Newton steps; the optimum is LIBLINEAR's.

    ``flops=0``: every set above 10 rows on the CG path; ``3e6``: the
    smallest sets of a step exact, the others CG; ``1e11``: all exact (in the
    primal form by the (d+1) x (d+1) normal equations once |S| > d + 1).
    """
    import transfer.heads.linear as linear

    monkeypatch.setattr(linear, "EXACT_MAX_ROWS", 10)
    monkeypatch.setattr(linear, "EXACT_MAX_FLOPS", flops)
    monkeypatch.setattr(linear, "EXACT_MAX_PROBLEMS", 10)  # all ten classes may step exactly
    X, y = load_digits(return_X_y=True)
    X, y = X[:400] / 16.0, y[:400]
    C = 0.5
    ref = LinearSVC(C=C, tol=1e-12, max_iter=200_000).fit(X, y)
    Y = np.where(y[:, None] == np.arange(10)[None, :], 1.0, -1.0)
    kwargs = {"X": X} if form == "primal" else {"K": X @ X.T}
    for start in (0, 50):  # the working start: rows > 2 * start_rows
        B, _, converged = linear.squared_hinge_ovr(Y, C, start_rows=start, **kwargs)
        assert converged
        if form == "primal":
            coef, intercept = B[:-1].T, B[-1]
        else:
            coef, intercept = (X.T @ B).T, B.sum(axis=0)
        np.testing.assert_allclose(coef, ref.coef_, atol=1e-4)
        np.testing.assert_allclose(intercept, ref.intercept_, atol=1e-4)
        classes = np.arange(10)
        ours = _svm_objective(coef, intercept, X, y, classes, C)
        assert ours <= _svm_objective(ref.coef_, ref.intercept_, X, y, classes, C) + 1e-8


def test_exact_steps_follow_the_flop_budget_smallest_sets_first(monkeypatch):
    import transfer.heads.linear as linear

    monkeypatch.setattr(linear, "EXACT_MAX_ROWS", 512)
    monkeypatch.setattr(linear, "EXACT_MAX_FLOPS", 1e8)
    monkeypatch.setattr(linear, "EXACT_MAX_PROBLEMS", 4)
    sizes = np.array([5, 2000, 600, 700])
    # kernel form: 600 rows cost 600^3/3 = 7.2e7, then 700 would exceed 1e8
    assert linear._exact_steps(sizes, None, True).tolist() == [True, False, True, False]
    # primal form of width 65: the normal equations cost 2000 * 65^2 + 65^3/3 = 8.5e6,
    # so every set is exact within the budget
    assert linear._exact_steps(sizes, 65, False).all()
    monkeypatch.setattr(linear, "EXACT_MAX_PROBLEMS", 2)  # more large sets: CG shares products
    assert linear._exact_steps(sizes, 65, False).tolist() == [True, False, False, False]
    monkeypatch.setattr(linear, "EXACT_MAX_PROBLEMS", 4)
    monkeypatch.setattr(linear, "EXACT_MAX_FLOPS", 0.0)
    assert linear._exact_steps(sizes, None, True).tolist() == [True, False, False, False]


def test_squared_hinge_ovr_takes_one_of_features_or_gram():
    Y = np.ones((3, 1))
    from transfer.heads.linear import squared_hinge_ovr

    with pytest.raises(ValueError, match="exactly one of X"):
        squared_hinge_ovr(Y, 1.0)
    with pytest.raises(ValueError, match="exactly one of X"):
        squared_hinge_ovr(Y, 1.0, X=np.eye(3), K=np.eye(3))


@pytest.mark.parametrize("form", ["primal", "gram"])
def test_a_start_on_guessed_violators_reaches_the_same_optimum(form):
    # the start of the cross-fitted pair SVM's inner fits: the violators of a
    # solution on more rows; a good guess takes fewer steps, a bad one (every
    # row, none) still ends at the optimum
    from transfer.heads.linear import squared_hinge_ovr

    X, y = _wide(n=600, d=120 if form == "primal" else 900, k=3, seed=5)
    Y = np.where(y[:, None] == np.arange(3)[None, :], 1.0, -1.0)
    data = {"X": X} if form == "primal" else {"K": X @ X.T}
    cold, cold_steps, ok = squared_hinge_ovr(Y, 0.5, **data, max_iter=200)
    assert ok
    more, _, _ = squared_hinge_ovr(
        np.vstack([Y, Y[:40]]),
        0.5,
        **({"X": np.vstack([X, X[:40] + 0.1])} if form == "primal" else {}),
        **({"K": (lambda Z: Z @ Z.T)(np.vstack([X, X[:40] + 0.1]))} if form == "gram" else {}),
        max_iter=200,
    )
    out = X @ (more[:-1] if form == "primal" else np.vstack([X, X[:40] + 0.1]).T @ more)
    guess = Y * (out + (more[-1] if form == "primal" else more.sum(axis=0))) < 1.0
    for start in (guess, np.ones_like(guess), np.zeros_like(guess)):
        B, steps, ok = squared_hinge_ovr(Y, 0.5, **data, max_iter=200, start=start)
        assert ok
        np.testing.assert_allclose(B, cold, atol=1e-8 * np.abs(cold).max())
        if start is guess:
            assert steps < cold_steps
    with pytest.raises(ValueError, match="'start' must be a boolean array of shape"):
        squared_hinge_ovr(Y, 0.5, **data, start=guess[:, :2])
