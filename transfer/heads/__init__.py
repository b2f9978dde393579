"""Heads fitted on features: classifiers (and, later, verifiers)."""

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

__all__ = [
    "BaseHead",
    "FisherfacesHead",
    "KNNHead",
    "LDAHead",
    "LinearSVMHead",
    "LogisticHead",
    "RBFSVMHead",
    "pairwise_distances",
]
