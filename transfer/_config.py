"""Library-wide runtime settings (progress bars), in the manner of
``sklearn.set_config``. Nothing here touches the environment at import."""

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
