"""The report answers "learned vs handcrafted": headline, paired tests, noise, kinds, rounding."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from transfer.report import _prepare, build_report, load_results, summary_json
from transfer.report.markdown import _cell, render_markdown
from transfer.report.stats import format_p, mcnemar_test, paired_fold_test
from transfer.report.tables import (
    format_mean_std,
    format_value,
    most_confused_classes,
    worst_items,
    worst_pairs,
)

LEARNED, HANDCRAFTED = "learned", "handcrafted"

# Fold scores chosen so that the answers are known: cnn + svm is the best cell;
# cnn + knn differs from it by noise only, lbp + svm (the best handcrafted
# cell) by a consistent 6 points.
SCORES = {
    ("cnn", "svm"): [0.90, 0.92, 0.94, 0.91, 0.93],
    ("cnn", "knn"): [0.89, 0.93, 0.92, 0.92, 0.92],
    ("lbp", "svm"): [0.85, 0.88, 0.86, 0.87, 0.84],
    ("lbp", "knn"): [0.70, 0.72, 0.71, 0.69, 0.73],
    ("hog", "svm"): [0.80, 0.81, 0.79, 0.82, 0.80],
    ("hog", "knn"): [0.60, 0.62, 0.61, 0.63, 0.59],
}
KINDS = {"cnn": LEARNED, "lbp": HANDCRAFTED, "hog": HANDCRAFTED}


def write_run(
    root: Path,
    scores: dict[tuple[str, str], list[float]] = SCORES,
    kinds: dict[str, str | None] = KINDS,
    predictions: pd.DataFrame | None = None,
    description: str = "AT&T faces",
) -> Path:
    """A results folder with the given fold scores (accuracy) and extractor kinds."""
    root.mkdir(parents=True, exist_ok=True)
    rows = [
        {"extractor": e, "head": h, "fold": f, "accuracy": v, "status": "ok"}
        for (e, h), values in scores.items()
        for f, v in enumerate(values)
    ]
    pd.DataFrame(rows).to_csv(root / "results.csv", index=False)
    if predictions is not None:
        predictions.to_csv(root / "predictions.csv", index=False)
    n_folds = max(len(v) for v in scores.values())
    meta = {
        "name": root.name,
        "description": description,
        "protocol": {
            "name": "kfold",
            "metrics": ["accuracy"],
            "primary_metric": "accuracy",
            "n_folds": n_folds,
            "sections": [],
            "item_file": "predictions.csv",
        },
        "extractors": {
            e: {"name": e, "params": {}, "tags": {"kind": k} if k else {}} for e, k in kinds.items()
        },
        "heads": {h: {"name": h, "params": {}, "tags": {}} for _, h in scores},
        "dataset": {"name": "synthetic", "n_classes": 2},
    }
    (root / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return root


def prepared(folder: Path):
    return _prepare(load_results(folder), with_figures=False)


# ---------------------------------------------------------------------------
# The headline: best learned vs best handcrafted, Δ and the paired test
# ---------------------------------------------------------------------------


def test_headline_delta_and_paired_t_test_p(tmp_path):
    report = prepared(write_run(tmp_path / "run"))
    expected_p = stats.ttest_rel(SCORES["cnn", "svm"], SCORES["lbp", "svm"]).pvalue
    comp = report.headline
    assert (comp.a, comp.b) == (("cnn", "svm"), ("lbp", "svm"))
    assert comp.delta == pytest.approx(0.92 - 0.86)
    assert comp.test.name == "paired t-test" and comp.test.n == 5
    assert comp.test.p == pytest.approx(expected_p, rel=1e-12)
    assert expected_p < 0.01  # a consistent 6-point gap over 5 folds
    md = render_markdown(report)
    assert (
        "**Best learned vs best handcrafted: Δ = +6.0 points** "
        f"(paired t-test over 5 folds, {format_p(expected_p)}): learned cnn + svm "
        "0.920 ± 0.016, handcrafted lbp + svm 0.860 ± 0.016" in md
    )
    data = summary_json(report)["learned_vs_handcrafted"]
    assert data["delta"] == pytest.approx(0.06) and data["p"] == pytest.approx(expected_p)
    assert data["learned"]["extractor"] == "cnn" and data["handcrafted"]["extractor"] == "lbp"


def test_wilcoxon_from_six_folds_and_sign_of_delta(tmp_path):
    learned = [0.80, 0.82, 0.79, 0.81, 0.78, 0.80, 0.83]
    hand = [0.85, 0.84, 0.86, 0.88, 0.83, 0.87, 0.86]
    scores = {("cnn", "svm"): learned, ("lbp", "svm"): hand}
    report = prepared(write_run(tmp_path / "run", scores))
    comp = report.headline
    assert comp.test.name == "Wilcoxon signed-rank" and comp.test.n == 7
    assert comp.test.p == pytest.approx(stats.wilcoxon(learned, hand).pvalue)
    assert comp.delta == pytest.approx(np.mean(learned) - np.mean(hand))
    delta = 100 * (np.mean(hand) - np.mean(learned))  # 5.14: handcrafted wins here
    assert f"Δ = -{delta:.1f} points" == "Δ = -5.1 points"
    assert "Δ = -5.1 points" in render_markdown(report)


def test_exact_wilcoxon_matches_scipy_with_ties_and_zeros():
    rng = np.random.default_rng(0)
    for n in (6, 9, 13):
        d = np.round(rng.normal(0.004, 0.01, n), 3)  # 3 decimals: ties, and zeros below
        d[:2] = [0.0, 0.0]
        ours = paired_fold_test(0.9 + d, np.full(n, 0.9))
        assert ours.name == "Wilcoxon signed-rank"
        # scipy runs a permutation test here (ties or zeros), on the rounded differences
        assert ours.p == pytest.approx(stats.wilcoxon(d).pvalue, abs=1e-12)


def test_paired_fold_test_edge_cases():
    assert paired_fold_test(np.array([0.9]), np.array([0.8])) is None  # one fold
    same = paired_fold_test(np.array([0.9, 0.8, 0.7]), np.array([0.9, 0.8, 0.7]))
    assert same.p == 1.0
    shifted = paired_fold_test(np.array([0.9, 0.8, 0.7]), np.array([0.8, 0.7, 0.6]))
    assert shifted.p < 1e-12  # a constant non-zero difference: (almost) no spread
    assert format_p(0.0004) == "p < 0.001" and format_p(0.3046875) == "p = 0.30"
    assert format_p(0.0123) == "p = 0.012" and format_p(0.00567) == "p = 0.006"


def test_within_noise_cells_are_those_the_paired_test_cannot_separate(tmp_path):
    folder = write_run(tmp_path / "run")
    report = prepared(folder)
    best = SCORES["cnn", "svm"]
    p_knn = stats.ttest_rel(best, SCORES["cnn", "knn"]).pvalue
    p_lbp = stats.ttest_rel(best, SCORES["lbp", "svm"]).pvalue
    assert p_knn >= 0.05 > p_lbp
    assert list(report.noise) == [("cnn", "svm"), ("cnn", "knn")]
    assert report.noise["cnn", "knn"].test.p == pytest.approx(p_knn)
    assert report.summary.set_index(["extractor", "head"])["within_noise"].to_dict() == {
        cell: cell in {("cnn", "svm"), ("cnn", "knn")} for cell in SCORES
    }
    md = render_markdown(report)
    pivot = md.split("### accuracy")[1].split("\n\n")[1].splitlines()
    row = next(line for line in pivot if line.startswith("| cnn "))
    assert "**0.920 ± 0.016**" in row and "**0.916 ± 0.015**" in row  # both marked
    assert "**" not in next(line for line in pivot if line.startswith("| lbp "))
    assert "does not reject equality at p < 0.05" in md  # the rule is on the page
    assert f"≈ {format_p(p_knn)}" in md  # the ranked table gives its p-value
    page = build_report(folder)["html"].read_text(encoding="utf-8")
    assert page.count('class="num noise"') == 1 and 'class="num best"' in page


def test_single_split_uses_mcnemar_on_the_saved_predictions(tmp_path):
    n = 100
    right_cnn = np.arange(n) < 90  # items 0-89
    right_lbp = (np.arange(n) < 80) | ((np.arange(n) >= 90) & (np.arange(n) < 95))
    y_true = np.arange(n) % 2
    preds = pd.concat(
        [
            pd.DataFrame(
                {
                    "extractor": ext,
                    "head": "svm",
                    "fold": 0,
                    "index": np.arange(n),
                    "path": [f"img{i:03d}.png" for i in range(n)],
                    "y_true": y_true,
                    "y_pred": np.where(right, y_true, 1 - y_true),
                }
            )
            for ext, right in (("cnn", right_cnn), ("lbp", right_lbp))
        ]
    )
    scores = {("cnn", "svm"): [0.90], ("lbp", "svm"): [0.85]}
    report = prepared(write_run(tmp_path / "run", scores, predictions=preds))
    # discordant items: 10 right by cnn only (80-89), 5 by lbp only (90-94)
    expected = stats.binomtest(10, 15, 0.5).pvalue
    assert mcnemar_test(right_cnn, right_lbp).p == pytest.approx(expected)
    comp = report.headline
    assert comp.test.name == "exact McNemar test" and comp.test.n == 100
    assert comp.test.p == pytest.approx(expected)
    md = render_markdown(report)
    assert f"Δ = +5.0 points** (exact McNemar test over 100 test items, {format_p(expected)})" in md
    assert "(accuracy, one split)" in md
    # the hardest items of the best cell, by file name
    worst = worst_items(preds, "cnn", "svm")
    # cnn misreads 90-99; lbp misreads 95-99 too, so those come first
    assert worst["image"].tolist() == [f"img{i:03d}.png" for i in (*range(95, 100), *range(90, 95))]
    assert worst["wrong in cells"].tolist() == [2] * 5 + [1] * 5
    assert "img095.png" in md.split("## Hardest test items")[1]


def test_single_split_without_items_says_no_test(tmp_path):
    scores = {("cnn", "svm"): [0.90], ("lbp", "svm"): [0.85], ("cnn", "knn"): [0.899]}
    report = prepared(write_run(tmp_path / "run", scores))
    assert report.headline.test is None
    assert "(one split: no test): learned cnn + svm 0.900" in render_markdown(report)
    assert list(report.noise) == [("cnn", "svm")]  # no test, no spread: only the best


def test_one_kind_only_says_so(tmp_path):
    scores = {("lbp", "svm"): [0.8, 0.9], ("hog", "svm"): [0.7, 0.8]}
    report = prepared(write_run(tmp_path / "run", scores))
    assert report.headline is None
    assert "Every extractor is handcrafted: no learned vs handcrafted comparison." in (
        render_markdown(report)
    )


# ---------------------------------------------------------------------------
# Grouped by kind; rounding; escaping
# ---------------------------------------------------------------------------


def test_tables_group_learned_first_and_name_the_kind(tmp_path):
    scores = {("lbp", "svm"): [0.95, 0.96], ("cnn", "svm"): [0.7, 0.8], ("hog", "svm"): [0.6, 0.7]}
    report = prepared(write_run(tmp_path / "run", scores))
    md = render_markdown(report)
    pivot_rows = [
        line.split("|")[1:3]
        for line in md.split("### accuracy")[1].split("\n\n")[1].splitlines()[2:]
    ]
    assert [[c.strip() for c in r] for r in pivot_rows] == [
        ["cnn", "learned"],
        ["lbp", "handcrafted"],
        ["hog", "handcrafted"],
    ]
    page = build_report(tmp_path / "run")["html"].read_text(encoding="utf-8")
    assert '<th scope="row" class="rowhead kind-learned">cnn</th>' in page
    assert '<th scope="row" class="rowhead kind-handcrafted">lbp</th>' in page


@pytest.mark.slow
def test_kind_is_asked_of_the_registry_when_meta_lacks_tags(tmp_path):
    folder = write_run(tmp_path / "run", kinds={"cnn": None, "lbp": None, "hog": None})
    meta = json.loads((folder / "meta.json").read_text())
    meta["extractors"]["cnn"]["params"] = {"weights": "efficientnet_lite0"}
    (folder / "meta.json").write_text(json.dumps(meta))
    assert load_results(folder).kinds == KINDS


def test_one_formatter_rounds_the_same_number_the_same_way(tmp_path):
    # 0.9945 as a mean of folds is 0.99449999...; as 1989/2000 it is 0.99450000...01
    mean_of_folds, pooled = (0.989 + 1.0) / 2, 1989 / 2000
    assert f"{mean_of_folds:.3f}" != f"{pooled:.3f}"  # what made the page say both
    assert format_value(mean_of_folds) == format_value(pooled) == "0.995"
    assert format_mean_std(mean_of_folds, 0.0055) == "0.995 ± 0.006"
    assert format_value(-1e-9) == "0.000" and format_value(float("nan")) == ""
    # a report whose fold mean and pooled confusion diagonal are both 0.9945
    n = 1000
    folds = []
    for fold, n_wrong in ((0, 11), (1, 0)):
        y = np.arange(n) % 2
        pred = np.where(np.arange(n) < n_wrong, 1 - y, y)
        folds.append(
            pd.DataFrame(
                {
                    "extractor": "cnn",
                    "head": "svm",
                    "fold": fold,
                    "index": np.arange(n) + fold * n,
                    "y_true": y,
                    "y_pred": pred,
                }
            )
        )
    folder = write_run(
        tmp_path / "run",
        {("cnn", "svm"): [0.989, 1.0]},
        kinds={"cnn": LEARNED},
        predictions=pd.concat(folds),
    )
    page = build_report(folder)["html"].read_text(encoding="utf-8")
    assert "0.995 on the diagonal" in page and "0.995 ± 0.008" in page
    assert "0.994" not in page


def test_markdown_shows_text_as_typed():
    assert _cell("AT&T") == "AT&T"  # no "AT&amp;T"
    assert _cell("extractor \\ head") == "extractor \\ head"  # one backslash
    assert _cell("a &amp; b") == "a \\&amp; b"  # would otherwise show as "a & b"
    assert _cell("x|y") == "x\\|y" and _cell("<b>bold</b>") == "\\<b>bold\\</b>"
    assert _cell("a < b") == "a < b" and _cell("c:\\*d") == "c:\\\\*d"


def test_report_md_has_no_html_escapes(tmp_path):
    folder = write_run(tmp_path / "run", description="AT&T/ORL <faces>")
    md = build_report(folder)["markdown"].read_text(encoding="utf-8")
    assert "AT&T/ORL \\<faces>" in md and "&amp;" not in md and "&lt;" not in md
    assert "| extractor \\ head" in md


# ---------------------------------------------------------------------------
# Plots and tables: fitted axis, per-fold points, CMC ranks, confusion subset
# ---------------------------------------------------------------------------


def test_bar_chart_axis_is_fitted_and_folds_are_drawn(tmp_path):
    from matplotlib.collections import PathCollection

    from transfer.report import plots

    report = prepared(write_run(tmp_path / "run"))
    fig = plots.bar_chart(
        report.summary, "accuracy", kinds=report.kinds, folds=report.fold_scores, noise=set()
    )
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    values = np.concatenate([np.asarray(v) for v in SCORES.values()])
    assert 0.5 < lo < values.min() and values.max() < hi <= 1.005
    dots = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert sorted(len(c.get_offsets()) for c in dots) == [5] * len(SCORES)
    # learned bars in a blue, handcrafted in an orange
    colors = {tuple(np.round(p.get_facecolor()[:3], 2)) for p in ax.patches}
    blue = [c for c in colors if c[2] > c[0]]
    orange = [c for c in colors if c[0] > c[2]]
    assert len(blue) == 2 and len(orange) == 2  # two heads: two shades per hue


def test_cmc_is_cut_at_the_informative_ranks():
    from transfer.report.plots import informative_ranks

    def curve(ext: str, reach: int, n: int = 40) -> pd.DataFrame:
        rates = np.where(np.arange(1, n + 1) >= reach, 1.0, 0.9)
        return pd.DataFrame(
            {"extractor": ext, "head": "h", "rank": np.arange(1, n + 1), "rate": rates}
        )

    cmc = pd.concat([curve("a", 12), curve("b", 7)])
    n, note = informative_ranks(cmc, [("a", "h"), ("b", "h")])
    assert n == 12 and "reaches 0.99 by rank 12" in note and "of 40" in note
    assert informative_ranks(cmc, [("b", "h")])[0] == 10  # at least 10 ranks
    never = curve("c", 99)
    assert informative_ranks(never, [("c", "h")])[0] == 20  # at most 20
    assert informative_ranks(curve("d", 3, n=8), [("d", "h")]) == (8, "")


def test_most_confused_classes_and_worst_pairs():
    cm = np.diag([10, 10, 10, 10])
    cm[0, 3] = 4  # class 0 misread as 3: both get 4 errors
    cm[2, 1] = 1
    assert most_confused_classes(cm, 3).tolist() == [0, 3, 1]
    scores = pd.DataFrame(
        {
            "extractor": "e",
            "head": "h",
            "fold": 0,
            "left": ["a1", "b1", "c1", "d1"],
            "right": ["a2", "b2", "c2", "d2"],
            "same": [1, 1, 0, 0],
            "score": [0.1, 0.9, 0.8, 0.2],
            "threshold": 0.5,
            "predicted_same": [0, 1, 1, 0],
        }
    )
    worst = worst_pairs(scores, "e", "h")
    assert worst["error"].tolist() == ["false reject", "false accept"]
    assert worst["left"].tolist() == ["a1", "c1"]
    assert worst["margin"].tolist() == pytest.approx([0.4, 0.3])


def test_samples_png_is_shown_when_the_run_saved_one(tmp_path):
    from PIL import Image

    folder = write_run(tmp_path / "run")
    Image.new("L", (40, 10), 128).save(folder / "samples.png")
    page = build_report(folder)["html"].read_text(encoding="utf-8")
    assert '<h2 id="samples">Sample images</h2>' in page
    assert 'id="fig-samples"' in page and "after the transforms" in page
