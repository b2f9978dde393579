"""Protocols: split properties, CMC numbers, and no test label reaching a fit."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from transfer.data import ImageSet
from transfer.heads import KNNHead, LinearSVMHead
from transfer.protocols import ClassificationProtocol, IdentificationProtocol, cmc_curve


def _set(labels, split=None):
    labels = np.asarray(labels)
    n_classes = labels.max() + 1
    return ImageSet(
        name="toy",
        labels=labels,
        class_names=tuple(f"c{k}" for k in range(n_classes)),
        images=np.zeros((len(labels), 4, 4)),
        split=split,
    )


class SpyHead(ClassifierMixin, BaseEstimator):
    """Records the rows and labels it is fitted on."""

    seen: list = []

    def fit(self, X, y):
        SpyHead.seen.append((X[:, 0].copy(), np.asarray(y).copy()))
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])

    def class_scores(self, X):
        return np.zeros((len(X), len(self.classes_)))


@pytest.mark.parametrize(
    "protocol",
    [ClassificationProtocol(n_splits=4), IdentificationProtocol(n_train=3, n_repeats=5)],
    ids=["classification", "identification"],
)
def test_test_labels_never_reach_fit(protocol):
    labels = np.repeat(np.arange(6), 8)
    data = _set(labels)
    X = np.arange(len(labels), dtype=float)[:, None]  # column 0 = row index
    SpyHead.seen = []
    for fold in protocol.splits(data):
        assert not set(fold.train) & set(fold.test)
        assert len(fold.train) + len(fold.test) == len(labels)
        protocol.evaluate(SpyHead(), X, labels, fold)
        rows, y = SpyHead.seen[-1]
        assert set(rows.astype(int)) == set(fold.train)
        np.testing.assert_array_equal(y, labels[rows.astype(int)])


def test_identification_splits_are_balanced_and_seeded():
    labels = np.repeat(np.arange(10), 10)
    p = IdentificationProtocol(n_train=5, n_repeats=10, seed=3)
    folds = p.splits(_set(labels))
    assert len(folds) == 10
    for f in folds:
        np.testing.assert_array_equal(np.bincount(labels[f.train]), np.full(10, 5))
    again = IdentificationProtocol(n_train=5, n_repeats=10, seed=3).splits(_set(labels))
    assert all(np.array_equal(a.train, b.train) for a, b in zip(folds, again, strict=True))
    other = IdentificationProtocol(n_train=5, n_repeats=10, seed=4).splits(_set(labels))
    assert not np.array_equal(folds[0].train, other[0].train)


def test_identification_needs_n_train_plus_one_images():
    labels = np.array([0] * 6 + [1] * 5 + [2] * 6)
    with pytest.raises(ValueError, match="class 'c1' has 5 image"):
        IdentificationProtocol(n_train=5).splits(_set(labels))


def test_kfold_needs_enough_images_per_class():
    labels = np.array([0] * 6 + [1] * 1 + [2] * 6)
    with pytest.raises(ValueError, match="class 'c1' has 1 image"):
        ClassificationProtocol(n_splits=2).splits(_set(labels))


def test_given_split_is_used():
    labels = np.array([0, 1, 0, 1, 0, 1])
    split = np.array(["train"] * 4 + ["test"] * 2)
    folds = ClassificationProtocol().splits(_set(labels, split))
    assert len(folds) == 1
    np.testing.assert_array_equal(folds[0].test, [4, 5])


def test_cmc_curve_numbers():
    classes = np.array([0, 1, 2])
    scores = np.array(
        [
            [0.9, 0.1, 0.0],  # true 0 at rank 1
            [0.5, 0.2, 0.3],  # true 1 at rank 3
            [0.1, 0.8, 0.5],  # true 2 at rank 2
            [0.3, 0.3, 0.3],  # tie: true 0 counted at rank 3
        ]
    )
    cmc = cmc_curve(scores, np.array([0, 1, 2, 0]), classes)
    np.testing.assert_allclose(cmc, [0.25, 0.5, 1.0])


def test_rank1_equals_knn_accuracy():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(8), 6)
    X = rng.normal(size=(len(labels), 5)) + labels[:, None] * 0.7
    p = IdentificationProtocol(n_train=3, n_repeats=3)
    for fold in p.splits(_set(labels)):
        result = p.evaluate(KNNHead(), X, labels, fold)
        acc = (
            KNNHead().fit(X[fold.train], labels[fold.train]).predict(X[fold.test])
            == labels[fold.test]
        ).mean()
        assert result.metrics["rank1"] == pytest.approx(acc)
        assert result.curves["cmc"][-1] == 1.0
        assert np.all(np.diff(result.curves["cmc"]) >= 0)


def test_classification_accuracy_on_separable_data(blobs):
    X, y = blobs
    p = ClassificationProtocol(n_splits=3)
    accs = [p.evaluate(LinearSVMHead(), X, y, f).metrics["accuracy"] for f in p.splits(_set(y))]
    assert np.mean(accs) == 1.0


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: ClassificationProtocol(split="random"), "'split'"),
        (lambda: ClassificationProtocol(n_splits=1), "'n_splits'"),
        (lambda: IdentificationProtocol(n_train=0), "'n_train'"),
    ],
)
def test_bad_protocol_parameters(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()
