"""The Ray engine: equal results to the local engine, a shared cache, fault
tolerance, bad input, and ``transfer extract``.

The tests that start Ray carry the ``ray`` marker (``make test-ray``) and
share one local Ray instance with 2 CPUs (module-scoped); the engine joins
it. The two that need no Ray (the install message, the local engine never
importing ray) run without Ray: the first in the default suite, the second
with the slow tests.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from transfer.data import ImageSet
from transfer.recipes import FeatureCache, load_recipe, load_recipe_text, run_recipe
from transfer.recipes.engines import EngineError, LocalEngine, get_engine
from transfer.recipes.runner import TIMING_COLUMNS
from transfer.registry import create_extractor
from transfer_cli.main import main

from .conftest import REPO, prepare_weights

ray_test = pytest.mark.ray

TINY = """
name: tiny-{engine}
data: {{dataset: image_folder, path: {path}}}
transforms: [grey]
extractors: [pixels, {{name: hog, params: {{pixels_per_cell: [8, 8]}}}}]
heads: [linear_svm, {{name: knn, params: {{n_neighbors: 1}}}}]
protocol: {{name: classification, params: {{split: kfold, n_splits: 3}}}}
cache: {{dir: {cache}}}
"""


def _folder(root: Path, per_class: int = 6, classes: int = 3, size: int = 32) -> Path:
    """Class folders of distinct PNGs: class k is brighter on a k-dependent band."""
    rng = np.random.default_rng(0)
    for k in range(classes):
        (root / f"c{k}").mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = rng.integers(0, 120, (size, size, 3), dtype=np.uint8)
            img[:, 4 * k : 4 * k + 8] += 100
            Image.fromarray(img).save(root / f"c{k}" / f"{i}.png")
    return root


# -- no Ray needed: the default suite -------------------------------------------
def test_ray_missing_gives_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if not installed
    with pytest.raises(EngineError, match=r"pip install 'transfer\[ray\]'"):
        get_engine({"engine": {"name": "ray"}})
    recipe = tmp_path / "r.yaml"
    recipe.write_text(TINY.format(engine="x", path=_folder(tmp_path / "img"), cache=tmp_path))
    result = CliRunner().invoke(
        main, ["run", str(recipe), "--engine", "ray", "--out", str(tmp_path / "res")]
    )
    assert result.exit_code == 2, result.output
    assert "pip install 'transfer[ray]'" in result.output
    assert not (tmp_path / "res").exists()


@pytest.mark.slow  # a fresh interpreter imports the toolkit: seconds
def test_the_local_engine_never_imports_ray(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(TINY.format(engine="x", path=_folder(tmp_path / "img"), cache=tmp_path))
    code = textwrap.dedent(
        f"""
        import sys
        from transfer.recipes import load_recipe, run_recipe
        run_recipe(load_recipe({str(recipe)!r}), {str(tmp_path / "res")!r})
        print("ray" in sys.modules)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"
    assert isinstance(get_engine({}), LocalEngine)


# -- a local Ray instance ---------------------------------------------------------
@pytest.fixture(scope="module")
def cluster():
    """One local Ray instance (2 CPUs) for the module: its address."""
    ray = pytest.importorskip("ray")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "2"}},
    )
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def _compare_runs(a: Path, b: Path) -> None:
    """Same metrics in results.csv and the same per-item files."""
    ra = pd.read_csv(a / "results.csv").drop(columns=list(TIMING_COLUMNS))
    rb = pd.read_csv(b / "results.csv").drop(columns=list(TIMING_COLUMNS))
    pd.testing.assert_frame_equal(ra, rb)
    assert (ra["status"] == "ok").all()
    items = sorted(p.name for p in a.glob("*.csv"))
    assert items == sorted(p.name for p in b.glob("*.csv"))
    for name in items:
        if name in ("results.csv", "extraction.csv", "summary.csv"):
            continue
        pd.testing.assert_frame_equal(pd.read_csv(a / name), pd.read_csv(b / name))


def _run(source, tmp_path: Path, name: str, cache: Path, *sets: str):
    recipe = load_recipe(source, [f"cache.dir={cache}", *sets])
    return run_recipe(recipe, tmp_path / name)


def _equal_and_swapped(source, tmp_path: Path, cluster: str) -> None:
    """Local vs ray (2 workers) with their own caches, then each reading the other's
    features: equal results, and every image read from the other engine's shards."""
    ray_sets = ("engine.name=ray", f"engine.address={cluster}", "engine.workers=2")
    local = _run(source, tmp_path, "local", tmp_path / "cl")
    on_ray = _run(source, tmp_path, "ray", tmp_path / "cr", *ray_sets)
    _compare_runs(local.out_dir, on_ray.out_dir)
    assert on_ray.extraction["n_cached_images"].sum() == 0
    shards = list((tmp_path / "cr" / "features").rglob("*.parquet"))
    assert shards and not list((tmp_path / "cr" / "features").rglob("*.npy"))
    # swapped: only the features travel (the cells are computed again)
    shutil.copytree(tmp_path / "cr" / "features", tmp_path / "lr" / "features")
    shutil.copytree(tmp_path / "cl" / "features", tmp_path / "rl" / "features")
    local_on_ray_cache = _run(source, tmp_path, "local2", tmp_path / "lr")
    ray_on_local_cache = _run(source, tmp_path, "ray2", tmp_path / "rl", *ray_sets)
    for swapped in (local_on_ray_cache, ray_on_local_cache):
        rows = swapped.extraction
        assert (rows["n_images"] == 0).all(), rows  # nothing computed
        assert (rows["n_cached_images"] > 0).all()
        _compare_runs(local.out_dir, swapped.out_dir)


@ray_test
def test_quickstart_gives_equal_results_on_ray_and_shares_the_cache(tmp_path, cluster):
    prepare_weights("efficientnet_lite0")
    _equal_and_swapped("quickstart", tmp_path, cluster)


@ray_test
def test_a_small_cnn_recipe_gives_equal_results_on_ray(tmp_path, cluster):
    prepare_weights("mobilenet_v1_1.0_224")
    text = TINY.format(engine="cnn", path=_folder(tmp_path / "img"), cache="x").replace(
        "extractors: [pixels, {name: hog, params: {pixels_per_cell: [8, 8]}}]",
        "extractors: [{name: cnn, params: {weights: mobilenet_v1_1.0_224, input_size: 32, "
        "batch_size: 4}}]",
    )
    source = tmp_path / "cnn.yaml"
    source.write_text(text.replace("cache: {dir: x}\n", ""))
    _equal_and_swapped(source, tmp_path, cluster)


@ray_test
def test_workers_get_the_drivers_transfer_environment(monkeypatch):
    # the CNN above only finds its prepared weights on a worker through this:
    # in CI the default weights folder (~/.cache) holds none
    ray_engine = pytest.importorskip("transfer.recipes.ray_engine")
    monkeypatch.setenv("TRANSFER_WEIGHTS", "/shared/weights")
    monkeypatch.setenv("TRANSFER_CACHE", "/shared/cache")
    env = ray_engine._worker_env()["env_vars"]
    assert env["TRANSFER_WEIGHTS"] == "/shared/weights"
    assert env["TRANSFER_CACHE"] == "/shared/cache"
    assert env["TF_CPP_MIN_LOG_LEVEL"] == "2"


@ray_test
def test_the_engine_starts_and_stops_its_own_instance(tmp_path):
    pytest.importorskip("ray")
    code = textwrap.dedent(
        """
        import ray
        from transfer.recipes.engines import get_engine
        engine = get_engine({"engine": {"name": "ray", "workers": 1}}).start()
        print(ray.is_initialized(), ray.cluster_resources().get("CPU"))
        engine.stop()
        print(ray.is_initialized())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=180, cwd=REPO
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "1.0", "False"]


@ray_test
def test_an_unreachable_address_fails_within_seconds_naming_it(tmp_path, cluster):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"ray://127.0.0.1:{port}"
    t0 = time.monotonic()
    with pytest.raises(EngineError, match=f"cannot reach the Ray cluster at '{address}'"):
        get_engine({"engine": {"name": "ray", "address": address}}).start()
    assert time.monotonic() - t0 < 15
    recipe = tmp_path / "r.yaml"
    recipe.write_text(TINY.format(engine="x", path=_folder(tmp_path / "img"), cache=tmp_path))
    result = CliRunner().invoke(
        main, ["run", str(recipe), "--address", address, "--out", str(tmp_path / "res")]
    )
    assert result.exit_code == 2 and address in result.output


@ray_test
def test_a_path_workers_cannot_see_is_named_with_the_worker(tmp_path, cluster):
    engine = get_engine({"engine": {"name": "ray", "address": cluster}}).start()
    missing = tmp_path / "elsewhere" / "img0.png"
    with pytest.raises(EngineError, match="not visible on the Ray worker") as info:
        engine.check_visible([tmp_path, missing])
    assert str(missing) in str(info.value) and socket.gethostname() in str(info.value)
    engine.check_visible([tmp_path])  # a visible folder passes


@ray_test
def test_extract_writes_shards_pandas_reads_equal_to_the_cache(tmp_path, cluster):
    folder = _folder(tmp_path / "img", per_class=5)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(TINY.format(engine="x", path=folder, cache=tmp_path / "c"))
    out = tmp_path / "feats"
    result = CliRunner().invoke(
        main,
        [
            *("extract", str(recipe), "--extractor", "hog", "--out", str(out)),
            *("--address", cluster, "--workers", "2", "--batch-size", "4", "--no-progress"),
        ],
    )
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    assert len(list(out.glob("*.parquet"))) == 4  # 15 images, 4 per shard
    rec = load_recipe(recipe)
    from transfer.recipes.runner import load_data

    data = load_data(rec)
    expected = FeatureCache(tmp_path / "ref").extract(
        create_extractor("hog", pixels_per_cell=(8, 8)), data, label="hog"
    )
    by_path = {p: i for i, p in enumerate(data.paths)}
    order = [by_path[p] for p in table["path"]]
    assert sorted(order) == list(range(len(data)))
    np.testing.assert_allclose(np.stack(table["features"]), expected.features[order], atol=1e-6)
    assert table["label"].tolist() == np.asarray(data.labels)[order].tolist()
    # a folder it did not write is refused; its own is replaced
    again = CliRunner().invoke(
        main, ["extract", str(recipe), "--extractor", "hog", "--out", str(folder)]
    )
    assert again.exit_code == 2 and "transfer did not write it" in again.output
    unknown = CliRunner().invoke(
        main, ["extract", str(recipe), "--extractor", "lbp", "--out", str(out)]
    )
    assert unknown.exit_code == 2 and "its extractors: pixels, hog" in unknown.output


def _shard_writer_pids() -> list[int]:
    import psutil

    pids = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "_ShardWriter" in cmdline:
            pids.append(proc.pid)
    return pids


@ray_test
def test_a_killed_extraction_actor_is_replaced_and_results_stay_equal(tmp_path, cluster):
    pytest.importorskip("psutil")
    rng = np.random.default_rng(0)
    data = ImageSet(
        "noise",
        labels=np.arange(240) % 4,
        class_names=tuple("abcd"),
        images=rng.uniform(0, 255, (240, 96, 96)).astype(np.float32),
    )
    extractor = create_extractor("gabor", grid=(4, 4))
    expected = FeatureCache(tmp_path / "local").extract(extractor, data, label="gabor")
    cache = FeatureCache(tmp_path / "ray")
    folder = cache._folder(cache.extractor_key(extractor, data))
    killed: list[int] = []

    def kill_one_actor() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            pids = _shard_writer_pids()
            if pids and folder.is_dir() and any(folder.glob("*.parquet")):
                os.kill(pids[0], signal.SIGKILL)  # mid-run: some shards are written
                killed.append(pids[0])
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one_actor)
    killer.start()
    engine = get_engine({"engine": {"name": "ray", "address": cluster, "batch_size": 2}})
    got = engine.start().features(cache, extractor, data, "gabor")
    killer.join()
    assert killed, "no extraction actor was found to kill"
    n_shards = len(list(folder.glob("*.parquet")))
    assert n_shards < 120 + 2 * 4  # at most a few batches written twice
    assert got.n_computed == 240
    np.testing.assert_array_equal(got.features, expected.features)


def test_engine_section_is_recorded_and_set_from_the_command_line(tmp_path):
    source = TINY.format(engine="x", path=_folder(tmp_path / "img"), cache=tmp_path)
    rec = load_recipe_text(source + "engine: ray\n", "r.yaml")
    assert rec.config["engine"] == {
        "name": "ray",
        "address": None,
        "workers": None,
        "batch_size": None,
    }
    from transfer_cli.main import engine_overrides

    sets = engine_overrides(None, "auto", 3)
    rec = load_recipe_text(source, "r.yaml", sets)
    assert rec.config["engine"]["name"] == "ray" and rec.config["engine"]["address"] == "auto"
    assert rec.config["engine"]["workers"] == 3
    assert json.loads(json.dumps(rec.config["engine"]))  # recorded in recipe.yaml as is
