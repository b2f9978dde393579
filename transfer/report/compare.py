"""Several results folders side by side: ``transfer compare RUN_A RUN_B ...``.

One page (HTML and Markdown) with one row per extractor x head found in any
run (learned extractors first, then handcrafted), one column per run with
its mean ± std of the metric, and the difference of every later run from
the first, in points. Above the table, each run's headline (best learned vs
best handcrafted, with its paired test) and what it ran. The cells within
noise of each run's best are marked as in that run's own report.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from transfer._io import atomic_write_text
from transfer.report.tables import KINDS, PAIR, format_mean_std, format_value

__all__ = [
    "RunComparison",
    "compare_runs",
    "render_compare_html",
    "render_compare_markdown",
    "write_comparison",
]


@dataclass
class RunComparison:
    """Results folders compared on one metric.

    Attributes
    ----------
    labels : list of str
        A short, unique name per run (its folder name, with parent folders
        added until the names differ).
    paths : list of Path
        The folders.
    metric : str
        The metric compared.
    means : DataFrame
        Float means: index ``(extractor, head)``, one column per run label
        (NaN where a run lacks the cell).
    table : DataFrame
        The page's table as strings: ``extractor``, ``kind``, ``head``, one
        column per run (mean ± std), then ``Δ <run> - <first run>`` per later run.
    marked : dict
        Run label -> the cells within noise of that run's best (best included).
    headlines : dict
        Run label -> its headline text (see
        :func:`transfer.report.general.headline_text`), or a sentence why none.
    runs : list of dict
        Per run: label, folder, name, dataset, protocol, folds, primary metric, finished.
    """

    labels: list[str]
    paths: list[Path]
    metric: str
    means: pd.DataFrame
    table: pd.DataFrame
    marked: dict[str, set] = field(default_factory=dict)
    headlines: dict[str, str] = field(default_factory=dict)
    runs: list[dict] = field(default_factory=list)


def _labels(paths: Sequence[Path]) -> list[str]:
    """Folder names, lengthened with parent folders until different folders differ."""
    parts = [p.resolve().parts for p in paths]
    distinct = set(parts)
    depth = 1
    while depth < max(len(pp) for pp in parts):
        if len({"/".join(pp[-depth:]) for pp in distinct}) == len(distinct):
            break
        depth += 1
    labels = ["/".join(pp[-depth:]) for pp in parts]
    if len(set(labels)) < len(labels):  # the same folder more than once
        labels = [f"{label} ({i + 1})" for i, label in enumerate(labels)]
    return labels


def _delta(value: float, unit: bool) -> str:
    if value is None or not np.isfinite(value):
        return ""
    text = format_value(abs(value) * (100 if unit else 1), 1 if unit else 3)
    if float(text) == 0:
        return text  # no sign on a difference that rounds to zero
    return f"{'+' if value > 0 else '-'}{text}"


def compare_runs(
    results_dirs: Sequence[str | os.PathLike], metric: str | None = None
) -> RunComparison:
    """Put several results folders side by side.

    Parameters
    ----------
    results_dirs : sequence of str or path-like
        Two or more folders written by ``transfer run`` (one is allowed: a
        table of that run alone).
    metric : str, optional
        The metric to compare; default: the first run's primary metric.

    Returns
    -------
    RunComparison

    Raises
    ------
    FileNotFoundError
        When a folder does not exist or is not a results folder (no
        ``meta.json`` / ``results.csv``); the message names it.
    ValueError
        When no folder is given, or a run lacks the metric (naming the run
        and the metrics it has).
    """
    from transfer.report import _prepare, load_results
    from transfer.report.general import headline_text

    if not results_dirs:
        raise ValueError("compare needs at least one results folder")
    paths = [Path(p) for p in results_dirs]
    folders = []
    for path in paths:
        try:
            folders.append(load_results(path))
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"{str(path)!r} is not a results folder: {exc}") from None
    metric = metric or folders[0].primary_metric
    for folder in folders:
        if metric not in folder.metrics:
            raise ValueError(
                f"results folder {str(folder.path)!r} has no metric {metric!r}; "
                f"it has {folder.metrics}"
            )
    labels = _labels(paths)
    reports = []
    for folder in folders:
        if folder.primary_metric != metric:  # rank and mark on the compared metric
            folder.meta = {
                **folder.meta,
                "protocol": {**folder.protocol, "primary_metric": metric},
            }
        reports.append(_prepare(folder, with_figures=False))

    kinds: dict[str, str | None] = {}
    for report in reports:
        for label, kind in report.kinds.items():
            kinds.setdefault(label, kind)
    means, stds = {}, {}
    for label, report in zip(labels, reports, strict=True):
        s = report.summary.set_index(PAIR)
        means[label] = s[f"{metric}_mean"].astype(float)
        stds[label] = s[f"{metric}_std"].astype(float)
    mean_frame = pd.DataFrame(means)
    std_frame = pd.DataFrame(stds).reindex(mean_frame.index)
    # rows: learned first, then handcrafted, then untagged; within a kind, the first
    # run's best first, cells the first run lacks after it in their order of appearance
    kind_rank = {k: i for i, k in enumerate(KINDS)}
    order = sorted(
        range(len(mean_frame)),
        key=lambda i: (
            kind_rank.get(kinds.get(str(mean_frame.index[i][0])) or "", len(KINDS)),
            np.isnan(mean_frame.iloc[i, 0]),
            -(mean_frame.iloc[i, 0] if np.isfinite(mean_frame.iloc[i, 0]) else 0.0),
            i,
        ),
    )
    mean_frame, std_frame = mean_frame.iloc[order], std_frame.iloc[order]
    values = pd.concat([mean_frame.stack(), std_frame.stack()]).dropna()
    unit = bool(len(values)) and values.min() >= 0 and values.max() <= 1
    table = pd.DataFrame(
        {
            "extractor": [str(e) for e, _ in mean_frame.index],
            "kind": [kinds.get(str(e)) or "" for e, _ in mean_frame.index],
            "head": [str(h) for _, h in mean_frame.index],
        }
    )
    for label in labels:
        table[label] = [
            format_mean_std(m, s) for m, s in zip(mean_frame[label], std_frame[label], strict=True)
        ]
    what = "points" if unit else metric
    for label in labels[1:]:
        diff = (mean_frame[label] - mean_frame[labels[0]]).to_numpy(float)
        table[f"Δ {label} - {labels[0]} ({what})"] = [_delta(d, unit) for d in diff]
    marked = {label: set(report.noise) for label, report in zip(labels, reports, strict=True)}
    headlines = {}
    runs = []
    for label, report in zip(labels, reports, strict=True):
        headline = headline_text(report)
        headlines[label] = (
            " ".join(headline) if headline else "no learned vs handcrafted comparison"
        )
        meta = report.meta
        runs.append(
            {
                "run": label,
                "folder": str(report.folder.path),
                "name": meta.get("name"),
                "dataset": (meta.get("dataset") or {}).get("name"),
                "protocol": report.folder.protocol.get("name"),
                "folds": report.n_folds,
                "primary metric": report.folder.primary_metric,
                "finished": meta.get("finished"),
            }
        )
    return RunComparison(
        labels=labels,
        paths=paths,
        metric=metric,
        means=mean_frame,
        table=table,
        marked=marked,
        headlines=headlines,
        runs=runs,
    )


def _marked_cells(cmp: RunComparison) -> list[tuple[int, str]]:
    """(row, run label) of every cell within noise of its run's best."""
    keys = list(zip(cmp.table["extractor"], cmp.table["head"], strict=True))
    return [
        (i, label) for label in cmp.labels for i, key in enumerate(keys) if key in cmp.marked[label]
    ]


def _intro(cmp: RunComparison) -> str:
    return (
        f"{cmp.metric} (mean ± std over folds) of every extractor x head in "
        f"{len(cmp.labels)} results folders; learned extractors first, then handcrafted. "
        "Δ: each later run minus the first. Marked: the best cell of each run and the "
        "cells within noise of it (its paired test against the best does not reject "
        "equality at p < 0.05; see each run's report)."
    )


def render_compare_markdown(cmp: RunComparison) -> str:
    """The comparison as Markdown.

    Parameters
    ----------
    cmp : RunComparison

    Returns
    -------
    str
        A title, one headline per run, the runs table and the comparison
        table (bold: cells within noise of their run's best).
    """
    from transfer.report.markdown import markdown_table, text

    out = [f"# Comparison of {len(cmp.labels)} runs: {text(cmp.metric)}", "", text(_intro(cmp)), ""]
    for label in cmp.labels:
        out += [f"- **{text(label)}**: {text(cmp.headlines[label])}"]
    out += ["", "## Runs", "", markdown_table(pd.DataFrame(cmp.runs)), ""]
    out += [f"## {text(cmp.metric)}", "", markdown_table(cmp.table, bold=_marked_cells(cmp))]
    return "\n".join(out) + "\n"


def render_compare_html(cmp: RunComparison) -> str:
    """The comparison as one self-contained HTML page (the report's styles, no scripts).

    Parameters
    ----------
    cmp : RunComparison

    Returns
    -------
    str
    """
    from transfer import __version__
    from transfer.report.html import CSP, CSS, escape, table

    kind_rows = {i: f"kind-{k}" for i, k in enumerate(cmp.table["kind"]) if k in KINDS}
    title = f"Comparison of {len(cmp.labels)} runs: {cmp.metric}"
    items = "".join(
        f"<li><strong>{escape(label)}</strong>: {escape(cmp.headlines[label])}</li>"
        for label in cmp.labels
    )
    body = "".join(
        [
            f"<header><h1>{escape(title)}</h1>",
            f'<p class="description">{escape(_intro(cmp))}</p></header>',
            f'<div class="callout"><ul>{items}</ul></div>',
            "<h2>Runs</h2>",
            table(pd.DataFrame(cmp.runs)),
            f"<h2>{escape(cmp.metric)}</h2>",
            table(cmp.table, classes="pivot", best=_marked_cells(cmp), row_classes=kind_rows),
            f"<footer>Generated by transfer {escape(__version__)} (transfer compare).</footer>",
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


def write_comparison(
    results_dirs: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    metric: str | None = None,
) -> dict[str, Path]:
    """Compare runs and write ``compare.html`` and ``compare.md`` into ``out_dir``.

    Parameters
    ----------
    results_dirs : sequence of str or path-like
        The results folders.
    out_dir : str or path-like
        Where to write (created if needed).
    metric : str, optional
        See :func:`compare_runs`.

    Returns
    -------
    dict of str to Path
        ``"html"`` and ``"markdown"``.
    """
    cmp = compare_runs(results_dirs, metric)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"html": out / "compare.html", "markdown": out / "compare.md"}
    atomic_write_text(paths["html"], render_compare_html(cmp))
    atomic_write_text(paths["markdown"], render_compare_markdown(cmp))
    return paths
