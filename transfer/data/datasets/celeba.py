"""``celeba``: CelebA aligned faces and their 40 binary attributes."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from transfer._registry import UnknownNameError, did_you_mean
from transfer._validation import InvalidParameterError
from transfer.data._checks import check_int, check_str_list, require_folder
from transfer.data.catalog import DatasetInfo, register_loader
from transfer.data.imageset import ImageSet

INFO = DatasetInfo(
    name="celeba",
    summary="CelebA aligned faces with their 40 binary attributes, loaded lazily.",
    layout=(
        "img_align_celeba/NNNNNN.jpg and list_attr_celeba.txt (or the official Img/ and "
        "Anno/ subfolders)"
    ),
    citation=(
        'Z. Liu, P. Luo, X. Wang and X. Tang, "Deep Learning Face Attributes in the Wild", '
        "ICCV 2015."
    ),
    url="https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html",
    default_path="celeba",
)


def read_celeba_attributes(
    file: str | os.PathLike, max_rows: int | None = None
) -> tuple[tuple[str, ...], list[str], np.ndarray]:
    """Read CelebA's ``list_attr_celeba.txt``.

    Line 1 is the number of images, line 2 the attribute names, then one row
    per image: the file name and one ``1`` / ``-1`` value per attribute.
    Spacing may be irregular and line ends CRLF.

    Parameters
    ----------
    file : str or path-like
    max_rows : int, optional
        Read only the first rows (the count check is then skipped).

    Returns
    -------
    names : tuple of str
    files : list of str
    values : ndarray of shape (n_images, n_attributes), uint8 in {0, 1}

    Raises
    ------
    ValueError
        For a malformed header or row, naming the file and line.
    """
    file = os.fspath(file)
    with open(file, encoding="utf-8") as f:
        first = f.readline().split()
        names = tuple(f.readline().split())
        if len(first) != 1 or not first[0].isdigit():
            raise ValueError(f"{file}:1: expected the number of images, got {' '.join(first)!r}")
        if not names:
            raise ValueError(f"{file}:2: expected the attribute names, found an empty line")
        files: list[str] = []
        rows: list[list[str]] = []
        for i, line in enumerate(f, start=3):
            tokens = line.split()
            if not tokens:
                continue
            if len(tokens) != len(names) + 1:
                raise ValueError(
                    f"{file}:{i}: expected a file name and {len(names)} values, "
                    f"got {len(tokens)} fields"
                )
            files.append(tokens[0])
            rows.append(tokens[1:])
            if max_rows is not None and len(files) >= max_rows:
                break
    count = int(first[0])
    if max_rows is None and len(files) != count:
        raise ValueError(f"{file}: line 1 announces {count} images but {len(files)} rows follow")
    try:
        raw = np.array(rows, dtype=np.int16).reshape(len(rows), len(names))
        bad = np.flatnonzero(~np.isin(raw, (-1, 0, 1)).all(axis=1))
    except ValueError:
        raw, bad = None, np.zeros(1, dtype=np.intp)
    if len(bad):
        for r in range(int(bad[0]), len(rows)):
            for name, t in zip(names, rows[r], strict=True):
                if t not in ("1", "-1", "0"):
                    raise ValueError(
                        f"{file}: row of {files[r]!r}: attribute {name} has value {t!r}, "
                        "expected 1 or -1"
                    )
    return names, files, (raw > 0).astype(np.uint8)


def _first_existing(base: str, candidates: Sequence[str]) -> str | None:
    for c in candidates:
        p = os.path.join(base, c)
        if os.path.exists(p):
            return p
    return None


@register_loader(INFO)
def celeba(
    path: str | os.PathLike | None = None,
    attributes: Sequence[str] | None = None,
    label: str | None = None,
    max_images: int | None = None,
) -> ImageSet:
    """CelebA aligned faces with their 40 binary attributes, loaded lazily.

    Reads ``img_align_celeba/NNNNNN.jpg`` and ``list_attr_celeba.txt`` from
    ``path`` (or the official ``Img/`` and ``Anno/`` subfolders).

    Parameters
    ----------
    path : str or path-like
        The CelebA folder.
    attributes : list of str, optional
        Attribute columns to keep, in this order; all 40 by default.
    label : str, optional
        An attribute that becomes the class label: ``labels`` is its 0/1
        column and ``class_names`` is ``("not <label>", "<label>")``. By
        default CelebA has no classes: every label is 0 and ``class_names`` is
        ``("face",)``; the attributes are in ``attributes``.
    max_images : int, optional
        Take the first images of the attribute file only (then only those
        need to exist).

    Returns
    -------
    ImageSet
        ``attributes`` uint8 0/1 of shape (n_images, n_attributes) with
        ``attribute_names``; ``identities`` is None (CelebA's identity file is
        not read); ``root`` is the image folder.

    Raises
    ------
    FileNotFoundError
        For a missing folder, attribute file, or an image the file lists.
    UnknownNameError
        For an unknown attribute name, with the closest one.

    References
    ----------
    Z. Liu, P. Luo, X. Wang and X. Tang, "Deep Learning Face Attributes in the
    Wild", ICCV 2015.
    """
    folder = require_folder("celeba", path, "the CelebA folder holding img_align_celeba/")
    max_images = check_int("celeba", "max_images", max_images, 1)
    if attributes is not None:
        attributes = check_str_list("celeba", "attributes", attributes)
    if label is not None and not isinstance(label, str):
        raise InvalidParameterError(
            f"The 'label' parameter of the 'celeba' loader must be an attribute name or None; "
            f"got {label!r}."
        )
    attr_file = _first_existing(
        folder, ("list_attr_celeba.txt", os.path.join("Anno", "list_attr_celeba.txt"))
    )
    if attr_file is None:
        raise FileNotFoundError(
            f"CelebA attribute file {os.path.join(folder, 'list_attr_celeba.txt')!r} does not exist"
        )
    images = _first_existing(folder, ("img_align_celeba", os.path.join("Img", "img_align_celeba")))
    if images is None or not os.path.isdir(images):
        raise FileNotFoundError(
            f"CelebA image folder {os.path.join(folder, 'img_align_celeba')!r} does not exist"
        )
    names, files, values = read_celeba_attributes(attr_file, max_rows=max_images)
    if not files:
        raise ValueError(f"{attr_file}: lists no images")

    def column(attr: str) -> int:
        if attr not in names:
            raise UnknownNameError(
                f"unknown CelebA attribute {attr!r} (in {attr_file}).{did_you_mean(attr, names)} "
                f"Known attributes: {', '.join(names)}"
            )
        return names.index(attr)

    cols = list(range(len(names))) if attributes is None else [column(a) for a in attributes]
    present = set(os.listdir(images))
    for f in files:
        if f not in present:
            raise FileNotFoundError(
                f"CelebA image {os.path.join(images, f)!r} listed in {attr_file!r} does not exist"
            )
    if label is None:
        labels = np.zeros(len(files), dtype=np.int64)
        class_names: tuple[str, ...] = ("face",)
    else:
        labels = values[:, column(label)].astype(np.int64)
        class_names = (f"not {label}", label)
    return ImageSet(
        name="celeba",
        labels=labels,
        class_names=class_names,
        paths=tuple(os.path.join(images, f) for f in files),
        attributes=np.ascontiguousarray(values[:, cols]),
        attribute_names=tuple(names[c] for c in cols),
        root=images,
    )
