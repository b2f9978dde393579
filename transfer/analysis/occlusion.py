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

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.base import clone

from transfer._registry import register_analysis
from transfer.analysis._common import check_mask, check_rows, new_figure
from transfer.analysis.base import Analysis, AnalysisContext, AnalysisOutput
from transfer.report.sections import register_section

__all__ = [
    "FRACTIONS",
    "KINDS",
    "OcclusionAnalysis",
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
    scorers: Mapping[str, Callable[[np.ndarray], float]] | None = None,
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
    scorers : mapping of str to callable, optional
        More columns: ``scorers[name](features)`` of the (occluded)
        features of ``images`` gives column ``name``; for heads fitted
        elsewhere on clean features (attribute classifiers on a whole
        training set, say).

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
            for name, score in (scorers or {}).items():
                row[name] = float(score(features))
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


# -- as a recipe analysis ---------------------------------------------------------


def _mean_attribute_accuracy(head: Any, truth: np.ndarray) -> Callable[[np.ndarray], float]:
    def score(F: np.ndarray) -> float:
        return float((np.asarray(head.predict(F)) == truth).mean())

    return score


@register_analysis("occlusion", "Features and accuracies as faces are occluded (DeepID2+)")
class OcclusionAnalysis(Analysis):
    """Occlusion robustness of each extractor on test images, DeepID2+'s study [1]_.

    ``n_images`` test images of the first fold (a seeded sample) are
    occluded (:func:`occlude`: bars from the bottom or the top, a random
    block) at each fraction and passed through the extractor again; heads
    fitted on the clean features of the training images score them:

    - attributes: mean accuracy over the attributes of an
      :class:`~transfer.heads.attributes.AttributeLinearHead` (column
      ``attribute_accuracy``);
    - identities or classes: 1-nearest-neighbour accuracy against the
      training images (``identification_accuracy``);
    - verification pairs: a cosine verifier on the test pairs whose both
      images are in the sample (``verification_accuracy``; pairs are
      sampled, then their images).

    Always: the cosine similarity of occluded to clean features
    (``cosine_mean``). Writes ``occlusion.csv``; the report draws every
    extractor on one plot per metric (handcrafted against ImageNet against
    identity features).

    Parameters
    ----------
    kinds : list of {"bottom", "top", "random_block"}, default=all three
    fractions : list of float in [0, 1], default=(0, 0.1, 0.2, 0.3, 0.4, 0.5)
    n_images : int, default=200
        Test images occluded (for pairs: about that many images).
    n_train : int, default=2000
        The attribute and identification heads are fitted on at most this
        many training images (a seeded sample): the curve is about how the
        accuracy falls from its clean value, and the attribute head's inner
        search for C on all training images of wide features costs minutes.
    extractors : list of str, optional
        Extractor labels to analyse (default: all).

    References
    ----------
    .. [1] Sun, Wang, Tang. "Deeply learned face representations are sparse,
       selective, and robust." CVPR 2015.
    """

    sections = ("occlusion",)
    _cache_version = 2  # heads fitted on n_train training images

    def __init__(
        self,
        kinds: Sequence[str] = KINDS,
        fractions: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5),
        n_images: int = 200,
        n_train: int = 2000,
        extractors: list[str] | None = None,
    ) -> None:
        self.kinds = kinds
        self.fractions = fractions
        self.n_images = n_images
        self.n_train = n_train
        self.extractors = extractors

    def check_recipe(self, labels: list[str], protocol: Any) -> None:
        super().check_recipe(labels, protocol)
        for kind in self.kinds:
            if kind not in KINDS:
                raise ValueError(f"'kinds' must be among {list(KINDS)}, got {kind!r}")
        for fraction in self.fractions:
            if isinstance(fraction, bool) or not isinstance(fraction, int | float):
                raise ValueError(f"'fractions' must be numbers in [0, 1], got {fraction!r}")
            if not 0.0 <= float(fraction) <= 1.0:
                raise ValueError(f"'fractions' must be in [0, 1], got {fraction!r}")
        if not isinstance(self.n_images, int) or isinstance(self.n_images, bool):
            raise ValueError(f"'n_images' must be an int >= 2, got {self.n_images!r}")
        if self.n_images < 2:
            raise ValueError(f"'n_images' must be an int >= 2, got {self.n_images!r}")
        if isinstance(self.n_train, bool) or not isinstance(self.n_train, int) or self.n_train < 2:
            raise ValueError(f"'n_train' must be an int >= 2, got {self.n_train!r}")

    def _sample(self, context: AnalysisContext) -> tuple[np.ndarray, np.ndarray | None]:
        """Image indices to occlude and, for pairs, the sampled test pairs (local indices)."""
        rng = np.random.default_rng(context.seed)
        if context.pairs is not None and context.attributes is None:
            _, _, test_pairs, test_same = context.pairs
            n_pairs = min(len(test_pairs), max(1, self.n_images // 2))
            chosen = np.sort(rng.choice(len(test_pairs), n_pairs, replace=False))
            images, local = np.unique(test_pairs[chosen], return_inverse=True)
            return images, np.column_stack([local.reshape(-1, 2), test_same[chosen]])
        test = np.flatnonzero(context.test)
        n = min(len(test), int(self.n_images))
        return np.sort(rng.choice(test, n, replace=False)), None

    def run(self, context: AnalysisContext, label: str) -> AnalysisOutput:
        F = context.features(label)
        train = np.flatnonzero(context.train)
        if len(train) > self.n_train:
            rng = np.random.default_rng(context.seed)
            train = np.sort(rng.choice(train, int(self.n_train), replace=False))
        sample, pairs = self._sample(context)
        scorers: dict[str, Callable[[np.ndarray], float]] = {}
        if context.attributes is not None:
            from transfer.heads.attributes import AttributeLinearHead

            head = AttributeLinearHead().fit(F[train], context.attributes[train])
            scorers["attribute_accuracy"] = _mean_attribute_accuracy(
                head, context.attributes[sample]
            )
        elif context.identities is not None and pairs is None:
            # (verification pairs keep test identities out of training: no gallery)
            knn = _head("knn").fit(F[train], context.identities[train])
            truth = context.identities[sample]
            scorers["identification_accuracy"] = lambda G: float((knn.predict(G) == truth).mean())
        if pairs is not None:
            train_pairs, train_same = context.pairs[0], context.pairs[1]
            verifier = _head("cosine_verifier").fit(F[train_pairs], train_same)
            local, same = pairs[:, :2], pairs[:, 2].astype(bool)
            scorers["verification_accuracy"] = lambda G: float(verifier.score(G[local], same))
        from transfer._config import config_context

        with config_context(progress=False, progress_lines=None):  # one line per analysis
            table = occlusion_robustness(
                context.extractor(label),
                context.images(label, sample),
                kinds=list(self.kinds),
                fractions=[float(f) for f in self.fractions],
                seed=context.seed,
                scorers=scorers,
            )
        table.insert(2, "n_images", len(sample))
        return AnalysisOutput(tables={"occlusion": table})


def _occlusion_body(report: Any, entry: dict, folder: Any) -> tuple[str, str]:
    from transfer.analysis.base import figure_uri, read_table
    from transfer.report.html import escape, figure, table
    from transfer.report.markdown import markdown_table

    frame = read_table(folder, "occlusion")
    if frame is None:
        return '<p class="muted">No occlusion table.</p>', "_No occlusion table._"
    metrics = [
        m
        for m in (
            "attribute_accuracy",
            "identification_accuracy",
            "verification_accuracy",
            "cosine_mean",
        )
        if m in frame
    ]
    html, md = [], []
    for metric in metrics:
        uri = figure_uri(report, lambda metric=metric: plot_occlusion(frame, metric, title=metric))
        caption = escape(f"{metric.replace('_', ' ')} against the occluded fraction")
        html.append(figure(uri, metric, caption, f"fig-occ-{entry['label']}-{metric}"))
    wide = frame.pivot_table(
        index=["kind", "fraction"], columns="extractor", values=metrics[0], sort=False
    )
    text = wide.map(lambda v: f"{v:.3f}").reset_index()
    html.append(f"<h4>{escape(metrics[0])}</h4>" + table(text))
    md += [f"#### {metrics[0]}", "", markdown_table(text), ""]
    note = (
        "Heads are fitted on clean training features and score occluded test images; "
        "fraction 0 is the clean accuracy. DeepID2+ (Sun et al. 2015) found its identity "
        "features degrade gracefully up to large occlusions."
    )
    html.append(f'<p class="note">{escape(note)}</p>')
    md.append(note)
    return "".join(html), "\n".join(md)


@register_section("occlusion", title="Occlusion", order=74)
def occlusion_section(report: Any) -> Any:
    """The occlusion analyses of the run."""
    from transfer.analysis.base import analysis_section

    return analysis_section(report, "occlusion", _occlusion_body)
