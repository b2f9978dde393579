"""Report section of the ``train:`` stage: each network's curves and its test score on A."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from transfer.report.sections import Section, register_section

__all__ = ["plot_training_curves", "training_section"]


def plot_training_curves(frame: pd.DataFrame, title: str = "") -> Figure:
    """Loss and accuracy per epoch, training against validation, of one network.

    Parameters
    ----------
    frame : DataFrame
        Rows of ``training.csv`` for one network: ``epoch``, ``loss``,
        ``accuracy`` and, with a validation split, ``val_loss``, ``val_accuracy``.
    title : str, default=""

    Returns
    -------
    matplotlib.figure.Figure
    """
    from transfer.analysis._common import new_figure

    fig = new_figure(8.0, 3.0)
    axes = fig.subplots(1, 2)
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        sides = ((metric, "-", "training"), (f"val_{metric}", "--", "validation"))
        for column, style, name in sides:
            if column in frame:
                ax.plot(frame["epoch"], frame[column], style, marker="o", markersize=3, label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return fig


@register_section(
    "training", title="Networks trained on dataset A", nav="Training", order=25, always=True
)
def training_section(report: Any) -> Section | None:
    """The curves and the dataset-A test accuracy of every network the run trained."""
    from transfer.analysis.base import figure_uri, read_table
    from transfer.report.html import escape, figure, table
    from transfer.report.markdown import markdown_table

    cards = report.meta.get("train") or {}
    curves = read_table(report.folder.path, "training")
    if not cards:
        return None
    rows = []
    for label, card in cards.items():
        test = card.get("test") or {}
        data = card.get("data") or {}
        rows.append(
            {
                "network": label,
                "architecture": card.get("architecture", ""),
                "dataset A": data.get("name", ""),
                "training images": data.get("n_train", ""),
                "epochs": card.get("epochs_run", ""),
                "seconds": card.get("seconds", ""),
                "test accuracy on A": "" if not test else f"{test['accuracy']:.4f}",
                "test images": test.get("n_images", ""),
            }
        )
    frame = pd.DataFrame(rows)
    html = [table(frame)]
    for label in cards:
        if curves is None:
            break
        part = curves[curves["network"] == label]
        if part.empty:
            continue
        uri = figure_uri(report, lambda part=part, label=label: plot_training_curves(part, label))
        caption = escape(f"{label}: loss and accuracy per epoch (training and validation)")
        html.append(figure(uri, f"training curves of {label}", caption, f"fig-train-{label}"))
    note = (
        "Each network is trained on dataset A's training images (a stratified validation "
        "split stops it early and picks the best epoch) and scored on A's own test split when "
        "A has one; the extractors then use it frozen on the recipe's dataset."
    )
    html.append(f'<p class="note">{escape(note)}</p>')
    return Section(html="".join(html), markdown=markdown_table(frame) + "\n\n" + note)
