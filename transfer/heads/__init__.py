"""Heads fitted on features: classifiers, and verifiers that score pairs."""

from __future__ import annotations

from typing import Any

from transfer._tags import component_tags
from transfer.heads.attributes import AttributeLinearHead
from transfer.heads.classifiers import (
    BaseHead,
    FisherfacesHead,
    KNNHead,
    LDAHead,
    LinearSVMHead,
    LogisticHead,
    RBFSVMHead,
    pairwise_distances,
)
from transfer.heads.single_neuron import SingleNeuronHead
from transfer.heads.verification import (
    CosineVerifier,
    EuclideanVerifier,
    HammingVerifier,
    JointBayesian,
    PairSVM,
    PairVerifier,
)

__all__ = [
    "AttributeLinearHead",
    "BaseHead",
    "CosineVerifier",
    "EuclideanVerifier",
    "FisherfacesHead",
    "HammingVerifier",
    "JointBayesian",
    "KNNHead",
    "LDAHead",
    "LinearSVMHead",
    "LogisticHead",
    "PairSVM",
    "PairVerifier",
    "RBFSVMHead",
    "SingleNeuronHead",
    "heads_with_tag",
    "pairwise_distances",
]


def heads_with_tag(tag: str, value: Any = True) -> list[str]:
    """Registry names of the heads whose default instance has ``tag == value``.

    The heads are asked (their ``__transfer_tags__``, see
    :mod:`transfer._tags`), so messages such as "the verification protocol
    takes: ..." need no hand-kept list of names. A tag a head does not
    declare counts as False for a boolean ``value`` and as None otherwise.

    Parameters
    ----------
    tag : str
        A tag name, such as "scores_pairs" or "binary_codes".
    value : object, default=True
        The value to match.

    Returns
    -------
    list of str
        Sorted registry names (built-in heads and any registered plugin).

    Examples
    --------
    >>> heads_with_tag("scores_pairs")  # doctest: +SKIP
    ['cosine_verifier', 'euclidean_verifier', 'hamming_verifier', 'joint_bayesian', 'pair_svm']
    """
    # imported here: transfer.registry imports this package to register the heads
    from transfer.registry import HEADS, load_components

    load_components()
    absent = False if isinstance(value, bool) else None
    return [
        name
        for name in HEADS.names()
        if component_tags(HEADS.create(name)).get(tag, absent) == value
    ]
