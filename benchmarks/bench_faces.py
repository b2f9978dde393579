"""Face pipeline: batched alignment and descriptors against one image at a time.

``align_facenet_vs_per_image``
    Baseline: each LFW image decoded, aligned by MTCNN (``Align.__call__``,
    one detector call per image) and embedded by FaceNet alone on TensorFlow
    (the pipeline before batching and engines). Ours: the images decoded and
    aligned a batch at a time (``Align.apply_batch``: one detector call per
    batch), FaceNet on the batch with the extractor's default runtime
    ("auto": its engine chosen, untimed, as the first transform of a recipe's
    images chooses it).
``dlib_vs_per_image``
    Baseline: each image decoded, aligned by dlib (HOG detector, 5-point
    predictor, ``get_face_chip``) and described by dlib's ResNet alone, in
    dlib's own calls. Ours: the default ``DlibResNetFeatures().transform`` on
    the batch: the chips cut by dlib as in the baseline, in a thread, while
    the Keras port of dlib's network (``runtime="auto"``, checked against
    dlib's network at ``fit``) describes the previous ones in batches. Also
    recorded: the ratios of the same with ``n_jobs=-1`` (the chips cut by
    one process per core) and of ``runtime="dlib"`` (dlib's network, one chip
    per call, the next chip cut in a thread), the engine that ran the port,
    and the one-off start of the worker processes (import and model load),
    which the timed passes exclude, as they exclude the models' load.

Equality: the largest absolute difference of the embeddings. Run alone:
``python benchmarks/bench_faces.py`` prints the entries as JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from benchmarks.common import data_root, entry, interleaved, max_abs_diff  # noqa: E402


def _lfw_files(n: int) -> list[str]:
    """The first image of the first ``n`` people (sorted) with two or more images."""
    root = data_root() / "lfw" / "lfw-deepfunneled"
    files = []
    for person in sorted(p for p in root.iterdir() if p.is_dir()):
        if (person / f"{person.name}_0002.jpg").is_file():
            files.append(str(person / f"{person.name}_0001.jpg"))
        if len(files) == n:
            break
    return files


def _batches(files: list[str], batch_size: int):
    for start in range(0, len(files), batch_size):
        yield files[start : start + batch_size]


def bench_align_facenet(files: list[str], batch_size: int, repeat: int) -> dict[str, Any]:
    from transfer.align import Align
    from transfer.data import read_image
    from transfer.features.identity import FaceNetFeatures
    from transfer.features.network import AUTO_MIN_IMAGES

    align = Align("mtcnn", 160, 0.2, cache=False)
    facenet = FaceNetFeatures(batch_size=batch_size).fit(np.zeros((1, 160, 160, 3), np.float32))
    one = FaceNetFeatures(batch_size=1, runtime="tensorflow")
    one.fit(np.zeros((1, 160, 160, 3), np.float32))
    forward = facenet._forward()
    if hasattr(forward, "prepare"):  # "auto", not cached yet: choose the engine now, as the
        forward.prepare(AUTO_MIN_IMAGES)  # first transform of a recipe's images does (untimed)
    align.apply_batch([read_image(files[0])] * 2)  # load the detector

    def per_image() -> np.ndarray:
        return np.concatenate([one.transform(align(read_image(f))[None]) for f in files])

    def batched() -> np.ndarray:
        crops = (
            np.stack(align.apply_batch([read_image(f) for f in chunk]))
            for chunk in _batches(files, batch_size)
        )
        return np.concatenate([facenet.transform(c) for c in crops])

    ref, ours = per_image(), batched()
    times = interleaved({"baseline": per_image, "ours": batched}, repeat)
    diff = max_abs_diff(ref, ours)
    return entry(
        baseline="decode, MTCNN align (one image per detector call), FaceNet one image per call",
        ours="decode + Align.apply_batch (one detector call per batch), "
        f"FaceNet on the batch (runtime {facenet.runtime_})",
        baseline_s=times["baseline"],
        ours_s=times["ours"],
        sizes={"images": len(files), "batch_size": batch_size, "image": "250x250 LFW"},
        equal={"max_abs_diff": diff, "tol": 1e-4, "ok": diff <= 1e-4},
        goal=3.0,
    )


def bench_dlib(files: list[str], batch_size: int, repeat: int) -> dict[str, Any]:
    import time

    from joblib import effective_n_jobs

    from transfer.data import read_image
    from transfer.features.identity import DlibResNetFeatures
    from transfer.features.identity import dlib_resnet as D

    probe = np.zeros((1, 250, 250, 3), np.float32)
    ported = DlibResNetFeatures(batch_size=batch_size).fit(probe)  # loads and checks the port
    pooled = DlibResNetFeatures(batch_size=batch_size, n_jobs=-1).fit(probe)
    dlib_net = DlibResNetFeatures(batch_size=batch_size, runtime="dlib").fit(probe)
    net = D._network()

    def per_image() -> np.ndarray:
        rows = []
        for f in files:
            chip, _ = D.face_chip(read_image(f))
            rows.append(np.asarray(net.compute_face_descriptor(chip), dtype=np.float32))
        return np.stack(rows)

    def run(est: DlibResNetFeatures) -> np.ndarray:
        return np.concatenate(
            [
                est.transform(np.stack([read_image(f) for f in c]))
                for c in _batches(files, batch_size)
            ]
        )

    t0 = time.perf_counter()
    run(pooled)  # starts the worker processes and loads their models
    pool_start_s = time.perf_counter() - t0
    ref, ours, by_dlib = per_image(), run(ported), run(dlib_net)
    times = interleaved(
        {
            "baseline": per_image,
            "ours": lambda: run(ported),
            "pooled": lambda: run(pooled),
            "dlib_runtime": lambda: run(dlib_net),
        },
        repeat,
    )
    diff = max(max_abs_diff(ref, ours), max_abs_diff(ref, run(pooled)))
    return entry(
        baseline="decode, dlib detect + chip, ResNet descriptor one face per call",
        ours="DlibResNetFeatures().transform: dlib's chips cut in a thread while the Keras port "
        f"of dlib's network ({ported.runtime_}) describes the previous ones in batches",
        baseline_s=times["baseline"],
        ours_s=times["ours"],
        sizes={
            "images": len(files),
            "batch_size": batch_size,
            "image": "250x250 LFW",
            "processes": effective_n_jobs(-1),
            "engine": ported.runtime_,
        },
        equal={"max_abs_diff": diff, "tol": 1e-4, "ok": diff <= 1e-4},
        goal=3.0,
        pooled_ratio=round(times["baseline"] / times["pooled"], 3),
        dlib_runtime_ratio=round(times["baseline"] / times["dlib_runtime"], 3),
        dlib_runtime_equal=bool(np.array_equal(ref, by_dlib)),
        pool_start_s=round(pool_start_s - times["pooled"], 2),
    )


def bench(quick: bool = True) -> dict[str, dict]:
    """``align_facenet_vs_per_image`` and ``dlib_vs_per_image`` entries."""
    n, repeat = (16, 2) if quick else (96, 3)
    files = _lfw_files(n)
    return {
        "align_facenet_vs_per_image": bench_align_facenet(files, 16, repeat),
        "dlib_vs_per_image": bench_dlib(files, 8, repeat),  # two or more batches: overlapped
    }


if __name__ == "__main__":
    print(json.dumps(bench(), indent=2))
