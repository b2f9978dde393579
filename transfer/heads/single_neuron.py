"""The single-neuron head: one feature dimension and one threshold per binary label.

DeepID2+ [1]_ measured how selective single neurons of a face network are by
classifying identities and attributes with one neuron and one threshold.
:class:`SingleNeuronHead` does exactly that, chosen on the training data:
for each binary label (one column of a 0/1 label matrix, e.g. CelebA's 40
attributes at once) the feature dimension, threshold and polarity with the
best training score.

References
----------
.. [1] Sun, Wang, Tang. "Deeply learned face representations are sparse,
   selective, and robust." CVPR 2015.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transfer._registry import register_head
from transfer._validation import Options
from transfer.heads.multilabel import MultilabelHead

__all__ = ["SingleNeuronHead", "best_single_units"]

#: Sorted rows x features processed at once: bounds the memory of the sweep
#: (a few integer arrays of this many entries) whatever the data size.
_BLOCK_ENTRIES = 1 << 22


def _weights(n_pos: int, n_neg: int, balanced: bool) -> tuple[int, int]:
    """Per-positive and per-negative weights of a correct answer (see :func:`_cut_scores`)."""
    return (n_neg, n_pos) if balanced and n_pos and n_neg else (1, 1)


def _cut_scores(
    pos_below: np.ndarray, n_pos: int, n_neg: int, balanced: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Integer scores of every cut of one sorted column, for polarity +1 and -1.

    ``pos_below[k]`` counts the positives among the ``k`` smallest values.
    Polarity +1 predicts positive above the cut, -1 below it. With
    ``balanced`` the counts are weighted by the other class's size, so the
    score is ``2 * n_pos * n_neg`` times the balanced accuracy: exact integers,
    which makes ties exact too.
    """
    k = np.arange(pos_below.shape[0])
    neg_below = k - pos_below
    w_pos, w_neg = _weights(n_pos, n_neg, balanced)
    plus = w_pos * (n_pos - pos_below) + w_neg * neg_below
    minus = w_pos * pos_below + w_neg * (n_neg - neg_below)
    return plus, minus


def _valid_cuts(sorted_values: np.ndarray) -> np.ndarray:
    """Cuts after ``k`` sorted values that a threshold can realise (not inside a tie)."""
    n = sorted_values.shape[0]
    valid = np.ones((n + 1, *sorted_values.shape[1:]), dtype=bool)
    valid[1:n] = sorted_values[1:] > sorted_values[:-1]
    return valid


#: A label column is "rare" (scored by :func:`_rare_extremes`) when its
#: positives are fewer than ``n / _RARE_FRACTION``.
_RARE_FRACTION = 8


def _nearest_valid_cuts(
    order: np.ndarray, valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column of a block: the rank of every row, and the nearest valid cut at or
    below / at or above every cut ``k`` (``valid[0]`` and ``valid[n]`` always hold)."""
    n = order.shape[0]
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(n)[:, None], axis=0)
    k = np.arange(n + 1)[:, None]
    below = np.maximum.accumulate(np.where(valid, k, 0), axis=0)
    above = np.minimum.accumulate(np.where(valid, k, n)[::-1], axis=0)[::-1]
    return rank, below, above


def _rare_extremes(
    rows: np.ndarray,
    rank: np.ndarray,
    below: np.ndarray,
    above: np.ndarray,
    w_pos: int,
    w_neg: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Max and min over valid cuts of ``c = w_neg k - (w_pos + w_neg) pos_below(k)``,
    per column, from the ranks of the positive ``rows`` alone.

    With the positives at sorted ranks ``r_1 < ... < r_p``, ``pos_below`` is
    ``t`` on the cuts ``r_t + 1 .. r_{t+1}`` (``r_0 = -1``, ``r_{p+1} = n``),
    where ``c`` grows with ``k``: its largest valid value there is at the
    highest valid cut of the run, its smallest at the lowest. A run without
    a valid cut is skipped (its nearest valid cut belongs to another run).
    O(p) per column instead of O(n); equal to the cumulative sweep.
    """
    n = rank.shape[0]
    r = np.sort(rank[rows], axis=0)
    first = np.concatenate([np.zeros((1, r.shape[1]), dtype=r.dtype), r + 1])
    last = np.concatenate([r, np.full((1, r.shape[1]), n, dtype=r.dtype)])
    t = np.arange(len(rows) + 1, dtype=np.int64)[:, None] * (w_pos + w_neg)
    hi = np.take_along_axis(below, last, axis=0)
    lo = np.take_along_axis(above, first, axis=0)
    c_max = np.where(hi >= first, w_neg * hi - t, np.iinfo(np.int64).min).max(axis=0)
    c_min = np.where(lo <= last, w_neg * lo - t, np.iinfo(np.int64).max).min(axis=0)
    return c_max, c_min


def best_single_units(
    X: np.ndarray, Y: np.ndarray, *, criterion: str = "accuracy"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each 0/1 label column, the feature, threshold and polarity scoring best.

    Every feature column is sorted once; for each label column the
    positives below every cut are cumulative counts along the sorted rows,
    so all thresholds of all features are scored at once: O(n d log n) for
    the sort plus O(n d) per label column, in blocks of features of bounded
    memory. A column with few positives (one identity against all others)
    costs O(n_pos d) instead (:func:`_rare_extremes`): between two
    consecutive positives the score of a cut is monotone, so only the valid
    cuts next to each positive can be best. The rule is
    ``polarity * (x[unit] - threshold) > 0`` means positive.

    Ties are broken deterministically: the lowest feature index, then
    polarity +1, then the median of the best cuts (the lower one for an even
    count), as :func:`transfer.heads.verification.best_threshold` does.
    Thresholds are midpoints between consecutive distinct values, so no
    training value lies on one; a cut below all values (or above) predicts
    one class for every row, the majority rule.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Finite features.
    Y : ndarray of shape (n_samples, n_outputs)
        0/1 (or bool) labels, one column per binary task.
    criterion : {"accuracy", "balanced_accuracy"}, default="accuracy"
        What the rule maximises on the training rows. Balanced accuracy (the
        mean of the true positive and true negative rates) matters for rare
        labels, such as one identity against all others, where accuracy is
        maximised by always answering "no".

    Returns
    -------
    unit : ndarray of shape (n_outputs,), int
    threshold : ndarray of shape (n_outputs,), float
    polarity : ndarray of shape (n_outputs,), int (+1 or -1)
    score : ndarray of shape (n_outputs,), float
        The criterion of the chosen rule on ``X``, ``Y``.

    References
    ----------
    .. [1] Sun, Wang, Tang. "Deeply learned face representations are sparse,
       selective, and robust." CVPR 2015.
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y).astype(bool)
    n, d = X.shape
    m = Y.shape[1]
    balanced = criterion == "balanced_accuracy"
    n_pos = Y.sum(axis=0).astype(np.int64)
    best = np.full(m, -1, dtype=np.int64)
    unit = np.zeros(m, dtype=np.int64)
    # exact integer scores; int32 halves the memory traffic while they fit
    dtype = np.int32 if (n + 1) ** 2 < 2**30 else np.int64
    block = max(1, _BLOCK_ENTRIES // max(n, 1))
    k = np.arange(n + 1, dtype=dtype)[:, None]
    rare = _RARE_FRACTION * (n_pos + 1) < n
    positives = {j: np.flatnonzero(Y[:, j]) for j in np.flatnonzero(rare)}
    for start in range(0, d, block):
        cols = slice(start, min(start + block, d))
        # any order within ties: the valid cuts count a whole run of equal values
        order = np.argsort(X[:, cols], axis=0)
        valid = _valid_cuts(np.take_along_axis(X[:, cols], order, axis=0))
        pos_below = np.zeros((n + 1, order.shape[1]), dtype=dtype)
        nearest = _nearest_valid_cuts(order, valid) if positives else None
        for j in range(m):
            n_p = int(n_pos[j])
            w_pos, w_neg = _weights(n_p, n - n_p, balanced)
            # score(+1) = w_pos * n_p + c and score(-1) = total - score(+1), with
            # c = w_neg * k - (w_pos + w_neg) * pos_below: its max and min over valid cuts
            if j in positives:
                c_max, c_min = _rare_extremes(positives[j], *nearest, w_pos, w_neg)
            else:
                np.cumsum(Y[:, j][order], axis=0, dtype=dtype, out=pos_below[1:])
                c = pos_below * dtype(-(w_pos + w_neg))
                c += w_neg * k
                c_max = c.max(axis=0, where=valid, initial=np.iinfo(dtype).min)
                c_min = c.min(axis=0, where=valid, initial=np.iinfo(dtype).max)
            total = w_pos * n_p + w_neg * (n - n_p)
            per_unit = np.maximum(
                c_max.astype(np.int64) + w_pos * n_p, total - (c_min.astype(np.int64) + w_pos * n_p)
            )
            u = int(np.argmax(per_unit))  # first maximum: lowest feature index
            if per_unit[u] > best[j]:
                best[j], unit[j] = per_unit[u], start + u
    threshold = np.empty(m)
    polarity = np.empty(m, dtype=np.int64)
    score = np.empty(m)
    for j in range(m):
        x = X[:, unit[j]]
        order = np.argsort(x, kind="stable")
        s = x[order]
        pos_below = np.concatenate([[0], np.cumsum(Y[order, j])])
        n_p = int(n_pos[j])
        plus, minus = _cut_scores(pos_below, n_p, n - n_p, balanced)
        valid = _valid_cuts(s)
        sign = 1 if np.where(valid, plus, -1).max() == best[j] else -1
        scores = plus if sign == 1 else minus
        winners = np.flatnonzero(valid & (scores == best[j]))
        cut = int(winners[(len(winners) - 1) // 2])
        margin = max(float(s[-1] - s[0]), 1.0)
        if cut == 0:
            threshold[j] = s[0] - margin
        elif cut == n:
            threshold[j] = s[-1] + margin
        else:
            threshold[j] = (s[cut - 1] + s[cut]) / 2.0
        polarity[j] = sign
        scale = 2 * n_p * (n - n_p) if balanced and 0 < n_p < n else n
        score[j] = best[j] / scale
    return unit, threshold, polarity, score


@register_head("single_neuron")
class SingleNeuronHead(MultilabelHead):
    """Classify with the single best feature dimension and threshold.

    For binary labels, or for each column of a 2-D 0/1 label matrix (a
    multi-label problem such as 40 face attributes, one-vs-rest), ``fit``
    picks the feature dimension, threshold and polarity whose rule
    ``polarity * (x[unit] - threshold) > 0`` scores best on the training
    data, by an exact sweep of every threshold of every dimension (see
    :func:`best_single_units`). DeepID2+ [1]_ used such single-neuron
    classifiers to show that face-identity neurons are selective for
    identities and attributes; DeepFace [2]_ motivates looking at the
    learned representation unit by unit.

    Parameters
    ----------
    criterion : {"accuracy", "balanced_accuracy"}, default="accuracy"
        What the choice maximises on the training data; balanced accuracy
        for rare labels (one identity against the rest).

    Attributes
    ----------
    unit_ : ndarray of shape (n_outputs,), int
        The chosen feature dimension per output column (``n_outputs`` is 1
        for a 1-D ``y``).
    threshold_ : ndarray of shape (n_outputs,), float
    polarity_ : ndarray of shape (n_outputs,), int
        +1: positive above the threshold; -1: positive below it.
    train_accuracy_ : ndarray of shape (n_outputs,), float
        Accuracy of the chosen rule on the training data.
    train_score_ : ndarray of shape (n_outputs,), float
        The ``criterion`` of the chosen rule on the training data.
    classes_ : ndarray of shape (2,), or list of such arrays for 2-D ``y``
    n_outputs_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when ``X`` has string column names.

    References
    ----------
    .. [1] Sun, Wang, Tang. "Deeply learned face representations are sparse,
       selective, and robust." CVPR 2015.
    .. [2] Taigman, Yang, Ranzato, Wolf. "DeepFace: closing the gap to
       human-level performance in face verification." CVPR 2014.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 5.0], [1.0, 3.0], [2.0, 1.0], [3.0, 0.0]])
    >>> head = SingleNeuronHead().fit(X, [1, 1, 0, 0])
    >>> int(head.unit_[0]), float(head.threshold_[0]), int(head.polarity_[0])
    (0, 1.5, -1)
    """

    _parameter_constraints = {"criterion": [Options(("accuracy", "balanced_accuracy"))]}

    def __init__(self, criterion: str = "accuracy") -> None:
        self.criterion = criterion

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # one feature and one threshold: scikit-learn's 2-D blobs are not
        # separable along a single axis to the accuracy its checks expect
        tags.classifier_tags.poor_score = True
        return tags

    def fit(self, X: Any, y: Any) -> SingleNeuronHead:
        """Choose the unit, threshold and polarity per output on the training data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Two classes (the larger, ``classes_[1]``, is positive), or a 0/1
            matrix with one column per binary label.

        Returns
        -------
        self
        """
        X, Y = self._validated(X, y)
        self.unit_, self.threshold_, self.polarity_, self.train_score_ = best_single_units(
            X, Y, criterion=self.criterion
        )
        decision = self._decision(X)
        self.train_accuracy_ = ((decision > 0) == Y.astype(bool)).mean(axis=0)
        return self

    def _decision(self, X: np.ndarray) -> np.ndarray:
        return self.polarity_ * (X[:, self.unit_] - self.threshold_)
