"""Selectivity of single units for identities, attributes and same/different pairs.

DeepID2+ [1]_ showed that single neurons of a face-identity network are
selective: a neuron's activation distribution differs strongly between
identities, and one neuron with one threshold classifies some identities
and attributes with high accuracy although the network never saw attribute
labels. These functions give the per-unit statistics and the best
single-unit accuracies, chosen on training rows only (with
:class:`~transfer.heads.single_neuron.SingleNeuronHead`) and scored on test
rows.

The selectivity index of a unit for a group (an identity, or the images
with an attribute) is the d-prime of its activations inside the group
against outside it::

    d' = (mean_in - mean_out) / sqrt((var_in + var_out) / 2)

(0 when both variances are 0, as for a unit that is never active).

References
----------
.. [1] Sun, Wang, Tang. "Deeply learned face representations are sparse,
   selective, and robust." CVPR 2015.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse
from matplotlib.figure import Figure

from transfer._registry import register_analysis
from transfer.analysis._common import (
    check_features,
    check_mask,
    check_rows,
    new_figure,
    with_unit_names,
)
from transfer.analysis.base import Analysis, AnalysisContext, AnalysisOutput
from transfer.heads.single_neuron import SingleNeuronHead
from transfer.protocols.attributes import attribute_scores
from transfer.report.sections import register_section

__all__ = [
    "SelectivityAnalysis",
    "attribute_selectivity",
    "d_prime",
    "identity_activation_stats",
    "identity_selectivity",
    "identity_single_unit_accuracy",
    "pair_single_unit_accuracy",
    "plot_attribute_heatmap",
    "single_unit_accuracy",
]


def d_prime(
    mean_in: np.ndarray, var_in: np.ndarray, mean_out: np.ndarray, var_out: np.ndarray
) -> np.ndarray:
    """``(mean_in - mean_out) / sqrt((var_in + var_out) / 2)``: the selectivity index.

    0 where both variances are 0 and the means agree, +-inf where they
    differ (a perfect separation), NaN where a group is empty.

    Parameters
    ----------
    mean_in, var_in, mean_out, var_out : ndarray
        Broadcastable statistics inside and outside a group.

    Returns
    -------
    ndarray
    """
    diff = np.asarray(mean_in, dtype=np.float64) - mean_out
    scale = np.sqrt((np.asarray(var_in, dtype=np.float64) + var_out) / 2.0)
    out = np.zeros(np.broadcast(diff, scale).shape)
    np.divide(diff, scale, out=out, where=scale > 0)
    # a constant unit that still differs between groups separates them perfectly
    out[(scale == 0) & (diff != 0)] = np.sign(diff[(scale == 0) & (diff != 0)]) * np.inf
    out[np.isnan(diff) | np.isnan(scale)] = np.nan  # an empty group: no statistic
    return out


#: Below this fraction of member entries, :func:`_group_stats` sums through a
#: sparse product (an LFW identity one-hot is 0.02 % full).
_SPARSE_MEMBERSHIP = 0.05


def _group_stats(X: np.ndarray, member: np.ndarray) -> tuple[np.ndarray, ...]:
    """Means and variances of every unit inside and outside each group.

    ``member`` is a boolean (n_samples, n_groups) matrix; two matrix
    products give all the sums, without loops: dense, O(n d g), for groups
    that share many rows (attributes); sparse, O(n d) per membership, when
    few rows belong to each group (identities one-hot: thousands of groups
    of a few images each). Groups with no member (or no non-member) get
    NaN statistics there.
    """
    member = np.asarray(member, dtype=bool)
    n_in = member.sum(axis=0).astype(np.float64)[:, None]
    n_out = len(X) - n_in
    XX = X * X
    if member.size and member.mean() < _SPARSE_MEMBERSHIP:
        M = scipy.sparse.csc_matrix(member, dtype=np.float64)
        s_in, q_in = np.asarray(M.T @ X), np.asarray(M.T @ XX)
    else:
        M = member.astype(np.float64)
        s_in, q_in = M.T @ X, M.T @ XX
    s_out, q_out = X.sum(axis=0) - s_in, XX.sum(axis=0) - q_in
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_in, mean_out = s_in / n_in, s_out / n_out
        var_in = np.maximum(q_in / n_in - mean_in**2, 0.0)
        var_out = np.maximum(q_out / n_out - mean_out**2, 0.0)
    return n_in[:, 0], mean_in, var_in, mean_out, var_out


def _one_hot(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    classes, index = np.unique(labels, return_inverse=True)
    return classes, index.reshape(-1)[:, None] == np.arange(len(classes))[None, :]


def identity_activation_stats(X: Any, identities: Any, unit_names: Any = None) -> pd.DataFrame:
    """Each unit's activation distribution per identity: count, mean and std.

    Parameters
    ----------
    X : array-like of shape (n_images, n_units)
    identities : array-like of shape (n_images,)
        Identity label of each image (e.g. LFW people with at least 20 images).
    unit_names : array-like of shape (n_units,), optional

    Returns
    -------
    DataFrame
        One row per (unit, identity): ``unit``, ``identity``, ``n_images``,
        ``mean``, ``std`` (population std).
    """
    X = check_features(X)
    identities = check_rows(identities, len(X), "identities", "identity label")
    classes, member = _one_hot(identities)
    n_in, mean_in, var_in, _, _ = _group_stats(X, member)
    n_units = X.shape[1]
    frame = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n_units), len(classes)),
            "identity": np.tile(classes, n_units),
            "n_images": np.tile(n_in.astype(int), n_units),
            "mean": mean_in.T.reshape(-1),
            "std": np.sqrt(var_in).T.reshape(-1),
        }
    )
    return with_unit_names(frame, unit_names, n_units)


def identity_selectivity(
    X: Any, identities: Any, *, k: float = 1.0, unit_names: Any = None
) -> pd.DataFrame:
    """Per unit, how selective it is for identities.

    Parameters
    ----------
    X : array-like of shape (n_images, n_units)
    identities : array-like of shape (n_images,)
    k : float, default=1.0
        An identity "excites" a unit when its mean activation exceeds the
        unit's overall mean by ``k`` overall standard deviations.
    unit_names : array-like of shape (n_units,), optional

    Returns
    -------
    DataFrame
        One row per unit: ``unit``, ``mean``, ``std`` (over all images),
        ``best_identity`` (largest d-prime against the other identities),
        ``best_d_prime``, ``mean_d_prime`` (mean absolute d-prime over
        identities), ``fraction_identities_above`` (the fraction of
        identities exciting the unit, see ``k``: a selective unit is excited
        by few identities).

    References
    ----------
    .. [1] Sun, Wang, Tang. "Deeply learned face representations are sparse,
       selective, and robust." CVPR 2015.
    """
    X = check_features(X)
    identities = check_rows(identities, len(X), "identities", "identity label")
    classes, member = _one_hot(identities)
    if len(classes) < 2:
        raise ValueError("identity_selectivity needs at least 2 identities; got 1")
    _, mean_in, var_in, mean_out, var_out = _group_stats(X, member)
    d = d_prime(mean_in, var_in, mean_out, var_out)  # (n_identities, n_units)
    mean, std = X.mean(axis=0), X.std(axis=0)
    best = np.argmax(d, axis=0)
    frame = pd.DataFrame(
        {
            "unit": np.arange(X.shape[1]),
            "mean": mean,
            "std": std,
            "best_identity": classes[best],
            "best_d_prime": d[best, np.arange(X.shape[1])],
            "mean_d_prime": np.abs(d).mean(axis=0),
            "fraction_identities_above": (mean_in > mean + k * std).mean(axis=0),
        }
    )
    return with_unit_names(frame, unit_names, X.shape[1])


def _attribute_matrix(attributes: Any, n: int, names: Any) -> tuple[np.ndarray, np.ndarray]:
    A = check_rows(attributes, n, "attributes", "row of attribute labels")
    if A.ndim == 1:
        A = A[:, None]
    values = np.unique(A)
    if A.ndim != 2 or not np.isin(values, [0, 1]).all():
        raise ValueError(
            "attributes must be a 0/1 (or bool) matrix of shape (n_images, n_attributes); "
            f"got shape {A.shape} with values {values[:5].tolist()}"
        )
    if names is None:
        names = np.array([f"attribute{j}" for j in range(A.shape[1])])
    names = np.asarray(names, dtype=object).astype(str)
    if names.shape != (A.shape[1],):
        raise ValueError(f"attribute_names must hold {A.shape[1]} names; got shape {names.shape}")
    return A.astype(bool), names


def attribute_selectivity(
    X: Any, attributes: Any, attribute_names: Any = None, unit_names: Any = None
) -> pd.DataFrame:
    """Each unit's activations with and without each binary attribute.

    Parameters
    ----------
    X : array-like of shape (n_images, n_units)
    attributes : array-like of shape (n_images, n_attributes)
        0/1 labels (e.g. CelebA's 40 attributes, -1 mapped to 0).
    attribute_names : array-like of shape (n_attributes,), optional
    unit_names : array-like of shape (n_units,), optional

    Returns
    -------
    DataFrame
        One row per (unit, attribute): ``unit``, ``attribute``,
        ``mean_present``, ``std_present``, ``mean_absent``, ``std_absent``,
        ``d_prime`` (present against absent). Pivot ``mean_present`` or
        ``d_prime`` for the units x attributes heatmap
        (:func:`plot_attribute_heatmap`).

    References
    ----------
    .. [1] Sun, Wang, Tang. "Deeply learned face representations are sparse,
       selective, and robust." CVPR 2015.
    """
    X = check_features(X)
    A, names = _attribute_matrix(attributes, len(X), attribute_names)
    _, mean_in, var_in, mean_out, var_out = _group_stats(X, A)
    n_units = X.shape[1]
    frame = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n_units), len(names)),
            "attribute": np.tile(names, n_units),
            "mean_present": mean_in.T.reshape(-1),
            "std_present": np.sqrt(var_in).T.reshape(-1),
            "mean_absent": mean_out.T.reshape(-1),
            "std_absent": np.sqrt(var_out).T.reshape(-1),
            "d_prime": d_prime(mean_in, var_in, mean_out, var_out).T.reshape(-1),
        }
    )
    return with_unit_names(frame, unit_names, n_units)


def single_unit_accuracy(
    X: Any,
    Y: Any,
    train: Any,
    test: Any,
    *,
    target_names: Any = None,
    criterion: str = "accuracy",
) -> pd.DataFrame:
    """The best single unit and threshold per binary target, chosen on training rows.

    A :class:`~transfer.heads.single_neuron.SingleNeuronHead` is fitted on
    the training rows only; the test rows are scored with its rule, beside
    the majority-class baseline of the training rows.

    Parameters
    ----------
    X : array-like of shape (n_images, n_units)
    Y : array-like of shape (n_images,) or (n_images, n_targets)
        0/1 labels, one column per target (attributes, or identities one
        vs rest).
    train, test : array-like of bool of shape (n_images,), or of int indices
        Rows used to choose, and rows used to score.
    target_names : array-like of shape (n_targets,), optional
    criterion : {"accuracy", "balanced_accuracy"}, default="accuracy"
        What the choice maximises on the training rows.

    Returns
    -------
    DataFrame
        One row per target: ``target``, ``unit``, ``threshold``,
        ``polarity``, ``train_accuracy``, ``test_accuracy``,
        ``test_balanced_accuracy``, ``test_majority_accuracy`` (always
        answering the majority class of the training rows), ``n_train``,
        ``n_test``, ``test_positives``.

    References
    ----------
    .. [1] Sun, Wang, Tang. "Deeply learned face representations are sparse,
       selective, and robust." CVPR 2015.
    """
    X = check_features(X)
    Y, names = _attribute_matrix(Y, len(X), target_names)
    train, test = check_mask(train, len(X), "train"), check_mask(test, len(X), "test")
    if not train.any() or not test.any():
        raise ValueError("train and test must each select at least one row")
    # one target: a 1-D y (a one-column y would be a column vector to scikit-learn)
    y_train = Y[train].astype(int) if Y.shape[1] > 1 else Y[train, 0].astype(int)
    head = SingleNeuronHead(criterion=criterion).fit(X[train], y_train)
    pred = head.polarity_ * (X[test][:, head.unit_] - head.threshold_) > 0
    scores = attribute_scores(Y[train], Y[test], pred)  # the attributes protocol's own scores
    return pd.DataFrame(
        {
            "target": names,
            "unit": head.unit_,
            "threshold": head.threshold_,
            "polarity": head.polarity_,
            "train_accuracy": head.train_accuracy_,
            "test_accuracy": scores["accuracy"].to_numpy(),
            "test_balanced_accuracy": scores["balanced_accuracy"].to_numpy(),
            "test_majority_accuracy": scores["majority_accuracy"].to_numpy(),
            "n_train": int(train.sum()),
            "n_test": int(test.sum()),
            "test_positives": Y[test].sum(axis=0),
        }
    )


def identity_single_unit_accuracy(
    X: Any,
    identities: Any,
    train: Any,
    test: Any,
    *,
    criterion: str = "balanced_accuracy",
) -> pd.DataFrame:
    """The best single unit per identity, one identity against all others.

    One-vs-rest columns of ``identities`` through
    :func:`single_unit_accuracy`. The default criterion is balanced
    accuracy: with many identities, each is rare, and plain accuracy is
    maximised by a unit that never says "this one" (the majority baseline,
    reported beside it).

    Parameters
    ----------
    X : array-like of shape (n_images, n_units)
    identities : array-like of shape (n_images,)
    train, test : array-like of bool of shape (n_images,), or of int indices
        Every identity should have images in both (a split within identities).
    criterion : {"accuracy", "balanced_accuracy"}, default="balanced_accuracy"

    Returns
    -------
    DataFrame
        As :func:`single_unit_accuracy`, ``target`` holding the identity.
    """
    X = check_features(X)
    identities = check_rows(identities, len(X), "identities", "identity label")
    classes, member = _one_hot(identities)
    frame = single_unit_accuracy(
        X, member.astype(int), train, test, target_names=classes.astype(str), criterion=criterion
    )
    frame["target"] = classes  # keep the labels' own type
    return frame


def pair_single_unit_accuracy(
    X1: Any, X2: Any, same: Any, train: Any, test: Any, *, unit_names: Any = None
) -> pd.DataFrame:
    """Same/different verification by the best single unit's |difference|.

    The feature of a pair is ``|x1 - x2|`` per unit; the unit, threshold
    and polarity (normally "same" below the threshold) are chosen on the
    training pairs by :class:`~transfer.heads.single_neuron.SingleNeuronHead`.

    Parameters
    ----------
    X1, X2 : array-like of shape (n_pairs, n_units)
        Features of the two images of every pair.
    same : array-like of bool of shape (n_pairs,)
    train, test : array-like of bool of shape (n_pairs,), or of int indices
    unit_names : array-like of shape (n_units,), optional

    Returns
    -------
    DataFrame
        One row: ``unit``, ``threshold`` (on the absolute difference),
        ``polarity``, ``train_accuracy``, ``test_accuracy``, ``n_train``,
        ``n_test``.
    """
    X1, X2 = check_features(X1, "X1"), check_features(X2, "X2")
    if X1.shape != X2.shape:
        raise ValueError(f"X1 and X2 must have the same shape; got {X1.shape} and {X2.shape}")
    same = check_rows(same, len(X1), "same", "same/different label").astype(bool)
    train, test = check_mask(train, len(X1), "train"), check_mask(test, len(X1), "test")
    D = np.abs(X1 - X2)
    head = SingleNeuronHead().fit(D[train], same[train])
    frame = pd.DataFrame(
        {
            "unit": head.unit_,
            "threshold": head.threshold_,
            "polarity": head.polarity_,
            "train_accuracy": head.train_accuracy_,
            "test_accuracy": [float((head.predict(D[test]) == same[test]).mean())],
            "n_train": int(train.sum()),
            "n_test": int(test.sum()),
        }
    )
    return with_unit_names(frame, unit_names, X1.shape[1])


def plot_attribute_heatmap(
    table: pd.DataFrame, value: str = "d_prime", max_units: int = 64, title: str = ""
) -> Figure:
    """Units x attributes heatmap of :func:`attribute_selectivity` (DeepID2+'s figure).

    Parameters
    ----------
    table : DataFrame
        The output of :func:`attribute_selectivity`.
    value : str, default="d_prime"
        The column drawn (``d_prime``, ``mean_present``, ...).
    max_units : int, default=64
        The units drawn: those with the largest absolute value for any
        attribute, in unit order.
    title : str, default=""

    Returns
    -------
    matplotlib.figure.Figure
    """
    if value not in table.columns:
        raise ValueError(f"value {value!r} is not a column of the table: {list(table.columns)}")
    grid = table.pivot(index="unit", columns="attribute", values=value)
    grid = grid[pd.unique(table["attribute"])]  # attributes in their given order
    strength = np.nan_to_num(np.abs(grid.to_numpy()), posinf=1e9).max(axis=1)
    keep = np.sort(np.argsort(-strength, kind="stable")[:max_units])
    grid = grid.iloc[keep]
    data = np.clip(np.nan_to_num(grid.to_numpy(), posinf=10.0, neginf=-10.0), -10, 10)
    fig = new_figure(max(5.0, 0.18 * grid.shape[1] + 2), max(3.0, 0.12 * grid.shape[0] + 1.5))
    ax = fig.subplots()
    bound = float(np.abs(data).max()) or 1.0
    diverging = value == "d_prime"
    image = ax.imshow(
        data,
        aspect="auto",
        cmap="RdBu_r" if diverging else "viridis",
        vmin=-bound if diverging else None,
        vmax=bound if diverging else None,
        interpolation="nearest",
    )
    ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=90, fontsize=7)
    ax.set_yticks(range(grid.shape[0]), grid.index, fontsize=6)
    ax.set_xlabel("attribute")
    ax.set_ylabel("unit")
    fig.colorbar(image, ax=ax, label=value)
    if title:
        ax.set_title(title)
    return fig


# -- as a recipe analysis ---------------------------------------------------------


def _top_units(table: pd.DataFrame, per_attribute: int, heatmap: int) -> np.ndarray:
    """Units among the ``per_attribute`` strongest |d'| of some attribute, or the
    ``heatmap`` strongest over all attributes."""
    strength = table.assign(s=table["d_prime"].abs().fillna(0.0))
    best = strength.sort_values("s", ascending=False, kind="stable")
    chosen = set(best.groupby("attribute", sort=False).head(per_attribute)["unit"])
    overall = strength.groupby("unit")["s"].max().sort_values(ascending=False, kind="stable")
    chosen |= set(overall.index[:heatmap])
    return np.array(sorted(chosen))


@register_analysis("selectivity", "Single units against attributes, identities and pairs")
class SelectivityAnalysis(Analysis):
    """How selective single feature dimensions are, DeepID2+'s study [1]_.

    On the first fold (units, thresholds and polarities chosen on its
    training images, accuracies on its test images), for each extractor and
    what the data has:

    - attributes: ``attribute_units.csv``, the best single unit per
      attribute beside the majority baseline (:func:`single_unit_accuracy`),
      and ``attribute_selectivity.csv``, the d-prime of the most selective
      units for every attribute on the training images
      (:func:`attribute_selectivity`; the units x attributes heatmap);
    - identities (identity labels, or the classes of a classification
      dataset): ``identity_units.csv`` (:func:`identity_selectivity`) and
      ``identity_single_unit.csv`` (:func:`identity_single_unit_accuracy`);
    - verification pairs: ``pair_single_unit.csv``
      (:func:`pair_single_unit_accuracy`).

    Parameters
    ----------
    top_units : int, default=10
        Units kept per attribute in ``attribute_selectivity.csv`` (by |d'|).
    heatmap_units : int, default=48
        Units in the heatmap (strongest |d'| for any attribute).
    extractors : list of str, optional
        Extractor labels to analyse (default: all).

    References
    ----------
    .. [1] Sun, Wang, Tang. "Deeply learned face representations are sparse,
       selective, and robust." CVPR 2015.
    """

    sections = ("selectivity",)

    def __init__(
        self, top_units: int = 10, heatmap_units: int = 48, extractors: list[str] | None = None
    ) -> None:
        self.top_units = top_units
        self.heatmap_units = heatmap_units
        self.extractors = extractors

    def check_recipe(self, labels: list[str], protocol: Any) -> None:
        super().check_recipe(labels, protocol)
        for key in ("top_units", "heatmap_units"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{key!r} must be a positive int, got {value!r}")

    def check_plan(self, context: AnalysisContext) -> None:
        if context.attributes is None and context.identities is None and context.pairs is None:
            raise ValueError(
                "selectivity needs attributes, identities (or classes) or verification pairs; "
                f"the dataset {context.data.name!r} has none"
            )

    def run(self, context: AnalysisContext, label: str) -> AnalysisOutput:
        F = context.features(label)
        train, test = context.train, context.test
        tables = {}
        if context.attributes is not None:
            A, names = context.attributes, context.attribute_names
            tables["attribute_units"] = single_unit_accuracy(F, A, train, test, target_names=names)
            full = attribute_selectivity(F[train], A[train], attribute_names=names)
            keep = _top_units(full, int(self.top_units), int(self.heatmap_units))
            tables["attribute_selectivity"] = full[full["unit"].isin(keep)].reset_index(drop=True)
        if context.identities is not None:
            tables["identity_units"] = identity_selectivity(F, context.identities)
            tables["identity_single_unit"] = identity_single_unit_accuracy(
                F, context.identities, train, test
            )
        if context.pairs is not None:
            train_pairs, train_same, test_pairs, test_same = context.pairs
            pairs = np.concatenate([train_pairs, test_pairs])
            same = np.concatenate([train_same, test_same])
            is_train = np.arange(len(pairs)) < len(train_pairs)
            tables["pair_single_unit"] = pair_single_unit_accuracy(
                F[pairs[:, 0]], F[pairs[:, 1]], same, is_train, ~is_train
            )
        return AnalysisOutput(tables=tables)


def _selectivity_body(report: Any, entry: dict, folder: Any) -> tuple[str, str]:
    from transfer.analysis.base import figure_uri, read_table
    from transfer.report.html import escape, figure, table
    from transfer.report.markdown import markdown_table

    html, md = [], []
    units = read_table(folder, "attribute_units")
    if units is not None:
        grid = units.pivot_table(
            index="target", columns="extractor", values="test_accuracy", sort=False
        )
        majority = units.groupby("target", sort=False)["test_majority_accuracy"].first()
        shown = pd.concat([majority.rename("majority"), grid], axis=1)
        shown.loc["mean"] = shown.mean(axis=0)
        text = shown.map(lambda v: f"{v:.3f}")
        html += [
            "<h4>Best single unit per attribute (test accuracy)</h4>",
            table(text, index=True, corner="attribute", classes="pivot"),
        ]
        md += [
            "#### Best single unit per attribute (test accuracy)",
            "",
            markdown_table(text, index=True, corner="attribute"),
            "",
        ]
    heat = read_table(folder, "attribute_selectivity")
    if heat is not None:
        for ext in pd.unique(heat["extractor"]):
            part = heat[heat["extractor"] == ext]
            uri = figure_uri(
                report,
                lambda part=part, ext=ext: plot_attribute_heatmap(
                    part, max_units=int(entry["params"].get("heatmap_units", 48)), title=str(ext)
                ),
            )
            caption = escape(f"d' of the most selective units of {ext} for each attribute")
            html.append(figure(uri, f"attribute selectivity of {ext}", caption, f"fig-sel-{ext}"))
    for stem, what in (
        ("identity_single_unit", "Best single unit per identity (test balanced accuracy)"),
    ):
        frame = read_table(folder, stem)
        if frame is None:
            continue
        summary = frame.groupby("extractor", sort=False).agg(
            identities=("target", "size"),
            mean=("test_balanced_accuracy", "mean"),
            best=("test_balanced_accuracy", "max"),
        )
        text = summary.map(lambda v: f"{v:.3f}" if isinstance(v, float) else str(v))
        html += [f"<h4>{escape(what)}</h4>", table(text, index=True, corner="extractor")]
        md += [f"#### {what}", "", markdown_table(text, index=True, corner="extractor"), ""]
    pairs = read_table(folder, "pair_single_unit")
    if pairs is not None:
        shown = pairs[["extractor", "unit", "train_accuracy", "test_accuracy", "n_test"]]
        html += ["<h4>Best single unit for same/different pairs</h4>", table(shown)]
        md += ["#### Best single unit for same/different pairs", "", markdown_table(shown), ""]
    note = (
        "Each unit, threshold and polarity is chosen on the first fold's training images and "
        "scored on its test images. DeepID2+ (Sun et al. 2015) reports single neurons of an "
        "identity network reaching high accuracy on some attributes and identities although "
        "the network never saw attribute labels; the majority column is the baseline to beat."
    )
    html.append(f'<p class="note">{escape(note)}</p>')
    md.append(note)
    return "".join(html), "\n".join(md)


@register_section("selectivity", title="Selectivity", order=73)
def selectivity_section(report: Any) -> Any:
    """The selectivity analyses of the run."""
    from transfer.analysis.base import analysis_section

    return analysis_section(report, "selectivity", _selectivity_body)
