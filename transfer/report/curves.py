"""Report sections a protocol asks for: CMC curves, ROC curves, score histograms.

They render only when ``meta["protocol"]["sections"]`` names them (or, in
folders written before that key existed, when their file is there). A
requested section whose file is missing says so instead of vanishing: the
protocol promised it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from transfer.report.html import escape, figure
from transfer.report.sections import Section, register_section
from transfer.report.tables import best_heads

if TYPE_CHECKING:
    from transfer.report import Report

__all__: list[str] = []


def _missing(name: str) -> Section:
    return Section(
        html=f'<p class="muted">No {escape(name)} in the results folder.</p>',
        markdown=f"_No {name} in the results folder._",
    )


def _folds_text(n: int) -> str:
    return f"{n} fold{'s' * (n != 1)}"


def _roc_notes(report: Report, metric: str) -> list[str]:
    if metric == "auc" or metric.startswith("tar@far"):
        return ["Threshold-free: read from the ROC curve of each fold's test pairs."]
    return []


def _scores_notes(report: Report, metric: str) -> list[str]:
    if metric == "accuracy":
        return ["Accuracy on the test pairs at the threshold chosen on each fold's training pairs."]
    return []


def _draw(report: Report, key: str, curves: object, plot: str) -> str:
    """Draw the figure ``key`` with ``plots.<plot>`` when figures are on; its note."""
    if report.with_figures:
        from transfer.report import plots

        fig, note = getattr(plots, plot)(curves, report.summary, report.primary, kinds=report.kinds)
        report.figures[key] = plots.figure_to_data_uri(fig)
        report.notes[key] = note
    return report.notes.get(key, "")


@register_section("cmc", title="CMC curves", nav="CMC", order=60, file="cmc.csv")
def cmc_section(report: Report) -> Section:
    """Mean cumulative match characteristic per pair (``cmc.csv``)."""
    if report.cmc is None:
        return _missing("cmc.csv")
    note = _draw(report, "cmc", report.cmc, "cmc_plot")
    caption = (
        "Cumulative match characteristic: the fraction of probes whose true identity "
        "is among the top-k gallery matches, averaged over folds; learned extractors in "
        "blues (solid), handcrafted ones in oranges (dashed)."
        + (f" {escape(note)}" if note else "")
    )
    return Section(
        html=figure(report.figures.get("cmc"), "CMC curves", caption, "fig-cmc"),
        plots=("CMC curves",),
    )


@register_section(
    "roc", title="ROC curves", nav="ROC", order=40, file="roc.csv", metric_notes=_roc_notes
)
def roc_section(report: Report) -> Section:
    """Vertically averaged ROC curves per head (``roc.csv``)."""
    if report.roc is None:
        return _missing("roc.csv")
    note = _draw(report, "roc", report.roc, "roc_plot")
    n = int(report.roc["n_folds"].max()) if len(report.roc) else 0
    caption = (
        f"ROC curves of the test pairs, vertically averaged over {_folds_text(n)}: each "
        "fold's true positive rate is interpolated on a common log-spaced false positive "
        "rate grid (10<sup>-3</sup> to 1) and the rates are averaged. One panel per head, "
        "one line per extractor (same colour in every panel: learned in blues, solid; "
        "handcrafted in oranges, dashed); the legend gives the mean AUC "
        "over folds. Dotted lines mark FAR = 10<sup>-3</sup> and 10<sup>-2</sup>, the dashed "
        "diagonal is chance. The curves sweep every threshold; the accuracy in the tables "
        "uses the threshold chosen on the training pairs." + (f" {escape(note)}" if note else "")
    )
    return Section(
        html=figure(report.figures.get("roc"), "Mean ROC curves per head", caption, "fig-roc"),
        plots=("ROC curves",),
    )


@register_section(
    "scores",
    title="Score distributions",
    nav="Scores",
    order=50,
    file="scores.csv",
    metric_notes=_scores_notes,
)
def scores_section(report: Report) -> Section | None:
    """Histograms of same / different pair scores of each extractor's best head."""
    scores = report.folder.scores
    if scores is None:
        return _missing("scores.csv")
    if not len(scores):
        return None
    if report.with_figures:
        from transfer.report import plots

        heads = best_heads(report.summary, report.primary)
        fig, note = plots.score_histograms(
            scores, heads, report.summary, report.primary, kinds=report.kinds
        )
        if fig is None:
            return None
        report.figures["scores"] = plots.figure_to_data_uri(fig)
        report.notes["scores"] = note
    note = report.notes.get("scores", "")
    caption = (
        f"Similarity scores of the test pairs, pooled over {_folds_text(report.n_folds)}, "
        f"for each extractor's best head by mean {escape(report.primary)} (named in the "
        "panel title): same-identity pairs in blue, different-identity pairs in orange "
        "(densities). The dashed line is the decision threshold chosen on the training "
        "pairs, averaged over folds." + (f" {escape(note)}" if note else "")
    )
    return Section(
        html=figure(
            report.figures.get("scores"), "Score histograms per extractor", caption, "fig-scores"
        ),
        plots=("score histograms",),
    )
