"""Sparsity of a layer: how many units fire per image, how often each unit fires.

DeepID2+ [1]_ found that about half of the top-layer neurons of a face
network are active on any one image, and that each neuron is active on about
half of the images: sparse, yet far from one-hot. These functions measure
both for any features, the CSVs of ``transfer analyze``.

A unit is *active* when its value is > 0. For post-ReLU features that is
the ReLU's own on/off; a layer with negative values is not post-ReLU (a
linear embedding, a pre-activation), and for it > 0 is the sign of the
value. Every table says which in its ``criterion`` column (and in
``DataFrame.attrs["criterion"]``).

References
----------
.. [1] Sun, Wang, Tang. "Deeply learned face representations are sparse,
   selective, and robust." CVPR 2015.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from transfer._registry import register_analysis
from transfer.analysis._common import check_features, new_figure, with_unit_names
from transfer.analysis.base import (
    Analysis,
    AnalysisContext,
    AnalysisOutput,
    analysis_section,
    figure_uri,
    read_table,
)
from transfer.report.sections import register_section

__all__ = [
    "CRITERIA",
    "SparsityAnalysis",
    "activation_criterion",
    "plot_sparsity",
    "sparsity_histograms",
    "sparsity_per_image",
    "sparsity_per_unit",
    "sparsity_summary",
]

#: The two readings of "active" (> 0), by whether the layer has negative values.
CRITERIA = {
    "relu": "> 0 (no negative values: post-ReLU)",
    "sign": "> 0, the sign (negative values present: not a post-ReLU layer)",
}


def activation_criterion(X: Any) -> str:
    """``"relu"`` if no value of ``X`` is negative, else ``"sign"`` (see :data:`CRITERIA`).

    Parameters
    ----------
    X : array-like of shape (n_images, n_units)

    Returns
    -------
    str
    """
    return "sign" if np.any(check_features(X) < 0) else "relu"


def _active(X: Any) -> tuple[np.ndarray, str]:
    X = check_features(X)
    return X > 0, "sign" if np.any(X < 0) else "relu"


def _tag(frame: pd.DataFrame, criterion: str) -> pd.DataFrame:
    frame["criterion"] = criterion
    frame.attrs["criterion"] = CRITERIA[criterion]
    return frame


def sparsity_per_image(X: Any) -> pd.DataFrame:
    """Per image, the fraction (and number) of units that are active.

    Parameters
    ----------
    X : array-like of shape (n_images, n_units)
        Features of one layer.

    Returns
    -------
    DataFrame
        One row per image: ``image`` (row index), ``n_active``,
        ``fraction_active``, ``criterion``.

    References
    ----------
    .. [1] Sun, Wang, Tang. "Deeply learned face representations are sparse,
       selective, and robust." CVPR 2015.
    """
    active, criterion = _active(X)
    n_active = active.sum(axis=1)
    frame = pd.DataFrame(
        {
            "image": np.arange(len(active)),
            "n_active": n_active,
            "fraction_active": n_active / active.shape[1],
        }
    )
    return _tag(frame, criterion)


def sparsity_per_unit(X: Any, unit_names: Any = None) -> pd.DataFrame:
    """Per unit, the fraction (and number) of images on which it is active.

    Parameters
    ----------
    X : array-like of shape (n_images, n_units)
    unit_names : array-like of shape (n_units,), optional
        Names for a ``unit_name`` column (e.g. ``get_feature_names_out()``).

    Returns
    -------
    DataFrame
        One row per unit: ``unit`` (column index), ``n_active``,
        ``fraction_active``, ``criterion``.
    """
    active, criterion = _active(X)
    n_active = active.sum(axis=0)
    frame = pd.DataFrame(
        {
            "unit": np.arange(active.shape[1]),
            "n_active": n_active,
            "fraction_active": n_active / active.shape[0],
        }
    )
    return _tag(with_unit_names(frame, unit_names, active.shape[1]), criterion)


def sparsity_histograms(X: Any, bins: int = 20) -> pd.DataFrame:
    """Histograms of the active fraction, over images and over units.

    Parameters
    ----------
    X : array-like of shape (n_images, n_units)
    bins : int, default=20
        Equal-width bins over [0, 1]; the last bin includes 1.

    Returns
    -------
    DataFrame
        ``over`` ("images" or "units"), ``bin_left``, ``bin_right``,
        ``count``, ``criterion``: ``bins`` rows for each.
    """
    if not isinstance(bins, int | np.integer) or bins < 1:
        raise ValueError(f"bins must be a positive int; got {bins!r}")
    active, criterion = _active(X)
    edges = np.linspace(0.0, 1.0, bins + 1)
    rows = []
    for over, fractions in (("images", active.mean(axis=1)), ("units", active.mean(axis=0))):
        counts, _ = np.histogram(fractions, bins=edges)
        rows.append(
            pd.DataFrame(
                {"over": over, "bin_left": edges[:-1], "bin_right": edges[1:], "count": counts}
            )
        )
    return _tag(pd.concat(rows, ignore_index=True), criterion)


def sparsity_summary(X: Any) -> pd.DataFrame:
    """One row: mean and median active fraction per image and per unit.

    DeepID2+ [1]_ reports about half of the neurons active per image (and
    each neuron active on about half of the images).

    Parameters
    ----------
    X : array-like of shape (n_images, n_units)

    Returns
    -------
    DataFrame
        One row: ``n_images``, ``n_units``, ``mean_per_image``,
        ``median_per_image``, ``std_per_image``, ``mean_per_unit``,
        ``median_per_unit``, ``dead_units`` (never active),
        ``always_active_units``, ``criterion``.

    References
    ----------
    .. [1] Sun, Wang, Tang. "Deeply learned face representations are sparse,
       selective, and robust." CVPR 2015.
    """
    active, criterion = _active(X)
    per_image, per_unit = active.mean(axis=1), active.mean(axis=0)
    frame = pd.DataFrame(
        {
            "n_images": [active.shape[0]],
            "n_units": [active.shape[1]],
            "mean_per_image": [per_image.mean()],
            "median_per_image": [np.median(per_image)],
            "std_per_image": [per_image.std()],
            "mean_per_unit": [per_unit.mean()],
            "median_per_unit": [np.median(per_unit)],
            "dead_units": [int((per_unit == 0).sum())],
            "always_active_units": [int((per_unit == 1).sum())],
        }
    )
    return _tag(frame, criterion)


def plot_sparsity(histograms: pd.DataFrame, title: str = "") -> Figure:
    """Two bar charts of :func:`sparsity_histograms`: over images, over units.

    Parameters
    ----------
    histograms : DataFrame
        The output of :func:`sparsity_histograms`.
    title : str, default=""
        Figure title (e.g. extractor and layer).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = new_figure(8.0, 3.2)
    axes = fig.subplots(1, 2)
    criterion = histograms["criterion"].iloc[0] if len(histograms) else "relu"
    for ax, over in zip(axes, ("images", "units"), strict=True):
        part = histograms[histograms["over"] == over]
        ax.bar(
            part["bin_left"],
            part["count"],
            width=part["bin_right"] - part["bin_left"],
            align="edge",
            edgecolor="white",
        )
        ax.set_xlim(0, 1)
        ax.set_xlabel("fraction of units active" if over == "images" else "fraction of images")
        ax.set_ylabel(f"number of {over}")
        ax.set_title(f"per {over[:-1]}")
    fig.suptitle(f"{title}  (active: {CRITERIA[criterion]})".strip())
    return fig


# -- as a recipe analysis ---------------------------------------------------------


@register_analysis("sparsity", "Active units per image and active images per unit (DeepID2+)")
class SparsityAnalysis(Analysis):
    """Sparsity of each extractor's features on the first fold's test images.

    Writes ``summary.csv`` (:func:`sparsity_summary`, one row per
    extractor) and ``histograms.csv`` (:func:`sparsity_histograms`); the
    report shows the table and both histograms per extractor.

    Parameters
    ----------
    bins : int, default=20
        Histogram bins over [0, 1].
    extractors : list of str, optional
        Extractor labels to analyse (default: all of the recipe's).

    References
    ----------
    .. [1] Sun, Wang, Tang. "Deeply learned face representations are sparse,
       selective, and robust." CVPR 2015.
    """

    sections = ("sparsity",)

    def __init__(self, bins: int = 20, extractors: list[str] | None = None) -> None:
        self.bins = bins
        self.extractors = extractors

    def check_recipe(self, labels: list[str], protocol: Any) -> None:
        super().check_recipe(labels, protocol)
        if not isinstance(self.bins, int) or isinstance(self.bins, bool) or self.bins < 2:
            raise ValueError(f"'bins' must be an int >= 2, got {self.bins!r}")

    def run(self, context: AnalysisContext, label: str) -> AnalysisOutput:
        F = context.features(label)[context.test]
        return AnalysisOutput(
            tables={
                "summary": sparsity_summary(F),
                "histograms": sparsity_histograms(F, bins=self.bins),
            }
        )


def _sparsity_body(report: Any, entry: dict, folder: Any) -> tuple[str, str]:
    from transfer.report.html import escape, figure, table
    from transfer.report.markdown import markdown_table

    summary = read_table(folder, "summary")
    histograms = read_table(folder, "histograms")
    if summary is None:
        return '<p class="muted">No sparsity table.</p>', "_No sparsity table._"
    shown = summary[
        ["extractor", "n_units", "mean_per_image", "median_per_image", "dead_units", "criterion"]
    ].copy()
    for column in ("mean_per_image", "median_per_image"):
        shown[column] = shown[column].map(lambda v: f"{v:.3f}")
    html = [table(shown)]
    for ext in summary["extractor"]:
        part = histograms[histograms["extractor"] == ext] if histograms is not None else None
        if part is None or part.empty:
            continue
        uri = figure_uri(report, lambda part=part, ext=ext: plot_sparsity(part, title=str(ext)))
        html.append(
            figure(uri, f"sparsity of {ext}", escape(f"Active fraction: {ext}"), f"fig-sp-{ext}")
        )
    note = (
        "Fraction of units active (> 0) per test image, and of images per unit. DeepID2+ "
        "(Sun et al. 2015) reports about half of its top-layer units active on any image. "
        "Pooled convolutional features are averages of ReLU maps and are rarely exactly 0; "
        "a layer with negative values (a linear embedding) is read by its sign."
    )
    html.append(f'<p class="note">{escape(note)}</p>')
    return "".join(html), markdown_table(shown) + "\n\n" + note


@register_section("sparsity", title="Sparsity", order=72)
def sparsity_section(report: Any) -> Any:
    """The sparsity analyses of the run."""
    return analysis_section(report, "sparsity", _sparsity_body)
