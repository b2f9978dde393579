"""The run engine: results folders that never cost a user's files, resumable
runs from the cell cache, failed cells, progress, and a protocol added through
the registry alone."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import tests.engine_heads  # noqa: F401 - registers counting_knn
from transfer._progress import PhaseProgress
from transfer.recipes import load_recipe_text, run_recipe
from transfer.recipes.output import MARKER, OutputFolderError, plan_output
from transfer.recipes.runner import TIMING_COLUMNS, plan_run
from transfer_cli.main import main

REPO = Path(__file__).resolve().parents[1]


def recipe_text(cache: Path, *, k: int = 3, n_repeats: int = 3, protocol: str = "") -> str:
    protocol = protocol or (
        f"{{name: identification, params: {{n_train: 4, n_repeats: {n_repeats}}}}}"
    )
    return textwrap.dedent(
        f"""
        name: engine
        data: {{dataset: sklearn_digits, max_classes: 4, max_per_class: 12}}
        extractors: [pixels]
        heads:
          - {{name: counting_knn, label: nn1, params: {{n_neighbors: 1}}}}
          - {{name: counting_knn, label: nnk, params: {{n_neighbors: {k}}}}}
        protocol: {protocol}
        cache: {{dir: {cache}}}
        """
    )


@pytest.fixture
def fit_log(tmp_path, monkeypatch):
    log = tmp_path / "fits.log"
    monkeypatch.setenv("TRANSFER_TEST_FIT_LOG", str(log))
    monkeypatch.delenv("TRANSFER_TEST_KILL_AT", raising=False)
    monkeypatch.delenv("TRANSFER_TEST_FAIL_AT", raising=False)

    def count() -> int:
        return len(log.read_text().splitlines()) if log.exists() else 0

    return count


def _run(text: str, out: Path, **kwargs):
    return run_recipe(load_recipe_text(text, "engine.yaml"), out, **kwargs)


def _results(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "results.csv").drop(columns=list(TIMING_COLUMNS))


# -- the results folder ----------------------------------------------------------


def test_existing_folder_with_user_files_is_refused_and_untouched(tmp_path, fit_log):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    with pytest.raises(OutputFolderError, match=r"not empty.*--force"):
        _run(recipe_text(tmp_path / "cache"), out)
    assert (out / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]
    assert fit_log() == 0  # refused before any work
    assert not list(tmp_path.glob(".mine.tmp-*"))


def test_force_adds_results_beside_user_files_and_never_overwrites_them(tmp_path, fit_log):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    _run(recipe_text(tmp_path / "cache"), out, force=True)
    assert (out / "notes.txt").read_text() == "keep me"
    assert (out / "results.csv").exists() and (out / MARKER).exists()
    # a user's file with the name of a result is never overwritten
    clash = tmp_path / "clash"
    clash.mkdir()
    (clash / "results.csv").write_text("my own results")
    with pytest.raises(OutputFolderError, match=r"would overwrite results\.csv"):
        _run(recipe_text(tmp_path / "cache"), clash, force=True)
    assert (clash / "results.csv").read_text() == "my own results"
    assert sorted(p.name for p in clash.iterdir()) == ["results.csv"]


def test_a_folder_transfer_wrote_is_replaced_but_not_if_it_holds_user_files(tmp_path, fit_log):
    out = tmp_path / "res"
    _run(recipe_text(tmp_path / "cache"), out)
    first = json.loads((out / MARKER).read_text())
    assert first["tool"] == "transfer" and "results.csv" in first["files"]
    _run(recipe_text(tmp_path / "cache"), out)  # ours only: replaced
    (out / "my-plot.png").write_bytes(b"user")
    with pytest.raises(OutputFolderError, match=r"my-plot\.png"):
        _run(recipe_text(tmp_path / "cache"), out)
    assert (out / "my-plot.png").read_bytes() == b"user"


@pytest.mark.slow  # a recipe run with a file dropped in mid-run (3 s); the folder-safety test stays
def test_a_file_added_to_the_results_folder_during_a_run_survives(tmp_path, fit_log, monkeypatch):
    import transfer.report

    out = tmp_path / "res"
    _run(recipe_text(tmp_path / "cache"), out)
    real = transfer.report.build_report

    def user_writes_meanwhile(folder):
        (out / "late.txt").write_text("written while the run was going")
        return real(folder)

    monkeypatch.setattr(transfer.report, "build_report", user_writes_meanwhile)
    _run(recipe_text(tmp_path / "cache", k=5), out)
    assert (out / "late.txt").read_text() == "written while the run was going"
    meta = json.loads((out / "meta.json").read_text())
    assert meta["heads"]["nnk"]["params"]["n_neighbors"] == 5  # the new results are in place


def test_out_is_a_file_or_unwritable(tmp_path, monkeypatch):
    a_file = tmp_path / "results.txt"
    a_file.write_text("x")
    with pytest.raises(OutputFolderError, match="not a folder"):
        plan_output(a_file)
    with pytest.raises(OutputFolderError, match="is a file"):
        plan_output(a_file / "sub")
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if Path(p) == locked else real_access(p, mode)
    )
    with pytest.raises(OutputFolderError, match="not writable"):
        plan_output(locked / "new")


def test_out_dot_is_refused_before_any_work(tmp_path, monkeypatch, fit_log):
    work = tmp_path / "project"
    work.mkdir()
    (work / "data.csv").write_text("1,2\n")
    recipe = tmp_path / "engine.yaml"
    recipe.write_text(recipe_text(tmp_path / "cache"))
    monkeypatch.chdir(work)
    result = CliRunner().invoke(main, ["run", str(recipe), "--out", "."])
    assert result.exit_code == 2
    assert "not empty" in result.output and "--force" in result.output
    assert sorted(p.name for p in work.iterdir()) == ["data.csv"]
    assert fit_log() == 0


def test_results_folder_follows_the_umask(tmp_path, fit_log):
    old = os.umask(0o022)
    try:
        _run(recipe_text(tmp_path / "cache"), tmp_path / "res")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "res").stat().st_mode) == 0o755


# -- the cell cache ---------------------------------------------------------------


def test_second_run_reads_every_cell_and_equals_the_first(tmp_path, fit_log):
    text = recipe_text(tmp_path / "cache")
    first = _run(text, tmp_path / "a")
    assert fit_log() == 6  # 1 extractor x 2 heads x 3 folds
    second = _run(text, tmp_path / "b")
    assert fit_log() == 6  # nothing refitted
    assert second.n_cached == 6 and first.n_cached == 0
    meta = json.loads((tmp_path / "b" / "meta.json").read_text())
    assert meta["cells"] == {"total": 6, "cached": 6, "computed": 0, "failed": 0}
    pd.testing.assert_frame_equal(_results(tmp_path / "a"), _results(tmp_path / "b"))
    for name in ("predictions.csv", "cmc.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    # the extractor was not even run: its features were not needed
    extraction = pd.read_csv(tmp_path / "b" / "extraction.csv")
    assert extraction["n_images"].tolist() == [0]


@pytest.mark.slow  # two recipe runs (4 s)
def test_changing_one_head_parameter_recomputes_only_that_head(tmp_path, fit_log):
    _run(recipe_text(tmp_path / "cache", k=3), tmp_path / "a")
    assert fit_log() == 6
    result = _run(recipe_text(tmp_path / "cache", k=5), tmp_path / "b")
    assert fit_log() == 9  # the 3 folds of 'nnk' only
    assert result.n_cached == 3


def test_knn_k_changes_identification_results(tmp_path, fit_log):
    result = _run(recipe_text(tmp_path / "cache", k=5), tmp_path / "a")
    ranks = result.results.pivot(index="fold", columns="head", values="rank1")
    assert not np.allclose(ranks["nn1"], ranks["nnk"])


def test_damaged_cell_entry_is_recomputed_with_a_warning(tmp_path, fit_log):
    text = recipe_text(tmp_path / "cache")
    _run(text, tmp_path / "a")
    entry = sorted((tmp_path / "cache" / "cells").rglob("*.npz"))[0]
    blob = bytearray(entry.read_bytes())
    blob[-30] ^= 0xFF
    entry.write_bytes(bytes(blob))
    with pytest.warns(RuntimeWarning, match=re.escape(entry.name)):
        result = _run(text, tmp_path / "b")
    assert fit_log() == 7 and result.n_cached == 5
    pd.testing.assert_frame_equal(_results(tmp_path / "a"), _results(tmp_path / "b"))


def _subprocess_run(recipe: Path, out: Path, env: dict) -> subprocess.CompletedProcess:
    code = textwrap.dedent(
        f"""
        import tests.engine_heads
        from transfer.recipes import load_recipe, run_recipe
        run_recipe(load_recipe({str(recipe)!r}), {str(out)!r})
        """
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow  # two runs in subprocesses (8 s)
def test_a_run_killed_by_sigkill_resumes_and_equals_an_uninterrupted_run(tmp_path, fit_log):
    recipe = tmp_path / "engine.yaml"
    recipe.write_text(recipe_text(tmp_path / "cache", n_repeats=4))  # 8 cells
    killed = _subprocess_run(recipe, tmp_path / "res", {"TRANSFER_TEST_KILL_AT": "5"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert fit_log() == 5 and not (tmp_path / "res").exists()
    resumed = run_recipe(load_recipe_text(recipe.read_text(), str(recipe)), tmp_path / "res")
    assert resumed.n_cached == 4  # the 5th fit was killed before its cell was stored
    assert fit_log() == 5 + 4
    # the staging folder the killed process left is removed by the next run
    assert not list(tmp_path.glob(".res.tmp-*"))
    fresh = recipe_text(tmp_path / "other-cache", n_repeats=4)
    _run(fresh, tmp_path / "fresh")
    pd.testing.assert_frame_equal(_results(tmp_path / "res"), _results(tmp_path / "fresh"))
    for name in ("predictions.csv", "cmc.csv"):
        assert (tmp_path / "res" / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes()


@pytest.mark.slow  # a few seconds; a faster sibling covers the default suite
def test_sigterm_cleans_up_like_ctrl_c(tmp_path, fit_log):
    recipe = tmp_path / "engine.yaml"
    recipe.write_text(recipe_text(tmp_path / "cache", n_repeats=200))
    code = textwrap.dedent(
        f"""
        import time, tests.engine_heads
        from tests.engine_heads import CountingKNN
        fit = CountingKNN.fit
        def slow(self, X, y):
            time.sleep(0.05)
            return fit(self, X, y)
        CountingKNN.fit = slow
        from transfer.recipes import load_recipe, run_recipe
        run_recipe(load_recipe({str(recipe)!r}), {str(tmp_path / "res")!r})
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while fit_log() < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert not list(tmp_path.glob(".res.tmp-*")) and not (tmp_path / "res").exists()


def test_stale_staging_of_a_live_process_is_kept(tmp_path, fit_log):
    live = tmp_path / ".res.tmp-live"
    live.mkdir()
    (live / ".transfer-staging.json").write_text(
        json.dumps({"pid": os.getpid(), "host": os.uname().nodename})
    )
    foreign = tmp_path / ".res.tmp-not-ours"
    foreign.mkdir()
    _run(recipe_text(tmp_path / "cache"), tmp_path / "res")
    assert live.exists() and foreign.exists()


# -- failures, progress, checks before work ----------------------------------------


def test_a_failing_cell_is_recorded_and_the_run_completes(tmp_path, fit_log, monkeypatch):
    monkeypatch.setenv("TRANSFER_TEST_FAIL_AT", "2")
    result = _run(recipe_text(tmp_path / "cache"), tmp_path / "res")
    assert result.n_failed == 1
    table = pd.read_csv(tmp_path / "res" / "results.csv")
    failed = table[table["status"] == "failed"]
    assert len(failed) == 1 and "planned failure" in failed["error"].iloc[0]
    assert "head 'nn1'" in failed["error"].iloc[0]
    assert table.loc[table["status"] == "ok", "rank1"].notna().all()
    # the failed cell was not cached: the next run retries it, and only it
    monkeypatch.delenv("TRANSFER_TEST_FAIL_AT")
    again = _run(recipe_text(tmp_path / "cache"), tmp_path / "res")
    assert again.n_failed == 0 and again.n_cached == 5


@pytest.mark.slow  # runs the CLI on a recipe (4 s)
def test_cli_exit_status_and_closing_table(tmp_path, fit_log, monkeypatch):
    recipe = tmp_path / "engine.yaml"
    recipe.write_text(recipe_text(tmp_path / "cache"))
    ok = CliRunner().invoke(main, ["run", str(recipe), "--out", str(tmp_path / "a")])
    assert ok.exit_code == 0, ok.output
    assert "rank1 (mean ± std over folds):" in ok.output
    assert re.search(r"best: pixels \+ nn[1k]: rank1 0\.\d{4}", ok.output)
    assert "elapsed" in ok.output and "report.html" in ok.output
    assert "\r" not in ok.output  # piped output: plain lines
    monkeypatch.setenv("TRANSFER_TEST_FAIL_AT", str(fit_log() + 1))
    failed = CliRunner().invoke(
        main, ["run", str(recipe), "--out", str(tmp_path / "b"), "--set", "seed=1"]
    )
    assert failed.exit_code == 1 and "1 cell(s) failed" in failed.output


def test_progress_lines_when_piped():
    lines: list[str] = []
    with PhaseProgress("heads on lbp", 4, say=lines.append, interval=0.0) as progress:
        for _ in range(4):
            progress.advance()
    assert lines[0].startswith("heads on lbp: 1/4 cells,") and "left" in lines[0]
    assert lines[-1].startswith("heads on lbp: 4/4 cells,")
    assert not any("\r" in line for line in lines)


def test_extraction_progress_lines_when_piped(tmp_path, fit_log, monkeypatch):
    import transfer._progress
    from transfer._config import config_context

    monkeypatch.setattr(transfer._progress, "LINE_INTERVAL", 0.0)
    lines: list[str] = []
    with config_context(progress=False, progress_lines=lines.append):
        _run(recipe_text(tmp_path / "cache"), tmp_path / "res")
    finished = [line for line in lines if re.match(r"\w+: 48/48 images, ", line)]
    assert finished, lines  # the extraction phase reported its end
    assert not any("\r" in line for line in lines)


def test_cell_cache_write_failure_warns_and_the_run_completes(tmp_path, fit_log, monkeypatch):
    import transfer.recipes.cells as cells

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cells, "atomic_write", full)
    with pytest.warns(RuntimeWarning, match="No space left on device"):
        result = _run(recipe_text(tmp_path / "cache"), tmp_path / "res")
    assert result.n_failed == 0 and len(result.results) == 6
    assert not list((tmp_path / "cache").rglob("cells/*/*.json"))


def test_report_describes_the_resolved_run(tmp_path, fit_log):
    text = recipe_text(
        tmp_path / "cache",
        protocol="{name: classification, params: {split: kfold, n_splits: 3}}",
    )
    recipe = load_recipe_text(
        text, "engine.yaml", ["protocol.split=shuffle", "protocol.test_size=0.5"]
    )
    run_recipe(recipe, tmp_path / "res")
    meta = json.loads((tmp_path / "res" / "meta.json").read_text())
    description = meta["protocol"]["description"]
    assert "3 stratified random splits with 50% test images" in description
    assert "shuffle" in (tmp_path / "res" / "report.html").read_text()


def test_dry_run_checks_the_extractor_parameters_against_the_images(tmp_path):
    text = recipe_text(tmp_path / "cache").replace(
        "extractors: [pixels]", "extractors: [{name: lbp, params: {grid: [20, 20]}}]"
    )
    recipe = tmp_path / "engine.yaml"
    recipe.write_text(text)
    result = CliRunner().invoke(main, ["run", str(recipe), "--dry-run"])
    assert result.exit_code == 2
    assert "extractor 'lbp' cannot run on the images" in result.output


def test_dry_run_names_unprepared_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFER_WEIGHTS", str(tmp_path / "no-weights"))
    monkeypatch.setenv("TRANSFER_WEIGHTS_PATH", str(tmp_path / "nothing"))
    text = recipe_text(tmp_path / "cache").replace(
        "extractors: [pixels]",
        "extractors: [{name: cnn, params: {weights: mobilenet_v2_1.0_224}}]",
    )
    recipe = tmp_path / "engine.yaml"
    recipe.write_text(text)
    result = CliRunner().invoke(main, ["run", str(recipe), "--dry-run"])
    assert result.exit_code == 2
    assert "transfer weights prepare mobilenet_v2_1.0_224" in result.output


def test_meta_and_predictions_trace_the_run(tmp_path, fit_log):
    _run(recipe_text(tmp_path / "cache"), tmp_path / "res", command="transfer run x")
    meta = json.loads((tmp_path / "res" / "meta.json").read_text())
    assert meta["command"] == "transfer run x"
    assert meta["version"] and meta["results_dir"].endswith("res")
    assert meta["protocol"]["sections"] == ["cmc"]
    assert "3 random split(s)" in meta["protocol"]["description"]
    assert meta["heads"]["nn1"]["params"]["n_neighbors"] == 1
    assert meta["extractors"]["pixels"]["tags"].get("kind") == "handcrafted"
    predictions = pd.read_csv(tmp_path / "res" / "predictions.csv")
    assert {"path", "true_name", "pred_name"} <= set(predictions.columns)
    class_names = meta["dataset"]["class_names"]
    expected = [str(class_names[k]) for k in predictions["y_true"]]
    assert predictions["true_name"].astype(str).tolist() == expected
    wrong = predictions[predictions["y_true"] != predictions["y_pred"]]
    assert (wrong["true_name"] != wrong["pred_name"]).all()


# -- a protocol added through the registry only -----------------------------------


def test_leave_one_out_identification_equals_a_by_hand_leave_one_out(tmp_path, fit_log):
    text = recipe_text(tmp_path / "cache", protocol="{name: loo_identification}")
    result = _run(text, tmp_path / "res")
    plan = plan_run(load_recipe_text(text, "engine.yaml"))
    X = plan.data.load().reshape(len(plan.data), -1)
    y = plan.targets
    hits = 0
    for i in range(len(y)):
        d = np.linalg.norm(X - X[i], axis=1)
        d[i] = np.inf
        hits += y[np.argmin(d)] == y[i]
    summary = result.summary.set_index("head")
    assert len(result.results) == 2 * len(y)  # one fold per image, two heads
    assert summary.loc["nn1", "rank1_mean"] == pytest.approx(hits / len(y))
    cmc = pd.read_csv(tmp_path / "res" / "cmc.csv")
    assert cmc["fold"].nunique() == len(y)


def test_engine_and_report_name_no_protocol_or_head():
    from transfer._registry import HEADS, PROTOCOLS
    from transfer.registry import load_components

    load_components()
    names = set(PROTOCOLS.names()) | set(HEADS.names())
    for folder in ("transfer/recipes", "transfer/report"):
        for path in (REPO / folder).glob("*.py"):
            source = path.read_text()
            for name in names:
                assert f'"{name}"' not in source and f"'{name}'" not in source, (path, name)
