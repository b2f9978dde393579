"""Leave-one-out identification: every image is a probe once, the rest the gallery."""

from __future__ import annotations

import numbers

import numpy as np

from transfer._registry import register_protocol
from transfer.data.imageset import ImageSet
from transfer.protocols.base import Fold, check_min_per_class
from transfer.protocols.identification import IdentificationProtocol


@register_protocol("loo_identification")
class LeaveOneOutIdentification(IdentificationProtocol):
    """Leave-one-out closed-set identification (the Yale / ORL protocol).

    Each image in turn is the probe; every other image is the gallery the
    head is fitted on. A fold is one probe, so its rank-1 is 0 or 1 and the
    mean over folds is the leave-one-out recognition rate; the mean CMC is the
    CMC over all probes.

    Parameters
    ----------
    max_probes : int, optional
        Use only the first ``max_probes`` images (in a seeded random order) as
        probes, for quick runs; the gallery is still every other image. Results
        are reported with every image as a probe.
    seed : int, default=0
        Seed of the probe order when ``max_probes`` is set.

    References
    ----------
    .. [1] Belhumeur, Hespanha, Kriegman. "Eigenfaces vs. Fisherfaces:
       recognition using class specific linear projection." IEEE TPAMI 19(7),
       1997 (leave-one-out on Yale).
    """

    name = "loo_identification"

    def __init__(self, max_probes: int | None = None, seed: int = 0) -> None:
        if max_probes is not None and (
            not isinstance(max_probes, numbers.Integral)
            or isinstance(max_probes, bool)
            or max_probes < 1
        ):
            raise ValueError(
                f"loo_identification: 'max_probes' must be an int >= 1 or null, got {max_probes!r}"
            )
        self.max_probes = None if max_probes is None else int(max_probes)
        self.seed = int(seed)

    def splits(self, data: ImageSet) -> list[Fold]:
        ids = data.identity_array()
        names = tuple(str(k) for k in range(int(ids.max()) + 1))
        if data.identities is None:
            names = data.class_names
        check_min_per_class(ids, names, 2, "leave-one-out identification")
        probes = np.arange(len(ids))
        if self.max_probes is not None and self.max_probes < len(ids):
            rng = np.random.default_rng(self.seed)
            probes = np.sort(rng.permutation(len(ids))[: self.max_probes])
        everything = np.arange(len(ids))
        return [
            Fold(k, np.delete(everything, i), np.array([i], dtype=everything.dtype))
            for k, i in enumerate(probes)
        ]

    def describe(self, data: ImageSet, folds: list[Fold]) -> str:
        n_ids = len(np.unique(data.identity_array()))
        subset = (
            "" if len(folds) == len(data) else f" ({len(folds)} probes drawn, seed {self.seed})"
        )
        return (
            f"Leave-one-out identification over {len(data)} images of {n_ids} identities"
            f"{subset}: each image is the probe once and every other image the gallery; "
            "rank-1 rate and CMC over all probes."
        )
