"""Verification metrics from pair scores: accuracy, ROC, AUC, EER and TAR at a FAR.

Scores are similarities (higher means "same identity"); a pair is accepted
as "same" when its score is strictly above the threshold, as in
:meth:`transfer.heads.verification.PairVerifier.predict`, whose
``decision_function`` is already shifted so that the threshold is 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import auc as area_under_curve
from sklearn.metrics import roc_curve

__all__ = ["VerificationMetrics", "equal_error_rate", "tar_at_far", "verification_metrics"]

FAR_TARGETS = (1e-3, 1e-2)


@dataclass(frozen=True)
class VerificationMetrics:
    """Scalar metrics and the ROC curve of one set of scored pairs.

    Attributes
    ----------
    accuracy : float
        Fraction of pairs classified correctly by ``score > threshold``.
    threshold : float
        The threshold used for ``accuracy``.
    auc : float
        Area under the ROC curve (ties between a same and a different pair
        count one half).
    eer : float
        Equal error rate, where the false accept rate equals the false reject
        rate (linearly interpolated between ROC points).
    tar_at_far : dict of float to float
        True accept rate at each false accept rate target (1e-3 and 1e-2), see
        :func:`tar_at_far`.
    fpr, tpr, thresholds : ndarray of shape (n_points,)
        The full ROC curve (every distinct score is a point), from
        :func:`sklearn.metrics.roc_curve`.
    """

    accuracy: float
    threshold: float
    auc: float
    eer: float
    tar_at_far: dict[float, float]
    fpr: np.ndarray = field(repr=False)
    tpr: np.ndarray = field(repr=False)
    thresholds: np.ndarray = field(repr=False)

    def scalars(self) -> dict[str, float]:
        """Flat dict for a results row: ``accuracy``, ``auc``, ``eer``, ``tar@far=...``."""
        out = {"accuracy": self.accuracy, "auc": self.auc, "eer": self.eer}
        for far, tar in self.tar_at_far.items():
            out[f"tar@far={far:g}"] = tar
        return out

    def curves(self) -> dict[str, np.ndarray]:
        """The ROC curve as named arrays (for :class:`~transfer.protocols.base.FoldResult`)."""
        return {"fpr": self.fpr, "tpr": self.tpr, "roc_thresholds": self.thresholds}


def _check(scores: Any, same: Any) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64)
    same_arr = np.asarray(same)
    if scores.ndim != 1:
        raise ValueError(f"scores must be 1-D (one score per pair); got shape {scores.shape}")
    if same_arr.shape != scores.shape:
        raise ValueError(
            f"same must have one label per score: scores has shape {scores.shape}, "
            f"same has shape {same_arr.shape}"
        )
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores contains NaN or infinity")
    if same_arr.dtype != bool:
        if not np.all(np.isin(same_arr, (0, 1))):
            raise ValueError("same must be boolean (or 0/1): True for same-identity pairs")
        same_arr = same_arr.astype(bool)
    if same_arr.all() or not same_arr.any():
        raise ValueError("same must contain both same (True) and different (False) pairs")
    return scores, same_arr


def equal_error_rate(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Equal error rate of an ROC curve: where ``fpr == 1 - tpr``.

    ``fpr - (1 - tpr)`` increases along the curve; the EER is found between
    the last point where it is negative and the next one, by linear
    interpolation of both rates.

    Parameters
    ----------
    fpr, tpr : ndarray of shape (n_points,)
        An ROC curve with increasing ``fpr`` starting at (0, 0), as returned
        by :func:`sklearn.metrics.roc_curve`.

    Returns
    -------
    eer : float
    """
    diff = fpr - (1.0 - tpr)
    k = int(np.searchsorted(diff, 0.0, side="left"))  # first point with diff >= 0
    if k == 0:
        return float(fpr[0])
    d0, d1 = diff[k - 1], diff[k]
    t = -d0 / (d1 - d0)
    return float(fpr[k - 1] + t * (fpr[k] - fpr[k - 1]))


def tar_at_far(fpr: np.ndarray, tpr: np.ndarray, far: float) -> float:
    """True accept rate at a false accept rate target (FaceNet's VAL@FAR).

    The largest TPR among the ROC's operating points (thresholds) whose FPR
    does not exceed ``far``; no interpolation, so the value is reached by an
    actual threshold. With fewer than ``1 / far`` different pairs only
    thresholds with no false accept qualify.

    Parameters
    ----------
    fpr, tpr : ndarray of shape (n_points,)
        ROC curve (every distinct score a point: ``drop_intermediate=False``).
    far : float
        Target false accept rate.

    Returns
    -------
    tar : float

    References
    ----------
    .. [1] Schroff, Kalenichenko, Philbin. "FaceNet: a unified embedding for
       face recognition and clustering." CVPR 2015 (VAL and FAR, Sec. 4).
    """
    ok = fpr <= far
    return float(tpr[ok].max()) if ok.any() else 0.0


def verification_metrics(scores: Any, same: Any, threshold: float = 0.0) -> VerificationMetrics:
    """Accuracy, ROC, AUC, EER and TAR at FAR 1e-3 and 1e-2 of scored pairs.

    Parameters
    ----------
    scores : array-like of shape (n_pairs,)
        Similarity of each pair, higher meaning "same".
    same : array-like of shape (n_pairs,)
        True (or 1) for same-identity pairs; both kinds must be present.
    threshold : float, default=0.0
        Accept threshold for ``accuracy`` (``score > threshold``). The default
        suits a verifier's ``decision_function``; pass the threshold fitted
        on *training* pairs for raw scores, never one tuned on these pairs.

    Returns
    -------
    VerificationMetrics

    References
    ----------
    .. [1] Schroff, Kalenichenko, Philbin. "FaceNet: a unified embedding for
       face recognition and clustering." CVPR 2015.
    .. [2] Huang, Ramesh, Berg, Learned-Miller. "Labeled Faces in the Wild: a
       database for studying face recognition in unconstrained
       environments." UMass TR 07-49, 2007.
    """
    scores, same = _check(scores, same)
    fpr, tpr, thr = roc_curve(same, scores, drop_intermediate=False)
    accuracy = float(np.mean((scores > threshold) == same))
    return VerificationMetrics(
        accuracy=accuracy,
        threshold=float(threshold),
        auc=float(area_under_curve(fpr, tpr)),
        eer=equal_error_rate(fpr, tpr),
        tar_at_far={far: tar_at_far(fpr, tpr, far) for far in FAR_TARGETS},
        fpr=fpr,
        tpr=tpr,
        thresholds=thr,
    )
