"""Parameter checks shared by the dataset loaders and :func:`select_classes`.

Each names the loader (or function) and the parameter, as
:class:`transfer._validation.InvalidParameterError`.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence

from transfer._validation import InvalidParameterError


def check_int(
    loader: str, name: str, value, minimum: int = 1, allow_none: bool = True
) -> int | None:
    """``value`` as an int ``>= minimum`` (or None when allowed), else a clear error."""
    if value is None and allow_none:
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum:
        return int(value)
    allowed = f"an int >= {minimum}" + (" or None" if allow_none else "")
    raise InvalidParameterError(
        f"The {name!r} parameter of the {loader!r} loader must be {allowed}; got {value!r}."
    )


def check_str_list(loader: str, name: str, value) -> tuple[str, ...]:
    """A str or a non-empty sequence of non-empty str, as a tuple."""
    if isinstance(value, str):
        value = (value,)
    if isinstance(value, Sequence) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise InvalidParameterError(
        f"The {name!r} parameter of the {loader!r} loader must be a non-empty list of "
        f"non-empty strings; got {value!r}."
    )


def check_extensions(loader: str, extensions) -> tuple[str, ...]:
    """File extensions, lower-case and with their leading dot."""
    exts = check_str_list(loader, "extensions", extensions)
    return tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in exts)


def require_folder(loader: str, path, what: str) -> str:
    """``path`` as an absolute folder, or a clear error saying ``what`` it should hold."""
    if path is None:
        raise InvalidParameterError(
            f"The {loader!r} loader needs a 'path': {what}. With open_dataset, a relative "
            "path is taken under the data root (TRANSFER_DATA or --set data.root=PATH)."
        )
    if not isinstance(path, str | os.PathLike):
        raise InvalidParameterError(
            f"The 'path' parameter of the {loader!r} loader must be a str or path; got {path!r}."
        )
    folder = os.path.abspath(os.path.expanduser(os.fspath(path)))
    if not os.path.exists(folder):
        raise FileNotFoundError(f"data folder {folder!r} does not exist ({what})")
    if not os.path.isdir(folder):
        raise NotADirectoryError(f"data path {folder!r} is not a folder ({what})")
    return folder


def no_path(loader: str, path) -> None:
    """Refuse a path for a dataset that ships inside its library."""
    if path is not None:
        raise InvalidParameterError(
            f"The {loader!r} dataset ships with its library and takes no 'path'; got {path!r}."
        )
