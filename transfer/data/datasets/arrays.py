"""``npz``: Keras-style ``.npz`` arrays (``x_train, y_train, x_test, y_test``)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from transfer._validation import InvalidParameterError
from transfer.data._checks import check_int, check_str_list, require_folder
from transfer.data.catalog import DatasetInfo, register_loader
from transfer.data.imageset import ImageSet

INFO = DatasetInfo(
    name="npz",
    summary="A Keras-style .npz file (x_train, y_train, x_test, y_test), in memory.",
    layout="one .npz file holding x_train, y_train, x_test, y_test (e.g. mnist/mnist.npz)",
)


def _stratified_first(y: np.ndarray, n: int) -> np.ndarray:
    """Indices of ``n`` items: the first ones of each class, in proportion to its size.

    Class quotas are ``n * count / total`` rounded by largest remainder (ties
    to the smaller class index); the result is in the original order.
    """
    if n >= len(y):
        return np.arange(len(y))
    values, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    exact = n * counts / len(y)
    quota = np.floor(exact).astype(np.int64)
    order = np.lexsort((np.arange(len(values)), -(exact - quota)))
    quota[order[: n - quota.sum()]] += 1
    keep = np.zeros(len(y), dtype=bool)
    for k in range(len(values)):
        keep[np.flatnonzero(inverse == k)[: quota[k]]] = True
    return np.flatnonzero(keep)


@register_loader(INFO)
def npz(
    path: str | os.PathLike | None = None,
    max_train: int | None = None,
    max_test: int | None = None,
    class_names: Sequence[str] | None = None,
    name: str | None = None,
) -> ImageSet:
    """A Keras-style ``.npz`` file (``x_train, y_train, x_test, y_test``), in memory.

    MNIST from ``keras.datasets`` is stored this way (``mnist.npz``). Train
    and test images are concatenated, train first, and ``split`` says which
    is which ("train" / "test"). A trailing channel of size 1 is dropped
    (grey images are ``(height, width)``).

    Parameters
    ----------
    path : str or path-like
        The ``.npz`` file.
    max_train, max_test : int, optional
        Keep at most this many training / test images: the first ones of each
        class, in proportion to the class sizes (a deterministic stratified
        subset, so a file sorted by label still gives every class). 0 drops
        the split.
    class_names : list of str, optional
        Names of classes ``0 .. k-1`` when the labels are these integers;
        by default the sorted distinct labels, as strings ("0" ... "9").
    name : str, optional
        Name for reports; defaults to the file name without ``.npz``.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When keys are missing (naming them) or shapes disagree.
    """
    loader = "npz"
    if path is None:
        require_folder(loader, None, "a Keras-style .npz file")
    file = os.path.abspath(os.path.expanduser(os.fspath(path)))
    if not os.path.isfile(file):
        raise FileNotFoundError(f"npz file {file!r} does not exist")
    max_train = check_int(loader, "max_train", max_train, 0)
    max_test = check_int(loader, "max_test", max_test, 0)
    if class_names is not None:
        class_names = check_str_list(loader, "class_names", class_names)
    try:
        data = np.load(file, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read npz file {file!r}: {exc}") from None
    with data:
        required = ("x_train", "y_train", "x_test", "y_test")
        missing = [k for k in required if k not in data.files]
        if missing:
            raise ValueError(
                f"npz file {file!r} lacks {', '.join(missing)} (it has "
                f"{', '.join(data.files) or 'no arrays'}); expected Keras' layout "
                "x_train, y_train, x_test, y_test"
            )
        try:
            parts = {k: data[k] for k in required}
        except ValueError as exc:  # e.g. object arrays, refused without pickle
            raise ValueError(f"cannot read npz file {file!r}: {exc}") from None
    xs, ys, splits = [], [], []
    for split, limit in (("train", max_train), ("test", max_test)):
        x, y = parts[f"x_{split}"], parts[f"y_{split}"]
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if x.ndim == 4 and x.shape[-1] == 1:
            x = x[..., 0]
        if x.ndim not in (3, 4) or y.ndim != 1 or len(x) != len(y):
            raise ValueError(
                f"npz file {file!r}: x_{split} {x.shape} and y_{split} {y.shape} do not "
                "describe (n, height, width[, channels]) images with n labels"
            )
        if limit is not None:
            idx = _stratified_first(y, limit)
            x, y = x[idx], y[idx]
        xs.append(x)
        ys.append(y)
        splits.append(np.full(len(y), split))
    if xs[0].shape[1:] != xs[1].shape[1:] and len(xs[0]) and len(xs[1]):
        raise ValueError(
            f"npz file {file!r}: train images are {xs[0].shape[1:]} but test images "
            f"{xs[1].shape[1:]}"
        )
    y_all = np.concatenate(ys)
    if len(y_all) == 0:
        raise ValueError(
            f"npz file {file!r}: no images left with max_train={max_train}, max_test={max_test}"
        )
    images = np.concatenate([x for x in xs if len(x)])
    if class_names is not None:
        if (
            not np.issubdtype(y_all.dtype, np.integer)
            or y_all.min() < 0
            or (y_all.max() >= len(class_names))
        ):
            raise InvalidParameterError(
                f"The 'class_names' parameter of the 'npz' loader names {len(class_names)} "
                f"classes but the labels in {file!r} range over {np.unique(y_all)[:20]}."
            )
        labels = y_all.astype(np.int64)
    else:
        values, labels = np.unique(y_all, return_inverse=True)
        class_names = tuple(str(v) for v in values)
    return ImageSet(
        name=name or os.path.splitext(os.path.basename(file))[0],
        labels=np.asarray(labels, dtype=np.int64).ravel(),
        class_names=tuple(class_names),
        images=images,
        split=np.concatenate(splits),
        root=os.path.dirname(file),
    )
