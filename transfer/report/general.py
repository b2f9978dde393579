"""The report sections every run gets, whatever its protocol.

Each function is registered with ``always=True`` and returns None when the
results folder has nothing for it (no failed cell, no per-image predictions,
no head working on binary codes). What they show comes from ``meta.json``
and the CSV files, never from a protocol or head name: the protocol card
from ``meta["protocol"]`` (its ``description`` and resolved ``params``), the
binary-code table from the heads' tags.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from transfer.report.html import definition_list, escape, figure, plain, table
from transfer.report.markdown import fenced, kv_table, markdown_table, text
from transfer.report.sections import Section, metric_notes, register_section
from transfer.report.tables import (
    best_cell,
    binary_code_table,
    display_extraction,
    display_summary,
    fit_time_pivot,
    format_duration,
    format_mean_std,
    higher_is_better,
    pivot,
)

if TYPE_CHECKING:
    from transfer.report import Report

__all__: list[str] = []

_PIVOT_CORNER = "extractor \\ head"


def _folds_text(n: int) -> str:
    return f"{n} fold{'s' * (n != 1)}"


# ---------------------------------------------------------------------------
# Failed cells: a warning box above everything else
# ---------------------------------------------------------------------------


@register_section("failed", title=None, order=5, always=True)
def failed_section(report: Report) -> Section | None:
    """The cells (extractor, head, fold) that failed, with their errors."""
    failed = report.failed
    if failed is None or not len(failed):
        return None
    n_cells = len(report.folder.results)
    n = len(failed)
    headline = (
        f"{n} of {n_cells} cell{'s' * (n_cells != 1)} failed; "
        f"{'they are' if n != 1 else 'it is'} left out of every mean."
    )
    frame = failed.assign(fold=[plain(f) for f in failed["fold"]])
    html = (
        '<div class="warning" id="failed" role="alert">'
        f"<h2>Failed cells</h2><p>{escape(headline)}</p>"
        f"{table(frame, classes='failed')}</div>"
    )
    markdown = "\n".join(
        [
            "## Failed cells",
            "",
            f"> **Warning:** {text(headline)}",
            "",
            markdown_table(frame),
        ]
    )
    return Section(html=html, markdown=markdown)


# ---------------------------------------------------------------------------
# Overview: best pair, dataset, protocol, components
# ---------------------------------------------------------------------------


def _best_pair_text(report: Report) -> tuple[str, str, str] | None:
    row = report.best_row
    if row is None:
        return None
    p = report.primary
    n = int(row["n_folds"])
    value = format_mean_std(row[f"{p}_mean"], row[f"{p}_std"])
    tail = f"(mean ± std over {_folds_text(n)}; {len(report.summary)} pairs compared)"
    return f"{p} = ", value, tail


def _dataset_items(report: Report) -> list[tuple[str, object]]:
    dataset = report.meta.get("dataset") or {}
    transforms = dataset.get("transforms") or []
    n_names = len(dataset.get("class_names") or [])
    items: list[tuple[str, object]] = [
        ("name", dataset.get("name")),
        ("images", dataset.get("n_images")),
        ("classes", dataset.get("n_classes") or (n_names or None)),
    ]
    split = dataset.get("split_counts")
    if isinstance(split, dict):
        items += [(f"{k} images", v) for k, v in split.items()]
    items.append(("transforms", ", ".join(plain(t) for t in transforms) if transforms else "none"))
    return items


def _protocol_items(report: Report) -> list[tuple[str, object]]:
    protocol = report.folder.protocol
    params = protocol.get("params") or {}
    return [
        ("name", protocol.get("name")),
        *[(str(k), v) for k, v in params.items()],
        ("folds", protocol.get("n_folds")),
        ("metrics", ", ".join(report.metrics)),
        ("primary metric", report.primary),
    ]


def _component_items(components: dict[str, dict]) -> list[tuple[str, object]]:
    items = []
    for label, entry in components.items():
        entry = entry if isinstance(entry, dict) else {}
        name = entry.get("name") or label
        kind = (entry.get("tags") or {}).get("kind")
        params = entry.get("params") or {}
        value = str(name) + (f" ({kind})" if kind else "")
        if params:
            value += " " + plain(params)
        items.append((str(label), value))
    return items


@register_section("overview", title=None, order=10, always=True)
def overview_section(report: Report) -> Section:
    """The best pair, then cards for the dataset, the protocol and the components."""
    best = _best_pair_text(report)
    html, md = [], []
    if best is not None:
        row = report.best_row
        head, value, tail = best
        html.append(
            '<div class="callout">Best pair: '
            f"<strong>{escape(row['extractor'])}</strong> + <strong>{escape(row['head'])}"
            f"</strong>, {escape(head)}<strong>{escape(value)}</strong> {escape(tail)}</div>"
        )
        md += [
            f"**Best pair:** {text(row['extractor'])} + {text(row['head'])}, {head}{value} {tail}",
            "",
        ]
    description = report.folder.protocol.get("description")
    proto_html = f'<p class="description">{escape(description)}</p>' if description else ""
    cards = [
        f'<div class="card"><h3>Dataset</h3>{definition_list(_dataset_items(report))}</div>',
        '<div class="card"><h3>Protocol</h3>'
        f"{proto_html}{definition_list(_protocol_items(report))}</div>",
    ]
    md += ["## Dataset", "", kv_table(_dataset_items(report)), "", "## Protocol", ""]
    if description:
        md += [text(description), ""]
    md += [kv_table(_protocol_items(report))]
    parts = [
        ("Extractors", _component_items(report.folder.extractors)),
        ("Heads", _component_items(report.folder.heads)),
    ]
    for title, items in parts:
        if items:
            cards.append(f'<div class="card"><h3>{title}</h3>{definition_list(items)}</div>')
            md += ["", f"## {title}", "", kv_table(items)]
    html.append('<div class="cards">' + "".join(cards) + "</div>")
    return Section(html="".join(html), markdown="\n".join(md))


# ---------------------------------------------------------------------------
# Results: one extractor x head table per metric, the bar chart, all pairs
# ---------------------------------------------------------------------------


def _generic_notes(report: Report, metric: str) -> list[str]:
    notes = []
    if not higher_is_better(metric):
        notes.append("Lower is better: the lowest mean is highlighted.")
    if metric == report.primary and report.n_folds == 1:
        notes.append("One fold: each cell is a single value, with no spread.")
    return notes


@register_section("results", title="Results", order=20, always=True)
def results_section(report: Report) -> Section:
    """Mean ± std of every metric per extractor and head, and the ranked pairs."""
    html, md = [], []
    for metric in report.metrics:
        shown = pivot(report.summary, metric)
        best = best_cell(pivot(report.summary, metric, formatted=False), metric)
        notes = _generic_notes(report, metric) + metric_notes(report, metric)
        html.append(f"<h3>{escape(metric)}: extractor &times; head</h3>")
        html.append(table(shown, index=True, corner=_PIVOT_CORNER, classes="pivot", best=best))
        html.append(
            '<p class="note">Mean ± sample standard deviation (ddof=1) over folds; '
            "the highlighted cell is the best mean. A bare mean means a single fold.</p>"
        )
        html += [f'<p class="note">{escape(note)}</p>' for note in notes]
        md += [f"### {metric}: extractor \N{MULTIPLICATION SIGN} head", ""]
        md.append(markdown_table(shown, index=True, corner=_PIVOT_CORNER, bold=best))
        md += ["", "Mean ± sample std (ddof=1) over folds; best mean in bold.", ""]
        for note in notes:
            md += [note, ""]
    plots: tuple[str, ...] = ()
    if report.with_figures:
        from transfer.report import plots as draw

        fig = draw.bar_chart(report.summary, report.primary)
        report.figures["bars"] = draw.figure_to_data_uri(fig)
    if "bars" in report.figures:
        plots = ("bar chart",)
    html.append(
        figure(
            report.figures.get("bars"),
            f"Bar chart of {report.primary} per extractor and head",
            f"{escape(report.primary)} per extractor (x) and head (bars); "
            "error bars are ± one standard deviation over folds.",
            "fig-bars",
        )
    )
    html.append('<h3 id="summary">All pairs, best first</h3>')
    ranked = display_summary(report.summary, report.metrics)
    best_row = (0, report.primary) if report.best is not None and len(ranked) else None
    html.append(table(ranked, classes="summary", best=best_row))
    md += ["### All pairs, best first", "", markdown_table(ranked)]
    return Section(html="".join(html), markdown="\n".join(md), plots=plots)


# ---------------------------------------------------------------------------
# Binary codes: heads tagged binary_codes / binary_code_column
# ---------------------------------------------------------------------------

_BINARY_NOTE = (
    "{metric} (mean ± std over folds) per extractor for each head, placed in the "
    "column its binary_code_column tag names: models on the real-valued features "
    "beside models on the binarised features and the Hamming distance between "
    "binary codes, as compared by Sun, Wang and Tang, {quote}Deeply learned face "
    "representations are sparse, selective, and robust{unquote} (DeepID2+), CVPR 2015."
)


@register_section(
    "binary", title="Real-valued vs binary codes", nav="Binary codes", order=30, always=True
)
def binary_codes_section(report: Report) -> Section | None:
    """The DeepID2+ real-vs-binary table, when some head's tags say it uses binary codes."""
    codes = report.binary_codes
    if codes is None or not codes.shape[1]:
        return None
    values = binary_code_table(report.summary, report.folder.heads, report.primary, formatted=False)
    best = best_cell(values, report.primary)
    html = table(codes, index=True, corner="extractor", classes="pivot", best=best) + (
        '<p class="note">'
        + _BINARY_NOTE.format(
            metric=escape(report.primary), quote="&ldquo;", unquote="&rdquo;"
        ).replace("binary_code_column", "<code>binary_code_column</code>")
        + "</p>"
    )
    markdown = "\n".join(
        [
            markdown_table(codes, index=True, corner="extractor", bold=best),
            "",
            _BINARY_NOTE.format(metric=report.primary, quote='"', unquote='"').replace(
                "binary_code_column", "`binary_code_column`"
            ),
        ]
    )
    return Section(html=html, markdown=markdown)


# ---------------------------------------------------------------------------
# Confusion matrix: per-image predictions with y_true / y_pred
# ---------------------------------------------------------------------------


def _class_names(report: Report, n: int) -> list[str] | None:
    names = report.folder.class_names
    if len(names) == n:
        return names
    # Older meta.json files may lack class_names; predictions.csv names the classes too.
    pred = report.folder.predictions
    found: dict[int, str] = {}
    if pred is not None:
        for idx, name in (("y_true", "true_name"), ("y_pred", "pred_name")):
            if {idx, name} <= set(pred.columns):
                pairs = pred[[idx, name]].dropna().drop_duplicates(idx)
                found.update({int(i): str(v) for i, v in zip(pairs[idx], pairs[name], strict=True)})
    if found and set(found) == set(range(n)):
        return [found[i] for i in range(n)]
    return None


@register_section(
    "confusion",
    title="Confusion matrix of the best pair",
    nav="Confusion matrix",
    order=70,
    always=True,
)
def confusion_section(report: Report) -> Section | None:
    """The best pair's confusion matrix summed over folds, and its top confusions."""
    if report.confusion is None or report.best is None:
        return None
    cm = report.confusion
    n = cm.shape[0]
    names = _class_names(report, n)

    def name(i: int) -> str:
        return names[i] if names is not None else str(i)

    if report.with_figures:
        from transfer.report import plots as draw

        pred = report.folder.predictions
        best = report.best
        mask = (pred["extractor"] == best[0]) & (pred["head"] == best[1])
        n_folds = int(pred.loc[mask, "fold"].nunique()) if "fold" in pred else 1
        title = f"{best[0]} + {best[1]} (summed over {_folds_text(n_folds)})"
        report.figures["confusion"] = draw.figure_to_data_uri(draw.confusion_plot(cm, names, title))
    total = int(cm.sum())
    acc = float(np.trace(cm)) / total if total else float("nan")
    off = cm.copy()
    np.fill_diagonal(off, 0)
    flat = np.argsort(-off, axis=None, kind="stable")[:5]
    confused = [
        f"{name(i)} → {name(j)} ({int(off[i, j])})"
        for i, j in (np.unravel_index(k, off.shape) for k in flat)
        if off[i, j] > 0
    ]
    labels = "" if n <= 50 else " Class labels are omitted above 50 classes."
    caption = (
        f"Rows: true class; columns: predicted class; {total} predictions summed over folds, "
        f"{acc:.3f} on the diagonal.{labels}"
    )
    html = [
        f"<p><strong>{escape(report.best[0])}</strong> + "
        f"<strong>{escape(report.best[1])}</strong></p>",
        figure(report.figures.get("confusion"), "Confusion matrix", caption, "fig-confusion"),
    ]
    if confused:
        html.append(
            '<p class="note">Most frequent confusions (true → predicted, count): '
            + "; ".join(escape(c) for c in confused)
            + ".</p>"
        )
    return Section(html="".join(html), plots=("confusion matrix",))


# ---------------------------------------------------------------------------
# Timing, environment and provenance, recipe
# ---------------------------------------------------------------------------


@register_section("timing", title="Timing", order=80, always=True)
def timing_section(report: Report) -> Section:
    """Feature extraction times and mean head fit / predict times."""
    html, md = ["<h3>Feature extraction</h3>"], ["### Feature extraction", ""]
    ext = report.folder.extraction
    cache_note = "For features loaded from the cache, seconds is the load time."
    if ext is not None and len(ext):
        html += [table(display_extraction(ext), classes="extraction")]
        html.append(f'<p class="note">{cache_note}</p>')
        md += [markdown_table(display_extraction(ext)), "", cache_note, ""]
    else:
        html.append('<p class="muted">No extraction.csv in the results folder.</p>')
        md += ["_No extraction.csv in the results folder._", ""]
    for what, column in (("fit", "fit_seconds_mean"), ("predict", "predict_seconds_mean")):
        heading = f"Head {what} time (seconds per fold, mean)"
        frame = fit_time_pivot(report.summary, column)
        html += [f"<h3>{heading}</h3>", table(frame, index=True, corner=_PIVOT_CORNER)]
        md += [f"### {heading}", "", markdown_table(frame, index=True, corner="extractor"), ""]
    return Section(html="".join(html), markdown="\n".join(md))


def _cells_text(cells: object) -> str | None:
    if not isinstance(cells, dict):
        return None if cells is None else plain(cells)
    total = cells.get("total")
    rest = ", ".join(f"{cells[k]} {k}" for k in ("computed", "cached", "failed") if k in cells)
    if total is None:
        return rest or None
    return f"{total} total" + (f" ({rest})" if rest else "")


@register_section(
    "environment", title="Environment and provenance", nav="Environment", order=90, always=True
)
def environment_section(report: Report) -> Section:
    """Seed, times, command, version, commit, cells, machine, packages and weights."""
    meta = report.meta
    env = meta.get("environment") or {}
    items = [
        ("seed", meta.get("seed")),
        ("started", meta.get("started")),
        ("finished", meta.get("finished")),
        ("duration", format_duration(meta.get("duration_seconds"))),
        ("command", meta.get("command")),
        ("transfer version", meta.get("version")),
        ("git commit", meta.get("git_commit")),
        ("cells", _cells_text(meta.get("cells"))),
        ("results folder", report.results_dir),
        ("python", env.get("python")),
        ("platform", env.get("platform")),
        ("CPU cores", env.get("cpu_count")),
    ]
    known = {"python", "platform", "cpu_count", "packages"}
    items += [(k, v) for k, v in env.items() if k not in known]
    html, md = [definition_list(items)], [kv_table(items)]
    packages = env.get("packages") or {}
    if packages:
        frame = pd.DataFrame(
            {
                "package": [str(k) for k in packages],
                "version": [plain(v) for v in packages.values()],
            }
        )
        html += ["<h3>Packages</h3>", table(frame, classes="packages")]
        md += ["", "### Packages", "", kv_table([(str(k), v) for k, v in packages.items()])]
    weights = meta.get("weights") or {}
    if weights and not isinstance(weights, dict):
        weights = {plain(weights): ""}
    if weights:
        frame = pd.DataFrame(
            {"weights": [str(k) for k in weights], "sha256": [plain(v) for v in weights.values()]}
        )
        html += ["<h3>Weights</h3>", table(frame, classes="weights")]
        md += ["", "### Weights", "", markdown_table(frame)]
    return Section(html="".join(html), markdown="\n".join(md))


@register_section("recipe", title="Recipe", order=100, always=True)
def recipe_section(report: Report) -> Section:
    """The resolved recipe.yaml, verbatim, folded."""
    recipe = report.folder.recipe_text
    if recipe is None:
        return Section(
            html='<p class="muted">No recipe.yaml in the results folder.</p>',
            markdown="_No recipe.yaml in the results folder._",
        )
    html = (
        "<details><summary>recipe.yaml (resolved)</summary>"
        f"<pre><code>{escape(recipe)}</code></pre></details>"
    )
    markdown = "\n".join(
        [
            "<details><summary>recipe.yaml (resolved)</summary>",
            "",
            fenced(recipe, "yaml"),
            "",
            "</details>",
        ]
    )
    return Section(html=html, markdown=markdown)
