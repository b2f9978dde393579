"""Closed-set identification: rank-1 and the CMC curve."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from transfer._registry import register_protocol
from transfer.data.imageset import ImageSet
from transfer.protocols.base import Fold, FoldResult, Protocol, check_min_per_class


def cmc_curve(scores: np.ndarray, y_true: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Cumulative match characteristic from class scores.

    Parameters
    ----------
    scores : ndarray of shape (n_probes, n_classes)
        Higher means more likely; column k scores ``classes[k]``.
    y_true : ndarray of shape (n_probes,)
        True identity of each probe (must be among ``classes``).
    classes : ndarray of shape (n_classes,)

    Returns
    -------
    cmc : ndarray of shape (n_classes,)
        ``cmc[r - 1]`` is the fraction of probes whose true identity is among
        the ``r`` best-scored ones. Ties count against the probe (the true
        class ranks after every class scored equally), so a constant scorer
        gets no credit.

    References
    ----------
    .. [1] Moon, Phillips. "Computational and performance aspects of PCA-based
       face-recognition algorithms." Perception 30, 2001.
    """
    col = np.searchsorted(classes, y_true)
    if np.any(col >= len(classes)) or np.any(classes[np.minimum(col, len(classes) - 1)] != y_true):
        raise ValueError("a probe's identity is not among the enrolled classes")
    true_score = scores[np.arange(len(scores)), col]
    # rank = 1 + number of other classes scoring >= the true one
    rank = (scores >= true_score[:, None]).sum(axis=1)
    counts = np.bincount(rank, minlength=scores.shape[1] + 1)[1:]
    return np.cumsum(counts) / len(scores)


def cmc_frame(fold: Fold, result: FoldResult) -> pd.DataFrame:
    """The CMC curve of one fold: ``fold, rank, rate``."""
    cmc = result.curves["cmc"]
    return pd.DataFrame({"fold": fold.index, "rank": np.arange(1, len(cmc) + 1), "rate": cmc})


@register_protocol("identification")
class IdentificationProtocol(Protocol):
    """Closed-set identification with ``n_train`` enrolment images per identity.

    For each of ``n_repeats`` random splits, ``n_train`` images of every
    identity train the head (the gallery) and the rest are probes; reports
    the rank-1 rate and the CMC curve, averaged over splits.

    Parameters
    ----------
    n_train : int, default=5
        Training (gallery) images per identity; every identity needs at least
        ``n_train + 1`` images.
    n_repeats : int, default=10
        Random splits.
    seed : int, default=0
        Seed of the splits.

    References
    ----------
    .. [1] Samaria, Harter. "Parameterisation of a stochastic model for human
       face identification." IEEE WACV, 1994 (the ORL protocol, 5 + 5 images).
    """

    name = "identification"
    metrics = ("rank1",)
    uses_identities = True
    report_sections = ("cmc",)

    def __init__(self, n_train: int = 5, n_repeats: int = 10, seed: int = 0) -> None:
        for key, value in (("n_train", n_train), ("n_repeats", n_repeats)):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
                raise ValueError(f"identification: {key!r} must be an int >= 1, got {value!r}")
        self.n_train = int(n_train)
        self.n_repeats = int(n_repeats)
        self.seed = int(seed)

    def splits(self, data: ImageSet) -> list[Fold]:
        ids = data.identity_array()
        names = (
            data.class_names
            if data.identities is None
            else tuple(str(i) for i in range(int(ids.max()) + 1))
        )
        check_min_per_class(
            ids, names, self.n_train + 1, f"identification with n_train={self.n_train}"
        )
        rng = np.random.default_rng(self.seed)
        groups = [np.flatnonzero(ids == k) for k in np.unique(ids)]
        folds = []
        for r in range(self.n_repeats):
            train = []
            for g in groups:
                train.extend(rng.choice(g, size=self.n_train, replace=False).tolist())
            train = np.sort(np.asarray(train))
            test = np.setdiff1d(np.arange(len(ids)), train)
            folds.append(Fold(r, train, test))
        return folds

    def describe(self, data: ImageSet, folds: list[Fold]) -> str:
        n_ids = len(np.unique(data.identity_array()))
        return (
            f"Closed-set identification: {len(folds)} random split(s) of {len(data)} images of "
            f"{n_ids} identities, {self.n_train} gallery (training) image(s) per identity, the "
            f"rest probes (seed {self.seed}); rank-1 rate and CMC curve per split."
        )

    def curve_frames(self, fold: Fold, result: FoldResult) -> dict[str, pd.DataFrame]:
        return {"cmc.csv": cmc_frame(fold, result)}

    def score(self, model, X_test, y_test) -> FoldResult:
        scores = model.class_scores(X_test) if hasattr(model, "class_scores") else None
        if scores is None:
            scores = model.decision_function(X_test)
            if scores.ndim == 1:
                scores = np.column_stack([-scores, scores])
        classes = np.asarray(model.classes_)
        cmc = cmc_curve(scores, y_test, classes)
        y_pred = classes[np.argmax(scores, axis=1)]
        return FoldResult({"rank1": float(cmc[0])}, y_pred, curves={"cmc": cmc})
