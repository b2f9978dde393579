"""Evaluation protocols: classification and closed-set identification."""

from transfer.protocols.base import Fold, FoldResult, Protocol
from transfer.protocols.classification import ClassificationProtocol
from transfer.protocols.identification import IdentificationProtocol, cmc_curve

__all__ = [
    "ClassificationProtocol",
    "Fold",
    "FoldResult",
    "IdentificationProtocol",
    "Protocol",
    "cmc_curve",
]
