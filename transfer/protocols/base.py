"""The protocol interface: folds drawn from an ImageSet, scored per fold.

A protocol decides which images train and which test (``splits``), then for
one fold fits a head on the training features and scores the test features
(``evaluate``). Test labels are used only after ``predict``, to score; they
never reach a ``fit``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import clone

from transfer.data.imageset import ImageSet


@dataclass(frozen=True)
class Fold:
    """One split: indices into the ImageSet."""

    index: int
    train: np.ndarray
    test: np.ndarray


@dataclass
class FoldResult:
    """What one fold produced: metrics, predictions and optional curves."""

    metrics: dict[str, float]
    y_pred: np.ndarray
    fit_seconds: float = 0.0
    predict_seconds: float = 0.0
    curves: dict[str, np.ndarray] = field(default_factory=dict)


class Protocol:
    """Abstract protocol. Subclasses set ``name``, ``metrics`` and implement
    ``splits`` and ``score``."""

    name: str = ""
    metrics: tuple[str, ...] = ()
    #: heads learn identities (``ImageSet.identity_array``) rather than labels
    uses_identities: bool = False

    @property
    def primary_metric(self) -> str:
        return self.metrics[0]

    def get_params(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def splits(self, data: ImageSet) -> list[Fold]:  # pragma: no cover - abstract
        raise NotImplementedError

    def select(self, data: ImageSet) -> tuple[ImageSet, list[Fold]]:
        """The images the protocol uses and its folds (all of ``data`` by default)."""
        return data, self.splits(data)

    def check_head(self, label: str, head: Any) -> None:
        """Raise a ValueError naming ``label`` if ``head`` cannot serve this protocol."""
        from transfer.heads.verification import PairVerifier

        if isinstance(head, PairVerifier):
            raise ValueError(
                f"head {label!r} ({type(head).__name__}) scores pairs of images; use it with "
                f"the 'verification' protocol, not {self.name!r}"
            )

    def evaluate(self, head: Any, X: np.ndarray, labels: np.ndarray, fold: Fold) -> FoldResult:
        """Fit a clone of ``head`` on the fold's training rows, score its test rows."""
        import time

        model = clone(head)
        t0 = time.perf_counter()
        model.fit(X[fold.train], labels[fold.train])
        t1 = time.perf_counter()
        result = self.score(model, X[fold.test], labels[fold.test])
        result.fit_seconds = t1 - t0
        result.predict_seconds = time.perf_counter() - t1
        return result

    def score(self, model: Any, X_test: np.ndarray, y_test: np.ndarray) -> FoldResult:
        raise NotImplementedError  # pragma: no cover - abstract


def check_min_per_class(
    labels: np.ndarray, class_names: tuple[str, ...], minimum: int, why: str
) -> None:
    """Raise a ValueError naming the first class with fewer than ``minimum`` images."""
    counts = Counter(labels.tolist())
    for k in range(len(class_names)):
        if 0 < counts.get(k, 0) < minimum:
            raise ValueError(
                f"class {class_names[k]!r} has {counts[k]} image(s) but {why} needs at least "
                f"{minimum} per class; drop such classes with data.min_per_class={minimum}"
            )
