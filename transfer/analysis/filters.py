"""Pictures of what units respond to: first-layer filters and top-activating images.

Zeiler and Fergus [1]_ showed a network's first-layer filters as small
images (edges, colour blobs, Gabor-like patterns) and, for deeper units,
the training images that activate each unit most; DeepID2+ [2]_ shows the
faces that most excite single identity neurons. These functions return the
pictures as numpy arrays (values in [0, 1]) so they can be saved or
embedded, plus a figure helper on the Agg canvas.

References
----------
.. [1] Zeiler, Fergus. "Visualizing and understanding convolutional
   networks." ECCV 2014.
.. [2] Sun, Wang, Tang. "Deeply learned face representations are sparse,
   selective, and robust." CVPR 2015.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from transfer._registry import register_analysis
from transfer.analysis._common import check_features, new_figure
from transfer.analysis.base import Analysis, AnalysisContext, AnalysisOutput
from transfer.report.sections import register_section

__all__ = [
    "FiltersAnalysis",
    "filter_grid",
    "first_conv_kernels",
    "image_grid",
    "plot_image_grid",
    "top_activating_images",
    "top_image_grid",
]


def _layers(model: Any):
    """Every layer of a Keras model, nested models expanded, in graph order."""
    for layer in getattr(model, "layers", ()):
        if getattr(layer, "layers", None):
            yield from _layers(layer)
        else:
            yield layer


def first_conv_kernels(model: Any) -> tuple[np.ndarray, str]:
    """The kernels of the first 2-D convolution of a Keras model.

    Parameters
    ----------
    model : keras.Model
        For instance the network behind a CNN extractor.

    Returns
    -------
    kernels : ndarray of shape (n_filters, height, width, in_channels)
    name : str
        The layer's name.

    Raises
    ------
    ValueError
        When the model has no ``Conv2D`` layer (depthwise and separable
        convolutions are not filters over the input image).
    """
    from transfer._quiet import import_tensorflow

    import_tensorflow()  # quietly, before Keras picks its backend
    import keras

    for layer in _layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            kernel = np.asarray(keras.ops.convert_to_numpy(layer.kernel), dtype=np.float64)
            return np.transpose(kernel, (3, 0, 1, 2)), layer.name
    names = [layer.name for layer in _layers(model)][:10]
    raise ValueError(f"the model has no Conv2D layer; its first layers are {names}")


def _tile(tiles: np.ndarray, n_rows: int, n_cols: int, pad: int, pad_value: float) -> np.ndarray:
    """Tiles of shape (n, h, w[, c]) on a grid, ``pad`` pixels around and between them."""
    n, h, w = tiles.shape[:3]
    extra = tiles.shape[3:]
    grid = np.full(
        (n_rows * (h + pad) + pad, n_cols * (w + pad) + pad, *extra), pad_value, dtype=np.float64
    )
    for i in range(n):
        r, c = divmod(i, n_cols)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        grid[top : top + h, left : left + w] = tiles[i]
    return grid


def filter_grid(
    kernels: Any, *, n_cols: int | None = None, pad: int = 1, pad_value: float = 1.0
) -> np.ndarray:
    """First-layer kernels as one image, each filter normalised to [0, 1].

    Parameters
    ----------
    kernels : array-like of shape (n_filters, height, width, in_channels)
        As from :func:`first_conv_kernels`. Three input channels are drawn
        as colour (in the network's channel order), one as grey; any other
        number is averaged over channels into grey.
    n_cols : int, optional
        Filters per row; default ``ceil(sqrt(n_filters))``.
    pad : int, default=1
        Pixels of ``pad_value`` around and between filters.
    pad_value : float, default=1.0
        White separators.

    Returns
    -------
    grid : ndarray of shape (H, W, 3) or (H, W), values in [0, 1]
        Filter ``i`` is at row ``i // n_cols``, column ``i % n_cols``; each is
        mapped linearly from its own minimum (0) to its maximum (1), and a
        constant filter is 0.5.

    References
    ----------
    .. [1] Zeiler, Fergus. "Visualizing and understanding convolutional
       networks." ECCV 2014.
    """
    K = np.asarray(kernels, dtype=np.float64)
    if K.ndim != 4:
        raise ValueError(
            f"kernels must have shape (n_filters, height, width, in_channels); got {K.shape}"
        )
    if K.shape[3] not in (1, 3):
        K = K.mean(axis=3, keepdims=True)
    lo = K.min(axis=(1, 2, 3), keepdims=True)
    span = K.max(axis=(1, 2, 3), keepdims=True) - lo
    norm = np.full(K.shape, 0.5)
    np.divide(K - lo, span, out=norm, where=span > 0)
    if norm.shape[3] == 1:
        norm = norm[..., 0]
    n = len(norm)
    cols = n_cols or int(np.ceil(np.sqrt(n)))
    return _tile(norm, int(np.ceil(n / cols)), cols, pad, pad_value)


def top_activating_images(features: Any, units: Sequence[int], k: int = 9) -> pd.DataFrame:
    """For each chosen unit, the ``k`` images that activate it most.

    Parameters
    ----------
    features : array-like of shape (n_images, n_units)
    units : sequence of int
        Unit (column) indices.
    k : int, default=9

    Returns
    -------
    DataFrame
        ``unit``, ``rank`` (0 = strongest), ``image`` (row index),
        ``activation``; ties go to the lower image index.

    References
    ----------
    .. [1] Zeiler, Fergus. "Visualizing and understanding convolutional
       networks." ECCV 2014.
    """
    F = check_features(features, "features")
    units = np.asarray(units)
    if units.ndim != 1 or not np.issubdtype(units.dtype, np.integer):
        raise ValueError(f"units must be a sequence of int column indices; got {units!r}")
    bad = units[(units < 0) | (units >= F.shape[1])]
    if bad.size:
        raise ValueError(f"units {bad.tolist()} are outside 0..{F.shape[1] - 1}")
    if not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive int; got {k!r}")
    k = min(int(k), len(F))
    rows = []
    for unit in units:
        order = np.argsort(-F[:, unit], kind="stable")[:k]
        rows.append(
            pd.DataFrame(
                {
                    "unit": int(unit),
                    "rank": np.arange(k),
                    "image": order,
                    "activation": F[order, unit],
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def image_grid(
    images: Any,
    *,
    n_cols: int,
    value_range: tuple[float, float] = (0.0, 255.0),
    pad: int = 1,
    pad_value: float = 1.0,
) -> np.ndarray:
    """Thumbnails on a grid, row-major, scaled from ``value_range`` to [0, 1].

    Parameters
    ----------
    images : array-like of shape (n, height, width) or (n, height, width, 3)
    n_cols : int
    value_range : (float, float), default=(0, 255)
        Pixel values mapped to 0 and 1 (the project's images are on the
        0..255 scale; pass (0, 1) for scikit-image's convention).
    pad : int, default=1
    pad_value : float, default=1.0

    Returns
    -------
    grid : ndarray of shape (H, W) or (H, W, 3), values in [0, 1]
    """
    arr = np.asarray(images, dtype=np.float64)
    if arr.ndim == 4 and arr.shape[3] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[3] != 3):
        raise ValueError(f"images must have shape (n, h, w) or (n, h, w, 3); got {arr.shape}")
    lo, hi = value_range
    arr = np.clip((arr - lo) / (hi - lo), 0.0, 1.0)
    n_rows = int(np.ceil(len(arr) / n_cols))
    return _tile(arr, n_rows, n_cols, pad, pad_value)


def top_image_grid(
    images: Any, table: pd.DataFrame, *, value_range: tuple[float, float] = (0.0, 255.0)
) -> np.ndarray:
    """The top-activating images of :func:`top_activating_images`, one row per unit.

    Parameters
    ----------
    images : array-like of shape (n_images, height, width[, 3])
        The images the features were computed from, in the same order.
    table : DataFrame
        :func:`top_activating_images` output.
    value_range : (float, float), default=(0, 255)

    Returns
    -------
    grid : ndarray, values in [0, 1]
        Row ``r`` holds the ``r``-th unit of ``table`` (in order of first
        appearance), strongest image first.
    """
    arr = np.asarray(images)
    units = list(pd.unique(table["unit"]))
    k = int(table["rank"].max()) + 1
    tiles = np.full((len(units) * k, *arr.shape[1:]), value_range[1], dtype=np.float64)
    for r, unit in enumerate(units):
        part = table[table["unit"] == unit].sort_values("rank")
        tiles[r * k + part["rank"].to_numpy()] = arr[part["image"].to_numpy()]
    return image_grid(tiles, n_cols=k, value_range=value_range)


def plot_image_grid(grid: np.ndarray, title: str = "", inches_per_pixel: float = 0.04) -> Figure:
    """A grid image (filters or thumbnails) drawn without interpolation.

    Parameters
    ----------
    grid : ndarray of shape (H, W) or (H, W, 3), values in [0, 1]
    title : str, default=""
    inches_per_pixel : float, default=0.04
        Figure size per grid pixel (capped to 3..12 inches wide).

    Returns
    -------
    matplotlib.figure.Figure
    """
    height, width = grid.shape[:2]
    w = float(np.clip(width * inches_per_pixel, 3.0, 12.0))
    fig = new_figure(w, w * height / width + (0.4 if title else 0.0))
    ax = fig.subplots()
    ax.imshow(
        grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest"
    )
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig


# -- as a recipe analysis ---------------------------------------------------------


def _enlarge(grid: np.ndarray, min_width: int = 240) -> np.ndarray:
    """Repeat pixels so that a grid of tiny filters is visible (nearest neighbour)."""
    factor = max(1, int(np.ceil(min_width / max(1, grid.shape[1]))))
    return np.repeat(np.repeat(grid, factor, axis=0), factor, axis=1)


@register_analysis("filters", "First-layer filters and top-activating images per unit")
class FiltersAnalysis(Analysis):
    """Pictures of each extractor: its first convolution's filters (networks)
    and, for its most variable units, the test images that activate them most.

    Writes ``top_images.csv`` (:func:`top_activating_images`, ``image`` being
    the dataset index, with its file in ``source``), ``filters.png`` for
    Keras networks and ``top_images.png`` per extractor; the report embeds
    the pictures.

    Parameters
    ----------
    n_units : int, default=6
        Units shown: those with the largest variance over the test images.
    k : int, default=8
        Images per unit.
    extractors : list of str, optional
        Extractor labels to analyse (default: all).

    References
    ----------
    .. [1] Zeiler, Fergus. "Visualizing and understanding convolutional
       networks." ECCV 2014.
    .. [2] Sun, Wang, Tang. "Deeply learned face representations are sparse,
       selective, and robust." CVPR 2015.
    """

    sections = ("filters",)

    def __init__(self, n_units: int = 6, k: int = 8, extractors: list[str] | None = None) -> None:
        self.n_units = n_units
        self.k = k
        self.extractors = extractors

    def check_recipe(self, labels: list[str], protocol: Any) -> None:
        super().check_recipe(labels, protocol)
        for key in ("n_units", "k"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{key!r} must be a positive int, got {value!r}")

    def run(self, context: AnalysisContext, label: str) -> AnalysisOutput:
        out = AnalysisOutput()
        extractor = context.plan.recipe.extractors[label]
        if extractor.__sklearn_tags__().requires_fit and label not in context.fold_features:
            # trained per fold (minutes), and its features were not computed in this run
            out.notes.append("learns per fold and its cells came from the cache: not drawn")
            return out
        if extractor.__sklearn_tags__().requires_fit:
            out.notes.append("learns per fold: its filters are not drawn (it would be refitted)")
        elif hasattr(extractor, "keras_model"):
            kernels, layer = first_conv_kernels(context.extractor(label).keras_model())
            out.images["filters"] = _enlarge(filter_grid(kernels))
            out.notes.append(f"filters of layer {layer!r}, {len(kernels)} kernels")
        else:
            out.notes.append("no convolution filters to show (not a Keras network)")
        test = np.flatnonzero(context.test)
        F = context.features(label)[test]
        variance = F.var(axis=0)
        units = np.argsort(-variance, kind="stable")[: int(self.n_units)]
        table = top_activating_images(F, units, k=int(self.k))
        table["image"] = test[table["image"].to_numpy()]
        table["source"] = [context.data.describe(int(i)) for i in table["image"]]
        needed = np.unique(table["image"].to_numpy())
        images = context.images(label, needed)
        local = table.assign(image=np.searchsorted(needed, table["image"].to_numpy()))
        out.images["top_images"] = top_image_grid(images, local)
        out.tables["top_images"] = table
        return out


def _filters_body(report: Any, entry: dict, folder: Any) -> tuple[str, str]:
    from transfer.analysis.base import png_data_uri
    from transfer.report.html import escape, figure

    html = []
    names = [str(n) for n in entry.get("images", [])]
    for name in names:
        if name.endswith("_filters.png"):
            what = f"first-layer filters of {name[: -len('_filters.png')]}"
        else:
            what = (
                f"test images that activate the most variable units of "
                f"{name[: -len('_top_images.png')]} most (one row per unit, strongest first)"
            )
        uri = png_data_uri(folder / name)
        html.append(figure(uri, what, escape(what), f"fig-{entry['label']}-{name}"))
    md = "Pictures: " + ", ".join(names) if names else ""
    return "".join(html), md


@register_section("filters", title="Filters and top images", nav="Filters", order=75)
def filters_section(report: Any) -> Any:
    """The filter pictures of the run."""
    from transfer.analysis.base import analysis_section

    return analysis_section(report, "filters", _filters_body)
