"""Fisherfaces' stages against scikit-learn's: the same model, computed in closed form."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.covariance import ledoit_wolf_shrinkage
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.pipeline import make_pipeline

from transfer.heads import FisherfacesHead
from transfer.heads.discriminant import GramPCA, ShrunkLDA, ledoit_wolf_intensity


def _problem(n, d, c, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % c
    # columns of very different scales, as z-scored pixels next to histogram counts
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 10, d) + 3 * rng.normal(size=(c, d))[y]
    return X, y, rng.normal(size=(40, d)) * 3


@pytest.mark.parametrize("n, p", [(30, 80), (200, 20), (5, 1)])
def test_ledoit_wolf_intensity_equals_scikit_learn(n, p):
    X = np.random.default_rng(1).normal(size=(n, p)) * np.linspace(1, 5, p)
    Xc = X - X.mean(axis=0)
    assert ledoit_wolf_intensity(Xc) == pytest.approx(ledoit_wolf_shrinkage(X), rel=1e-10)


@pytest.mark.parametrize("n, d, c", [(200, 50, 5), (150, 400, 12), (60, 30, 2)])
@pytest.mark.parametrize("shrinkage", ["auto", 0.3])
def test_shrunk_lda_equals_scikit_learn_lsqr(n, d, c, shrinkage):
    X, y, X_test = _problem(n, d, c)
    ref = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=shrinkage).fit(X, y)
    ours = ShrunkLDA(shrinkage).fit(X, y)
    scale = np.abs(ref.decision_function(X_test)).max()
    np.testing.assert_allclose(
        ours.decision_function(X_test), ref.decision_function(X_test), atol=1e-9 * scale
    )
    np.testing.assert_array_equal(ours.predict(X_test), ref.predict(X_test))
    np.testing.assert_allclose(ours.means_, ref.means_, rtol=1e-12)


@pytest.mark.parametrize("n, d", [(80, 300), (300, 40)])
def test_gram_pca_spans_the_principal_axes(n, d):
    X, _, X_test = _problem(n, d, 4)
    k = min(n, d) - 4
    ref = PCA(n_components=k, svd_solver="full").fit(X)
    ours = GramPCA(n_components=k).fit(X)
    a, b = ref.transform(X_test), ours.transform(X_test)
    signs = np.sign(np.sum(a * b, axis=0))  # each axis is defined up to its sign
    np.testing.assert_allclose(b * signs, a, atol=1e-8 * np.abs(a).max())
    np.testing.assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=1e-8)
    # a fraction of the variance keeps as many axes as scikit-learn
    assert GramPCA(0.9).fit(X).n_components_ == PCA(0.9, svd_solver="full").fit(X).n_components_


def test_fisherfaces_predicts_as_scikit_learns_pipeline_on_digits():
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    train = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:5] for c in range(10)])
    test = np.setdiff1d(np.arange(len(y)), train)
    # 50 training rows of 64 pixels: rows fewer than columns, PCA to 40 dimensions
    ref = make_pipeline(
        PCA(n_components=40, svd_solver="full"),
        LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"),
    ).fit(X[train], y[train])
    head = FisherfacesHead().fit(X[train], y[train])
    agree = np.mean(head.predict(X[test]) == ref.predict(X[test]))
    assert agree == 1.0
    assert head.score(X[test], y[test]) > 0.65  # 0.701 with 5 images per digit


def test_lda_head_with_shrinkage_equals_scikit_learn_on_wide_features():
    from transfer.heads import LDAHead

    X, y, X_test = _problem(60, 500, 6, seed=3)  # rows fewer than columns: the n x n solve
    ref = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto").fit(X, y)
    head = LDAHead().fit(X, y)
    scale = np.abs(ref.decision_function(X_test)).max()
    np.testing.assert_allclose(
        head.decision_function(X_test), ref.decision_function(X_test), atol=1e-9 * scale
    )
