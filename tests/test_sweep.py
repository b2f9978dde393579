"""Sweeps: one recipe run per value of a parameter, and the curve across them."""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from transfer.recipes import RecipeError, load_recipe_text, run_recipe
from transfer.recipes.output import MARKER, OutputFolderError
from transfer.recipes.runner import closing_table, plan_run
from transfer.recipes.sweep_report import build_sweep_report, curve_plot, log_axis
from transfer_cli.main import main

BASE = textwrap.dedent(
    """
    name: tiny-sweep
    data: {{dataset: sklearn_digits, max_classes: 3, max_per_class: 15}}
    extractors: [pixels]
    heads: [{{name: logistic, params: {{C: 1.0}}}}]
    protocol: {{name: classification, params: {{split: kfold, n_splits: 3}}}}
    cache: {{dir: {cache}}}
    """
)
SWEEP = textwrap.dedent(
    """
    sweep:
      name: C
      values: [0.00001, 1.0]
      set: [heads.0.params.C]
    """
)


#: A 1x1 PNG, drawn instead of the plots in the run tests.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def recipe_text(cache: Path, sweep: str = SWEEP) -> str:
    return BASE.format(cache=cache) + sweep


def load(cache: Path, sweep: str = SWEEP, overrides: list[str] | None = None):
    return load_recipe_text(recipe_text(cache, sweep), "tiny.yaml", overrides)


# -- the sweep: section is checked before any work ---------------------------------


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        (
            "sweep: {name: C, values: [1, 2]}",
            r"tiny.yaml, line \d+: sweep: missing required key 'set'",
        ),
        (
            "sweep: {name: C, values: [1.0], set: [heads.0.params.C]}",
            r"sweep.values: expected a list of at least 2 values .*got \[1.0\]",
        ),
        (
            "sweep: {name: C, values: [1.0, 1.0], set: [heads.0.params.C]}",
            r"sweep.values\[1\]: 1.0 repeats \(C=1.0\); the values must be distinct",
        ),
        (
            "sweep: {name: C, values: [1, 2], set: [heads.0.parms.C]}",
            r"sweep.set\[0\]: 'heads.0.parms.C': the recipe has no key heads\[0\].parms. "
            r"Did you mean 'params'\?",
        ),
        (
            "sweep: {name: C, values: [1, 2], set: [protocl.params.n_splits]}",
            r"sweep.set\[0\]: 'protocl.params.n_splits': the recipe has no key protocl. "
            r"Did you mean 'protocol'\?",
        ),
        (
            "sweep: {name: C, values: [1, 2], set: [heads.4.params.C]}",
            r"sweep.set\[0\]: 'heads.4.params.C': no item 4 in heads",
        ),
        (
            "sweep: {name: C, values: [1, 2], sets: [heads.0.params.C]}",
            r"sweep.sets: unknown key 'sets'. Did you mean 'set'\?",
        ),
        (
            "sweep: {name: head, values: [1, 2], set: [heads.0.params.C]}",
            r"sweep.name: 'head' is a column of sweep.csv already",
        ),
        (
            "sweep: {name: ../x, values: [1, 2], set: [heads.0.params.C]}",
            r"sweep.name: expected a name of letters",
        ),
    ],
)
def test_sweep_section_errors_name_the_key(tmp_path, sweep, message):
    with pytest.raises(RecipeError, match=message):
        load(tmp_path, sweep)


def test_every_point_is_validated_before_any_work(tmp_path):
    # the second value is one the dataset filter refuses: the error names that point
    sweep = "sweep: {name: per_class, values: [5, 0], set: [data.max_per_class]}"
    with pytest.raises(
        RecipeError, match=r"sweep point per_class=0: .*max_per_class: must be >= 1"
    ):
        load(tmp_path, sweep)
    # a parameter the head does not have is named by the point's own check
    sweep = "sweep: {name: C, values: [1, 2], set: [heads.0.params.c]}"
    with pytest.raises(
        RecipeError, match=r"sweep point C=1: .*head 'logistic' has no parameter 'c'"
    ):
        load(tmp_path, sweep)


def test_points_are_recipes_with_the_keys_set(tmp_path):
    recipe = load(tmp_path)
    sweep = recipe.sweep
    assert sweep.name == "C" and sweep.values == [1e-5, 1.0]
    assert [p.heads["logistic"].C for p in sweep.points] == [1e-5, 1.0]
    assert [sweep.label(v) for v in sweep.values] == ["C=1e-05", "C=1.0"]
    # a point's resolved recipe has no sweep: written out, it runs that point alone
    assert all("sweep" not in p.config and p.sweep is None for p in sweep.points)
    # --set sweep=null runs the recipe as written
    assert load(tmp_path, overrides=["sweep=null"]).sweep is None


def test_log_axis_when_values_span_more_than_ten_times():
    assert log_axis([50, 200, 1000, 1600])
    assert not log_axis([4, 6, 8, 10, 12])
    assert not log_axis(["a", "b"]) and not log_axis([0, 100])


def test_curve_has_a_line_per_pair_with_fold_error_bars():
    table = pd.DataFrame(
        {
            "n": [50, 1000, 50, 1000],
            "source": ["cells", "cells", "training", "training"],
            "extractor": ["hog", "hog", "net", "net"],
            "head": ["svm", "svm", "", ""],
            "acc_mean": [0.3, 0.5, 0.2, 0.6],
            "acc_std": [0.01, 0.02, np.nan, np.nan],
        }
    )
    ax = curve_plot(table, "acc", "n").axes[0]
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "n"
    curves = {c.get_label(): c for c in ax.containers}
    assert list(curves) == ["hog + svm", "net (own output, trained on A)"]
    line, _, (bars,) = curves["hog + svm"].lines
    np.testing.assert_array_equal(line.get_ydata(), [0.3, 0.5])
    assert curves["net (own output, trained on A)"].lines[0].get_linestyle() == "--"
    # the error bars are the std over folds (a single run has none)
    segments = bars.get_segments()
    np.testing.assert_allclose([s[1, 1] - s[0, 1] for s in segments], [0.02, 0.04])


# -- a run --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A two-point sweep run twice into the same folder (the second from the cache),
    over the results of a single run (``--set sweep=null``) it replaces."""
    root = tmp_path_factory.mktemp("sweep")
    recipe = load(root / "cache")
    out = root / "out"
    with pytest.MonkeyPatch.context() as mp:
        # drawing the points' plots is most of a run's time; what is tested is the sweep
        mp.setattr("transfer.report.plots.figure_to_png", lambda fig, dpi=110: PNG)
        run_recipe(load(root / "cache", overrides=["sweep=null"]), out)
        assert (out / "results.csv").is_file()
        first = run_recipe(recipe, out)
        second = run_recipe(load(root / "cache"), out)
    return recipe, out, first, second


def test_each_point_is_a_complete_results_folder(swept):
    recipe, out, first, _ = swept
    # the single run's files are gone: the folder holds the sweep and nothing else
    assert sorted(p.name for p in out.iterdir()) == [
        MARKER,
        "points",
        "report.html",
        "report.md",
        "sweep.csv",
        "sweep.json",
    ]
    assert sorted(p.name for p in (out / "points").iterdir()) == ["C=1.0", "C=1e-05"]
    for value in recipe.sweep.values:
        folder = out / "points" / recipe.sweep.label(value)
        for name in ("results.csv", "meta.json", "recipe.yaml", "report.html", MARKER):
            assert (folder / name).is_file(), folder / name
        resolved = yaml.safe_load((folder / "recipe.yaml").read_text())
        assert resolved["heads"][0]["params"]["C"] == value and "sweep" not in resolved
    marker = json.loads((out / MARKER).read_text())
    assert marker["files"] == ["points", "report.html", "report.md", "sweep.csv", "sweep.json"]
    assert first.out_dir == out and first.n_failed == 0


def test_sweep_csv_holds_each_points_means(swept):
    recipe, out, first, _ = swept
    table = pd.read_csv(out / "sweep.csv")
    assert list(table.columns[:5]) == ["C", "point", "source", "extractor", "head"]
    assert len(table) == 2
    for value in recipe.sweep.values:
        results = pd.read_csv(out / "points" / recipe.sweep.label(value) / "results.csv")
        row = table[np.isclose(table["C"], value)].iloc[0]
        assert row["accuracy_mean"] == pytest.approx(results["accuracy"].mean(), abs=1e-12)
        assert row["accuracy_std"] == pytest.approx(results["accuracy"].std(ddof=1), abs=1e-12)
        assert row["n_folds"] == 3
    # the value reached the head: a tiny C underfits these digits
    low, high = table.sort_values("C")["accuracy_mean"]
    assert low < high
    pd.testing.assert_frame_equal(first.sweep.reset_index(drop=True), table)


def test_rerun_reads_every_cell_from_the_cache(swept):
    recipe, out, first, second = swept
    assert second.n_cached == len(second.results) == 6
    for value in recipe.sweep.values:
        meta = json.loads((out / "points" / recipe.sweep.label(value) / "meta.json").read_text())
        assert meta["cells"] == {"total": 3, "cached": 3, "computed": 0, "failed": 0}
    info = json.loads((out / "sweep.json").read_text())
    assert [p["n_cached"] for p in info["points"]] == [3, 3]
    assert info["sweep"] == {"name": "C", "values": [1e-5, 1.0], "set": ["heads.0.params.C"]}
    cols = ["C", "extractor", "head", "accuracy_mean", "accuracy_std"]
    pd.testing.assert_frame_equal(first.sweep[cols], second.sweep[cols])


def test_report_is_self_contained_and_links_the_points(swept):
    _, out, first, _ = swept
    page = (out / "report.html").read_text()
    refs = re.findall(r'(?:src|href)="([^"]*)"', page)
    external = [r for r in refs if not r.startswith(("#", "data:image/png;base64,", "points/"))]
    assert external == []
    links = [r for r in refs if r.startswith("points/")]
    assert links == ["points/C=1e-05/report.html", "points/C=1.0/report.html"]
    assert all((out / link).is_file() for link in links)
    assert "<script" not in page and page.count("data:image/png;base64,") == 1
    markdown = (out / "report.md").read_text()
    assert "(points/C=1.0/report.md)" in markdown
    text = closing_table(first, "accuracy")
    assert "pixels + logistic" in text and "1e-05" in text and "sweep.csv" in text


def test_report_rebuilds_from_the_files(swept):
    _, out, _, _ = swept
    before = (out / "sweep.csv").read_text()
    (out / "sweep.csv").unlink()
    (out / "report.html").unlink()
    paths = build_sweep_report(out)
    assert paths["html"].is_file() and (out / "sweep.csv").read_text() == before


def test_transfer_report_on_a_sweep_rebuilds_the_points_and_the_curve(swept, monkeypatch):
    _, out, _, _ = swept
    monkeypatch.setattr("transfer.report.plots.figure_to_png", lambda fig, dpi=110: PNG)
    point = out / "points" / "C=1.0"
    (point / "report.md").unlink()
    (out / "report.md").unlink()
    result = CliRunner().invoke(main, ["report", str(out)])
    assert result.exit_code == 0, result.output
    assert (point / "report.md").is_file() and (out / "report.md").is_file()
    assert str(out / "report.html") in result.output


# -- folders ------------------------------------------------------------------------


def test_points_no_longer_swept_are_removed_with_the_old_sweep(swept, tmp_path, monkeypatch):
    _, out, _, _ = swept
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    (copy / "points" / "C=1e-05" / "notes.txt").write_text("mine")
    monkeypatch.setattr("transfer.report.plots.figure_to_png", lambda fig, dpi=110: PNG)
    result = run_recipe(load(tmp_path / "cache", overrides=["sweep.values=[0.5, 2.0]"]), copy)
    # C=1.0 is gone; C=1e-05 holds a file of the user's: kept, and the points folder
    # no longer claimed
    assert sorted(p.name for p in (copy / "points").iterdir()) == ["C=0.5", "C=1e-05", "C=2.0"]
    assert "points" not in json.loads((copy / MARKER).read_text())["files"]
    assert list(result.sweep["C"]) == [0.5, 2.0]
    # so the next run must be told (--force) that the folder holds the user's files
    with pytest.raises(OutputFolderError, match=r"files that transfer did not write \(points\)"):
        plan_run(load(tmp_path / "cache"), copy)


def test_dry_run_plans_every_point(tmp_path):
    plan = plan_run(load(tmp_path / "cache"), tmp_path / "out")
    assert [label for label in plan.summary().splitlines()[1:]] == [
        f"  {p}: sklearn_digits: 45 images, 3 classes; 1 extractors (pixels) x 1 heads "
        f"(logistic) x 3 folds (classification) = 3 cells, 0 cached"
        for p in ("C=1e-05", "C=1.0")
    ]
    assert not (tmp_path / "out").exists()


def test_a_folder_transfer_did_not_write_is_refused(tmp_path):
    out = tmp_path / "out"
    (out / "points" / "C=1.0").mkdir(parents=True)
    (out / "points" / "C=1.0" / "notes.txt").write_text("mine")
    with pytest.raises(OutputFolderError, match="transfer did not write it"):
        plan_run(load(tmp_path / "cache"), out)
    # a sweep folder of transfer's, with the user's file in one of its points
    (out / MARKER).write_text(json.dumps({"tool": "transfer", "files": ["points"]}))
    refused = r"sweep point C=1.0: --out \S*C=1.0: the folder exists and is not empty"
    with pytest.raises(RecipeError, match=refused):
        plan_run(load(tmp_path / "cache"), out)
    (out / "sweep.csv").write_text("mine")
    with pytest.raises(OutputFolderError, match=r"would overwrite sweep\.csv"):
        plan_run(load(tmp_path / "cache"), out, force=True)
    assert (out / "sweep.csv").read_text() == "mine"
    assert (out / "points" / "C=1.0" / "notes.txt").read_text() == "mine"
