"""dlib's ResNet face descriptor: 128-d identity codes (registered as "dlib_resnet").

:class:`DlibResNetFeatures` runs dlib's ``face_recognition_model_v1`` (a
29-layer ResNet, He et al. [2]_, trained by D. King with a metric loss on
about 3 million faces; weights public domain, CC0) on 150 x 150 face chips
and returns its 128-d descriptor. Two faces are the same person when their
descriptors are closer than 0.6 in Euclidean distance (dlib's threshold;
dlib reports 99.38% on LFW). The descriptors are not normalised: their norm
is of the order of 1 (1.27 to 1.59 on 136 LFW faces).

With ``align=True`` (the default) each image goes through dlib's own
alignment, the one the network was trained on: the HOG frontal face
detector (King [1]_), the 5-point shape predictor (Kazemi and Sullivan
[3]_) on the face closest to the image centre, then ``dlib.get_face_chip``
(150 px, padding 0.25). When the HOG detector finds no face (a profile, a
tilted or partly hidden face: 29 of LFW View 1's 4,992 images), MTCNN's box
of the central face is given to the same 5-point predictor and the chip cut
as usual (``fallback="mtcnn"``, the default; on View 1's test pairs this
puts 2 of the 3 errors these images caused on the right side). An image
where neither finds a face, or every one under ``fallback="image"``, is
resized whole to 150 x 150 instead; these are logged at INFO on the
``transfer.features`` logger and counted in :func:`stats`. With ``align=False`` inputs are taken as
face chips already and resized to 150 x 150 (bilinear, antialiased) when
they are not that size. Grey images are repeated to RGB. Images may differ in
size within one call (an ImageSet or a list of photos): each is chipped (or
resized) on its own, so no ``resize`` transform is needed, or wanted (it
would distort the faces before detection).

Models load on first use (never at import or in ``__init__``), once per
process, after their sha256 is checked; calls into each dlib model hold its
lock. The Keras port's weights (``dlib_resnet_v1``) are converted from dlib's
file, offline, on first use.

Speed. Of the CPU time per 250 x 250 LFW image with dlib's own calls
(about 150 ms on one core), dlib's network takes three quarters and its HOG
detector (image upsampled once) a fifth; the shape predictor, the chip and
decoding a few ms. dlib-bin's network has no BLAS, holds the GIL and gains
nothing from a list of chips. So by default (``runtime="auto"``) dlib still
cuts the chips, in a thread, while a Keras port of its network
(:mod:`.dlib_resnet_net`, converted from the same file) describes the
previous 8 chips at a time on the toolkit's engines (about 10-15 ms per chip
on 2 cores, TensorFlow, TensorFlow Lite or OpenVINO alike). Before its first
use in a process the port is checked against dlib's network on 3 chips
(measured: 3e-7 apart; at most :data:`PORT_TOLERANCE`, else dlib's network
runs, with a warning). The detector then sets the pace: on 96 LFW images,
2 shared cores, 43 ms per image against 149 ms for dlib's calls one image at
a time (3.5x; ``benchmarks/bench_faces.py``), the descriptors 4e-7 from
dlib's. ``n_jobs`` splits the chip cutting over processes (joblib), each
loading dlib's models once and keeping them for later batches (3.6x on
that shared machine). ``runtime="dlib"`` (and ``num_jitters`` above 1) runs
dlib's network as before, each image's chip cut in a thread while the
network describes the previous one, the descriptors those of one image at
a time, bit for bit.

References
----------
.. [1] D. E. King, "Dlib-ml: A Machine Learning Toolkit", Journal of Machine
   Learning Research, vol. 10, pp. 1755-1758, 2009.
.. [2] K. He, X. Zhang, S. Ren and J. Sun, "Deep Residual Learning for Image
   Recognition", CVPR 2016.
.. [3] V. Kazemi and J. Sullivan, "One Millisecond Face Alignment with an
   Ensemble of Regression Trees", CVPR 2014.
"""

from __future__ import annotations

import logging
import numbers
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import Any

import numpy as np

from transfer._registry import register_extractor
from transfer._validation import NONE, InstanceOf, Interval, Options
from transfer.align.detectors import (
    DLIB_MODEL_SHA256,
    as_rgb_uint8,
    dlib_model_path,
    dlib_module,
    get_detector,
    select_face,
)
from transfer.features.base import BaseExtractor, stable_hash
from transfer.features.network import RUNTIMES as NETWORK_RUNTIMES
from transfer.features.network import engine_of

__all__ = [
    "CHIP_PADDING",
    "CHIP_SIZE",
    "PORT_TOLERANCE",
    "PORT_WEIGHTS",
    "RUNTIMES",
    "DlibResNetFeatures",
    "face_chip",
    "mtcnn_shapes",
    "reset_stats",
    "stats",
]

logger = logging.getLogger("transfer.features")

#: dlib's face chip: side in pixels and padding (fraction of the face box).
CHIP_SIZE = 150
CHIP_PADDING = 0.25
MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
N_FEATURES = 128

_MODELS: dict[str, Any] = {}
_LOCK = threading.Lock()
_STATS = {"aligned": 0, "mtcnn": 0, "fallback": 0}
#: What may stand in when dlib's HOG detector finds no face (``fallback``).
FALLBACKS = ("mtcnn", "image")
#: Values of ``runtime``: "dlib" is dlib's own network; the others run its Keras port
#: (:mod:`.dlib_resnet_net`) on an engine of :func:`transfer.features.network.build_forward`.
RUNTIMES = ("auto", "dlib", *NETWORK_RUNTIMES[1:])
#: The prepared weights of the Keras port (:data:`transfer.weights.IDENTITY_WEIGHTS`).
PORT_WEIGHTS = "dlib_resnet_v1"
#: Largest difference allowed between the port's descriptors and dlib's own.
PORT_TOLERANCE = 1e-4
#: Chips per call of the port: the network describes one chunk while the next is cut.
PORT_CHUNK = 8

# runtime -> the port's feature function and its file's key (path, size, mtime), or
# ("failed", runtime) -> the error that kept it from loading; (file key, engine) -> its
# largest difference from dlib's descriptors on the check's chips. Once per process.
_PORTS: dict[tuple, Any] = {}
_VERDICTS: dict[tuple, float] = {}
_PORT_LOCK = threading.RLock()


def stats() -> dict[str, int]:
    """Process-wide counts: ``aligned`` chips (of them, ``mtcnn``: placed on MTCNN's box)
    and ``fallback`` (no face, whole image) ones."""
    with _LOCK:
        return dict(_STATS)


def reset_stats() -> None:
    """Set the :func:`stats` counts to zero."""
    with _LOCK:
        for k in _STATS:
            _STATS[k] = 0


def _network() -> Any:
    """dlib's face recognition ResNet, loaded (and sha256-checked) once per process."""
    with _LOCK:
        if "resnet" not in _MODELS:
            dlib = dlib_module()
            _MODELS["resnet"] = dlib.face_recognition_model_v1(str(dlib_model_path(MODEL_FILE)))
        return _MODELS["resnet"]


def _resize_chip(rgb: np.ndarray) -> np.ndarray:
    if rgb.shape[:2] == (CHIP_SIZE, CHIP_SIZE):
        return rgb
    from skimage.transform import resize

    out = resize(
        rgb.astype(np.float32),
        (CHIP_SIZE, CHIP_SIZE, 3),
        order=1,
        mode="reflect",
        anti_aliasing=True,
        preserve_range=True,
    )
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def mtcnn_shapes(rgb: np.ndarray, max_side: int | None = None) -> list[tuple[Any, Any]]:
    """Every face MTCNN finds, each with dlib's 5-point shape predicted inside its box.

    The second chance when dlib's HOG detector finds no face (``fallback="mtcnn"``);
    also used by :mod:`transfer.faces`. Returns ``(Detection, full_object_detection)``
    pairs, the shapes on the full-resolution ``rgb`` (uint8 RGB).
    """
    dlib = get_detector("dlib")
    return [
        (d, dlib.shape_from_box(rgb, d.box)[1])
        for d in get_detector("mtcnn").detect_all(rgb, max_side)
    ]


def _second_chance(rgb: np.ndarray) -> tuple[np.ndarray, Any] | None:
    """dlib's 5-point shape on MTCNN's central face, or None when MTCNN finds none."""
    found = mtcnn_shapes(rgb)
    face = select_face([d for d, _ in found], rgb.shape)
    return None if face is None else (rgb, next(s for d, s in found if d is face))


def face_chip(
    image: np.ndarray, align: bool = True, fallback: str = "mtcnn"
) -> tuple[np.ndarray, str]:
    """The 150 x 150 uint8 RGB chip dlib's network takes, and where its face came from.

    Parameters
    ----------
    image : ndarray of shape (h, w) or (h, w, 3)
        Values in [0, 255].
    align : bool, default=True
        Detect and align with dlib (``get_face_chip``); otherwise (or without
        a face) resize the whole image.
    fallback : {"mtcnn", "image"}, default="mtcnn"
        When dlib's HOG detector finds no face: place the 5-point predictor
        on MTCNN's box of the central face ("mtcnn"), or resize the whole
        image ("image", also what happens when MTCNN finds none either).

    Returns
    -------
    chip : ndarray of shape (150, 150, 3), uint8
    source : {"dlib", "mtcnn", "image", "chip"}
        The detector that found the face; "image" when none did (the chip is
        the whole image); "chip" when ``align`` is False.
    """
    if fallback not in FALLBACKS:
        raise ValueError(f"'fallback' must be one of {FALLBACKS}, got {fallback!r}")
    rgb = as_rgb_uint8(image)
    if not align:
        return _resize_chip(rgb), "chip"
    found, source = get_detector("dlib").detect_shape(rgb), "dlib"
    if found is None and fallback == "mtcnn":
        found, source = _second_chance(rgb), "mtcnn"
    if found is None:
        return _resize_chip(rgb), "image"
    dlib = dlib_module()
    rgb, shape = found
    chip = dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
    return np.ascontiguousarray(chip, dtype=np.uint8), source


def _describe(
    images: Sequence[np.ndarray], align: bool, num_jitters: int, fallback: str = "mtcnn"
) -> tuple[np.ndarray, dict[str, int]]:
    """dlib descriptors of uint8 RGB images, and how many had no face.

    Each image goes through :func:`face_chip` and then alone through the
    network, exactly as one image at a time; but the chips are cut in a
    thread, one image ahead of the network: dlib's HOG detector releases the
    GIL, so on a second core it runs while the network (which does not)
    describes the previous chip.

    Returns
    -------
    descriptors : ndarray of shape (n_images, 128), float32
    sources : dict of str to int
        How many chips each source gave (see :func:`face_chip`): "image"
        counts the images described whole, without a face.
    """
    net = _network()
    out = np.empty((len(images), N_FEATURES), dtype=np.float32)
    sources: dict[str, int] = {}
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dlib-chips") as pool:
        chips = pool.map(lambda image: face_chip(image, align, fallback), images)
        for i, (chip, source) in enumerate(chips):
            sources[source] = sources.get(source, 0) + 1
            with _LOCK:
                out[i] = np.asarray(net.compute_face_descriptor(chip, num_jitters))
    return out, sources


def _cut_chips(
    images: Sequence[np.ndarray], align: bool, fallback: str
) -> tuple[np.ndarray, dict[str, int]]:
    """The :func:`face_chip` of each image, and how many chips each source gave."""
    chips = np.empty((len(images), CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8)
    sources: dict[str, int] = {}
    for i, image in enumerate(images):
        chips[i], source = face_chip(image, align, fallback)
        sources[source] = sources.get(source, 0) + 1
    return chips, sources


def _run_port(forward: Any, chips: np.ndarray) -> np.ndarray:
    """The port's descriptors of uint8 chips, in chunks of :data:`PORT_CHUNK` (the last padded)."""
    from transfer._quiet import import_tensorflow

    tf = import_tensorflow()
    out = np.empty((len(chips), N_FEATURES), dtype=np.float32)
    for start in range(0, len(chips), PORT_CHUNK):
        chunk = np.asarray(chips[start : start + PORT_CHUNK], dtype=np.float32)
        n = len(chunk)
        if n < PORT_CHUNK:  # one batch shape: one trace, no engine re-allocation
            pad = np.zeros((PORT_CHUNK - n, *chunk.shape[1:]), dtype=np.float32)
            chunk = np.concatenate([chunk, pad])
        out[start : start + n] = np.asarray(forward(tf.constant(chunk)))[:n]
    return out


def _load_port() -> tuple[Any, tuple]:
    """The Keras port of dlib's network and what identifies its file (path, size, mtime).

    Loaded from the prepared ``.keras`` file (``safe_mode=True``), which is
    converted from dlib's file on first use
    (:func:`transfer.weights.store.ensure`: the wheel that carries dlib's
    models comes with dlib's face extras, so nothing is downloaded).
    """
    from transfer._quiet import import_tensorflow
    from transfer.weights.store import ensure

    path = ensure(PORT_WEIGHTS)  # sha256-checked
    import_tensorflow()
    import keras

    from transfer.features.identity import dlib_resnet_net  # noqa: F401  (registers PaddedAdd)

    st = path.stat()
    model = keras.saving.load_model(str(path), compile=False, safe_mode=True)
    return model, (str(path), st.st_size, st.st_mtime_ns)


def _port_forward(runtime: str) -> tuple[Any, tuple]:
    """The port's feature function on ``runtime`` (built once per process) and its file's key.

    Raises
    ------
    WeightsError, RuntimeError, ...
        When the weights cannot be prepared or the engine cannot run them;
        the error is kept, and raised again, for the rest of the process.
    """
    from transfer.weights.records import get_record

    with _PORT_LOCK:
        failed = _PORTS.get(("failed", runtime))
        if failed is not None:
            raise failed
        try:
            if runtime not in _PORTS:
                from transfer.features.identity.dlib_resnet_net import DESCRIPTOR_LAYER
                from transfer.features.network import build_forward

                model, key = _load_port()
                record = get_record(PORT_WEIGHTS)
                forward = build_forward(
                    model,
                    (DESCRIPTOR_LAYER,),
                    preprocessing=record.preprocessing,
                    input_size=record.input_size,
                    batch_size=PORT_CHUNK,
                    label=f"the model of {PORT_WEIGHTS!r}",
                    runtime=runtime,
                )
                _PORTS[runtime] = (forward, key)
        except Exception as exc:
            _PORTS[("failed", runtime)] = exc
            raise
        return _PORTS[runtime]


def _reference() -> tuple[np.ndarray, np.ndarray]:
    """The chips the port is checked on and dlib's own descriptors of them (once per process).

    dlib's chip of scikit-image's ``astronaut`` (a face photo shipped with
    the package), the same chip mirrored, and a chip of uniform noise (seed 0).
    """
    with _PORT_LOCK:
        if "reference" not in _MODELS:
            from skimage import data

            chip, _ = face_chip(data.astronaut(), True, "image")
            noise = np.random.default_rng(0).integers(0, 256, chip.shape, dtype=np.uint8)
            chips = np.stack([chip, np.ascontiguousarray(chip[:, ::-1]), noise])
            net = _network()
            with _LOCK:
                theirs = [np.asarray(net.compute_face_descriptor(c, 0)) for c in chips]
            _MODELS["reference"] = (chips, np.asarray(theirs, dtype=np.float32))
        return _MODELS["reference"]


def _port_difference(forward: Any, file_key: tuple) -> float:
    """Largest difference of the port (on its engine now) from dlib; checked once per process."""
    key = (*file_key, engine_of(forward))
    with _PORT_LOCK:
        if key not in _VERDICTS:
            chips, theirs = _reference()
            diff = float(np.max(np.abs(_run_port(forward, chips) - theirs)))
            _VERDICTS[key] = diff if np.isfinite(diff) else float("inf")
            logger.debug(
                "dlib_resnet: the Keras port on %s differs from dlib's network by %.3g on %d chips",
                engine_of(forward),
                diff,
                len(chips),
            )
        return _VERDICTS[key]


def _describe_port(
    images: Sequence[np.ndarray], align: bool, fallback: str, forward: Any, n_jobs: Any
) -> tuple[np.ndarray, dict[str, int]]:
    """Descriptors of uint8 RGB images by the Keras port, the chips cut ahead of it.

    Chips are cut in a thread (or, with ``n_jobs``, in contiguous parts by
    processes) while the port describes the previous :data:`PORT_CHUNK` of
    them: dlib's HOG detector and the engines release the GIL.
    """
    from joblib import Parallel, delayed, effective_n_jobs

    out = np.empty((len(images), N_FEATURES), dtype=np.float32)
    sources: dict[str, int] = {}
    n_parts = min(effective_n_jobs(n_jobs), -(-len(images) // PORT_CHUNK))
    if n_parts <= 1:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dlib-chips") as pool:
            starts = range(0, len(images), PORT_CHUNK)
            parts = pool.map(
                lambda a: _cut_chips(images[a : a + PORT_CHUNK], align, fallback), starts
            )
            bounds = [(a, min(a + PORT_CHUNK, len(images))) for a in starts]
            for (a, b), (chips, found) in zip(bounds, parts, strict=True):
                out[a:b] = _run_port(forward, chips)
                for k, v in found.items():
                    sources[k] = sources.get(k, 0) + v
        return out, sources
    # contiguous parts in order, described as each one comes back
    edges = np.linspace(0, len(images), n_parts + 1).round().astype(int)
    parts = Parallel(n_jobs=n_parts, return_as="generator")(
        delayed(_cut_chips)(images[a:b], align, fallback) for a, b in pairwise(edges)
    )
    for (a, b), (chips, found) in zip(pairwise(edges), parts, strict=True):
        out[a:b] = _run_port(forward, chips)
        for k, v in found.items():
            sources[k] = sources.get(k, 0) + v
    return out, sources


@register_extractor("dlib_resnet")
class DlibResNetFeatures(BaseExtractor):
    """dlib's 128-d ResNet face descriptor (compare with Euclidean distance < 0.6).

    Parameters
    ----------
    align : bool, default=True
        Find the central face with dlib's HOG detector and 5-point predictor
        and cut dlib's aligned chip (150 px, padding 0.25), as the network was
        trained; images without a face are resized whole (counted in
        :func:`stats`). False: inputs are face chips, resized to 150 x 150.
    fallback : {"mtcnn", "image"}, default="mtcnn"
        When dlib's HOG detector finds no face: "mtcnn" places the 5-point
        predictor on MTCNN's box of the central face (then the chip as
        usual); "image" describes the whole image, as dlib's own examples do.
    num_jitters : int, default=0
        dlib's test-time augmentation: above 1, the descriptor is the mean over
        that many randomly jittered copies (slower, and not deterministic).
    batch_size : int, default=32
        Images per batch; a batch is split into ``n_jobs`` contiguous parts.
    n_jobs : int, optional
        Processes cutting the chips of a batch (joblib; None means 1 unless
        in a :func:`joblib.parallel_config` context, -1 means all cores);
        with ``runtime="dlib"`` they run dlib's network as well. Each
        process loads dlib's models once (a few seconds, with the import)
        and keeps them for the next batches; the output is the same for
        every value.
    runtime : {"auto", "dlib", "tensorflow", "tflite", "openvino"}, default="auto"
        What runs the network. "dlib": dlib's own network, one chip per call
        (the descriptors of dlib's ``compute_face_descriptor``, bit for bit).
        Otherwise its Keras port (:mod:`.dlib_resnet_net`, weights
        ``dlib_resnet_v1`` converted from the same file on first use) on
        batches of chips, on the engine that "auto" chooses as for
        :class:`~transfer.features.cnn.CNNFeatures` (TensorFlow Lite or
        OpenVINO when they match TensorFlow, see
        :func:`transfer.features.network.build_forward`), or the one named.
        Once per process and engine the port is checked against dlib's own
        network on 3 chips (a face, mirrored, and noise): "auto" runs dlib's
        network instead, with a warning, when they differ by more than
        :data:`PORT_TOLERANCE` (or the port cannot be loaded); a named
        engine raises. ``num_jitters`` above 1 always runs dlib's network
        (the jittering is dlib's).
    image_shape : (int, int), optional
        Shape of flattened grey images given as rows of a 2-D array.

    Attributes
    ----------
    image_shape_ : tuple
        Shape of one input image, set by ``fit``.
    runtime_ : {"dlib", "tensorflow", "tflite", "openvino"}
        What runs the network now.

    References
    ----------
    .. [1] D. E. King, "Dlib-ml: A Machine Learning Toolkit", JMLR 10, 2009.
    .. [2] K. He, X. Zhang, S. Ren and J. Sun, "Deep Residual Learning for
       Image Recognition", CVPR 2016.
    .. [3] V. Kazemi and J. Sullivan, "One Millisecond Face Alignment with an
       Ensemble of Regression Trees", CVPR 2014.

    Examples
    --------
    >>> from transfer.features.identity import DlibResNetFeatures
    >>> E = DlibResNetFeatures().fit_transform(lfw_images)  # doctest: +SKIP
    >>> same = np.linalg.norm(E[0] - E[1]) < 0.6  # doctest: +SKIP
    """

    _parameter_constraints: dict = {
        **BaseExtractor._parameter_constraints,
        "align": [InstanceOf(bool), InstanceOf(np.bool_)],
        "num_jitters": [Interval(numbers.Integral, 0, None)],
        "fallback": [Options(FALLBACKS)],
        "batch_size": [Interval(numbers.Integral, 1, None)],
        "n_jobs": [NONE, Interval(numbers.Integral, 1, None), Interval(numbers.Integral, None, -1)],
        "runtime": [Options(RUNTIMES)],
    }

    def __init__(
        self,
        align: bool = True,
        num_jitters: int = 0,
        *,
        fallback: str = "mtcnn",
        batch_size: int = 32,
        n_jobs: int | None = None,
        image_shape: Any = None,
        runtime: str = "auto",
    ) -> None:
        self.align = align
        self.num_jitters = num_jitters
        self.fallback = fallback
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.image_shape = image_shape
        self.runtime = runtime

    def __transfer_tags__(self) -> dict[str, Any]:
        tags = super().__transfer_tags__()
        tags["kind"] = "learned"
        # RGB in; each image is described alone from its own face chip, so a
        # batch of photos of different sizes comes as a list, never resized whole
        tags["colour_input"] = True
        tags["mixed_sizes"] = "list"
        return tags

    def _port(self) -> Any:
        """The checked Keras port's feature function, or None where dlib's network runs.

        Raises
        ------
        RuntimeError
            With a named engine, when the port cannot run on it or differs
            from dlib's network by more than :data:`PORT_TOLERANCE`.
        """
        if self.runtime == "dlib" or int(self.num_jitters) > 1:
            return None
        try:
            forward, file_key = _port_forward(self.runtime)
        except Exception as exc:
            if self.runtime != "auto":
                raise
            with _PORT_LOCK:
                if not _VERDICTS.get(("unavailable",)):
                    _VERDICTS[("unavailable",)] = 1.0
                    logger.warning(
                        "dlib_resnet: the Keras port of dlib's network cannot be used (%s: %s); "
                        "running dlib's network",
                        type(exc).__name__,
                        exc,
                    )
            return None
        diff = _port_difference(forward, file_key)
        if diff <= PORT_TOLERANCE:
            return forward
        why = (
            f"the Keras port of dlib's network on {engine_of(forward)} differs from dlib's own "
            f"descriptors by {diff:.3g} (more than {PORT_TOLERANCE:g}) on the check's chips"
        )
        if self.runtime != "auto":
            raise RuntimeError(f"DlibResNetFeatures: runtime={self.runtime!r}: {why}")
        with _PORT_LOCK:
            if not _VERDICTS.get(("warned", *file_key, engine_of(forward))):
                _VERDICTS[("warned", *file_key, engine_of(forward))] = 1.0
                logger.warning("dlib_resnet: %s; running dlib's network", why)
        return None

    @property
    def runtime_(self) -> str:
        """What runs the network now: "dlib", or the engine of the Keras port."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "image_shape_")
        forward = self._port()
        return "dlib" if forward is None else engine_of(forward)

    def _fit(self, X: Any, y: Any) -> None:
        # dlib's network: the port is checked against it, and stands in when it fails
        _network()
        self._port()

    def transform(self, X: Any) -> np.ndarray:
        """Describe the central face of each image.

        Parameters
        ----------
        X : ndarray of shape (n_samples, height, width[, channels]), ImageSet, or list
            Photos (or, with ``align=False``, face chips) with values in [0, 255].

        Returns
        -------
        features : ndarray of shape (n_samples, 128), float32
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "image_shape_")
        X = self._input(X)
        forward = self._port()
        if forward is not None and hasattr(forward, "prepare"):
            # "auto": converts to a faster engine when this many images pay for it
            forward.prepare(len(X))
        return super().transform(X)

    def _transform_batch(self, images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        # a list when the batch holds images of several sizes (the mixed_sizes tag)
        from joblib import Parallel, delayed, effective_n_jobs

        rgbs = [as_rgb_uint8(image) for image in images]  # uint8: 4x less to send to workers
        align, num_jitters = bool(self.align), int(self.num_jitters)
        args = (align, num_jitters, self.fallback)
        n_parts = min(effective_n_jobs(self.n_jobs), len(rgbs))
        forward = self._port()
        if forward is not None:
            parts = [_describe_port(rgbs, align, self.fallback, forward, self.n_jobs)]
        elif n_parts <= 1:
            parts = [_describe(rgbs, *args)]
        else:
            # contiguous parts in order, so the rows come back in input order
            bounds = np.linspace(0, len(rgbs), n_parts + 1).round().astype(int)
            parts = Parallel(n_jobs=n_parts)(
                delayed(_describe)(rgbs[a:b], *args) for a, b in pairwise(bounds)
            )
        vectors = np.concatenate([part[0] for part in parts])
        n_fallback = sum(part[1].get("image", 0) for part in parts)
        if align:
            with _LOCK:
                _STATS["aligned"] += len(rgbs) - n_fallback
                _STATS["mtcnn"] += sum(part[1].get("mtcnn", 0) for part in parts)
                _STATS["fallback"] += n_fallback
            if n_fallback:
                logger.info(
                    "dlib_resnet: no face found in %d of %d images; used the whole image",
                    n_fallback,
                    len(rgbs),
                )
        return vectors

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names ``dlib_resnet0`` .. ``dlib_resnet127`` of the descriptor's dimensions."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "image_shape_")
        return np.asarray([f"dlib_resnet{i}" for i in range(N_FEATURES)], dtype=object)

    def cache_key(self) -> str:
        """Covers the class, parameters, the model files' sha256 and the chip geometry.

        Not ``n_jobs`` (where the work runs) nor ``runtime``: the port's
        descriptors are dlib's to :data:`PORT_TOLERANCE` (else dlib's network
        runs), so, as the engines of :class:`~transfer.features.cnn.CNNFeatures`,
        the runtimes share cache entries (and the keys of features cached
        before the parameter existed).
        """
        return stable_hash(
            {
                "class": f"{type(self).__module__}.{type(self).__qualname__}",
                "version": self._cache_version,
                "params": {
                    k: v
                    for k, v in self.get_params(deep=False).items()
                    if k not in ("n_jobs", "runtime")
                },
                "weights": dict(DLIB_MODEL_SHA256),
                "chip": {"size": CHIP_SIZE, "padding": CHIP_PADDING, "upsample": 1},
            }
        )
