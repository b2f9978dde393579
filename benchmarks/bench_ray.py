"""The Ray engine: extraction throughput with 1 and 2 workers, and the driver's memory.

Workload: synthetic grey PNG files (64x64), ``gabor`` features, written to a
fresh feature cache by each contender:

- **local**: :meth:`FeatureCache.extract` in this process (the local engine);
- **ray, 1 worker** and **ray, 2 workers**: :class:`RayEngine` joining one
  local Ray instance with 2 CPUs (Ray Data, one actor per worker, batches of
  ``BATCH`` images, one Parquet shard per batch).

Every contender's features are checked equal to the local engine's before
any time is recorded. The content keys (sha256 of every file) are computed
once before timing (the driver memoises them per file), so the times are
the extraction's. Ratios: 1-worker time / 2-worker time (this machine has 2
cores, so at most 2x), and local time / 2-worker time.

Driver memory: the peak resident set (``ru_maxrss``) of a fresh driver
process that extracts N small files (16x16) on a local Ray instance, for a
small and a 10x larger N (quick: 2,000 and 20,000; ``--full``: 10,000 and
100,000). The workers' memory is not the driver's: Ray Data streams the
batches through the actors, and the driver holds the row numbers, the
content keys and the final feature matrix.

Not part of ``make bench`` (Ray's start-up alone takes longer than its quick
budget). Run ``python -m benchmarks.bench_ray [--full]`` from the repository
root; entries go to ``benchmarks/results/ray.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import common
from benchmarks.common import REPO, entry, max_abs_diff

RESULTS = REPO / "benchmarks" / "results" / "ray.json"
#: Images per Ray Data batch (and per Parquet shard).
BATCH = 100
HOG = {"orientations": 9, "pixels_per_cell": (8, 8), "cells_per_block": (2, 2)}
#: The throughput's extractor: a Gabor filter bank costs milliseconds per image,
#: so the workers' share dominates Ray's fixed cost per run (HOG takes 0.3 ms).
GABOR = {"grid": (4, 4)}


def _pngs(folder: Path, n: int, size: int) -> list[str]:
    """``n`` distinct grey PNGs of ``size`` x ``size`` in ``folder`` (reused if there)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = folder / f"{i:06d}.png"
        pixels = rng.integers(0, 256, (size, size), dtype=np.uint8)  # drawn always: distinct
        if not path.exists():
            Image.fromarray(pixels).save(path)
        paths.append(str(path))
    return paths


def _view(paths: list[str]):
    from transfer.data import ImageSet

    return ImageSet(
        "synthetic",
        labels=np.arange(len(paths)) % 10,
        class_names=tuple(f"c{k}" for k in range(10)),
        paths=tuple(paths),
    )


def _throughput(work: Path, n: int) -> dict:
    import ray

    from transfer.recipes.cache import FeatureCache, image_keys
    from transfer.recipes.ray_engine import RayEngine
    from transfer.registry import create_extractor

    view = _view(_pngs(work / f"png64-{n}", n, 64))
    image_keys(view)  # hashed once, memoised: every contender pays nothing for it
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        address = ray.get_runtime_context().gcs_address
        runs = {
            "local": lambda cache: FeatureCache(cache).extract(
                create_extractor("gabor", **GABOR), view, label="gabor"
            ),
            "ray1": lambda cache: (
                RayEngine(address, workers=1, batch_size=BATCH)
                .start()
                .features(FeatureCache(cache), create_extractor("gabor", **GABOR), view, "gabor")
            ),
            "ray2": lambda cache: (
                RayEngine(address, workers=2, batch_size=BATCH)
                .start()
                .features(FeatureCache(cache), create_extractor("gabor", **GABOR), view, "gabor")
            ),
        }
        runs["ray2"](work / "warm")  # actors' first start (imports) is not the steady state
        seconds = {name: float("inf") for name in runs}
        features = {}
        for rep in range(2):  # interleaved, best of 2, each in a fresh cache
            for name, run in runs.items():
                t0 = time.perf_counter()
                got = run(work / f"cache-{name}-{rep}")
                seconds[name] = min(seconds[name], time.perf_counter() - t0)
                assert got.n_computed == n, (name, got.n_computed)
                features[name] = got.features
    finally:
        ray.shutdown()
    diff = max(max_abs_diff(features["local"], features[k]) for k in ("ray1", "ray2"))
    equal = {"ok": diff == 0.0, "max_abs_diff": diff, "tol": 0.0}
    sizes = {"images": n, "image_size": 64, "extractor": "gabor", "batch": BATCH, "cpus": 2}
    rate = {k: round(n / v, 1) for k, v in seconds.items()}
    return {
        "ray_2_vs_1_workers": entry(
            baseline="Ray engine, 1 worker (1 actor)",
            ours="Ray engine, 2 workers (2 actors)",
            baseline_s=seconds["ray1"],
            ours_s=seconds["ray2"],
            sizes=sizes,
            equal=equal,
            goal=None,
            images_per_second=rate,
        ),
        "ray_2_workers_vs_local": entry(
            baseline="local engine (this process)",
            ours="Ray engine, 2 workers",
            baseline_s=seconds["local"],
            ours_s=seconds["ray2"],
            sizes=sizes,
            equal=equal,
            images_per_second=rate,
        ),
    }


_DRIVER = """
import json, resource, sys, time
import numpy as np
import ray
from benchmarks.bench_ray import _view, HOG, BATCH
from transfer.recipes.cache import FeatureCache
from transfer.recipes.ray_engine import RayEngine
from transfer.registry import create_extractor

paths = json.loads(open(sys.argv[1]).read())
import psutil
engine = RayEngine(workers=2, batch_size=int(sys.argv[3])).start()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
before = psutil.Process().memory_info().rss
t0 = time.perf_counter()
hog = create_extractor("hog", **HOG)
got = engine.features(FeatureCache(sys.argv[2]), hog, _view(paths), "hog")
seconds = time.perf_counter() - t0
engine.stop()
after = psutil.Process().memory_info().rss
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("DRIVER " + json.dumps({"n": len(paths), "computed": got.n_computed,
      "features_mb": got.features.nbytes / 2**20, "rss_after_start_mb": base / 1024,
      "peak_rss_mb": peak / 1024, "rss_before_mb": before / 2**20,
      "rss_after_mb": after / 2**20, "rss_growth_mb": (after - before) / 2**20,
      "seconds": seconds}))
"""


def _driver_memory(work: Path, n: int) -> dict:
    """Peak RSS of a fresh driver extracting ``n`` 16x16 files on a local Ray instance."""
    paths = _pngs(work / "png16", n, 16)
    listing = work / f"paths-{n}.json"
    listing.write_text(json.dumps(paths))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _DRIVER,
            str(listing),
            str(work / f"cache-mem-{n}"),
            str(max(BATCH, n // 50)),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("DRIVER "):
            return json.loads(line[len("DRIVER ") :])
    raise RuntimeError(f"the driver for {n} files failed:\n{proc.stderr[-3000:]}")


def bench(quick: bool = True) -> dict[str, dict]:
    """Entries of ``benchmarks/results/ray.json`` (see the module docstring)."""
    n_speed = 4_000
    small, large = (2_000, 20_000) if quick else (10_000, 100_000)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        work = Path(tmp)
        out = _throughput(work, n_speed)
        low, high = _driver_memory(work, small), _driver_memory(work, large)
    out["ray_driver_memory"] = {
        "small": low,
        "large": high,
        "peak_rss_ratio": round(high["peak_rss_mb"] / low["peak_rss_mb"], 3),
        "rss_growth_mb": [round(low["rss_growth_mb"], 1), round(high["rss_growth_mb"], 1)],
        "note": "peak resident set of the driver process (ru_maxrss); the feature matrix "
        "it returns is included (features_mb)",
    }
    out["ray_meta"] = {"quick": quick, "seconds": round(time.perf_counter() - t0, 1)}
    return out


def main(argv: list[str] | None = None) -> dict[str, dict]:
    out = common.main(bench, __doc__, "10,000 vs 100,000 files for the driver's memory", argv)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
