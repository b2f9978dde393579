"""The report sections every run gets, whatever its protocol.

Each function is registered with ``always=True`` and returns None when the
results folder has nothing for it (no failed cell, no per-image predictions,
no head working on binary codes). What they show comes from ``meta.json``
and the CSV files, never from a protocol or head name: the protocol card
from ``meta["protocol"]`` (its ``description`` and resolved ``params``), the
binary-code table from the heads' tags.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from transfer.report.html import definition_list, escape, figure, plain, table
from transfer.report.markdown import fenced, kv_table, markdown_table, text
from transfer.report.sections import Section, metric_notes, register_section
from transfer.report.stats import format_p
from transfer.report.tables import (
    KINDS,
    best_cell,
    binary_code_table,
    display_extraction,
    display_summary,
    fit_time_pivot,
    format_duration,
    format_mean_std,
    format_value,
    group_by_kind,
    higher_is_better,
    most_confused_classes,
    pivot,
    worst_items,
    worst_pairs,
)

if TYPE_CHECKING:
    from transfer.report import Report

__all__: list[str] = []

_PIVOT_CORNER = "extractor \\ head"
#: Most classes drawn in the confusion matrix; above it, the most confused ones.
MAX_CONFUSION_CLASSES = 15


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
    tail = f"(mean ± std over {_folds_text(n)}; {len(report.summary)} cells compared)"
    return f"{p} = ", value, tail


def _in_unit_range(report: Report) -> bool:
    values = report.summary[f"{report.primary}_mean"].astype(float).dropna()
    return bool(len(values)) and values.min() >= 0.0 and values.max() <= 1.0


def _delta_text(report: Report, delta: float) -> str:
    """``"+1.2 points"`` (percentage points for metrics in [0, 1]), else metric units."""
    if _in_unit_range(report):
        return f"{'+' if delta >= 0 else '-'}{format_value(abs(delta) * 100, 1)} points"
    return f"{'+' if delta >= 0 else '-'}{format_value(abs(delta))}"


def _cell_value(report: Report, cell: tuple[str, str]) -> str:
    s = report.summary
    row = s[(s["extractor"] == cell[0]) & (s["head"] == cell[1])].iloc[0]
    p = report.primary
    return format_mean_std(row[f"{p}_mean"], row[f"{p}_std"])


def headline_text(report: Report) -> tuple[str, str] | None:
    """The headline: best learned vs best handcrafted, as (lead, detail) plain text.

    Parameters
    ----------
    report : Report
        A prepared report.

    Returns
    -------
    tuple of (str, str) or None
        ``("best learned vs best handcrafted: Δ = +1.2 points", "(paired
        t-test over 5 folds, p = 0.042): learned mobilenet + svm 0.990 ±
        0.010, handcrafted lbp + svm 0.978 ± 0.012")``; None when the run
        lacks one of the kinds.
    """
    comp = report.headline
    if comp is None:
        return None
    lead = f"Best learned vs best handcrafted: Δ = {_delta_text(report, comp.delta)}"
    test = comp.test.describe() if comp.test is not None else comp.reason
    direction = "" if higher_is_better(report.primary) else f"; lower {report.primary} is better"
    detail = (
        f"({test}{direction}): learned {comp.a[0]} + {comp.a[1]} {_cell_value(report, comp.a)}, "
        f"handcrafted {comp.b[0]} + {comp.b[1]} {_cell_value(report, comp.b)} "
        f"({report.primary}, {'one split' if report.n_folds == 1 else 'mean ± std over folds'})"
    )
    return lead, detail


def _kinds_missing_text(report: Report) -> str | None:
    present = {report.kinds.get(str(e)) for e in report.summary["extractor"]}
    if report.headline is not None or not len(report.summary):
        return None
    if present <= {None}:
        return "No extractor says whether it is learned or handcrafted: no comparison."
    only = sorted(k for k in present if k)
    return f"Every extractor is {' / '.join(only)}: no learned vs handcrafted comparison."


#: How the tables and the headline mark noise; printed on the page.
NOISE_RULE = (
    "Within noise of the best (highlighted, best mean in bold colour): every cell whose "
    "paired test against the best cell does not reject equality at p < 0.05: a paired "
    "t-test on the fold scores below 6 folds, a Wilcoxon signed-rank test from 6 folds on, "
    "and, for a single split, an exact McNemar test on the per-item outcomes "
    "(predictions.csv / scores.csv). Where no test is possible, cells whose mean lies "
    "within one standard deviation (over folds) of the best's. Cross-validation folds share "
    "training images, so these p-values are optimistic: read them as a guide to noise."
)


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
    callout = []
    headline = headline_text(report)
    if headline is not None:
        lead, detail = headline
        callout.append(
            f'<p class="headline"><strong class="delta">{escape(lead)}</strong> '
            f"{escape(detail)}</p>"
        )
        md += [f"**{text(lead)}** {text(detail)}", ""]
    else:
        missing = _kinds_missing_text(report)
        if missing:
            callout.append(f"<p>{escape(missing)}</p>")
            md += [text(missing), ""]
    if best is not None:
        row = report.best_row
        head, value, tail = best
        n_noise = len(report.noise) - 1
        noise = (
            f"{n_noise} other cell{'s' * (n_noise != 1)} within noise of it (marked in the "
            "tables; rule under the first table)"
            if n_noise > 0
            else "no other cell within noise of it"
        )
        kind = report.kinds.get(str(row["extractor"]))
        kind_text = f" ({kind})" if kind else ""
        callout.append(
            f"<p>Best cell: <strong>{escape(row['extractor'])}</strong>{escape(kind_text)} + "
            f"<strong>{escape(row['head'])}</strong>, {escape(head)}<strong>{escape(value)}"
            f"</strong> {escape(tail)}; {escape(noise)}.</p>"
        )
        md += [
            f"**Best cell:** {text(row['extractor'])}{kind_text} + {text(row['head'])}, "
            f"{head}{value} {tail}; {noise}.",
            "",
        ]
    if callout:
        html.append('<div class="callout">' + "".join(callout) + "</div>")
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


def _kind_classes(report: Report, labels: list[str]) -> dict[str, str]:
    return {
        label: f"kind-{report.kinds[label]}" for label in labels if report.kinds.get(label) in KINDS
    }


def _kind_pivot(report: Report, metric: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pivot of ``metric`` (strings and floats), rows grouped learned / handcrafted."""
    shown = pivot(report.summary, metric)
    values = pivot(report.summary, metric, formatted=False)
    order = group_by_kind([str(e) for e in shown.index], report.kinds)
    shown, values = shown.loc[order], values.loc[order]
    if any(report.kinds.get(e) for e in order):
        shown.insert(0, "kind", [report.kinds.get(e) or "" for e in order])
    return shown, values


def _vs_best(report: Report) -> list[str]:
    """The "vs best" column of the ranked table: best, ≈ (p = ...), or empty."""
    out = []
    for ext, head in zip(report.summary["extractor"], report.summary["head"], strict=True):
        cell = (str(ext), str(head))
        if cell not in report.noise:
            out.append("")
        elif report.noise[cell] is None:
            out.append("best")
        else:
            comp = report.noise[cell]
            out.append("≈ " + (format_p(comp.test.p) if comp.test else "within 1 std"))
    return out


@register_section("results", title="Results", order=20, always=True)
def results_section(report: Report) -> Section:
    """Mean ± std of every metric per extractor and head, and the ranked pairs."""
    html, md = [], []
    rows = [str(e) for e in dict.fromkeys(report.summary["extractor"].astype(str))]
    row_classes = _kind_classes(report, rows)
    for metric in report.metrics:
        shown, values = _kind_pivot(report, metric)
        best = best_cell(values, metric)
        noise: set = set()
        if metric == report.primary and report.best is not None:
            best = report.best
            noise = set(report.noise) - {best}
        notes = _generic_notes(report, metric) + metric_notes(report, metric)
        html.append(f"<h3>{escape(metric)}: extractor &times; head</h3>")
        html.append(
            table(
                shown,
                index=True,
                corner=_PIVOT_CORNER,
                classes="pivot",
                best=best,
                noise=noise,
                row_classes=row_classes,
            )
        )
        html.append(
            '<p class="note">Mean ± sample standard deviation (ddof=1) over folds, '
            "learned extractors first, then handcrafted (coloured bar: "
            '<span class="kind-tag-learned">learned</span> / '
            '<span class="kind-tag-handcrafted">handcrafted</span>); '
            "the highlighted cell is the best mean"
            + (", dashed cells are within noise of it" if noise else "")
            + ". A bare mean means a single fold.</p>"
        )
        if metric == report.primary:
            html.append(f'<p class="note">{escape(NOISE_RULE)}</p>')
        html += [f'<p class="note">{escape(note)}</p>' for note in notes]
        md += [f"### {metric}: extractor \N{MULTIPLICATION SIGN} head", ""]
        bold = [best, *sorted(noise)] if best is not None else None
        md.append(markdown_table(shown, index=True, corner=_PIVOT_CORNER, bold=bold))
        md += [
            "",
            "Mean ± sample std (ddof=1) over folds, learned extractors first; "
            + (
                "bold: the best mean and every cell within noise of it."
                if noise
                else "best mean in bold."
            ),
            "",
        ]
        if metric == report.primary:
            md += [NOISE_RULE, ""]
        for note in notes:
            md += [note, ""]
    plots: tuple[str, ...] = ()
    if report.with_figures:
        from transfer.report import plots as draw

        fig = draw.bar_chart(
            report.summary,
            report.primary,
            kinds=report.kinds,
            folds=report.fold_scores,
            noise=set(report.noise),
        )
        report.figures["bars"] = draw.figure_to_data_uri(fig)
    if "bars" in report.figures:
        plots = ("bar chart",)
    html.append(
        figure(
            report.figures.get("bars"),
            f"Bar chart of {report.primary} per extractor and head",
            f"{escape(report.primary)} per extractor (x; learned in blues, handcrafted in "
            "oranges, one shade per head) and head (bars); error bars are ± one standard "
            "deviation over folds, dots the single folds, a star the cells within noise of "
            "the best. The axis is fitted to the values: it does not start at 0.",
            "fig-bars",
        )
    )
    html.append('<h3 id="summary">All pairs, best first</h3>')
    ranked = display_summary(report.summary, report.metrics)
    ranked.insert(2, "kind", [report.kinds.get(str(e)) or "" for e in report.summary["extractor"]])
    if report.noise:
        ranked.insert(4, "vs best", _vs_best(report))
    best_row = (0, report.primary) if report.best is not None and len(ranked) else None
    ranked_classes = {
        i: f"kind-{report.kinds.get(str(e))}"
        for i, e in enumerate(report.summary["extractor"])
        if report.kinds.get(str(e)) in KINDS
    }
    html.append(table(ranked, classes="summary", best=best_row, row_classes=ranked_classes))
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
    order = group_by_kind([str(e) for e in codes.index], report.kinds)
    codes, values = codes.loc[order], values.loc[order]
    best = best_cell(values, report.primary)
    rows = _kind_classes(report, order)
    html = table(
        codes, index=True, corner="extractor", classes="pivot", best=best, row_classes=rows
    ) + (
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

    shown = np.arange(n)
    subset = ""
    if n > MAX_CONFUSION_CLASSES:
        shown = most_confused_classes(cm, MAX_CONFUSION_CLASSES)
        subset = (
            f" Only the {MAX_CONFUSION_CLASSES} of {n} classes with the most errors (images "
            "of the class misread plus images misread as it) are drawn, most first."
        )
    if report.with_figures:
        from transfer.report import plots as draw

        pred = report.folder.predictions
        best = report.best
        mask = (pred["extractor"] == best[0]) & (pred["head"] == best[1])
        n_folds = int(pred.loc[mask, "fold"].nunique()) if "fold" in pred else 1
        title = f"{best[0]} + {best[1]} (summed over {_folds_text(n_folds)})"
        sub = cm[np.ix_(shown, shown)]
        sub_names = [name(int(i)) for i in shown]
        report.figures["confusion"] = draw.figure_to_data_uri(
            draw.confusion_plot(sub, sub_names, title)
        )
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
    caption = (
        f"Rows: true class; columns: predicted class; {total} predictions summed over folds, "
        f"{format_value(acc)} on the diagonal.{subset}"
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
# Sample images after the transforms; the hardest test images / pairs
# ---------------------------------------------------------------------------

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
#: Most images of samples/ laid out in the strip.
MAX_SAMPLES = 12


def _data_uri(path: Path) -> str:
    mime = "image/png" if path.suffix.lower() == ".png" else "image/jpeg"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


@register_section("samples", title="Sample images", nav="Samples", order=15, always=True)
def samples_section(report: Report) -> Section | None:
    """A strip of sample images after the transforms: ``samples.png`` or ``samples/``."""
    folder = report.folder.path
    strip = folder / "samples.png"
    files: list[Path] = []
    if strip.is_file():
        files = [strip]
    elif (folder / "samples").is_dir():
        files = sorted(
            p for p in (folder / "samples").iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES
        )[:MAX_SAMPLES]
    if not files:
        return None
    transforms = ((report.meta.get("dataset") or {}).get("transforms")) or []
    steps = ", ".join(plain(t) for t in transforms) if transforms else "none"
    caption = f"Images as the extractors see them, after the transforms ({steps})."
    if len(files) == 1:
        body = figure(_data_uri(files[0]), "Sample images", escape(caption), "fig-samples")
    else:
        imgs = "".join(
            f'<figure class="sample"><img src="{escape(_data_uri(p))}" alt="{escape(p.name)}">'
            f"<figcaption>{escape(p.name)}</figcaption></figure>"
            for p in files
        )
        body = f'<div class="samples">{imgs}</div><p class="note">{escape(caption)}</p>'
    names = ", ".join(p.name for p in files)
    markdown = f"{text(caption)} In report.html; files: {text(names)}."
    return Section(html=body, markdown=markdown, plots=("sample images",))


@register_section("worst", title="Hardest test items", nav="Errors", order=75, always=True)
def worst_section(report: Report) -> Section | None:
    """The best cell's misclassified images, or its worst pairs, with their files."""
    if report.best is None:
        return None
    ext, head = report.best
    html, md = [], []
    pred = report.folder.predictions
    if pred is not None and {"y_true", "y_pred"} <= set(pred.columns) and len(pred):
        frame = worst_items(pred, ext, head)
        if len(frame):
            note = (
                f"Test images {ext} + {head} misclassified, hardest first: the folds of this "
                "cell that got the image wrong, then how many predictions of all the run's "
                "cells (every extractor x head x fold) got it wrong. Paths are relative to "
                "the dataset folder."
            )
            html += [table(frame, classes="worst"), f'<p class="note">{escape(note)}</p>']
            md += [markdown_table(frame), "", text(note)]
    scores = report.folder.scores
    needed = {"extractor", "head", "left", "right", "same", "score", "threshold"}
    if scores is not None and needed <= set(scores.columns) and len(scores):
        frame = worst_pairs(scores, ext, head)
        if len(frame):
            shown = frame.assign(
                score=[format_value(v) for v in frame["score"]],
                threshold=[format_value(v) for v in frame["threshold"]],
                margin=[format_value(v) for v in frame["margin"]],
            )
            note = (
                f"Test pairs {ext} + {head} got wrong, furthest past the threshold first "
                "(margin, in score units): same-identity pairs scored below it (false "
                "rejects) and different-identity pairs above it (false accepts)."
            )
            html += [table(shown, classes="worst"), f'<p class="note">{escape(note)}</p>']
            md += [markdown_table(shown), "", text(note)]
    if not html:
        return None
    return Section(html="".join(html), markdown="\n".join(md))


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
        by_row = {
            i: f"kind-{report.kinds.get(str(e))}"
            for i, e in enumerate(ext["extractor"])
            if report.kinds.get(str(e)) in KINDS
        }
        html += [table(display_extraction(ext), classes="extraction", row_classes=by_row)]
        html.append(f'<p class="note">{cache_note}</p>')
        md += [markdown_table(display_extraction(ext)), "", cache_note, ""]
    else:
        html.append('<p class="muted">No extraction.csv in the results folder.</p>')
        md += ["_No extraction.csv in the results folder._", ""]
    for what, column in (("fit", "fit_seconds_mean"), ("predict", "predict_seconds_mean")):
        heading = f"Head {what} time (seconds per fold, mean)"
        frame = fit_time_pivot(report.summary, column)
        order = group_by_kind([str(e) for e in frame.index], report.kinds)
        frame = frame.loc[order]
        rows = _kind_classes(report, order)
        html += [
            f"<h3>{heading}</h3>",
            table(frame, index=True, corner=_PIVOT_CORNER, row_classes=rows),
        ]
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
