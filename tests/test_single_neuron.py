"""The single-neuron head: exact against a brute-force search.

Its scikit-learn estimator checks run with every registered head in test_common.py.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.datasets import load_digits

from transfer.heads import SingleNeuronHead
from transfer.heads.single_neuron import best_single_units
from transfer.registry import create_head, list_heads


def _brute_force(X, y, balanced=False):
    """Best (score, unit) over every feature, every midpoint threshold and both polarities."""
    n = len(y)
    pos, neg = y.sum(), n - y.sum()
    best = (-1.0, None)
    for j in range(X.shape[1]):
        values = np.unique(X[:, j])
        cuts = np.r_[values[0] - 1, (values[1:] + values[:-1]) / 2, values[-1] + 1]
        for t in cuts:
            for sign in (1, -1):
                p = sign * (X[:, j] - t) > 0
                if balanced:
                    score = ((p & y).sum() / pos + (~p & ~y).sum() / neg) / 2
                else:
                    score = (p == y).mean()
                if score > best[0] + 1e-12:
                    best = (score, j)
    return best


@pytest.mark.parametrize("criterion", ["accuracy", "balanced_accuracy"])
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("rare", [False, True])
def test_equals_brute_force_search(seed, criterion, rare):
    rng = np.random.default_rng(seed)
    n, d = rng.integers(40, 61) if rare else rng.integers(5, 25), rng.integers(1, 6)
    # few distinct values: ties inside columns, and between columns
    X = rng.integers(0, 5, size=(n, d)).astype(float)
    y = rng.random(n) < 0.35
    if rare:  # one identity against the rest: 1-4 positives, scored by _rare_extremes
        y[:] = False
        y[rng.choice(n, rng.integers(1, 5), replace=False)] = True
    y[:2] = [True, False]
    head = SingleNeuronHead(criterion=criterion).fit(X, y)
    best, unit = _brute_force(X, y, balanced=criterion == "balanced_accuracy")
    assert head.train_score_[0] == pytest.approx(best, abs=1e-12)
    assert head.unit_[0] == unit  # the lowest-index unit among the best
    # the stored rule reproduces the reported scores
    pred = head.polarity_[0] * (X[:, head.unit_[0]] - head.threshold_[0]) > 0
    assert head.train_accuracy_[0] == pytest.approx((pred == y).mean())
    np.testing.assert_array_equal(head.predict(X), pred)


@pytest.mark.parametrize("criterion", ["accuracy", "balanced_accuracy"])
def test_rare_columns_equal_the_cumulative_sweep(monkeypatch, criterion):
    import transfer.heads.single_neuron as module

    rng = np.random.default_rng(0)
    n, d, m = 300, 40, 60
    X = np.round(rng.normal(size=(n, d)), 1)  # ties within columns
    identity = rng.integers(0, m, size=n)  # about 5 images per identity
    Y = np.stack([identity == j for j in range(m)], axis=1)
    Y[:, 0] = rng.random(n) < 0.5  # one common label beside the rare ones
    Y[:, 1] = False  # and one with no positive at all
    monkeypatch.setattr(module, "_BLOCK_ENTRIES", 7 * n)  # several blocks of features
    rare = best_single_units(X, Y, criterion=criterion)
    monkeypatch.setattr(module, "_RARE_FRACTION", 10**9)  # every column by the sweep
    sweep = best_single_units(X, Y, criterion=criterion)
    for a, b in zip(rare, sweep, strict=True):
        np.testing.assert_array_equal(a, b)


def test_threshold_is_the_median_best_cut():
    # positive iff x >= 2: the only perfect cut is 1.5 in unit 1; unit 0 is noise
    X = np.array([[0, 0], [1, 1], [0, 2], [1, 3], [0, 4]], dtype=float)
    y = np.array([0, 0, 1, 1, 1])
    head = SingleNeuronHead().fit(X, y)
    assert (head.unit_[0], head.threshold_[0], head.polarity_[0]) == (1, 1.5, 1)
    assert head.train_accuracy_[0] == 1.0
    np.testing.assert_array_equal(head.decision_function(X), X[:, 1] - 1.5)
    # reversed labels: the same cut, positives below it
    head = SingleNeuronHead().fit(X, 1 - y)
    assert (head.unit_[0], head.threshold_[0], head.polarity_[0]) == (1, 1.5, -1)
    # two best cuts (after 1 and after 3 sorted values, 3/4 correct each): the lower median
    head = SingleNeuronHead().fit(np.arange(4.0)[:, None], [0, 1, 0, 1])
    assert (head.threshold_[0], head.polarity_[0], head.train_accuracy_[0]) == (0.5, 1, 0.75)


def test_multilabel_columns_equal_single_fits():
    X, digits = load_digits(return_X_y=True)
    Y = np.stack([digits == k for k in range(10)], axis=1).astype(int)
    multi = SingleNeuronHead().fit(X, Y)
    assert multi.unit_.shape == multi.threshold_.shape == (10,)
    for k in range(10):
        single = SingleNeuronHead().fit(X, Y[:, k])
        assert single.unit_[0] == multi.unit_[k]
        assert single.threshold_[0] == multi.threshold_[k]
        assert single.train_accuracy_[0] == multi.train_accuracy_[k]
    pred = multi.predict(X)
    assert pred.shape == Y.shape
    np.testing.assert_allclose((pred == Y).mean(axis=0), multi.train_accuracy_)


def test_balanced_accuracy_is_not_fooled_by_a_rare_label():
    X, digits = load_digits(return_X_y=True)
    y = digits == 0  # 10% positives: "never" already scores 0.90 accuracy
    plain = SingleNeuronHead().fit(X, y)
    balanced = SingleNeuronHead(criterion="balanced_accuracy").fit(X, y)
    assert plain.train_accuracy_[0] >= 0.9
    assert balanced.train_score_[0] > 0.9
    pred = balanced.predict(X)
    tpr, tnr = pred[y].mean(), (~pred[~y]).mean()
    assert balanced.train_score_[0] == pytest.approx((tpr + tnr) / 2)


def test_blocks_of_features_give_the_same_choice(monkeypatch):
    import transfer.heads.single_neuron as module

    X, digits = load_digits(return_X_y=True)
    Y = np.stack([digits == k for k in range(10)], axis=1)
    whole = best_single_units(X, Y)
    monkeypatch.setattr(module, "_BLOCK_ENTRIES", 3 * len(X))  # 3 features per block
    for a, b in zip(whole, best_single_units(X, Y), strict=True):
        np.testing.assert_array_equal(a, b)


def test_string_labels_pickle_and_registry():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5))
    y = np.where(X[:, 3] > 0.1, "yes", "no")
    head = create_head("single_neuron").fit(X, y)
    assert "single_neuron" in list_heads()
    assert head.unit_[0] == 3 and head.train_accuracy_[0] == 1.0
    again = pickle.loads(pickle.dumps(head))
    np.testing.assert_array_equal(again.predict(X), y)


def test_multiclass_and_bad_targets_are_clear_errors():
    X = np.random.default_rng(0).normal(size=(9, 3))
    with pytest.raises(ValueError, match=r"binary / multi-label head.*3 classes"):
        SingleNeuronHead().fit(X, np.arange(9) % 3)
    with pytest.raises(ValueError, match="0/1 matrix"):
        SingleNeuronHead().fit(X, np.tile([[0, 1, 2]], (9, 1)))
    with pytest.raises(ValueError, match="'criterion' parameter of SingleNeuronHead"):
        SingleNeuronHead(criterion="auc").fit(X, np.arange(9) % 2)
