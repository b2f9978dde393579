"""Analyses as recipe components: the ``analyses:`` section, ``transfer analyze``,
their files, cache, report sections and errors."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from tests.conftest import need
from transfer.analysis.base import Analysis
from transfer_cli.main import main

RECIPE = """
name: tiny-an
data: {{dataset: image_folder, path: {path}}}
transforms: [grey]
extractors: [pixels, {{name: lbp, params: {{grid: [2, 2]}}}}]
heads: [{{name: knn, params: {{n_neighbors: 1}}}}]
protocol: {{name: classification, params: {{n_splits: 2}}}}
{analyses}
"""

ANALYSES = """analyses:
  - sparsity
  - selectivity
  - {name: occlusion, params: {n_images: 6, fractions: [0, 0.5], kinds: [bottom]}}
  - {name: filters, params: {n_units: 2, k: 3}}
"""


def _folder(root: Path, per_class: int = 6) -> Path:
    """Three classes of 24x24 grey images: bright top-left quadrant, bright
    bottom-right quadrant, dark; the images of a class differ by a shift of
    their brightness (no pixel noise, so no pixel separates classes by chance)."""
    yy, xx = np.mgrid[:24, :24]
    masks = [(yy < 12) & (xx < 12), (yy >= 12) & (xx >= 12), np.zeros((24, 24), bool)]
    for c, mask in enumerate(masks):
        d = root / f"class{c}"
        d.mkdir(parents=True)
        for i in range(per_class):
            img = 30 + 3 * i + 180 * mask
            Image.fromarray(img.astype(np.uint8)).save(d / f"{i}.png")
    return root


def _recipe(tmp_path: Path, analyses: str = ANALYSES) -> Path:
    folder = tmp_path / "imgs"
    if not folder.exists():
        _folder(folder)
    path = tmp_path / "an.yaml"
    path.write_text(textwrap.dedent(RECIPE.format(path=folder, analyses=analyses)))
    return path


def _invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_run_writes_every_analysis_and_its_report_sections(tmp_path):
    out = tmp_path / "out"
    result = _invoke("run", str(_recipe(tmp_path)), "--out", str(out))
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "meta.json").read_text())
    assert [a["name"] for a in meta["analyses"]] == [
        "sparsity",
        "selectivity",
        "occlusion",
        "filters",
    ]
    assert all(not a["failed"] for a in meta["analyses"])

    # sparsity of raw pixels (all > 0 here: every unit active on every image)
    summary = pd.read_csv(out / "analyses/sparsity/summary.csv")
    pixels = summary.set_index("extractor").loc["pixels"]
    assert pixels["n_units"] == 24 * 24 and pixels["mean_per_image"] == 1.0
    assert pixels["n_images"] == 9  # the first fold's test images

    # selectivity: the classes are the identities; a pixel of a bright quadrant
    # is a perfect detector of its class
    units = pd.read_csv(out / "analyses/selectivity/identity_single_unit.csv")
    px = units[units["extractor"] == "pixels"].set_index("target")
    assert px.loc[0, "test_accuracy"] == 1.0 and px.loc[1, "test_accuracy"] == 1.0
    sel = pd.read_csv(out / "analyses/selectivity/identity_units.csv")
    assert len(sel[sel["extractor"] == "pixels"]) == 24 * 24

    # occlusion: at fraction 0 the features are the clean ones
    occ = pd.read_csv(out / "analyses/occlusion/occlusion.csv")
    clean = occ[occ["fraction"] == 0.0]
    assert np.allclose(clean["cosine_mean"], 1.0)
    assert (clean["identification_accuracy"] == 1.0).all()
    half = occ[(occ["fraction"] == 0.5) & (occ["extractor"] == "pixels")]
    assert half["cosine_mean"].item() < 0.99

    # filters: no Keras network here; the top images are the argmax of the unit
    meta_filters = meta["analyses"][3]
    assert any("no convolution filters" in n for n in meta_filters["notes"])
    top = pd.read_csv(out / "analyses/filters/top_images.csv")
    assert set(top.groupby("extractor")["unit"].nunique()) == {2}
    assert (top.groupby(["extractor", "unit"])["activation"].is_monotonic_decreasing).all()
    assert (out / "analyses/filters/pixels_top_images.png").is_file()

    html = (out / "report.html").read_text()
    for section in ("sparsity", "selectivity", "occlusion", "filters"):
        assert f'<h2 id="{section}">' in html
    markdown = (out / "report.md").read_text()
    assert "## Sparsity" in markdown and "| pixels |" in markdown


@pytest.mark.slow  # a second analysis run
def test_second_run_reads_analyses_from_the_cache(tmp_path, monkeypatch):
    recipe = _recipe(tmp_path)
    assert _invoke("run", str(recipe), "--out", str(tmp_path / "a")).exit_code == 0

    def boom(self, context, label):
        raise AssertionError("recomputed")

    monkeypatch.setattr(Analysis, "run", boom)
    for cls in Analysis.__subclasses__():
        monkeypatch.setattr(cls, "run", boom)
    result = _invoke("run", str(recipe), "--out", str(tmp_path / "b"))
    assert result.exit_code == 0, result.output
    a = pd.read_csv(tmp_path / "a/analyses/occlusion/occlusion.csv")
    b = pd.read_csv(tmp_path / "b/analyses/occlusion/occlusion.csv")
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.slow  # a second analysis run
def test_analyze_adds_analyses_to_a_results_folder(tmp_path):
    out = tmp_path / "out"
    recipe = _recipe(tmp_path, analyses="")
    assert _invoke("run", str(recipe), "--out", str(out)).exit_code == 0
    assert json.loads((out / "meta.json").read_text())["analyses"] == []
    before = pd.read_csv(out / "results.csv")
    result = _invoke("analyze", str(out), "--analysis", "sparsity")
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "meta.json").read_text())
    assert [a["name"] for a in meta["analyses"]] == ["sparsity"]
    assert meta["cells"]["cached"] == meta["cells"]["total"]  # only the analysis ran
    pd.testing.assert_frame_equal(
        before.drop(columns=["fit_seconds", "predict_seconds"]),
        pd.read_csv(out / "results.csv").drop(columns=["fit_seconds", "predict_seconds"]),
    )
    assert '<h2 id="sparsity">' in (out / "report.html").read_text()
    # a recipe with no analyses section gets every registered one
    every = _invoke("analyze", str(recipe), "--out", str(tmp_path / "all"), "--dry-run")
    assert every.exit_code == 0, every.output


@pytest.mark.parametrize(
    ("analyses", "match"),
    [
        ("analyses: [{name: sparsity, params: {extractors: [lpb]}}]", "Did you mean 'lbp'"),
        ("analyses: [{name: occlusion, params: {fractions: [0, 1.5]}}]", "analyses[0]"),
        ("analyses: [{name: occlusion, params: {kinds: [left]}}]", "'kinds' must be among"),
        ("analyses: [sparsty]", "Did you mean 'sparsity'"),
        ("analyses: [{name: filters, params: {n_unit: 3}}]", "Did you mean 'n_units'"),
        ("analyses: [binary_codes]", "needs a pair protocol"),
    ],
)
def test_bad_analyses_fail_before_any_work(tmp_path, analyses, match):
    out = tmp_path / "out"
    result = _invoke("run", str(_recipe(tmp_path, analyses)), "--out", str(out))
    assert result.exit_code == 2, result.output
    assert match in result.output
    assert not out.exists()


def test_analyze_refuses_a_users_folder_and_unknown_names(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("x")
    result = _invoke("analyze", str(mine))
    assert result.exit_code == 2 and "not a results folder" in result.output
    assert (mine / "notes.txt").read_text() == "x" and len(list(mine.iterdir())) == 1
    recipe = _recipe(tmp_path, analyses="")
    bad = _invoke("analyze", str(recipe), "--analysis", "occlusio", "--out", str(tmp_path / "o"))
    assert bad.exit_code == 2 and "Did you mean 'occlusion'" in bad.output


CELEBA = """
name: attr-small
data: {dataset: celeba, path: celeba, params: {max_images: 300}}
extractors: [{name: hog, transforms: [grey, {resize: {size: 48}}]}]
heads: [single_neuron]
protocol: {name: attributes, params: {split: holdout, test_size: 0.25}}
analyses: [selectivity, {name: occlusion, params: {n_images: 30, fractions: [0, 0.4]}}]
"""


@pytest.mark.slow
def test_celeba_attribute_units_and_occlusion(shared_data, tmp_path):
    need(shared_data, "celeba")
    recipe = tmp_path / "a.yaml"
    recipe.write_text(CELEBA)
    out = tmp_path / "an"
    result = _invoke("run", str(recipe), "--out", str(out), "--set", f"data.root={shared_data}")
    assert result.exit_code == 0, result.output
    units = pd.read_csv(out / "analyses/selectivity/attribute_units.csv")
    assert len(units) == 40 and (units["n_test"] == 75).all()
    # the unit is chosen on training images: there it does at least as well as
    # the majority answer of those images
    assert (units["train_accuracy"] >= 0.5).all()
    heat = pd.read_csv(out / "analyses/selectivity/attribute_selectivity.csv")
    assert set(heat["attribute"]) == set(units["target"])
    occ = pd.read_csv(out / "analyses/occlusion/occlusion.csv")
    clean = occ[occ["fraction"] == 0.0]["attribute_accuracy"]
    assert clean.nunique() == 1 and 0.6 < clean.iloc[0] <= 1.0
    assert (occ[occ["fraction"] == 0.4]["cosine_mean"] < 1.0).all()


LFW_PAIRS = """
name: lfw-an
data: {dataset: lfw, path: lfw}
extractors:
  - {name: lbp, transforms: [grey, {center_crop: {size: 120}}, {resize: {size: 60}}],
     params: {grid: [4, 4]}}
heads: [cosine_verifier]
protocol: {name: verification, params: {max_pairs: 60}}
analyses:
  - binary_codes
  - selectivity
  - {name: occlusion, params: {n_images: 16, fractions: [0, 0.5], kinds: [top]}}
"""


@pytest.mark.slow
def test_pair_analyses_on_lfw_view1(shared_data, tmp_path):
    need(shared_data, "lfw/pairsDevTest.txt")
    recipe = tmp_path / "p.yaml"
    recipe.write_text(LFW_PAIRS)
    out = tmp_path / "p"
    result = _invoke("run", str(recipe), "--out", str(out), "--set", f"data.root={shared_data}")
    assert result.exit_code == 0, result.output
    codes = pd.read_csv(out / "analyses/binary_codes/binary_codes.csv")
    assert set(codes["code"]) == {"real", "zero", "median"}
    # LBP histograms are >= 0: codes at 0 light every non-empty bin
    zero = codes[(codes["code"] == "zero")]
    assert (zero["fraction_on"] > 0.5).all()
    real = codes[(codes["code"] == "real") & (codes["head"] == "cosine_verifier")]
    assert 0.5 < real["test_accuracy"].item() <= 1.0
    pairs = pd.read_csv(out / "analyses/selectivity/pair_single_unit.csv")
    assert pairs["n_test"].item() == 60 and pairs["train_accuracy"].item() >= 0.5
    occ = pd.read_csv(out / "analyses/occlusion/occlusion.csv")
    assert "verification_accuracy" in occ and "identification_accuracy" not in occ
    assert '<h2 id="binary_codes">' in (out / "report.html").read_text()
