"""The attributes protocol, its split, its multi-label head and its report section."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest
from sklearn.svm import LinearSVC

from tests.conftest import need
from transfer.heads import AttributeLinearHead, LinearSVMHead, SingleNeuronHead
from transfer.protocols.attributes import (
    AttributesProtocol,
    attribute_scores,
    iterative_stratification,
)
from transfer.recipes import load_recipe_text, run_recipe


def _labels(n=600, m=8, seed=0):
    rng = np.random.default_rng(seed)
    rates = np.linspace(0.03, 0.6, m)
    return (rng.random((n, m)) < rates).astype(np.int64)


# -- split ---------------------------------------------------------------------
def test_iterative_stratification_sizes_and_balance():
    Y = _labels()
    fold = iterative_stratification(Y, np.array([0.2, 0.8]), seed=0)
    assert np.bincount(fold).tolist() == [120, 480]
    gap = np.abs(Y[fold == 0].mean(0) - Y[fold == 1].mean(0)).max()
    # a random split of the same sizes is worse on the rarest labels
    rng = np.random.default_rng(1)
    gaps = []
    for _ in range(20):
        r = rng.permutation(len(Y)) < 120
        gaps.append(np.abs(Y[r].mean(0) - Y[~r].mean(0)).max())
    assert gap < np.median(gaps) / 2
    again = iterative_stratification(Y, np.array([0.2, 0.8]), seed=0)
    assert np.array_equal(fold, again)
    five = iterative_stratification(Y, np.full(5, 0.2), seed=3)
    assert np.bincount(five).tolist() == [120] * 5


def test_attribute_scores_by_hand():
    train = np.array([[1, 0], [1, 0], [0, 1]])
    test = np.array([[1, 0], [0, 0], [0, 1], [1, 1]])
    pred = np.array([[1, 1], [0, 0], [1, 1], [1, 0]])
    table = attribute_scores(train, test, pred)
    np.testing.assert_allclose(table["accuracy"], [0.75, 0.5])
    # attribute 0: TPR 2/2, TNR 1/2; attribute 1: TPR 1/2, TNR 1/2
    np.testing.assert_allclose(table["balanced_accuracy"], [0.75, 0.5])
    # majority in training: attribute 0 present (2 of 3), attribute 1 absent
    np.testing.assert_allclose(table["majority_accuracy"], [0.5, 0.5])
    np.testing.assert_allclose(table["positive_rate"], [0.5, 0.5])


# -- head ----------------------------------------------------------------------
def _problem(n=240, d=30, m=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    W = rng.normal(size=(d, m))
    Y = (X @ W + rng.normal(scale=2.0, size=(n, m)) > 0.3).astype(np.int64)
    return X, Y


@pytest.mark.parametrize(
    "wide",
    [False, pytest.param(True, marks=pytest.mark.slow)],  # wide: 40 LIBLINEAR fits
)
def test_attribute_head_equals_one_liblinear_per_column(wide):
    X, Y = _problem(n=80 if wide else 240, d=120 if wide else 30)
    head = AttributeLinearHead(C=0.05, standardize=False).fit(X, Y)
    for j in range(Y.shape[1]):
        ref = LinearSVC(C=0.05, intercept_scaling=10.0, tol=1e-12, max_iter=200_000)
        ref.fit(X, Y[:, j])
        np.testing.assert_allclose(head.coef_[j], ref.coef_[0], atol=1e-5)
        np.testing.assert_allclose(head.intercept_[j], ref.intercept_[0], atol=1e-5)
    assert head.predict(X).shape == Y.shape
    assert set(np.unique(head.predict(X))) <= {0, 1}


def test_attribute_head_auto_C_shared_and_per_label():
    X, Y = _problem(seed=2)
    shared = AttributeLinearHead(C="auto").fit(X, Y)
    per = AttributeLinearHead(C="auto", C_per_label=True).fit(X, Y)
    assert len(set(shared.C_)) == 1
    # per label: each column's C is what the same search picks for it alone
    for j in range(Y.shape[1]):
        alone = AttributeLinearHead(C="auto").fit(X, Y[:, [j, j]])
        assert per.C_[j] == alone.C_[0]


def test_attribute_head_binary_1d_and_errors():
    X, Y = _problem()
    labels = np.where(Y[:, 0] == 1, "yes", "no")
    head = AttributeLinearHead(C=1.0).fit(X, labels)
    assert head.predict(X).dtype.kind == "U" and head.decision_function(X).ndim == 1
    assert (head.predict(X) == labels).mean() > 0.8
    with pytest.raises(ValueError, match="binary / multi-label head"):
        AttributeLinearHead().fit(X, np.arange(len(X)) % 3)
    with pytest.raises(ValueError, match="'loss' parameter"):
        AttributeLinearHead(loss="hinge").fit(X, Y)


def test_attribute_head_logistic_matches_per_column_fit():
    from sklearn.linear_model import LogisticRegression

    X, Y = _problem(m=3)
    head = AttributeLinearHead(loss="logistic", C=0.5, standardize=False).fit(X, Y)
    for j in range(3):
        ref = LogisticRegression(C=0.5, max_iter=1000).fit(X, Y[:, j])
        np.testing.assert_allclose(head.coef_[j], ref.coef_[0], atol=1e-6)


# -- protocol ------------------------------------------------------------------
def test_protocol_refuses_single_label_heads_and_datasets_without_attributes():
    proto = AttributesProtocol()
    with pytest.raises(ValueError, match="multi-label head: attribute_linear, single_neuron"):
        proto.check_head("svm", LinearSVMHead())
    proto.check_head("single", SingleNeuronHead())
    from transfer.data.datasets.bundled import sklearn_digits

    with pytest.raises(ValueError, match="'sklearn_digits' has none"):
        proto.targets(sklearn_digits())
    with pytest.raises(ValueError, match="'split' must be holdout or kfold"):
        AttributesProtocol(split="given")


RECIPE = textwrap.dedent(
    """
    name: attr-small
    data: {dataset: celeba, path: celeba, params: {max_images: 400}}
    extractors: [{name: hog, transforms: [grey, {resize: {size: 48}}]}]
    heads:
      - {name: attribute_linear, params: {C: 0.01}}
      - single_neuron
    protocol: {name: attributes, params: {split: holdout, test_size: 0.25}}
    """
)


def test_celeba_recipe_end_to_end(shared_data, tmp_path):
    need(shared_data, "celeba")
    recipe = load_recipe_text(RECIPE, "attr-small.yaml")
    out = tmp_path / "out"
    run_recipe(recipe, out)
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 2 and set(results["status"]) == {"ok"}
    assert results["n_test"].tolist() == [100, 100]
    per = pd.read_csv(out / "attributes.csv")
    assert len(per) == 2 * 40 and per["attribute"].iloc[0] == "5_o_Clock_Shadow"
    for head, rows in per.groupby("head"):
        row = results.set_index("head").loc[head]
        assert row["mean_accuracy"] == pytest.approx(rows["accuracy"].mean())
        assert row["majority_accuracy"] == pytest.approx(rows["majority_accuracy"].mean())
    # the baseline is the training majority: about 0.8 on CelebA; the heads beat chance
    assert 0.7 < results["majority_accuracy"].iloc[0] < 0.9
    assert (results["mean_balanced_accuracy"] > 0.52).all()

    from transfer.report import build_report

    paths = build_report(out)
    html = paths["html"].read_text(encoding="utf-8")
    assert "Accuracy per attribute" in html and "Wearing_Hat" in html and "majority" in html
