"""Input checks and the figure helper shared by the analyses."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def new_figure(width: float, height: float) -> Figure:
    """A figure on its own Agg canvas: no pyplot, no global matplotlib state."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def check_features(X: Any, name: str = "X") -> np.ndarray:
    """``X`` as a finite float64 array of shape (n_samples, n_units), at least one row."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(
            f"{name} must be features of shape (n_samples, n_units); got shape {X.shape}"
        )
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} contains NaN or infinity")
    return X


def check_rows(values: Any, n: int, name: str, what: str) -> np.ndarray:
    """``values`` as an array with one entry (or row) per sample, else a clear error."""
    arr = np.asarray(values)
    if arr.ndim == 0 or len(arr) != n:
        raise ValueError(
            f"{name} must hold one {what} per row of the features ({n} rows); got shape {arr.shape}"
        )
    return arr


def check_mask(mask: Any, n: int, name: str) -> np.ndarray:
    """A boolean mask of length ``n`` (or integer row indices), as a boolean mask."""
    arr = np.asarray(mask)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise ValueError(f"{name} must be a boolean mask of length {n}; got shape {arr.shape}")
        return arr
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be a boolean mask or integer indices; got {arr.dtype}")
    if arr.size and (arr.min() < -n or arr.max() >= n):
        raise ValueError(f"{name} has indices outside 0..{n - 1}")
    out = np.zeros(n, dtype=bool)
    out[arr] = True
    return out


def with_unit_names(frame: Any, names: Any, n_units: int) -> Any:
    """Add a ``unit_name`` column after ``unit`` (e.g. the extractor's feature names)."""
    if names is None:
        return frame
    names = np.asarray(names, dtype=object).astype(str)
    if names.shape != (n_units,):
        raise ValueError(f"unit_names must hold {n_units} names; got shape {names.shape}")
    frame.insert(frame.columns.get_loc("unit") + 1, "unit_name", names[frame["unit"].to_numpy()])
    return frame
