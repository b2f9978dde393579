"""LFW pairs files: View 1 (``pairsDevTrain.txt`` / ``pairsDevTest.txt``) and
View 2 (``pairs.txt``).

Format (Huang et al. 2007, the LFW README):

* the first line is ``N`` (View 1: ``N`` same pairs then ``N`` different
  pairs) or ``n_folds N`` (View 2: ``n_folds`` folds, each ``N`` same pairs
  then ``N`` different pairs);
* a same pair is ``name<TAB>i<TAB>j`` (images ``i`` and ``j`` of ``name``);
* a different pair is ``name1<TAB>i<TAB>name2<TAB>j``.

Image ``i`` of ``name`` is the file ``name/name_iiii.jpg`` (four digits) of
the LFW image folder. Blank lines are ignored; anything else that does not
fit the format is an error naming the file and the line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

__all__ = ["PairList", "lfw_pair_image", "read_pairs"]


def lfw_pair_image(name: str, number: int) -> str:
    """Relative path of image ``number`` (from 1) of ``name``: ``name/name_NNNN.jpg``."""
    return f"{name}/{name}_{int(number):04d}.jpg"


@dataclass(frozen=True)
class PairList:
    """Pairs read from one pairs file.

    Attributes
    ----------
    file : str
        The file they came from.
    left, right : tuple of str
        Relative image paths (``name/name_NNNN.jpg``) of each pair.
    same : ndarray of bool, shape (n_pairs,)
        True for same-identity pairs.
    fold : ndarray of int, shape (n_pairs,)
        Fold of each pair (all 0 for a View 1 file).
    line : ndarray of int, shape (n_pairs,)
        1-based line number of each pair in ``file``.
    n_folds : int
    """

    file: str
    left: tuple[str, ...]
    right: tuple[str, ...]
    same: np.ndarray
    fold: np.ndarray
    line: np.ndarray
    n_folds: int

    def __len__(self) -> int:
        return len(self.same)


def _positive_int(text: str, file: str, lineno: int, what: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ValueError(f"{file}, line {lineno}: {what} must be an integer >= 1, got {text!r}")
    return int(text)


def read_pairs(file: str | os.PathLike) -> PairList:
    """Read an LFW pairs file (View 1 or View 2).

    Parameters
    ----------
    file : path
        ``pairsDevTrain.txt``, ``pairsDevTest.txt`` or ``pairs.txt``, or any
        file in that format.

    Returns
    -------
    PairList

    Raises
    ------
    FileNotFoundError
        When ``file`` does not exist.
    ValueError
        For a bad header, a malformed pair line (the message gives the file,
        the line number and the line), or a count that does not match the
        header.

    References
    ----------
    .. [1] Huang, Ramesh, Berg, Learned-Miller. "Labeled Faces in the Wild: a
       database for studying face recognition in unconstrained
       environments." UMass Amherst TR 07-49, 2007.
    """
    path = os.fspath(file)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"pairs file {path!r} not found")
    with open(path, encoding="utf-8") as fh:
        lines = [(i + 1, ln.strip()) for i, ln in enumerate(fh)]
    lines = [(i, ln) for i, ln in lines if ln]
    if not lines:
        raise ValueError(f"{path}: empty pairs file")
    head_no, head = lines[0]
    fields = head.split()
    if len(fields) == 1:
        n_folds, per = 1, _positive_int(fields[0], path, head_no, "the pair count")
    elif len(fields) == 2:
        n_folds = _positive_int(fields[0], path, head_no, "the number of folds")
        per = _positive_int(fields[1], path, head_no, "the pairs per fold")
    else:
        raise ValueError(
            f"{path}, line {head_no}: the first line must be 'N' (View 1) or "
            f"'n_folds N' (View 2), got {head!r}"
        )
    body = lines[1:]
    expected = 2 * per * n_folds
    left, right, same, fold, line = [], [], [], [], []
    for k, (lineno, text) in enumerate(body):
        parts = text.split()
        if len(parts) == 3:
            name, i, j = parts
            a = (name, _positive_int(i, path, lineno, "an image number"))
            b = (name, _positive_int(j, path, lineno, "an image number"))
            is_same = True
        elif len(parts) == 4:
            a = (parts[0], _positive_int(parts[1], path, lineno, "an image number"))
            b = (parts[2], _positive_int(parts[3], path, lineno, "an image number"))
            is_same = False
        else:
            raise ValueError(
                f"{path}, line {lineno}: expected 'name i j' (same person) or "
                f"'name1 i name2 j' (different people), got {text!r}"
            )
        if k < expected:
            # within each fold: `per` same pairs, then `per` different pairs
            want_same = (k % (2 * per)) < per
            if is_same != want_same:
                kind = "same" if want_same else "different"
                raise ValueError(
                    f"{path}, line {lineno}: expected a {kind} pair here (the header "
                    f"{head!r} says each fold is {per} same then {per} different pairs), "
                    f"got {text!r}"
                )
        left.append(lfw_pair_image(*a))
        right.append(lfw_pair_image(*b))
        same.append(is_same)
        fold.append(k // (2 * per))
        line.append(lineno)
    if len(body) != expected:
        raise ValueError(
            f"{path}: the header {head!r} announces {expected} pairs "
            f"({n_folds} fold(s) of {per} same + {per} different), but the file has {len(body)}"
        )
    return PairList(
        file=path,
        left=tuple(left),
        right=tuple(right),
        same=np.asarray(same, dtype=bool),
        fold=np.asarray(fold, dtype=np.int64),
        line=np.asarray(line, dtype=np.int64),
        n_folds=n_folds,
    )
