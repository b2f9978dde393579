"""TensorFlow Datasets as in-memory ImageSets, without hidden downloads.

``tensorflow_datasets`` is imported only when a dataset is loaded. Data
already prepared in the data_dir is read as is. Otherwise the loader first
checks, within seconds, that the network is reachable, and only then lets
TFDS download and prepare the dataset; offline it raises
:class:`DatasetNotAvailableError` saying how to provide the data locally,
instead of letting TFDS retry a download for minutes.
"""

from __future__ import annotations

import os
import socket
import threading
import urllib.parse

import numpy as np

from transfer._registry import UnknownNameError, did_you_mean
from transfer._validation import InvalidParameterError, as_pair
from transfer.data.catalog import DatasetInfo, register_loader
from transfer.data.imageset import ImageSet

# TFDS downloads most datasets from Google Cloud Storage; a connection to it
# (or to the HTTPS proxy, when one is set) stands for "the network is up".
NETWORK_PROBE = ("storage.googleapis.com", 443)
NETWORK_TIMEOUT_S = 3.0


class DatasetNotAvailableError(FileNotFoundError):
    """A TFDS dataset that is not prepared locally and cannot be downloaded now."""


def network_available(
    host: str | None = None, port: int | None = None, timeout: float = NETWORK_TIMEOUT_S
) -> tuple[bool, str]:
    """Whether a TCP connection to ``host:port`` opens within ``timeout`` seconds.

    Defaults to the HTTPS proxy from the environment if set, else
    :data:`NETWORK_PROBE`. The name lookup runs in a daemon thread too, so a
    hanging DNS cannot stall the caller beyond ``timeout``.

    Returns
    -------
    ok : bool
    detail : str
        ``"host:port"`` and, on failure, why.
    """
    if host is None:
        proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
        parsed = urllib.parse.urlsplit(proxy) if proxy else None
        if parsed is not None and parsed.hostname:
            host, port = parsed.hostname, parsed.port or 3128
        else:
            host, port = NETWORK_PROBE
    port = port or 443
    result: list[str] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append("")
        except OSError as exc:
            result.append(str(exc) or type(exc).__name__)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    where = f"{host}:{port}"
    if not result:
        return False, f"{where}: no answer within {timeout:g} s"
    if result[0]:
        return False, f"{where}: {result[0]}"
    return True, where


def _check_positive_int(name: str, value) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise InvalidParameterError(
        f"The {name!r} parameter of the 'tfds' loader must be an int >= 1 or None; got {value!r}."
    )


def load_tfds(
    name: str,
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    max_images: int | None = None,
    image_size: int | tuple[int, int] | None = None,
) -> ImageSet:
    """Load a TensorFlow Datasets image dataset into memory.

    Parameters
    ----------
    name : str
        The TFDS name, optionally with config and version (``"mnist"``,
        ``"cifar10:3.0.2"``).
    split : str
        A TFDS split (``"train"``, ``"test"``, ``"train[:10%]"``).
    data_dir : str or path-like, optional
        The TFDS data folder; defaults to ``TFDS_DATA_DIR`` or TFDS' own
        default (``~/tensorflow_datasets``).
    max_images : int, optional
        Keep the first images of the split only.
    image_size : int or (int, int), optional
        Resize every image to (height, width) as it is read (bilinear,
        anti-aliased, as the ``resize`` transform); needed when the images of
        a dataset differ in size.

    Returns
    -------
    ImageSet
        In memory, named ``"tfds:<name>"``, with the dataset's class names.

    Raises
    ------
    UnknownNameError
        For a dataset or split TFDS does not know, with the closest name.
    DatasetNotAvailableError
        When the dataset is not prepared in ``data_dir`` and the network is
        unreachable; the message says how to prepare it elsewhere.
    ValueError
        When the dataset has no image feature, or images of several sizes and
        no ``image_size``.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterError(
            f"The 'name' parameter of the 'tfds' loader must be a TFDS dataset name such as "
            f"'mnist'; got {name!r}."
        )
    name = name.strip()
    if not isinstance(split, str) or not split.strip():
        raise InvalidParameterError(
            f"The 'split' parameter of the 'tfds' loader must be a split name such as 'train'; "
            f"got {split!r}."
        )
    max_images = _check_positive_int("max_images", max_images)
    if image_size is not None:
        try:
            size = as_pair(image_size)
        except (TypeError, ValueError):
            size = (0, 0)
        if min(size) < 1:
            raise InvalidParameterError(
                "The 'image_size' parameter of the 'tfds' loader must be an int >= 1 or a pair "
                f"(height, width) of them; got {image_size!r}."
            )
        image_size = size
    if data_dir is None:
        data_dir = os.environ.get("TFDS_DATA_DIR") or None
    if data_dir is not None:
        data_dir = os.path.abspath(os.path.expanduser(os.fspath(data_dir)))

    try:
        from transfer._quiet import import_tensorflow

        import_tensorflow()
        import tensorflow_datasets as tfds
    except ImportError as exc:  # pragma: no cover - a dependency
        raise ImportError(
            f"loading 'tfds:{name}' needs tensorflow-datasets: pip install tensorflow-datasets"
        ) from exc

    # Check the name locally: for an unknown name TFDS would search GCS and
    # the community catalogue, which is slow offline.
    base = name.split(":")[0].split("/")[0]
    known = tfds.list_builders(with_community_datasets=False)
    if base not in known:
        raise UnknownNameError(
            f"unknown TFDS dataset {base!r}.{did_you_mean(base, known)} "
            "See https://www.tensorflow.org/datasets/catalog"
        )
    builder = tfds.builder(name, data_dir=data_dir)
    if not builder.is_prepared():
        ok, detail = network_available()
        if not ok:
            where = data_dir or "the default TFDS folder"
            raise DatasetNotAvailableError(
                f"the TFDS dataset {name!r} is not prepared in {str(builder.data_path)!r} "
                f"({where}) and the network is not reachable ({detail}). Prepare it on a "
                f"connected machine with `tfds build {base} --data_dir=DIR` (or "
                f"tensorflow_datasets.builder({name!r}, data_dir=DIR).download_and_prepare()), "
                "copy DIR to this machine, and pass it as data_dir (TFDS_DATA_DIR=DIR or "
                "--set data.params.data_dir=DIR)."
            )
        builder.download_and_prepare()

    splits = list(builder.info.splits.keys())
    for part in split.split("+"):
        part_name = part.split("[")[0].strip()
        if part_name not in splits:
            raise UnknownNameError(
                f"unknown split {part_name!r} of TFDS dataset {name!r}."
                f"{did_you_mean(part_name, splits)} Its splits: {', '.join(splits)}"
            )

    image_key, label_key = _feature_keys(tfds, builder.info, name)
    ds = builder.as_dataset(split=split, shuffle_files=False)
    if max_images is not None:
        ds = ds.take(max_images)
    images, labels = [], []
    for example in tfds.as_numpy(ds):
        img = np.asarray(example[image_key])
        if img.ndim == 3 and img.shape[-1] == 1:
            img = img[..., 0]
        if image_size is not None:
            from transfer.data.transforms import _resize

            img = _resize(img, image_size)
        images.append(img)
        labels.append(int(example[label_key]) if label_key else 0)
    if not images:
        raise ValueError(f"the split {split!r} of TFDS dataset {name!r} holds no images")
    shapes = {img.shape for img in images}
    if len(shapes) > 1:
        a, b = sorted(shapes)[:2]
        raise ValueError(
            f"the images of TFDS dataset {name!r} differ in size ({a}, {b}, ...): pass "
            "image_size=(height, width) to resize them as they are read"
        )
    if label_key:
        class_names = tuple(builder.info.features[label_key].names)
    else:
        class_names = (base,)
    return ImageSet(
        name=f"tfds:{name}",
        labels=np.asarray(labels, dtype=np.int64),
        class_names=class_names,
        images=np.stack(images),
        root=str(builder.data_dir),
    )


def _feature_keys(tfds, info, name: str) -> tuple[str, str | None]:
    """The image feature and the class-label feature (or None) of a dataset."""
    supervised = info.supervised_keys
    features = info.features
    if supervised and len(supervised) == 2 and all(isinstance(k, str) for k in supervised):
        img_key, lbl_key = supervised
        if isinstance(features[img_key], tfds.features.Image) and isinstance(
            features[lbl_key], tfds.features.ClassLabel
        ):
            return img_key, lbl_key
    image_keys = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
    label_keys = [k for k, f in features.items() if isinstance(f, tfds.features.ClassLabel)]
    if not image_keys:
        raise ValueError(f"TFDS dataset {name!r} has no image feature (it has {list(features)})")
    return image_keys[0], (label_keys[0] if label_keys else None)


INFO = DatasetInfo(
    name="tfds",
    summary="A TensorFlow Datasets dataset (tfds:NAME); the path is the TFDS data_dir.",
    layout="a TFDS data_dir holding the prepared dataset (NAME/VERSION/...)",
    url="https://www.tensorflow.org/datasets/catalog/overview",
)


@register_loader(INFO)
def tfds_dataset(
    path: str | os.PathLike | None = None,
    name: str | None = None,
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    max_images: int | None = None,
    image_size: int | tuple[int, int] | None = None,
) -> ImageSet:
    """A TensorFlow Datasets dataset (``"tfds:NAME"``); ``path`` is the TFDS data_dir.

    See :func:`load_tfds` for the parameters.
    """
    if name is None:
        raise InvalidParameterError(
            "The 'tfds' loader needs a 'name', e.g. 'mnist' (or use the spec 'tfds:mnist')."
        )
    if path is not None and data_dir is not None:
        raise InvalidParameterError(
            f"The 'tfds' loader got both a path ({path!r}) and data_dir ({data_dir!r}); give one."
        )
    return load_tfds(
        name,
        split=split,
        data_dir=path if path is not None else data_dir,
        max_images=max_images,
        image_size=image_size,
    )


# The name the design notes use; ``transfer.data`` exports ``load_tfds`` so
# that the attribute does not hide this module.
tfds = load_tfds
