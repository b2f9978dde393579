"""The dataset catalogue: loaders registered with their metadata, opened by name.

Every loader has the signature ``loader(path=None, **params) -> ImageSet``
and is registered with :func:`register_loader`, which files it in
``transfer._registry.DATASETS`` and attaches its :class:`DatasetInfo`, so
recipes name datasets (``orl``, ``lfw``, ``celeba``, ``npz``,
``image_folder``, ...) rather than import paths, and :func:`open_dataset`
asks each loader where its data lives and whether it takes a path, instead of
keeping lists of names.

Errors
------
* a missing folder or file: :class:`FileNotFoundError` naming it;
* a parameter of the wrong type or value:
  :class:`transfer._validation.InvalidParameterError` (a ``ValueError`` and a
  ``TypeError``) naming the loader and the parameter;
* an unknown dataset, attribute or split name:
  :class:`transfer._registry.UnknownNameError` (a ``KeyError`` and a
  ``ValueError``) with the closest known name;
* a malformed annotation file or data folder: :class:`ValueError` naming the
  file (and line).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from transfer._registry import DATASETS, UnknownNameError, did_you_mean, register_dataset
from transfer._validation import InvalidParameterError
from transfer.data.imageset import ImageSet

L = TypeVar("L", bound=Callable[..., ImageSet])

TFDS_PREFIX = "tfds:"


@dataclass(frozen=True)
class DatasetInfo:
    """What a registered dataset is and where it lives.

    Parameters
    ----------
    name : str
        The registry name (``"orl"``).
    summary : str
        One line for listings (``transfer list datasets``).
    layout : str
        The files the loader expects, e.g. ``"s1/1.pgm ... s40/10.pgm"``.
    citation : str
        The reference to cite when publishing results on it ("" if none).
    url : str
        Where the data is published ("" if none).
    default_path : str, optional
        Its usual folder under the data root (``TRANSFER_DATA``), used by
        :func:`open_dataset` when no path is given; None when there is none.
    takes_path : bool
        False for datasets that ship inside a library (no file to read).
    """

    name: str
    summary: str
    layout: str = ""
    citation: str = ""
    url: str = ""
    default_path: str | None = None
    takes_path: bool = True


def register_loader(info: DatasetInfo) -> Callable[[L], L]:
    """Decorator registering a loader under ``info.name``, with ``info`` attached.

    The loader keeps ``info`` as its ``dataset_info`` attribute, which
    :func:`dataset_info` reads back.
    """

    def decorator(loader: L) -> L:
        loader.dataset_info = info
        return register_dataset(info.name, summary=info.summary)(loader)

    return decorator


def dataset_info(name: str) -> DatasetInfo:
    """The metadata of the dataset registered as ``name`` (``"tfds:NAME"`` gives tfds').

    A loader registered without metadata (a plugin using
    ``register_dataset`` directly) gets a :class:`DatasetInfo` holding its
    name and summary only.

    Raises
    ------
    UnknownNameError
        For an unknown name, with the closest known one.
    """
    key = "tfds" if isinstance(name, str) and name.startswith(TFDS_PREFIX) else name
    loader = DATASETS.get(key)
    info = getattr(loader, "dataset_info", None)
    if isinstance(info, DatasetInfo):
        return info
    return DatasetInfo(name=key, summary=DATASETS.summary(key))


def open_dataset(
    spec: str,
    path: str | os.PathLike | None = None,
    root: str | os.PathLike | None = None,
    **params,
) -> ImageSet:
    """Open a dataset by registry name (``"orl"``) or TFDS name (``"tfds:mnist"``).

    Parameters
    ----------
    spec : str
        A registered dataset name (see ``transfer._registry.DATASETS``) or
        ``"tfds:NAME"`` for a TensorFlow Datasets dataset.
    path : str or path-like, optional
        The data; a relative path is taken under ``root``. Without it, a
        dataset uses its usual folder under the root
        (:attr:`DatasetInfo.default_path`: ``orl``, ``lfw``, ``celeba``). For
        ``tfds:`` it is the TFDS data_dir.
    root : str or path-like, optional
        The data root; defaults to the ``TRANSFER_DATA`` environment variable.
    **params
        The loader's parameters.

    Raises
    ------
    UnknownNameError
        For an unknown dataset or parameter name, with the closest one.
    ValueError
        When a relative path is given but no data root is set.
    FileNotFoundError
        When the path does not exist, naming the full path and the root.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidParameterError(f"a dataset is a registered name or 'tfds:NAME'; got {spec!r}")
    spec = spec.strip()
    if spec.startswith(TFDS_PREFIX):
        loader = DATASETS.get("tfds")
        params = {"name": spec[len(TFDS_PREFIX) :], **params}
    else:
        loader = DATASETS.get(spec)
    info = dataset_info(spec)
    _check_params(spec, loader, params)

    if root is not None:
        root_from = "the root given"
    elif os.environ.get("TRANSFER_DATA"):
        root, root_from = os.environ["TRANSFER_DATA"], "TRANSFER_DATA"
    else:
        root_from = None
    if root is not None:
        root = os.path.abspath(os.path.expanduser(os.fspath(root)))
    if path is None and info.takes_path:
        path = info.default_path
    if path is not None:
        path = os.path.expanduser(os.fspath(path))
        if os.path.isabs(path):
            where = " (an absolute path: the data root is not used)"
        elif root is None:
            raise ValueError(
                "the data root is not set: set TRANSFER_DATA=/path/to/data or pass "
                f"--set data.root=PATH (the dataset {spec!r} expects {path!r} under it)"
            )
        else:
            where = f" (data root {root!r}, from {root_from})"
            path = os.path.join(root, path)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"data path {path!r} for dataset {spec!r} does not exist{where}"
            )
    test_path = params.get("test_path")
    if test_path is not None and root is not None and not os.path.isabs(os.fspath(test_path)):
        params = {**params, "test_path": os.path.join(root, os.fspath(test_path))}
    return loader(path, **params)


def _check_params(spec: str, loader, params: dict) -> None:
    sig = inspect.signature(loader)
    accepted = [
        p.name
        for p in sig.parameters.values()
        if p.name != "path" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return
    for key in params:
        if key not in accepted:
            raise UnknownNameError(
                f"unknown parameter {key!r} for dataset {spec!r}.{did_you_mean(key, accepted)} "
                f"Its parameters: {', '.join(accepted) or 'none'}"
            )
