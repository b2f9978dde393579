"""The self-contained HTML page of a report, and the HTML helpers sections use.

One file, no external resources: inline CSS, no scripts, plots as PNG data
URIs. A Content-Security-Policy ``<meta>`` forbids any network fetch, so the
page opens offline and leaks nothing. Every piece of text from the results
folder goes through :func:`escape`. The page is the header, then the body of
each section of :mod:`transfer.report.sections` in order, then the footer.
"""

from __future__ import annotations

import html
import json
from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING

import pandas as pd

from transfer.report.tables import KIND_COLORS

if TYPE_CHECKING:
    from transfer.report import Report

__all__ = ["CSP", "CSS", "definition_list", "escape", "figure", "plain", "render_html", "table"]

#: The pages' Content-Security-Policy and style sheet (shared by every page the
#: toolkit writes: reports, sweeps, comparisons): no external resource loads.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

CSS = (
    """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg-alt: #f6f8fa;
        --accent: #0b5cad; --best: #d5f5dd; --best-line: #1a7f37; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff;
       font: 15px/1.5 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto,
             "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
header { border-bottom: 1px solid var(--line); margin-bottom: 8px; padding-bottom: 12px; }
h1 { font-size: 1.9em; margin: 0 0 4px; }
h2 { font-size: 1.35em; margin: 36px 0 10px; padding-bottom: 4px;
     border-bottom: 1px solid var(--line); }
h3 { font-size: 1.08em; margin: 22px 0 8px; }
p { margin: 6px 0; }
.description { font-size: 1.05em; max-width: 75ch; }
.muted, figcaption, .note { color: var(--muted); font-size: 0.9em; }
nav { margin: 10px 0 0; font-size: 0.92em; }
nav a { color: var(--accent); text-decoration: none; margin-right: 14px; }
nav a:hover { text-decoration: underline; }
.callout { border-left: 4px solid var(--best-line); background: #f0fbf3;
           padding: 10px 16px; margin: 18px 0; font-size: 1.05em; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr));
         gap: 16px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 16px; }
.card h3 { margin-top: 4px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
.table-wrap { overflow-x: auto; margin: 8px 0 4px; }
table { border-collapse: collapse; font-size: 0.92em; }
th, td { border: 1px solid var(--line); padding: 4px 10px; text-align: left;
         white-space: nowrap; }
thead th { background: var(--bg-alt); }
tbody tr:nth-child(even) td { background: #fbfcfd; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th.rowhead { background: var(--bg-alt); font-weight: 600; }
table.pivot td { text-align: center; font-variant-numeric: tabular-nums; min-width: 9em; }
table.pivot td.best, table td.best { background: var(--best) !important;
         font-weight: 700; outline: 2px solid var(--best-line); outline-offset: -2px; }
figure { margin: 14px 0 6px; }
figure img { display: block; max-width: 100%; height: auto;
             border: 1px solid var(--line); border-radius: 4px; }
details { border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; }
summary { cursor: pointer; font-weight: 600; }
pre { background: var(--bg-alt); padding: 10px 12px; overflow-x: auto; font-size: 0.85em;
      font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
       font-size: 0.92em; }
footer { margin-top: 40px; color: var(--muted); font-size: 0.85em;
         border-top: 1px solid var(--line); padding-top: 8px; }
.warning { border-left: 4px solid #cf222e; background: #fff5f5; padding: 10px 16px;
           margin: 18px 0; }
.warning h2 { margin: 0 0 6px; border: 0; font-size: 1.15em; color: #a40e26; }
.warning td { white-space: normal; }
.headline { font-size: 1.12em; }
.samples { display: flex; flex-wrap: wrap; gap: 8px; margin: 10px 0; }
figure.sample { margin: 0; }
figure.sample img { height: 96px; width: auto; image-rendering: pixelated; }
.headline .delta { font-size: 1.15em; }
table.pivot td.noise { background: #ecf8ef; outline: 1px dashed var(--best-line);
         outline-offset: -2px; }
"""
    # one hue per extractor kind, the same as the plots'
    + "".join(
        f"th.kind-{kind}, td.kind-{kind} {{ border-left: 5px solid {color}; }}\n"
        f".kind-tag-{kind} {{ color: {color}; font-weight: 600; }}\n"
        for kind, color in KIND_COLORS.items()
    )
)


def escape(value: object) -> str:
    """Escape any value as HTML text (None gives ``""``).

    Parameters
    ----------
    value : object
        Converted with ``str``.

    Returns
    -------
    str
    """
    return html.escape("" if value is None else str(value), quote=True)


def plain(value: object) -> str:
    """A value as plain text: strings as they are, mappings and lists as JSON.

    Parameters
    ----------
    value : object

    Returns
    -------
    str
    """
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _looks_numeric(text: str) -> bool:
    t = text.replace(",", "").replace(" ± ", "").replace(".", "").replace("-", "").replace("+", "")
    return t.isdigit()


def table(
    frame: pd.DataFrame,
    *,
    index: bool = False,
    corner: str = "",
    classes: str = "",
    best: tuple[object, object] | Collection[tuple[object, object]] | None = None,
    noise: Collection[tuple[object, object]] = (),
    row_classes: Mapping[object, str] | None = None,
) -> str:
    """A frame as an HTML table.

    Parameters
    ----------
    frame : DataFrame
        The cells (converted with :func:`plain` and escaped).
    index : bool, default False
        Whether to write the index as row headers.
    corner : str, default ""
        Header of the index column.
    classes : str, default ""
        The table's ``class`` attribute.
    best : tuple of (row label, column), or a collection of them, optional
        Cells to highlight (class ``best``).
    noise : collection of (row label, column), default ()
        Cells within noise of the best (class ``noise``, a lighter mark).
    row_classes : mapping, optional
        Row label -> class of that row's cells (``kind-learned``, say).

    Returns
    -------
    str
        The table in a horizontally scrolling ``div``; numeric cells get
        class ``num`` (right-aligned).
    """
    bests = _cells(best)
    noisy = _cells(noise)
    head = [f"<th>{escape(corner)}</th>"] if index else []
    head += [f'<th scope="col">{escape(c)}</th>' for c in frame.columns]
    rows = []
    for label, row in frame.iterrows():
        row_cls = (row_classes or {}).get(label, "")
        head_cls = " ".join(["rowhead", *([row_cls] if row_cls else [])])
        cells = (
            [f'<th scope="row" class="{escape(head_cls)}">{escape(label)}</th>'] if index else []
        )
        for k, (col, value) in enumerate(row.items()):
            text = plain(value)
            cls = []
            if _looks_numeric(text):
                cls.append("num")
            if row_cls and not index and k == 0:
                cls.append(row_cls)
            if (label, col) in bests:
                cls.append("best")
            elif (label, col) in noisy:
                cls.append("noise")
            attr = f' class="{" ".join(cls)}"' if cls else ""
            cells.append(f"<td{attr}>{escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cls_attr = f' class="{escape(classes)}"' if classes else ""
    return (
        f'<div class="table-wrap"><table{cls_attr}><thead><tr>{"".join(head)}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _cells(cells: object) -> set:
    """``None``, one ``(row, column)`` tuple or a collection of them, as a set."""
    if cells is None:
        return set()
    if isinstance(cells, tuple) and len(cells) == 2 and not isinstance(cells[0], tuple):
        return {cells}
    return {tuple(c) for c in cells}


def definition_list(items: Iterable[tuple[str, object]]) -> str:
    """Key/value pairs as a ``<dl>``; None and ``""`` values are left out.

    Parameters
    ----------
    items : iterable of (str, object)

    Returns
    -------
    str
        The list, or a muted "Not recorded." when nothing is left.
    """
    parts = [
        f"<dt>{escape(k)}</dt><dd>{escape(plain(v))}</dd>"
        for k, v in items
        if v is not None and v != ""
    ]
    return "<dl>" + "".join(parts) + "</dl>" if parts else '<p class="muted">Not recorded.</p>'


def figure(uri: str | None, alt: str, caption: str, fig_id: str) -> str:
    """A plot as a ``<figure>`` with a caption; ``""`` when there is no image.

    Parameters
    ----------
    uri : str or None
        The PNG data URI.
    alt : str
        Alternative text (escaped).
    caption : str
        The caption, as HTML (the caller escapes the text in it).
    fig_id : str
        The figure's ``id``.

    Returns
    -------
    str
    """
    if not uri:
        return ""
    return (
        f'<figure id="{escape(fig_id)}"><img class="plot" src="{escape(uri)}" '
        f'alt="{escape(alt)}"><figcaption>{caption}</figcaption></figure>'
    )


def render_html(report: Report) -> str:
    """Render a prepared report as one self-contained HTML page.

    Parameters
    ----------
    report : Report
        Built by :func:`transfer.report.build_report` (with figures).

    Returns
    -------
    str
        The page: a header with a link to each titled section, the sections
        of :func:`transfer.report.sections.render_sections` in order, and a
        footer naming the results folder (``meta["results_dir"]``). It
        references no external resource: styles are inline, there is no
        script and images are ``data:`` URIs.
    """
    from transfer import __version__
    from transfer.report.sections import render_sections

    meta = report.meta
    title = meta.get("title") or meta.get("name") or report.results_dir or "transfer report"
    protocol = (meta.get("protocol") or {}).get("name")
    dataset = (meta.get("dataset") or {}).get("name")
    subtitle = " · ".join(
        escape(x)
        for x in (
            meta.get("name"),
            f"protocol: {protocol}" if protocol else None,
            f"dataset: {dataset}" if dataset else None,
            f"finished {meta['finished']}" if meta.get("finished") else None,
        )
        if x
    )
    sections = render_sections(report)
    nav = "".join(
        f'<a href="#{escape(spec.name)}">{escape(spec.nav_label)}</a>'
        for spec, _ in sections
        if spec.nav_label
    )
    parts = []
    for spec, section in sections:
        if spec.title:
            parts.append(f'<h2 id="{escape(spec.name)}">{escape(spec.title)}</h2>')
        parts.append(section.html)
    description = meta.get("description")
    body = "".join(
        [
            "<header>",
            f"<h1>{escape(title)}</h1>",
            f'<p class="description">{escape(description)}</p>' if description else "",
            f'<p class="muted">{subtitle}</p>' if subtitle else "",
            f"<nav>{nav}</nav>",
            "</header>",
            *parts,
            f"<footer>Generated by transfer {escape(__version__)} from the results folder "
            f"<code>{escape(report.results_dir)}</code>; report.md holds the same tables "
            "as text.</footer>",
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
