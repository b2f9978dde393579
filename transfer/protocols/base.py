"""The protocol interface: folds drawn from an ImageSet, scored per fold.

A protocol decides which images train and which test (``splits``), then for
one fold fits a head on the training features and scores the test features
(``evaluate``). Test labels are used only after ``predict``, to score; they
never reach a ``fit``.

A protocol owns everything the runner and the report would otherwise have to
know about it by name: what a head learns from (:meth:`Protocol.targets`),
its folds and how big they are (:meth:`Protocol.fold_sizes`), a stable
definition of each fold for the cell cache (:meth:`Protocol.fold_definition`),
its per-item output frame (:meth:`Protocol.item_frame`, written to
``item_file``), its curves (:meth:`Protocol.curve_frames`, one CSV each), a
description of the resolved run (:meth:`Protocol.describe`) and the report
sections it asks for (``report_sections``). Adding a protocol is one module
that subclasses :class:`Protocol` and registers itself, plus the line in
``transfer/protocols/__init__.py`` that imports it.
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from transfer._tags import component_tags
from transfer.data.imageset import ImageSet
from transfer.features.base import array_digest, stable_hash


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
    ``splits`` and ``score``; the other methods have per-image defaults."""

    name: str = ""
    metrics: tuple[str, ...] = ()
    #: heads learn identities (``ImageSet.identity_array``) rather than labels
    uses_identities: bool = False
    #: the file the per-item frame is written to
    item_file: str = "predictions.csv"
    #: report sections this protocol asks for (see ``transfer.report.sections``)
    report_sections: tuple[str, ...] = ()

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

    def targets(self, data: ImageSet) -> np.ndarray:
        """What heads learn from and are scored against: labels or identities."""
        return data.identity_array() if self.uses_identities else np.asarray(data.labels)

    def check_head(self, label: str, head: Any) -> None:
        """Raise a ValueError naming ``label`` if ``head`` cannot serve this protocol."""
        if component_tags(head).get("scores_pairs", False):
            raise ValueError(
                f"head {label!r} ({type(head).__name__}) scores pairs of images; use it with "
                f"a pair protocol, not {self.name!r}"
            )

    # -- what the runner needs to know about a fold ---------------------
    def fold_sizes(self, fold: Fold) -> tuple[int, int]:
        """(training items, test items) of ``fold``: images by default."""
        return len(fold.train), len(fold.test)

    def fold_definition(self, fold: Fold) -> str:
        """sha256 of everything that defines ``fold`` (indices; pairs where used).

        Part of the cell cache key: two folds with the same definition over the
        same features give the same result.
        """
        return stable_hash(
            {
                "kind": type(fold).__name__,
                "arrays": {name: array_digest(value) for name, value in vars(fold).items()},
            }
        )

    def describe(self, data: ImageSet, folds: list[Fold]) -> str:
        """One or two sentences describing the resolved protocol, for the report."""
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{self.name} ({params}): {len(folds)} fold(s) over {len(data)} images."

    # -- one fold ---------------------------------------------------------
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

    # -- outputs ----------------------------------------------------------
    def item_frame(
        self, data: ImageSet, targets: np.ndarray, fold: Fold, result: FoldResult
    ) -> pd.DataFrame:
        """One row per test image: index, path, true and predicted label and names."""
        names = _target_names(data, targets)
        y_true = targets[fold.test]
        y_pred = np.asarray(result.y_pred)
        return pd.DataFrame(
            {
                "fold": fold.index,
                "index": fold.test,
                "path": _paths(data, fold.test),
                "y_true": y_true,
                "y_pred": y_pred,
                "true_name": [names.get(int(v), str(v)) for v in y_true],
                "pred_name": [names.get(int(v), str(v)) for v in y_pred],
            }
        )

    def curve_frames(self, fold: Fold, result: FoldResult) -> dict[str, pd.DataFrame]:
        """Curves of one fold, by the CSV file they go to (none by default)."""
        return {}


def _paths(data: ImageSet, indices: np.ndarray) -> np.ndarray:
    """File paths of ``indices`` relative to the data root (empty for arrays)."""
    if data.paths is None:
        return np.full(len(indices), "", dtype=object)
    return _relative_paths(data)[np.asarray(indices, dtype=np.int64)]


@functools.lru_cache(maxsize=8)
def _relative_paths(data: ImageSet) -> np.ndarray:
    # once per ImageSet (hashed by identity): item frames of every cell index into it
    root = os.path.abspath(data.root) if data.root else None
    out = []
    for p in data.paths:
        p = os.fspath(p)
        if root:
            full = os.path.abspath(p)
            inside = full.startswith(root + os.sep)
            p = full[len(root) + 1 :] if inside else os.path.relpath(p, root)
        out.append(p.replace(os.sep, "/"))
    return np.asarray(out, dtype=object)


def _target_names(data: ImageSet, targets: np.ndarray) -> dict[int, str]:
    """Names of the target values: class names, or identity numbers."""
    if targets is data.labels or np.array_equal(targets, data.labels):
        return dict(enumerate(data.class_names))
    return {}


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
