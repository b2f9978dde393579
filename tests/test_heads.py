"""Heads: numbers on real and synthetic data, validation, scoring conventions."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from transfer.heads import (
    FisherfacesHead,
    KNNHead,
    LDAHead,
    LinearSVMHead,
    LogisticHead,
    RBFSVMHead,
    pairwise_distances,
)
from transfer.registry import create_head, list_heads

ALL = [LinearSVMHead(), RBFSVMHead(), LDAHead(), FisherfacesHead(), LogisticHead(), KNNHead()]


def test_registry_has_every_head():
    assert {"linear_svm", "rbf_svm", "lda", "fisherfaces", "logistic", "knn"} <= set(list_heads())
    assert isinstance(create_head("knn", n_neighbors=3), KNNHead)


@pytest.mark.parametrize("head", ALL, ids=lambda h: type(h).__name__)
def test_digits_accuracy(head):
    # scikit-learn's digits: every reasonable classifier is above 90% in 3-fold CV
    X, y = load_digits(return_X_y=True)
    assert cross_val_score(head, X, y, cv=3).mean() > 0.9


@pytest.mark.parametrize("head", ALL, ids=lambda h: type(h).__name__)
def test_class_scores_argmax_is_predict(head, blobs):
    X, y = blobs
    head = clone(head).fit(X, y)
    scores = head.class_scores(X)
    assert scores.shape == (len(X), 5)
    np.testing.assert_array_equal(head.classes_[scores.argmax(1)], head.predict(X))
    assert (head.predict(X) == y).mean() == 1.0


@pytest.mark.parametrize("head", ALL, ids=lambda h: type(h).__name__)
def test_string_labels_and_pickle(head, blobs):
    X, y = blobs
    names = np.array(["ann", "bob", "cy", "dee", "eve"])[y]
    fitted = clone(head).fit(X, names)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict(X), fitted.predict(X))
    assert set(fitted.predict(X)) <= set(names)


def test_binary_decision_function_sign(blobs):
    X, y = blobs
    keep = y < 2
    head = LinearSVMHead().fit(X[keep], y[keep])
    d = head.decision_function(X[keep])
    assert d.shape == (keep.sum(),)
    np.testing.assert_array_equal((d > 0).astype(int), head.predict(X[keep]))


def test_knn_matches_scikit_learn():
    X, y = load_digits(return_X_y=True)
    X = X + np.random.default_rng(0).normal(0, 1e-3, X.shape)  # no distance ties
    Xtr, ytr, Xte, yte = X[:1000], y[:1000], X[1000:], y[1000:]
    ours = KNNHead(n_neighbors=1).fit(Xtr, ytr).predict(Xte)
    ref = KNeighborsClassifier(n_neighbors=1, algorithm="brute").fit(Xtr, ytr).predict(Xte)
    np.testing.assert_array_equal(ours, ref)
    # with 5 voters only vote ties may be broken differently (ours: nearer class)
    ours = KNNHead(n_neighbors=5).fit(Xtr, ytr).predict(Xte)
    ref = KNeighborsClassifier(n_neighbors=5, algorithm="brute").fit(Xtr, ytr).predict(Xte)
    assert abs((ours == yte).mean() - (ref == yte).mean()) < 0.01


def test_pairwise_distances_against_definitions():
    rng = np.random.default_rng(1)
    A, B = rng.random((4, 6)), rng.random((3, 6))
    i, j = 2, 1
    a, b = A[i], B[j]
    assert pairwise_distances(A, B, "euclidean")[i, j] == pytest.approx(np.linalg.norm(a - b))
    cos = 1 - a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    assert pairwise_distances(A, B, "cosine")[i, j] == pytest.approx(cos)
    assert pairwise_distances(A, B, "manhattan")[i, j] == pytest.approx(np.abs(a - b).sum())
    chi2 = ((a - b) ** 2 / (a + b)).sum()
    assert pairwise_distances(A, B, "chi2")[i, j] == pytest.approx(chi2)


def test_fisherfaces_caps_pca_at_n_minus_c(blobs):
    X, y = blobs
    head = FisherfacesHead().fit(X, y)
    assert head.model_.named_steps["pca"].n_components_ == min(len(X) - 5, X.shape[1])


@pytest.mark.parametrize(
    ("head", "param"),
    [
        (LinearSVMHead(C=-1), "C"),
        (RBFSVMHead(gamma="wide"), "gamma"),
        (LDAHead(solver="magic"), "solver"),
        (FisherfacesHead(n_components=0), "n_components"),
        (KNNHead(n_neighbors=0), "n_neighbors"),
        (KNNHead(metric="hamming"), "metric"),
    ],
)
def test_bad_parameters_name_the_parameter(head, param, blobs):
    X, y = blobs
    with pytest.raises(ValueError, match=f"'{param}' parameter of {type(head).__name__}"):
        head.fit(X, y)


def test_one_class_is_an_error(blobs):
    X, _ = blobs
    with pytest.raises(ValueError, match="at least 2 classes"):
        LinearSVMHead().fit(X, np.zeros(len(X)))


@pytest.mark.parametrize("name", ["linear_svm", "logistic"])
def test_auto_C_is_the_inner_cross_validation_optimum(name):
    """C="auto" is the grid value with the best stratified 3-fold CV accuracy on the fit data."""
    from sklearn.model_selection import StratifiedKFold

    from transfer.heads.classifiers import C_GRID

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 30)
    X = rng.normal(size=(90, 40))
    X[:, :3] += 0.8 * np.eye(3)[y]
    head = create_head(name, C="auto").fit(X, y)
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    means = []
    for C in C_GRID:
        accs = [
            create_head(name, C=C).fit(X[tr], y[tr]).score(X[te], y[te])
            for tr, te in cv.split(X, y)
        ]
        means.append(np.mean(accs))
    assert head.C_ == C_GRID[int(np.argmax(means))]
    refit = create_head(name, C=head.C_).fit(X, y)
    np.testing.assert_allclose(head.decision_function(X), refit.decision_function(X), atol=1e-6)
    with pytest.raises(ValueError, match="at least 2 training samples per class"):
        create_head(name, C="auto").fit(X[:61], np.r_[y[:60], 3])
