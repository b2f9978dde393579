"""Attributes: per-attribute accuracy of multi-label heads (CelebA's 40 attributes).

Face attribute prediction (Kumar et al. [1]_, Liu et al. [2]_) is scored
per attribute: accuracy, and balanced accuracy because most CelebA
attributes are unbalanced (predicting each attribute's majority value is
already about 80% accurate on average), so every table carries that
majority baseline beside the methods. Folds are drawn by iterative
stratification (Sechidis et al. [3]_), which keeps every attribute's
positive rate as equal across folds as 40 labels allow.

References
----------
.. [1] Kumar, Berg, Belhumeur, Nayar. "Attribute and simile classifiers for
   face verification." ICCV 2009.
.. [2] Liu, Luo, Wang, Tang. "Deep learning face attributes in the wild."
   ICCV 2015.
.. [3] Sechidis, Tsoumakas, Vlahavas. "On the stratification of
   multi-label data." ECML PKDD 2011.
"""

from __future__ import annotations

import numbers
import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from transfer._registry import register_protocol
from transfer._tags import component_tags
from transfer.data.imageset import ImageSet
from transfer.protocols.base import Fold, FoldResult, Protocol

__all__ = ["AttributesProtocol", "iterative_stratification"]


def iterative_stratification(Y: np.ndarray, proportions: np.ndarray, seed: int = 0) -> np.ndarray:
    """Assign each row of a 0/1 label matrix to a fold, label by label.

    Sechidis et al.'s algorithm [1]_: take the label with the fewest
    positives among the rows not yet assigned; give each of its rows to the
    fold that still wants the most of that label (ties: the fold that still
    wants the most rows, then a seeded random choice); repeat. Rows without
    any positive label are spread last by the folds' remaining sizes. A
    fold that has its share of rows takes no more while another has not, so
    the fold sizes are exact (within one row).

    Parameters
    ----------
    Y : ndarray of shape (n_samples, n_labels)
        0/1 labels.
    proportions : ndarray of shape (n_folds,)
        The fraction of rows each fold should get (summing to 1).
    seed : int, default=0
        Seed of the tie-breaking and of the row order.

    Returns
    -------
    ndarray of shape (n_samples,)
        The fold of each row.

    References
    ----------
    .. [1] Sechidis, Tsoumakas, Vlahavas. "On the stratification of
       multi-label data." ECML PKDD 2011.
    """
    Y = np.asarray(Y).astype(bool)
    n = len(Y)
    rng = np.random.default_rng(seed)
    proportions = np.asarray(proportions, dtype=np.float64)
    wanted_rows = proportions * n
    wanted = np.outer(proportions, Y.sum(axis=0))  # (folds, labels)
    fold = np.full(n, -1, dtype=np.int64)
    left = Y.copy()
    while True:
        counts = left.sum(axis=0)
        if not counts.any():
            break
        label = int(np.argmin(np.where(counts > 0, counts, np.iinfo(np.int64).max)))
        rows = np.flatnonzero(left[:, label])
        for i in rng.permutation(rows):
            # folds that are full (their share of rows reached) take no more
            # while others are not: the fold sizes come out exact
            open_ = np.flatnonzero(wanted_rows > 0.5)
            if not len(open_):
                open_ = np.arange(len(proportions))
            want = wanted[open_, label]
            best = open_[want == want.max()]
            if len(best) > 1:
                rows_left = wanted_rows[best]
                best = best[rows_left == rows_left.max()]
            f = int(best[rng.integers(len(best))]) if len(best) > 1 else int(best[0])
            fold[i] = f
            wanted[f] -= Y[i]
            wanted_rows[f] -= 1
            left[i] = False
    for i in rng.permutation(np.flatnonzero(fold < 0)):
        best = np.flatnonzero(wanted_rows == wanted_rows.max())
        f = int(best[rng.integers(len(best))]) if len(best) > 1 else int(best[0])
        fold[i] = f
        wanted_rows[f] -= 1
    return fold


@register_protocol("attributes")
class AttributesProtocol(Protocol):
    """Per-attribute accuracy of a multi-label head, with the majority baseline.

    Heads learn the dataset's 0/1 attribute matrix (``ImageSet.attributes``,
    e.g. CelebA's 40) and must be multi-label heads (tag ``multilabel``).
    ``results.csv`` holds, per cell, the mean over attributes of the
    accuracy, of the balanced accuracy (the mean of the true-positive and
    true-negative rates) and of the majority baseline (each attribute's
    majority value in the training rows, scored on the test rows);
    ``attributes.csv`` has the same per attribute and fold.

    Parameters
    ----------
    split : {"holdout", "kfold"}, default="holdout"
        "holdout": one train/test split with ``test_size`` of the images in
        test (CelebA here: 8,000 / 2,000); "kfold": ``n_splits`` folds.
        Both by iterative stratification over all attributes.
    test_size : float, default=0.2
        Test fraction of "holdout".
    n_splits : int, default=5
        Folds of "kfold".
    seed : int, default=0
        Seed of the fold assignment.
    """

    name = "attributes"
    metrics = ("mean_accuracy", "mean_balanced_accuracy", "majority_accuracy")
    item_file = "attributes.csv"
    report_sections = ("per_attribute",)

    def __init__(
        self, split: str = "holdout", test_size: float = 0.2, n_splits: int = 5, seed: int = 0
    ) -> None:
        if split not in ("holdout", "kfold"):
            raise ValueError(f"attributes: 'split' must be holdout or kfold; got {split!r}")
        if not (isinstance(test_size, numbers.Real) and 0 < test_size < 1):
            raise ValueError(f"attributes: 'test_size' must be in (0, 1), got {test_size!r}")
        if not isinstance(n_splits, numbers.Integral) or isinstance(n_splits, bool) or n_splits < 2:
            raise ValueError(f"attributes: 'n_splits' must be an int >= 2, got {n_splits!r}")
        self.split = split
        self.test_size = float(test_size)
        self.n_splits = int(n_splits)
        self.seed = int(seed)

    def targets(self, data: ImageSet) -> np.ndarray:
        if data.attributes is None or not len(data.attribute_names):
            raise ValueError(
                f"the attributes protocol needs a dataset with binary attributes (such as "
                f"'celeba'); the dataset {data.name!r} has none"
            )
        return np.asarray(data.attributes, dtype=np.int64)

    def check_head(self, label: str, head: Any) -> None:
        super().check_head(label, head)
        if not component_tags(head).get("multilabel", False):
            from transfer.heads import heads_with_tag

            known = ", ".join(heads_with_tag("multilabel"))
            raise ValueError(
                f"head {label!r} ({type(head).__name__}) fits one label per image; the "
                f"attributes protocol needs a multi-label head: {known}"
            )

    def splits(self, data: ImageSet) -> list[Fold]:
        Y = self.targets(data)
        if self.split == "holdout":
            proportions = np.array([self.test_size, 1.0 - self.test_size])
        else:
            proportions = np.full(self.n_splits, 1.0 / self.n_splits)
        if len(Y) < len(proportions):
            raise ValueError(f"attributes: {len(Y)} image(s) cannot fill {len(proportions)} folds")
        assignment = iterative_stratification(Y, proportions, self.seed)
        if self.split == "holdout":
            test = np.flatnonzero(assignment == 0)
            return [Fold(0, np.flatnonzero(assignment != 0), test)]
        return [
            Fold(k, np.flatnonzero(assignment != k), np.flatnonzero(assignment == k))
            for k in range(self.n_splits)
        ]

    def describe(self, data: ImageSet, folds: list[Fold]) -> str:
        n_attr = len(data.attribute_names)
        if self.split == "holdout":
            how = (
                f"one split of {len(folds[0].train)} training and {len(folds[0].test)} test images"
            )
        else:
            how = f"{len(folds)} folds"
        return (
            f"Accuracy and balanced accuracy on each of {n_attr} binary attributes over "
            f"{len(data)} images, {how}, stratified over all attributes by iterative "
            f"stratification (seed {self.seed}); beside it each attribute's majority-value "
            "baseline from the training images."
        )

    # -- one fold ---------------------------------------------------------------
    def evaluate(self, head: Any, X: np.ndarray, labels: np.ndarray, fold: Fold) -> FoldResult:
        model = clone(head)
        t0 = time.perf_counter()
        model.fit(X[fold.train], labels[fold.train])
        t1 = time.perf_counter()
        pred = np.asarray(model.predict(X[fold.test])).astype(np.uint8)
        table = attribute_scores(labels[fold.train], labels[fold.test], pred)
        result = FoldResult(
            {
                "mean_accuracy": float(table["accuracy"].mean()),
                "mean_balanced_accuracy": float(table["balanced_accuracy"].mean()),
                "majority_accuracy": float(table["majority_accuracy"].mean()),
            },
            pred,
        )
        result.fit_seconds = t1 - t0
        result.predict_seconds = time.perf_counter() - t1
        return result

    def item_frame(
        self, data: ImageSet, targets: np.ndarray, fold: Fold, result: FoldResult
    ) -> pd.DataFrame:
        """One row per attribute: its accuracy, balanced accuracy and majority baseline."""
        table = attribute_scores(targets[fold.train], targets[fold.test], result.y_pred)
        table.insert(0, "attribute", list(data.attribute_names))
        table.insert(0, "fold", fold.index)
        return table


def attribute_scores(Y_train: np.ndarray, Y_test: np.ndarray, Y_pred: np.ndarray) -> pd.DataFrame:
    """Per-attribute accuracy, balanced accuracy and the training-majority baseline.

    Parameters
    ----------
    Y_train, Y_test, Y_pred : ndarray of shape (n, n_attributes)
        0/1 training labels (for the majority value), test labels and
        predictions.

    Returns
    -------
    pandas.DataFrame
        Columns ``n_test``, ``positive_rate`` (in the test rows),
        ``accuracy``, ``balanced_accuracy`` and ``majority_accuracy``. The
        balanced accuracy of an attribute absent (or always present) in the
        test rows is its accuracy on the class that is there.
    """
    truth = np.asarray(Y_test).astype(bool)
    pred = np.asarray(Y_pred).astype(bool)
    majority = np.asarray(Y_train).mean(axis=0) > 0.5
    pos, neg = truth.sum(axis=0), (~truth).sum(axis=0)
    tpr = np.where(pos > 0, (pred & truth).sum(axis=0) / np.maximum(pos, 1), np.nan)
    tnr = np.where(neg > 0, (~pred & ~truth).sum(axis=0) / np.maximum(neg, 1), np.nan)
    return pd.DataFrame(
        {
            "n_test": len(truth),
            "positive_rate": truth.mean(axis=0),
            "accuracy": (pred == truth).mean(axis=0),
            "balanced_accuracy": np.nanmean(np.vstack([tpr, tnr]), axis=0),
            "majority_accuracy": (truth == majority).mean(axis=0),
        }
    )
