"""Report section of the attributes protocol: accuracy per attribute beside the majority."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from transfer.report.html import escape, table
from transfer.report.markdown import markdown_table
from transfer.report.sections import Section, register_section

if TYPE_CHECKING:
    from transfer.report import Report

__all__ = ["attribute_table"]


def attribute_table(frame: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """Attributes x (majority, each extractor + head): ``metric`` averaged over folds.

    Parameters
    ----------
    frame : DataFrame
        ``attributes.csv``: columns ``extractor``, ``head``, ``fold``,
        ``attribute``, the metric and ``majority_accuracy``.
    metric : str, default="accuracy"
        The per-attribute column to lay out.

    Returns
    -------
    DataFrame
        One row per attribute (file order) and a last "mean" row; the first
        column is the majority baseline, then one column per pair.
    """
    order = list(dict.fromkeys(frame["attribute"]))
    pairs = frame["extractor"].astype(str) + " + " + frame["head"].astype(str)
    values = frame.assign(pair=pairs).pivot_table(
        index="attribute", columns="pair", values=metric, aggfunc="mean", sort=False
    )
    majority = frame.groupby("attribute", sort=False)["majority_accuracy"].mean()
    out = pd.concat([majority.rename("majority"), values], axis=1).loc[order]
    out.loc["mean"] = out.mean(axis=0)
    return out


@register_section(
    "per_attribute", title="Attributes", nav="Attributes", order=35, file="attributes.csv"
)
def attributes_section(report: Report) -> Section:
    """Accuracy of every attribute for every pair, beside the majority baseline."""
    path = report.folder.path / "attributes.csv"
    if not path.is_file():
        return Section(
            html='<p class="muted">No attributes.csv in the results folder.</p>',
            markdown="_No attributes.csv in the results folder._",
        )
    frame = pd.read_csv(path)
    html, md = [], []
    for metric, what in (
        ("accuracy", "Accuracy"),
        ("balanced_accuracy", "Balanced accuracy"),
    ):
        shown = attribute_table(frame, metric)
        if metric == "balanced_accuracy":
            shown = shown.drop(columns="majority")  # always 0.5
        text = shown.map(lambda v: f"{v:.3f}")
        html.append(f"<h3>{escape(what)} per attribute</h3>")
        html.append(table(text, index=True, corner="attribute", classes="pivot"))
        md += [
            f"### {what} per attribute",
            "",
            markdown_table(text, index=True, corner="attribute"),
        ]
        md.append("")
    note = (
        "Mean over folds of each attribute's test accuracy. The majority column predicts, "
        "for every attribute, its more frequent value in the training images: a method "
        "must beat it attribute by attribute to have learned anything (on CelebA it is "
        "about 0.80 on average). Balanced accuracy is the mean of the true-positive and "
        "true-negative rates (0.5 for the majority baseline)."
    )
    html.append(f'<p class="note">{escape(note)}</p>')
    md.append(note)
    return Section(html="".join(html), markdown="\n".join(md))
