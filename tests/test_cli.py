"""The command line: runs, listings, reports, and one-line errors on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from transfer_cli.main import main

TINY = """
name: tiny
data: {{dataset: image_folder, path: {path}}}
transforms: [grey, {{resize: {{size: 16}}}}]
extractors: [pixels, {{name: lbp, params: {{grid: [2, 2]}}}}]
heads: [{{name: knn, params: {{n_neighbors: 1}}}}, linear_svm]
protocol: {{name: classification, params: {{n_splits: 2}}}}
"""


def _folder(root: Path, per_class: int = 4, classes: int = 3) -> Path:
    """Three textures (horizontal, vertical stripes, checkerboard) with noise."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:20, :20]
    patterns = [(yy // 2) % 2, (xx // 2) % 2, ((yy // 2) + (xx // 2)) % 2]
    for c in range(classes):
        d = root / f"class{c}"
        d.mkdir(parents=True)
        for i in range(per_class):
            img = 60 + 120 * patterns[c % 3] + rng.integers(0, 20, (20, 20))
            Image.fromarray(img.astype(np.uint8)).save(d / f"{i}.png")
    return root


def _recipe(tmp_path: Path, folder: Path, text: str = TINY) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(textwrap.dedent(text.format(path=folder)))
    return path


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_version_from_the_installed_console_script():
    exe = Path(sys.executable).parent / "transfer"
    if not exe.exists():
        pytest.skip("the console script is not installed in this environment")
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "transfer, version 0.1.0"


@pytest.mark.parametrize(
    "what",
    [
        "extractors",
        "heads",
        "datasets",
        "recipes",
        "protocols",
        "backbones",
        "transforms",
        "analyses",
        "architectures",
        "weights",
    ],
)
def test_list(what):
    """The components every recipe of the README relies on are listed (all: test_cli_discover)."""
    result = invoke("list", what)
    assert result.exit_code == 0
    expected = {
        "extractors": ["pixels", "lbp", "hog", "gabor", "cnn", "cnn_finetuned"],
        "heads": ["linear_svm", "rbf_svm", "lda", "fisherfaces", "logistic", "knn"],
        "datasets": ["image_folder", "orl", "lfw", "celeba", "npz", "tfds:NAME"],
        "recipes": ["quickstart", "orl-identification", "lfw-people", "cifar10-transfer"],
        "protocols": ["classification", "identification"],
        "backbones": ["mobilenet_v2_torch", "efficientnet_lite0", "squeezenet_v1_1", "resnet50"],
        "transforms": ["grey", "resize", "lfw_crop"],
        "analyses": ["sparsity"],
        "architectures": ["lenet5"],
        "weights": ["mobilenet_v1_1.0_224", "facenet_inception_resnet_v1"],
    }[what]
    for name in expected:
        assert name in result.output


def test_run_writes_results_and_second_run_is_cached(tmp_path):
    recipe = _recipe(tmp_path, _folder(tmp_path / "imgs"))
    out = tmp_path / "out"
    first = invoke("run", str(recipe), "--out", str(out))
    assert first.exit_code == 0, first.output
    for name in [
        "recipe.yaml",
        "meta.json",
        "results.csv",
        "summary.csv",
        "extraction.csv",
        "predictions.csv",
        "report.md",
        "report.html",
    ]:
        assert (out / name).is_file(), name
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 2 * 2 * 2  # extractors x heads x folds
    assert {"extractor", "head", "fold", "accuracy"} <= set(results.columns)
    # three distinct textures: every pair separates them
    assert results["accuracy"].min() == 1.0
    assert not pd.read_csv(out / "extraction.csv")["cached"].any()

    second = invoke("run", str(recipe), "--out", str(out))
    assert second.exit_code == 0
    assert "from the cache" in second.output
    assert pd.read_csv(out / "extraction.csv")["cached"].all()
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "results.csv").drop(columns=["fit_seconds", "predict_seconds"]),
        results.drop(columns=["fit_seconds", "predict_seconds"]),
    )
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_changed_image_invalidates_the_cache(tmp_path):
    folder = _folder(tmp_path / "imgs")
    recipe = _recipe(tmp_path, folder)
    assert invoke("run", str(recipe), "--out", str(tmp_path / "a")).exit_code == 0
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(folder / "class0" / "0.png")
    again = invoke("run", str(recipe), "--out", str(tmp_path / "b"))
    assert "from the cache" not in again.output


@pytest.mark.slow  # a recipe run, then the report rebuilt (3 s)
def test_report_rebuilds_from_results(tmp_path):
    recipe = _recipe(tmp_path, _folder(tmp_path / "imgs"))
    out = tmp_path / "out"
    assert invoke("run", str(recipe), "--out", str(out)).exit_code == 0
    before = (out / "summary.csv").read_text()
    (out / "report.html").unlink()
    (out / "summary.csv").unlink()
    result = invoke("report", str(out))
    assert result.exit_code == 0
    assert (out / "report.html").is_file()
    assert (out / "summary.csv").read_text() == before


def test_dry_run_does_no_work(tmp_path):
    recipe = _recipe(tmp_path, _folder(tmp_path / "imgs"))
    result = invoke("run", str(recipe), "--dry-run", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0
    assert "valid" in result.output and "12 images" in result.output
    assert not (tmp_path / "out").exists()


def _fails(tmp_path: Path, *args: str, match: str) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert result.exit_code == 2, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("error: ") and match in last, result.output
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".out")]


def test_corrupt_and_empty_images_are_named(tmp_path):
    folder = _folder(tmp_path / "imgs")
    (folder / "class1" / "broken.png").write_bytes(b"not an image at all")
    _fails(tmp_path, "run", str(_recipe(tmp_path, folder)), match="broken.png")
    (folder / "class1" / "broken.png").unlink()
    (folder / "class2" / "empty.png").write_bytes(b"")
    _fails(tmp_path, "run", str(_recipe(tmp_path, folder)), match="empty.png")


def test_folder_without_images(tmp_path):
    (tmp_path / "imgs" / "a").mkdir(parents=True)
    (tmp_path / "imgs" / "a" / "notes.txt").write_text("no images here")
    _fails(tmp_path, "run", str(_recipe(tmp_path, tmp_path / "imgs")), match="no images")


def test_class_with_one_image(tmp_path):
    folder = _folder(tmp_path / "imgs")
    (folder / "lonely").mkdir()
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(folder / "lonely" / "0.png")
    _fails(tmp_path, "run", str(_recipe(tmp_path, folder)), match="'lonely' has 1 image")


def test_unknown_key_and_component(tmp_path):
    folder = _folder(tmp_path / "imgs")
    text = TINY.replace("heads:", "haeds:")
    _fails(tmp_path, "run", str(_recipe(tmp_path, folder, text)), match="Did you mean 'heads'")
    text = TINY.replace("linear_svm", "linear_svn")
    _fails(tmp_path, "run", str(_recipe(tmp_path, folder, text)), match="Did you mean 'linear_svm'")


def test_parameter_out_of_range(tmp_path):
    recipe = _recipe(tmp_path, _folder(tmp_path / "imgs"))
    _fails(
        tmp_path, "run", str(recipe), "--set", "heads.0.params.n_neighbors=0", match="'n_neighbors'"
    )


def test_missing_data_root(tmp_path, monkeypatch):
    monkeypatch.delenv("TRANSFER_DATA", raising=False)
    _fails(tmp_path, "run", "orl-identification", match="TRANSFER_DATA")
    _fails(
        tmp_path,
        "run",
        "orl-identification",
        "--set",
        f"data.root={tmp_path / 'nope'}",
        match=str(tmp_path / "nope"),
    )


def test_unknown_recipe_name(tmp_path):
    _fails(tmp_path, "run", "orl-identifcation", match="Did you mean 'orl-identification'")


def test_tfds_offline_fails_fast(tmp_path):
    recipe = tmp_path / "tfds.yaml"
    recipe.write_text(
        "data: {dataset: 'tfds:mnist', params: {data_dir: " + str(tmp_path / "tfds") + "}}\n"
        "extractors: [pixels]\nheads: [knn]\nprotocol: {name: classification}\n"
    )
    import time

    t0 = time.perf_counter()
    _fails(tmp_path, "run", str(recipe), match="mnist")
    assert time.perf_counter() - t0 < 30


def test_meta_records_environment(tmp_path):
    recipe = _recipe(tmp_path, _folder(tmp_path / "imgs"))
    out = tmp_path / "out"
    assert invoke("run", str(recipe), "--out", str(out)).exit_code == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["environment"]["packages"]["scikit-learn"]
    assert meta["dataset"]["n_images"] == 12 and meta["seed"] == 0
    assert os.path.basename(meta["recipe_source"]) == "tiny.yaml"


def test_weights_commands(cnn_weights_dir):
    listed = invoke("weights", "list")
    assert listed.exit_code == 0 and "mobilenet_v1_1.0_224  [prepared]" in listed.output
    assert invoke("weights", "verify").exit_code == 0
    # the backbone's name is an alias: verified under the release name
    aliased = invoke("weights", "verify", "mobilenet_v1")
    assert aliased.exit_code == 0 and "ok  mobilenet_v1_1.0_224" in aliased.output
    result = CliRunner().invoke(main, ["weights", "prepare", "mobilenet_v1_1.0_22"])
    assert result.exit_code == 2 and "Did you mean 'mobilenet_v1_1.0_224'" in result.output


def test_dry_run_checks_network_layer_names(cnn_weights_dir, tmp_path):
    """A Keras layer the network does not have fails the dry run, with did-you-mean."""
    text = TINY.replace(
        "extractors: [pixels, {{name: lbp, params: {{grid: [2, 2]}}}}]",
        "extractors: [{{name: cnn, params: {{weights: mobilenet_v1_1.0_224, "
        "input_size: 32, layer: conv_pw_13_reluu}}}}]",
    )
    recipe = _recipe(tmp_path, _folder(tmp_path / "imgs"), text)
    _fails(tmp_path, "run", str(recipe), "--dry-run", match="Did you mean 'conv_pw_13_relu'")


def test_weights_verify_names_a_damaged_file(cnn_weights_dir, tmp_path, monkeypatch):
    import shutil

    folder = tmp_path / "w"
    shutil.copytree(cnn_weights_dir, folder)
    monkeypatch.setenv("TRANSFER_WEIGHTS", str(folder))
    h5 = folder / "mobilenet_v1_1.0_224.weights.h5"
    h5.write_bytes(h5.read_bytes()[:1000])
    result = CliRunner().invoke(main, ["weights", "verify"])
    assert result.exit_code == 2 and "mobilenet_v1_1.0_224.weights.h5" in result.output
