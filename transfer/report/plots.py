"""Plots for the report, drawn with matplotlib's object API on the Agg canvas.

Nothing here touches ``pyplot`` or matplotlib's global state (no backend
switch, no rcParams changes): each function builds a
:class:`matplotlib.figure.Figure` attached to a
:class:`~matplotlib.backends.backend_agg.FigureCanvasAgg`, so the report works
headless and does not disturb an interactive session that imported it.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Collection, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from transfer.report.tables import KIND_CMAPS, KIND_COLORS, format_value, group_by_kind

__all__ = [
    "bar_chart",
    "cmc_plot",
    "confusion_plot",
    "figure_to_data_uri",
    "figure_to_png",
    "fitted_limits",
    "informative_ranks",
    "kind_colors",
    "roc_plot",
    "score_histograms",
    "select_cmc_pairs",
]

#: Most class names drawn as tick labels on a confusion matrix.
MAX_CLASS_LABELS = 50
#: Most CMC curves drawn before falling back to the best head per extractor.
MAX_CMC_LINES = 10
#: Largest matrix whose cells get their count written in.
MAX_ANNOTATED_CLASSES = 15
#: Most heads (panels) in the ROC figure.
MAX_ROC_PANELS = 9
#: Most extractors (panels) in the score histograms.
MAX_SCORE_PANELS = 12


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def figure_to_png(fig: Figure, dpi: int = 110) -> bytes:
    """Render a figure to PNG bytes (no timestamp, so output is reproducible).

    Parameters
    ----------
    fig : Figure
        The figure to render.
    dpi : int, default 110
        Resolution.

    Returns
    -------
    bytes
        The PNG file.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def figure_to_data_uri(fig: Figure, dpi: int = 110) -> str:
    """Render a figure as a ``data:image/png;base64,...`` URI for an ``<img>``.

    Parameters
    ----------
    fig : Figure
        The figure to render.
    dpi : int, default 110
        Resolution.

    Returns
    -------
    str
        The data URI.
    """
    return "data:image/png;base64," + base64.b64encode(figure_to_png(fig, dpi)).decode("ascii")


def _ordered_unique(values: pd.Series) -> list:
    return list(dict.fromkeys(values.tolist()))


def kind_colors(
    cells: Sequence[tuple[str, ...]] | Sequence[str],
    kinds: Mapping[str, str | None] | None,
    key: int | None = None,
) -> dict:
    """One colour per item: a shade of its kind's hue family (learned blues, handcrafted oranges).

    Parameters
    ----------
    cells : sequence
        The items to colour (extractor labels, or tuples whose element ``key``
        is the extractor label), in the order their shades run (darkest first).
    kinds : mapping of str to str or None
        Extractor label -> kind. None, or an item of unknown kind, falls back
        to the greys family.
    key : int, optional
        Which element of a tuple item names the extractor; None when the
        items are the labels.

    Returns
    -------
    dict
        Item -> RGBA colour.
    """
    from matplotlib import colormaps

    groups: dict[str, list] = {}
    for item in cells:
        label = item if key is None else item[key]
        kind = (kinds or {}).get(str(label))
        groups.setdefault(kind if kind in KIND_CMAPS else "", []).append(item)
    out = {}
    for kind, items in groups.items():
        cmap = colormaps[KIND_CMAPS.get(kind, "Greys")]
        shades = np.linspace(0.9, 0.45, len(items)) if len(items) > 1 else [0.75]
        out.update({item: cmap(float(v)) for item, v in zip(items, shades, strict=True)})
    return out


def _kind_legend(ax, kinds: Mapping[str, str | None] | None, present: Sequence[str]) -> list:
    """Legend handles naming the two hue families (only the kinds present)."""
    from matplotlib.patches import Patch

    found = {(kinds or {}).get(str(e)) for e in present}
    return [
        Patch(color=KIND_COLORS[k], label=f"{k} (shades of {KIND_CMAPS[k][:-1].lower()})")
        for k in KIND_CMAPS
        if k in found
    ]


def fitted_limits(values: np.ndarray, unit: bool) -> tuple[float, float]:
    """A value axis fitted to the data: the range plus 8% margin (not from 0).

    Parameters
    ----------
    values : ndarray
        Every value drawn (means, mean ± std, single folds); NaN ignored.
    unit : bool
        Whether the metric lives in [0, 1]: the limits are then clipped to
        [0, 1.005].

    Returns
    -------
    tuple of (float, float)
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not v.size:
        return (0.0, 1.0)
    lo, hi = float(v.min()), float(v.max())
    span = max(hi - lo, 0.01 if unit else abs(hi) * 0.02 or 1.0)
    lo, hi = lo - 0.08 * span, hi + 0.08 * span
    if unit:
        lo, hi = max(lo, 0.0), min(hi, 1.005)
    return lo, hi


def bar_chart(
    summary: pd.DataFrame,
    metric: str,
    kinds: Mapping[str, str | None] | None = None,
    folds: pd.DataFrame | None = None,
    noise: Collection[tuple[str, str]] = (),
) -> Figure:
    """Grouped bars: extractors on the x axis grouped by kind, one bar per head.

    Parameters
    ----------
    summary : DataFrame
        The output of :func:`transfer.report.tables.summarize`.
    metric : str
        The metric to plot (``<metric>_mean`` / ``<metric>_std``).
    kinds : mapping of str to str or None, optional
        Extractor label -> ``"learned"`` / ``"handcrafted"``: learned
        extractors come first, in blues, handcrafted ones in oranges (one
        shade per head), and the legend names both families.
    folds : DataFrame, optional
        :func:`transfer.report.stats.fold_scores` of ``metric``: each fold
        is drawn as a dot over its bar.
    noise : collection of (str, str), default ()
        Cells within noise of the best, marked with a star above the bar.

    Returns
    -------
    Figure
        The value axis is fitted to the data (means, error bars and folds),
        not started at 0, so that 0.91 and 0.99 do not look alike.
    """
    kinds = dict(kinds or {})
    extractors = group_by_kind([str(e) for e in _ordered_unique(summary["extractor"])], kinds)
    heads = [str(h) for h in _ordered_unique(summary["head"])]
    n_ext, n_head = len(extractors), len(heads)
    width = min(13.0, max(6.0, 1.0 + 0.35 * n_ext * max(n_head, 2)))
    fig = _new_figure(width, 4.8)
    ax = fig.add_subplot()

    lookup = {
        (str(e), str(h)): (m, s)
        for e, h, m, s in zip(
            summary["extractor"],
            summary["head"],
            summary[f"{metric}_mean"].astype(float),
            summary.get(f"{metric}_std", pd.Series(np.nan, summary.index)).astype(float),
            strict=True,
        )
    }
    from matplotlib import colormaps

    bar_w = 0.8 / max(n_head, 1)
    x = np.arange(n_ext, dtype=float)
    shades = np.linspace(0.9, 0.45, n_head) if n_head > 1 else np.array([0.75])
    drawn: list[float] = []
    stars: list[tuple[float, float]] = []
    rng = np.random.default_rng(0)  # fixed jitter: the PNG is reproducible
    for j, head in enumerate(heads):
        for i, ext in enumerate(extractors):
            if (ext, head) not in lookup or np.isnan(lookup[ext, head][0]):
                continue
            m, s = lookup[ext, head]
            kind = kinds.get(ext)
            color = colormaps[KIND_CMAPS.get(kind or "", "Greys")](float(shades[j]))
            pos = x[i] - 0.4 + bar_w * (j + 0.5)
            ax.bar(
                pos,
                m,
                width=bar_w * 0.92,
                yerr=0.0 if np.isnan(s) else s,
                capsize=min(4.0, 20.0 / max(n_head, 1)),
                color=color,
                edgecolor="#333333" if (ext, head) in noise else "none",
                linewidth=0.8,
                error_kw={"elinewidth": 1, "ecolor": "#333333"},
            )
            top = m + (0.0 if np.isnan(s) else s)
            drawn += [m, top, m - (0.0 if np.isnan(s) else s)]
            if folds is not None and (ext, head) in folds.columns:
                v = folds[(ext, head)].dropna().to_numpy(float)
                jitter = (rng.random(v.size) - 0.5) * bar_w * 0.5
                ax.scatter(pos + jitter, v, s=9, color="#111111", alpha=0.7, zorder=3, linewidths=0)
                drawn += list(v)
                top = max([top, *v])
            if (ext, head) in noise:
                stars.append((pos, top))
    values = summary[f"{metric}_mean"].astype(float)
    unit = bool(len(values.dropna())) and values.min() >= 0 and values.max() <= 1
    lo, hi = fitted_limits(np.asarray(drawn), unit)
    span = hi - lo
    for pos, top in stars:  # above the bar, its error bar and its folds, inside the axes
        y = min(top, hi) + 0.03 * span
        ax.scatter(pos, y, marker="*", s=28, color="#111111", zorder=4)
    ax.set_ylim(lo, hi + 0.07 * span if stars else hi)
    ax.set_xticks(x)
    long_labels = n_ext > 6 or max((len(str(e)) for e in extractors), default=0) > 12
    ax.set_xticklabels(
        extractors,
        rotation=30 if long_labels else 0,
        ha="right" if long_labels else "center",
    )
    for tick, ext in zip(ax.get_xticklabels(), extractors, strict=True):
        tick.set_color(KIND_COLORS.get(kinds.get(ext) or "", "#333333"))
    # a thin line between the learned and the handcrafted block
    for i in range(1, n_ext):
        if kinds.get(extractors[i]) != kinds.get(extractors[i - 1]):
            ax.axvline(i - 0.5, color="#999999", linewidth=0.8, linestyle="--")
    ax.set_xlabel("extractor")
    ax.set_ylabel(f"{metric} (mean ± std over folds)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.spines[["top", "right"]].set_visible(False)
    from matplotlib.patches import Patch

    grey = colormaps["Greys"]
    handles = [
        Patch(facecolor=grey(float(v)), label=str(h)) for h, v in zip(heads, shades, strict=True)
    ]
    handles += _kind_legend(ax, kinds, extractors)
    longest = max((len(h.get_label()) for h in handles), default=1)
    ax.legend(
        handles=handles,
        title="head (shade); kind (hue)",
        ncol=max(1, min(len(handles), 6, int(width * 14 / (longest + 5)))),
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        frameon=False,
        fontsize="small",
    )
    return fig


def select_cmc_pairs(
    pairs: Sequence[tuple[str, str]],
    summary: pd.DataFrame | None,
    primary: str | None,
    max_lines: int = MAX_CMC_LINES,
) -> tuple[list[tuple[str, str]], str]:
    """Choose which CMC curves to draw so that the legend stays readable.

    Parameters
    ----------
    pairs : sequence of (str, str)
        Every ``(extractor, head)`` pair that has a CMC curve.
    summary : DataFrame or None
        The output of ``summarize`` (sorted best first), used to rank pairs.
    primary : str or None
        The primary metric name (unused when ``summary`` is None).
    max_lines : int, default 10
        Most curves to draw.

    Returns
    -------
    pairs : list of (str, str)
        The pairs to draw, best first.
    note : str
        Empty when every pair is drawn, else a sentence saying what was left out.
    """
    pairs = list(dict.fromkeys((str(e), str(h)) for e, h in pairs))
    if summary is not None and len(summary):
        rank = {
            (str(e), str(h)): i
            for i, (e, h) in enumerate(zip(summary["extractor"], summary["head"], strict=True))
        }
        pairs.sort(key=lambda p: rank.get(p, len(rank)))
    if len(pairs) <= max_lines:
        return pairs, ""
    best_per_ext: dict[str, tuple[str, str]] = {}
    for p in pairs:
        best_per_ext.setdefault(p[0], p)
    chosen = list(best_per_ext.values())
    metric = f" by mean {primary}" if primary else ""
    note = f"Showing the best head per extractor{metric}"
    if len(chosen) > max_lines:
        chosen = chosen[:max_lines]
        note += f", for the top {max_lines} extractors"
    note += f" ({len(chosen)} of {len(pairs)} curves); cmc.csv has every curve and rank."
    return chosen, note


#: The CMC plot stops where every curve reaches this rate ...
CMC_REACH = 0.99
#: ... but shows at least / at most this many ranks.
CMC_MIN_RANKS, CMC_MAX_RANKS = 10, 20


def informative_ranks(cmc_mean: pd.DataFrame, pairs: Sequence[tuple[str, str]]) -> tuple[int, str]:
    """How many ranks of a CMC plot carry information, and a sentence saying so.

    The curves are cut at the first rank where every drawn curve reaches
    :data:`CMC_REACH` (0.99), kept between :data:`CMC_MIN_RANKS` (10) and
    :data:`CMC_MAX_RANKS` (20) ranks, and never past the last rank.

    Parameters
    ----------
    cmc_mean : DataFrame
        The output of :func:`transfer.report.tables.cmc_mean`.
    pairs : sequence of (str, str)
        The curves drawn.

    Returns
    -------
    n_ranks : int
    note : str
    """
    if not len(cmc_mean):
        return 1, ""
    max_rank = int(cmc_mean["rank"].max())
    reach = []
    for ext, head in pairs:
        sub = cmc_mean[(cmc_mean["extractor"] == ext) & (cmc_mean["head"] == head)]
        hit = sub.loc[sub["rate"] >= CMC_REACH - 1e-12, "rank"]
        reach.append(int(hit.min()) if len(hit) else None)
    if reach and all(r is not None for r in reach):
        r_star = max(r for r in reach if r is not None)
        n = min(max_rank, max(CMC_MIN_RANKS, min(r_star, CMC_MAX_RANKS)))
        why = f"every curve drawn reaches {CMC_REACH:g} by rank {r_star}"
    else:
        n = min(max_rank, CMC_MAX_RANKS)
        why = f"not every curve reaches {CMC_REACH:g}"
    if n >= max_rank:
        return max_rank, ""
    return n, (
        f"Ranks 1-{n} of {max_rank} shown ({why}; the plot keeps {CMC_MIN_RANKS} to "
        f"{CMC_MAX_RANKS} ranks)."
    )


def cmc_plot(
    cmc_mean: pd.DataFrame,
    summary: pd.DataFrame | None = None,
    primary: str | None = None,
    max_lines: int = MAX_CMC_LINES,
    kinds: Mapping[str, str | None] | None = None,
) -> tuple[Figure, str]:
    """Mean CMC curves, one line per extractor x head, over the informative ranks.

    Parameters
    ----------
    cmc_mean : DataFrame
        The output of :func:`transfer.report.tables.cmc_mean`.
    summary : DataFrame, optional
        The summary, to order pairs best first and pick the best head per
        extractor when there are too many curves.
    primary : str, optional
        The primary metric, for the note.
    max_lines : int, default 10
        Most curves to draw; see :func:`select_cmc_pairs`.
    kinds : mapping of str to str or None, optional
        Extractor label -> kind: learned curves in blues, handcrafted ones
        in oranges (solid and dashed lines).

    Returns
    -------
    fig : Figure
        Ranks cut by :func:`informative_ranks`.
    note : str
        Empty, or sentences saying which curves and ranks were left out.
    """
    all_pairs = list(zip(cmc_mean["extractor"], cmc_mean["head"], strict=True))
    chosen, note = select_cmc_pairs(all_pairs, summary, primary, max_lines)
    n_ranks, rank_note = informative_ranks(cmc_mean, chosen)
    note = " ".join(n for n in (note, rank_note) if n)
    keep = pd.MultiIndex.from_frame(cmc_mean[["extractor", "head"]]).isin(chosen)
    shown = cmc_mean[keep & (cmc_mean["rank"] <= n_ranks).to_numpy()]
    fig = _new_figure(8.0, 4.8)
    ax = fig.add_subplot()
    markers = "osD^v<>ph*"
    colors = kind_colors(chosen, kinds, key=0)
    for k, (ext, head) in enumerate(chosen):
        sub = shown[(shown["extractor"] == ext) & (shown["head"] == head)]
        kind = (kinds or {}).get(str(ext))
        ax.plot(
            sub["rank"],
            sub["rate"],
            color=colors[ext, head],
            linestyle="--" if kind == "handcrafted" else "-",
            marker=markers[k % len(markers)] if n_ranks <= 30 else None,
            markersize=3.5,
            linewidth=1.6,
            label=f"{ext} + {head}{f' [{kind}]' if kind else ''} "
            f"(rank-1 {format_value(sub['rate'].iloc[0])})",
        )
    ax.set_xlabel("rank")
    ax.set_ylabel("identification rate (mean over folds)")
    ax.set_xlim(0.5, n_ranks + 0.5)
    if n_ranks <= 20:
        ax.set_xticks(np.arange(1, n_ranks + 1))
    # zoom on the plotted curves: near-perfect curves are otherwise one flat line
    lowest = float(shown["rate"].min()) if len(shown) else 0.0
    ax.set_ylim(max(0.0, np.floor((lowest - 0.02) * 20) / 20), 1.005)
    ax.grid(alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="lower right", fontsize="small", framealpha=0.9)
    return fig, note


def confusion_plot(cm: np.ndarray, class_names: Sequence[str] | None, title: str) -> Figure:
    """Draw a confusion matrix (rows: true class, columns: predicted class).

    Parameters
    ----------
    cm : ndarray of shape (n, n)
        Counts, e.g. from :func:`transfer.report.tables.confusion_matrix`.
    class_names : sequence of str or None
        Tick labels, used only when there are at most 50 classes.
    title : str
        Axes title.

    Returns
    -------
    Figure
    """
    n = cm.shape[0]
    side = float(np.clip(4.0 + 0.16 * n, 5.0, 11.0)) if n <= MAX_CLASS_LABELS else 8.0
    fig = _new_figure(side * 1.12, side)
    ax = fig.add_subplot()
    image = ax.imshow(cm, cmap="Blues", interpolation="nearest", vmin=0)
    fig.colorbar(image, ax=ax, shrink=0.8, label="test images")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize="medium")
    if n <= MAX_CLASS_LABELS:
        names = (
            [str(c) for c in class_names]
            if class_names is not None and len(class_names) == n
            else [str(i) for i in range(n)]
        )
        fontsize = float(np.clip(260.0 / max(n, 1), 5.0, 9.0))
        ax.set_xticks(np.arange(n))
        ax.set_yticks(np.arange(n))
        ax.set_xticklabels(names, rotation=90, fontsize=fontsize)
        ax.set_yticklabels(names, fontsize=fontsize)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    if n <= MAX_ANNOTATED_CLASSES:
        threshold = cm.max() / 2 if cm.size else 0
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    ax.text(
                        j,
                        i,
                        str(cm[i, j]),
                        ha="center",
                        va="center",
                        fontsize="small",
                        color="white" if cm[i, j] > threshold else "black",
                    )
    return fig


def _grid_shape(n: int, max_cols: int = 3) -> tuple[int, int]:
    cols = max(1, min(max_cols, n))
    return int(np.ceil(n / cols)), cols


def _pair_lookup(summary: pd.DataFrame | None, column: str) -> dict[tuple[str, str], float]:
    if summary is None or column not in summary.columns:
        return {}
    return {
        (str(e), str(h)): float(v)
        for e, h, v in zip(summary["extractor"], summary["head"], summary[column], strict=True)
    }


def roc_plot(
    roc_mean: pd.DataFrame,
    summary: pd.DataFrame | None = None,
    primary: str | None = None,
    max_panels: int = MAX_ROC_PANELS,
    kinds: Mapping[str, str | None] | None = None,
) -> tuple[Figure, str]:
    """Mean ROC curves: one panel per head, one line per extractor, log FPR axis.

    Parameters
    ----------
    roc_mean : DataFrame
        The output of :func:`transfer.report.tables.roc_mean` (TPR averaged
        over folds on a common FPR grid).
    summary : DataFrame, optional
        The summary: orders the heads and extractors (best first) and gives
        the legend's mean AUC (``auc_mean``). Without an ``auc_mean``
        column, the AUC is integrated from the mean curve (from FPR 0, with
        the curve held at its first grid value).
    primary : str, optional
        The primary metric, for the note.
    max_panels : int, default 9
        Most heads drawn; beyond that, the heads whose best pair ranks
        lowest are left out and the note says so.
    kinds : mapping of str to str or None, optional
        Extractor label -> kind: learned extractors in blues (solid),
        handcrafted ones in oranges (dashed).

    Returns
    -------
    fig : Figure
        Panels in a grid of up to 3 columns, sharing both axes. An extractor
        has the same colour in every panel. Faint vertical lines mark
        FAR = 1e-3 and 1e-2.
    note : str
        Empty, or a sentence saying which heads were left out.
    """
    pairs = list(dict.fromkeys(zip(roc_mean["extractor"], roc_mean["head"], strict=True)))
    rank = {}
    if summary is not None and len(summary):
        rank = {
            (str(e), str(h)): i
            for i, (e, h) in enumerate(zip(summary["extractor"], summary["head"], strict=True))
        }
    ordered = sorted(pairs, key=lambda p: rank.get((str(p[0]), str(p[1])), len(rank)))
    heads = list(dict.fromkeys(h for _, h in ordered))
    extractors = list(dict.fromkeys(e for e, _ in ordered))
    note = ""
    if len(heads) > max_panels:
        metric = f" by the best mean {primary}" if primary else ""
        note = f"Showing the top {max_panels} of {len(heads)} heads{metric}; roc.csv has them all."
        heads = heads[:max_panels]
    colors = kind_colors(extractors, kinds)
    auc = _pair_lookup(summary, "auc_mean")

    nrows, ncols = _grid_shape(len(heads))
    fig = _new_figure(4.3 * ncols, 3.6 * nrows + 0.3)
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k >= len(heads):
            ax.set_visible(False)
            continue
        head = heads[k]
        for far in (1e-3, 1e-2):
            ax.axvline(far, color="#888888", linewidth=0.8, linestyle=":", alpha=0.7, zorder=0)
        grid = np.sort(roc_mean["fpr"].unique())
        ax.plot(grid, grid, color="#bbbbbb", linewidth=0.8, linestyle="--", zorder=0)
        for ext in extractors:
            sub = roc_mean[(roc_mean["extractor"] == ext) & (roc_mean["head"] == head)]
            if sub.empty:
                continue
            sub = sub.sort_values("fpr")
            x, y = sub["fpr"].to_numpy(float), sub["tpr"].to_numpy(float)
            a = auc.get((str(ext), str(head)), np.nan)
            if np.isnan(a):
                xs, ys = np.r_[0.0, x], np.r_[y[0], y]
                a = float(np.sum(np.diff(xs) * (ys[1:] + ys[:-1]) / 2))  # trapezoid rule
            kind = (kinds or {}).get(str(ext))
            ax.plot(
                x,
                y,
                color=colors[ext],
                linestyle="--" if kind == "handcrafted" else "-",
                linewidth=1.6,
                label=f"{ext}{f' [{kind}]' if kind else ''} (AUC {format_value(a)})",
            )
        ax.set_xscale("log")
        ax.set_xlim(8e-4, 1.0)
        ax.set_ylim(0.0, 1.01)
        ax.set_title(str(head), fontsize="medium")
        ax.grid(alpha=0.25, which="major")
        ax.spines[["top", "right"]].set_visible(False)
        ax.legend(loc="lower right", fontsize="x-small", framealpha=0.9)
        if k % ncols == 0:
            ax.set_ylabel("TPR (mean over folds)")
        if k // ncols == nrows - 1 or k + ncols >= len(heads):
            ax.set_xlabel("FPR (log scale)")
            ax.xaxis.set_tick_params(labelbottom=True)
        if k == 0:
            for far, text in ((1e-3, "FAR 1e-3"), (1e-2, "FAR 1e-2")):
                ax.text(far * 1.1, 0.99, text, fontsize="xx-small", color="#666666", va="top")
    return fig, note


def score_histograms(
    scores: pd.DataFrame,
    heads: dict[str, str],
    summary: pd.DataFrame | None = None,
    metric: str | None = None,
    max_panels: int = MAX_SCORE_PANELS,
    kinds: Mapping[str, str | None] | None = None,
) -> tuple[Figure | None, str]:
    """Same vs different score distributions, one panel per extractor.

    Parameters
    ----------
    scores : DataFrame
        ``scores.csv``: columns ``extractor``, ``head``, ``fold``, ``same``
        (0/1), ``score`` and ``threshold`` (chosen on each fold's training
        pairs). Scores are pooled over folds.
    heads : dict of str to str
        Extractor -> the head to show (e.g.
        :func:`transfer.report.tables.best_heads`), in panel order.
    summary : DataFrame, optional
        The summary, for the metric in each panel's title.
    metric : str, optional
        That metric (``<metric>_mean`` in ``summary``).
    max_panels : int, default 12
        Most extractors drawn (the first ones in ``heads``).
    kinds : mapping of str to str or None, optional
        Extractor label -> kind, named in the panel title in its hue.

    Returns
    -------
    fig : Figure or None
        Density histograms of the "same" and "different" pairs' scores with
        the threshold, averaged over folds, as a dashed vertical line; bins
        span the 0.5th to 99.5th percentiles of the pair's scores (outliers
        fall into the end bins). None when no extractor has scores for its
        head.
    note : str
        Empty, or a sentence saying which extractors were left out.
    """
    value = _pair_lookup(summary, f"{metric}_mean") if metric else {}
    panels = []
    for ext, head in heads.items():
        sub = scores[(scores["extractor"] == ext) & (scores["head"] == head)]
        score = pd.to_numeric(sub["score"], errors="coerce").to_numpy(float)
        ok = np.isfinite(score)
        if ok.any():
            panels.append((ext, head, sub[ok], score[ok]))
    if not panels:
        return None, ""
    note = ""
    if len(panels) > max_panels:
        note = f"Showing {max_panels} of {len(panels)} extractors; scores.csv has them all."
        panels = panels[:max_panels]
    nrows, ncols = _grid_shape(len(panels))
    fig = _new_figure(4.3 * ncols, 3.2 * nrows + 0.2)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k >= len(panels):
            ax.set_visible(False)
            continue
        ext, head, sub, score = panels[k]
        same = pd.to_numeric(sub["same"], errors="coerce").to_numpy(float) == 1
        lo, hi = np.percentile(score, [0.5, 99.5])
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        n_unique = len(np.unique(score))
        n_bins = min(n_unique, int(np.clip(np.sqrt(score.size), 10, 40)))
        edges = np.linspace(lo, hi, max(n_bins, 2) + 1)
        clipped = np.clip(score, lo, hi)
        for mask, label, color in (
            (same, "same", "#1f77b4"),
            (~same, "different", "#ff7f0e"),
        ):
            if mask.any():
                ax.hist(
                    clipped[mask],
                    bins=edges,
                    density=True,
                    alpha=0.55,
                    color=color,
                    label=f"{label} ({int(mask.sum())})",
                )
        if "threshold" in sub.columns:
            thr = pd.to_numeric(sub["threshold"], errors="coerce")
            per_fold = thr.groupby(sub["fold"]).mean() if "fold" in sub.columns else thr
            t = float(per_fold.mean())
            if np.isfinite(t):
                ax.axvline(
                    t,
                    color="#222222",
                    linestyle="--",
                    linewidth=1.2,
                    label=f"threshold {t:.3g} (training pairs)",
                )
        kind = (kinds or {}).get(str(ext))
        title = f"{ext}{f' [{kind}]' if kind else ''}: {head}"
        v = value.get((str(ext), str(head)), np.nan)
        if not np.isnan(v):
            title += f"\n(best head, {metric} {format_value(v)})"
        ax.set_title(title, fontsize="small", color=KIND_COLORS.get(kind or "", "#000000"))
        ax.set_xlabel("score (higher = same)", fontsize="small")
        if k % ncols == 0:
            ax.set_ylabel("density")
        ax.spines[["top", "right"]].set_visible(False)
        ax.legend(fontsize="x-small", framealpha=0.9)
    return fig, note
