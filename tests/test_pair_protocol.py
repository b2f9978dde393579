"""The LFW pair protocol: pairs files, folds, thresholds from training pairs, bad input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from transfer.data import open_dataset
from transfer.heads.verification import CosineVerifier, JointBayesian, PairSVM, best_threshold
from transfer.protocols import PairFold, VerificationProtocol, read_pairs
from transfer.recipes import load_recipe_text, run_recipe
from transfer.recipes.schema import RecipeError

DATA = Path(os.environ.get("TRANSFER_DATA", Path(__file__).parents[2] / "shared" / "data"))
LFW = DATA / "lfw"
needs_lfw = pytest.mark.skipif(
    not (LFW / "pairsDevTrain.txt").is_file(), reason=f"LFW View 1 files not found under {LFW}"
)

N_PEOPLE = 40
N_IMAGES = 4  # per person; person 11 has a single image


def _make_faces(root: Path, seed: int = 0) -> Path:
    """A fake LFW folder: faces vary in a few directions (as real faces do), so a
    model fitted on some identities generalises to new ones; each image adds noise."""
    rng = np.random.default_rng(seed)
    images = root / "lfw-deepfunneled"
    basis = rng.normal(size=(6, 24, 24))
    for p in range(N_PEOPLE):
        name = f"Person_{p:02d}"
        (images / name).mkdir(parents=True)
        base = 128 + np.tensordot(rng.normal(0, 12, size=6), basis, axes=1)
        n = 1 if p == N_PEOPLE - 1 else N_IMAGES
        for k in range(1, n + 1):
            img = np.clip(base + rng.normal(0, 10, size=base.shape), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(images / name / f"{name}_{k:04d}.jpg", quality=95)
    return root


def _view2_lines(n_folds: int, per: int, seed: int = 0) -> list[str]:
    """Folds of `per` same then `per` different pairs; people split across folds."""
    rng = np.random.default_rng(seed)
    people = [f"Person_{p:02d}" for p in range(N_PEOPLE - 1)]
    lines = [f"{n_folds}\t{per}"]
    groups = np.array_split(np.arange(len(people)), n_folds)
    for g in groups:
        for _ in range(per):
            p = people[rng.choice(g)]
            i, j = rng.choice(np.arange(1, N_IMAGES + 1), size=2, replace=False)
            lines.append(f"{p}\t{i}\t{j}")
        for _ in range(per):
            a, b = rng.choice(g, size=2, replace=False)
            lines.append(f"{people[a]}\t{rng.integers(1, 5)}\t{people[b]}\t{rng.integers(1, 5)}")
    return lines


@pytest.fixture
def fake_lfw(tmp_path):
    root = _make_faces(tmp_path / "lfw")
    (root / "pairs.txt").write_text("\n".join(_view2_lines(3, 6)) + "\n")
    people = [f"Person_{p:02d}" for p in range(N_PEOPLE)]
    train = ["4"] + [f"{people[p]}\t1\t2" for p in range(4)]
    # a different pair with the single-image person: an identity with one image
    train += [f"{people[0]}\t3\t{people[N_PEOPLE - 1]}\t1"] + [
        f"{people[p]}\t1\t{people[p + 1]}\t2" for p in range(3)
    ]
    test = ["3"] + [f"{people[p]}\t3\t4" for p in range(6, 9)]
    test += [f"{people[p]}\t3\t{people[p + 1]}\t4" for p in range(6, 9)]
    (root / "pairsDevTrain.txt").write_text("\n".join(train) + "\n")
    (root / "pairsDevTest.txt").write_text("\n".join(test) + "\n")
    return root


# --------------------------------------------------------------------------- pairs files


@needs_lfw
def test_read_view1_files():
    train = read_pairs(LFW / "pairsDevTrain.txt")
    test = read_pairs(LFW / "pairsDevTest.txt")
    assert (len(train), int(train.same.sum()), train.n_folds) == (2200, 1100, 1)
    assert (len(test), int(test.same.sum())) == (1000, 500)
    assert train.left[0] == "Aaron_Peirsol/Aaron_Peirsol_0001.jpg"
    assert train.right[0] == "Aaron_Peirsol/Aaron_Peirsol_0002.jpg"
    assert train.line[0] == 2 and train.line[-1] == 2201
    # View 1 is person-disjoint
    people = {p.split("/")[0] for p in train.left + train.right}
    assert not people & {p.split("/")[0] for p in test.left + test.right}


def test_read_view2_folds(tmp_path):
    f = tmp_path / "pairs.txt"
    f.write_text("\n".join(_view2_lines(3, 2)) + "\n\n")
    pl = read_pairs(f)
    assert pl.n_folds == 3 and len(pl) == 12
    np.testing.assert_array_equal(pl.fold, np.repeat([0, 1, 2], 4))
    np.testing.assert_array_equal(pl.same, np.tile([True, True, False, False], 3))


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        (["2", "A\t1\t2", "A\t1", "B\t1\tC\t1", "B\t2\tC\t2"], r"line 3: expected 'name i j'"),
        (["2", "A\t1\t2", "A\t1\tx", "B\t1\tC\t1", "B\t2\tC\t2"], r"line 3: an image number"),
        (["2", "A\t1\t2", "B\t1\tC\t1", "A\t1\t3", "B\t2\tC\t2"], r"line 3: expected a same pair"),
        (["2", "A\t1\t2", "A\t1\t3", "B\t1\tC\t1"], r"announces 4 pairs .* has 3"),
        (["two", "A\t1\t2"], r"line 1: the pair count"),
        (["1 2 3", "A\t1\t2"], r"line 1: the first line"),
        (["2", "A\t0\t2", "A\t1\t3", "B\t1\tC\t1", "B\t2\tC\t2"], r"line 2: an image number"),
    ],
)
def test_malformed_pairs_file_names_the_line(tmp_path, lines, match):
    f = tmp_path / "pairs_bad.txt"
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=match) as info:
        read_pairs(f)
    assert "pairs_bad.txt" in str(info.value)


def test_missing_pairs_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.txt"):
        read_pairs(tmp_path / "nope.txt")


# --------------------------------------------------------------------------- folds


def test_view2_folds_leave_one_out(fake_lfw):
    data = open_dataset("lfw", path=str(fake_lfw))
    protocol = VerificationProtocol(pairs="pairs.txt")
    subset, folds = protocol.select(data)
    assert protocol.view == 2 and len(folds) == 3
    table = protocol.pair_table()
    assert len(table) == 36
    for fold in folds:
        assert isinstance(fold, PairFold)
        assert len(fold.test_pairs) == 12 and len(fold.train_pairs) == 24
        # the test fold's pairs never appear among its training pairs
        test = {tuple(p) for p in fold.test_pairs}
        assert not test & {tuple(p) for p in fold.train_pairs}
        # images: exactly those of each side's pairs
        np.testing.assert_array_equal(fold.test, np.unique(fold.test_pairs))
        np.testing.assert_array_equal(fold.train, np.unique(fold.train_pairs))
    # each pair is tested exactly once over the folds
    tested = np.concatenate([f.test_rows for f in folds])
    np.testing.assert_array_equal(np.sort(tested), np.arange(36))
    # only the images the pairs name are kept
    names = {subset.describe(i) for i in range(len(subset))}
    assert names == set(table["left"]) | set(table["right"])


def test_view1_one_split(fake_lfw):
    data = open_dataset("lfw", path=str(fake_lfw))
    protocol = VerificationProtocol()
    subset, folds = protocol.select(data)
    assert protocol.view == 1 and len(folds) == 1
    assert len(folds[0].train_pairs) == 8 and len(folds[0].test_pairs) == 6
    # the single-image person takes part in training
    assert f"Person_{N_PEOPLE - 1}/Person_{N_PEOPLE - 1}_0001.jpg" in {
        subset.describe(i) for i in folds[0].train
    }


def test_max_pairs_keeps_both_kinds(fake_lfw):
    data = open_dataset("lfw", path=str(fake_lfw))
    _, folds = VerificationProtocol(pairs="pairs.txt", max_pairs=4).select(data)
    for fold in folds:
        assert fold.test_same.sum() == 2 and (~fold.test_same).sum() == 2


def test_missing_pair_image_is_a_hard_error(fake_lfw):
    os.remove(fake_lfw / "lfw-deepfunneled" / "Person_07" / "Person_07_0003.jpg")
    data = open_dataset("lfw", path=str(fake_lfw))
    with pytest.raises(FileNotFoundError, match=r"pairsDevTest.txt, line 3: image 'Person_07/"):
        VerificationProtocol().select(data)


def test_view2_param_rejects_a_view1_file(fake_lfw):
    data = open_dataset("lfw", path=str(fake_lfw))
    with pytest.raises(ValueError, match="single fold"):
        VerificationProtocol(pairs="pairsDevTrain.txt").select(data)


def test_bad_parameters():
    with pytest.raises(ValueError, match="'training'"):
        VerificationProtocol(training="open")
    with pytest.raises(ValueError, match="'max_pairs'"):
        VerificationProtocol(max_pairs=1)


# --------------------------------------------------------------------------- evaluation


def _features(subset):
    return subset.load().reshape(len(subset), -1).astype(np.float64)


def test_threshold_comes_from_training_pairs_only(fake_lfw):
    data = open_dataset("lfw", path=str(fake_lfw))
    protocol = VerificationProtocol(pairs="pairs.txt", training="restricted")
    subset, folds = protocol.select(data)
    X = _features(subset)
    labels = subset.identity_array()
    fold = folds[1]
    result = protocol.evaluate(CosineVerifier(), X, labels, fold)
    model = CosineVerifier().fit(X[fold.train_pairs], fold.train_same)
    train_scores = model.score_pairs(X[fold.train_pairs[:, 0]], X[fold.train_pairs[:, 1]])
    assert result.curves["threshold"][0] == pytest.approx(
        best_threshold(train_scores, fold.train_same)
    )
    # flipping the test labels changes the metrics, never the scores or threshold
    flipped = PairFold(**{**fold.__dict__, "test_same": ~fold.test_same})
    other = protocol.evaluate(CosineVerifier(), X, labels, flipped)
    np.testing.assert_array_equal(other.curves["scores"], result.curves["scores"])
    assert other.metrics["accuracy"] == pytest.approx(1 - result.metrics["accuracy"])
    # the patterns are well separated: near-perfect verification
    assert result.metrics["auc"] > 0.95


def test_unrestricted_joint_bayesian_learns_from_identities(fake_lfw):
    data = open_dataset("lfw", path=str(fake_lfw))
    protocol = VerificationProtocol(pairs="pairs.txt")
    subset, folds = protocol.select(data)
    X = _features(subset)
    labels = subset.identity_array()
    for fold in folds:
        result = protocol.evaluate(JointBayesian(n_components=4), X, labels, fold)
        assert result.metrics["accuracy"] >= 0.75, result.metrics
        assert set(result.metrics) == set(protocol.metrics)


@pytest.mark.parametrize(
    "head",
    [JointBayesian(n_components=4, tol=1e-10), PairSVM(C=0.1, formulation="gram")],
    ids=["joint_bayesian", "pair_svm"],
)
def test_crossfit_inner_fits_start_warm_and_pick_the_cold_threshold(fake_lfw, monkeypatch, head):
    # the inner fits are the fitted head's crossfit_copy (a warm start): the
    # threshold is the one that clones fitted from scratch give
    from sklearn.base import clone

    data = open_dataset("lfw", path=str(fake_lfw))
    protocol = VerificationProtocol(pairs="pairs.txt")
    subset, folds = protocol.select(data)
    X, labels = _features(subset), subset.identity_array()
    copies = []
    original = type(head).crossfit_copy

    def counted(self):
        copies.append(self)
        return original(self)

    monkeypatch.setattr(type(head), "crossfit_copy", counted)
    warm = protocol.evaluate(head, X, labels, folds[0])
    assert len(copies) == protocol.threshold_folds  # one per group of identities
    monkeypatch.setattr(type(head), "crossfit_copy", lambda self: clone(self))
    cold = protocol.evaluate(head, X, labels, folds[0])
    np.testing.assert_allclose(warm.curves["threshold"], cold.curves["threshold"], rtol=1e-6)
    np.testing.assert_allclose(warm.curves["scores"], cold.curves["scores"], rtol=1e-6)


def test_inner_splits_hold_out_identities_whole(fake_lfw):
    # the cross-fit's inner fits never see a held-out identity: no kept pair
    # and no kept image belongs to a person whose pairs are held out, and
    # every training pair is held out exactly once
    data = open_dataset("lfw", path=str(fake_lfw))
    protocol = VerificationProtocol(pairs="pairs.txt")
    subset, folds = protocol.select(data)
    labels = subset.identity_array()
    fold = folds[0]
    ids = labels[fold.train_pairs]
    held_count = np.zeros(len(fold.train_pairs), dtype=int)
    splits = list(protocol.inner_splits(labels, fold))
    assert len(splits) == protocol.threshold_folds
    for held, keep, images in splits:
        held_people = set(ids[held, 0].tolist())
        assert not held_people & set(ids[keep].ravel().tolist())
        assert not held_people & set(labels[images].tolist())
        assert not (held & keep).any()
        np.testing.assert_array_equal(images, np.unique(fold.train_pairs[keep]))
        held_count += held
    np.testing.assert_array_equal(held_count, 1)


# --------------------------------------------------------------------------- recipes


RECIPE = """
name: pairs
data: {{dataset: lfw, path: {path}}}
transforms: [grey]
extractors:
  - {{name: pixels, params: {{normalize: zscore}}}}
  - {{name: lbp, label: lbp16, transforms: [{{resize: {{size: 16}}}}]}}
heads:
  - cosine_verifier
  - {{name: joint_bayesian, params: {{n_components: 8}}}}
  - {{name: joint_bayesian, label: jb_binary, params: {{n_components: 8, binarize: median}}}}
  - hamming_verifier
protocol: {{name: verification}}
cache: {{enabled: false}}
"""


@pytest.mark.slow  # a whole verification recipe (9 s)
def test_run_recipe_writes_scores_and_roc(fake_lfw, tmp_path):
    recipe = load_recipe_text(
        RECIPE.format(path=fake_lfw), "pairs.yaml", ["protocol.pairs=pairs.txt"]
    )
    assert recipe.protocol.pairs == "pairs.txt"
    out = run_recipe(recipe, tmp_path / "out")
    results = out.results
    assert len(results) == 2 * 4 * 3  # extractors x heads x folds
    assert set(results["n_test"]) == {12}
    scores = pd.read_csv(out.out_dir / "scores.csv")
    assert list(scores.columns) == [
        "extractor",
        "head",
        "fold",
        "pairs_file",
        "line",
        "left",
        "right",
        "same",
        "score",
        "threshold",
        "predicted_same",
    ]
    assert len(scores) == 2 * 4 * 36
    # predicted_same is score > threshold, and accuracy follows from the file
    np.testing.assert_array_equal(
        scores["predicted_same"], (scores["score"] > scores["threshold"]).astype(int)
    )
    acc = (
        (scores["predicted_same"] == scores["same"])
        .groupby([scores["extractor"], scores["head"], scores["fold"]])
        .mean()
    )
    merged = results.set_index(["extractor", "head", "fold"])["accuracy"]
    np.testing.assert_allclose(acc.loc[merged.index].to_numpy(), merged.to_numpy())
    roc = pd.read_csv(out.out_dir / "roc.csv")
    assert {"fpr", "tpr"} <= set(roc.columns) and roc["tpr"].between(0, 1).all()
    # the extractor's own transform reached it: 16x16 LBP has fewer cells than 24x24
    extraction = out.extraction.set_index("extractor")
    assert extraction.loc["lbp16", "n_images"] == extraction.loc["pixels", "n_images"]
    assert (out.out_dir / "report.html").is_file()


def test_recipe_refuses_heads_that_do_not_fit_the_protocol(fake_lfw):
    bad = RECIPE.format(path=fake_lfw).replace("  - hamming_verifier", "  - linear_svm")
    with pytest.raises(RecipeError, match=r"heads\[3\].*'linear_svm'.*does not score pairs"):
        load_recipe_text(bad, "bad.yaml")
    classification = (
        RECIPE.format(path=fake_lfw)
        .replace("{name: verification}", "{name: classification}")
        .replace("  - cosine_verifier\n", "  - linear_svm\n")
    )
    with pytest.raises(
        RecipeError, match=r"heads\[1\].*'joint_bayesian-1'.*scores pairs.*pair protocol"
    ):
        load_recipe_text(classification, "bad.yaml")


def test_recipe_refuses_unknown_extractor_key(fake_lfw):
    bad = RECIPE.format(path=fake_lfw).replace("transforms: [{resize", "transfroms: [{resize")
    with pytest.raises(RecipeError, match=r"unknown key 'transfroms'.*transforms"):
        load_recipe_text(bad, "bad.yaml")


def test_missing_image_fails_before_any_output(fake_lfw, tmp_path):
    os.remove(fake_lfw / "lfw-deepfunneled" / "Person_02" / "Person_02_0002.jpg")
    recipe = load_recipe_text(RECIPE.format(path=fake_lfw), "pairs.yaml")
    with pytest.raises(FileNotFoundError, match=r"pairsDevTrain\.txt, line 4"):
        run_recipe(recipe, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out.tmp-*"))
