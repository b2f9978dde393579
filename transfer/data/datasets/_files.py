"""Listing image folders: sorted names, image files, and broken links reported."""

from __future__ import annotations

import os
import re
import warnings

import numpy as np

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
    folder: str, extensions: tuple[str, ...], dangling: list[str] | None = None
) -> list[str]:
    """Names of the visible files of ``folder`` with one of ``extensions``.

    Links with such a name whose target is missing are appended to
    ``dangling`` rather than taken (a loader that took them would fail later,
    at decoding).
    """
    names = []
    with os.scandir(folder) as entries:
        for e in entries:
            if e.name.startswith(".") or os.path.splitext(e.name)[1].lower() not in extensions:
                continue
            if e.is_file():
                names.append(e.name)
            elif dangling is not None and _dangling(e):
                dangling.append(e.path)
    return names


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
