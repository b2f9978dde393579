"""Listing image folders: sorted names, image files, and broken links reported.

A file is an image by its extension (:data:`IMAGE_EXTENSIONS`) or, where
asked, by its content (:func:`transfer.data.decode.is_image_file`, a cached
header check): extensionless files such as Yale's ``subject01.glasses``
are then found too.
"""

from __future__ import annotations

import os
import re
import warnings

import numpy as np

from transfer.data.decode import is_image_file
from transfer.data.imageset import ImageSet

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".pgm", ".bmp", ".ppm", ".tif", ".tiff", ".gif")

# How many broken links a warning names; the count covers them all.
_SHOWN = 5


def natural_key(name: str) -> tuple:
    """Sort key ordering embedded numbers numerically: s2 < s10, 2.pgm < 10.pgm."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name))


def _dangling(entry: os.DirEntry) -> bool:
    return entry.is_symlink() and not os.path.exists(entry.path)


def subfolders(folder: str, dangling: list[str] | None = None) -> list[str]:
    """Names of the visible subfolders of ``folder``.

    Visible symbolic links whose target is missing are appended to
    ``dangling`` (they may have been class folders).
    """
    names = []
    with os.scandir(folder) as entries:
        for e in entries:
            if e.name.startswith("."):
                continue
            if e.is_dir():
                names.append(e.name)
            elif dangling is not None and _dangling(e):
                dangling.append(e.path)
    return names


def image_files(
    folder: str,
    extensions: tuple[str, ...],
    dangling: list[str] | None = None,
    sniff: bool = False,
    skipped: list[str] | None = None,
) -> list[str]:
    """Names of the visible files of ``folder`` with one of ``extensions``.

    Links with such a name whose target is missing are appended to
    ``dangling`` rather than taken (a loader that took them would fail later,
    at decoding). With ``sniff``, files whose extension is none of
    :data:`IMAGE_EXTENSIONS` (none at all, ``.glasses``, ``.txt``) are taken
    when their content is an image, and appended to ``skipped`` when not;
    files with a known extension are taken on their name, unread, so large
    folders of ``.jpg`` files list as fast as before.
    """
    names = []
    with os.scandir(folder) as entries:
        for e in entries:
            if e.name.startswith("."):
                continue
            ext = os.path.splitext(e.name)[1].lower()
            if ext not in extensions:
                if sniff and ext not in IMAGE_EXTENSIONS and e.is_file():
                    if is_image_file(e.path):
                        names.append(e.name)
                    elif skipped is not None:
                        skipped.append(e.path)
                continue
            if e.is_file():
                names.append(e.name)
            elif dangling is not None and _dangling(e):
                dangling.append(e.path)
    return names


def walk_files(folder: str, dangling: list[str] | None = None) -> list[str]:
    """Paths, relative to ``folder``, of every visible file under it, in natural order.

    Hidden files and folders are skipped; linked folders are followed once
    (a link back to a folder already listed is not); broken links are
    appended to ``dangling``.
    """
    found: list[str] = []
    seen: set[tuple[int, int]] = set()

    def visit(sub: str) -> None:
        here = os.path.join(folder, sub) if sub else folder
        st = os.stat(here)
        if (st.st_dev, st.st_ino) in seen:
            return
        seen.add((st.st_dev, st.st_ino))
        with os.scandir(here) as entries:
            for e in entries:
                if e.name.startswith("."):
                    continue
                rel = os.path.join(sub, e.name) if sub else e.name
                if e.is_dir():
                    visit(rel)
                elif e.is_file():
                    found.append(rel)
                elif dangling is not None and _dangling(e):
                    dangling.append(e.path)

    visit("")
    return sorted(found, key=lambda rel: natural_key(rel.replace(os.sep, "\0")))


def warn_not_images(loader: str, skipped: list[str], stacklevel: int = 3) -> None:
    """Warn once about files skipped because their content is not an image."""
    if not skipped:
        return
    shown = ", ".join(repr(p) for p in sorted(skipped)[:_SHOWN])
    more = f" (first {_SHOWN} shown)" if len(skipped) > _SHOWN else ""
    warnings.warn(
        f"{loader}: skipping {len(skipped)} file(s) that are not images (no image format "
        f"recognised in their content): {shown}{more}",
        UserWarning,
        stacklevel=stacklevel,
    )


def warn_dangling(loader: str, dangling: list[str], stacklevel: int = 3) -> None:
    """Warn once about the broken links a listing skipped, with the first few paths."""
    if not dangling:
        return
    shown = ", ".join(repr(p) for p in sorted(dangling)[:_SHOWN])
    more = f" (first {_SHOWN} shown)" if len(dangling) > _SHOWN else ""
    warnings.warn(
        f"{loader}: skipping {len(dangling)} broken symbolic link(s), whose target does not "
        f"exist: {shown}{more}",
        UserWarning,
        stacklevel=stacklevel,
    )


def folder_set(
    name: str,
    root: str,
    classes: list[str],
    files: dict[str, list[str]],
) -> ImageSet:
    """A lazy ImageSet from ``files[class] -> file names`` under ``root/class``."""
    paths: list[str] = []
    labels: list[int] = []
    for k, cls in enumerate(classes):
        for f in files[cls]:
            paths.append(os.path.join(root, cls, f))
            labels.append(k)
    return ImageSet(
        name=name,
        labels=np.asarray(labels, dtype=np.int64),
        class_names=tuple(classes),
        paths=tuple(paths),
        root=root,
    )
