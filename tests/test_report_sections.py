"""Tests for the report's section registry and the results-folder contract it reads.

The report knows no protocol or head by name: sections come from
``meta["protocol"]["sections"]`` (or the curve files of older folders), the
binary-code table from the heads' tags, the protocol card from
``meta["protocol"]["description"]``; failed cells are listed in a warning
box and left out of the means.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import transfer.report
from tests.test_report import make_results_dir
from tests.test_report_verification import make_verification_dir
from transfer.report import build_report, load_results
from transfer.report.sections import (
    Section,
    list_sections,
    register_section,
    unregister_section,
)

REPORT_DIR = Path(transfer.report.__file__).parent


def _meta(folder: Path) -> dict:
    return json.loads((folder / "meta.json").read_text(encoding="utf-8"))


def _write_meta(folder: Path, meta: dict) -> None:
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")


def _h2_ids(page: str) -> list[str]:
    return re.findall(r'<h2 id="([^"]+)"', page)


# ---------------------------------------------------------------------------
# No protocol or head names in transfer/report
# ---------------------------------------------------------------------------


def _name_literals(source: str, names: set[str]) -> list[tuple[int, str]]:
    """(line, name) of each string literal in ``source`` that is, or quotes, a name.

    A literal equal to a name (``"verification"``) counts, and so does a name
    quoted inside a longer literal (``"... 'joint_bayesian' ..."``) or in an
    f-string's constant parts.
    """
    found = []
    quoted = re.compile(r"""["'`]({})["'`]""".format("|".join(map(re.escape, sorted(names)))))
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value in names:
                found.append((node.lineno, node.value))
            else:
                found += [(node.lineno, m.group(1)) for m in quoted.finditer(node.value)]
    return found


def test_name_scanner_finds_planted_names():
    names = {"verification", "joint_bayesian"}
    source = (
        'A = "verification"\n'
        "B = f\"head {x} is 'joint_bayesian'\"\n"
        'C = "joint_bayesianish and verification prose"\n'
        "def f():\n    '''Docstring about verification.'''\n"
    )
    assert _name_literals(source, names) == [(1, "verification"), (2, "joint_bayesian")]


def test_report_sources_name_no_protocol_or_head():
    from transfer._registry import HEADS, PROTOCOLS
    from transfer.registry import load_components

    load_components()
    names = set(PROTOCOLS.names()) | set(HEADS.names())
    assert {"verification", "identification", "joint_bayesian", "hamming_verifier"} <= names
    sources = sorted(REPORT_DIR.glob("*.py"))
    assert len(sources) >= 6  # __init__, html, markdown, plots, tables, sections, ...
    hits = {
        p.name: _name_literals(p.read_text(encoding="utf-8"), names)
        for p in sources
        if _name_literals(p.read_text(encoding="utf-8"), names)
    }
    assert not hits, f"transfer/report names protocols or heads: {hits}"


# ---------------------------------------------------------------------------
# The registry: a protocol can add its own section
# ---------------------------------------------------------------------------


@pytest.fixture
def dummy_section():
    calls = []

    def notes(report, metric):
        return [f"Dummy note on {metric}."] if metric == report.primary else []

    @register_section("dummy", title="Dummy <plots>", order=65, metric_notes=notes)
    def render(report):
        calls.append(report.results_dir)
        n = len(report.summary)
        return Section(
            html=f'<p id="dummy-body">{n} pairs &amp; more</p>',
            markdown=f"Dummy body: {n} pairs.",
            plots=("dummy plot",),
        )

    try:
        yield calls
    finally:
        unregister_section("dummy")


def test_a_registered_section_renders_when_the_protocol_asks(tmp_path, dummy_section):
    folder = make_results_dir(tmp_path / "run", extractors=("hog", "lbp"), heads=("knn",))
    meta = _meta(folder)
    meta["protocol"]["sections"] = ["cmc", "dummy"]
    _write_meta(folder, meta)
    assert "dummy" in list_sections()

    paths = build_report(folder)
    page = paths["html"].read_text(encoding="utf-8")
    assert dummy_section == ["run"]  # rendered once for both files
    # page order: cmc (60) < dummy (65) < confusion (70); the title is escaped
    ids = _h2_ids(page)
    assert ids.index("cmc") < ids.index("dummy") < ids.index("confusion")
    assert (
        '<h2 id="dummy">Dummy &lt;plots&gt;</h2><p id="dummy-body">2 pairs &amp; more</p>' in page
    )
    assert '<a href="#dummy">Dummy &lt;plots&gt;</a>' in page
    assert page.count("Dummy note on rank1.") == 1  # under the primary metric only

    md = paths["markdown"].read_text(encoding="utf-8")
    assert "## Dummy \\<plots>\n\nDummy body: 2 pairs." in md  # shown as typed
    assert "dummy plot" in md.split("\n\n")[2]  # the plots line at the top
    assert json.loads(paths["summary_json"].read_text())["sections"] == ["cmc", "dummy"]


def test_a_registered_section_stays_out_unless_asked(tmp_path, dummy_section):
    folder = make_results_dir(tmp_path / "run", extractors=("hog",), heads=("knn",))
    page = build_report(folder)["html"].read_text(encoding="utf-8")
    assert dummy_section == []
    assert 'id="dummy"' not in page and "Dummy note" not in page
    assert "cmc" in _h2_ids(page)


def test_unregistered_section_warns_and_is_left_out(tmp_path):
    folder = make_results_dir(tmp_path / "run", extractors=("hog",), heads=("knn",))
    meta = _meta(folder)
    meta["protocol"]["sections"] = ["cmc", "no_such_section"]
    _write_meta(folder, meta)
    with pytest.warns(UserWarning, match="no_such_section"):
        page = build_report(folder)["html"].read_text(encoding="utf-8")
    assert "no_such_section" not in page and "cmc" in _h2_ids(page)


def test_bad_sections_value_names_meta_json(tmp_path):
    folder = make_results_dir(tmp_path / "run", extractors=("hog",), heads=("knn",))
    meta = _meta(folder)
    meta["protocol"]["sections"] = "roc"
    _write_meta(folder, meta)
    with pytest.raises(ValueError, match=r"meta\.json.*protocol\.sections"):
        load_results(folder)


def test_reregistering_a_section_warns(dummy_section):
    with pytest.warns(UserWarning, match="'dummy' was registered again"):

        @register_section("dummy", title="Other", order=1)
        def other(report):
            return None


# ---------------------------------------------------------------------------
# Older folders: sections from the curve files present
# ---------------------------------------------------------------------------


def test_sections_are_inferred_from_files_without_protocol_sections(tmp_path):
    ident = make_results_dir(tmp_path / "id", extractors=("hog",), heads=("knn",))
    meta = _meta(ident)
    del meta["protocol"]["sections"]
    _write_meta(ident, meta)
    assert load_results(ident).sections == ["cmc"]
    (ident / "cmc.csv").unlink()
    assert load_results(ident).sections == []
    page = build_report(ident)["html"].read_text(encoding="utf-8")
    assert "CMC" not in page  # nothing promised it

    ver = make_verification_dir(tmp_path / "ver", extractors=("a",))
    meta = _meta(ver)
    del meta["protocol"]["sections"]
    _write_meta(ver, meta)
    assert load_results(ver).sections == ["roc", "scores"]  # page order
    (ver / "scores.csv").unlink()
    page = build_report(ver)["html"].read_text(encoding="utf-8")
    assert "roc" in _h2_ids(page) and "scores" not in _h2_ids(page)


# ---------------------------------------------------------------------------
# Failed cells
# ---------------------------------------------------------------------------


def _fail(folder: Path, cells: dict[tuple[str, str, int], str]) -> pd.DataFrame:
    results = pd.read_csv(folder / "results.csv")
    results["status"] = "ok"
    results["error"] = ""
    for (ext, head, fold), error in cells.items():
        hit = (results.extractor == ext) & (results["head"] == head) & (results.fold == fold)
        assert hit.sum() == 1
        results.loc[hit, ["rank1", "fit_seconds"]] = np.nan
        results.loc[hit, "status"] = "failed"
        results.loc[hit, "error"] = error
    results.to_csv(folder / "results.csv", index=False)
    return results


def test_failed_cells_are_listed_and_left_out_of_the_means(tmp_path):
    folder = make_results_dir(tmp_path / "run", extractors=("hog", "lbp"), heads=("knn", "svm"))
    results = _fail(
        folder,
        {
            ("lbp", "svm", 1): "MemoryError: <cannot> allocate 3.2 GiB",
            ("hog", "knn", 0): "ValueError: n_neighbors=5 > n_samples=3",
        },
    )
    paths = build_report(folder)

    summary = pd.read_csv(paths["summary_csv"])
    row = summary[(summary.extractor == "lbp") & (summary["head"] == "svm")].iloc[0]
    ok = results[(results.extractor == "lbp") & (results["head"] == "svm") & (results.fold != 1)]
    assert row["n_folds"] == 2 and row["n_failed"] == 1
    assert row["rank1_mean"] == pytest.approx(ok["rank1"].mean())
    assert row["rank1_std"] == pytest.approx(ok["rank1"].std(ddof=1))
    assert row["fit_seconds_mean"] == pytest.approx(ok["fit_seconds"].mean())
    clean = summary[(summary.extractor == "lbp") & (summary["head"] == "knn")].iloc[0]
    assert clean["n_folds"] == 3 and clean["n_failed"] == 0

    page = paths["html"].read_text(encoding="utf-8")
    box = page.split('<div class="warning" id="failed"')[1].split("</div></div>")[0]
    # above everything else, right under the header
    assert page.index('id="failed"') < page.index('class="callout"') < page.index('id="results"')
    assert "2 of 12 cells failed; they are left out of every mean." in box
    assert "MemoryError: &lt;cannot&gt; allocate 3.2 GiB" in box
    assert box.index("hog") < box.index("n_neighbors=5")  # file order: hog/knn first
    assert "2 (1 failed)" in page  # the folds column of the ranked table

    md = paths["markdown"].read_text(encoding="utf-8")
    assert "> **Warning:** 2 of 12 cells failed" in md
    assert md.index("## Failed cells") < md.index("## Results")

    data = json.loads(paths["summary_json"].read_text(encoding="utf-8"))
    assert data["failed"] == [
        {
            "extractor": "hog",
            "head": "knn",
            "fold": 0,
            "error": "ValueError: n_neighbors=5 > n_samples=3",
        },
        {
            "extractor": "lbp",
            "head": "svm",
            "fold": 1,
            "error": "MemoryError: <cannot> allocate 3.2 GiB",
        },
    ]


def test_a_pair_with_every_fold_failed_stays_in_the_summary(tmp_path):
    folder = make_results_dir(tmp_path / "run", extractors=("hog", "lbp"), heads=("knn",))
    _fail(folder, {("lbp", "knn", f): "boom" for f in range(3)})
    paths = build_report(folder)
    summary = pd.read_csv(paths["summary_csv"])
    last = summary.iloc[-1]
    assert (last["extractor"], last["n_folds"], last["n_failed"]) == ("lbp", 0, 3)
    assert np.isnan(last["rank1_mean"])
    assert tuple(summary.iloc[0][["extractor", "head"]]) == ("hog", "knn")
    assert "3 of 6 cells failed" in paths["html"].read_text(encoding="utf-8")


def test_no_status_column_means_all_ok_and_no_box(tmp_path):
    folder = make_results_dir(tmp_path / "run", extractors=("hog",), heads=("knn",))
    paths = build_report(folder)
    assert 'id="failed"' not in paths["html"].read_text(encoding="utf-8")
    assert json.loads(paths["summary_json"].read_text())["failed"] == []


def test_unknown_status_is_named(tmp_path):
    folder = make_results_dir(tmp_path / "run", extractors=("hog",), heads=("knn",))
    results = pd.read_csv(folder / "results.csv")
    results["status"] = ["ok", "skipped", "ok"]
    results.to_csv(folder / "results.csv", index=False)
    with pytest.raises(ValueError, match=r"results\.csv.*'status'.*skipped"):
        load_results(folder)


# ---------------------------------------------------------------------------
# Footer, description and provenance come from meta.json
# ---------------------------------------------------------------------------


@pytest.mark.slow  # a recipe run and its report (3 s)
def test_footer_names_the_final_folder_not_the_temporary_one(tmp_path):
    folder = make_results_dir(tmp_path / ".orl.tmp-x1y2", extractors=("hog",), heads=("knn",))
    meta = _meta(folder)
    meta["results_dir"] = "results/orl"
    _write_meta(folder, meta)
    paths = build_report(folder)
    page = paths["html"].read_text(encoding="utf-8")
    footer = page.split("<footer>")[1].split("</footer>")[0]
    assert "<code>results/orl</code>" in footer
    for text in (page, paths["markdown"].read_text(), paths["summary_json"].read_text()):
        assert "tmp-x1y2" not in text

    del meta["results_dir"]
    _write_meta(folder, meta)
    page = build_report(folder)["html"].read_text(encoding="utf-8")
    assert "<code>.orl.tmp-x1y2</code>" in page.split("<footer>")[1]


@pytest.mark.slow  # a recipe run and its report (3 s)
def test_protocol_card_comes_from_meta_not_the_recipe(tmp_path):
    folder = make_results_dir(tmp_path / "run", extractors=("hog",), heads=("knn",), n_folds=3)
    # the recipe asked for 5 splits; the run resolved 3: the card shows the run
    recipe = (folder / "recipe.yaml").read_text().replace("n_splits: 3", "n_splits: 5")
    (folder / "recipe.yaml").write_text(recipe + "description: from the recipe text\n")
    meta = _meta(folder)
    meta["protocol"]["description"] = "Resolved: 3-fold <stratified> split."
    meta["dataset"]["split_counts"] = {"train": 267, "test": 133}
    _write_meta(folder, meta)
    paths = build_report(folder)
    page = paths["html"].read_text(encoding="utf-8")
    card = page.split("<h3>Protocol</h3>")[1].split("</div>")[0]
    assert '<p class="description">Resolved: 3-fold &lt;stratified&gt; split.</p>' in card
    assert "<dt>n_splits</dt><dd>3</dd>" in card and "<dt>folds</dt><dd>3</dd>" in card
    assert "from the recipe text" not in card
    dataset = page.split("<h3>Dataset</h3>")[1].split("</div>")[0]
    assert "<dt>train images</dt><dd>267</dd>" in dataset
    md = paths["markdown"].read_text(encoding="utf-8")
    assert "Resolved: 3-fold \\<stratified> split." in md.split("## Protocol")[1]


def test_components_and_provenance_are_shown(tmp_path):
    folder = make_results_dir(tmp_path / "run", extractors=("hog",), heads=("knn",))
    meta = _meta(folder)
    meta["extractors"]["hog"]["tags"] = {"kind": "handcrafted"}
    meta.update(
        command="transfer run recipes/orl.yaml --folds 3",
        version="0.4.0",
        git_commit="c190f09abc",
        weights={"mobilenet_v3_small.h5": "ab" * 32},
        cells={"total": 3, "computed": 2, "cached": 1, "failed": 0},
    )
    _write_meta(folder, meta)
    paths = build_report(folder)
    page = paths["html"].read_text(encoding="utf-8")
    env = page.split('<h2 id="environment">')[1].split("<h2")[0]
    assert "<dt>command</dt><dd>transfer run recipes/orl.yaml --folds 3</dd>" in env
    assert "<dt>git commit</dt><dd>c190f09abc</dd>" in env
    assert "<dt>cells</dt><dd>3 total (2 computed, 1 cached, 0 failed)</dd>" in env
    assert "mobilenet_v3_small.h5" in env and "ab" * 32 in env
    assert "<dt>hog</dt><dd>hog (handcrafted)</dd>" in page
    md = paths["markdown"].read_text(encoding="utf-8")
    assert "| transfer version | 0.4.0" in md and "### Weights" in md
