"""The self-contained HTML page of a report.

One file, no external resources: inline CSS, no scripts, plots as PNG data
URIs. A Content-Security-Policy ``<meta>`` forbids any network fetch, so the
page opens offline and leaks nothing. Every piece of text from the results
folder goes through :func:`html.escape`.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

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

__all__ = ["render_html"]

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

_CSS = """
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
"""


def _e(value: object) -> str:
    """Escape any value as HTML text."""
    return html.escape("" if value is None else str(value), quote=True)


def _plain(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _looks_numeric(text: str) -> bool:
    t = text.replace(",", "").replace(" ± ", "").replace(".", "").replace("-", "")
    return t.isdigit()


def _table(
    frame: pd.DataFrame,
    *,
    index: bool = False,
    corner: str = "",
    classes: str = "",
    best: tuple[object, object] | None = None,
) -> str:
    """A frame of strings as an HTML table; ``best`` = (row label, column) to highlight."""
    head = [f"<th>{_e(corner)}</th>"] if index else []
    head += [f'<th scope="col">{_e(c)}</th>' for c in frame.columns]
    rows = []
    for label, row in frame.iterrows():
        cells = [f'<th scope="row" class="rowhead">{_e(label)}</th>'] if index else []
        for col, value in row.items():
            text = _plain(value)
            cls = []
            if _looks_numeric(text):
                cls.append("num")
            if best is not None and (label, col) == best:
                cls.append("best")
            attr = f' class="{" ".join(cls)}"' if cls else ""
            cells.append(f"<td{attr}>{_e(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cls_attr = f' class="{_e(classes)}"' if classes else ""
    return (
        f'<div class="table-wrap"><table{cls_attr}><thead><tr>{"".join(head)}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _dl(items: Iterable[tuple[str, object]]) -> str:
    parts = [
        f"<dt>{_e(k)}</dt><dd>{_e(_plain(v))}</dd>" for k, v in items if v is not None and v != ""
    ]
    return "<dl>" + "".join(parts) + "</dl>" if parts else '<p class="muted">Not recorded.</p>'


def _figure(uri: str | None, alt: str, caption: str, fig_id: str) -> str:
    if not uri:
        return ""
    return (
        f'<figure id="{_e(fig_id)}"><img class="plot" src="{_e(uri)}" alt="{_e(alt)}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _pivot_best(report: Report, metric: str) -> tuple[object, object] | None:
    values = pivot(report.summary, metric, formatted=False)
    arr = values.to_numpy(dtype=float)
    if arr.size == 0 or np.isnan(arr).all():
        return None
    pick = np.nanargmax if higher_is_better(metric) else np.nanargmin
    i, j = np.unravel_index(pick(arr), arr.shape)
    return values.index[i], values.columns[j]


def _overview(report: Report) -> str:
    meta = report.meta
    protocol = meta.get("protocol") or {}
    dataset = meta.get("dataset") or {}
    out = []
    row = report.best_row
    if row is not None:
        p = report.primary
        out.append(
            '<div class="callout">Best pair: '
            f"<strong>{_e(row['extractor'])}</strong> + <strong>{_e(row['head'])}</strong>, "
            f"{_e(p)} = <strong>{_e(format_mean_std(row[f'{p}_mean'], row[f'{p}_std']))}"
            f"</strong> (mean ± std over {int(row['n_folds'])} fold"
            f"{'s' * (int(row['n_folds']) != 1)}; {len(report.summary)} pairs compared)</div>"
        )
    transforms = dataset.get("transforms") or []
    n_names = len(dataset.get("class_names") or [])
    data_items = [
        ("name", dataset.get("name")),
        ("images", dataset.get("n_images")),
        ("classes", dataset.get("n_classes") or (n_names or None)),
        ("transforms", ", ".join(_plain(t) for t in transforms) if transforms else "none"),
    ]
    params = protocol.get("params") or {}
    proto_items = [
        ("name", protocol.get("name")),
        *[(f"{k}", v) for k, v in params.items()],
        ("metrics", ", ".join(report.metrics)),
        ("primary metric", report.primary),
    ]
    out.append(
        '<div class="cards">'
        f'<div class="card"><h3>Dataset</h3>{_dl(data_items)}</div>'
        f'<div class="card"><h3>Protocol</h3>{_dl(proto_items)}</div>'
        "</div>"
    )
    return "".join(out)


def _protocol_name(report: Report) -> str | None:
    return (report.meta.get("protocol") or {}).get("name")


def verification_notes(report: Report, metric: str) -> list[str]:
    """Plain-text footnotes under a verification run's metric table.

    Parameters
    ----------
    report : Report
        A prepared report.
    metric : str
        The metric of the table.

    Returns
    -------
    list of str
        Empty unless the run's protocol is ``verification``: then where the
        accuracy threshold comes from, the direction of the EER, and, under
        the primary metric's table of a single-fold run, that LFW View 1 has
        one test split.
    """
    if _protocol_name(report) != "verification":
        return []
    notes = []
    if metric == "accuracy":
        notes.append(
            "Accuracy on the test pairs at the threshold chosen on each fold's training pairs."
        )
    elif metric == "eer":
        notes.append("Equal error rate: lower is better (the lowest mean is highlighted).")
    elif metric == "auc" or metric.startswith("tar@far"):
        notes.append("Threshold-free: read from the ROC curve of each fold's test pairs.")
    if metric == report.primary and len(report.summary) and _n_folds(report) == 1:
        notes.append(
            "One fold: LFW View 1 has a single test split, so each cell is one value "
            "with no spread (View 2 gives mean ± std over 10 folds)."
        )
    return notes


def _results(report: Report) -> str:
    out = ['<h2 id="results">Results</h2>']
    for metric in report.metrics:
        table = pivot(report.summary, metric)
        best = _pivot_best(report, metric)
        out.append(f"<h3>{_e(metric)}: extractor &times; head</h3>")
        out.append(
            _table(table, index=True, corner="extractor \\ head", classes="pivot", best=best)
        )
        out.append(
            '<p class="note">Mean ± sample standard deviation (ddof=1) over folds; '
            "the highlighted cell is the best mean. A bare mean means a single fold.</p>"
        )
        for note in verification_notes(report, metric):
            out.append(f'<p class="note">{_e(note)}</p>')
    out.append(
        _figure(
            report.figures.get("bars"),
            f"Bar chart of {report.primary} per extractor and head",
            f"{_e(report.primary)} per extractor (x) and head (bars); "
            "error bars are ± one standard deviation over folds.",
            "fig-bars",
        )
    )
    out.append('<h3 id="summary">All pairs, best first</h3>')
    table = display_summary(report.summary, report.metrics)
    best = None
    if report.best is not None and len(table):
        best = (0, report.primary)
    out.append(_table(table, classes="summary", best=best))
    return "".join(out)


def _cmc(report: Report) -> str:
    protocol = (report.meta.get("protocol") or {}).get("name")
    if report.cmc is None:
        if protocol == "identification":
            return (
                '<h2 id="cmc">CMC curves</h2><p class="muted">No cmc.csv in the results folder.</p>'
            )
        return ""
    note = report.notes.get("cmc", "")
    caption = (
        "Cumulative match characteristic: the fraction of probes whose true identity "
        "is among the top-k gallery matches, averaged over folds."
        + (f" {_e(note)}" if note else "")
    )
    return '<h2 id="cmc">CMC curves</h2>' + _figure(
        report.figures.get("cmc"), "CMC curves", caption, "fig-cmc"
    )


def _n_folds(report: Report) -> int:
    if len(report.summary):
        return int(report.summary["n_folds"].max())
    return 0


def _folds_text(n: int) -> str:
    return f"{n} fold{'s' * (n != 1)}"


def _binary_codes(report: Report) -> str:
    codes = report.binary_codes
    if codes is None or not codes.shape[1]:
        return ""
    values = binary_code_table(
        report.summary, report.folder.heads_config, report.primary, formatted=False
    )
    arr = values.to_numpy(dtype=float)
    best = None
    if arr.size and not np.isnan(arr).all():
        pick = np.nanargmax if higher_is_better(report.primary) else np.nanargmin
        i, j = np.unravel_index(pick(arr), arr.shape)
        best = (codes.index[i], codes.columns[j])
    return (
        '<h2 id="binary">Real-valued vs binary codes</h2>'
        + _table(codes, index=True, corner="extractor", classes="pivot", best=best)
        + f'<p class="note">{_e(report.primary)} (mean ± std over folds) of a Joint Bayesian '
        "model on the real-valued features, a Joint Bayesian model on the binarised features "
        "and the Hamming distance between the binary codes, as compared by Sun, Wang and "
        "Tang, &ldquo;Deeply learned face representations are sparse, selective, and "
        "robust&rdquo; (DeepID2+), CVPR 2015. Heads are recognised from the recipe "
        "(<code>joint_bayesian</code> with <code>binarize</code> null or set; "
        "<code>hamming_verifier</code>); thresholds are chosen on the training pairs.</p>"
    )


def _roc(report: Report) -> str:
    if report.roc is None:
        if _protocol_name(report) == "verification":
            return (
                '<h2 id="roc">ROC curves</h2><p class="muted">No roc.csv in the results folder.</p>'
            )
        return ""
    n = int(report.roc["n_folds"].max()) if len(report.roc) else 0
    note = report.notes.get("roc", "")
    caption = (
        f"ROC curves of the test pairs, vertically averaged over {_folds_text(n)}: each "
        "fold's true positive rate is interpolated on a common log-spaced false positive "
        "rate grid (10<sup>-3</sup> to 1) and the rates are averaged. One panel per head, "
        "one line per extractor (same colour in every panel); the legend gives the mean AUC "
        "over folds. Dotted lines mark FAR = 10<sup>-3</sup> and 10<sup>-2</sup>, the dashed "
        "diagonal is chance. The curves sweep every threshold; the accuracy in the tables "
        "uses the threshold chosen on the training pairs." + (f" {_e(note)}" if note else "")
    )
    return '<h2 id="roc">ROC curves</h2>' + _figure(
        report.figures.get("roc"), "Mean ROC curves per head", caption, "fig-roc"
    )


def _scores(report: Report) -> str:
    if "scores" not in report.figures:
        if _protocol_name(report) == "verification" and report.folder.scores is None:
            return (
                '<h2 id="scores">Score distributions</h2>'
                '<p class="muted">No scores.csv in the results folder.</p>'
            )
        return ""
    note = report.notes.get("scores", "")
    caption = (
        "Similarity scores of the test pairs, pooled over "
        f"{_folds_text(_n_folds(report))}, for each extractor's best head by mean "
        f"{_e(report.primary)} (named in the panel title): same-identity pairs in blue, "
        "different-identity pairs in orange (densities). The dashed line is the decision "
        "threshold chosen on the training pairs, averaged over folds."
        + (f" {_e(note)}" if note else "")
    )
    return '<h2 id="scores">Score distributions</h2>' + _figure(
        report.figures.get("scores"), "Score histograms per extractor", caption, "fig-scores"
    )


def _confusion(report: Report) -> str:
    if report.confusion is None or report.best is None:
        return ""
    cm = report.confusion
    total = int(cm.sum())
    acc = float(np.trace(cm)) / total if total else float("nan")
    names = report.folder.class_names
    n = cm.shape[0]

    def name(i: int) -> str:
        return names[i] if len(names) == n else str(i)

    off = cm.copy()
    np.fill_diagonal(off, 0)
    flat = np.argsort(-off, axis=None, kind="stable")[:5]
    confused = [
        f"{_e(name(i))} → {_e(name(j))} ({int(off[i, j])})"
        for i, j in (np.unravel_index(k, off.shape) for k in flat)
        if off[i, j] > 0
    ]
    labels = "" if n <= 50 else " Class labels are omitted above 50 classes."
    caption = (
        f"Rows: true class; columns: predicted class; {total} predictions summed over folds, "
        f"{acc:.3f} on the diagonal.{labels}"
    )
    out = [
        '<h2 id="confusion">Confusion matrix of the best pair</h2>',
        f"<p><strong>{_e(report.best[0])}</strong> + <strong>{_e(report.best[1])}</strong></p>",
        _figure(report.figures.get("confusion"), "Confusion matrix", caption, "fig-confusion"),
    ]
    if confused:
        out.append(
            '<p class="note">Most frequent confusions (true → predicted, count): '
            + "; ".join(confused)
            + ".</p>"
        )
    return "".join(out)


def _timing(report: Report) -> str:
    out = ['<h2 id="timing">Timing</h2>', "<h3>Feature extraction</h3>"]
    ext = report.folder.extraction
    if ext is not None and len(ext):
        out.append(_table(display_extraction(ext), classes="extraction"))
        out.append(
            '<p class="note">For features loaded from the cache, seconds is the load time.</p>'
        )
    else:
        out.append('<p class="muted">No extraction.csv in the results folder.</p>')
    out.append("<h3>Head fit time (seconds per fold, mean)</h3>")
    out.append(_table(fit_time_pivot(report.summary), index=True, corner="extractor \\ head"))
    out.append("<h3>Head predict time (seconds per fold, mean)</h3>")
    out.append(
        _table(
            fit_time_pivot(report.summary, "predict_seconds_mean"),
            index=True,
            corner="extractor \\ head",
        )
    )
    return "".join(out)


def _environment(report: Report) -> str:
    meta = report.meta
    env = meta.get("environment") or {}
    items = [
        ("seed", meta.get("seed")),
        ("started", meta.get("started")),
        ("finished", meta.get("finished")),
        ("duration", format_duration(meta.get("duration_seconds"))),
        ("python", env.get("python")),
        ("platform", env.get("platform")),
        ("CPU cores", env.get("cpu_count")),
    ]
    known = {"python", "platform", "cpu_count", "packages"}
    items += [(k, v) for k, v in env.items() if k not in known]
    out = ['<h2 id="environment">Environment</h2>', _dl(items)]
    packages = env.get("packages") or {}
    if packages:
        frame = pd.DataFrame(
            {
                "package": [str(k) for k in packages],
                "version": [_plain(v) for v in packages.values()],
            }
        )
        out.append("<h3>Packages</h3>")
        out.append(_table(frame, classes="packages"))
    return "".join(out)


def _recipe(report: Report) -> str:
    text = report.folder.recipe_text
    if text is None:
        return (
            '<h2 id="recipe">Recipe</h2><p class="muted">No recipe.yaml in the results folder.</p>'
        )
    return (
        '<h2 id="recipe">Recipe</h2><details><summary>recipe.yaml (resolved)</summary>'
        f"<pre><code>{_e(text)}</code></pre></details>"
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
        The page. It references no external resource: styles are inline,
        there is no script and images are ``data:`` URIs.
    """
    from transfer import __version__

    meta = report.meta
    title = meta.get("title") or meta.get("name") or "transfer report"
    protocol = (meta.get("protocol") or {}).get("name")
    dataset = (meta.get("dataset") or {}).get("name")
    subtitle = " · ".join(
        _e(x)
        for x in (
            meta.get("name"),
            f"protocol: {protocol}" if protocol else None,
            f"dataset: {dataset}" if dataset else None,
            f"finished {meta['finished']}" if meta.get("finished") else None,
        )
        if x
    )
    nav_items = [("results", "Results")]
    verification = protocol == "verification"
    if report.binary_codes is not None:
        nav_items.append(("binary", "Binary codes"))
    if report.roc is not None or verification:
        nav_items.append(("roc", "ROC"))
    if "scores" in report.figures or (verification and report.folder.scores is None):
        nav_items.append(("scores", "Scores"))
    if report.cmc is not None or protocol == "identification":
        nav_items.append(("cmc", "CMC"))
    if report.confusion is not None:
        nav_items.append(("confusion", "Confusion matrix"))
    nav_items += [("timing", "Timing"), ("environment", "Environment"), ("recipe", "Recipe")]
    nav = "".join(f'<a href="#{a}">{_e(t)}</a>' for a, t in nav_items)
    description = meta.get("description")
    body = "".join(
        [
            "<header>",
            f"<h1>{_e(title)}</h1>",
            f'<p class="description">{_e(description)}</p>' if description else "",
            f'<p class="muted">{subtitle}</p>' if subtitle else "",
            f"<nav>{nav}</nav>",
            "</header>",
            _overview(report),
            _results(report),
            _binary_codes(report),
            _roc(report),
            _scores(report),
            _cmc(report),
            _confusion(report),
            _timing(report),
            _environment(report),
            _recipe(report),
            f"<footer>Generated by transfer {_e(__version__)} from the results folder "
            f"<code>{_e(report.folder.path.name)}</code>; report.md holds the same tables "
            "as text.</footer>",
        ]
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )
