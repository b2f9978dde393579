"""Datasets generated on the fly: no file to read."""

from __future__ import annotations

import numpy as np

from transfer._validation import InvalidParameterError
from transfer.data._checks import no_path
from transfer.data.catalog import DatasetInfo, register_loader
from transfer.data.imageset import ImageSet

PARITY = DatasetInfo(
    name="parity",
    summary="d-bit parity: every d-bit vector as a 1 x d image (0 / 255), labelled by its parity.",
    layout="generated (no files)",
    citation=(
        "M. Minsky and S. Papert, Perceptrons, MIT Press, 1969 (parity and shallow networks); "
        "Y. Bengio, Learning Deep Architectures for AI, 2009 (the depth argument)."
    ),
    url="https://mitpress.mit.edu/9780262630221/perceptrons/",
    takes_path=False,
)


@register_loader(PARITY)
def parity(
    path: None = None, n_bits: int = 8, test_fraction: float = 0.25, seed: int = 0
) -> ImageSet:
    """Every ``n_bits``-bit vector once, as a ``(1, n_bits)`` grey image, with its parity.

    Bit ``i`` of vector ``k`` is pixel ``(0, i)``, 255 when set; the label is
    1 when an odd number of bits are set. A seeded ``test_fraction`` of the
    ``2**n_bits`` vectors is the test split (``split`` "test"), the rest
    training: the lecture's example of a function a shallow network needs
    exponentially many units for and a deep one a few per layer.

    Parameters
    ----------
    n_bits : int, default=8
        2 to 16.
    test_fraction : float, default=0.25
        In (0, 1).
    seed : int, default=0
        Seeds which vectors are test.
    """
    no_path("parity", path)
    if isinstance(n_bits, bool) or not isinstance(n_bits, int) or not 2 <= n_bits <= 16:
        raise InvalidParameterError(f"parity: 'n_bits' must be an int in [2, 16], got {n_bits!r}")
    if not isinstance(test_fraction, float | int) or not 0 < test_fraction < 1:
        raise InvalidParameterError(
            f"parity: 'test_fraction' must be in (0, 1), got {test_fraction!r}"
        )
    n = 2**n_bits
    bits = (np.arange(n)[:, None] >> np.arange(n_bits)[None, :]) & 1
    labels = (bits.sum(axis=1) % 2).astype(np.int64)
    test = np.zeros(n, dtype=bool)
    test[np.random.default_rng(seed).permutation(n)[: max(1, round(test_fraction * n))]] = True
    return ImageSet(
        name=f"parity{n_bits}",
        labels=labels,
        class_names=("even", "odd"),
        images=(bits * 255.0).astype(np.float32)[:, None, :],
        split=np.where(test, "test", "train"),
    )
