"""Classification: accuracy under a given split or stratified k-fold."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit

from transfer._registry import register_protocol
from transfer.data.imageset import ImageSet
from transfer.protocols.base import Fold, FoldResult, Protocol, check_min_per_class


@register_protocol("classification")
class ClassificationProtocol(Protocol):
    """Classification accuracy.

    Parameters
    ----------
    split : {"auto", "given", "kfold", "shuffle"}, default="auto"
        "given" uses the dataset's own train/test split (e.g. a keras
        ``.npz``); "kfold" draws stratified k folds; "shuffle" draws
        ``n_splits`` stratified random train/test splits of ``test_size``;
        "auto" is "given" when the dataset has a split, else "kfold".
    n_splits : int, default=5
        Folds (or random splits).
    test_size : float, default=0.2
        Test fraction for "shuffle".
    seed : int, default=0
        Seed of the fold assignment.
    """

    name = "classification"
    metrics = ("accuracy",)

    def __init__(
        self, split: str = "auto", n_splits: int = 5, test_size: float = 0.2, seed: int = 0
    ) -> None:
        if split not in ("auto", "given", "kfold", "shuffle"):
            raise ValueError(
                f"classification: 'split' must be one of auto, given, kfold, shuffle; got {split!r}"
            )
        least = 1 if split in ("shuffle", "given") else 2  # k-fold needs two folds
        if (
            not isinstance(n_splits, numbers.Integral)
            or isinstance(n_splits, bool)
            or n_splits < least
        ):
            raise ValueError(
                f"classification: 'n_splits' must be an int >= {least} for split={split!r}, "
                f"got {n_splits!r}"
            )
        if not (isinstance(test_size, numbers.Real) and 0 < test_size < 1):
            raise ValueError(f"classification: 'test_size' must be in (0, 1), got {test_size!r}")
        self.split = split
        self.n_splits = int(n_splits)
        self.test_size = float(test_size)
        self.seed = int(seed)

    def splits(self, data: ImageSet) -> list[Fold]:
        labels = data.labels
        mode = self.split
        if mode == "auto":
            mode = "given" if data.split is not None else "kfold"
        if mode == "given":
            if data.split is None:
                raise ValueError(
                    f"classification: split='given' but the dataset {data.name!r} has no "
                    "train/test split; use split='kfold'"
                )
            train = np.flatnonzero(data.split == "train")
            test = np.flatnonzero(data.split == "test")
            if len(train) == 0 or len(test) == 0:
                raise ValueError(f"the dataset {data.name!r} has an empty train or test split")
            return [Fold(0, train, test)]
        check_min_per_class(
            labels,
            data.class_names,
            self.n_splits if mode == "kfold" else 2,
            f"the classification protocol ({mode}, n_splits={self.n_splits})",
        )
        if mode == "kfold":
            cv = StratifiedKFold(n_splits=self.n_splits, shuffle=True, random_state=self.seed)
        else:
            cv = StratifiedShuffleSplit(
                n_splits=self.n_splits, test_size=self.test_size, random_state=self.seed
            )
        dummy = np.zeros(len(labels))
        return [Fold(i, tr, te) for i, (tr, te) in enumerate(cv.split(dummy, labels))]

    def describe(self, data: ImageSet, folds: list[Fold]) -> str:
        mode = self.split
        if mode == "auto":
            mode = "given" if data.split is not None else "kfold"
        if mode == "given":
            how = (
                f"the dataset's own train/test split ({len(folds[0].train)} training, "
                f"{len(folds[0].test)} test images)"
            )
        elif mode == "kfold":
            how = f"stratified {len(folds)}-fold cross-validation (seed {self.seed})"
        else:
            how = (
                f"{len(folds)} stratified random splits with {self.test_size:.0%} test images "
                f"(seed {self.seed})"
            )
        return (
            f"Classification accuracy over {len(data)} images of {data.n_classes} classes, {how}."
        )

    def score(self, model, X_test, y_test) -> FoldResult:
        y_pred = np.asarray(model.predict(X_test))
        return FoldResult({"accuracy": float(np.mean(y_pred == y_test))}, y_pred)
