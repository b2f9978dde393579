"""Summary tables computed from a results folder's CSV files.

All functions are pure: they take pandas frames (as read from ``results.csv``,
``predictions.csv`` and ``cmc.csv``) and return new frames or arrays.

Conventions
-----------
* Pairs (extractor x head) keep the order in which they first appear in
  ``results.csv`` unless a function says it sorts.
* Standard deviations are *sample* standard deviations over folds
  (``ddof=1``). With a single fold the spread is undefined and is reported as
  ``NaN`` (shown as a bare mean, without ``±``, in formatted tables), never as
  a misleading ``0``.
* All metrics are assumed to be "higher is better" (accuracy, rank-k
  identification rate) unless ``higher_is_better=False`` is passed; the
  renderers ask :func:`higher_is_better` (the equal error rate ``eer`` is
  the one lower-is-better metric the protocols write).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

__all__ = [
    "FPR_GRID",
    "KINDS",
    "KIND_CMAPS",
    "KIND_COLORS",
    "PAIR",
    "best_cell",
    "best_heads",
    "best_pair",
    "binary_code_table",
    "cmc_mean",
    "confusion_matrix",
    "display_extraction",
    "display_summary",
    "failed_cells",
    "failed_mask",
    "fit_time_pivot",
    "format_duration",
    "format_mean_std",
    "format_seconds",
    "format_value",
    "group_by_kind",
    "higher_is_better",
    "interpolate_roc",
    "most_confused_classes",
    "pivot",
    "roc_mean",
    "summarize",
    "worst_items",
    "worst_pairs",
]

#: The columns that name one extractor x head pair.
PAIR = ["extractor", "head"]

_TIMING = ["fit_seconds", "predict_seconds"]

#: Metrics where a smaller value is better (the renderers highlight the minimum).
LOWER_IS_BETTER = frozenset({"eer"})

#: The common false-positive-rate grid of :func:`roc_mean`: 61 log-spaced
#: points from 1e-3 to 1 (20 per decade; the decades 1e-3, 1e-2, 0.1 and 1 are
#: exact grid points).
FPR_GRID = np.logspace(-3.0, 0.0, 61)
FPR_GRID[::20] = [1e-3, 1e-2, 1e-1, 1.0]


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better.

    Parameters
    ----------
    metric : str
        A metric name from ``results.csv``.

    Returns
    -------
    bool
        False for the error rates in :data:`LOWER_IS_BETTER` (``eer``) and
        for names ending in ``error`` or ``loss``; True otherwise.
    """
    name = str(metric).lower()
    return not (name in LOWER_IS_BETTER or name.endswith(("error", "loss")))


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} is missing the column(s) {missing}; it has {list(frame.columns)}")


#: Values of the ``status`` column of results.csv.
STATUSES = ("ok", "failed")


def failed_mask(results: pd.DataFrame) -> pd.Series:
    """Which rows of results.csv are failed cells.

    Parameters
    ----------
    results : DataFrame
        ``results.csv``; a frame without a ``status`` column (written before
        the runner recorded failures) is all ok.

    Returns
    -------
    Series of bool
        True where ``status`` is ``"failed"``; an empty status counts as ok.
    """
    if "status" not in results.columns:
        return pd.Series(False, index=results.index)
    return results["status"].fillna("ok").astype(str).str.strip().str.lower().eq("failed")


def failed_cells(results: pd.DataFrame) -> pd.DataFrame:
    """The failed cells of a run, for the warning box at the top of the report.

    Parameters
    ----------
    results : DataFrame
        ``results.csv``.

    Returns
    -------
    DataFrame
        Columns ``extractor``, ``head``, ``fold``, ``error`` (``""`` when
        none was recorded), one row per failed cell in file order; no rows
        when every cell ran.
    """
    _require_columns(results, [*PAIR, "fold"], "results")
    rows = results.loc[failed_mask(results)]
    error = rows["error"] if "error" in rows.columns else pd.Series("", index=rows.index)
    return pd.DataFrame(
        {
            "extractor": rows["extractor"].astype(str).tolist(),
            "head": rows["head"].astype(str).tolist(),
            "fold": rows["fold"].tolist(),
            "error": ["" if pd.isna(e) else str(e) for e in error],
        }
    )


def summarize(
    results: pd.DataFrame,
    metrics: Sequence[str],
    primary: str | None = None,
    higher_is_better: bool = True,
) -> pd.DataFrame:
    """Aggregate per-fold results into one row per extractor x head.

    Parameters
    ----------
    results : DataFrame
        One row per extractor x head x fold, with the columns ``extractor``,
        ``head``, ``fold``, one column per metric and, optionally,
        ``fit_seconds``, ``predict_seconds`` and ``status``.
    metrics : sequence of str
        The metric columns to aggregate.
    primary : str, optional
        The metric to sort by; defaults to ``metrics[0]``.
    higher_is_better : bool, default True
        Sort direction for ``primary``.

    Returns
    -------
    DataFrame
        Columns ``extractor``, ``head``, ``n_folds`` (folds that ran),
        ``n_failed`` (failed folds, see :func:`failed_mask`: their rows are
        left out of every mean), then ``<metric>_mean``
        and ``<metric>_std`` for each metric, then ``fit_seconds_mean`` and
        ``predict_seconds_mean`` (NaN when the timing columns are absent).
        ``<metric>_std`` is the sample standard deviation over folds
        (``ddof=1``) and is NaN when a pair has a single fold. Rows are sorted
        by ``<primary>_mean`` (best first, NaN last); ties keep the order in
        which the pairs first appear in ``results``. The index is a fresh
        ``RangeIndex``.

    Raises
    ------
    ValueError
        If a column is missing, ``metrics`` is empty, or a pair has the same
        fold twice.
    """
    metrics = list(metrics)
    if not metrics:
        raise ValueError("summarize needs at least one metric column")
    primary = metrics[0] if primary is None else primary
    if primary not in metrics:
        raise ValueError(f"primary metric {primary!r} is not one of the metrics {metrics}")
    _require_columns(results, [*PAIR, "fold", *metrics], "results")

    dup = results.duplicated([*PAIR, "fold"], keep=False)
    if dup.any():
        rows = results.loc[dup, [*PAIR, "fold"]].drop_duplicates().to_dict("records")
        raise ValueError(f"results has the same extractor/head/fold more than once: {rows[:5]}")

    frame = results.copy()
    failed = failed_mask(frame)
    for col in metrics:
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    for col in _TIMING:
        if col in frame.columns:
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
        else:
            frame[col] = np.nan
    # A failed cell's numbers (a partial timing, say) must not leak into the means.
    frame.loc[failed, [*metrics, *_TIMING]] = np.nan
    frame["_ok_fold"] = frame["fold"].where(~failed)
    frame["_failed"] = failed.astype(int)

    grouped = frame.groupby(PAIR, sort=False, dropna=False)
    out = grouped.size().rename("n_folds").reset_index()
    out["n_folds"] = grouped["_ok_fold"].nunique().to_numpy().astype(int)
    out["n_failed"] = grouped["_failed"].sum().to_numpy().astype(int)
    for col in metrics:
        out[f"{col}_mean"] = grouped[col].mean().to_numpy()
        out[f"{col}_std"] = grouped[col].std(ddof=1).to_numpy()
    for col in _TIMING:
        out[f"{col}_mean"] = grouped[col].mean().to_numpy()

    key = out[f"{primary}_mean"]
    order = np.argsort((-key if higher_is_better else key).fillna(np.inf).to_numpy(), kind="stable")
    return out.iloc[order].reset_index(drop=True)


#: The extractor kinds (the ``kind`` tag, see :mod:`transfer._tags`), in page order.
KINDS = ("learned", "handcrafted")
#: One hue family per kind, the same in every table (row marker) and plot:
#: the base colour of the tables, and the matplotlib colormap whose shades
#: tell the cells of one kind apart in the plots.
KIND_COLORS = {"learned": "#2166ac", "handcrafted": "#d6600b"}
KIND_CMAPS = {"learned": "Blues", "handcrafted": "Oranges"}


def group_by_kind(labels: Sequence[str], kinds: Mapping[str, str | None]) -> list[str]:
    """Order extractor labels by kind: learned, then handcrafted, then untagged.

    Parameters
    ----------
    labels : sequence of str
        Extractor labels, in the order to keep within a kind (best first).
    kinds : mapping of str to str or None
        Label -> ``"learned"``, ``"handcrafted"`` or None.

    Returns
    -------
    list of str
        The labels, stable within each kind.
    """
    rank = {k: i for i, k in enumerate(KINDS)}
    return sorted(labels, key=lambda label: rank.get(kinds.get(label) or "", len(KINDS)))


def format_value(value: float | None, decimals: int = 3) -> str:
    """Format one number, rounding half up on its decimal value: the report's one formatter.

    A mean of fold scores and a pooled rate can be the same decimal number
    with different binary errors (0.9945 as 0.99449999... and as
    0.99450000...01); Python's ``f"{x:.3f}"`` then prints 0.994 and 0.995.
    Rounding the value to 10 decimals first removes the binary error, so
    the same number always prints the same.

    Parameters
    ----------
    value : float or None
        The number; None or NaN gives ``""``.
    decimals : int, default 3
        Digits after the decimal point.

    Returns
    -------
    str
        For example ``"0.995"`` for both 0.99449999999999983 and 0.99450000000000005.
    """
    if value is None or pd.isna(value):
        return ""
    x = float(value)
    if not np.isfinite(x):
        return str(x)
    quantum = Decimal(1).scaleb(-decimals)
    d = Decimal(repr(round(x, 10))).quantize(quantum, rounding=ROUND_HALF_UP)
    if d == 0:
        d = abs(d)  # no "-0.000"
    return f"{d:f}"


def format_mean_std(mean: float, std: float, decimals: int = 3) -> str:
    """Format ``mean ± std``; a NaN std gives the bare mean, a NaN mean ``""``.

    Parameters
    ----------
    mean, std : float
        The values to format.
    decimals : int, default 3
        Digits after the decimal point.

    Returns
    -------
    str
        For example ``"0.953 ± 0.012"``.
    """
    if mean is None or pd.isna(mean):
        return ""
    text = format_value(mean, decimals)
    if std is not None and not pd.isna(std):
        text += f" ± {format_value(std, decimals)}"
    return text


def _ordered_unique(values: pd.Series) -> list:
    return list(dict.fromkeys(values.tolist()))


def pivot(
    summary: pd.DataFrame, metric: str, decimals: int = 3, formatted: bool = True
) -> pd.DataFrame:
    """Lay a summary out as extractor rows x head columns.

    Parameters
    ----------
    summary : DataFrame
        The output of :func:`summarize`.
    metric : str
        The metric to show (``<metric>_mean`` and ``<metric>_std`` are used).
    decimals : int, default 3
        Digits after the decimal point when ``formatted``.
    formatted : bool, default True
        If true, cells are strings ``"0.953 ± 0.012"`` (``""`` for a pair that
        was not run); if false, cells are the float means (NaN when absent).

    Returns
    -------
    DataFrame
        Index ``extractor`` and columns ``head``, both in the order in which
        they first appear in ``summary`` (so, for a sorted summary, the
        extractor and the head of the best pair come first).
    """
    _require_columns(summary, [*PAIR, f"{metric}_mean"], "summary")
    rows = _ordered_unique(summary["extractor"])
    cols = _ordered_unique(summary["head"])
    std_col = f"{metric}_std"
    std = summary[std_col] if std_col in summary.columns else pd.Series(np.nan, summary.index)
    if formatted:
        cells = [
            format_mean_std(m, s, decimals)
            for m, s in zip(summary[f"{metric}_mean"], std, strict=True)
        ]
        fill: object = ""
    else:
        cells = summary[f"{metric}_mean"].astype(float).tolist()
        fill = np.nan
    table = pd.DataFrame(fill, index=pd.Index(rows, name="extractor"), columns=cols, dtype=object)
    for ext, head, cell in zip(summary["extractor"], summary["head"], cells, strict=True):
        table.loc[ext, head] = cell
    table.columns.name = "head"
    if not formatted:
        table = table.astype(float)
    return table


def best_cell(values: pd.DataFrame, metric: str) -> tuple[object, object] | None:
    """The (row, column) label of the best value of a pivot of float means.

    Parameters
    ----------
    values : DataFrame
        Float cells, e.g. ``pivot(summary, metric, formatted=False)``.
    metric : str
        The metric the cells hold (:func:`higher_is_better` gives the
        direction).

    Returns
    -------
    tuple or None
        ``(row label, column label)`` of the highest (or lowest) value; ties
        go to the first in row-major order. None when every cell is NaN.
    """
    arr = values.to_numpy(dtype=float)
    if arr.size == 0 or np.isnan(arr).all():
        return None
    pick = np.nanargmax if higher_is_better(metric) else np.nanargmin
    i, j = np.unravel_index(pick(arr), arr.shape)
    return values.index[i], values.columns[j]


def best_pair(summary: pd.DataFrame, metric: str, higher_is_better: bool = True) -> tuple[str, str]:
    """The extractor x head pair with the best mean ``metric``.

    Parameters
    ----------
    summary : DataFrame
        The output of :func:`summarize`.
    metric : str
        The metric to rank by.
    higher_is_better : bool, default True
        Whether larger values are better.

    Returns
    -------
    tuple of (str, str)
        ``(extractor, head)``; ties go to the pair listed first in ``summary``.

    Raises
    ------
    ValueError
        If ``summary`` is empty or every mean is NaN.
    """
    _require_columns(summary, [*PAIR, f"{metric}_mean"], "summary")
    values = summary[f"{metric}_mean"].astype(float).to_numpy()
    if values.size == 0 or np.isnan(values).all():
        raise ValueError(f"no pair has a value for {metric!r}")
    filled = np.where(np.isnan(values), -np.inf if higher_is_better else np.inf, values)
    i = int(np.argmax(filled) if higher_is_better else np.argmin(filled))
    return str(summary["extractor"].iloc[i]), str(summary["head"].iloc[i])


def confusion_matrix(
    predictions: pd.DataFrame, extractor: str, head: str, n_classes: int
) -> np.ndarray:
    """Count (true, predicted) class pairs for one extractor x head, over all folds.

    Parameters
    ----------
    predictions : DataFrame
        Columns ``extractor``, ``head``, ``y_true`` and ``y_pred`` (integer
        class indices); usually also ``fold`` and ``index``.
    extractor, head : str
        The pair to count.
    n_classes : int
        Size of the square matrix.

    Returns
    -------
    ndarray of shape (n_classes, n_classes), dtype int64
        ``cm[i, j]`` is the number of test images of class ``i`` predicted as
        class ``j``, summed over folds. ``cm.sum()`` equals the number of
        prediction rows of the pair.

    Raises
    ------
    ValueError
        If the pair has no predictions or a class index is outside
        ``[0, n_classes)``.
    """
    _require_columns(predictions, [*PAIR, "y_true", "y_pred"], "predictions")
    mask = (predictions["extractor"] == extractor) & (predictions["head"] == head)
    sub = predictions.loc[mask]
    if sub.empty:
        raise ValueError(f"no predictions for extractor {extractor!r} with head {head!r}")
    y_true = sub["y_true"].to_numpy(dtype=np.int64)
    y_pred = sub["y_pred"].to_numpy(dtype=np.int64)
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.min() < 0 or y.max() >= n_classes:
            raise ValueError(
                f"{name} has class indices in [{y.min()}, {y.max()}], "
                f"outside [0, {n_classes}) for {extractor!r} + {head!r}"
            )
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def most_confused_classes(cm: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` classes with the most errors, most first.

    Parameters
    ----------
    cm : ndarray of shape (n, n)
        A confusion matrix (rows true, columns predicted).
    k : int
        How many classes to keep.

    Returns
    -------
    ndarray of int
        Class indices, sorted by errors (off-diagonal count of the row plus
        that of the column: images of the class misread, and images wrongly
        read as the class), most first; ties keep the class order.
    """
    off = np.asarray(cm, dtype=np.int64).copy()
    np.fill_diagonal(off, 0)
    errors = off.sum(axis=0) + off.sum(axis=1)
    return np.argsort(-errors, kind="stable")[: max(0, int(k))]


def worst_items(predictions: pd.DataFrame, extractor: str, head: str, k: int = 12) -> pd.DataFrame:
    """The test images a cell misclassified, hardest first.

    Parameters
    ----------
    predictions : DataFrame
        ``predictions.csv``: ``extractor``, ``head``, ``fold``, ``y_true``,
        ``y_pred`` and, when written, ``path``, ``true_name``, ``pred_name``.
    extractor, head : str
        The cell.
    k : int, default 12
        Most rows.

    Returns
    -------
    DataFrame
        Columns ``image`` (the file, else the item index), ``true``,
        ``predicted``, ``wrong in folds`` (the cell's folds that
        misclassified it) and ``wrong in cells`` (how many of all the run's
        cells misclassified it, over all folds): sorted by the latter two,
        descending, then file name.
    """
    _require_columns(predictions, [*PAIR, "y_true", "y_pred"], "predictions")
    key = "path" if "path" in predictions.columns else "index"
    if key not in predictions.columns:
        return pd.DataFrame(columns=["image", "true", "predicted", "wrong in folds"])
    frame = predictions.assign(_wrong=predictions["y_true"] != predictions["y_pred"])
    per_image = frame.groupby(key, sort=False)["_wrong"].sum()
    mask = (frame["extractor"] == extractor) & (frame["head"] == head) & frame["_wrong"]
    mine = frame.loc[mask]
    if mine.empty:
        return pd.DataFrame(columns=["image", "true", "predicted", "wrong in folds"])
    true_col = "true_name" if "true_name" in mine.columns else "y_true"
    pred_col = "pred_name" if "pred_name" in mine.columns else "y_pred"
    grouped = mine.groupby(key, sort=False)
    out = pd.DataFrame(
        {
            "image": [str(i) for i in grouped.size().index],
            "true": grouped[true_col].first().astype(str).to_numpy(),
            "predicted": grouped[pred_col]
            .agg(lambda v: ", ".join(dict.fromkeys(v.astype(str))))
            .to_numpy(),
            "wrong in folds": grouped.size().to_numpy().astype(int),
            "wrong in cells": per_image.reindex(grouped.size().index).to_numpy().astype(int),
        }
    )
    out = out.sort_values(
        ["wrong in folds", "wrong in cells", "image"], ascending=[False, False, True], kind="stable"
    )
    return out.head(k).reset_index(drop=True)


def worst_pairs(scores: pd.DataFrame, extractor: str, head: str, k: int = 6) -> pd.DataFrame:
    """The test pairs a verifier got most wrong: furthest on the wrong side of its threshold.

    Parameters
    ----------
    scores : DataFrame
        ``scores.csv``: ``extractor``, ``head``, ``fold``, ``left``,
        ``right``, ``same`` (0/1), ``score``, ``threshold``.
    extractor, head : str
        The cell.
    k : int, default 6
        Most rows of each kind of error.

    Returns
    -------
    DataFrame
        Columns ``error`` (``"false reject"``: a same pair scored below the
        threshold; ``"false accept"``), ``left``, ``right``, ``score``,
        ``threshold``, ``margin`` (how far past the threshold, in score
        units), ``fold``: up to ``k`` of each, worst first.
    """
    _require_columns(scores, [*PAIR, "left", "right", "same", "score", "threshold"], "scores")
    sub = scores[(scores["extractor"] == extractor) & (scores["head"] == head)].copy()
    sub["score"] = pd.to_numeric(sub["score"], errors="coerce")
    sub["threshold"] = pd.to_numeric(sub["threshold"], errors="coerce")
    same = pd.to_numeric(sub["same"], errors="coerce") == 1
    # a pair is "same" when score >= threshold (higher = same)
    sub["margin"] = np.where(same, sub["threshold"] - sub["score"], sub["score"] - sub["threshold"])
    sub["error"] = np.where(same, "false reject", "false accept")
    if "predicted_same" in sub.columns:  # the protocol's own decision, ties included
        decided = pd.to_numeric(sub["predicted_same"], errors="coerce") == 1
        wrong = sub[decided != same]
    else:
        wrong = sub[sub["margin"] > 0]
    parts = [
        wrong[wrong["error"] == e].sort_values("margin", ascending=False, kind="stable").head(k)
        for e in ("false reject", "false accept")
    ]
    columns = ["error", "left", "right", "score", "threshold", "margin"]
    if "fold" in sub.columns:
        columns.append("fold")
    return pd.concat(parts)[columns].reset_index(drop=True)


def cmc_mean(cmc: pd.DataFrame) -> pd.DataFrame:
    """Average cumulative match characteristic curves over folds.

    Parameters
    ----------
    cmc : DataFrame
        Columns ``extractor``, ``head``, ``fold``, ``rank`` and ``rate``.

    Returns
    -------
    DataFrame
        Columns ``extractor``, ``head``, ``rank``, ``rate`` (mean over the
        folds that reach that rank), ``rate_std`` (sample std, NaN for one
        fold) and ``n_folds``. Pairs keep their first-appearance order; ranks
        ascend within a pair.
    """
    _require_columns(cmc, [*PAIR, "fold", "rank", "rate"], "cmc")
    frame = cmc.copy()
    frame["rank"] = pd.to_numeric(frame["rank"]).astype(int)
    frame["rate"] = pd.to_numeric(frame["rate"], errors="coerce").astype(float)
    pairs = frame[PAIR].drop_duplicates().reset_index(drop=True)
    pairs["_order"] = np.arange(len(pairs))
    grouped = frame.groupby([*PAIR, "rank"], sort=False, dropna=False)["rate"]
    out = grouped.agg(rate="mean", rate_std=lambda s: s.std(ddof=1), n_folds="count")
    out = out.reset_index().merge(pairs, on=PAIR, how="left")
    out = out.sort_values(["_order", "rank"], kind="stable").drop(columns="_order")
    out["n_folds"] = out["n_folds"].astype(int)
    return out.reset_index(drop=True)[[*PAIR, "rank", "rate", "rate_std", "n_folds"]]


def interpolate_roc(fpr: ArrayLike, tpr: ArrayLike, grid: ArrayLike) -> np.ndarray:
    """The true-positive rate of one ROC curve at given false-positive rates.

    The curve is the piecewise-linear path through its points in order of
    increasing FPR (as :func:`sklearn.metrics.roc_curve` writes them). Where
    a grid value equals the FPR of several points (a vertical step), the
    highest TPR is taken: the best rate reachable without exceeding that FPR.
    Between points, TPR is interpolated linearly; outside the curve it is
    held at the first or last point.

    Parameters
    ----------
    fpr, tpr : array-like of shape (n_points,)
        The curve. Points are sorted by ``(fpr, tpr)`` first, so their order
        does not matter.
    grid : array-like of shape (n_grid,)
        The false-positive rates to read the curve at.

    Returns
    -------
    ndarray of shape (n_grid,)
        The TPR at each grid value.

    Raises
    ------
    ValueError
        If the curve is empty or ``fpr`` and ``tpr`` differ in length.
    """
    x = np.asarray(fpr, dtype=float).ravel()
    y = np.asarray(tpr, dtype=float).ravel()
    g = np.asarray(grid, dtype=float).ravel()
    if x.size == 0 or x.size != y.size:
        raise ValueError(f"a ROC curve needs fpr and tpr of the same non-zero length, got {x.size}")
    order = np.lexsort((y, x))
    x, y = x[order], y[order]
    # j: the last point with fpr <= g (the top of a vertical step at g)
    j = np.searchsorted(x, g, side="right") - 1
    out = np.empty_like(g)
    below = j < 0
    out[below] = y[0]
    above = j >= x.size - 1
    out[above & ~below] = y[-1]
    mid = ~below & ~above
    jm = j[mid]
    x0, x1, y0, y1 = x[jm], x[jm + 1], y[jm], y[jm + 1]
    exact = x0 == g[mid]
    with np.errstate(invalid="ignore", divide="ignore"):
        lin = y0 + (y1 - y0) * (g[mid] - x0) / (x1 - x0)
    out[mid] = np.where(exact, y0, lin)
    return out


def roc_mean(roc: pd.DataFrame, fpr_grid: ArrayLike | None = None) -> pd.DataFrame:
    """Average ROC curves over folds by vertical averaging on a common FPR grid.

    Each fold's curve is read at every grid FPR with :func:`interpolate_roc`
    and the TPRs are averaged over folds (Fawcett, "An introduction to ROC
    analysis", Pattern Recognition Letters 27, 2006, section 8).

    Parameters
    ----------
    roc : DataFrame
        ``roc.csv``: columns ``extractor``, ``head``, ``fold``, ``fpr``,
        ``tpr`` (every point of each fold's test-pair ROC curve).
    fpr_grid : array-like, optional
        The FPR values; default :data:`FPR_GRID` (log-spaced, 1e-3 to 1).

    Returns
    -------
    DataFrame
        Columns ``extractor``, ``head``, ``fpr``, ``tpr`` (mean over folds),
        ``tpr_std`` (sample std over folds, NaN for one fold) and
        ``n_folds``; one row per pair and grid value. Pairs keep their
        first-appearance order; FPR ascends within a pair.
    """
    _require_columns(roc, [*PAIR, "fold", "fpr", "tpr"], "roc")
    grid = FPR_GRID if fpr_grid is None else np.sort(np.asarray(fpr_grid, dtype=float).ravel())
    frame = roc.copy()
    frame["fpr"] = pd.to_numeric(frame["fpr"], errors="coerce").astype(float)
    frame["tpr"] = pd.to_numeric(frame["tpr"], errors="coerce").astype(float)
    frame = frame.dropna(subset=["fpr", "tpr"])
    parts = []
    for (ext, head), sub in frame.groupby(PAIR, sort=False, dropna=False):
        curves = np.stack(
            [
                interpolate_roc(f["fpr"], f["tpr"], grid)
                for _, f in sub.groupby("fold", sort=True, dropna=False)
            ]
        )
        n = curves.shape[0]
        parts.append(
            pd.DataFrame(
                {
                    "extractor": ext,
                    "head": head,
                    "fpr": grid,
                    "tpr": curves.mean(axis=0),
                    "tpr_std": curves.std(axis=0, ddof=1) if n > 1 else np.nan,
                    "n_folds": n,
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=[*PAIR, "fpr", "tpr", "tpr_std", "n_folds"])
    return pd.concat(parts, ignore_index=True)


def best_heads(summary: pd.DataFrame, metric: str) -> dict[str, str]:
    """The best head of each extractor by mean ``metric``.

    Parameters
    ----------
    summary : DataFrame
        The output of :func:`summarize`.
    metric : str
        The metric to rank by (:func:`higher_is_better` gives the direction).

    Returns
    -------
    dict of str to str
        Extractor -> head, extractors in first-appearance order; ties go to
        the head listed first in ``summary``. Extractors whose every mean is
        NaN are left out.
    """
    _require_columns(summary, [*PAIR, f"{metric}_mean"], "summary")
    sign = 1.0 if higher_is_better(metric) else -1.0
    out: dict[str, tuple[str, float]] = {}
    for ext, head, value in zip(
        summary["extractor"], summary["head"], summary[f"{metric}_mean"].astype(float), strict=True
    ):
        if np.isnan(value):
            continue
        if str(ext) not in out or sign * value > sign * out[str(ext)][1]:
            out[str(ext)] = (str(head), float(value))
    return {ext: head for ext, (head, _) in out.items()}


def binary_code_table(
    summary: pd.DataFrame,
    heads: dict[str, dict] | None,
    metric: str = "accuracy",
    decimals: int = 3,
    formatted: bool = True,
) -> pd.DataFrame:
    """Real-valued vs binary codes, laid out like the DeepID2+ binary-code comparison.

    Sun, Wang and Tang compare the verification accuracy of their features
    with a Joint Bayesian model on the real-valued features, a Joint Bayesian
    model on the binarised features and the Hamming distance between the
    binary codes (Y. Sun, X. Wang, X. Tang, "Deeply learned face
    representations are sparse, selective, and robust", CVPR 2015). This
    table does the same for every extractor of a run.

    Heads are placed by their tags (see :mod:`transfer._tags`), never by their
    names or labels: a head whose ``binary_code_column`` tag is set fills that
    column, and the table exists only when some head's ``binary_codes`` tag
    is true (without a binary head the comparison is meaningless).

    Parameters
    ----------
    summary : DataFrame
        The output of :func:`summarize`; its ``head`` column holds the head
        labels.
    heads : dict of str to dict, or None
        ``meta.json``'s ``heads``: label -> ``{"name", "params", "tags"}``.
        Heads without ``tags`` are ignored.
    metric : str, default "accuracy"
        The metric to show.
    decimals : int, default 3
        Digits after the decimal point when ``formatted``.
    formatted : bool, default True
        Cells as ``"mean ± std"`` strings (``""`` when not run) or float
        means (NaN).

    Returns
    -------
    DataFrame
        Index ``extractor`` (first-appearance order in ``summary``), one
        column per ``binary_code_column`` among the heads in the summary:
        real-valued heads first, then binary ones, each in the order of
        ``heads``. When several heads share a column (say two binarisation
        thresholds), each gets its own column, named ``"<column> [<label>]"``.
        Empty (no rows, no columns) when no head in the summary has
        ``binary_codes`` true.
    """
    _require_columns(summary, [*PAIR, f"{metric}_mean"], "summary")
    present = set(summary["head"].astype(str))
    by_column: dict[str, list[str]] = {}
    any_binary = False
    entries = [
        (str(label), (entry or {}).get("tags") or {})
        for label, entry in (heads or {}).items()
        if isinstance(entry, dict)
    ]
    # Stable sort: real-valued columns first, as in the paper's table.
    entries.sort(key=lambda item: bool(item[1].get("binary_codes")))
    for label, tags in entries:
        column = tags.get("binary_code_column")
        if not column or label not in present:
            continue
        any_binary = any_binary or bool(tags.get("binary_codes"))
        by_column.setdefault(str(column), []).append(label)
    if not any_binary:
        return pd.DataFrame(index=pd.Index([], name="extractor"))
    columns: list[tuple[str, str]] = []
    for column, labels in by_column.items():
        columns += [(column if len(labels) == 1 else f"{column} [{lab}]", lab) for lab in labels]
    values = pivot(summary, metric, decimals=decimals, formatted=formatted)
    table = pd.DataFrame(
        {name: values[label] for name, label in columns}, index=values.index.copy()
    )
    table.columns.name = None
    return table


# ---------------------------------------------------------------------------
# Display helpers shared by the HTML and Markdown renderers: each returns a
# frame of strings, ready to be laid out as a table.
# ---------------------------------------------------------------------------


def format_seconds(seconds: float) -> str:
    """Format seconds: 3 decimals below 1 s, 2 below 100 s, then whole seconds.

    Parameters
    ----------
    seconds : float
        The duration; NaN gives ``""``.

    Returns
    -------
    str
        For example ``"1.2e-04"``, ``"0.012"``, ``"1.23"``, ``"123"``.
    """
    if seconds is None or pd.isna(seconds):
        return ""
    s = float(seconds)
    if s == 0:
        return "0"
    if abs(s) >= 100:
        return f"{s:,.0f}"
    if abs(s) >= 1:
        return f"{s:.2f}"
    if abs(s) >= 0.001:
        return f"{s:.3f}"
    return f"{s:.1e}"


def format_duration(seconds: float | None) -> str:
    """Format a wall-clock duration as ``"1 h 02 min 03 s"``, ``"4 min 05 s"`` or ``"6.7 s"``.

    Parameters
    ----------
    seconds : float or None
        The duration; None or NaN gives ``""``.

    Returns
    -------
    str
    """
    if seconds is None or pd.isna(seconds):
        return ""
    s = float(seconds)
    if s < 60:
        return f"{s:.1f} s"
    total = round(s)
    h, rest = divmod(total, 3600)
    m, sec = divmod(rest, 60)
    return f"{h} h {m:02d} min {sec:02d} s" if h else f"{m} min {sec:02d} s"


def display_summary(
    summary: pd.DataFrame, metrics: Sequence[str], decimals: int = 3
) -> pd.DataFrame:
    """The full summary as strings: rank, pair, each metric as mean ± std, folds, times.

    Parameters
    ----------
    summary : DataFrame
        The output of :func:`summarize`.
    metrics : sequence of str
        The metrics to show, in order.
    decimals : int, default 3
        Digits after the decimal point for metrics.

    Returns
    -------
    DataFrame
        String cells; columns ``#``, ``extractor``, ``head``, one per metric,
        ``folds`` (with the number of failed folds, if any), ``fit s
        (mean)``, ``predict s (mean)``.
    """
    out = pd.DataFrame(
        {
            "#": [str(i) for i in range(1, len(summary) + 1)],
            "extractor": summary["extractor"].astype(str).tolist(),
            "head": summary["head"].astype(str).tolist(),
        }
    )
    for m in metrics:
        std = summary.get(f"{m}_std", pd.Series(np.nan, summary.index))
        out[m] = [
            format_mean_std(a, b, decimals) for a, b in zip(summary[f"{m}_mean"], std, strict=True)
        ]
    failed = summary["n_failed"] if "n_failed" in summary.columns else pd.Series(0, summary.index)
    out["folds"] = [
        f"{int(n)} ({int(f)} failed)" if f else str(int(n))
        for n, f in zip(summary["n_folds"], failed.fillna(0), strict=True)
    ]
    out["fit s (mean)"] = [format_seconds(v) for v in summary["fit_seconds_mean"]]
    out["predict s (mean)"] = [format_seconds(v) for v in summary["predict_seconds_mean"]]
    return out


def display_extraction(extraction: pd.DataFrame) -> pd.DataFrame:
    """The extraction timings as strings, one row per extractor.

    Parameters
    ----------
    extraction : DataFrame
        ``extraction.csv``: ``extractor, n_images, n_features, seconds,
        images_per_second, cached``.

    Returns
    -------
    DataFrame
        String cells; columns ``extractor``, ``images``, ``features``,
        ``seconds``, ``images/s``, ``source`` (``cache`` or ``computed``).
    """

    def _int(v: object) -> str:
        return "" if pd.isna(v) else f"{int(v):,}"

    def _cached(v: object) -> str:
        if pd.isna(v):
            return ""
        if isinstance(v, str):
            v = v.strip().lower() in ("true", "1", "yes")
        return "cache (load time)" if bool(v) else "computed"

    get = extraction.get
    n = len(extraction)
    missing = pd.Series([np.nan] * n, index=extraction.index, dtype=object)
    return pd.DataFrame(
        {
            "extractor": extraction["extractor"].astype(str).tolist(),
            "images": [_int(v) for v in get("n_images", missing)],
            "features": [_int(v) for v in get("n_features", missing)],
            "seconds": [format_seconds(v) for v in get("seconds", missing)],
            "images/s": [
                "" if pd.isna(v) else f"{float(v):,.1f}" for v in get("images_per_second", missing)
            ],
            "source": [_cached(v) for v in get("cached", missing)],
        }
    )


def fit_time_pivot(summary: pd.DataFrame, column: str = "fit_seconds_mean") -> pd.DataFrame:
    """Mean head fit (or predict) time per fold, as extractor rows x head columns.

    Parameters
    ----------
    summary : DataFrame
        The output of :func:`summarize`.
    column : str, default "fit_seconds_mean"
        The timing column to lay out.

    Returns
    -------
    DataFrame
        String cells (seconds), ``""`` for pairs that were not run.
    """
    rows = _ordered_unique(summary["extractor"])
    cols = _ordered_unique(summary["head"])
    table = pd.DataFrame("", index=pd.Index(rows, name="extractor"), columns=cols, dtype=object)
    for ext, head, v in zip(summary["extractor"], summary["head"], summary[column], strict=True):
        table.loc[ext, head] = format_seconds(v)
    table.columns.name = "head"
    return table
