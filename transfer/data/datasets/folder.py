"""``image_folder``: images in one subfolder per class, with an optional test folder."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

import numpy as np

from transfer._validation import InvalidParameterError
from transfer.data._checks import check_extensions, require_folder
from transfer.data.catalog import DatasetInfo, register_loader
from transfer.data.datasets._files import (
    IMAGE_EXTENSIONS,
    folder_set,
    image_files,
    subfolders,
    warn_dangling,
    warn_not_images,
)
from transfer.data.imageset import ImageSet

INFO = DatasetInfo(
    name="image_folder",
    summary="Images in one subfolder per class (path/<class>/<image>), loaded lazily.",
    layout="PATH/<class>/<image>; optional test folder of the same layout (test_path)",
)


@register_loader(INFO)
def image_folder(
    path: str | os.PathLike | None = None,
    extensions: Sequence[str] = IMAGE_EXTENSIONS,
    name: str | None = None,
    test_path: str | os.PathLike | None = None,
    test_per_class: int | None = None,
    train_per_class: int | None = None,
    sniff: bool = True,
) -> ImageSet:
    """Images in one subfolder per class (``path/<class>/<image>``), loaded lazily.

    Classes are the subfolder names in sorted order; label ``k`` is the
    ``k``-th class. Images within a class are in sorted file-name order. Hidden
    files and folders (starting with ``.``) and files with other extensions are
    ignored, except that files with no extension or an extension that is not
    an image's (``subject01.glasses``) are taken when their content is an
    image (``sniff``; files that are not are skipped with one warning). A
    class folder with no image is skipped with a ``UserWarning``
    (a class without images cannot be trained or tested on), and so are
    symbolic links whose target is missing (one warning naming the first few).

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
    test_per_class : int, optional
        Instead of ``test_path``: the last ``test_per_class`` images of each
        class (in file-name order) are the test split, the others the
        training split, a fixed and documented split for a folder that has
        none (CIFAR-10's training images, say). A class needs more images.
    train_per_class : int, optional
        Keep only the first ``train_per_class`` training images of each class
        (file-name order; the test split is untouched): the same test images
        with smaller training sets, for learning curves.
    sniff : bool, default=True
        Also take files whose extension is not an image extension (none,
        ``.glasses``) when their content is an image (a header check,
        cached per file); files with an image extension are taken unread.

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
    folder = require_folder("image_folder", path, "one subfolder of images per class")
    exts = check_extensions("image_folder", extensions)
    if name is not None and not (isinstance(name, str) and name):
        raise InvalidParameterError(
            f"The 'name' parameter of the 'image_folder' loader must be a non-empty str; "
            f"got {name!r}."
        )
    if not isinstance(sniff, bool):
        raise InvalidParameterError(
            f"The 'sniff' parameter of the 'image_folder' loader must be a bool; got {sniff!r}."
        )
    dangling: list[str] = []
    skipped: list[str] = []
    classes = sorted(subfolders(folder, dangling))
    if not classes:
        loose = len(image_files(folder, exts, sniff=sniff))
        hint = f" (it holds {loose} images directly)" if loose else ""
        raise ValueError(
            f"no class subfolders in {folder!r}{hint}: image_folder expects one subfolder "
            "of images per class, e.g. PATH/cat/001.jpg; for a folder of image files without "
            "classes, use the 'files' dataset (open_dataset('files', path=..., "
            "label_from=None | 'parent' | a pattern on the file names))"
        )
    files = {
        c: sorted(image_files(os.path.join(folder, c), exts, dangling, sniff, skipped))
        for c in classes
    }
    warn_not_images("image_folder", skipped)
    empty = [c for c in classes if not files[c]]
    if len(empty) == len(classes):
        warn_dangling("image_folder", dangling)
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
    for key, value in (("test_per_class", test_per_class), ("train_per_class", train_per_class)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise InvalidParameterError(
                f"The {key!r} parameter of the 'image_folder' loader must be an int >= 1 or "
                f"None; got {value!r}."
            )
    if test_per_class is not None and test_path is not None:
        raise InvalidParameterError(
            "image_folder: give either 'test_path' or 'test_per_class', not both"
        )
    if test_per_class is not None:
        short = [c for c in classes if len(files[c]) <= test_per_class]
        if short:
            raise ValueError(
                f"image_folder: test_per_class={test_per_class} leaves no training image in "
                f"class(es) {', '.join(short[:10])} of {folder!r}"
            )
        test_files = {c: files[c][-test_per_class:] for c in classes}
        files = {c: files[c][:-test_per_class] for c in classes}
    if train_per_class is not None:
        files = {c: files[c][:train_per_class] for c in classes}
    train = folder_set(name or os.path.basename(folder), folder, classes, files)
    if test_per_class is not None:
        warn_dangling("image_folder", dangling)
        tests = folder_set(train.name, folder, classes, test_files)
        return ImageSet(
            name=train.name,
            labels=np.concatenate([train.labels, tests.labels]),
            class_names=train.class_names,
            paths=train.paths + tests.paths,
            split=np.array(["train"] * len(train) + ["test"] * len(tests)),
            root=folder,
        )
    if test_path is None:
        warn_dangling("image_folder", dangling)
        return train
    test_folder = require_folder(
        "image_folder", test_path, "the test images, one subfolder per class"
    )
    test_classes = sorted(subfolders(test_folder, dangling))
    unknown = [c for c in test_classes if c not in classes]
    if unknown:
        raise ValueError(
            f"the test folder {test_folder!r} has classes the training folder {folder!r} lacks: "
            f"{', '.join(unknown[:10])}"
        )
    skipped = []
    test_files = {
        c: sorted(image_files(os.path.join(test_folder, c), exts, dangling, sniff, skipped))
        if c in test_classes
        else []
        for c in classes
    }
    warn_not_images("image_folder", skipped)
    warn_dangling("image_folder", dangling)
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
