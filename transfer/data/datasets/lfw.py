"""``lfw``: Labeled Faces in the Wild, its image folder, people files and image paths."""

from __future__ import annotations

import numbers
import os

from transfer._validation import InvalidParameterError
from transfer.data._checks import check_int, require_folder
from transfer.data.catalog import DatasetInfo, register_loader
from transfer.data.datasets._files import folder_set, image_files, subfolders, warn_dangling
from transfer.data.imageset import ImageSet

_LFW_FOLDERS = ("lfw-deepfunneled", "lfw_deepfunneled", "lfw-funneled", "lfw_funneled", "lfw")

INFO = DatasetInfo(
    name="lfw",
    summary="Labeled Faces in the Wild: 250x250 RGB faces, one class per person, lazy.",
    layout=(
        "lfw-deepfunneled/<Name>/<Name>_NNNN.jpg (or lfw-funneled/, lfw/), with the people "
        "and pairs files (peopleDevTrain.txt, pairsDevTest.txt, ...) beside it"
    ),
    citation=(
        'G. B. Huang, M. Ramesh, T. Berg and E. Learned-Miller, "Labeled Faces in the Wild: '
        'A database for studying face recognition in unconstrained environments", University '
        "of Massachusetts, Amherst, TR 07-49, 2007."
    ),
    url="http://vis-www.cs.umass.edu/lfw/",
    default_path="lfw",
)


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
    folder = require_folder("lfw", path, "the LFW folder holding lfw-deepfunneled/")
    if _is_lfw_image_folder(folder):
        return folder
    for cand in _LFW_FOLDERS:
        p = os.path.join(folder, cand)
        if os.path.isdir(p) and _is_lfw_image_folder(p):
            return p
    for cand in sorted(d for d in subfolders(folder) if d.lower().startswith("lfw")):
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


@register_loader(INFO)
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
    m = check_int("lfw", "min_images_per_person", min_images_per_person, 1, allow_none=False)
    max_people = check_int("lfw", "max_people", max_people, 1)
    files: dict[str, list[str]] = {}
    if isinstance(people, str) and people == "all":
        dangling: list[str] = []
        for person in sorted(subfolders(images, dangling)):
            names = sorted(
                f
                for f in image_files(os.path.join(images, person), (".jpg",), dangling)
                if f.startswith(person + "_")
            )
            if names:
                files[person] = names
        warn_dangling("lfw", dangling)
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
    return folder_set("lfw", images, sorted(kept), files)


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
