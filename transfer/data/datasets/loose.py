"""``files``: image files in a folder, flat or nested, recognised by their content.

For photos that come without one folder per class: a flat folder of a
user's photos, or a classic face database whose files are named after the
subject and the condition (Yale's ``subject01.glasses``, ``subject01.happy``,
with no extension). Labels are none, the parent folder's name, or taken
from the file names by a pattern.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

import numpy as np

from transfer._validation import InvalidParameterError
from transfer.data._checks import check_extensions, require_folder
from transfer.data.catalog import DatasetInfo, register_loader
from transfer.data.datasets._files import natural_key, walk_files, warn_dangling, warn_not_images
from transfer.data.decode import is_image_file
from transfer.data.imageset import UNLABELLED, ImageSet

INFO = DatasetInfo(
    name="files",
    summary="Image files in a folder, flat or nested, found by content; labels optional.",
    layout="PATH/**/<image>, any file names, extensions optional (subject01.glasses)",
)

#: ``label_from`` value taking each file's label from its folder's name.
PARENT = "parent"


@register_loader(INFO)
def loose_files(
    path: str | os.PathLike | None = None,
    label_from: str | None = None,
    extensions: Sequence[str] | None = None,
    name: str | None = None,
) -> ImageSet:
    r"""Every image file under a folder (recursively), with or without labels.

    Files are in natural order of their path under ``path`` (``s2`` before
    ``s10``); hidden files and folders (starting with ``.``) are skipped. A
    file is an image by its content, whatever its extension: PIL must
    recognise its header (a cheap check, cached per file and modification
    time), so extensionless files work and a ``.jpg`` holding text does not
    count. Files that are not images are skipped with one ``UserWarning``
    counting them and naming the first five; so are broken links.

    Parameters
    ----------
    path : str or path-like
        The folder.
    label_from : None, "parent" or str, default=None
        Where labels come from. None: no labels (every image is class 0,
        named ``"unlabelled"``). ``"parent"``: the name of the folder that
        holds the file (files directly under ``path`` take ``path``'s own
        name). Any other string is a regular expression searched in each
        file's name (not its folder): its first group (the whole match if it
        has no group) is the class, e.g. ``r"^(subject\d+)\."`` on Yale's
        ``subject01.glasses``. Classes are in natural order of their names.
    extensions : sequence of str, optional
        Only files with these extensions (case-insensitive), still checked
        by content; by default every file.
    name : str, optional
        Name for reports; defaults to the folder's name.

    Returns
    -------
    ImageSet
        Lazy (``paths``), with ``root = path``.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When no file under ``path`` is an image, or (``label_from`` a
        pattern) a file name does not match it, naming the file.
    InvalidParameterError
        For a ``label_from`` that is not a valid regular expression, naming
        the error in it.
    """
    folder = require_folder("files", path, "image files, in any layout")
    pattern = _label_pattern(label_from)
    exts = None if extensions is None else check_extensions("files", extensions)
    if name is not None and not (isinstance(name, str) and name):
        raise InvalidParameterError(
            f"The 'name' parameter of the 'files' loader must be a non-empty str; got {name!r}."
        )
    dangling: list[str] = []
    candidates = walk_files(folder, dangling)
    if exts is not None:
        candidates = [r for r in candidates if os.path.splitext(r)[1].lower() in exts]
    found, skipped = [], []
    for rel in candidates:
        (found if is_image_file(os.path.join(folder, rel)) else skipped).append(rel)
    warn_dangling("files", dangling)
    warn_not_images("files", [os.path.join(folder, r) for r in skipped])
    if not found:
        only = f" with extensions {', '.join(exts)}" if exts is not None else ""
        raise ValueError(
            f"no image files under {folder!r}: {len(candidates)} file(s){only} found, "
            "none of them an image"
        )
    if label_from is None:
        keys = None
    elif pattern is None:  # "parent"
        keys = [os.path.basename(os.path.dirname(os.path.join(folder, r))) for r in found]
    else:
        keys = [_match(pattern, rel, folder) for rel in found]
    if keys is None:
        labels, class_names = None, (UNLABELLED,)
    else:
        class_names = tuple(sorted(set(keys), key=natural_key))
        index = {c: k for k, c in enumerate(class_names)}
        labels = np.asarray([index[k] for k in keys], dtype=np.int64)
    return ImageSet(
        name=name or os.path.basename(folder),
        labels=labels,
        class_names=class_names,
        paths=tuple(os.path.join(folder, r) for r in found),
        root=folder,
    )


def _label_pattern(label_from) -> re.Pattern | None:
    """The compiled pattern of ``label_from`` (None for None and "parent")."""
    if label_from is None or label_from == PARENT:
        return None
    if not isinstance(label_from, str) or not label_from:
        raise InvalidParameterError(
            "The 'label_from' parameter of the 'files' loader must be None, 'parent' or a "
            f"regular expression on the file names; got {label_from!r}."
        )
    try:
        return re.compile(label_from)
    except re.error as exc:
        raise InvalidParameterError(
            f"The 'label_from' parameter of the 'files' loader, {label_from!r}, is not a valid "
            f"regular expression: {exc}."
        ) from None


def _match(pattern: re.Pattern, rel: str, folder: str) -> str:
    """The class of the file ``rel``: the first group of ``pattern`` in its name."""
    found = pattern.search(os.path.basename(rel))
    label = None if found is None else found.group(1 if pattern.groups else 0)
    if not label:
        raise ValueError(
            f"files: the file name {os.path.basename(rel)!r} ({os.path.join(folder, rel)!r}) "
            f"does not match label_from={pattern.pattern!r}, so it has no label; fix the "
            "pattern, or move the file out of the folder"
        )
    return label
