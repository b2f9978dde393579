"""Is one cell better than another, or within noise? Paired tests over folds or items.

The report's question is "how much do learned features buy over handcrafted
ones", so its headline compares the best learned cell (extractor x head)
with the best handcrafted one, and marks every cell that cannot be told
apart from the best. Both comparisons are *paired*: two cells were scored on
the same folds (or, with a single split, on the same test items), so the
test is on their differences, which removes the fold-to-fold (item-to-item)
difficulty they share.

* Two or more common folds: a paired t-test on the fold scores (Student,
  via :func:`scipy.stats.ttest_rel`), or, from :data:`WILCOXON_MIN_FOLDS`
  folds on, the Wilcoxon signed-rank test (:func:`scipy.stats.wilcoxon`),
  which does not assume normal differences (Demšar, "Statistical
  comparisons of classifiers over multiple data sets", JMLR 7, 2006).
* One split (a given train/test split, LFW View 1): the exact McNemar test
  on the per-item correctness of the two cells (McNemar, Psychometrika 12,
  1947; Dietterich, "Approximate statistical tests for comparing supervised
  classification learning algorithms", Neural Computation 10, 1998), when
  the results folder holds per-item outcomes; else no test.

Fold scores of cross-validation folds are not independent (the training
sets overlap), so the p-values are optimistic (Nadeau and Bengio, Machine
Learning 52, 2003): read them as a guide to noise, not as a claim.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from transfer.report.tables import PAIR, failed_mask, higher_is_better

__all__ = [
    "ALPHA",
    "WILCOXON_MIN_FOLDS",
    "Comparison",
    "PairedTest",
    "compare_cells",
    "fold_scores",
    "format_p",
    "item_outcomes",
    "mcnemar_test",
    "paired_fold_test",
    "within_noise",
]

#: Significance level of the "within noise of the best" marking.
ALPHA = 0.05
#: From this many common folds on, the Wilcoxon signed-rank test replaces the t-test.
WILCOXON_MIN_FOLDS = 6

#: Columns that identify one test item in a per-item file, in this order of preference.
_ITEM_KEYS = ("fold", "index", "pairs_file", "line", "left", "right", "path")


@dataclass(frozen=True)
class PairedTest:
    """The outcome of one paired test.

    Attributes
    ----------
    name : str
        ``"paired t-test"``, ``"Wilcoxon signed-rank"`` or ``"exact McNemar test"``.
    p : float
        Two-sided p-value.
    n : int
        Common folds (fold tests) or test items (McNemar).
    over : str
        What was paired: ``"folds"`` or ``"items"``.
    """

    name: str
    p: float
    n: int
    over: str

    def describe(self) -> str:
        """``"paired t-test over 5 folds, p = 0.042"``."""
        what = "test items" if self.over == "items" else self.over
        return f"{self.name} over {self.n} {what}, {format_p(self.p)}"


@dataclass(frozen=True)
class Comparison:
    """Cell ``a`` against cell ``b`` on one metric.

    Attributes
    ----------
    a, b : tuple of (str, str)
        The cells, ``(extractor, head)``.
    mean_a, mean_b : float
        Their mean metric over folds.
    delta : float
        ``mean_a - mean_b`` (in metric units).
    test : PairedTest or None
        None when no paired test was possible; :attr:`reason` says why.
    reason : str
        Empty when a test ran.
    """

    a: tuple[str, str]
    b: tuple[str, str]
    mean_a: float
    mean_b: float
    delta: float
    test: PairedTest | None
    reason: str = ""


def format_p(p: float) -> str:
    """A p-value as text: ``"p = 0.042"``, ``"p = 0.31"``, ``"p < 0.001"``.

    Parameters
    ----------
    p : float

    Returns
    -------
    str
        Two significant digits, three decimals at most; NaN gives ``"p = n/a"``.
    """
    if p is None or not np.isfinite(p):
        return "p = n/a"
    if p < 0.001:
        return "p < 0.001"
    if p >= 0.1:
        return f"p = {p:.2f}"
    return f"p = {p:.2g}" if p >= 0.01 else f"p = {p:.3f}"


def fold_scores(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per-fold values of ``metric``: one column per cell, one row per fold.

    Parameters
    ----------
    results : DataFrame
        ``results.csv``; failed cells are left out (NaN).
    metric : str
        The metric column.

    Returns
    -------
    DataFrame
        Index ``fold`` (sorted), columns a MultiIndex ``(extractor, head)``.
    """
    frame = results.loc[~failed_mask(results), [*PAIR, "fold", metric]].copy()
    frame[metric] = pd.to_numeric(frame[metric], errors="coerce").astype(float)
    frame["extractor"] = frame["extractor"].astype(str)
    frame["head"] = frame["head"].astype(str)
    return frame.pivot_table(index="fold", columns=PAIR, values=metric, aggfunc="mean", sort=True)


def paired_fold_test(a: np.ndarray, b: np.ndarray) -> PairedTest | None:
    """Paired test of two cells' scores on the same folds.

    Parameters
    ----------
    a, b : ndarray of shape (n_folds,)
        Scores on the same folds, in the same order (NaN pairs are dropped).

    Returns
    -------
    PairedTest or None
        The paired t-test below :data:`WILCOXON_MIN_FOLDS` common folds, the
        Wilcoxon signed-rank test from there on; p = 1 when every difference
        is zero; None with fewer than two common folds.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    n = int(a.size)
    if n < 2:
        return None
    name = "Wilcoxon signed-rank" if n >= WILCOXON_MIN_FOLDS else "paired t-test"
    d = a - b
    if np.allclose(d, 0.0, rtol=0.0, atol=1e-12):
        return PairedTest(name, 1.0, n, "folds")
    if name == "paired t-test":
        with warnings.catch_warnings():
            # nearly equal differences: scipy warns of precision loss, the p-value stands
            warnings.simplefilter("ignore", RuntimeWarning)
            p = float(stats.ttest_rel(a, b).pvalue)
        if not np.isfinite(p):  # constant non-zero difference: no spread at all
            p = 0.0
    elif n <= _EXACT_MAX_FOLDS:
        # fold scores are short decimals (0.995 - 0.99 and 1.0 - 0.995 are the same
        # 0.005): rounding off the float noise keeps such ties tied
        p = _wilcoxon_sign_flip(np.round(d, 12))
    else:
        with warnings.catch_warnings():
            # tied differences switch scipy to its normal approximation, which it
            # announces each time; the test stays valid
            warnings.simplefilter("ignore", UserWarning)
            p = float(stats.wilcoxon(a, b).pvalue)
    return PairedTest(name, p, n, "folds")


#: Up to this many folds the Wilcoxon p-value is exact: every sign flip is enumerated.
_EXACT_MAX_FOLDS = 13


def _wilcoxon_sign_flip(d: np.ndarray) -> float:
    """Two-sided exact Wilcoxon signed-rank p-value of the differences ``d``.

    Under the null hypothesis each difference is as likely positive as
    negative, so the null distribution of the statistic (the sum of the
    ranks of ``|d|`` over the positive differences; zeros dropped, ties
    given their average rank) is that of all ``2**n`` sign flips. This is
    what :func:`scipy.stats.wilcoxon` computes for up to 13 differences with
    ties or zeros, through a generic permutation test that takes about half
    a second per call; enumerating the flips at once takes a millisecond.
    """
    n = d.size
    ranks = np.zeros(n)
    nonzero = d != 0
    ranks[nonzero] = stats.rankdata(np.abs(d[nonzero]))
    observed = float(ranks[d > 0].sum())
    positive = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
    null = positive @ ranks
    tol = 1e-12 * max(abs(observed), 1.0)  # ranks are half-integers: no rounding doubt
    greater = np.mean(null >= observed - tol)
    less = np.mean(null <= observed + tol)
    return float(min(1.0, 2.0 * min(greater, less)))


def item_outcomes(items: pd.DataFrame | None) -> pd.DataFrame | None:
    """Per-item correctness of every cell, from a per-item file.

    Parameters
    ----------
    items : DataFrame or None
        ``predictions.csv`` (``y_true``, ``y_pred``) or ``scores.csv``
        (``same``, ``predicted_same``), with ``extractor``, ``head`` and
        columns that identify the item (``fold`` and ``index``, or ``fold``,
        ``pairs_file`` and ``line``, ...).

    Returns
    -------
    DataFrame or None
        Index: the item key; columns ``(extractor, head)``; values 1.0
        (right) / 0.0 (wrong). None when the file cannot say which items
        were right.
    """
    if items is None or not len(items) or not set(PAIR) <= set(items.columns):
        return None
    if {"y_true", "y_pred"} <= set(items.columns):
        right = items["y_true"].astype(str) == items["y_pred"].astype(str)
    elif {"same", "predicted_same"} <= set(items.columns):
        same = pd.to_numeric(items["same"], errors="coerce")
        predicted = pd.to_numeric(items["predicted_same"], errors="coerce")
        right = same == predicted
    else:
        return None
    keys = [k for k in _ITEM_KEYS if k in items.columns]
    if not keys:
        return None
    frame = items[[*PAIR, *keys]].copy()
    frame["extractor"] = frame["extractor"].astype(str)
    frame["head"] = frame["head"].astype(str)
    frame["_right"] = right.astype(float).to_numpy()
    return frame.pivot_table(index=keys, columns=PAIR, values="_right", aggfunc="mean")


def mcnemar_test(a: np.ndarray, b: np.ndarray) -> PairedTest | None:
    """Exact McNemar test of two classifiers' correctness on the same items.

    Parameters
    ----------
    a, b : ndarray of shape (n_items,)
        1 where the cell got the item right, 0 where wrong (NaN dropped).

    Returns
    -------
    PairedTest or None
        The two-sided exact binomial test of the discordant items (right by
        one cell only) against an even split; p = 1 when there are none.
        None when no item is shared.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok] > 0.5, b[ok] > 0.5
    if not a.size:
        return None
    only_a = int(np.sum(a & ~b))
    only_b = int(np.sum(~a & b))
    n = only_a + only_b
    p = 1.0 if n == 0 else float(stats.binomtest(only_a, n, 0.5).pvalue)
    return PairedTest("exact McNemar test", min(p, 1.0), int(a.size), "items")


def compare_cells(
    a: tuple[str, str],
    b: tuple[str, str],
    scores: pd.DataFrame,
    items: pd.DataFrame | None = None,
) -> Comparison:
    """Compare two cells: mean difference and the paired test.

    Parameters
    ----------
    a, b : tuple of (str, str)
        The cells, ``(extractor, head)``.
    scores : DataFrame
        :func:`fold_scores` of the metric.
    items : DataFrame, optional
        :func:`item_outcomes`, used when the cells share a single fold.

    Returns
    -------
    Comparison
        The fold test when the cells share two folds or more; else McNemar
        on the items when ``items`` has both cells; else no test, with the
        reason.
    """
    col_a = scores[a] if a in scores.columns else pd.Series(dtype=float)
    col_b = scores[b] if b in scores.columns else pd.Series(dtype=float)
    mean_a, mean_b = float(col_a.mean()), float(col_b.mean())
    joined = pd.concat([col_a.rename("a"), col_b.rename("b")], axis=1).dropna()
    test = paired_fold_test(joined["a"].to_numpy(), joined["b"].to_numpy())
    reason = ""
    if test is None and items is not None and a in items.columns and b in items.columns:
        pair = items[[a, b]].dropna()
        test = mcnemar_test(pair[a].to_numpy(), pair[b].to_numpy())
    if test is None:
        reason = (
            "one split: no test" if len(joined) == 1 else f"{len(joined)} common folds: no test"
        )
    return Comparison(a, b, mean_a, mean_b, mean_a - mean_b, test, reason)


def within_noise(
    summary: pd.DataFrame,
    metric: str,
    best: tuple[str, str],
    scores: pd.DataFrame,
    items: pd.DataFrame | None = None,
    alpha: float = ALPHA,
) -> dict[tuple[str, str], Comparison | None]:
    """The cells that cannot be told apart from the best one.

    The rule, also printed on the page: a cell is within noise of the best
    when the paired test of the two (see :func:`compare_cells`) does not
    reject equality at level ``alpha``; when no test is possible, when its
    mean lies within one standard deviation (over folds) of the best's
    mean. The best cell itself is always in.

    Parameters
    ----------
    summary : DataFrame
        :func:`transfer.report.tables.summarize` output.
    metric : str
        The metric (``<metric>_mean`` / ``<metric>_std`` in ``summary``).
    best : tuple of (str, str)
        The best cell.
    scores : DataFrame
        :func:`fold_scores` of ``metric``.
    items : DataFrame, optional
        :func:`item_outcomes`, for single-split runs.
    alpha : float, default 0.05
        Significance level.

    Returns
    -------
    dict
        Cell -> its comparison with the best (None for the best itself), for
        the cells within noise, best first then in summary order.
    """
    out: dict[tuple[str, str], Comparison | None] = {best: None}
    lookup = summary.set_index(PAIR)
    std_best = float(lookup.loc[best, f"{metric}_std"]) if best in lookup.index else np.nan
    sign = 1.0 if higher_is_better(metric) else -1.0
    for ext, head, mean in zip(
        summary["extractor"], summary["head"], summary[f"{metric}_mean"], strict=True
    ):
        cell = (str(ext), str(head))
        if cell == best or pd.isna(mean):
            continue
        comp = compare_cells(best, cell, scores, items)
        if comp.test is not None:
            keep = comp.test.p >= alpha
        else:
            keep = bool(np.isfinite(std_best) and sign * comp.delta <= std_best)
        if keep:
            out[cell] = comp
    return out
