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
    # scikit-learn's digits scaled to [0, 1]: every reasonable classifier is
    # above 90% in 3-fold CV (on the raw 0..16 values the exact C=1 SVM
    # optimum is 0.8998: LIBLINEAR's default tolerance stopped short of it)
    X, y = load_digits(return_X_y=True)
    assert cross_val_score(head, X / 16.0, y, cv=3).mean() > 0.9


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


# --------------------------------------------------------------------------- kNN scores


def _line(points):
    """Training images on a line: 1-D features from ``{label: [positions]}``."""
    X = np.array([[p] for ps in points.values() for p in ps], dtype=np.float64)
    y = np.array([label for label, ps in points.items() for _ in ps])
    return X, y


def test_knn_scores_are_votes_of_the_k_nearest():
    # a probe at 0.4: the single nearest image is class 0 (at 0.0), but 4 of
    # its 5 nearest are class 1 (0.6 to 0.9 away); class 2 is far off
    X, y = _line({0: [0.0], 1: [1.0, 1.1, 1.2, 1.3], 2: [5.0, 5.5]})
    probe = np.array([[0.4]])
    one = KNNHead(n_neighbors=1).fit(X, y)
    five = KNNHead(n_neighbors=5).fit(X, y)
    s1, s5 = one.class_scores(probe)[0], five.class_scores(probe)[0]
    assert list(np.argsort(-s1)) == [0, 1, 2]
    assert list(np.argsort(-s5)) == [1, 0, 2]
    assert one.predict(probe)[0] == 0 and five.predict(probe)[0] == 1
    # by hand: votes among the 5 nearest, minus the nearest distance over twice the row's largest
    nearest = np.array([0.4, 0.6, 4.6])
    np.testing.assert_allclose(s5, np.array([1, 4, 0]) - nearest / (2 * 4.6))
    np.testing.assert_allclose(s1, np.array([1, 0, 0]) - nearest / (2 * 4.6))


def test_knn_votes_match_a_neighbour_search():
    # the vote count (ceil of the score) against scikit-learn's neighbour search
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(60, 4)), np.repeat(np.arange(5), 12)
    probes = rng.normal(size=(20, 4))  # classes overlap: the votes split
    head = KNNHead(n_neighbors=7).fit(X, y)
    scores = head.class_scores(probes)
    _, idx = NearestNeighbors(n_neighbors=7, algorithm="brute").fit(X).kneighbors(probes)
    by_hand = np.stack([np.bincount(y[row], minlength=5) for row in idx])
    assert (by_hand.max(axis=1) < 4).any()  # some probes really are split votes
    np.testing.assert_array_equal(np.ceil(scores), by_hand)
    np.testing.assert_array_equal(head.predict(probes), head.classes_[scores.argmax(1)])


def test_knn_one_neighbour_ranks_classes_by_nearest_image(blobs):
    X, y = blobs
    probes = X[::4] + np.random.default_rng(5).normal(0, 2.0, size=X[::4].shape)
    scores = KNNHead(n_neighbors=1).fit(X, y).class_scores(probes)
    d = np.linalg.norm(probes[:, None, :] - X[None, :, :], axis=-1)
    nearest = np.stack([d[:, y == k].min(axis=1) for k in range(5)], axis=1)
    np.testing.assert_array_equal(np.argsort(-scores, axis=1), np.argsort(nearest, axis=1))


def test_knn_vote_ties_go_to_the_nearer_class():
    # 2 votes each among the 4 nearest: class 1 has the nearest image
    X, y = _line({0: [-1.0, -1.1], 1: [0.9, 1.2]})
    head = KNNHead(n_neighbors=4).fit(X, y)
    assert head.predict([[0.0]])[0] == 1
    assert head.predict([[0.08]])[0] == 1
    assert head.predict([[-0.2]])[0] == 0


def test_knn_more_neighbours_than_training_images_is_an_error(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match=r"n_neighbors=61 is larger than the training set \(60"):
        KNNHead(n_neighbors=61).fit(X, y)
    assert KNNHead(n_neighbors=60).fit(X, y).predict(X[:1]).shape == (1,)


# --------------------------------------------------------------------------- LDA numerics


def _ill_conditioned(n=120, d=600, n_classes=20, seed=0):
    """float32 features like aligned HOG, only worse: duplicated columns at scales
    from 1e-6 to 1e6, constant and near-constant columns."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    base = rng.random((n, 40)) + 0.1 * y[:, None] / n_classes
    X = base[:, rng.integers(0, 40, d)] * 10.0 ** rng.uniform(-6, 6, d)
    X[:, ::7] = 0.25
    X[:, 1::7] = 0.25 + 1e-7 * rng.random((n, len(range(1, d, 7))))
    return X.astype(np.float32), y


@pytest.mark.parametrize(
    "head",
    [LDAHead(), FisherfacesHead(), FisherfacesHead(shrinkage=None)],
    ids=["lda", "fisherfaces", "fisherfaces-classical"],
)
def test_lda_computes_in_float64(head):
    # in float32 Fisherfaces' SVD returned directions that classified the
    # training set at 0.13-0.33, and LDA differed from its float64 fit
    X32, y = _ill_conditioned()
    fitted = clone(head).fit(X32, y)
    reference = clone(head).fit(X32.astype(np.float64), y)
    np.testing.assert_array_equal(fitted.predict(X32), reference.predict(X32))
    np.testing.assert_allclose(fitted.class_scores(X32), reference.class_scores(X32))
    assert (fitted.predict(X32) == y).mean() > 0.9


# the fitting case has six one-image classes, whose shrunk covariance scikit-learn warns about
@pytest.mark.filterwarnings("ignore:Only one sample available")
@pytest.mark.parametrize("head", [LDAHead(), LDAHead(solver="svd"), FisherfacesHead()])
def test_lda_needs_a_class_with_two_images(head):
    rng = np.random.default_rng(0)
    y = np.r_[np.arange(7), 0]
    X = rng.normal(0, 5, size=(7, 10))[y] + rng.normal(0, 0.1, size=(8, 10))
    with pytest.raises(ValueError, match="at least one class with 2 or more training images"):
        clone(head).fit(X[:7], y[:7])
    # one class of two images is enough for a within-class scatter
    assert (clone(head).fit(X, y).predict(X) == y).all()
