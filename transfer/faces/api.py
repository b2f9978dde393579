"""One call for a face, a pair, a folder: represent, verify, find, calibrate.

Each embedding is exactly what the ``lfw-verification`` recipe's extractor
gives for that model (the recipe's alignment, then the network):

``facenet``
    MTCNN's face box grown by 32 pixels and resized to 160 x 160, the crop
    the network was trained and evaluated on (``Align(crop="box",
    box_margin=32)``: 0.988 on LFW View 1 test pairs against 0.983 for the
    landmarks warped onto the template), then
    :class:`transfer.features.identity.FaceNetFeatures` (per-image
    standardisation, L2-normalised 128-d embedding).
``dlib``
    dlib's HOG detector and 5-point predictor, dlib's own aligned chip
    (150 px, padding 0.25), then its ResNet, as
    :class:`transfer.features.identity.DlibResNetFeatures` (128-d, not
    normalised: dlib compares Euclidean distances).

The networks load on the first call, once per process (a module-level cache
keyed by model), never at import.

Which face: ``"central"`` (closest to the image centre: the recipe's rule
and the default), ``"largest"``, or ``"all"`` (:func:`represent` only, one
embedding per face). An image without a face is embedded as the recipe does
(FaceNet: its centre crop; dlib: the whole image) (``fallback="warn"``, with a
:class:`transfer.align.NoFaceWarning` naming the file), silently
(``"center"``), or refused with a ValueError naming the file (``"error"``).
Images larger than ``max_side`` (1,024 px) are detected downscaled; the
crops are cut from the original pixels.

Thresholds: :func:`verify` without a threshold uses the shipped one for the
(model, metric) (``thresholds.json`` beside this module: chosen on LFW
View 1's 2,200 training pairs, measured on its 1,000 test pairs; see
:func:`load_thresholds`). :func:`calibrate` fits one on your own labelled
pairs, the better choice for photos unlike LFW's.

References
----------
.. [1] F. Schroff, D. Kalenichenko, J. Philbin, "FaceNet: A Unified Embedding
   for Face Recognition and Clustering", CVPR 2015.
.. [2] D. E. King, "Dlib-ml: A Machine Learning Toolkit", JMLR 10, 2009.
.. [3] G. B. Huang, M. Ramesh, T. Berg, E. Learned-Miller, "Labeled Faces in
   the Wild: A Database for Studying Face Recognition in Unconstrained
   Environments", UMass Amherst TR 07-49, 2007.
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FACE_CHOICES",
    "FALLBACKS",
    "METRICS",
    "MODELS",
    "FaceEmbedding",
    "Match",
    "VerifyResult",
    "calibrate",
    "embed_images",
    "find",
    "load_thresholds",
    "pair_scores",
    "represent",
    "shipped_threshold",
    "verify",
]

MODELS = ("facenet", "dlib")
METRICS = ("cosine", "euclidean")
FACE_CHOICES = ("central", "largest", "all")
FALLBACKS = ("warn", "center", "error")

#: The recipe's alignment for FaceNet (``recipes/lfw-verification.yaml``): the
#: MTCNN box plus FACENET_BOX_MARGIN pixels; FACENET_MARGIN is the fallback
#: centre crop's (Align's default margin).
FACENET_SIZE, FACENET_BOX_MARGIN, FACENET_MARGIN = 160, 32.0, 0.2
THRESHOLDS_FILE = Path(__file__).with_name("thresholds.json")

_LOCK = threading.Lock()
_NETWORKS: dict[str, Any] = {}


@dataclass(frozen=True)
class FaceEmbedding:
    """One face's embedding and where it was found.

    Attributes
    ----------
    embedding : ndarray of shape (128,), float32
    box : tuple of 4 floats or None
        (left, top, right, bottom) in the original image's pixels; None when
        no face was found (the embedding is then the recipe's fallback: the
        centre crop's for FaceNet, the whole image's for dlib) or ``align=False``.
    landmarks : ndarray of shape (5, 2) or None
        (x, y) of left eye, right eye, nose, mouth corners (dlib: nose
        bottom, no mouth: NaN rows); None with ``box``.
    source : str or None
        The file, or None for an array.
    model : str
    n_faces : int
        Faces the detector found in the image (0: fallback).
    """

    embedding: np.ndarray
    box: tuple[float, float, float, float] | None
    landmarks: np.ndarray | None
    source: str | None
    model: str
    n_faces: int = 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the embedding as a list, boxes and landmarks rounded to 0.01 px."""
        return {
            "source": self.source,
            "model": self.model,
            "box": None if self.box is None else [round(float(v), 2) for v in self.box],
            "landmarks": None
            if self.landmarks is None
            else [
                [None if not np.isfinite(v) else round(float(v), 2) for v in p]
                for p in self.landmarks
            ],
            "n_faces": self.n_faces,
            "embedding": [float(v) for v in self.embedding],
        }


def _points(landmarks: np.ndarray) -> list[list[float | None]]:
    return [[round(float(v), 2) if np.isfinite(v) else None for v in p] for p in landmarks]


@dataclass(frozen=True)
class VerifyResult:
    """The answer of :func:`verify`.

    Attributes
    ----------
    same : bool
        Whether the two faces are judged the same person.
    score : float
        Cosine similarity (higher: more alike) or Euclidean distance (lower:
        more alike), per ``metric``.
    metric : {"cosine", "euclidean"}
    threshold : float
        ``same`` is ``score >= threshold`` (cosine) or ``score <= threshold``
        (euclidean).
    threshold_source : str
        Where the threshold came from.
    model : str
    box_a, box_b : tuple or None
        The faces compared (None: no face found, centre crop used).
    """

    same: bool
    score: float
    metric: str
    threshold: float
    threshold_source: str
    model: str
    box_a: tuple | None
    box_b: tuple | None

    @property
    def similarity(self) -> float | None:
        """The cosine similarity (None for the euclidean metric)."""
        return self.score if self.metric == "cosine" else None

    @property
    def distance(self) -> float | None:
        """The Euclidean distance (None for the cosine metric)."""
        return self.score if self.metric == "euclidean" else None

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for k in ("box_a", "box_b"):
            out[k] = None if out[k] is None else [round(float(v), 2) for v in out[k]]
        return out


@dataclass(frozen=True)
class Match:
    """One result of :func:`find`: an indexed file, its best face and the score.

    Attributes
    ----------
    path : str
    score : float
        Cosine similarity or Euclidean distance to the query (per ``metric``).
    same : bool
        Whether ``score`` passes the threshold.
    box : tuple or None
        The matching face in ``path``.
    metric : str
    """

    path: str
    score: float
    same: bool
    box: tuple | None
    metric: str = "cosine"

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["box"] = None if self.box is None else [round(float(v), 2) for v in self.box]
        return out


# -- checks --------------------------------------------------------------------


def _choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {tuple(allowed)}, got {value!r}")
    return value


def _check_max_side(max_side: Any) -> int | None:
    if max_side is None:
        return None
    if isinstance(max_side, bool) or not isinstance(max_side, int | np.integer) or max_side < 32:
        raise ValueError(f"max_side must be None or an int >= 32, got {max_side!r}")
    return int(max_side)


def _read(item: Any) -> tuple[np.ndarray, str | None]:
    """An image array and its name (the path, or None) from a path or an array."""
    if isinstance(item, str | os.PathLike):
        from transfer.data.decode import read_image

        path = os.fspath(item)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no such image file: {path!r}")
        if os.path.isdir(path):
            raise ValueError(f"{path!r} is a folder, not an image file")
        return read_image(path), path
    arr = np.asarray(item)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (1, 3, 4)):
        raise ValueError(
            f"expected one image (h, w) or (h, w, 3) or a path, got an array of shape {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"expected a numeric image array, got dtype {arr.dtype}")
    return arr, None


# -- networks -----------------------------------------------------------------


#: FaceNet runs compiled for a fixed batch (the last one padded): a pair is
#: embedded by a batch-of-2 network, not padded to 32 (16x the work per
#: verify); larger sets by a batch-of-16 one.
_FACENET_BATCHES = (2, 16)


def _facenet(n_images: int, flip: bool = False) -> Any:
    """A fitted FaceNet extractor for ``n_images`` crops, built once per process,
    batch size and ``flip`` (the recipe's ``facenet_flip``: mirror-averaged)."""
    batch = next((b for b in _FACENET_BATCHES if n_images <= b), _FACENET_BATCHES[-1])
    key = f"facenet-{batch}-{'flip' if flip else 'plain'}"
    with _LOCK:
        if key not in _NETWORKS:
            from transfer.features.identity import FaceNetFeatures

            probe = np.zeros((1, FACENET_SIZE, FACENET_SIZE, 3), np.float32)
            _NETWORKS[key] = FaceNetFeatures(batch_size=batch, flip=flip).fit(probe)
        return _NETWORKS[key]


def _dlib_net() -> Any:
    with _LOCK:
        if "dlib" not in _NETWORKS:
            from transfer.features.identity.dlib_resnet import _network

            _NETWORKS["dlib"] = _network()
        return _NETWORKS["dlib"]


def _warn_no_face(names: list[str], fallback: str, method: str) -> None:
    from transfer.align import NoFaceWarning

    if not names:
        return
    if fallback == "error":
        raise ValueError(
            f"no face found by {method!r} in {names[0]}; use fallback='warn' or 'center' to "
            "embed the centre crop instead"
        )
    if fallback == "warn":
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        warnings.warn(
            f"no face found by {method!r} in {len(names)} image(s): {shown}; used the "
            f"{'whole image' if method == 'dlib' else 'centre crop'} as the recipe does "
            "(fallback='center' silences this, 'error' raises)",
            NoFaceWarning,
            stacklevel=4,
        )


def _facenet_embed(
    images: list[np.ndarray],
    names: list[str],
    sources: list[str | None],
    face: str,
    align: bool,
    flip: bool,
    max_side: int | None,
    fallback: str,
) -> list[list[FaceEmbedding]]:
    from transfer.align import get_detector, select_face
    from transfer.align.transform import _center_crop, box_crop

    crops: list[np.ndarray] = []
    owners: list[tuple[int, Any, int]] = []  # (image index, detection or None, n faces)
    missing: list[str] = []
    if align:
        found = get_detector("mtcnn").detect_all_batch(images, max_side)
        for i, (image, faces) in enumerate(zip(images, found, strict=True)):
            chosen = faces if face == "all" else [select_face(faces, image.shape, face)]
            chosen = [d for d in chosen if d is not None]
            if not chosen:
                missing.append(names[i])
                crops.append(_center_crop(image, FACENET_SIZE, FACENET_MARGIN))
                owners.append((i, None, 0))
                continue
            for d in chosen:
                crops.append(box_crop(image, d.box, FACENET_SIZE, FACENET_BOX_MARGIN))
                owners.append((i, d, len(faces)))
        _warn_no_face(missing, fallback, "mtcnn")
    else:
        from transfer.align.detectors import as_rgb_uint8
        from transfer.data.transforms import _resize

        for i, image in enumerate(images):
            rgb = as_rgb_uint8(image).astype(np.float32)
            crops.append(_resize(rgb, (FACENET_SIZE, FACENET_SIZE)))
            owners.append((i, None, 1))
    out: list[list[FaceEmbedding]] = [[] for _ in images]
    if not crops:
        return out
    batch = np.stack(crops).astype(np.float32)
    E = _facenet(len(crops), flip).transform(batch)
    for (i, d, n), e in zip(owners, E, strict=True):
        out[i].append(
            FaceEmbedding(
                np.asarray(e, np.float32),
                None if d is None else tuple(d.box),
                None if d is None else d.landmarks,
                sources[i],
                "facenet",
                n,
            )
        )
    return out


def _dlib_embed(
    images: list[np.ndarray],
    names: list[str],
    sources: list[str | None],
    face: str,
    align: bool,
    flip: bool,
    max_side: int | None,
    fallback: str,
) -> list[list[FaceEmbedding]]:
    from transfer.align import get_detector, select_face
    from transfer.align.detectors import as_rgb_uint8, dlib_module
    from transfer.features.identity.dlib_resnet import (
        CHIP_PADDING,
        CHIP_SIZE,
        _resize_chip,
        mtcnn_shapes,
    )

    dlib = dlib_module()
    net = _dlib_net()
    detector = get_detector("dlib")
    out: list[list[FaceEmbedding]] = []
    missing: list[str] = []

    def describe(chip: np.ndarray) -> np.ndarray:
        with _LOCK:  # dlib's network is not reentrant
            e = np.asarray(net.compute_face_descriptor(chip, 0), np.float32)
            if flip:
                mirror = np.ascontiguousarray(chip[:, ::-1])
                e = (e + np.asarray(net.compute_face_descriptor(mirror, 0), np.float32)) / 2
        return e

    for i, image in enumerate(images):
        if not align:
            out.append(
                [
                    FaceEmbedding(
                        describe(_resize_chip(as_rgb_uint8(image))),
                        None,
                        None,
                        sources[i],
                        "dlib",
                        1,
                    )
                ]
            )
            continue
        rgb, found = detector.detect_shapes(image, max_side)
        if not found:  # as DlibResNetFeatures: the predictor on MTCNN's boxes
            found = mtcnn_shapes(rgb, max_side)
        if face == "all":
            chosen = found
        else:
            pick = select_face([d for d, _ in found], rgb.shape, face)
            chosen = [(d, s) for d, s in found if d is pick]
        if not chosen:
            missing.append(names[i])
            # as DlibResNetFeatures: without a face from either, the whole image resized
            out.append(
                [FaceEmbedding(describe(_resize_chip(rgb)), None, None, sources[i], "dlib", 0)]
            )
            continue
        row = []
        for d, shape in chosen:
            chip = dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
            chip = np.ascontiguousarray(chip, dtype=np.uint8)
            row.append(
                FaceEmbedding(
                    describe(chip), tuple(d.box), d.landmarks, sources[i], "dlib", len(found)
                )
            )
        out.append(row)
    _warn_no_face(missing, fallback, "dlib")
    return out


def embed_images(
    items: Iterable[Any],
    model: str = "facenet",
    *,
    face: str = "central",
    align: bool = True,
    flip: bool = False,
    max_side: int | None = 1024,
    fallback: str = "warn",
) -> list[list[FaceEmbedding]]:
    """:func:`represent` for several images at once (one detector call for the batch).

    Returns
    -------
    list of list of FaceEmbedding
        Per image, its faces (one unless ``face="all"``).
    """
    _choice("model", model, MODELS)
    _choice("face", face, FACE_CHOICES)
    _choice("fallback", fallback, FALLBACKS)
    max_side = _check_max_side(max_side)
    images, sources = [], []
    for item in items:
        image, source = _read(item)
        images.append(image)
        sources.append(source)
    if not images:
        return []
    names = [s if s is not None else f"image {i}" for i, s in enumerate(sources)]
    if len(images) == 1 and sources[0] is None:
        names = [f"an image of shape {images[0].shape}"]
    embed = _facenet_embed if model == "facenet" else _dlib_embed
    return embed(images, names, sources, face, bool(align), bool(flip), max_side, fallback)


def represent(
    image_or_path: Any,
    model: str = "facenet",
    *,
    face: str = "central",
    align: bool = True,
    flip: bool = False,
    max_side: int | None = 1024,
    fallback: str = "warn",
) -> list[FaceEmbedding]:
    """The identity embedding of the face (or faces) in one image.

    Parameters
    ----------
    image_or_path : str, path-like or ndarray of shape (h, w) or (h, w, 3)
        An image file, or an image with values in [0, 255].
    model : {"facenet", "dlib"}, default="facenet"
    face : {"central", "largest", "all"}, default="central"
        Which face when there are several: the one closest to the image
        centre, the one with the largest box, or every face.
    align : bool, default=True
        Detect and align as the recipe does; False: the image is already a
        face crop (resized to the network's input).
    flip : bool, default=False
        Average the embeddings of the face and its mirror image (then
        L2-normalised for FaceNet: the recipe's ``facenet_flip``, 0.991 on
        LFW View 1 test pairs against 0.988). The shipped thresholds were
        chosen without it.
    max_side : int or None, default=1024
        Detect on the image downscaled to this longer side.
    fallback : {"warn", "center", "error"}, default="warn"
        Without a face: the recipe's fallback embedding (FaceNet: the centre
        crop; dlib: the whole image) with a warning naming the file, or
        silently; or a ValueError naming the file.

    Returns
    -------
    list of FaceEmbedding
        One per face (one unless ``face="all"``), ``box`` None for a fallback.

    Raises
    ------
    FileNotFoundError
        Naming a path that does not exist.
    transfer.data.ImageReadError
        Naming a file that is not a readable image.

    Examples
    --------
    >>> from transfer.faces import represent
    >>> faces = represent("photo.jpg", face="all")  # doctest: +SKIP
    >>> faces[0].embedding.shape, faces[0].box  # doctest: +SKIP
    ((128,), (70.2, 61.5, 178.9, 196.0))
    """
    return embed_images(
        [image_or_path],
        model,
        face=face,
        align=align,
        flip=flip,
        max_side=max_side,
        fallback=fallback,
    )[0]


# -- scores and thresholds ---------------------------------------------------


def pair_scores(a: np.ndarray, b: np.ndarray, metric: str = "cosine") -> np.ndarray:
    """Row-wise cosine similarity or Euclidean distance of two embedding arrays.

    Parameters
    ----------
    a, b : ndarray of shape (n_pairs, n_features)
    metric : {"cosine", "euclidean"}

    Returns
    -------
    ndarray of shape (n_pairs,), float64
    """
    _choice("metric", metric, METRICS)
    a = np.atleast_2d(np.asarray(a, np.float64))
    b = np.atleast_2d(np.asarray(b, np.float64))
    if metric == "euclidean":
        return np.linalg.norm(a - b, axis=1)
    na = np.maximum(np.linalg.norm(a, axis=1), 1e-12)
    nb = np.maximum(np.linalg.norm(b, axis=1), 1e-12)
    return np.einsum("ij,ij->i", a, b) / (na * nb)


def _is_same(score: np.ndarray | float, threshold: float, metric: str) -> np.ndarray | bool:
    return score >= threshold if metric == "cosine" else score <= threshold


def check_threshold(threshold: Any, metric: str, where: str = "threshold") -> float:
    """``threshold`` as a float, refused when it cannot belong to ``metric``.

    A cosine similarity lies in [-1, 1] and a Euclidean distance is >= 0: a
    value outside is a threshold meant for the other metric (dlib's 0.6 is a
    distance, FaceNet's ~0.4 a similarity: both lie in both ranges and pass).
    """
    _choice("metric", metric, METRICS)
    if isinstance(threshold, dict):  # a calibrate() report
        if threshold.get("metric") != metric:
            raise ValueError(
                f"{where} was calibrated for metric {threshold.get('metric')!r}, not {metric!r}; "
                f"pass metric={threshold.get('metric')!r} or calibrate for {metric!r}"
            )
        threshold = threshold["threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, int | float | np.number):
        raise ValueError(f"{where} must be a number, got {threshold!r}")
    value = float(threshold)
    if not np.isfinite(value):
        raise ValueError(f"{where} must be finite, got {threshold!r}")
    if metric == "cosine" and not -1.0 <= value <= 1.0:
        raise ValueError(
            f"{where} {value:g} is outside the cosine similarity's range [-1, 1]: is it a "
            "euclidean distance threshold? pass metric='euclidean'"
        )
    if metric == "euclidean" and value < 0:
        raise ValueError(
            f"{where} {value:g} is negative, which a euclidean distance never is: is it a cosine "
            "similarity threshold? pass metric='cosine'"
        )
    return value


def load_thresholds(path: str | os.PathLike | None = None) -> dict[str, dict[str, dict]]:
    """The shipped thresholds: ``{model: {metric: entry}}``, checked.

    Each entry holds ``threshold`` and how it was chosen (``chosen_on``,
    ``rule``) with its measured ``train`` and ``test`` accuracy, FAR
    (false accept rate) and TAR (true accept rate).

    Parameters
    ----------
    path : path, optional
        Default: ``thresholds.json`` beside this module.

    Raises
    ------
    ValueError
        Naming the file and the key of an entry that is malformed, or whose
        threshold cannot belong to its metric.
    """
    path = Path(path) if path is not None else THRESHOLDS_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read the thresholds file {path}: {exc}") from None
    models = data.get("thresholds")
    if not isinstance(models, dict):
        raise ValueError(f"{path}: missing the 'thresholds' mapping")
    for model, metrics in models.items():
        if model not in MODELS:
            raise ValueError(f"{path}: thresholds.{model}: unknown model; known: {MODELS}")
        for metric, entry in metrics.items():
            key = f"{path}: thresholds.{model}.{metric}"
            if metric not in METRICS:
                raise ValueError(f"{key}: unknown metric; known: {METRICS}")
            for k in ("threshold", "chosen_on", "rule", "train", "test"):
                if k not in entry:
                    raise ValueError(f"{key}: missing {k!r}")
            check_threshold(entry["threshold"], metric, where=f"{key}.threshold")
            for part in ("train", "test"):
                for k in ("accuracy", "far", "tar", "n_pairs"):
                    if k not in entry[part]:
                        raise ValueError(f"{key}.{part}: missing {k!r}")
    return models


def shipped_threshold(model: str, metric: str) -> tuple[float, str]:
    """The shipped threshold for (``model``, ``metric``) and a line saying where it came from."""
    _choice("model", model, MODELS)
    _choice("metric", metric, METRICS)
    entries = load_thresholds()
    if metric not in entries.get(model, {}):
        have = sorted(entries.get(model, {}))
        raise ValueError(
            f"no shipped threshold for model {model!r} with metric {metric!r} (shipped: "
            f"{', '.join(have) or 'none'}); pass threshold= or fit one with calibrate()"
        )
    e = entries[model][metric]
    source = (
        f"shipped: {e['chosen_on']} ({e['rule']}); on {e['test']['n_pairs']} LFW View 1 test "
        f"pairs: accuracy {e['test']['accuracy']:.3f}, FAR {e['test']['far']:.3f}, "
        f"TAR {e['test']['tar']:.3f}"
    )
    return float(e["threshold"]), source


def _resolve_threshold(model: str, metric: str, threshold: Any) -> tuple[float, str]:
    if threshold is None:
        return shipped_threshold(model, metric)
    source = "calibrate()" if isinstance(threshold, dict) else "given"
    return check_threshold(threshold, metric), source


def verify(
    a: Any,
    b: Any,
    model: str = "facenet",
    *,
    metric: str = "cosine",
    threshold: Any = None,
    face: str = "central",
    align: bool = True,
    flip: bool = False,
    max_side: int | None = 1024,
    fallback: str = "warn",
) -> VerifyResult:
    """Whether two images show the same person.

    Parameters
    ----------
    a, b : str, path-like or ndarray
        Image files or images (values in [0, 255]).
    model : {"facenet", "dlib"}, default="facenet"
    metric : {"cosine", "euclidean"}, default="cosine"
    threshold : float or dict, optional
        ``same`` when the cosine similarity is >= it (or the distance <=
        it); a :func:`calibrate` report works too. Default: the shipped
        threshold for (model, metric) (:func:`load_thresholds`).
    face : {"central", "largest"}, default="central"
    align, flip, max_side, fallback
        As for :func:`represent`.

    Returns
    -------
    VerifyResult

    Raises
    ------
    ValueError
        For a threshold that cannot belong to ``metric`` (a similarity
        outside [-1, 1], a negative distance), or no face under
        ``fallback="error"`` (naming the file).

    Examples
    --------
    >>> from transfer.faces import verify
    >>> r = verify("a.jpg", "b.jpg")  # doctest: +SKIP
    >>> r.same, round(r.score, 3), r.threshold_source  # doctest: +SKIP
    (True, 0.712, 'shipped: LFW View 1 training pairs ...')
    """
    _choice("face", face, ("central", "largest"))
    value, source = _resolve_threshold(model, metric, threshold)
    ea, eb = (
        faces[0]
        for faces in embed_images(
            [a, b], model, face=face, align=align, flip=flip, max_side=max_side, fallback=fallback
        )
    )
    score = float(pair_scores(ea.embedding, eb.embedding, metric)[0])
    return VerifyResult(
        bool(_is_same(score, value, metric)), score, metric, value, source, model, ea.box, eb.box
    )


def find(
    image: Any,
    folder_or_index: Any,
    model: str = "facenet",
    *,
    top_k: int = 5,
    metric: str = "cosine",
    threshold: Any = None,
    index_path: str | os.PathLike | None = None,
) -> list[Match]:
    """The indexed images whose faces are closest to the face in ``image``.

    Parameters
    ----------
    image : str, path-like or ndarray
        The query (its central face).
    folder_or_index : str, path-like or FaceIndex
        A folder (indexed on first use, refreshed when its files change:
        see :class:`transfer.faces.index.FaceIndex`) or an index.
    model : {"facenet", "dlib"}, default="facenet"
        Ignored when an index is given (the index's model is used).
    top_k : int, default=5
        How many images to return (each with its best-matching face).
    metric : {"cosine", "euclidean"}, default="cosine"
    threshold : float or dict, optional
        For ``Match.same``; default the shipped one.
    index_path : path, optional
        Where a folder's index is kept (default: under the cache folder).

    Returns
    -------
    list of Match
        Best first.
    """
    from transfer.faces.index import FaceIndex

    if isinstance(top_k, bool) or not isinstance(top_k, int | np.integer) or top_k < 1:
        raise ValueError(f"top_k must be an int >= 1, got {top_k!r}")
    if isinstance(folder_or_index, FaceIndex):
        index = folder_or_index
    else:
        index = FaceIndex(folder_or_index, model=model, index_path=index_path)
    index.refresh()
    value, _ = _resolve_threshold(index.model, metric, threshold)
    query = represent(image, index.model)[0]
    return index.search(query.embedding, top_k=int(top_k), metric=metric, threshold=value)


def _rates(scores: np.ndarray, same: np.ndarray, threshold: float, metric: str) -> dict:
    said = np.asarray(_is_same(scores, threshold, metric), bool)
    n_same, n_diff = int(same.sum()), int((~same).sum())
    return {
        "n_pairs": len(same),
        "accuracy": float(np.mean(said == same)),
        "far": float((said & ~same).sum() / max(n_diff, 1)),
        "tar": float((said & same).sum() / max(n_same, 1)),
    }


def fit_threshold(scores: np.ndarray, same: np.ndarray, metric: str) -> float:
    """The accuracy-maximising threshold of ``scores`` (higher "same" for cosine).

    :func:`transfer.heads.verification.base.best_threshold`: the midpoint
    between sorted scores with the best accuracy (the median of ties).
    """
    from transfer.heads.verification.base import best_threshold

    scores = np.asarray(scores, np.float64)
    same = np.asarray(same, bool)
    if metric == "cosine":
        return float(best_threshold(scores, same))
    return -float(best_threshold(-scores, same))  # distances: lower is "same"


def calibrate(
    pairs: Sequence[tuple[Any, Any]],
    labels: Sequence[Any],
    model: str = "facenet",
    *,
    metric: str = "cosine",
    face: str = "central",
    n_folds: int = 10,
) -> tuple[float, dict[str, Any]]:
    """Fit a verification threshold on your own labelled pairs.

    The threshold maximises the accuracy on the pairs (the rule of the
    shipped thresholds); the report also gives a cross-validated accuracy
    (threshold fitted on the other folds: the honest estimate for new pairs).

    Parameters
    ----------
    pairs : sequence of (path, path)
        Image files (or arrays) of each pair.
    labels : sequence of bool or 0/1
        True when a pair shows the same person.
    model : {"facenet", "dlib"}, default="facenet"
    metric : {"cosine", "euclidean"}, default="cosine"
    face : {"central", "largest"}, default="central"
    n_folds : int, default=10
        Folds of the cross-validated accuracy (fewer with few pairs).

    Returns
    -------
    threshold : float
    report : dict
        ``threshold``, ``metric``, ``model``, ``rule``, and on the pairs:
        ``n_pairs``, ``accuracy``, ``far``, ``tar``, ``cv_accuracy``.
        Pass ``report`` as ``threshold=`` to :func:`verify` (its metric is checked).
    """
    _choice("metric", metric, METRICS)
    pairs = [tuple(p) for p in pairs]
    if any(len(p) != 2 for p in pairs):
        raise ValueError("each pair must hold two images")
    same = np.asarray([_as_bool(v, i) for i, v in enumerate(labels)], bool)
    if len(same) != len(pairs):
        raise ValueError(f"{len(pairs)} pairs but {len(same)} labels")
    if same.all() or not same.any():
        raise ValueError("calibrate needs both same and different pairs")
    keys: dict[Any, int] = {}
    items = []
    for p in pairs:
        for x in p:
            k = os.fspath(x) if isinstance(x, str | os.PathLike) else id(x)
            if k not in keys:
                keys[k] = len(items)
                items.append(x)
    faces = embed_images(items, model, face=face)
    E = np.stack([f[0].embedding for f in faces])

    def key(x: Any) -> int:
        return keys[os.fspath(x) if isinstance(x, str | os.PathLike) else id(x)]

    ia = np.array([key(a) for a, _ in pairs])
    ib = np.array([key(b) for _, b in pairs])
    scores = pair_scores(E[ia], E[ib], metric)
    threshold = fit_threshold(scores, same, metric)
    k = max(2, min(int(n_folds), int(same.sum()), int((~same).sum())))
    fold = np.random.default_rng(0).permutation(len(same)) % k
    correct = 0
    for g in range(k):
        train, test = fold != g, fold == g
        t = fit_threshold(scores[train], same[train], metric)
        correct += int(np.sum(_is_same(scores[test], t, metric) == same[test]))
    report = {
        "threshold": threshold,
        "metric": metric,
        "model": model,
        "rule": "accuracy-maximising threshold on the given pairs",
        **_rates(scores, same, threshold, metric),
        "cv_accuracy": correct / len(same),
        "cv_folds": k,
    }
    return threshold, report


def _as_bool(value: Any, i: int) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("1", "true", "same", "yes", "1.0"):
        return True
    if text in ("0", "false", "different", "no", "0.0"):
        return False
    raise ValueError(f"label {i} is {value!r}: use 1/0, true/false or same/different")
