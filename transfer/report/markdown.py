"""The text-only Markdown report (the same tables as the HTML page, no plots).

The file is the title, then the Markdown of each section of
:mod:`transfer.report.sections` in order; the helpers here
(:func:`markdown_table`, :func:`kv_table`, :func:`text`, :func:`fenced`) are
what the sections write it with.

``pandas.DataFrame.to_markdown`` needs the optional ``tabulate`` package, so
this module has its own small GitHub-flavoured table formatter,
:func:`markdown_table`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from transfer.report import Report

__all__ = ["fenced", "kv_table", "markdown_table", "render_markdown", "text"]


# Only what Markdown would otherwise read as markup is escaped, with a backslash
# (CommonMark: any ASCII punctuation can be backslash-escaped), so that the
# file reads as plain text too: "AT&T" stays "AT&T" (an HTML escape would
# show "AT&amp;T" in a text editor), "extractor \ head" keeps one backslash.
_BACKSLASH = re.compile(r"\\(?=[!-/:-@\[-`{-~])")  # a backslash that would escape
_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")  # "&amp;" would show as "&"
_TAG = re.compile(r"<(?=[A-Za-z/!?])")  # "<b>", "</x>", "<!--" would be raw HTML


def _inline(value: object) -> str:
    """Text that Markdown shows as it is: markup characters backslash-escaped."""
    text = _BACKSLASH.sub(r"\\\\", str(value))
    return _TAG.sub(r"\\<", _ENTITY.sub(r"\\&", text))


def _cell(value: object) -> str:
    """One table cell: no newlines, pipes and Markdown markup escaped."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if not isinstance(value, str):
        value = json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value
    text = _inline(value).replace("|", "\\|")
    return re.sub(r"\s*[\r\n]+\s*", " ", text).strip()


def _is_numeric(text: str) -> bool:
    t = text.replace(",", "").replace(" ± ", "").replace(".", "").replace("-", "").replace("+", "")
    return t.isdigit()


def markdown_table(
    frame: pd.DataFrame,
    index: bool = False,
    corner: str = "",
    bold: tuple | Collection[tuple] | None = None,
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
    bold : tuple of (row label, column), or a collection of them, optional
        Cells to write in bold (the best cell and those within noise of it).

    Returns
    -------
    str
        The table, columns padded to equal width, numeric columns
        right-aligned; no trailing newline.
    """
    if bold is not None and isinstance(bold, tuple) and len(bold) == 2:
        if not isinstance(bold[0], tuple):
            bold = [bold]
    bolds = {tuple(c) for c in (bold or ())}
    headers = ([corner] if index else []) + [str(c) for c in frame.columns]
    rows: list[list[str]] = []
    for label, row in frame.iterrows():
        cells = [_cell(label)] if index else []
        for col, value in row.items():
            text = _cell(value)
            if (label, col) in bolds and text:
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


def text(value: object) -> str:
    """A paragraph of plain text for Markdown: markup escaped, surrounding space stripped.

    Parameters
    ----------
    value : object
        Converted with ``str``.

    Returns
    -------
    str
    """
    return _inline(str(value).strip())


def fenced(code: str, language: str = "") -> str:
    """``code`` in a fenced block whose fence is longer than any backtick run in it.

    Parameters
    ----------
    code : str
    language : str, default ""
        The info string (``"yaml"``).

    Returns
    -------
    str
    """
    fence = _fence(code)
    return f"{fence}{language}\n{code.rstrip(chr(10))}\n{fence}"


def kv_table(items: Sequence[tuple[str, object]]) -> str:
    """Key/value pairs as a two-column table; None and ``""`` values are left out.

    Parameters
    ----------
    items : sequence of (str, object)

    Returns
    -------
    str
        The table, or ``_Not recorded._`` when nothing is left.
    """
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
        The title and description, a line naming the plots of
        ``report.html``, then the Markdown of each section of
        :func:`transfer.report.sections.render_sections` that has some.
    """
    from transfer.report.sections import render_sections

    meta = report.meta
    title = meta.get("title") or meta.get("name") or report.results_dir or "transfer report"
    out: list[str] = [f"# {_cell(title)}", ""]
    if meta.get("description"):
        out += [text(meta["description"]), ""]
    sections = render_sections(report)
    plots = [name for _, section in sections for name in section.plots]
    if plots:
        out += [f"Plots ({', '.join(plots)}) are in `report.html` next to this file.", ""]
    for spec, section in sections:
        if not section.markdown:
            continue
        if spec.title:
            out += [f"## {_cell(spec.title)}", ""]
        out += [section.markdown.rstrip("\n"), ""]
    return "\n".join(out).rstrip("\n") + "\n"
