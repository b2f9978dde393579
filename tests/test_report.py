"""Tests for transfer.report: tables, files written by build_report, and the HTML page."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transfer.report import build_report, load_results
from transfer.report.markdown import markdown_table
from transfer.report.tables import (
    best_pair,
    cmc_mean,
    confusion_matrix,
    format_duration,
    format_mean_std,
    pivot,
    summarize,
)

# ---------------------------------------------------------------------------
# Synthetic results folder (the runner's output contract)
# ---------------------------------------------------------------------------

RECIPE = """\
name: {name}
title: {title}
dataset:
  name: orl
protocol:
  name: {protocol}
  params: {{n_splits: {k}}}
extractors: [{extractors}]
heads: [{heads}]
seed: 0
"""


def make_results_dir(
    root: Path,
    protocol: str = "identification",
    extractors: tuple[str, ...] = ("hog", "lbp", "mobilenet_v3"),
    heads: tuple[str, ...] = ("knn", "logreg", "svm"),
    n_folds: int = 3,
    n_classes: int = 40,
    per_class: int = 10,
    with_cmc: bool = True,
    seed: int = 0,
    title: str = "ORL: handcrafted vs learned",
) -> Path:
    """Write a results folder like the runner's into ``root`` and return it.

    Accuracy grows with the extractor's and the head's position, so the last
    extractor with the last head is the best pair.
    """
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    metric = "rank1" if protocol == "identification" else "accuracy"
    class_names = [f"s{i + 1}" for i in range(n_classes)]
    n_images = n_classes * per_class
    n_test = n_images // n_folds
    results, preds, cmc, extraction = [], [], [], []
    for ei, ext in enumerate(extractors):
        extraction.append(
            {
                "extractor": ext,
                "n_images": n_images,
                "n_features": [1764, 59, 1024, 512][ei % 4],
                "seconds": 1.5 + ei,
                "images_per_second": n_images / (1.5 + ei),
                "cached": ei == 0,
            }
        )
        for hi, head in enumerate(heads):
            p_correct = 0.55 + 0.12 * ei + 0.04 * hi
            for fold in range(n_folds):
                y_true = rng.integers(0, n_classes, n_test)
                right = rng.random(n_test) < p_correct
                y_pred = np.where(right, y_true, rng.integers(0, n_classes, n_test))
                acc = float(np.mean(y_true == y_pred))
                results.append(
                    {
                        "extractor": ext,
                        "head": head,
                        "fold": fold,
                        metric: acc,
                        "n_train": n_images - n_test,
                        "n_test": n_test,
                        "fit_seconds": 0.01 * (hi + 1) * (ei + 1),
                        "predict_seconds": 0.002 * (hi + 1),
                    }
                )
                preds += [
                    {
                        "extractor": ext,
                        "head": head,
                        "fold": fold,
                        "index": fold * n_test + i,
                        "y_true": int(t),
                        "y_pred": int(p),
                    }
                    for i, (t, p) in enumerate(zip(y_true, y_pred, strict=True))
                ]
                if protocol == "identification" and with_cmc:
                    rates = acc + (1 - acc) * (1 - np.exp(-np.arange(n_classes) / 4.0))
                    cmc += [
                        {"extractor": ext, "head": head, "fold": fold, "rank": r + 1, "rate": v}
                        for r, v in enumerate(rates)
                    ]
    pd.DataFrame(results).to_csv(root / "results.csv", index=False)
    pd.DataFrame(preds).to_csv(root / "predictions.csv", index=False)
    pd.DataFrame(extraction).to_csv(root / "extraction.csv", index=False)
    if cmc:
        pd.DataFrame(cmc).to_csv(root / "cmc.csv", index=False)
    name = f"orl-{protocol}"
    meta = {
        "name": name,
        "title": title,
        "description": f"Synthetic {protocol} results: <not> a real run & only for tests.",
        "protocol": {
            "name": protocol,
            "params": {"n_splits": n_folds, "gallery_per_class": 1},
            "metrics": [metric],
            "primary_metric": metric,
            "n_folds": n_folds,
            "description": f"{n_folds}-fold stratified split, one gallery image per class.",
            # What the protocol asks the report for; a per-image protocol with
            # curves asks for "cmc", one without asks for nothing.
            "sections": ["cmc"] if metric == "rank1" else [],
            "item_file": "predictions.csv",
            "curve_files": ["cmc.csv"] if metric == "rank1" else [],
        },
        "extractors": {
            ext: {"name": ext, "params": {}, "tags": {"kind": "handcrafted"}} for ext in extractors
        },
        "heads": {head: {"name": head, "params": {}, "tags": {}} for head in heads},
        "dataset": {
            "name": "orl",
            "n_images": n_images,
            "n_classes": n_classes,
            "class_names": class_names,
            "transforms": ["grayscale", {"name": "resize", "size": [112, 92]}],
        },
        "seed": seed,
        "started": "2025-01-01T10:00:00+00:00",
        "finished": "2025-01-01T10:03:25+00:00",
        "duration_seconds": 205.4,
        "environment": {
            "python": "3.11.7",
            "platform": "Linux-6.1-x86_64",
            "packages": {
                "transfer": "0.1.0",
                "tensorflow": "2.17.0",
                "keras": "3.5.0",
                "scikit-learn": "1.6.1",
                "scikit-image": "0.24.0",
                "numpy": "2.1.0",
                "pandas": "2.2.3",
            },
            "cpu_count": 2,
        },
    }
    (root / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    (root / "recipe.yaml").write_text(
        RECIPE.format(
            name=name,
            title=title,
            protocol=protocol,
            k=n_folds,
            extractors=", ".join(extractors),
            heads=", ".join(heads),
        ),
        encoding="utf-8",
    )
    return root


# ---------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------


def _hand_results() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "extractor": ["hog", "hog", "hog", "cnn", "cnn", "cnn", "hog", "cnn"],
            "head": ["knn", "knn", "knn", "knn", "knn", "knn", "svm", "svm"],
            "fold": [0, 1, 2, 0, 1, 2, 0, 0],
            "accuracy": [0.5, 0.7, 0.6, 0.9, 1.0, 0.95, 0.8, 0.8],
            "fit_seconds": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
            "predict_seconds": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
        }
    )


def test_summarize_numbers_and_order():
    s = summarize(_hand_results(), ["accuracy"])
    assert list(s.columns) == [
        "extractor",
        "head",
        "n_folds",
        "n_failed",
        "accuracy_mean",
        "accuracy_std",
        "fit_seconds_mean",
        "predict_seconds_mean",
    ]
    # Sorted by mean accuracy, best first; the tie (0.8) keeps first-appearance order.
    assert list(zip(s["extractor"], s["head"], strict=True)) == [
        ("cnn", "knn"),
        ("hog", "svm"),
        ("cnn", "svm"),
        ("hog", "knn"),
    ]
    row = s.iloc[0]
    assert row["n_folds"] == 3
    assert row["accuracy_mean"] == pytest.approx(0.95)
    assert row["accuracy_std"] == pytest.approx(0.05)  # sample std of 0.9, 1.0, 0.95
    assert row["fit_seconds_mean"] == pytest.approx(5.0)
    assert row["predict_seconds_mean"] == pytest.approx(0.5)
    hog = s.iloc[3]
    assert hog["accuracy_mean"] == pytest.approx(0.6)
    assert hog["accuracy_std"] == pytest.approx(np.std([0.5, 0.7, 0.6], ddof=1))
    # A single fold has an undefined sample std: NaN, not 0.
    assert np.isnan(s.iloc[1]["accuracy_std"])
    assert s.iloc[1]["n_folds"] == 1


def test_summarize_rejects_duplicate_folds_and_missing_columns():
    r = _hand_results()
    with pytest.raises(ValueError, match="more than once"):
        summarize(pd.concat([r, r.iloc[:1]]), ["accuracy"])
    with pytest.raises(ValueError, match="rank1"):
        summarize(r, ["rank1"])


def test_pivot_formatting_and_best_pair():
    s = summarize(_hand_results(), ["accuracy"])
    table = pivot(s, "accuracy")
    assert list(table.index) == ["cnn", "hog"]
    assert list(table.columns) == ["knn", "svm"]
    assert table.loc["cnn", "knn"] == "0.950 ± 0.050"
    assert table.loc["hog", "knn"] == "0.600 ± 0.100"
    assert table.loc["hog", "svm"] == "0.800"  # one fold: no ±
    values = pivot(s, "accuracy", formatted=False)
    assert values.loc["cnn", "svm"] == pytest.approx(0.8)
    assert best_pair(s, "accuracy") == ("cnn", "knn")
    assert format_mean_std(0.95312, 0.01234) == "0.953 ± 0.012"
    assert format_mean_std(float("nan"), 0.1) == ""
    assert format_duration(205.4) == "3 min 25 s"
    assert format_duration(3725) == "1 h 02 min 05 s"


def test_pivot_leaves_missing_pairs_blank():
    r = _hand_results()
    r = r[~((r["extractor"] == "hog") & (r["head"] == "svm"))]
    table = pivot(summarize(r, ["accuracy"]), "accuracy")
    assert table.loc["hog", "svm"] == ""


def test_confusion_matrix_sums_to_predictions():
    preds = pd.DataFrame(
        {
            "extractor": ["a"] * 5 + ["b"] * 2,
            "head": ["h"] * 7,
            "fold": [0, 0, 1, 1, 1, 0, 0],
            "index": range(7),
            "y_true": [0, 1, 2, 2, 1, 0, 0],
            "y_pred": [0, 2, 2, 2, 1, 1, 1],
        }
    )
    cm = confusion_matrix(preds, "a", "h", 3)
    assert cm.sum() == 5
    assert cm.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 2]]
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(preds, "a", "h", 2)
    with pytest.raises(ValueError, match="no predictions"):
        confusion_matrix(preds, "zzz", "h", 3)


def test_cmc_mean_over_folds():
    cmc = pd.DataFrame(
        {
            "extractor": ["a"] * 4,
            "head": ["h"] * 4,
            "fold": [0, 0, 1, 1],
            "rank": [1, 2, 1, 2],
            "rate": [0.5, 0.8, 0.7, 1.0],
        }
    )
    m = cmc_mean(cmc)
    assert m["rank"].tolist() == [1, 2]
    assert m["rate"].tolist() == pytest.approx([0.6, 0.9])
    assert m["n_folds"].tolist() == [2, 2]


def test_markdown_table_escapes_pipes():
    text = markdown_table(pd.DataFrame({"a": ["x|y"], "b": ["1.5"]}))
    lines = text.splitlines()
    assert lines[0].startswith("| a")
    assert "x\\|y" in lines[2]
    assert lines[1].endswith(": |")  # numeric column right-aligned


# ---------------------------------------------------------------------------
# build_report
# ---------------------------------------------------------------------------


def _resource_urls(page: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]+)""", page, flags=re.IGNORECASE)


def test_build_report_identification(tmp_path):
    folder = make_results_dir(tmp_path / "run", title="ORL <script>alert(1)</script>")
    paths = build_report(folder)
    assert set(paths) == {"summary_csv", "summary_json", "markdown", "html"}
    for p in paths.values():
        assert p.is_file() and p.parent == folder and p.stat().st_size > 0
    assert not [p for p in os.listdir(folder) if p.endswith(".tmp")]

    summary = pd.read_csv(paths["summary_csv"])
    assert len(summary) == 9
    assert summary["n_folds"].eq(3).all()
    assert tuple(summary.loc[0, ["extractor", "head"]]) == ("mobilenet_v3", "svm")
    assert summary["rank1_mean"].is_monotonic_decreasing

    data = json.loads(paths["summary_json"].read_text(encoding="utf-8"))
    assert data["primary_metric"] == "rank1"
    assert data["best"]["extractor"] == "mobilenet_v3"
    assert len(data["summary"]) == 9
    assert data["meta"]["dataset"]["n_classes"] == 40

    page = paths["html"].read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in page  # escaped
    assert "&lt;script&gt;" in page
    assert 'class="pivot"' in page and 'class="num best"' in page
    assert page.count('<img class="plot"') == 3  # bars, CMC, confusion
    assert "CMC curves" in page and "Confusion matrix" in page
    assert "<details>" in page and "heads: [knn, logreg, svm]" in page
    assert "scikit-learn" in page and "3 min 25 s" in page
    urls = _resource_urls(page)
    assert urls and all(u.startswith(("#", "data:")) for u in urls), urls
    assert "http://" not in page and "https://" not in page

    md = paths["markdown"].read_text(encoding="utf-8")
    assert "report.html" in md
    # a backslash before a space escapes nothing: written once, shown once
    assert "| extractor \\ head" in md and "\\\\" not in md
    assert "# ORL \\<script>" in md  # a backslash keeps the tag from being HTML
    assert "**0." in md  # the best cell in bold
    assert "## Environment" in md and "```yaml" in md
    assert "<img" not in md and "data:image" not in md


def test_build_report_classification_without_cmc(tmp_path):
    folder = make_results_dir(
        tmp_path / "cls", protocol="classification", extractors=("hog",), heads=("svm", "knn")
    )
    assert not (folder / "cmc.csv").exists()
    paths = build_report(folder)
    page = paths["html"].read_text(encoding="utf-8")
    assert "CMC" not in page
    assert page.count('<img class="plot"') == 2  # bars, confusion
    assert pd.read_csv(paths["summary_csv"]).columns[4] == "accuracy_mean"


def test_build_report_identification_without_cmc_file(tmp_path):
    folder = make_results_dir(tmp_path / "id", with_cmc=False)
    page = build_report(folder)["html"].read_text(encoding="utf-8")
    assert "No cmc.csv" in page
    assert page.count('<img class="plot"') == 2


@pytest.mark.slow  # builds the report twice (4 s)
def test_build_report_is_reproducible(tmp_path):
    folder = make_results_dir(tmp_path / "run")
    first = build_report(folder)
    before = {k: p.read_bytes() for k, p in first.items()}
    second = build_report(folder)
    assert second["summary_csv"].read_bytes() == before["summary_csv"]
    assert second["summary_json"].read_bytes() == before["summary_json"]
    assert second["markdown"].read_bytes() == before["markdown"]
    assert second["html"].read_bytes() == before["html"]


def test_build_report_only_needs_results_and_meta(tmp_path):
    folder = make_results_dir(tmp_path / "run")
    for name in ("predictions.csv", "extraction.csv", "cmc.csv", "recipe.yaml"):
        (folder / name).unlink()
    page = build_report(folder)["html"].read_text(encoding="utf-8")
    assert page.count('<img class="plot"') == 1
    assert "No extraction.csv" in page and "No recipe.yaml" in page


@pytest.mark.parametrize("missing", ["results.csv", "meta.json"])
def test_missing_required_file_is_named(tmp_path, missing):
    folder = make_results_dir(tmp_path / "run")
    (folder / missing).unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(missing)):
        build_report(folder)
    assert not (folder / "report.html").exists()


def test_missing_folder_and_bad_metric(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_report(tmp_path / "nope")
    folder = make_results_dir(tmp_path / "run")
    meta = json.loads((folder / "meta.json").read_text())
    meta["protocol"]["metrics"] = ["rank1", "rank5"]
    (folder / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="rank5"):
        load_results(folder)


def test_many_classes_and_pairs(tmp_path):
    folder = make_results_dir(
        tmp_path / "big",
        extractors=tuple(f"ext{i}" for i in range(6)),
        heads=("knn", "svm"),
        n_classes=60,
        per_class=3,
        n_folds=2,
    )
    paths = build_report(folder)
    page = paths["html"].read_text(encoding="utf-8")
    assert "best head per extractor" in page  # 12 CMC pairs > 10: legend capped
    # 60 classes: only the 15 most confused are drawn, and the caption says so
    assert "Only the 15 of 60 classes with the most errors" in page


# ---------------------------------------------------------------------------
# Real browser
# ---------------------------------------------------------------------------

CHROMIUM = os.environ.get("TRANSFER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright)")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)) and not shutil.which(
        CHROMIUM
    ):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    return sync_playwright


@pytest.mark.browser
@pytest.mark.slow  # a few seconds; a faster sibling covers the default suite
def test_report_renders_in_headless_browser(tmp_path):
    sync_playwright = _playwright()
    folder = make_results_dir(tmp_path / "run")
    html_path = build_report(folder)["html"]
    url = html_path.resolve().as_uri()

    requests: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url, wait_until="load")
            page.evaluate("document.querySelector('details').open = true")

            plots = page.evaluate(
                """() => {
                  const docW = document.documentElement.scrollWidth;
                  const docH = document.documentElement.scrollHeight;
                  return [...document.querySelectorAll('img, svg')].map(el => {
                    const r = el.getBoundingClientRect();
                    const s = getComputedStyle(el);
                    return {
                      tag: el.tagName, complete: el.complete ?? true,
                      naturalWidth: el.naturalWidth ?? r.width,
                      width: r.width, height: r.height,
                      left: r.left + scrollX, top: r.top + scrollY,
                      right: r.right + scrollX, bottom: r.bottom + scrollY,
                      display: s.display, visibility: s.visibility, docW, docH,
                    };
                  });
                }"""
            )
            pivot_rows = page.locator("table.pivot tbody tr").count()
            best_cells = page.locator("table.pivot td.best").count()
            page.screenshot(path="/tmp/report.png", full_page=True)
        finally:
            browser.close()

    assert len(plots) == 3, plots
    for info in plots:
        assert info["complete"] and info["naturalWidth"] > 0, info
        assert info["width"] > 100 and info["height"] > 100, info
        assert info["display"] != "none" and info["visibility"] == "visible", info
        assert info["left"] >= 0 and info["right"] <= info["docW"] + 1, info
        assert info["top"] >= 0 and info["bottom"] <= info["docH"] + 1, info
    assert pivot_rows == 3 and best_cells == 1
    assert not errors, errors
    bad = [u for u in requests if not u.startswith(("file://", "data:"))]
    assert not bad, bad


def test_single_fold_has_no_spread(tmp_path):
    folder = make_results_dir(
        tmp_path / "one", protocol="classification", heads=("svm",), n_folds=1
    )
    paths = build_report(folder)
    summary = pd.read_csv(paths["summary_csv"])
    assert summary["n_folds"].eq(1).all() and summary["accuracy_std"].isna().all()
    data = json.loads(paths["summary_json"].read_text(encoding="utf-8"))
    assert data["best"]["std"] is None  # NaN is written as null, the JSON stays valid
    md = paths["markdown"].read_text(encoding="utf-8")
    assert "±" not in md.split("### All pairs")[1].split("## Timing")[0]


@pytest.mark.slow  # draws every figure in a subprocess (6 s)
def test_report_leaves_matplotlib_global_state_alone(tmp_path):
    import subprocess
    import sys

    folder = make_results_dir(tmp_path / "run", extractors=("hog",), heads=("knn",))
    code = (
        "import sys, matplotlib;"
        "raw = lambda: dict.__getitem__(matplotlib.rcParams, 'backend');"
        "before = raw();"
        "from transfer.report import build_report; build_report(sys.argv[1]);"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported';"
        "assert raw() == before, 'backend changed'"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(folder)], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
