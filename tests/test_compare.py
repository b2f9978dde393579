"""``transfer compare``: results folders side by side (library and command)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.test_report_headline import SCORES, write_run
from transfer.report.compare import compare_runs, render_compare_markdown, write_comparison
from transfer_cli.compare import compare

# the second run: cnn + svm gains 2 points on every fold, lbp + knn is not run,
# and a new handcrafted cell appears
SECOND = {cell: [v + 0.02 for v in values] for cell, values in SCORES.items()}
del SECOND["lbp", "knn"]
SECOND["gabor", "svm"] = [0.5, 0.52, 0.51, 0.5, 0.49]
SECOND_KINDS = {
    "cnn": "learned",
    "lbp": "handcrafted",
    "hog": "handcrafted",
    "gabor": "handcrafted",
}


@pytest.fixture
def runs(tmp_path):
    a = write_run(tmp_path / "a" / "run")
    b = write_run(tmp_path / "b" / "run", SECOND, SECOND_KINDS)
    return a, b


def test_compare_rows_columns_and_deltas(runs):
    cmp = compare_runs(runs)
    assert cmp.labels == ["a/run", "b/run"]  # same folder names: parents added
    table = cmp.table.set_index(["extractor", "head"])
    # learned first, then handcrafted; within a kind the first run's best first;
    # the cell only the second run has comes last
    assert list(table.index) == [
        ("cnn", "svm"),
        ("cnn", "knn"),
        ("lbp", "svm"),
        ("hog", "svm"),
        ("lbp", "knn"),
        ("hog", "knn"),
        ("gabor", "svm"),
    ]
    delta = "Δ b/run - a/run (points)"
    assert table.loc[("cnn", "svm"), "a/run"] == "0.920 ± 0.016"
    assert table.loc[("cnn", "svm"), "b/run"] == "0.940 ± 0.016"
    assert table.loc[("cnn", "svm"), delta] == "+2.0"
    assert table.loc[("lbp", "knn"), "b/run"] == "" and table.loc[("lbp", "knn"), delta] == ""
    assert table.loc[("gabor", "svm"), "a/run"] == ""
    assert table.loc[("gabor", "svm"), "kind"] == "handcrafted"
    assert cmp.means.loc[("hog", "svm"), "b/run"] == pytest.approx(0.824)
    # each run's within-noise cells are marked, and its headline is there
    assert cmp.marked["a/run"] == {("cnn", "svm"), ("cnn", "knn")}
    assert cmp.headlines["a/run"].startswith("Best learned vs best handcrafted: Δ = +6.0 points")
    md = render_compare_markdown(cmp)
    assert "| **0.920 ± 0.016** | **0.940 ± 0.016** |" in md


def test_compare_writes_both_pages(runs, tmp_path):
    paths = write_comparison(runs, tmp_path / "out")
    page = paths["html"].read_text(encoding="utf-8")
    assert "Content-Security-Policy" in page and "<script" not in page
    assert 'class="kind-learned"' in page and "0.940 ± 0.016" in page
    md = paths["markdown"].read_text(encoding="utf-8")
    assert md.startswith("# Comparison of 2 runs: accuracy")


def test_compare_refuses_a_run_without_the_metric(runs, tmp_path):
    other = write_run(tmp_path / "other")
    meta = json.loads((other / "meta.json").read_text())
    results = (other / "results.csv").read_text().replace("accuracy", "rank1")
    (other / "results.csv").write_text(results)
    meta["protocol"].update(metrics=["rank1"], primary_metric="rank1")
    (other / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"'.*other' has no metric 'accuracy'; it has \['rank1'\]"):
        compare_runs([runs[0], other])
    cmp = compare_runs([other, other])  # the same folder twice: still two columns
    assert cmp.labels == ["other (1)", "other (2)"]


def test_cli_compare(runs, tmp_path):
    runner = CliRunner()
    result = runner.invoke(compare, [str(runs[0]), str(runs[1])])
    assert result.exit_code == 0, result.output
    assert "| cnn " in result.output and "+2.0" in result.output
    out = tmp_path / "cmp"
    result = runner.invoke(compare, [str(runs[0]), str(runs[1]), "--out", str(out)])
    assert result.exit_code == 0 and (out / "compare.html").is_file()
    assert result.output.splitlines() == [str(out / "compare.html"), str(out / "compare.md")]


def test_cli_compare_names_a_folder_that_is_not_a_results_folder(runs, tmp_path):
    stray = tmp_path / "photos"
    stray.mkdir()
    result = CliRunner().invoke(compare, [str(runs[0]), str(stray)])
    assert result.exit_code == 2
    assert f"error: '{stray}' is not a results folder: meta.json is missing" in result.output
    result = CliRunner().invoke(compare, [str(runs[0]), str(tmp_path / "nope")])
    assert result.exit_code == 2 and "nope" in result.output and "does not exist" in result.output
