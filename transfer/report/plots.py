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
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = [
    "bar_chart",
    "cmc_plot",
    "confusion_plot",
    "figure_to_data_uri",
    "figure_to_png",
    "select_cmc_pairs",
]

#: Most class names drawn as tick labels on a confusion matrix.
MAX_CLASS_LABELS = 50
#: Most CMC curves drawn before falling back to the best head per extractor.
MAX_CMC_LINES = 10
#: Largest matrix whose cells get their count written in.
MAX_ANNOTATED_CLASSES = 15


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


def bar_chart(summary: pd.DataFrame, metric: str) -> Figure:
    """Grouped bars: extractors on the x axis, one bar per head, std error bars.

    Parameters
    ----------
    summary : DataFrame
        The output of :func:`transfer.report.tables.summarize`.
    metric : str
        The metric to plot (``<metric>_mean`` / ``<metric>_std``).

    Returns
    -------
    Figure
    """
    extractors = _ordered_unique(summary["extractor"])
    heads = _ordered_unique(summary["head"])
    n_ext, n_head = len(extractors), len(heads)
    width = min(13.0, max(6.0, 1.0 + 0.35 * n_ext * max(n_head, 2)))
    fig = _new_figure(width, 4.6)
    ax = fig.add_subplot()

    lookup = {
        (e, h): (m, s)
        for e, h, m, s in zip(
            summary["extractor"],
            summary["head"],
            summary[f"{metric}_mean"].astype(float),
            summary.get(f"{metric}_std", pd.Series(np.nan, summary.index)).astype(float),
            strict=True,
        )
    }
    bar_w = 0.8 / max(n_head, 1)
    x = np.arange(n_ext, dtype=float)
    for j, (head, color) in enumerate(zip(heads, _colors(n_head), strict=True)):
        pos, means, errs = [], [], []
        for i, ext in enumerate(extractors):
            if (ext, head) not in lookup or np.isnan(lookup[ext, head][0]):
                continue
            m, s = lookup[ext, head]
            pos.append(x[i] - 0.4 + bar_w * (j + 0.5))
            means.append(m)
            errs.append(0.0 if np.isnan(s) else s)
        ax.bar(
            pos,
            means,
            width=bar_w * 0.92,
            yerr=errs,
            capsize=min(4.0, 20.0 / max(n_head, 1)),
            color=color,
            label=str(head),
            error_kw={"elinewidth": 1, "ecolor": "#333333"},
        )
    ax.set_xticks(x)
    long_labels = n_ext > 6 or max((len(str(e)) for e in extractors), default=0) > 12
    ax.set_xticklabels(
        [str(e) for e in extractors],
        rotation=30 if long_labels else 0,
        ha="right" if long_labels else "center",
    )
    ax.set_xlabel("extractor")
    ax.set_ylabel(f"{metric} (mean ± std over folds)")
    values = summary[f"{metric}_mean"].astype(float)
    if len(values) and values.min() >= 0 and values.max() <= 1:
        ax.set_ylim(0, 1.08)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(
        title="head",
        ncol=min(n_head, 6),
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
    note += f" ({len(chosen)} of {len(pairs)} curves); cmc.csv has them all."
    return chosen, note


def cmc_plot(
    cmc_mean: pd.DataFrame,
    summary: pd.DataFrame | None = None,
    primary: str | None = None,
    max_lines: int = MAX_CMC_LINES,
) -> tuple[Figure, str]:
    """Mean CMC curves, one line per extractor x head (capped at ``max_lines``).

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

    Returns
    -------
    fig : Figure
    note : str
        Empty, or a sentence saying which curves were left out.
    """
    all_pairs = list(zip(cmc_mean["extractor"], cmc_mean["head"], strict=True))
    chosen, note = select_cmc_pairs(all_pairs, summary, primary, max_lines)
    fig = _new_figure(8.0, 4.8)
    ax = fig.add_subplot()
    max_rank = int(cmc_mean["rank"].max()) if len(cmc_mean) else 1
    markers = "osD^v<>ph*"
    for k, ((ext, head), color) in enumerate(zip(chosen, _colors(len(chosen)), strict=True)):
        sub = cmc_mean[(cmc_mean["extractor"] == ext) & (cmc_mean["head"] == head)]
        ax.plot(
            sub["rank"],
            sub["rate"],
            color=color,
            marker=markers[k % len(markers)] if max_rank <= 30 else None,
            markersize=3.5,
            linewidth=1.6,
            label=f"{ext} + {head} (rank-1 {sub['rate'].iloc[0]:.3f})",
        )
    ax.set_xlabel("rank")
    ax.set_ylabel("identification rate (mean over folds)")
    ax.set_xlim(0.5, max_rank + 0.5)
    if max_rank > 60:
        ax.set_xscale("log")
        ax.set_xlim(0.9, max_rank * 1.1)
    # zoom on the plotted curves: near-perfect curves are otherwise one flat line
    lowest = float(cmc_mean["rate"].min()) if len(cmc_mean) else 0.0
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
