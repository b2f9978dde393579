"""The page of a sweep: the curve, the table, and a link to each point's report.

:func:`build_sweep_report` needs nothing but the sweep's folder
(``sweep.json`` and each point's results folder under ``points/``), so
``transfer report OUT`` can rebuild it. It writes ``sweep.csv``
(:func:`transfer.recipes.sweep.sweep_table`), ``report.md`` and
``report.html``, each atomically. The page is self-contained like a run's
report (inline styles, the plot a PNG data URI, no script, the same
Content-Security-Policy); its only links are the relative ones to the
points' own reports.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from transfer._io import atomic_write_text
from transfer.recipes.sweep import curve_frame, line_label, sweep_table
from transfer.report.html import CSP, CSS, definition_list, escape, figure, table
from transfer.report.markdown import kv_table, markdown_table, text
from transfer.report.plots import figure_to_data_uri

__all__ = ["build_sweep_report", "curve_plot", "log_axis"]

#: A numeric axis spanning more than this ratio is drawn on a log scale.
LOG_SPAN = 10.0


def log_axis(values: list) -> bool:
    """Whether sweep values are drawn on a log x axis: numbers > 0 spanning > 10x."""
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) != len(values) or not numbers or min(numbers) <= 0:
        return False
    return max(numbers) / min(numbers) > LOG_SPAN


def _is_numeric(values: list) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def curve_plot(table: pd.DataFrame, metric: str, name: str) -> Figure:
    """The metric against the swept value, one line per extractor x head.

    Parameters
    ----------
    table : DataFrame
        :func:`transfer.recipes.sweep.sweep_table`'s table.
    metric : str
        The metric drawn (``<metric>_mean``; error bars ``<metric>_std``, the
        standard deviation over folds, where there is one).
    name : str
        The sweep's column (the x axis).

    Returns
    -------
    Figure
        Numeric values on a linear axis, or a log one when they span more
        than 10x (:func:`log_axis`); other values at even positions. The
        test scores of networks trained on A are dashed.
    """
    values = list(dict.fromkeys(table[name].tolist()))
    numeric = _is_numeric(values)
    position = {v: (float(v) if numeric else float(i)) for i, v in enumerate(values)}
    fig = Figure(figsize=(8.0, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    mean, std = f"{metric}_mean", f"{metric}_std"
    lines: dict[str, pd.DataFrame] = {}
    if mean in table:
        rows = table[table[mean].notna()]
        for label in dict.fromkeys(line_label(r) for _, r in rows.iterrows()):
            lines[label] = rows[[line_label(r) == label for _, r in rows.iterrows()]]
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(lines) <= 10 else "tab20"]
    for k, (label, rows) in enumerate(lines.items()):
        x = [position[v] for v in rows[name]]
        y = rows[mean].astype(float).to_numpy()
        err = rows[std].astype(float).fillna(0.0).to_numpy() if std in rows else None
        training = (rows["source"] == "training").all()
        ax.errorbar(
            x,
            y,
            yerr=err,
            marker="s" if training else "o",
            linestyle="--" if training else "-",
            capsize=3,
            color=cmap(k % cmap.N),
            label=label,
        )
    if log_axis(values):
        ax.set_xscale("log")
    ax.set_xticks([position[v] for v in values])
    ax.set_xticklabels([str(v) for v in values])
    ax.minorticks_off()
    ax.set_xlabel(name)
    ax.set_ylabel(f"{metric} (mean ± std over folds)")
    ax.grid(alpha=0.3)
    ax.set_axisbelow(True)
    ax.spines[["top", "right"]].set_visible(False)
    if lines:
        ax.legend(fontsize="small", frameon=False, loc="best")
    return fig


def _point_href(folder: str, file: str) -> str:
    return quote(f"{folder}/{file}", safe="/=")


def _items(meta: dict) -> list[tuple[str, object]]:
    sweep = meta["sweep"]
    return [
        ("swept", sweep["name"]),
        ("values", ", ".join(str(v) for v in sweep["values"])),
        ("keys set", ", ".join(sweep["set"])),
        ("primary metric", meta.get("primary_metric")),
        ("recipe", meta.get("recipe_source")),
        ("command", meta.get("command")),
        ("started", meta.get("started")),
        ("finished", meta.get("finished")),
        ("duration (s)", meta.get("duration_seconds")),
        ("transfer", meta.get("version")),
    ]


def _points_frame(meta: dict) -> pd.DataFrame:
    rows = []
    for p in meta["points"]:
        rows.append(
            {
                meta["sweep"]["name"]: p["value"],
                "folder": p["folder"],
                "cells": p.get("n_cells"),
                "failed": p.get("n_failed"),
                "from the cache": p.get("n_cached"),
                "seconds": p.get("seconds"),
            }
        )
    return pd.DataFrame(rows)


def render_sweep_html(frame: pd.DataFrame, meta: dict) -> str:
    """The sweep's self-contained HTML page."""
    from transfer import __version__

    name = meta["sweep"]["name"]
    primary = meta["primary_metric"]
    title = meta.get("title") or meta.get("name") or "sweep"
    metrics = [primary] + [m for m in meta.get("metrics", []) if m != primary]
    uri = figure_to_data_uri(curve_plot(frame, primary, name))
    scale = "log" if log_axis(list(dict.fromkeys(frame[name].tolist()))) else "linear"
    caption = escape(
        f"{primary} against {name} ({scale} axis); one line per extractor + head, error bars "
        "the standard deviation over folds; dashed: a trained network's own output on the "
        "test images of its dataset A."
    )
    tables = []
    for metric in metrics:
        if f"{metric}_mean" not in frame:
            continue
        tables.append(f"<h3>{escape(metric)}</h3>")
        tables.append(table_block(curve_frame(frame, metric, name)))
    links = []
    points = _points_frame(meta)
    for p in meta["points"]:
        folder = p["folder"]
        links.append(
            f'<li><a href="{escape(_point_href(folder, "report.html"))}">'
            f"{escape(Path(folder).name)}</a> "
            f'<span class="muted">({escape(p.get("n_cells"))} cells, '
            f"{escape(p.get('n_failed'))} failed, {escape(p.get('seconds'))} s)</span></li>"
        )
    body = "".join(
        [
            "<header>",
            f"<h1>{escape(title)}</h1>",
            f'<p class="description">{escape(meta.get("description"))}</p>'
            if meta.get("description")
            else "",
            f'<p class="muted">{escape(meta.get("name"))} · sweep over {escape(name)} · '
            f"{len(meta['points'])} points</p>",
            '<nav><a href="#curve">Curve</a><a href="#table">Table</a>'
            '<a href="#points">Points</a><a href="#sweep">Sweep</a></nav>',
            "</header>",
            '<h2 id="curve">Curve</h2>',
            figure(uri, f"{primary} against {name}", caption, "fig-curve"),
            '<h2 id="table">Table</h2>',
            f'<p class="muted">mean ± std over folds; all rows in sweep.csv.</p>{"".join(tables)}',
            '<h2 id="points">Points</h2>',
            f"<p>Each point is a complete results folder with its own report:</p><ul>"
            f"{''.join(links)}</ul>",
            table(points),
            '<h2 id="sweep">Sweep</h2>',
            definition_list(_items(meta)),
            f"<footer>Generated by transfer {escape(__version__)}; report.md holds the same "
            "tables as text, sweep.csv every number.</footer>",
        ]
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def table_block(wide: pd.DataFrame) -> str:
    """A curve table (lines x values) as HTML."""
    return table(wide, index=True, corner=f"line, by {wide.columns.name}", classes="pivot")


def render_sweep_markdown(table: pd.DataFrame, meta: dict) -> str:
    """The sweep's Markdown report: the tables and links (the curve is in report.html)."""
    name = meta["sweep"]["name"]
    primary = meta["primary_metric"]
    title = meta.get("title") or meta.get("name") or "sweep"
    metrics = [primary] + [m for m in meta.get("metrics", []) if m != primary]
    parts = [f"# {text(title)}", ""]
    if meta.get("description"):
        parts += [text(meta["description"]), ""]
    parts += [
        f"Sweep over `{name}`: {len(meta['points'])} points. The curve is in report.html.",
        "",
    ]
    for metric in metrics:
        if f"{metric}_mean" not in table:
            continue
        wide = curve_frame(table, metric, name)
        parts += [
            f"## {text(metric)} (mean ± std over folds)",
            "",
            markdown_table(wide, index=True, corner=f"line, by {name}"),
            "",
        ]
    parts += ["## Points", ""]
    for p in meta["points"]:
        folder = p["folder"]
        parts.append(f"- [{text(Path(folder).name)}]({_point_href(folder, 'report.md')})")
    parts += ["", markdown_table(_points_frame(meta)), "", "## Sweep", "", kv_table(_items(meta))]
    parts.append("")
    return "\n".join(parts)


def point_folders(folder: str | os.PathLike) -> list[Path]:
    """The results folders of a sweep's points, in the order of its values (from ``sweep.json``)."""
    folder = Path(folder)
    path = folder / "sweep.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        return [folder / p["folder"] for p in meta["points"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a sweep's description ({exc})") from None


def build_sweep_report(folder: str | os.PathLike) -> dict[str, Path]:
    """Write a sweep folder's ``sweep.csv``, ``report.md`` and ``report.html``.

    Parameters
    ----------
    folder : str or path-like
        The sweep's results folder (``sweep.json`` and its points' folders).

    Returns
    -------
    dict of str to Path
        Keys ``"sweep_csv"``, ``"markdown"``, ``"html"``.

    Raises
    ------
    FileNotFoundError, ValueError
        Naming the missing or malformed file (``sweep.json``, a point's
        ``meta.json`` or ``results.csv``).
    """
    folder = Path(folder)
    frame, meta = sweep_table(folder)
    out = {
        "sweep_csv": folder / "sweep.csv",
        "markdown": folder / "report.md",
        "html": folder / "report.html",
    }
    numbers = frame.replace({np.inf: np.nan, -np.inf: np.nan})
    atomic_write_text(out["sweep_csv"], numbers.to_csv(index=False, lineterminator="\n"))
    atomic_write_text(out["markdown"], render_sweep_markdown(frame, meta))
    atomic_write_text(out["html"], render_sweep_html(frame, meta))
    return out
