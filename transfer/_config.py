"""Library-wide runtime settings (progress bars), in the manner of
``sklearn.set_config``. Nothing here touches the environment at import.

Environment variables
---------------------
Read when they are needed (never at import), by the functions named:

``TRANSFER_DATA``
    The data root: recipes' ``data.path`` is relative to it
    (``--set data.root=PATH`` overrides it).
``TRANSFER_CACHE``
    The cache folder (:func:`transfer._io.default_cache_dir`; default
    ``$XDG_CACHE_HOME/transfer``, else ``~/.cache/transfer``): features,
    finished cells, aligned faces, trained networks, converted engines,
    the component index of ``transfer list``. Deleting it only costs time.
    It does *not* move the weights folder.
``TRANSFER_WEIGHTS``
    The folder of prepared (converted, sha256-checked) pretrained weights
    (:func:`transfer.weights.weights_dir`). Default
    ``$XDG_CACHE_HOME/transfer/weights``, else ``~/.cache/transfer/weights``,
    whether or not ``TRANSFER_CACHE`` is set. One exception keeps weights
    prepared by earlier versions (which kept them inside the cache folder):
    with ``TRANSFER_CACHE`` set, ``TRANSFER_WEIGHTS`` unset and a folder
    ``$TRANSFER_CACHE/weights`` already there, that folder is used.
``TRANSFER_WEIGHTS_PATH``
    Folders (``os.pathsep``-separated) searched for weights source files
    that no package registry carries (:func:`transfer.weights.store.search_path`).
``TRANSFER_MAX_IMAGE_PIXELS``
    Pillow's decompression-bomb limit for decoded images (an int, or
    ``none``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_state = threading.local()
_DEFAULTS: dict = {"progress": False, "progress_lines": None}


def get_config() -> dict:
    """Return the current settings as a dict."""
    return {**_DEFAULTS, **getattr(_state, "values", {})}


_UNSET = object()


def set_config(*, progress: bool | None = None, progress_lines: object = _UNSET) -> None:
    """Set library-wide options.

    Parameters
    ----------
    progress : bool, optional
        Show progress bars (``rich``) on long work such as feature extraction.
        Off by default: the library is quiet unless asked; the CLI turns it on.
    progress_lines : callable or None, optional
        A printer for plain progress lines (no carriage returns, at most one
        every 30 s per phase) when bars are off; the CLI passes its printer
        when its output is not a terminal. None: no lines.
    """
    values = getattr(_state, "values", {})
    if progress is not None:
        values["progress"] = bool(progress)
    if progress_lines is not _UNSET:
        values["progress_lines"] = progress_lines
    _state.values = values


@contextlib.contextmanager
def config_context(
    *, progress: bool | None = None, progress_lines: object = _UNSET
) -> Iterator[None]:
    """Temporarily change options; see :func:`set_config`."""
    old = dict(getattr(_state, "values", {}))
    set_config(progress=progress, progress_lines=progress_lines)
    try:
        yield
    finally:
        _state.values = old
