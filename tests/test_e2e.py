"""End-to-end runs of the shipped recipes on the real datasets.

They need the data root (``TRANSFER_DATA`` or ``../shared/data``) and skip
with the reason when it is absent.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.conftest import need
from transfer.recipes import load_recipe, run_recipe
from transfer.recipes.runner import TIMING_COLUMNS


@pytest.mark.slow  # the whole ORL recipe, two CNNs included: ~40 s
def test_orl_identification(shared_data, tmp_path, weights_home):
    need(shared_data, "orl")
    weights_home("mobilenet_v2_1.0_224")
    recipe = load_recipe("orl-identification", [f"data.root={shared_data}"])
    result = run_recipe(recipe, tmp_path / "orl")
    results = pd.read_csv(tmp_path / "orl" / "results.csv")
    assert len(results) == 6 * 3 * 10
    summary = result.summary.set_index(["extractor", "head"])
    best = summary["rank1_mean"].max()
    # the literature reports 0.9-0.99 rank-1 on ORL with 5 training images
    assert 0.9 < best <= 1.0
    # LBP histograms with a discriminative head beat raw pixels with 1-NN
    assert (
        summary.loc[("lbp", "linear_svm"), "rank1_mean"]
        > summary.loc[("pixels", "1nn"), "rank1_mean"]
    )
    cmc = pd.read_csv(tmp_path / "orl" / "cmc.csv")
    assert cmc["rank"].max() == 40 and (cmc.loc[cmc["rank"] == 40, "rate"] == 1.0).all()

    meta = json.loads((tmp_path / "orl" / "meta.json").read_text())
    from transfer.weights import file_sha256, weights_files

    (h5,) = weights_files("mobilenet_v2_1.0_224")
    assert meta["weights"][f"mobilenet_v2_1.0_224:{h5.name}"] == file_sha256(h5)

    second = run_recipe(recipe, tmp_path / "orl2")
    assert second.n_cached == len(results)  # every cell from the cell cache
    extraction = pd.read_csv(tmp_path / "orl2" / "extraction.csv")
    assert extraction["cached"].all()
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "orl2" / "results.csv").drop(columns=list(TIMING_COLUMNS)),
        results.drop(columns=list(TIMING_COLUMNS)),
    )
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "orl2" / "summary.csv")[["extractor", "head", "rank1_mean"]],
        pd.read_csv(tmp_path / "orl" / "summary.csv")[["extractor", "head", "rank1_mean"]],
    )


@pytest.mark.slow  # the whole shipped recipe (25 s); the runner's paths are covered by small runs
def test_quickstart(tmp_path):
    result = run_recipe(load_recipe("quickstart"), tmp_path / "q")
    summary = result.summary
    # faces vs non-faces is easy for HOG and LBP
    assert summary["accuracy_mean"].max() > 0.9
    assert (tmp_path / "q" / "report.html").stat().st_size > 10_000


@pytest.mark.slow
def test_lfw_people(shared_data, tmp_path, weights_home):
    need(shared_data, "lfw")
    weights_home("mobilenet_v2_1.0_224")
    recipe = load_recipe("lfw-people", [f"data.root={shared_data}"])
    result = run_recipe(recipe, tmp_path / "lfw")
    meta = json.loads((tmp_path / "lfw" / "meta.json").read_text())
    assert meta["dataset"]["n_images"] == 3023 and meta["dataset"]["n_classes"] == 62
    summary = result.summary.set_index(["extractor", "head"])
    # chance is 1/62 (the majority class, George W Bush, is 530/3023 = 0.175)
    assert summary["accuracy_mean"].max() > 0.5


@pytest.mark.slow
def test_cifar10_transfer(shared_data, tmp_path, weights_home):
    """The shipped recipe, cut to 60 images per class and one fine-tuning epoch."""
    need(shared_data, "cifar10/train")
    for name in ("mobilenet_v1_1.0_224", "mobilenet_v2_1.0_224", "squeezenet_v1.1"):
        weights_home(name)
    recipe = load_recipe(
        "cifar10-transfer",
        [
            f"data.root={shared_data}",
            "data.max_per_class=60",
            "extractors.7.params.epochs=1",
            "extractors.7.params.input_size=96",
        ],
    )
    result = run_recipe(recipe, tmp_path / "cifar")
    summary = result.summary.set_index(["extractor", "head"])
    assert len(summary) == 8 * 2
    hog = summary.loc[("hog", "linear_svm"), "accuracy_mean"]
    cnn = summary.loc[("mobilenet_v1", "linear_svm"), "accuracy_mean"]
    # frozen ImageNet features beat HOG by a wide margin even on 450 training images
    assert cnn > hog + 0.15, (cnn, hog)


@pytest.mark.slow
def test_lfw_verification(shared_data, tmp_path, weights_home):
    """The shipped recipe on the first 60 + 60 pairs of each View 1 file (~450 images)."""
    need(shared_data, "lfw/pairsDevTest.txt")
    pytest.importorskip("dlib", reason="the 'faces' extra is not installed")
    pytest.importorskip("mtcnn", reason="the 'faces' extra is not installed")
    for name in ("facenet_inception_resnet_v1", "mobilenet_v2_1.0_224"):
        weights_home(name)
    recipe = load_recipe(
        "lfw-verification",
        [f"data.root={shared_data}", "protocol.max_pairs=120", "analyses.2.params.n_images=40"],
    )
    result = run_recipe(recipe, tmp_path / "lfw")
    occlusion = pd.read_csv(tmp_path / "lfw" / "analyses" / "occlusion" / "occlusion.csv")
    clean = occlusion[occlusion["fraction"] == 0.0].groupby("extractor")
    # 20 test pairs, unoccluded: FaceNet verifies them as the cells do (near-perfectly)
    assert clean["verification_accuracy"].first()["facenet"] >= 0.9
    summary = result.summary.set_index(["extractor", "head"])
    handcrafted = ["pixels", "lbp", "hd_lbp", "hog", "gabor"]
    identity = ["facenet", "dlib_resnet"]
    for net in identity:
        # identity networks on aligned faces: near-perfect even on 120 test pairs
        assert summary.loc[(net, "cosine"), "auc_mean"] > 0.97, net
        assert summary.loc[(net, "cosine"), "accuracy_mean"] > 0.9, net
    for head in ("cosine", "joint_bayesian"):
        best_handcrafted = max(summary.loc[(h, head), "auc_mean"] for h in handcrafted)
        for net in identity:
            assert summary.loc[(net, head), "auc_mean"] > best_handcrafted, (net, head)
    scores = pd.read_csv(tmp_path / "lfw" / "scores.csv")
    assert len(scores) == len(summary) * 120
    html = (tmp_path / "lfw" / "report.html").read_text()
    assert "ROC" in html


@pytest.mark.slow
def test_celeba_attributes(shared_data, tmp_path, weights_home):
    """The shipped recipe on 1,200 images, without FaceNet: the protocol end to end."""
    need(shared_data, "celeba/list_attr_celeba.txt")
    weights_home("mobilenet_v2_1.0_224")
    recipe = load_recipe(
        "celeba-attributes",
        [
            f"data.root={shared_data}",
            "data.params.max_images=1200",
            "extractors=[{name: hog, transforms: [grey]}, {name: cnn, label: mobilenet_v2, "
            "transforms: [{center_crop: {size: 89}}], params: {weights: mobilenet_v2_1.0_224, "
            "input_size: 96}}]",
            "analyses=[sparsity, selectivity, {name: occlusion, params: {n_images: 20, "
            "fractions: [0.0, 0.5], kinds: [bottom]}}]",
        ],
    )
    result = run_recipe(recipe, tmp_path / "celeba")
    occlusion = pd.read_csv(tmp_path / "celeba" / "analyses" / "occlusion" / "occlusion.csv")
    assert set(occlusion["extractor"]) == {"hog", "mobilenet_v2"}
    clean = occlusion[occlusion["fraction"] == 0.0].set_index("extractor")
    hidden = occlusion[occlusion["fraction"] == 0.5].set_index("extractor")
    # half the face hidden: the features move away from the clean ones
    assert (hidden["cosine_mean"] < clean["cosine_mean"] - 0.01).all()
    results = pd.read_csv(tmp_path / "celeba" / "results.csv").set_index(["extractor", "head"])
    assert len(results) == 4 and (results["n_test"] == 240).all()
    assert (results["status"] == "ok").all()
    per = pd.read_csv(tmp_path / "celeba" / "attributes.csv")
    assert len(per) == 4 * 40
    majority = results["majority_accuracy"].iloc[0]
    assert 0.75 < majority < 0.85  # CelebA's attributes are unbalanced
    # a linear classifier per attribute beats the majority baseline on either feature
    for extractor in ("hog", "mobilenet_v2"):
        row = results.loc[(extractor, "linear_svm")]
        assert row["mean_accuracy"] > majority + 0.01, (extractor, row["mean_accuracy"])
        assert row["mean_balanced_accuracy"] > 0.55
    assert result.summary is not None
