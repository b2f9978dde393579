"""Dataset loaders, registered by name, and helpers to select and open datasets.

Every loader has the signature ``loader(path=None, **params) -> ImageSet`` and
is registered with :func:`transfer._registry.register_dataset`, so recipes name
datasets (``orl``, ``lfw``, ``celeba``, ``npz``, ``image_folder``, ...) rather
than import paths. Loaders of image files are lazy: they list and check the
files but decode nothing; :meth:`ImageSet.iter_batches` decodes batch by batch
and names any unreadable file.

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
import numbers
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from transfer._registry import DATASETS, UnknownNameError, did_you_mean, register_dataset
from transfer._validation import InvalidParameterError
from transfer.data.imageset import ImageSet

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".pgm", ".bmp", ".ppm", ".tif", ".tiff", ".gif")

# Where each fixed-layout dataset lives under the data root (``TRANSFER_DATA``),
# used by :func:`open_dataset` when no path is given.
DEFAULT_PATHS = {"orl": "orl", "lfw": "lfw", "celeba": "celeba"}

# Loaders that read nothing from disk and so take no path.
_NO_PATH = frozenset({"sklearn_digits", "skimage_lfw_subset"})

_LFW_FOLDERS = ("lfw-deepfunneled", "lfw_deepfunneled", "lfw-funneled", "lfw_funneled", "lfw")


# --------------------------------------------------------------------------- checks


def _check_int(
    loader: str, name: str, value, minimum: int = 1, allow_none: bool = True
) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum:
        return int(value)
    allowed = f"an int >= {minimum}" + (" or None" if allow_none else "")
    raise InvalidParameterError(
        f"The {name!r} parameter of the {loader!r} loader must be {allowed}; got {value!r}."
    )


def _check_str_list(loader: str, name: str, value) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    if isinstance(value, Sequence) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise InvalidParameterError(
        f"The {name!r} parameter of the {loader!r} loader must be a non-empty list of "
        f"non-empty strings; got {value!r}."
    )


def _check_extensions(loader: str, extensions) -> tuple[str, ...]:
    exts = _check_str_list(loader, "extensions", extensions)
    return tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in exts)


def _require_folder(loader: str, path, what: str) -> str:
    """``path`` as an absolute folder, or a clear error."""
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


def _no_path(loader: str, path) -> None:
    if path is not None:
        raise InvalidParameterError(
            f"The {loader!r} dataset ships with its library and takes no 'path'; got {path!r}."
        )


def _natural_key(name: str) -> tuple:
    """Sort key ordering embedded numbers numerically: s2 < s10, 2.pgm < 10.pgm."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name))


def _subfolders(folder: str) -> list[str]:
    return [e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith(".")]


def _image_files(folder: str, extensions: tuple[str, ...]) -> list[str]:
    return [
        e.name
        for e in os.scandir(folder)
        if not e.name.startswith(".")
        and os.path.splitext(e.name)[1].lower() in extensions
        and e.is_file()
    ]


def _folder_set(
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


# --------------------------------------------------------------------------- image folders


@register_dataset("image_folder")
def image_folder(
    path: str | os.PathLike | None = None,
    extensions: Sequence[str] = IMAGE_EXTENSIONS,
    name: str | None = None,
    test_path: str | os.PathLike | None = None,
) -> ImageSet:
    """Images in one subfolder per class (``path/<class>/<image>``), loaded lazily.

    Classes are the subfolder names in sorted order; label ``k`` is the
    ``k``-th class. Images within a class are in sorted file-name order. Hidden
    files and folders (starting with ``.``) and files with other extensions are
    ignored. A class folder with no image is skipped with a ``UserWarning``
    (a class without images cannot be trained or tested on).

    Parameters
    ----------
    path : str or path-like
        The folder holding the class subfolders.
    extensions : sequence of str
        Image file extensions to take (case-insensitive).
    name : str, optional
        Name for reports; defaults to the folder's name.
    test_path : str or path-like, optional
        A second folder of the same layout holding the test images: the
        result then carries the split (``"train"`` for ``path``, ``"test"``
        for ``test_path``), which the protocols use as given. Its classes
        must be classes of ``path``.

    Returns
    -------
    ImageSet
        Lazy (``paths``), with ``root = path``.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When ``path`` has no class subfolders, or no images under any of them.
    """
    folder = _require_folder("image_folder", path, "one subfolder of images per class")
    exts = _check_extensions("image_folder", extensions)
    if name is not None and not (isinstance(name, str) and name):
        raise InvalidParameterError(
            f"The 'name' parameter of the 'image_folder' loader must be a non-empty str; "
            f"got {name!r}."
        )
    classes = sorted(_subfolders(folder))
    if not classes:
        loose = len(_image_files(folder, exts))
        hint = f" (it holds {loose} images directly)" if loose else ""
        raise ValueError(
            f"no class subfolders in {folder!r}{hint}: image_folder expects one subfolder "
            "of images per class, e.g. PATH/cat/001.jpg"
        )
    files = {c: sorted(_image_files(os.path.join(folder, c), exts)) for c in classes}
    empty = [c for c in classes if not files[c]]
    if len(empty) == len(classes):
        raise ValueError(f"no images found under {folder!r} (extensions {', '.join(exts)})")
    if empty:
        shown = ", ".join(empty[:10]) + (", ..." if len(empty) > 10 else "")
        warnings.warn(
            f"image_folder: skipping {len(empty)} class folder(s) with no images under "
            f"{folder!r}: {shown}",
            UserWarning,
            stacklevel=2,
        )
        classes = [c for c in classes if files[c]]
    train = _folder_set(name or os.path.basename(folder), folder, classes, files)
    if test_path is None:
        return train
    test_folder = _require_folder(
        "image_folder", test_path, "the test images, one subfolder per class"
    )
    test_classes = sorted(_subfolders(test_folder))
    unknown = [c for c in test_classes if c not in classes]
    if unknown:
        raise ValueError(
            f"the test folder {test_folder!r} has classes the training folder {folder!r} lacks: "
            f"{', '.join(unknown[:10])}"
        )
    test_files = {c: sorted(_image_files(os.path.join(test_folder, c), exts)) for c in classes}
    if not any(test_files.values()):
        raise ValueError(f"no images found under the test folder {test_folder!r}")
    paths = list(train.paths)
    labels = list(train.labels)
    for k, cls in enumerate(classes):
        paths += [os.path.join(test_folder, cls, f) for f in test_files[cls]]
        labels += [k] * len(test_files[cls])
    split = np.array(["train"] * len(train) + ["test"] * (len(paths) - len(train)))
    return ImageSet(
        name=train.name,
        labels=np.asarray(labels, dtype=np.int64),
        class_names=train.class_names,
        paths=tuple(paths),
        split=split,
        root=folder,
    )


@register_dataset("orl")
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
    folder = _require_folder("orl", path, "the ORL folder holding s1/ ... s40/")
    classes = sorted((d for d in _subfolders(folder) if re.fullmatch(r"s\d+", d)), key=_natural_key)
    if not classes:
        raise ValueError(
            f"no ORL subject folders (s1, s2, ...) in {folder!r}: expected the AT&T layout "
            "s1/1.pgm ... s40/10.pgm"
        )
    files = {}
    for c in classes:
        files[c] = sorted(_image_files(os.path.join(folder, c), IMAGE_EXTENSIONS), key=_natural_key)
        if not files[c]:
            raise ValueError(f"ORL subject folder {os.path.join(folder, c)!r} holds no images")
    return _folder_set("orl", folder, classes, files)


# --------------------------------------------------------------------------- LFW


def lfw_image_path(root_image_folder: str | os.PathLike, name: str, number: int) -> str:
    """The file of image ``number`` (from 1) of person ``name``: ``Name/Name_NNNN.jpg``."""
    if not (isinstance(number, numbers.Integral) and not isinstance(number, bool) and number >= 1):
        raise InvalidParameterError(
            f"an LFW image number is an int >= 1; got {number!r} for {name!r}"
        )
    return os.path.join(os.fspath(root_image_folder), name, f"{name}_{int(number):04d}.jpg")


def _is_lfw_image_folder(folder: str) -> bool:
    """True if a few person folders hold ``Name/Name_0001.jpg``."""
    seen = 0
    try:
        entries = os.scandir(folder)
    except OSError:
        return False
    with entries:
        for e in entries:
            if not e.is_dir() or e.name.startswith("."):
                continue
            if os.path.isfile(os.path.join(e.path, f"{e.name}_0001.jpg")):
                return True
            seen += 1
            if seen >= 3:
                return False
    return False


def lfw_image_folder(path: str | os.PathLike) -> str:
    """The LFW image folder (one folder per person) at or under ``path``.

    ``path`` may be the image folder itself or the folder holding it; then
    the first of ``lfw-deepfunneled/``, ``lfw_deepfunneled/``,
    ``lfw-funneled/``, ``lfw_funneled/``, ``lfw/`` (then any other ``lfw*/``)
    that holds person folders is taken. Point ``path`` at the image folder to
    pick a version explicitly.

    Raises
    ------
    FileNotFoundError
        When no such folder is found.
    """
    folder = _require_folder("lfw", path, "the LFW folder holding lfw-deepfunneled/")
    if _is_lfw_image_folder(folder):
        return folder
    for cand in _LFW_FOLDERS:
        p = os.path.join(folder, cand)
        if os.path.isdir(p) and _is_lfw_image_folder(p):
            return p
    for cand in sorted(d for d in _subfolders(folder) if d.lower().startswith("lfw")):
        p = os.path.join(folder, cand)
        if _is_lfw_image_folder(p):
            return p
    raise FileNotFoundError(
        f"no LFW image folder in {folder!r}: expected a folder such as 'lfw-deepfunneled/' "
        "holding one folder per person (Name/Name_0001.jpg), or that folder as the path"
    )


def read_lfw_people(file: str | os.PathLike) -> list[tuple[str, int]]:
    """Read an LFW people file (``peopleDevTrain.txt``, ``people.txt``).

    The format is one or more sections, each a line with a count followed by
    that many ``Name<TAB>n_images`` lines (View 2's ``people.txt`` has a
    first line with the number of folds, then one section per fold).

    Returns
    -------
    list of (str, int)
        ``(name, n_images)`` over all sections, in file order.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        For a malformed line or a section whose count is wrong, naming the line.
    """
    file = os.fspath(file)
    with open(file, encoding="utf-8") as f:
        lines = [(i, line.split()) for i, line in enumerate(f, start=1)]
    lines = [(i, t) for i, t in lines if t]
    people: list[tuple[str, int]] = []
    expected, got, header_line = None, 0, 0
    # View 2's people.txt starts with the number of folds, then a count per fold.
    if len(lines) >= 2 and len(lines[0][1]) == 1 and len(lines[1][1]) == 1:
        lines = lines[1:]

    def close_section() -> None:
        if expected is not None and got != expected:
            raise ValueError(
                f"{file}:{header_line}: the section announces {expected} people but has {got}"
            )

    for i, tokens in lines:
        if len(tokens) == 1 and tokens[0].isdigit():
            close_section()
            expected, got, header_line = int(tokens[0]), 0, i
        elif len(tokens) == 2 and tokens[1].isdigit() and expected is not None:
            if int(tokens[1]) < 1:
                raise ValueError(f"{file}:{i}: {tokens[0]!r} has {tokens[1]} images")
            people.append((tokens[0], int(tokens[1])))
            got += 1
        else:
            raise ValueError(
                f"{file}:{i}: expected a count or 'Name<TAB>n_images', got {' '.join(tokens)!r}"
            )
    close_section()
    if not people:
        raise ValueError(f"LFW people file {file!r} lists no people")
    return people


@register_dataset("lfw")
def lfw(
    path: str | os.PathLike | None = None,
    people: str | os.PathLike = "all",
    min_images_per_person: int = 1,
    max_people: int | None = None,
) -> ImageSet:
    """Labeled Faces in the Wild: 250x250 RGB faces, one class per person, lazy.

    Parameters
    ----------
    path : str or path-like
        The LFW folder holding the image folder (``lfw-deepfunneled/``,
        ``lfw-funneled/`` or ``lfw/``, see :func:`lfw_image_folder`) and the
        people/pairs files, or the image folder itself.
    people : "all" or str or path-like
        ``"all"`` takes every person folder. Otherwise an LFW people file
        (``"peopleDevTrain.txt"``, ``"peopleDevTest.txt"``, View 2's
        ``"people.txt"``), looked up in ``path`` (and the folder above the
        image folder) unless absolute; then exactly the images it lists are
        taken, ``Name_0001.jpg`` to ``Name_<n>.jpg``, and a missing one is an
        error.
    min_images_per_person : int
        Keep only people with at least this many images, as scikit-learn's
        ``fetch_lfw_people(min_faces_per_person=...)``.
    max_people : int, optional
        Then keep the ``max_people`` people with the most images (ties broken
        by name), e.g. for quick runs.

    Returns
    -------
    ImageSet
        Classes are the person names in sorted order; ``root`` is the image
        folder, so images are described as ``Name/Name_0001.jpg``.

    References
    ----------
    G. B. Huang, M. Ramesh, T. Berg and E. Learned-Miller, "Labeled Faces in the
    Wild: A database for studying face recognition in unconstrained
    environments", University of Massachusetts, Amherst, TR 07-49, 2007.
    """
    images = lfw_image_folder(path)
    m = _check_int("lfw", "min_images_per_person", min_images_per_person, 1, allow_none=False)
    max_people = _check_int("lfw", "max_people", max_people, 1)
    files: dict[str, list[str]] = {}
    if isinstance(people, str) and people == "all":
        for person in sorted(_subfolders(images)):
            names = sorted(
                f
                for f in _image_files(os.path.join(images, person), (".jpg",))
                if f.startswith(person + "_")
            )
            if names:
                files[person] = names
        if not files:
            raise ValueError(f"no images found under {images!r} (Name/Name_0001.jpg)")
    elif isinstance(people, str | os.PathLike):
        people_file = _find_lfw_file(os.fspath(people), path, images)
        for person, n in read_lfw_people(people_file):
            if person in files:
                raise ValueError(f"{people_file}: {person!r} is listed twice")
            paths = [lfw_image_path(images, person, k) for k in range(1, n + 1)]
            for p in paths:
                if not os.path.isfile(p):
                    raise FileNotFoundError(
                        f"LFW image {p!r} listed in {people_file!r} ({person}, {n} images) "
                        "does not exist"
                    )
            files[person] = [os.path.basename(p) for p in paths]
    else:
        raise InvalidParameterError(
            "The 'people' parameter of the 'lfw' loader must be 'all' or a people file "
            f"such as 'peopleDevTrain.txt'; got {people!r}."
        )
    kept = [p for p in files if len(files[p]) >= m]
    if max_people is not None and len(kept) > max_people:
        top = sorted(kept, key=lambda p: (-len(files[p]), p))[:max_people]
        kept = [p for p in kept if p in set(top)]
    if not kept:
        most = max(len(v) for v in files.values())
        raise ValueError(f"no LFW person has min_images_per_person={m} images (the most is {most})")
    return _folder_set("lfw", images, sorted(kept), files)


def _find_lfw_file(name: str, path, images: str) -> str:
    if os.path.isabs(os.path.expanduser(name)):
        candidates = [os.path.expanduser(name)]
    else:
        base = os.path.abspath(os.path.expanduser(os.fspath(path)))
        candidates = [os.path.join(base, name), os.path.join(os.path.dirname(images), name)]
    for c in candidates:
        if os.path.isfile(c):
            return c
    raise FileNotFoundError(
        f"LFW people file {name!r} not found (looked for {', '.join(dict.fromkeys(candidates))}); "
        "'people' must be 'all', a file name in the LFW folder or a path"
    )


# --------------------------------------------------------------------------- CelebA


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


@register_dataset("celeba")
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
    folder = _require_folder("celeba", path, "the CelebA folder holding img_align_celeba/")
    max_images = _check_int("celeba", "max_images", max_images, 1)
    if attributes is not None:
        attributes = _check_str_list("celeba", "attributes", attributes)
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


# --------------------------------------------------------------------------- arrays


def _stratified_first(y: np.ndarray, n: int) -> np.ndarray:
    """Indices of ``n`` items: the first ones of each class, in proportion to its size.

    Class quotas are ``n * count / total`` rounded by largest remainder (ties
    to the smaller class index); the result is in the original order.
    """
    if n >= len(y):
        return np.arange(len(y))
    values, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    exact = n * counts / len(y)
    quota = np.floor(exact).astype(np.int64)
    order = np.lexsort((np.arange(len(values)), -(exact - quota)))
    quota[order[: n - quota.sum()]] += 1
    keep = np.zeros(len(y), dtype=bool)
    for k in range(len(values)):
        keep[np.flatnonzero(inverse == k)[: quota[k]]] = True
    return np.flatnonzero(keep)


@register_dataset("npz")
def npz(
    path: str | os.PathLike | None = None,
    max_train: int | None = None,
    max_test: int | None = None,
    class_names: Sequence[str] | None = None,
    name: str | None = None,
) -> ImageSet:
    """A Keras-style ``.npz`` file (``x_train, y_train, x_test, y_test``), in memory.

    MNIST from ``keras.datasets`` is stored this way (``mnist.npz``). Train
    and test images are concatenated, train first, and ``split`` says which
    is which ("train" / "test"). A trailing channel of size 1 is dropped
    (grey images are ``(height, width)``).

    Parameters
    ----------
    path : str or path-like
        The ``.npz`` file.
    max_train, max_test : int, optional
        Keep at most this many training / test images: the first ones of each
        class, in proportion to the class sizes (a deterministic stratified
        subset, so a file sorted by label still gives every class). 0 drops
        the split.
    class_names : list of str, optional
        Names of classes ``0 .. k-1`` when the labels are these integers;
        by default the sorted distinct labels, as strings ("0" ... "9").
    name : str, optional
        Name for reports; defaults to the file name without ``.npz``.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When keys are missing (naming them) or shapes disagree.
    """
    loader = "npz"
    if path is None:
        _require_folder(loader, None, "a Keras-style .npz file")
    file = os.path.abspath(os.path.expanduser(os.fspath(path)))
    if not os.path.isfile(file):
        raise FileNotFoundError(f"npz file {file!r} does not exist")
    max_train = _check_int(loader, "max_train", max_train, 0)
    max_test = _check_int(loader, "max_test", max_test, 0)
    if class_names is not None:
        class_names = _check_str_list(loader, "class_names", class_names)
    try:
        data = np.load(file, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read npz file {file!r}: {exc}") from None
    with data:
        required = ("x_train", "y_train", "x_test", "y_test")
        missing = [k for k in required if k not in data.files]
        if missing:
            raise ValueError(
                f"npz file {file!r} lacks {', '.join(missing)} (it has "
                f"{', '.join(data.files) or 'no arrays'}); expected Keras' layout "
                "x_train, y_train, x_test, y_test"
            )
        try:
            parts = {k: data[k] for k in required}
        except ValueError as exc:  # e.g. object arrays, refused without pickle
            raise ValueError(f"cannot read npz file {file!r}: {exc}") from None
    xs, ys, splits = [], [], []
    for split, limit in (("train", max_train), ("test", max_test)):
        x, y = parts[f"x_{split}"], parts[f"y_{split}"]
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if x.ndim == 4 and x.shape[-1] == 1:
            x = x[..., 0]
        if x.ndim not in (3, 4) or y.ndim != 1 or len(x) != len(y):
            raise ValueError(
                f"npz file {file!r}: x_{split} {x.shape} and y_{split} {y.shape} do not "
                "describe (n, height, width[, channels]) images with n labels"
            )
        if limit is not None:
            idx = _stratified_first(y, limit)
            x, y = x[idx], y[idx]
        xs.append(x)
        ys.append(y)
        splits.append(np.full(len(y), split))
    if xs[0].shape[1:] != xs[1].shape[1:] and len(xs[0]) and len(xs[1]):
        raise ValueError(
            f"npz file {file!r}: train images are {xs[0].shape[1:]} but test images "
            f"{xs[1].shape[1:]}"
        )
    y_all = np.concatenate(ys)
    if len(y_all) == 0:
        raise ValueError(
            f"npz file {file!r}: no images left with max_train={max_train}, max_test={max_test}"
        )
    images = np.concatenate([x for x in xs if len(x)])
    if class_names is not None:
        if (
            not np.issubdtype(y_all.dtype, np.integer)
            or y_all.min() < 0
            or (y_all.max() >= len(class_names))
        ):
            raise InvalidParameterError(
                f"The 'class_names' parameter of the 'npz' loader names {len(class_names)} "
                f"classes but the labels in {file!r} range over {np.unique(y_all)[:20]}."
            )
        labels = y_all.astype(np.int64)
    else:
        values, labels = np.unique(y_all, return_inverse=True)
        class_names = tuple(str(v) for v in values)
    return ImageSet(
        name=name or os.path.splitext(os.path.basename(file))[0],
        labels=np.asarray(labels, dtype=np.int64).ravel(),
        class_names=tuple(class_names),
        images=images,
        split=np.concatenate(splits),
        root=os.path.dirname(file),
    )


@register_dataset("sklearn_digits")
def sklearn_digits(path: None = None) -> ImageSet:
    """scikit-learn's digits: 1,797 grey 8x8 images of 0-9, scaled to [0, 255].

    The 17 grey levels 0..16 are multiplied by 255/16 (float32), so that
    extractors see the same range as for other images.
    """
    _no_path("sklearn_digits", path)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return ImageSet(
        name="sklearn_digits",
        labels=bunch.target.astype(np.int64),
        class_names=tuple(str(t) for t in bunch.target_names),
        images=(bunch.images * (255.0 / 16.0)).astype(np.float32),
    )


@register_dataset("skimage_lfw_subset")
def skimage_lfw_subset(path: None = None) -> ImageSet:
    """scikit-image's ``data.lfw_subset()``: 100 faces then 100 non-faces, 25x25 grey.

    Class 0 is "face", class 1 "non-face"; values are scaled from [0, 1] to
    [0, 255] (float32).
    """
    _no_path("skimage_lfw_subset", path)
    from skimage.data import lfw_subset

    images = np.asarray(lfw_subset(), dtype=np.float64)
    if images.max() <= 1.0:
        images = images * 255.0
    n_faces = 100
    labels = (np.arange(len(images)) >= n_faces).astype(np.int64)
    return ImageSet(
        name="skimage_lfw_subset",
        labels=labels,
        class_names=("face", "non-face"),
        images=images.astype(np.float32),
    )


# --------------------------------------------------------------------------- helpers


def select_classes(
    imageset: ImageSet,
    min_per_class: int | None = None,
    max_per_class: int | None = None,
    max_classes: int | None = None,
    seed: int | None = 0,
) -> ImageSet:
    """A subset of ``imageset`` by class, with classes re-indexed to ``0 .. k-1``.

    Steps, in order: keep classes with at least ``min_per_class`` images; keep
    the ``max_classes`` classes with the most images (ties to the lower class
    index); within each class keep ``max_per_class`` images drawn at random
    (``seed``). Kept classes and images stay in their original order, and
    ``class_names`` lists the kept classes in that order.

    Parameters
    ----------
    imageset : ImageSet
    min_per_class, max_per_class, max_classes : int, optional
    seed : int or None
        Seed of the per-class draw.

    Returns
    -------
    ImageSet

    Raises
    ------
    ValueError
        When no image remains, naming the limits.
    """
    if not isinstance(imageset, ImageSet):
        raise InvalidParameterError(
            f"select_classes needs an ImageSet; got {type(imageset).__name__}."
        )
    loader = "select_classes"
    min_per_class = _check_int(loader, "min_per_class", min_per_class, 1)
    max_per_class = _check_int(loader, "max_per_class", max_per_class, 1)
    max_classes = _check_int(loader, "max_classes", max_classes, 1)
    if seed is not None and not (isinstance(seed, numbers.Integral) and not isinstance(seed, bool)):
        raise InvalidParameterError(
            f"The 'seed' parameter of select_classes must be an int or None; got {seed!r}."
        )
    labels = np.asarray(imageset.labels)
    counts = np.bincount(labels, minlength=imageset.n_classes)
    kept = np.flatnonzero(counts >= (min_per_class or 1))
    if max_classes is not None and len(kept) > max_classes:
        top = kept[np.lexsort((kept, -counts[kept]))][:max_classes]
        kept = np.sort(top)
    if len(kept) == 0:
        raise ValueError(
            f"select_classes: no class of {imageset.name!r} has min_per_class={min_per_class} "
            f"images (the most is {counts.max() if len(counts) else 0})"
        )
    rng = np.random.default_rng(seed)
    chosen = []
    for k in kept:
        idx = np.flatnonzero(labels == k)
        if max_per_class is not None and len(idx) > max_per_class:
            idx = np.sort(rng.choice(idx, size=max_per_class, replace=False))
        chosen.append(idx)
    indices = np.sort(np.concatenate(chosen))
    remap = np.full(imageset.n_classes, -1, dtype=np.int64)
    remap[kept] = np.arange(len(kept))
    sub = imageset.subset(indices)
    return replace(
        sub,
        labels=remap[sub.labels],
        class_names=tuple(imageset.class_names[k] for k in kept),
        _fingerprint_cache={},
    )


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
        fixed-layout dataset uses its usual folder under the root
        (:data:`DEFAULT_PATHS`: ``orl``, ``lfw``, ``celeba``). For ``tfds:``
        it is the TFDS data_dir.
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
    if spec.startswith("tfds:"):
        from transfer.data.tfds import tfds_dataset

        loader, loader_name = tfds_dataset, "tfds"
        params = {"name": spec[len("tfds:") :], **params}
    else:
        loader, loader_name = DATASETS.get(spec), spec
    _check_params(spec, loader, params)

    if root is not None:
        root_from = "the root given"
    elif os.environ.get("TRANSFER_DATA"):
        root, root_from = os.environ["TRANSFER_DATA"], "TRANSFER_DATA"
    else:
        root_from = None
    if root is not None:
        root = os.path.abspath(os.path.expanduser(os.fspath(root)))
    if path is None and loader_name not in _NO_PATH:
        path = DEFAULT_PATHS.get(spec)
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
