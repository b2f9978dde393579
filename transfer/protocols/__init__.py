"""Evaluation protocols: classification, closed-set identification (random splits or
leave-one-out), pair verification, attributes (multi-label)."""

from transfer.protocols.attributes import AttributesProtocol, iterative_stratification
from transfer.protocols.base import Fold, FoldResult, Protocol
from transfer.protocols.classification import ClassificationProtocol
from transfer.protocols.identification import IdentificationProtocol, cmc_curve
from transfer.protocols.loo import LeaveOneOutIdentification
from transfer.protocols.pairs import PairList, read_pairs
from transfer.protocols.verification import PairFold, VerificationProtocol
from transfer.protocols.verification_metrics import VerificationMetrics, verification_metrics

__all__ = [
    "AttributesProtocol",
    "ClassificationProtocol",
    "Fold",
    "FoldResult",
    "IdentificationProtocol",
    "LeaveOneOutIdentification",
    "PairFold",
    "PairList",
    "Protocol",
    "VerificationMetrics",
    "VerificationProtocol",
    "cmc_curve",
    "iterative_stratification",
    "read_pairs",
    "verification_metrics",
]
