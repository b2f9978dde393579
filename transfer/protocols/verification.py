"""Pair verification as on LFW: View 1 (one train/test split) and View 2 (10 folds).

The protocol reads pairs files (:mod:`transfer.protocols.pairs`), keeps only
the images they name, and for each fold fits a pair verifier on the training
side and scores the test pairs. Thresholds are always chosen on training
pairs (:meth:`~transfer.heads.verification.PairVerifier.fit_threshold`).
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from transfer._registry import register_protocol
from transfer._tags import component_tags
from transfer.data.imageset import ImageSet
from transfer.heads import heads_with_tag
from transfer.protocols.base import Fold, FoldResult, Protocol
from transfer.protocols.pairs import PairList, read_pairs
from transfer.protocols.verification_metrics import FAR_TARGETS, verification_metrics

__all__ = ["PairFold", "VerificationProtocol"]

_TRAINING = ("unrestricted", "restricted")


@dataclass(frozen=True)
class PairFold(Fold):
    """A fold of pairs. ``train`` / ``test`` are the images the two sides use
    (indices into the protocol's ImageSet); the pair arrays index the same set.

    Attributes
    ----------
    train_pairs, test_pairs : ndarray of shape (n_pairs, 2)
        Image indices of each pair.
    train_same, test_same : ndarray of bool
        True for same-identity pairs.
    test_rows : ndarray of int
        Rows of :meth:`VerificationProtocol.pair_table` the test pairs are.
    """

    train_pairs: np.ndarray
    train_same: np.ndarray
    test_pairs: np.ndarray
    test_same: np.ndarray
    test_rows: np.ndarray


def _check_file_param(key: str, value: Any, allow_none: bool) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, str | os.PathLike) or not os.fspath(value):
        raise ValueError(f"verification: {key!r} must be a pairs file path, got {value!r}")


@register_protocol("verification")
class VerificationProtocol(Protocol):
    """Face verification on pairs: accuracy, ROC AUC, EER and TAR at FAR.

    With ``pairs`` unset, View 1: fit on ``train_pairs``, test on
    ``test_pairs`` (LFW's development split). With ``pairs`` set to a View 2
    ``pairs.txt``, 10-fold cross-validation: each fold is scored by a head
    fitted on the other nine, its threshold chosen on those nine; accuracy is
    reported as mean ± standard deviation over folds.

    Parameters
    ----------
    pairs : path, optional
        A View 2 pairs file (``n_folds N`` header). Relative paths are looked
        up in the working directory, then in the dataset's image folder and
        the folder above it (where LFW keeps its text files).
    train_pairs, test_pairs : path, default="pairsDevTrain.txt", "pairsDevTest.txt"
        The View 1 files, used when ``pairs`` is not set.
    training : {"unrestricted", "restricted"}, default="unrestricted"
        ``"unrestricted"`` (LFW's "unrestricted, labeled outside data"
        setting restricted to the training folds): heads that learn from
        identities (Joint Bayesian, the distance verifiers' preprocessing)
        fit on the training folds' images and their identity labels, then
        the threshold on the training pairs. ``"restricted"`` (image-restricted):
        every head sees the training pairs only.
    threshold_folds : int, default=5
        How the accept threshold is chosen on the training side. With ``k >=
        2``, cross-fitting: the training identities are split into ``k``
        groups, a clone of the head is fitted without each group and scores
        that group's pairs, and the threshold maximises accuracy on these
        out-of-sample training scores; the head itself is then fitted on the
        whole training side. A head that learns from the training pairs (Joint
        Bayesian, the pair SVM) scores them higher than unseen pairs, so a
        threshold picked on its own training scores is biased. ``0`` picks it
        on the in-sample training scores (cheaper; fine for heads that learn
        nothing, such as ``cosine_verifier``). The inner fits start from the
        head fitted on the whole side where the head allows it
        (``crossfit_copy``: Joint Bayesian's EM starts from its covariances),
        and reach the same solution as a fit from scratch.
    max_pairs : int, optional
        Keep at most this many pairs per file (View 1) or per fold (View 2),
        half same and half different, the first ones of each. For quick runs
        and tests only: results on LFW are reported with every pair.

    References
    ----------
    .. [1] Huang, Ramesh, Berg, Learned-Miller. "Labeled Faces in the Wild: a
       database for studying face recognition in unconstrained
       environments." UMass Amherst TR 07-49, 2007.
    .. [2] Huang, Learned-Miller. "Labeled Faces in the Wild: updates and new
       reporting procedures." UMass Amherst TR UM-CS-2014-003, 2014.
    """

    name = "verification"
    metrics = ("accuracy", "auc", "eer", *(f"tar@far={far:g}" for far in FAR_TARGETS))
    uses_identities = True
    item_file = "scores.csv"
    report_sections = ("roc", "scores")

    def __init__(
        self,
        pairs: str | None = None,
        train_pairs: str = "pairsDevTrain.txt",
        test_pairs: str = "pairsDevTest.txt",
        training: str = "unrestricted",
        threshold_folds: int = 5,
        max_pairs: int | None = None,
    ) -> None:
        _check_file_param("pairs", pairs, allow_none=True)
        _check_file_param("train_pairs", train_pairs, allow_none=False)
        _check_file_param("test_pairs", test_pairs, allow_none=False)
        if training not in _TRAINING:
            raise ValueError(
                f"verification: 'training' must be one of {', '.join(_TRAINING)}, got {training!r}"
            )
        if max_pairs is not None and (
            not isinstance(max_pairs, int) or isinstance(max_pairs, bool) or max_pairs < 2
        ):
            raise ValueError(f"verification: 'max_pairs' must be an int >= 2, got {max_pairs!r}")
        if (
            not isinstance(threshold_folds, int)
            or isinstance(threshold_folds, bool)
            or threshold_folds == 1
            or threshold_folds < 0
        ):
            raise ValueError(
                f"verification: 'threshold_folds' must be 0 or an int >= 2, got {threshold_folds!r}"
            )
        self.pairs = None if pairs is None else os.fspath(pairs)
        self.train_pairs = os.fspath(train_pairs)
        self.test_pairs = os.fspath(test_pairs)
        self.training = training
        self.threshold_folds = threshold_folds
        self.max_pairs = max_pairs
        self._table: pd.DataFrame | None = None

    @property
    def view(self) -> int:
        """1 (development split) or 2 (10-fold ``pairs.txt``)."""
        return 1 if self.pairs is None else 2

    # -- heads

    def check_head(self, label: str, head: Any) -> None:
        """Refuse heads that cannot score pairs, naming them and those that can."""
        if not component_tags(head).get("scores_pairs", False):
            raise ValueError(
                f"head {label!r} ({type(head).__name__}) does not score pairs; the verification "
                f"protocol takes pair verifiers: {', '.join(heads_with_tag('scores_pairs'))}"
            )

    def fold_sizes(self, fold: Fold) -> tuple[int, int]:
        """(training pairs, test pairs)."""
        return len(fold.train_pairs), len(fold.test_pairs)

    def describe(self, data: ImageSet, folds: list[Fold]) -> str:
        if self.pairs is None:
            how = (
                f"View 1: heads fitted on {os.path.basename(self.train_pairs)}, tested on "
                f"{os.path.basename(self.test_pairs)}"
            )
        else:
            how = (
                f"View 2: {len(folds)}-fold cross-validation on {os.path.basename(self.pairs)}, "
                "each fold scored by heads fitted on the others"
            )
        limit = "" if self.max_pairs is None else f" (at most {self.max_pairs} pairs per file/fold)"
        threshold = (
            f"cross-fitted over {self.threshold_folds} groups of training identities"
            if self.threshold_folds
            else "chosen on the training pairs"
        )
        return (
            f"Pair verification on {len(data)} images{limit}: {how}; {self.training} training; "
            f"threshold {threshold}."
        )

    # -- pairs and folds

    def _find(self, name: str, data: ImageSet) -> str:
        expanded = os.path.expanduser(name)
        candidates = [expanded]
        if not os.path.isabs(expanded) and data.root:
            candidates += [
                os.path.join(data.root, expanded),
                os.path.join(os.path.dirname(os.path.abspath(data.root)), expanded),
            ]
        for c in candidates:
            if os.path.isfile(c):
                return c
        raise FileNotFoundError(
            f"verification: pairs file {name!r} not found (looked for "
            f"{', '.join(dict.fromkeys(candidates))})"
        )

    def _limit(self, pl: PairList) -> np.ndarray:
        """Rows of ``pl`` kept under ``max_pairs``."""
        if self.max_pairs is None:
            return np.arange(len(pl))
        half = self.max_pairs // 2
        keep = []
        for f in range(pl.n_folds):
            for kind in (True, False):
                keep.extend(np.flatnonzero((pl.fold == f) & (pl.same == kind))[:half].tolist())
        return np.sort(np.asarray(keep, dtype=np.int64))

    def select(self, data: ImageSet) -> tuple[ImageSet, list[PairFold]]:
        """The images the pairs name, and the folds.

        Raises
        ------
        FileNotFoundError
            For a missing pairs file, or an image a pairs file names that is
            not in ``data`` (the message gives the file and line).
        ValueError
            For a malformed pairs file, or a dataset held in memory.
        """
        if data.paths is None or not data.root:
            raise ValueError(
                f"verification: the dataset {data.name!r} is held in memory; the pair protocol "
                "needs image files in LFW's layout (name/name_NNNN.jpg), e.g. the 'lfw' or "
                "'image_folder' datasets"
            )
        if self.pairs is None:
            files = [self._find(self.train_pairs, data), self._find(self.test_pairs, data)]
        else:
            files = [self._find(self.pairs, data)]
        lists = [read_pairs(f) for f in files]
        if self.pairs is not None and lists[0].n_folds < 2:
            raise ValueError(
                f"verification: {files[0]} has a single fold (a View 1 file?); 'pairs' takes a "
                "View 2 file with several folds ('n_folds N' header). For View 1 leave 'pairs' "
                "unset and set 'train_pairs' / 'test_pairs'."
            )

        index = {
            os.path.relpath(p, data.root).replace(os.sep, "/"): i for i, p in enumerate(data.paths)
        }
        rows = []
        for k, pl in enumerate(lists):
            for r in self._limit(pl):
                for side in (pl.left[r], pl.right[r]):
                    if side not in index:
                        raise FileNotFoundError(
                            f"{pl.file}, line {pl.line[r]}: image {side!r} is not in the "
                            f"dataset {data.name!r} (folder {data.root}); every image a pairs "
                            "file names must exist"
                        )
                fold = pl.fold[r] if self.pairs is not None else k
                rows.append(
                    (pl.file, int(pl.line[r]), pl.left[r], pl.right[r], bool(pl.same[r]), int(fold))
                )
        table = pd.DataFrame(rows, columns=["file", "line", "left", "right", "same", "fold"])
        used = sorted({index[p] for p in table["left"]} | {index[p] for p in table["right"]})
        subset = data.subset(used)
        position = {index_: k for k, index_ in enumerate(used)}
        table["left_index"] = [position[index[p]] for p in table["left"]]
        table["right_index"] = [position[index[p]] for p in table["right"]]
        self._table = table

        pair_idx = table[["left_index", "right_index"]].to_numpy()
        same = table["same"].to_numpy(bool)
        fold_of = table["fold"].to_numpy()
        # View 1: fold 0 = training file, fold 1 = test file -> one split
        test_folds = [1] if self.pairs is None else sorted(set(fold_of.tolist()))
        folds = []
        for n, f in enumerate(test_folds):
            test_rows = np.flatnonzero(fold_of == f)
            train_rows = np.flatnonzero(fold_of != f)
            for what, rows_ in (("training", train_rows), ("test", test_rows)):
                kinds = set(same[rows_].tolist())
                if kinds != {True, False}:
                    raise ValueError(
                        f"verification: the {what} pairs of fold {n} are all "
                        f"{'same' if True in kinds else 'different'}-identity pairs; "
                        "both kinds are needed"
                    )
            folds.append(
                PairFold(
                    index=n,
                    train=np.unique(pair_idx[train_rows]),
                    test=np.unique(pair_idx[test_rows]),
                    train_pairs=pair_idx[train_rows],
                    train_same=same[train_rows],
                    test_pairs=pair_idx[test_rows],
                    test_same=same[test_rows],
                    test_rows=test_rows,
                )
            )
        return subset, folds

    def splits(self, data: ImageSet) -> list[Fold]:
        return self.select(data)[1]

    def pair_table(self) -> pd.DataFrame:
        """Every pair of the last :meth:`select`: file, line, left, right, same, fold."""
        if self._table is None:
            raise RuntimeError("call select(data) first")
        return self._table

    # -- one fold

    def _fit(
        self,
        model: Any,
        X: np.ndarray,
        labels: np.ndarray,
        images: np.ndarray,
        pairs: np.ndarray,
        same: np.ndarray,
        threshold: bool = True,
    ) -> Any:
        """Fit ``model`` on one training side (images + pairs), threshold included.

        Without ``threshold`` a head that learns from images skips scoring
        the training pairs for its own threshold: the cross-fitted models
        only score held-out pairs.
        """
        if self.training == "unrestricted" and component_tags(model).get(
            "learns_from_images", False
        ):
            model.fit_identities(X[images], labels[images])
            return model.fit_threshold(X[pairs], same) if threshold else model
        return model.fit(X[pairs], same)

    def inner_splits(
        self, labels: np.ndarray, fold: PairFold
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The cross-fit's inner splits of ``fold``'s training pairs.

        Training identities fall into ``threshold_folds`` groups (seeded); a
        pair is held out with its left identity's group, and the inner model
        fits on the pairs that touch no identity of that group.

        Yields
        ------
        held, keep : ndarray of bool, shape (n_train_pairs,)
            The held-out pairs, and the pairs the inner model fits on.
        images : ndarray of int
            The images of the kept pairs (what a head that learns from
            images fits on).
        """
        pairs, same = fold.train_pairs, fold.train_same
        ids = labels[pairs]  # (n_pairs, 2) identities
        people = np.unique(ids)
        k = min(self.threshold_folds, len(people))
        group_of = dict(
            zip(people, np.random.default_rng(0).permutation(len(people)) % k, strict=True)
        )
        left_group = np.array([group_of[i] for i in ids[:, 0]])
        for g in range(k):
            held = left_group == g
            out_people = [p for p, q in group_of.items() if q == g]
            keep = ~np.isin(ids, out_people).any(axis=1)
            if not held.any() or len(set(same[keep].tolist())) < 2:
                continue
            yield held, keep, np.unique(pairs[keep])

    def _crossfit_threshold(
        self, head: Any, X: np.ndarray, labels: np.ndarray, fold: PairFold, fitted: Any = None
    ) -> float | None:
        """Threshold maximising accuracy on out-of-sample scores of the training pairs.

        ``fitted``: the head fitted on the whole training side; the inner fits
        are its ``crossfit_copy`` when it has one, else clones of ``head``
        (splits: :meth:`inner_splits`).
        """
        from transfer.heads.verification import best_threshold

        pairs, same = fold.train_pairs, fold.train_same
        scores = np.full(len(pairs), np.nan)
        for held, keep, images in self.inner_splits(labels, fold):
            with warnings.catch_warnings():
                # the fit on the whole training side reports convergence once
                warnings.simplefilter("ignore", ConvergenceWarning)
                warm = hasattr(fitted, "crossfit_copy")
                inner = fitted.crossfit_copy() if warm else clone(head)
                model = self._fit(
                    inner, X, labels, images, pairs[keep], same[keep], threshold=False
                )
            scores[held] = model.score_pairs(X[pairs[held, 0]], X[pairs[held, 1]])
        ok = np.isfinite(scores)
        if len(set(same[ok].tolist())) < 2:
            return None  # too few identities to cross-fit: fall back to in-sample
        return best_threshold(scores[ok], same[ok])

    def evaluate(self, head: Any, X: np.ndarray, labels: np.ndarray, fold: Fold) -> FoldResult:
        """Fit a clone of ``head`` on the fold's training side, score its test pairs."""
        if not isinstance(fold, PairFold):
            raise TypeError("the verification protocol evaluates PairFolds from select()")
        t0 = time.perf_counter()
        model = self._fit(clone(head), X, labels, fold.train, fold.train_pairs, fold.train_same)
        if self.threshold_folds:
            threshold = self._crossfit_threshold(head, X, labels, fold, fitted=model)
            if threshold is not None:
                model.threshold_ = threshold
        t1 = time.perf_counter()
        decision = model.decision_function(X[fold.test_pairs])
        result = verification_metrics(decision, fold.test_same, threshold=0.0)
        threshold = float(model.threshold_)
        return FoldResult(
            result.scalars(),
            decision > 0,
            fit_seconds=t1 - t0,
            predict_seconds=time.perf_counter() - t1,
            curves={
                "fpr": result.fpr,
                "tpr": result.tpr,
                "scores": decision + threshold,
                "threshold": np.array([threshold]),
            },
        )

    def curve_frames(self, fold: Fold, result: FoldResult) -> dict[str, pd.DataFrame]:
        return {
            "roc.csv": pd.DataFrame(
                {"fold": fold.index, "fpr": result.curves["fpr"], "tpr": result.curves["tpr"]}
            )
        }

    def item_frame(
        self, data: ImageSet, targets: np.ndarray, fold: Fold, result: FoldResult
    ) -> pd.DataFrame:
        return self.score_frame(fold, result)

    def score_frame(self, fold: PairFold, result: FoldResult) -> pd.DataFrame:
        """One row per test pair: the score file's columns (see the README)."""
        table = self.pair_table().iloc[fold.test_rows]
        return pd.DataFrame(
            {
                "fold": fold.index,
                "pairs_file": [os.path.basename(f) for f in table["file"]],
                "line": table["line"].to_numpy(),
                "left": table["left"].to_numpy(),
                "right": table["right"].to_numpy(),
                "same": fold.test_same.astype(int),
                "score": result.curves["scores"],
                "threshold": result.curves["threshold"][0],
                "predicted_same": np.asarray(result.y_pred, dtype=int),
            }
        )
