"""Heads fitted on features: classifiers, and verifiers that score pairs."""

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
from transfer.heads.verification import (
    CosineVerifier,
    EuclideanVerifier,
    HammingVerifier,
    JointBayesian,
    PairSVM,
    PairVerifier,
)

__all__ = [
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
    "pairwise_distances",
]
