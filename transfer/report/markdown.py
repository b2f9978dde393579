"""The text-only Markdown report (the same tables as the HTML page, no plots).

``pandas.DataFrame.to_markdown`` needs the optional ``tabulate`` package, so
this module has its own small GitHub-flavoured table formatter,
:func:`markdown_table`.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from transfer.report.html import verification_notes
from transfer.report.tables import (
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

__all__ = ["markdown_table", "render_markdown"]


def _cell(value: object) -> str:
    """One table cell: no newlines, pipes and backslashes escaped."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if not isinstance(value, str):
        value = json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value
    text = html.escape(str(value), quote=False).replace("\\", "\\\\").replace("|", "\\|")
    return re.sub(r"\s*[\r\n]+\s*", " ", text).strip()


def _is_numeric(text: str) -> bool:
    t = text.replace(",", "").replace(" ± ", "").replace(".", "").replace("-", "")
    return t.isdigit()


def markdown_table(
    frame: pd.DataFrame, index: bool = False, corner: str = "", bold: tuple | None = None
) -> str:
    """Format a frame as a GitHub-flavoured Markdown table.

    Parameters
    ----------
    frame : DataFrame
        The cells (any values; converted with ``str``).
    index : bool, default False
        Whether to write the index as the first column.
    corner : str, default ""
        Header of the index column.
    bold : tuple of (row label, column), optional
        A cell to write in bold (the best pair).

    Returns
    -------
    str
        The table, columns padded to equal width, numeric columns
        right-aligned; no trailing newline.
    """
    headers = ([corner] if index else []) + [str(c) for c in frame.columns]
    rows: list[list[str]] = []
    for label, row in frame.iterrows():
        cells = [_cell(label)] if index else []
        for col, value in row.items():
            text = _cell(value)
            if bold is not None and (label, col) == bold and text:
                text = f"**{text}**"
            cells.append(text)
        rows.append(cells)
    headers = [_cell(h) for h in headers]
    ncol = len(headers)
    widths = [max([3, len(headers[k])] + [len(r[k]) for r in rows]) for k in range(ncol)]
    right = [
        bool(rows)
        and all(_is_numeric(r[k].strip("*")) or r[k] == "" for r in rows)
        and any(r[k] for r in rows)
        and not (index and k == 0)
        for k in range(ncol)
    ]

    def line(cells: Sequence[str]) -> str:
        padded = [
            c.rjust(widths[k]) if right[k] else c.ljust(widths[k]) for k, c in enumerate(cells)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = "| " + " | ".join(
        ("-" * (widths[k] - 1) + ":") if right[k] else "-" * widths[k] for k in range(ncol)
    )
    out = [line(headers), rule + " |", *(line(r) for r in rows)]
    return "\n".join(out)


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _kv_table(items: Sequence[tuple[str, object]]) -> str:
    kept = [(k, v) for k, v in items if v is not None and v != ""]
    if not kept:
        return "_Not recorded._"
    frame = pd.DataFrame({"": [k for k, _ in kept], "value": [v for _, v in kept]})
    return markdown_table(frame.set_index(""), index=True, corner="")


def render_markdown(report: Report) -> str:
    """Render a prepared report as Markdown (tables only; the plots are in report.html).

    Parameters
    ----------
    report : Report
        Built by :func:`transfer.report.build_report`.

    Returns
    -------
    str
        The Markdown text.
    """
    meta = report.meta
    protocol = meta.get("protocol") or {}
    dataset = meta.get("dataset") or {}
    env = meta.get("environment") or {}
    title = meta.get("title") or meta.get("name") or "transfer report"
    out: list[str] = [f"# {_cell(title)}", ""]
    if meta.get("description"):
        out += [html.escape(str(meta["description"]).strip(), quote=False), ""]
    plots = ["bar chart"]
    if report.roc is not None:
        plots.append("ROC curves")
    if report.folder.scores is not None:
        plots.append("score histograms")
    if report.cmc is not None:
        plots.append("CMC curves")
    if report.confusion is not None:
        plots.append("confusion matrix")
    out += [f"Plots ({', '.join(plots)}) are in `report.html` next to this file.", ""]

    row = report.best_row
    if row is not None:
        p = report.primary
        n = int(row["n_folds"])
        out += [
            f"**Best pair:** {_cell(row['extractor'])} + {_cell(row['head'])}, "
            f"{p} = {format_mean_std(row[f'{p}_mean'], row[f'{p}_std'])} "
            f"(mean ± std over {n} fold{'s' * (n != 1)}; {len(report.summary)} pairs compared)",
            "",
        ]

    transforms = dataset.get("transforms") or []
    out += ["## Dataset", ""]
    out.append(
        _kv_table(
            [
                ("name", dataset.get("name")),
                ("images", dataset.get("n_images")),
                ("classes", dataset.get("n_classes")),
                (
                    "transforms",
                    ", ".join(
                        t if isinstance(t, str) else json.dumps(t, sort_keys=True)
                        for t in transforms
                    )
                    or "none",
                ),
            ]
        )
    )
    out += ["", "## Protocol", ""]
    params = protocol.get("params") or {}
    out.append(
        _kv_table(
            [
                ("name", protocol.get("name")),
                *[(str(k), v) for k, v in params.items()],
                ("metrics", ", ".join(report.metrics)),
                ("primary metric", report.primary),
            ]
        )
    )

    out += ["", "## Results", ""]
    for metric in report.metrics:
        table = pivot(report.summary, metric)
        values = pivot(report.summary, metric, formatted=False)
        bold = None
        stacked = values.stack()
        if len(stacked.dropna()):
            bold = stacked.idxmax() if higher_is_better(metric) else stacked.idxmin()
        out += [f"### {metric}: extractor \N{MULTIPLICATION SIGN} head", ""]
        out.append(markdown_table(table, index=True, corner="extractor \\ head", bold=bold))
        out += ["", "Mean ± sample std (ddof=1) over folds; best mean in bold.", ""]
        for note in verification_notes(report, metric):
            out += [note, ""]
    out += ["### All pairs, best first", ""]
    out.append(markdown_table(display_summary(report.summary, report.metrics)))

    codes = report.binary_codes
    if codes is not None and codes.shape[1]:
        values = binary_code_table(
            report.summary, report.folder.heads_config, report.primary, formatted=False
        )
        stacked = values.stack()
        bold = None
        if len(stacked.dropna()):
            bold = stacked.idxmax() if higher_is_better(report.primary) else stacked.idxmin()
        out += ["", "## Real-valued vs binary codes", ""]
        out.append(markdown_table(codes, index=True, corner="extractor", bold=bold))
        out += [
            "",
            f"{report.primary} (mean ± std over folds) of a Joint Bayesian model on the "
            "real-valued features, a Joint Bayesian model on the binarised features and the "
            "Hamming distance between the binary codes, as compared by Sun, Wang and Tang, "
            '"Deeply learned face representations are sparse, selective, and robust" '
            "(DeepID2+), CVPR 2015. Heads are recognised from the recipe (`joint_bayesian` "
            "with `binarize` null or set; `hamming_verifier`); thresholds are chosen on the "
            "training pairs.",
        ]

    out += ["", "## Timing", "", "### Feature extraction", ""]
    ext = report.folder.extraction
    if ext is not None and len(ext):
        out.append(markdown_table(display_extraction(ext)))
        out += ["", "For features loaded from the cache, seconds is the load time.", ""]
    else:
        out += ["_No extraction.csv in the results folder._", ""]
    out += ["### Head fit time (seconds per fold, mean)", ""]
    out.append(markdown_table(fit_time_pivot(report.summary), index=True, corner="extractor"))
    out += ["", "### Head predict time (seconds per fold, mean)", ""]
    out.append(
        markdown_table(
            fit_time_pivot(report.summary, "predict_seconds_mean"), index=True, corner="extractor"
        )
    )

    out += ["", "## Environment", ""]
    known = {"python", "platform", "cpu_count", "packages"}
    out.append(
        _kv_table(
            [
                ("seed", meta.get("seed")),
                ("started", meta.get("started")),
                ("finished", meta.get("finished")),
                ("duration", format_duration(meta.get("duration_seconds"))),
                ("python", env.get("python")),
                ("platform", env.get("platform")),
                ("CPU cores", env.get("cpu_count")),
                *[(k, v) for k, v in env.items() if k not in known],
            ]
        )
    )
    packages = env.get("packages") or {}
    if packages:
        out += ["", "### Packages", ""]
        out.append(_kv_table([(str(k), v) for k, v in packages.items()]))

    recipe = report.folder.recipe_text
    out += ["", "## Recipe", ""]
    if recipe is None:
        out += ["_No recipe.yaml in the results folder._", ""]
    else:
        fence = _fence(recipe)
        out += [
            "<details><summary>recipe.yaml (resolved)</summary>",
            "",
            f"{fence}yaml",
            recipe.rstrip("\n"),
            fence,
            "",
            "</details>",
            "",
        ]
    return "\n".join(out).rstrip("\n") + "\n"
