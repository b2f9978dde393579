"""Binary codes: verification with features binarised at 0 or at the median.

DeepID2+ [1]_ binarised its top-layer features at 0 (active or not) and
lost little verification accuracy: with Joint Bayesian on real values
against Joint Bayesian or the Hamming distance on the binary codes. This
module runs that comparison for any features and any pair heads, reusing
the project's binarisation (:func:`~transfer.heads.verification.binarization_thresholds`,
:func:`~transfer.heads.verification.binarize`) and verifiers
(:class:`~transfer.heads.verification.HammingVerifier`, ...).

References
----------
.. [1] Sun, Wang, Tang. "Deeply learned face representations are sparse,
   selective, and robust." CVPR 2015.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from transfer._registry import did_you_mean, register_analysis
from transfer._tags import component_tags
from transfer.analysis._common import check_features, check_rows
from transfer.analysis.base import Analysis, AnalysisContext, AnalysisOutput
from transfer.heads.verification import binarization_thresholds, binarize, pairs_to_identities
from transfer.report.sections import register_section

__all__ = ["CODES", "BinaryCodesAnalysis", "binary_code_verification", "binary_codes"]

#: Binarisation methods, see :func:`~transfer.heads.verification.binarization_thresholds`.
CODES = ("zero", "median")


def binary_codes(X: Any, method: str = "zero", reference: Any = None) -> np.ndarray:
    """Binary codes ``X > threshold`` per unit, as uint8 0/1.

    Parameters
    ----------
    X : array-like of shape (n_images, n_units)
    method : {"zero", "median"}, default="zero"
        Threshold every unit at 0 (DeepID2+'s active / inactive [1]_), or at
        its median over ``reference`` (every bit on for half of those images).
    reference : array-like of shape (n_reference, n_units), optional
        The images the median is taken over, normally the training images;
        default ``X`` itself.

    Returns
    -------
    codes : ndarray of shape (n_images, n_units), uint8

    References
    ----------
    .. [1] Sun, Wang, Tang. "Deeply learned face representations are sparse,
       selective, and robust." CVPR 2015.
    """
    X = check_features(X)
    reference = X if reference is None else check_features(reference, "reference")
    thresholds = binarization_thresholds(reference, method)
    return binarize(X, thresholds).astype(np.uint8)


def _pairs(P: Any, name: str) -> np.ndarray:
    P = np.asarray(P, dtype=np.float64)
    if P.ndim != 3 or P.shape[1] != 2:
        raise ValueError(f"{name} must hold pairs of shape (n_pairs, 2, n_units); got {P.shape}")
    check_features(P.reshape(len(P), -1), name)
    return P


def _head(head: Any) -> tuple[str, Any]:
    if isinstance(head, str):
        from transfer.registry import create_head  # the registry imports every head module

        return head, create_head(head)
    return type(head).__name__, clone(head)


def binary_code_verification(
    pairs_train: Any,
    same_train: Any,
    pairs_test: Any,
    same_test: Any,
    *,
    codes: Sequence[str] = CODES,
    heads: Sequence[Any] = ("cosine_verifier", "hamming_verifier"),
    train_images: Any = None,
) -> pd.DataFrame:
    """Verification accuracy on real-valued features against binary codes.

    Every head is fitted on the training pairs (model and threshold) and
    scored on the test pairs, once on the real values and once per binary
    code. The binarisation thresholds come from the training images only.
    Heads that binarise by themselves (tag ``binary_codes``, such as the
    Hamming verifier) run on the codes only: on real values they would
    repeat their own binarisation. On 0/1 codes the Hamming verifier's
    default threshold at 0 keeps every bit, so its row for a code is the
    Hamming distance of that code.

    Parameters
    ----------
    pairs_train, pairs_test : array-like of shape (n_pairs, 2, n_units)
        Features of the two images of each pair.
    same_train, same_test : array-like of bool of shape (n_pairs,)
    codes : sequence of {"zero", "median"}, default=("zero", "median")
    heads : sequence of str or estimator, default=("cosine_verifier", "hamming_verifier")
        Pair heads, by registry name or as unfitted instances (cloned); pass
        ``"joint_bayesian"`` as well for DeepID2+'s comparison.
    train_images : array-like of shape (n_images, n_units), optional
        Training images for the median thresholds; default the distinct
        images of the training pairs.

    Returns
    -------
    DataFrame
        One row per (code, head): ``code`` ("real", "zero", "median"),
        ``head``, ``train_accuracy``, ``test_accuracy``, ``n_units``,
        ``fraction_on`` (mean bit of the test images' codes; NaN for real).

    References
    ----------
    .. [1] Sun, Wang, Tang. "Deeply learned face representations are sparse,
       selective, and robust." CVPR 2015.
    """
    P_train, P_test = _pairs(pairs_train, "pairs_train"), _pairs(pairs_test, "pairs_test")
    if P_train.shape[2] != P_test.shape[2]:
        raise ValueError(
            f"pairs_train has {P_train.shape[2]} units per image but pairs_test has "
            f"{P_test.shape[2]}"
        )
    s_train = check_rows(same_train, len(P_train), "same_train", "same/different label")
    s_test = check_rows(same_test, len(P_test), "same_test", "same/different label")
    s_train, s_test = s_train.astype(bool), s_test.astype(bool)
    unknown = sorted(set(codes) - set(CODES))
    if unknown:
        raise ValueError(f"codes must be among {CODES}; got {unknown}")
    if train_images is None:
        images, _ = pairs_to_identities(P_train[:, 0], P_train[:, 1], s_train)
    else:
        images = check_features(train_images, "train_images")
    rows = []
    for code in ("real", *codes):
        if code == "real":
            train, test, on = P_train, P_test, np.nan
        else:
            thresholds = binarization_thresholds(images, code)
            train, test = binarize(P_train, thresholds), binarize(P_test, thresholds)
            on = float(test.mean())
        for spec in heads:
            name, head = _head(spec)
            if code == "real" and component_tags(head).get("binary_codes"):
                continue
            head.fit(train, s_train)
            rows.append(
                {
                    "code": code,
                    "head": name,
                    "train_accuracy": float(head.score(train, s_train)),
                    "test_accuracy": float(head.score(test, s_test)),
                    "n_units": P_train.shape[2],
                    "fraction_on": on,
                }
            )
    return pd.DataFrame(rows)


# -- as a recipe analysis ---------------------------------------------------------


@register_analysis("binary_codes", "Verification on real values against binary codes")
class BinaryCodesAnalysis(Analysis):
    """DeepID2+'s binary-code comparison [1]_ on a verification recipe's first fold.

    :func:`binary_code_verification` on the fold's training and test pairs
    (median thresholds from the training pairs' images); writes
    ``binary_codes.csv``.

    Parameters
    ----------
    codes : list of {"zero", "median"}, default=("zero", "median")
    heads : list of str, default=("cosine_verifier", "hamming_verifier")
        Pair heads by registry name (``joint_bayesian`` for DeepID2+'s own).
    extractors : list of str, optional
        Extractor labels to analyse (default: all).

    References
    ----------
    .. [1] Sun, Wang, Tang. "Deeply learned face representations are sparse,
       selective, and robust." CVPR 2015.
    """

    sections = ("binary_codes",)

    def __init__(
        self,
        codes: Sequence[str] = CODES,
        heads: Sequence[str] = ("cosine_verifier", "hamming_verifier"),
        extractors: list[str] | None = None,
    ) -> None:
        self.codes = codes
        self.heads = heads
        self.extractors = extractors

    def check_recipe(self, labels: list[str], protocol: Any) -> None:
        super().check_recipe(labels, protocol)
        unknown = sorted(set(self.codes) - set(CODES))
        if unknown:
            raise ValueError(f"'codes' must be among {list(CODES)}, got {unknown}")
        from transfer.registry import HEADS, load_components

        load_components()
        for name in self.heads:
            if name not in HEADS:
                raise ValueError(
                    f"'heads' names {name!r}, which is not a head."
                    f"{did_you_mean(str(name), HEADS.names())}"
                )
            head = HEADS.get(name)()
            if not component_tags(head).get("scores_pairs"):
                raise ValueError(f"'heads': {name!r} does not score pairs")
            try:  # the protocol says whether it has pairs
                protocol.check_head(name, head)
            except ValueError:
                raise ValueError(
                    f"binary_codes needs a pair protocol (verification); {protocol.name!r} "
                    "has no pairs"
                ) from None

    def check_plan(self, context: AnalysisContext) -> None:
        if context.pairs is None:
            raise ValueError("binary_codes needs a verification protocol (pairs of images)")

    def run(self, context: AnalysisContext, label: str) -> AnalysisOutput:
        F = context.features(label)
        train_pairs, train_same, test_pairs, test_same = context.pairs
        table = binary_code_verification(
            F[train_pairs],
            train_same,
            F[test_pairs],
            test_same,
            codes=list(self.codes),
            heads=list(self.heads),
            train_images=F[np.unique(train_pairs)],
        )
        return AnalysisOutput(tables={"binary_codes": table})


def _binary_body(report: Any, entry: dict, folder: Any) -> tuple[str, str]:
    from transfer.analysis.base import read_table
    from transfer.report.html import table
    from transfer.report.markdown import markdown_table

    frame = read_table(folder, "binary_codes")
    if frame is None:
        return '<p class="muted">No binary-code table.</p>', "_No binary-code table._"
    wide = frame.pivot_table(
        index=["extractor", "head"], columns="code", values="test_accuracy", sort=False
    )
    text = wide.map(lambda v: f"{v:.3f}").reset_index()
    return table(text), markdown_table(text)


@register_section("binary_codes", title="Binary codes (analysis)", nav="Codes", order=76)
def binary_codes_section(report: Any) -> Any:
    """The binary-code analyses of the run: test accuracy per code and head."""
    from transfer.analysis.base import analysis_section

    return analysis_section(report, "binary_codes", _binary_body)
