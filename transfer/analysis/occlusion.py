"""Occlusion robustness: how features and accuracies degrade as a face is hidden.

DeepID2+ [1]_ occluded test faces with grey blocks of growing size at
random positions and with bars covering a growing part of the face from the
bottom or the top, and found its features (trained on unoccluded faces)
degrade gracefully. Zeiler and Fergus [2]_ used grey occluders to probe
what a network looks at. Here any extractor (anything with ``transform``)
is measured the same way: per occlusion kind and level, the cosine
similarity of occluded to clean features and, given pairs or identities,
the verification or identification accuracy of a head fitted on clean
features.

References
----------
.. [1] Sun, Wang, Tang. "Deeply learned face representations are sparse,
   selective, and robust." CVPR 2015.
.. [2] Zeiler, Fergus. "Visualizing and understanding convolutional
   networks." ECCV 2014.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.base import clone

from transfer.analysis._common import check_mask, check_rows, new_figure

__all__ = [
    "FRACTIONS",
    "KINDS",
    "cosine_similarity_rows",
    "occlude",
    "occlusion_robustness",
    "plot_occlusion",
]

#: Occlusion kinds: a bar over the lower or the upper part, one random square block.
KINDS = ("bottom", "top", "random_block")
#: Default occluded fractions of the image area.
FRACTIONS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


def _check_images(images: Any) -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[-1] not in (1, 3)):
        raise ValueError(
            "images must be an array of shape (n, height, width) or (n, height, width, "
            f"channels); got shape {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"images must be numeric pixel arrays; got dtype {arr.dtype}")
    return arr


def occlude(
    images: Any, kind: str, fraction: float, *, seed: int = 0, fill: float = 128.0
) -> np.ndarray:
    """Images with a part painted in a uniform grey.

    Parameters
    ----------
    images : array-like of shape (n, height, width) or (n, height, width, channels)
    kind : {"bottom", "top", "random_block"}
        "bottom" / "top": the lowest / highest ``round(fraction * height)``
        rows. "random_block": one rectangle of sides ``round(sqrt(fraction)
        * height)`` by ``round(sqrt(fraction) * width)`` (about ``fraction``
        of the area, the aspect of the image) at a uniformly random position
        inside each image.
    fraction : float in [0, 1]
        The occluded fraction of the image.
    seed : int, default=0
        Seeds the block positions, which depend only on ``seed``,
        ``fraction`` and the image's index: every extractor sees the same
        occluded images.
    fill : float, default=128.0
        The grey value: mid-grey on the 0..255 scale of the project's images
        (use 0.5 for images in [0, 1]).

    Returns
    -------
    ndarray of the shape of ``images``, float32 (a copy)

    References
    ----------
    .. [1] Sun, Wang, Tang. "Deeply learned face representations are sparse,
       selective, and robust." CVPR 2015.
    """
    out = _check_images(images).astype(np.float32, copy=True)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    if not 0.0 <= float(fraction) <= 1.0:
        raise ValueError(f"fraction must be in [0, 1]; got {fraction!r}")
    n, height, width = out.shape[:3]
    if kind == "bottom":
        rows = round(fraction * height)
        out[:, height - rows :] = fill
    elif kind == "top":
        out[:, : round(fraction * height)] = fill
    else:
        side = np.sqrt(fraction)
        h, w = round(side * height), round(side * width)
        # a stream per (seed, fraction): positions repeat across calls and kinds lists
        rng = np.random.default_rng([seed, round(float(fraction) * 1_000_000)])
        top = rng.integers(0, height - h + 1, size=n)
        left = rng.integers(0, width - w + 1, size=n)
        for i in range(n):
            out[i, top[i] : top[i] + h, left[i] : left[i] + w] = fill
    return out


def cosine_similarity_rows(A: Any, B: Any) -> np.ndarray:
    """Cosine similarity of each row of ``A`` with the same row of ``B``.

    Two zero rows count as identical (1); a zero row against a non-zero one
    as unrelated (0).

    Parameters
    ----------
    A, B : array-like of shape (n, d)

    Returns
    -------
    ndarray of shape (n,)
    """
    A, B = np.asarray(A, dtype=np.float64), np.asarray(B, dtype=np.float64)
    na, nb = np.linalg.norm(A, axis=1), np.linalg.norm(B, axis=1)
    dot = np.einsum("ij,ij->i", A, B)
    out = np.zeros(len(A))
    np.divide(dot, na * nb, out=out, where=(na > 0) & (nb > 0))
    out[(na == 0) & (nb == 0)] = 1.0
    return np.clip(out, -1.0, 1.0)


def _head(head: Any) -> Any:
    if isinstance(head, str):
        from transfer.registry import create_head  # the registry imports every head module

        return create_head(head)
    return clone(head)


def occlusion_robustness(
    extractor: Any,
    images: Any,
    *,
    kinds: Sequence[str] = KINDS,
    fractions: Sequence[float] = FRACTIONS,
    seed: int = 0,
    fill: float = 128.0,
    pairs: Any = None,
    same: Any = None,
    pair_train: Any = None,
    verifier: Any = "cosine_verifier",
    identities: Any = None,
    identity_train: Any = None,
    classifier: Any = "knn",
) -> pd.DataFrame:
    """Feature similarity and accuracy as a growing part of each face is occluded.

    The heads are fitted on clean features of the training rows (pairs or
    images) and applied to occluded test rows: training never sees an
    occluder, as in DeepID2+ [1]_. At fraction 0 the clean features are
    used, so the similarity is exactly 1 and the accuracies are the clean
    ones.

    Parameters
    ----------
    extractor : object with ``transform(images) -> (n, n_units)``
        Already fitted (or stateless, as the handcrafted extractors are).
    images : ndarray of shape (n, height, width) or (n, height, width, channels)
    kinds : sequence of {"bottom", "top", "random_block"}, default=KINDS
    fractions : sequence of float in [0, 1], default=FRACTIONS
    seed : int, default=0
        See :func:`occlude`.
    fill : float, default=128.0
        See :func:`occlude`.
    pairs : array-like of int of shape (n_pairs, 2), optional
        Indices into ``images`` of verification pairs (e.g. LFW View 1).
    same : array-like of bool of shape (n_pairs,), optional
    pair_train : array-like of bool of shape (n_pairs,), or int indices, optional
        The pairs the verifier is fitted on; the others are scored. Required
        with ``pairs``.
    verifier : str or estimator, default="cosine_verifier"
        A pair head, by registry name or as an unfitted instance.
    identities : array-like of shape (n,), optional
        Identity labels, for identification.
    identity_train : array-like of bool of shape (n,), or int indices, optional
        The gallery images the classifier is fitted on; the others are the
        occluded probes. Required with ``identities``.
    classifier : str or estimator, default="knn"
        A classification head, by registry name or as an unfitted instance.

    Returns
    -------
    DataFrame
        One row per (kind, fraction): ``kind``, ``fraction``, ``cosine_mean``,
        ``cosine_std``, ``cosine_median`` (over all images), and
        ``verification_accuracy`` / ``identification_accuracy`` when pairs /
        identities are given.

    References
    ----------
    .. [1] Sun, Wang, Tang. "Deeply learned face representations are sparse,
       selective, and robust." CVPR 2015.
    .. [2] Zeiler, Fergus. "Visualizing and understanding convolutional
       networks." ECCV 2014.
    """
    images = _check_images(images)
    n = len(images)
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"kinds must be among {KINDS}; got {kind!r}")
    for fraction in fractions:
        if not 0.0 <= float(fraction) <= 1.0:
            raise ValueError(f"fractions must be in [0, 1]; got {fraction!r}")
    clean = np.asarray(extractor.transform(images), dtype=np.float64)

    verify = None
    if pairs is not None:
        if same is None or pair_train is None:
            raise ValueError("pairs need same (one label per pair) and pair_train")
        pairs = np.asarray(pairs)
        if pairs.ndim != 2 or pairs.shape[1] != 2 or not np.issubdtype(pairs.dtype, np.integer):
            raise ValueError(f"pairs must be int indices of shape (n_pairs, 2); got {pairs.shape}")
        if pairs.min() < 0 or pairs.max() >= n:
            raise ValueError(f"pairs has image indices outside 0..{n - 1}")
        same = check_rows(same, len(pairs), "same", "same/different label").astype(bool)
        train = check_mask(pair_train, len(pairs), "pair_train")
        head = _head(verifier).fit(clean[pairs[train]], same[train])
        test_pairs, test_same = pairs[~train], same[~train]

        def verify(F):
            return float(head.score(F[test_pairs], test_same))

    identify = None
    if identities is not None:
        if identity_train is None:
            raise ValueError("identities need identity_train (the gallery images)")
        identities = check_rows(identities, n, "identities", "identity label")
        gallery = check_mask(identity_train, n, "identity_train")
        model = _head(classifier).fit(clean[gallery], identities[gallery])

        def identify(F):
            return float(model.score(F[~gallery], identities[~gallery]))

    rows = []
    for kind in kinds:
        for fraction in fractions:
            if float(fraction) == 0.0:
                features = clean
            else:
                occluded = occlude(images, kind, fraction, seed=seed, fill=fill)
                features = np.asarray(extractor.transform(occluded), dtype=np.float64)
            cos = cosine_similarity_rows(features, clean)
            row = {
                "kind": kind,
                "fraction": float(fraction),
                "cosine_mean": float(cos.mean()),
                "cosine_std": float(cos.std()),
                "cosine_median": float(np.median(cos)),
            }
            if verify is not None:
                row["verification_accuracy"] = verify(features)
            if identify is not None:
                row["identification_accuracy"] = identify(features)
            rows.append(row)
    return pd.DataFrame(rows)


def plot_occlusion(table: pd.DataFrame, metric: str = "cosine_mean", title: str = "") -> Figure:
    """Lines of ``metric`` against the occluded fraction, one per kind (and extractor).

    Parameters
    ----------
    table : DataFrame
        :func:`occlusion_robustness` output; with an ``extractor`` column
        (several extractors' tables concatenated) each extractor gets its own
        colour and each kind its own line style, all on one plot.
    metric : str, default="cosine_mean"
        ``cosine_mean``, ``verification_accuracy``, ``identification_accuracy``.
    title : str, default=""

    Returns
    -------
    matplotlib.figure.Figure
    """
    if metric not in table.columns:
        raise ValueError(f"metric {metric!r} is not a column of the table: {list(table.columns)}")
    from matplotlib import colormaps

    fig = new_figure(6.0, 4.0)
    ax = fig.subplots()
    extractors = list(pd.unique(table["extractor"])) if "extractor" in table else [None]
    kinds = list(pd.unique(table["kind"]))
    colours = colormaps["tab10"]
    styles = ["-", "--", ":", "-."]
    for e, extractor in enumerate(extractors):
        part = table if extractor is None else table[table["extractor"] == extractor]
        for s, kind in enumerate(kinds):
            line = part[part["kind"] == kind].sort_values("fraction")
            label = kind if extractor is None else f"{extractor}, {kind}"
            ax.plot(
                line["fraction"],
                line[metric],
                styles[s % len(styles)],
                marker="o",
                markersize=3,
                color=colours(e % colours.N) if extractor is not None else colours(s),
                label=label,
            )
    ax.set_xlabel("occluded fraction")
    ax.set_ylabel(metric.replace("_", " "))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title)
    return fig
