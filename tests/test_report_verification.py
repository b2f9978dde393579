"""Tests for the verification part of transfer.report: ROC, score histograms, binary codes."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score, roc_curve

from transfer.report import build_report, load_results
from transfer.report.tables import (
    FPR_GRID,
    best_heads,
    binary_code_table,
    higher_is_better,
    interpolate_roc,
    roc_mean,
    summarize,
)

EXTRACTORS = ("lbp", "hog", "facenet")


def _pair_tags(binary: bool, column: str | None) -> dict:
    tags = {"scores_pairs": True, "binary_codes": binary}
    if column:
        tags["binary_code_column"] = column
    return tags


#: (label, name, params, tags) as the runner writes them to meta.json["heads"].
HEADS = (
    ("cosine", "cosine_verifier", {"preprocessing": "center"}, _pair_tags(False, None)),
    (
        "joint_bayesian-1",
        "joint_bayesian",
        {"binarize": None, "n_components": 10},
        _pair_tags(False, "Joint Bayesian (real)"),
    ),
    (
        "jb_binary",
        "joint_bayesian",
        {"binarize": "zero", "n_components": 10},
        _pair_tags(True, "Joint Bayesian (binary)"),
    ),
    (
        "hamming_verifier",
        "hamming_verifier",
        {"threshold": "zero"},
        _pair_tags(True, "Hamming (binary)"),
    ),
)
METRICS = ["accuracy", "auc", "eer", "tar@far=0.001", "tar@far=0.01"]
#: protocol.description as the runner resolves it: [View 2, View 1].
DESCRIPTION = (
    "LFW View 2: 10-fold cross-validation on pairs.txt, thresholds chosen on the training folds.",
    "LFW View 1: one split, thresholds chosen on pairsDevTrain.txt, tested on pairsDevTest.txt.",
)


def _separation(ei: int, hi: int) -> float:
    return 0.6 + 0.7 * ei + 0.25 * hi


def make_verification_dir(
    root: Path,
    n_folds: int = 2,
    n_pairs: int = 300,
    heads: tuple = HEADS,
    extractors: tuple[str, ...] = EXTRACTORS,
    seed: int = 0,
) -> Path:
    """Write a verification results folder like the runner's into ``root``."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    results, rocs, scores = [], [], []
    for ei, ext in enumerate(extractors):
        for hi, (label, *_) in enumerate(heads):
            for fold in range(n_folds):
                same = np.r_[np.ones(n_pairs // 2, int), np.zeros(n_pairs - n_pairs // 2, int)]
                score = rng.normal(same * _separation(ei, hi), 1.0)
                threshold = _separation(ei, hi) / 2 + rng.normal(0, 0.05)
                pred = (score >= threshold).astype(int)
                fpr, tpr, _ = roc_curve(same, score, drop_intermediate=False)
                results.append(
                    {
                        "extractor": ext,
                        "head": label,
                        "fold": fold,
                        "accuracy": float(np.mean(pred == same)),
                        "auc": float(roc_auc_score(same, score)),
                        "eer": 0.3 - 0.05 * ei,
                        "tar@far=0.001": float(interpolate_roc(fpr, tpr, [1e-3])[0]),
                        "tar@far=0.01": float(interpolate_roc(fpr, tpr, [1e-2])[0]),
                        "n_train": 2 * n_pairs,
                        "n_test": n_pairs,
                        "fit_seconds": 0.1,
                        "predict_seconds": 0.01,
                    }
                )
                rocs.append(
                    pd.DataFrame(
                        {"extractor": ext, "head": label, "fold": fold, "fpr": fpr, "tpr": tpr}
                    )
                )
                scores.append(
                    pd.DataFrame(
                        {
                            "extractor": ext,
                            "head": label,
                            "fold": fold,
                            "pairs_file": "pairs.txt",
                            "line": np.arange(n_pairs) + 2,
                            "left": [f"A/A_{i:04d}.jpg" for i in range(n_pairs)],
                            "right": [f"B/B_{i:04d}.jpg" for i in range(n_pairs)],
                            "same": same,
                            "score": score,
                            "threshold": threshold,
                            "predicted_same": pred,
                        }
                    )
                )
    pd.DataFrame(results).to_csv(root / "results.csv", index=False)
    pd.concat(rocs, ignore_index=True).to_csv(root / "roc.csv", index=False)
    pd.concat(scores, ignore_index=True).to_csv(root / "scores.csv", index=False)
    recipe = {
        "name": "lfw-verification",
        "extractors": [{"name": e, "params": {}, "label": e} for e in extractors],
        "heads": [{"name": n, "params": p, "label": label} for label, n, p, _ in heads],
        "protocol": {"name": "verification", "params": {"view": 2}},
    }
    (root / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    meta = {
        "name": "lfw-verification",
        "title": "LFW verification",
        "protocol": {
            "name": "verification",
            "params": {"view": 2},
            "metrics": METRICS,
            "primary_metric": "accuracy",
            "n_folds": n_folds,
            "description": DESCRIPTION[n_folds == 1],
            "sections": ["roc", "scores"],
            "item_file": "scores.csv",
            "curve_files": ["roc.csv"],
        },
        "extractors": {
            e: {"name": e, "params": {}, "tags": {"kind": "learned"}} for e in extractors
        },
        "heads": {label: {"name": n, "params": p, "tags": tags} for label, n, p, tags in heads},
        "dataset": {
            "name": "lfw",
            "n_images": 2 * n_pairs,
            "n_classes": 100,
            "split_counts": {"train": 2 * n_pairs, "test": n_pairs},
        },
    }
    (root / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return root


def _images(page: str) -> dict[str, bytes]:
    return {
        m.group(1): base64.b64decode(m.group(2))
        for m in re.finditer(
            r'<figure id="([^"]+)"><img class="plot" src="data:image/png;base64,([^"]+)"', page
        )
    }


# ---------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------


def test_interpolate_roc_takes_the_top_of_vertical_steps():
    fpr = [0.0, 0.0, 0.5, 0.5, 1.0]
    tpr = [0.0, 0.4, 0.4, 0.8, 1.0]
    got = interpolate_roc(fpr, tpr, [0.0, 0.25, 0.5, 0.75, 1.0])
    assert got.tolist() == pytest.approx([0.4, 0.4, 0.8, 0.9, 1.0])
    # order of the points does not matter
    assert interpolate_roc(fpr[::-1], tpr[::-1], [0.5]).tolist() == pytest.approx([0.8])


def test_fpr_grid_is_log_spaced_with_exact_decades():
    assert FPR_GRID[0] == 1e-3 and FPR_GRID[-1] == 1.0
    assert 1e-2 in FPR_GRID and 1e-1 in FPR_GRID
    assert np.allclose(np.diff(np.log10(FPR_GRID)), 0.05)


def test_roc_mean_is_the_fold_average_at_fpr_001(tmp_path):
    folder = make_verification_dir(tmp_path / "v")
    roc = pd.read_csv(folder / "roc.csv")
    mean = roc_mean(roc)
    assert list(mean.columns) == ["extractor", "head", "fpr", "tpr", "tpr_std", "n_folds"]
    assert len(mean) == len(EXTRACTORS) * len(HEADS) * len(FPR_GRID)
    for ext, head in [("lbp", "cosine"), ("facenet", "jb_binary"), ("hog", "hamming_verifier")]:
        folds = []
        for fold in (0, 1):
            sub = roc[(roc.extractor == ext) & (roc["head"] == head) & (roc.fold == fold)]
            fpr, tpr = sub["fpr"].to_numpy(), sub["tpr"].to_numpy()
            # by hand: the last point with fpr <= 0.01, then a straight line to the next
            j = np.flatnonzero(fpr <= 0.01)[-1]
            if fpr[j] == 0.01:
                folds.append(tpr[j])
            else:
                w = (0.01 - fpr[j]) / (fpr[j + 1] - fpr[j])
                folds.append(tpr[j] + w * (tpr[j + 1] - tpr[j]))
        row = mean[(mean.extractor == ext) & (mean["head"] == head) & (mean.fpr == 0.01)]
        assert len(row) == 1
        assert row["tpr"].iloc[0] == pytest.approx(np.mean(folds))
        assert row["tpr_std"].iloc[0] == pytest.approx(np.std(folds, ddof=1))
        assert row["n_folds"].iloc[0] == 2
    # mean curves are non-decreasing and end at 1
    for _, sub in mean.groupby(["extractor", "head"]):
        assert np.all(np.diff(sub["tpr"].to_numpy()) >= -1e-12)
        assert sub["tpr"].iloc[-1] == pytest.approx(1.0)


def test_roc_mean_single_fold_has_nan_std():
    roc = pd.DataFrame(
        {
            "extractor": "a",
            "head": "h",
            "fold": 0,
            "fpr": [0.0, 0.0, 0.02, 1.0],
            "tpr": [0.0, 0.5, 0.6, 1.0],
        }
    )
    mean = roc_mean(roc, fpr_grid=[0.01, 0.02])
    assert mean["tpr"].tolist() == pytest.approx([0.55, 0.6])
    assert mean["tpr_std"].isna().all()


def _summary(folder: Path) -> pd.DataFrame:
    return summarize(pd.read_csv(folder / "results.csv"), METRICS, primary="accuracy")


def _meta_heads(folder: Path) -> dict:
    return json.loads((folder / "meta.json").read_text())["heads"]


def test_binary_code_table_cells(tmp_path):
    folder = make_verification_dir(tmp_path / "v")
    summary = _summary(folder)
    heads = _meta_heads(folder)
    table = binary_code_table(summary, heads)
    assert list(table.columns) == [
        "Joint Bayesian (real)",
        "Joint Bayesian (binary)",
        "Hamming (binary)",
    ]
    assert set(table.index) == set(EXTRACTORS)
    results = pd.read_csv(folder / "results.csv")
    for ext in EXTRACTORS:
        for col, label in zip(
            table.columns, ["joint_bayesian-1", "jb_binary", "hamming_verifier"], strict=True
        ):
            acc = results[(results.extractor == ext) & (results["head"] == label)]["accuracy"]
            assert table.loc[ext, col] == f"{acc.mean():.3f} ± {acc.std(ddof=1):.3f}"
    values = binary_code_table(summary, heads, formatted=False)
    hamming = results[(results.extractor == "facenet") & (results["head"] == "hamming_verifier")]
    assert values.loc["facenet", "Hamming (binary)"] == pytest.approx(hamming["accuracy"].mean())


def test_binary_code_table_needs_a_binary_head_and_uses_tags_not_names(tmp_path):
    # no head tagged binary_codes: nothing to compare
    only_real = (HEADS[0], HEADS[1])
    folder = make_verification_dir(tmp_path / "real", heads=only_real)
    assert binary_code_table(_summary(folder), _meta_heads(folder)).shape == (0, 0)
    # heads without tags (older folders): no table either
    untagged = {label: {"name": n, "params": p} for label, n, p, _ in HEADS}
    assert binary_code_table(_summary(make_verification_dir(tmp_path / "v")), untagged).shape == (
        0,
        0,
    )
    # names and labels say nothing: the tags place each head, real-valued columns first
    summary = pd.DataFrame(
        {
            "extractor": ["x", "x", "x"],
            "head": ["joint_bayesian-1", "joint_bayesian-2", "joint_bayesian-3"],
            "n_folds": [1, 1, 1],
            "accuracy_mean": [0.9, 0.8, 0.7],
            "accuracy_std": [np.nan] * 3,
        }
    )
    heads = {
        "joint_bayesian-1": {"name": "plugin_a", "tags": _pair_tags(True, "Codes (binary)")},
        "joint_bayesian-2": {"name": "plugin_b", "tags": _pair_tags(False, "Codes (real)")},
        "joint_bayesian-3": {"name": "plugin_a", "tags": _pair_tags(True, "Codes (binary)")},
        "not-run": {"name": "plugin_c", "tags": _pair_tags(True, "Other (binary)")},
    }
    table = binary_code_table(summary, heads)
    assert list(table.columns) == [
        "Codes (real)",
        "Codes (binary) [joint_bayesian-1]",
        "Codes (binary) [joint_bayesian-3]",
    ]
    assert table.loc["x"].tolist() == ["0.800", "0.900", "0.700"]


def test_best_heads_and_metric_direction(tmp_path):
    summary = _summary(make_verification_dir(tmp_path / "v"))
    best = best_heads(summary, "accuracy")
    assert set(best) == set(EXTRACTORS)
    for ext, head in best.items():
        sub = summary[summary.extractor == ext]
        assert head == sub.loc[sub["accuracy_mean"].idxmax(), "head"]
    assert higher_is_better("accuracy") and higher_is_better("tar@far=0.001")
    assert not higher_is_better("eer")


# ---------------------------------------------------------------------------
# build_report
# ---------------------------------------------------------------------------


@pytest.mark.slow  # a verification run and its report (5 s)
def test_build_report_verification(tmp_path):
    folder = make_verification_dir(tmp_path / "v")
    loaded = load_results(folder)
    assert loaded.roc is not None and loaded.scores is not None and loaded.predictions is None
    assert list(loaded.heads) == [h[0] for h in HEADS]
    assert loaded.sections == ["roc", "scores"]

    paths = build_report(folder)
    page = paths["html"].read_text(encoding="utf-8")
    images = _images(page)
    assert set(images) == {"fig-bars", "fig-roc", "fig-scores"}  # no confusion matrix
    for png in images.values():
        assert png.startswith(b"\x89PNG")
    for anchor in ("results", "binary", "roc", "scores"):
        assert f'href="#{anchor}"' in page and f'id="{anchor}"' in page
    assert "vertically averaged over 2 folds" in page
    assert "chosen on the training pairs" in page
    assert "Deeply learned face representations are sparse, selective, and robust" in page
    binary = page.split('id="binary"')[1].split("</table>")[0]
    for col in ("Joint Bayesian (real)", "Joint Bayesian (binary)", "Hamming (binary)"):
        assert col in binary
    assert binary.count("<tr>") == 1 + len(EXTRACTORS)
    assert "One fold" not in page  # two folds: mean ± std

    # EER: the lowest mean is highlighted (facenet has the lowest EER)
    eer = page.split("<h3>eer: extractor")[1].split("</table>")[0]
    best_row = eer.split('class="num best"')[0].rsplit("<tr>", 1)[1]
    assert "facenet" in best_row

    md = paths["markdown"].read_text(encoding="utf-8")
    assert "## Real-valued vs binary codes" in md
    assert "ROC curves" in md and "score histograms" in md
    assert "data:image" not in md
    assert " ± " in md.split("### accuracy")[1].split("###")[0]

    summary = pd.read_csv(paths["summary_csv"])
    assert len(summary) == len(EXTRACTORS) * len(HEADS)


@pytest.mark.slow  # a few seconds; a faster sibling covers the default suite
def test_build_report_verification_figures_are_readable_images(tmp_path):
    from PIL import Image

    folder = make_verification_dir(tmp_path / "v", extractors=("a", "b"))
    page = build_report(folder)["html"].read_text(encoding="utf-8")
    images = _images(page)
    roc = Image.open(io.BytesIO(images["fig-roc"]))
    hist = Image.open(io.BytesIO(images["fig-scores"]))
    # 4 heads: a 2 x 3 grid of panels; 2 extractors: one row of two histograms
    assert roc.width > roc.height
    assert hist.width > hist.height and roc.width > 400 and hist.height > 200


@pytest.mark.slow  # a few seconds; a faster sibling covers the default suite
def test_build_report_verification_view1_single_fold(tmp_path):
    folder = make_verification_dir(tmp_path / "v1", n_folds=1)
    paths = build_report(folder)
    md = paths["markdown"].read_text(encoding="utf-8")
    accuracy = md.split("### accuracy")[1].split("### auc")[0]
    rows = [line for line in accuracy.splitlines() if line.startswith("| ")]
    assert len(rows) == 2 + len(EXTRACTORS)
    assert not any("±" in line for line in rows)
    assert re.search(r"\|\s+0\.\d{3} \|", rows[2])
    assert "One fold: each cell is a single value, with no spread." in accuracy
    assert md.count("One fold:") == 1  # under the primary metric only
    page = paths["html"].read_text(encoding="utf-8")
    assert page.count("One fold: each cell is a single value") == 1
    assert "vertically averaged over 1 fold:" in page
    # the protocol card describes the resolved run (View 1), from meta.json
    card = page.split("<h3>Protocol</h3>")[1].split("</div>")[0]
    assert DESCRIPTION[1] in card and DESCRIPTION[0] not in page
    assert DESCRIPTION[1] in md.split("## Protocol")[1]


def test_build_report_verification_without_optional_files(tmp_path):
    folder = make_verification_dir(tmp_path / "v")
    for name in ("roc.csv", "scores.csv", "recipe.yaml"):
        (folder / name).unlink()
    page = build_report(folder)["html"].read_text(encoding="utf-8")
    # the protocol asked for these sections: their absence is said, not hidden
    assert "No roc.csv" in page and "No scores.csv" in page
    assert 'id="binary"' in page  # tags come from meta.json, not from the recipe
    assert set(_images(page)) == {"fig-bars"}


@pytest.mark.slow  # a few seconds; a faster sibling covers the default suite
def test_build_report_verification_without_tags_has_no_binary_table(tmp_path):
    folder = make_verification_dir(tmp_path / "v")
    meta = json.loads((folder / "meta.json").read_text())
    for head in meta["heads"].values():
        del head["tags"]
    (folder / "meta.json").write_text(json.dumps(meta))
    page = build_report(folder)["html"].read_text(encoding="utf-8")
    assert 'id="binary"' not in page and 'href="#binary"' not in page
    assert 'id="roc"' in page
