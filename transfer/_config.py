"""Library-wide runtime settings (progress bars), in the manner of
``sklearn.set_config``. Nothing here touches the environment at import."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_state = threading.local()
_DEFAULTS = {"progress": False}


def get_config() -> dict:
    """Return the current settings as a dict."""
    return {**_DEFAULTS, **getattr(_state, "values", {})}


def set_config(*, progress: bool | None = None) -> None:
    """Set library-wide options.

    Parameters
    ----------
    progress : bool, optional
        Show progress bars (``rich``) on long work such as feature extraction.
        Off by default: the library is quiet unless asked; the CLI turns it on.
    """
    values = getattr(_state, "values", {})
    if progress is not None:
        values["progress"] = bool(progress)
    _state.values = values


@contextlib.contextmanager
def config_context(*, progress: bool | None = None) -> Iterator[None]:
    """Temporarily change options; see :func:`set_config`."""
    old = dict(getattr(_state, "values", {}))
    set_config(progress=progress)
    try:
        yield
    finally:
        _state.values = old
