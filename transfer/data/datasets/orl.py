"""``orl``: the AT&T (ORL) Database of Faces."""

from __future__ import annotations

import os
import re

from transfer.data._checks import require_folder
from transfer.data.catalog import DatasetInfo, register_loader
from transfer.data.datasets._files import (
    IMAGE_EXTENSIONS,
    folder_set,
    image_files,
    natural_key,
    subfolders,
    warn_dangling,
)
from transfer.data.imageset import ImageSet

INFO = DatasetInfo(
    name="orl",
    summary="The AT&T (ORL) Database of Faces: 40 subjects x 10 grey 112x92 images.",
    layout="s1/1.pgm ... s40/10.pgm (8-bit grey PGM, 92x112)",
    citation=(
        'F. Samaria and A. Harter, "Parameterisation of a stochastic model for human face '
        'identification", IEEE Workshop on Applications of Computer Vision, 1994.'
    ),
    url="https://cam-orl.co.uk/facedatabase.html",
    default_path="orl",
)


@register_loader(INFO)
def orl(path: str | os.PathLike | None = None) -> ImageSet:
    """The AT&T (ORL) Database of Faces: 40 subjects x 10 grey 112x92 images.

    Expects the database's layout ``path/s1/1.pgm`` ... ``path/s40/10.pgm``.
    Subjects and images are ordered numerically (``s2`` before ``s10``), so
    class ``k`` is subject ``s{k+1}``. Labels are the identities.

    Parameters
    ----------
    path : str or path-like
        The folder holding ``s1/`` ... ``s40/``.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When it holds no ``s<N>`` folders, or one of them holds no image.

    References
    ----------
    F. Samaria and A. Harter, "Parameterisation of a stochastic model for human
    face identification", IEEE Workshop on Applications of Computer Vision, 1994.
    """
    folder = require_folder("orl", path, "the ORL folder holding s1/ ... s40/")
    dangling: list[str] = []
    classes = sorted(
        (d for d in subfolders(folder, dangling) if re.fullmatch(r"s\d+", d)), key=natural_key
    )
    if not classes:
        raise ValueError(
            f"no ORL subject folders (s1, s2, ...) in {folder!r}: expected the AT&T layout "
            "s1/1.pgm ... s40/10.pgm"
        )
    files = {}
    for c in classes:
        files[c] = sorted(
            image_files(os.path.join(folder, c), IMAGE_EXTENSIONS, dangling), key=natural_key
        )
        if not files[c]:
            raise ValueError(f"ORL subject folder {os.path.join(folder, c)!r} holds no images")
    warn_dangling("orl", dangling)
    return folder_set("orl", folder, classes, files)
