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
  identification rate) unless ``higher_is_better=False`` is passed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "PAIR",
    "best_pair",
    "cmc_mean",
    "confusion_matrix",
    "display_extraction",
    "display_summary",
    "fit_time_pivot",
    "format_duration",
    "format_mean_std",
    "format_seconds",
    "pivot",
    "summarize",
]

#: The columns that name one extractor x head pair.
PAIR = ["extractor", "head"]

_TIMING = ["fit_seconds", "predict_seconds"]


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} is missing the column(s) {missing}; it has {list(frame.columns)}")


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
        ``fit_seconds`` and ``predict_seconds``.
    metrics : sequence of str
        The metric columns to aggregate.
    primary : str, optional
        The metric to sort by; defaults to ``metrics[0]``.
    higher_is_better : bool, default True
        Sort direction for ``primary``.

    Returns
    -------
    DataFrame
        Columns ``extractor``, ``head``, ``n_folds``, then ``<metric>_mean``
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
    for col in metrics:
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    for col in _TIMING:
        if col in frame.columns:
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
        else:
            frame[col] = np.nan

    grouped = frame.groupby(PAIR, sort=False, dropna=False)
    out = grouped.size().rename("n_folds").reset_index()
    out["n_folds"] = grouped["fold"].nunique().to_numpy().astype(int)
    for col in metrics:
        out[f"{col}_mean"] = grouped[col].mean().to_numpy()
        out[f"{col}_std"] = grouped[col].std(ddof=1).to_numpy()
    for col in _TIMING:
        out[f"{col}_mean"] = grouped[col].mean().to_numpy()

    key = out[f"{primary}_mean"]
    order = np.argsort((-key if higher_is_better else key).fillna(np.inf).to_numpy(), kind="stable")
    return out.iloc[order].reset_index(drop=True)


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
    text = f"{float(mean):.{decimals}f}"
    if std is not None and not pd.isna(std):
        text += f" ± {float(std):.{decimals}f}"
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
        ``folds``, ``fit s (mean)``, ``predict s (mean)``.
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
    out["folds"] = summary["n_folds"].astype(int).astype(str).tolist()
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
