"""The face API (represent / verify / find / calibrate), its thresholds, index and CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import click
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from tests.conftest import REPO, need
from transfer.faces import api
from transfer.faces.api import (
    FaceEmbedding,
    VerifyResult,
    check_threshold,
    fit_threshold,
    load_thresholds,
    pair_scores,
    shipped_threshold,
)
from transfer.faces.index import FaceIndex, list_image_files
from transfer_cli import faces as cli_faces


def _group() -> click.Group:
    group = click.Group("transfer")
    for command in cli_faces.COMMANDS.values():
        group.add_command(command)
    return group


def _invoke(*args: str):
    return CliRunner().invoke(_group(), list(args), catch_exceptions=False)


# -- import, thresholds, scores ----------------------------------------------


def test_importing_the_package_loads_no_network():
    code = (
        "import sys, transfer.faces as f, transfer_cli.faces\n"
        "assert callable(f.verify) and f.FaceIndex\n"
        "print(sorted(m for m in ('tensorflow', 'dlib', 'mtcnn', 'keras') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_shipped_thresholds_schema_and_numbers():
    entries = load_thresholds()
    assert set(entries) == set(api.MODELS)
    for model, metrics in entries.items():
        assert set(metrics) == set(api.METRICS)
        for metric, e in metrics.items():
            assert e["chosen_on"].startswith("LFW View 1 training pairs")
            assert e["train"]["n_pairs"] == 2200 and e["test"]["n_pairs"] == 1000
            for part in ("train", "test"):
                assert 0 <= e[part]["far"] <= 1 and 0 <= e[part]["tar"] <= 1
            value, source = shipped_threshold(model, metric)
            assert value == e["threshold"] and "View 1" in source
        # the acceptance check, measured when the thresholds were made: the
        # shipped cosine threshold on the View 1 test pairs within 0.5 point of the recipe
        cos = metrics["cosine"]
        assert abs(cos["test"]["accuracy"] - cos["recipe_test_accuracy"]) <= 0.005
    # FaceNet's embeddings are unit vectors: d = sqrt(2 - 2 cos), the same decisions
    fn = entries["facenet"]
    assert fn["euclidean"]["threshold"] == pytest.approx(
        np.sqrt(2 - 2 * fn["cosine"]["threshold"]), abs=0.02
    )


def test_a_malformed_thresholds_file_names_the_key(tmp_path):
    good = json.loads(api.THRESHOLDS_FILE.read_text())
    bad = json.loads(json.dumps(good))
    bad["thresholds"]["facenet"]["cosine"]["threshold"] = 1.2
    path = tmp_path / "t.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(
        ValueError, match=r"thresholds\.facenet\.cosine\.threshold 1\.2 .*euclidean"
    ):
        load_thresholds(path)
    del bad["thresholds"]["facenet"]["cosine"]["test"]
    bad["thresholds"]["facenet"]["cosine"]["threshold"] = 0.4
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"thresholds\.facenet\.cosine: missing 'test'"):
        load_thresholds(path)


def test_a_threshold_for_the_wrong_metric_is_refused():
    assert check_threshold(0.6, "euclidean") == 0.6 and check_threshold(-0.1, "cosine") == -0.1
    with pytest.raises(ValueError, match=r"1\.1 is outside .* \[-1, 1\].*metric='euclidean'"):
        check_threshold(1.1, "cosine")
    with pytest.raises(ValueError, match=r"-0\.3 is negative.*metric='cosine'"):
        check_threshold(-0.3, "euclidean")
    with pytest.raises(ValueError, match="calibrated for metric 'euclidean', not 'cosine'"):
        check_threshold({"threshold": 0.9, "metric": "euclidean"}, "cosine")
    with pytest.raises(ValueError, match="metric must be one of"):
        check_threshold(0.5, "manhattan")
    with pytest.raises(ValueError, match="must be a number"):
        check_threshold("high", "cosine")
    # verify checks the threshold before it reads or embeds anything
    with pytest.raises(ValueError, match="outside the cosine"):
        api.verify("missing-a.jpg", "missing-b.jpg", threshold=1.5)


def test_pair_scores_and_the_accuracy_maximising_threshold():
    from sklearn.metrics.pairwise import cosine_similarity, euclidean_distances

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    np.testing.assert_allclose(pair_scores(a, b), np.diag(cosine_similarity(a, b)))
    np.testing.assert_allclose(pair_scores(a, b, "euclidean"), np.diag(euclidean_distances(a, b)))
    scores = np.array([0.1, 0.2, 0.35, 0.5, 0.6, 0.9])
    same = np.array([0, 0, 1, 0, 1, 1], bool)
    # cutting at 0.275 or at 0.55 both make one error: the median of ties is the first
    assert fit_threshold(scores, same, "cosine") == pytest.approx(0.275)
    assert fit_threshold(1 - scores, same, "euclidean") == pytest.approx(1 - 0.275)
    rates = api._rates(scores, same, 0.275, "cosine")
    assert rates == {"n_pairs": 6, "accuracy": 5 / 6, "far": 1 / 3, "tar": 1.0}


def test_calibrate_with_stub_embeddings(monkeypatch):
    # four "people" on the unit circle: same pairs at cos 0.99, different at cos <= 0.5
    angles = {"a1": 0.0, "a2": 0.14, "b1": 2.0, "b2": 2.1, "c1": 4.0, "c2": 4.12}

    def stub(items, model, face="central", **kw):
        return [
            [FaceEmbedding(np.array([np.cos(angles[x]), np.sin(angles[x])]), None, None, x, model)]
            for x in items
        ]

    monkeypatch.setattr(api, "embed_images", stub)
    pairs = [("a1", "a2"), ("b1", "b2"), ("c1", "c2"), ("a1", "b1"), ("b2", "c1"), ("a2", "c2")]
    labels = [1, "true", "same", 0, "false", "different"]
    threshold, report = api.calibrate(pairs, labels, metric="cosine")
    # the midpoint between the lowest same pair (a1-a2) and the highest different one (b2-c1)
    assert threshold == pytest.approx((np.cos(0.14) + np.cos(1.9)) / 2)
    assert report["accuracy"] == 1.0 and report["far"] == 0.0 and report["tar"] == 1.0
    assert report["metric"] == "cosine" and report["n_pairs"] == 6
    with pytest.raises(ValueError, match="label 1 is 'maybe'"):
        api.calibrate(pairs[:2], [1, "maybe"])
    with pytest.raises(ValueError, match="both same and different"):
        api.calibrate(pairs[:3], [1, 1, 1])


# -- the index ---------------------------------------------------------------------


def _png(path, value: int, size: int = 16) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(path, format="PNG")


class _StubEmbed:
    """One face per image, its embedding from the pixel value: counts calls and files."""

    def __init__(self):
        self.files: list[str] = []

    def __call__(self, paths):
        from transfer.data import read_image

        self.files.extend(paths)
        out = []
        for p in paths:
            v = float(read_image(p).mean()) / 255.0
            out.append([FaceEmbedding(np.array([v, 1 - v, 0.5]), (0, 0, 9, 9), None, p, "stub")])
        return out


def test_index_refreshes_by_content_and_never_writes_into_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFER_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "photos"
    _png(folder / "a.png", 10)
    _png(folder / "sub" / "b.jpg", 200)
    _png(folder / "subject01.glasses", 120)  # extensionless: recognised by content
    (folder / "notes.txt").write_text("not an image")
    _png(folder / ".hidden" / "c.png", 50)
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    assert [p.name for p in list_image_files(folder)] == ["a.png", "subject01.glasses", "b.jpg"]

    stub = _StubEmbed()
    index = FaceIndex(folder, embed=stub)
    assert index.refresh() == {
        "added": 3, "changed": 0, "removed": 0, "unchanged": 0, "embedded": 3, "faces": 3
    }  # fmt: skip
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before
    assert index.stem.is_relative_to(tmp_path / "cache" / "faces")
    assert index.stem.with_suffix(".npz").is_file()

    # a new object reads the saved index: nothing embedded again
    stub2 = _StubEmbed()
    again = FaceIndex(folder, embed=stub2)
    assert again.refresh()["unchanged"] == 3 and stub2.files == []
    # changed content: only that file; a rename reuses the rows; a removal drops them
    _png(folder / "a.png", 90)
    os.replace(folder / "sub" / "b.jpg", folder / "sub" / "b2.jpg")
    (folder / "subject01.glasses").unlink()
    counts = again.refresh()
    assert counts == {
        "added": 1, "changed": 1, "removed": 2, "unchanged": 0, "embedded": 1, "faces": 2
    }  # fmt: skip
    assert stub2.files == [str(folder / "a.png")]
    # search: the query equal to b2's embedding ranks b2 first, with cosine 1
    v = 200 / 255
    matches = again.search(np.array([v, 1 - v, 0.5]), top_k=5, threshold=0.999)
    assert [m.path for m in matches] == [str(folder / "sub" / "b2.jpg"), str(folder / "a.png")]
    assert matches[0].score == pytest.approx(1.0) and matches[0].same and not matches[1].same
    assert matches[0].box == (0, 0, 9, 9)


def test_index_path_is_explicit_or_refused_inside_the_folder(tmp_path):
    folder = tmp_path / "photos"
    _png(folder / "a.png", 10)
    index = FaceIndex(folder, embed=_StubEmbed(), index_path=tmp_path / "my-index.npz")
    index.refresh()
    assert (tmp_path / "my-index.npz").is_file() and (tmp_path / "my-index.json").is_file()
    with pytest.raises(ValueError, match="inside the indexed folder"):
        FaceIndex(folder, index_path=folder / "idx")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        FaceIndex(tmp_path / "nope")


# -- the CLI -------------------------------------------------------------------


@pytest.mark.parametrize("command", sorted(cli_faces.COMMANDS))
def test_every_help_has_an_example(command):
    result = _invoke(command, "--help")
    assert result.exit_code == 0 and "Examples:" in result.output
    assert f"transfer {command} " in result.output


def test_cli_bad_input_exits_2_with_one_line_naming_the_file(tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    img = tmp_path / "ok.png"
    _png(img, 80)
    cases = [
        (("verify", str(tmp_path / "missing.jpg"), str(img)), "missing.jpg"),
        (("verify", str(text), str(img)), "notes.jpg"),
        (("verify", str(img), str(img), "--threshold", "1.4"), "metric='euclidean'"),
        (("represent", str(tmp_path / "nowhere"), "--json"), "nowhere"),
        (("represent", str(img), "--out", str(tmp_path / "e.csv")), ".npz or .parquet"),
        (("find", str(img), str(tmp_path / "nofolder")), "nofolder"),
        (("calibrate", str(tmp_path / "pairs.csv")), "pairs.csv"),
    ]
    for args, named in cases:
        result = CliRunner().invoke(_group(), list(args))
        assert result.exit_code == 2, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and named in lines[0], args
    bad_csv = tmp_path / "p.csv"
    bad_csv.write_text("a,b\nx,y\n")
    result = CliRunner().invoke(_group(), ["calibrate", str(bad_csv)])
    assert result.exit_code == 2 and "path_a,path_b,same" in result.output
    result = CliRunner().invoke(_group(), ["represent", str(img)])
    assert result.exit_code == 2 and "--out" in result.output  # usage error


def _fake_verify(same: bool):
    def fake(a, b, model="facenet", **kw):
        return VerifyResult(same, 0.7 if same else 0.1, "cosine", 0.4, "given", model, None, None)

    return fake


def test_verify_exit_status_and_json(monkeypatch, tmp_path):
    for same, code in ((True, 0), (False, 1)):
        monkeypatch.setattr(api, "verify", _fake_verify(same))
        result = _invoke("verify", "a.jpg", "b.jpg", "--exit-status", "--json")
        assert result.exit_code == code
        record = json.loads(result.output)
        assert record["same"] is same and record["threshold"] == 0.4
        assert record["image_a"] == "a.jpg"
        plain = CliRunner().invoke(_group(), ["verify", "a.jpg", "b.jpg"])
        assert plain.exit_code == 0  # without --exit-status, 0 either way
        assert plain.output.startswith("same person" if same else "different people")


def test_represent_writes_npz_and_parquet(monkeypatch, tmp_path):
    folder = tmp_path / "photos"
    _png(folder / "a.png", 10)
    _png(folder / "b.png", 200)

    def stub(items, model, face="all", **kw):
        out = []
        for i, p in enumerate(items):
            row = [FaceEmbedding(np.full(4, i, np.float32), (1, 2, 3, 4), None, p, model)]
            if i == 1:  # a second face, and then an image without one
                row.append(FaceEmbedding(np.full(4, 9, np.float32), None, None, p, model, 0))
            out.append(row)
        return out

    monkeypatch.setattr(api, "embed_images", stub)
    result = _invoke("represent", str(folder), "--out", str(tmp_path / "e.npz"))
    assert result.exit_code == 0 and "3 face(s) from 2 file(s)" in result.output
    z = np.load(tmp_path / "e.npz")
    assert z["embeddings"].shape == (3, 4) and list(z["faces"]) == [0, 0, 1]
    assert [os.path.basename(p) for p in z["paths"]] == ["a.png", "b.png", "b.png"]
    assert np.isnan(z["boxes"][2]).all() and list(z["boxes"][0]) == [1, 2, 3, 4]
    pytest.importorskip("pyarrow")
    import pandas as pd

    assert _invoke("represent", str(folder), "--out", str(tmp_path / "e.parquet")).exit_code == 0
    table = pd.read_parquet(tmp_path / "e.parquet")
    assert list(table.columns[:6]) == ["path", "face", "left", "top", "right", "bottom"]
    np.testing.assert_array_equal(table[["e0", "e3"]].to_numpy(), z["embeddings"][:, [0, 3]])


# -- with the networks (slow) ----------------------------------------------------


@pytest.fixture(scope="module")
def lfw(shared_data):
    return need(shared_data, "lfw/lfw-deepfunneled")


@pytest.fixture(scope="module")
def facenet_weights():
    if not os.environ.get("TRANSFER_WEIGHTS"):
        pytest.skip("set TRANSFER_WEIGHTS to a folder with facenet_inception_resnet_v1 prepared")


def _resized(src, dst, side):
    dst.parent.mkdir(parents=True, exist_ok=True)
    Image.open(src).resize((side, side), Image.Resampling.BICUBIC).save(dst)


@pytest.mark.slow
def test_facenet_verify_same_and_different_people(lfw, facenet_weights):
    a1, a2 = (lfw / "Colin_Powell" / f"Colin_Powell_{i:04d}.jpg" for i in (1, 2))
    b = lfw / "Ariel_Sharon" / "Ariel_Sharon_0001.jpg"
    same = api.verify(a1, a2)
    other = api.verify(a1, b)
    assert same.same and not other.same
    assert same.score > same.threshold > other.score
    assert same.threshold_source.startswith("shipped: LFW View 1 training pairs")
    assert same.box_a is not None and same.box_b is not None


@pytest.mark.slow
def test_represent_is_the_recipe_embedding(lfw, facenet_weights):
    from sklearn.base import clone

    from transfer.align import Align
    from transfer.data import read_image
    from transfer.features.identity import FaceNetFeatures
    from transfer.recipes import load_recipe

    path = lfw / "Colin_Powell" / "Colin_Powell_0001.jpg"
    recipe = load_recipe("lfw-verification")
    for label, flip in (("facenet", False), ("facenet_flip", True)):
        (face,) = api.represent(path, flip=flip)
        # the shipped recipe's own transforms and extractor, whatever they are
        image = read_image(path)
        for transform in recipe.extractor_transforms[label]:
            image = transform(image)
        extractor = clone(recipe.extractors[label])
        assert isinstance(extractor, FaceNetFeatures) and extractor.flip is flip
        expected = extractor.fit_transform(image[None])[0]
        np.testing.assert_allclose(face.embedding, expected, atol=1e-5)
        assert face.source == str(path) and face.n_faces >= 1
    assert any(isinstance(t, Align) for t in recipe.extractor_transforms["facenet"])


@pytest.mark.slow
def test_represent_and_find_on_a_folder_of_mixed_sizes(lfw, facenet_weights, tmp_path):
    people = ["Colin_Powell", "Ariel_Sharon", "George_W_Bush"]
    folder = tmp_path / "mine"
    for k, person in enumerate(people):
        for i, side in ((2, 330), (3, 1200)):
            _resized(lfw / person / f"{person}_{i:04d}.jpg", folder / f"{k}_{side}.jpg", side)
    shutil.copy(lfw / people[2] / f"{people[2]}_0004.jpg", folder / "plain.jpg")
    faces = api.embed_images(list_image_files(folder))
    assert [len(f) for f in faces] == [1] * 7 and all(f[0].box is not None for f in faces)
    sizes = [Image.open(p).size[0] for p in list_image_files(folder)]
    for row, side in zip(faces, sizes, strict=True):
        left, _, right, _ = row[0].box
        assert 0.2 * side < right - left < 0.8 * side  # the box in the file's own pixels
    query = lfw / people[0] / f"{people[0]}_0001.jpg"
    matches = api.find(query, folder, top_k=3, index_path=tmp_path / "idx")
    assert [os.path.basename(m.path)[0] for m in matches[:2]] == ["0", "0"]
    assert matches[0].same and matches[0].score > matches[2].score
    result = CliRunner().invoke(
        _group(), ["find", str(query), str(folder), "--index", str(tmp_path / "idx"), "--json"]
    )
    assert result.exit_code == 0 and json.loads(result.output)[0]["path"] == matches[0].path
