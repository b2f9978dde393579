"""High-dimensional LBP (Chen et al., CVPR 2013): layout, exact histograms, PCA, real faces."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from tests.conftest import need
from transfer.align.template import template_landmarks
from transfer.data.transforms import to_grey
from transfer.features.handcrafted import HDLBPFeatures, LBPFeatures
from transfer.features.handcrafted.hd_lbp import (
    DEFAULT_SCALES,
    hd_lbp_landmarks,
    hd_lbp_patch_origins,
    landmark_names,
)
from transfer.registry import EXTRACTORS, load_components

N_BINS = 59  # uniform (u2) patterns, P=8


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    """The astronaut's face, grey, resized to 160 x 160 (float32 in [0, 255])."""
    from skimage import data
    from skimage.transform import resize

    grey = to_grey(data.astronaut())[10:230, 120:340]
    return resize(grey, (160, 160), anti_aliasing=True, preserve_range=True).astype(np.float32)


def _blocks(features: np.ndarray, n_landmarks: int, n_scales: int, n_cells: int = 16):
    return features.reshape(len(features), n_landmarks, n_scales, n_cells, -1)


def test_layout_length_and_names():
    X = np.random.default_rng(0).uniform(0, 255, size=(2, 160, 160)).astype(np.float32)
    est = HDLBPFeatures().fit(X)
    F = est.transform(X)
    names = est.get_feature_names_out()
    assert len(landmark_names("dense")) == 21 and len(landmark_names("five")) == 5
    assert F.shape == (2, 21 * 5 * 16 * N_BINS) == (2, 99_120) and F.dtype == np.float32
    assert len(names) == F.shape[1]
    # landmark, then scale, then cell (row by row), then bin
    index = ((2 * 5 + 3) * 16 + (1 * 4 + 2)) * N_BINS + 7
    assert names[index] == "hd_lbp_nose_scale0.421875_cell1_2_bin7"
    assert names[0] == "hd_lbp_left_eye_scale1_cell0_0_bin0"
    assert names[-1] == "hd_lbp_right_jaw_scale0.316406_cell3_3_bin58"
    five = HDLBPFeatures("five", scales=(1.0, 0.5), cells=(2, 3), P=8, method="uniform")
    assert five.fit_transform(X).shape == (2, 5 * 2 * 6 * 10)
    assert EXTRACTORS.create("hd_lbp").get_params() == HDLBPFeatures().get_params()
    # the five template points come first, exactly the template's
    np.testing.assert_allclose(
        hd_lbp_landmarks("dense", 160, 0.2)[:5], template_landmarks(160, 0.2)
    )


@pytest.mark.filterwarnings("ignore:Applying `local_binary_pattern`:UserWarning")
def test_cell_histograms_equal_scikit_image(face):
    from skimage.feature import local_binary_pattern

    F = HDLBPFeatures(sqrt=False).fit_transform(face[None])
    blocks = _blocks(F, 21, len(DEFAULT_SCALES))
    codes = local_binary_pattern(face.astype(np.float64), 8, 1, method="nri_uniform")
    top, left = hd_lbp_patch_origins(template_dense := hd_lbp_landmarks("dense", 160), (40, 40))
    assert len(template_dense) == 21
    checked = 0
    for k, (t, lft) in enumerate(zip(top, left, strict=True)):
        if t < 2 or lft < 2 or t + 42 > 160 or lft + 42 > 160:
            continue  # patch near the border: its codes see the edge padding
        for i in range(4):
            for j in range(4):
                cell = codes[t + 10 * i : t + 10 * i + 10, lft + 10 * j : lft + 10 * j + 10]
                expected = np.bincount(cell.astype(int).ravel(), minlength=N_BINS) / 100.0
                np.testing.assert_allclose(blocks[0, k, 0, 4 * i + j], expected, atol=1e-6)
                checked += 1
    assert checked >= 16 * 15  # most landmarks lie well inside a margin-0.2 crop
    # the nose patch is centred on the nose within half a pixel
    x, y = hd_lbp_landmarks("dense", 160)[2]
    assert abs(top[2] + 19.5 - y) <= 0.5 and abs(left[2] + 19.5 - x) <= 0.5


def test_histograms_are_l1_normalised(face):
    X = np.stack([face, face[:, ::-1], 255 - face])
    raw = HDLBPFeatures(sqrt=False).fit_transform(X).reshape(3, -1, N_BINS)
    np.testing.assert_allclose(raw.sum(axis=-1), 1.0, atol=1e-5)
    rooted = HDLBPFeatures().fit_transform(X).reshape(3, -1, N_BINS)
    np.testing.assert_allclose(rooted, np.sqrt(raw), atol=1e-6)
    np.testing.assert_allclose((rooted**2).sum(axis=-1), 1.0, atol=1e-5)
    # small images: patches reach far out of the image, edge padding keeps them full
    small = HDLBPFeatures(sqrt=False).fit_transform(face[None, ::10, ::10]).reshape(-1, N_BINS)
    np.testing.assert_allclose(small.sum(axis=-1), 1.0, atol=1e-5)


def test_swapping_eye_regions_swaps_the_eye_blocks_only(face):
    from skimage.transform import resize

    image = resize(face, (256, 256), preserve_range=True).astype(np.float32)
    est = HDLBPFeatures("five", scales=(1.0,), cell_size=6, sqrt=False)
    top, left = hd_lbp_patch_origins(hd_lbp_landmarks("five", 256), (24, 24))
    # the patches plus the LBP radius (and a pixel more), around each eye
    eyes = [np.s_[t - 2 : t + 26, c - 2 : c + 26] for t, c in zip(top[:2], left[:2], strict=True)]
    swapped = image.copy()
    swapped[eyes[0]], swapped[eyes[1]] = image[eyes[1]], image[eyes[0]]
    before, after = _blocks(est.fit_transform(np.stack([image, swapped])), 5, 1)
    np.testing.assert_array_equal(after[0], before[1])  # left-eye block <- right eye
    np.testing.assert_array_equal(after[1], before[0])
    np.testing.assert_array_equal(after[2:], before[2:])  # nose and mouth untouched
    assert np.abs(after[0] - before[0]).sum() > 0.5
    # at a coarser scale the patches span the face: the swap reaches every block
    est2 = clone(est).set_params(scales=(0.5,))
    coarse = _blocks(est2.fit_transform(np.stack([image, swapped])), 5, 1)
    assert not np.array_equal(coarse[0, 2], coarse[1, 2])


def test_colour_size_and_validation(face):
    rgb = np.repeat(face[None, ..., None], 3, axis=-1)
    est = HDLBPFeatures("five", scales=(1.0, 0.5))
    np.testing.assert_allclose(est.fit_transform(rgb), est.fit_transform(face[None]), atol=1e-6)
    # size: the crop is resized to size x size first; the own size is a no-op
    half = face[None, ::2, ::2]
    np.testing.assert_array_equal(
        clone(est).set_params(size=80).fit_transform(half), est.fit_transform(half)
    )
    assert clone(est).set_params(size=80).fit_transform(face[None]).shape == (1, 5 * 2 * 16 * 59)
    with pytest.raises(ValueError, match="landmarks"):
        HDLBPFeatures("seven").fit(face[None])
    with pytest.raises(ValueError, match="scales"):
        HDLBPFeatures(scales=()).fit(face[None])
    with pytest.raises(ValueError, match="bins"):
        HDLBPFeatures(P=20, method="default").fit(face[None])


def test_pca_mode(face):
    rng = np.random.default_rng(1)
    X = np.clip(face[None] + rng.normal(0, 25, size=(12, 160, 160)), 0, 255)[:, ::2, ::2]
    est = HDLBPFeatures("five", scales=(1.0, 0.5), n_components=5)
    assert est.__sklearn_tags__().requires_fit
    assert not HDLBPFeatures().__sklearn_tags__().requires_fit
    with pytest.raises(NotFittedError):
        clone(est).transform(X)
    F = est.fit(X).transform(X)
    assert F.shape == (12, 5) and F.dtype == np.float32 and np.all(np.isfinite(F))
    np.testing.assert_allclose(F.mean(axis=0), 0.0, atol=1e-4)  # centred on the training set
    np.testing.assert_allclose(clone(est).fit(X).transform(X), F, atol=1e-5)
    np.testing.assert_allclose(est.transform(X[3:7]), F[3:7], atol=1e-5)
    # (a float32 projection: BLAS may round the unpickled copy's products differently)
    np.testing.assert_allclose(pickle.loads(pickle.dumps(est)).transform(X), F, atol=1e-5)
    assert list(est.get_feature_names_out()) == [f"hd_lbp_pca{k}" for k in range(5)]
    # the projection is the PCA of the histogram features
    raw = clone(est).set_params(n_components=None).fit_transform(X)
    np.testing.assert_allclose(F, est.pca_.transform(raw), atol=1e-4)
    # more components than images: capped, with a warning
    with pytest.warns(UserWarning, match="n_components=13"):
        capped = clone(est).set_params(n_components=13).fit(X)
    assert capped.transform(X).shape[1] == len(capped.get_feature_names_out()) == min(len(X), 13)


def test_registered_and_contract_subset():
    load_components()
    assert "hd_lbp" in EXTRACTORS.names()
    X = np.random.default_rng(0).uniform(0, 255, size=(3, 16, 16)).astype(np.float32)
    F = EXTRACTORS.create("hd_lbp").fit_transform(X)
    assert F.shape == (3, 99_120) and np.all(np.isfinite(F))


@pytest.mark.slow  # a few seconds; a faster sibling covers the default suite
def test_lfw_pairs_auc_beats_plain_lbp(shared_data):
    """First 100 same + 100 different pairs of pairsDevTest: distance ROC AUC.

    Crops rows/cols 60:190 of the 250 x 250 deep-funnelled images, resized to
    160 x 160, with the template margin 0.1 (crop and margin were chosen on
    pairsDevTrain, where HD-LBP scored about 0.76 and 7x7 LBP 0.65).
    """
    from PIL import Image
    from skimage.transform import resize
    from sklearn.metrics import roc_auc_score

    from transfer.protocols.pairs import read_pairs

    lfw = need(shared_data, "lfw")
    folder = need(lfw, "lfw-deepfunneled")
    pairs = read_pairs(need(lfw, "pairsDevTest.txt"))
    same = np.asarray(pairs.same)
    chosen = np.r_[np.flatnonzero(same)[:100], np.flatnonzero(~same)[:100]]
    left = [pairs.left[i] for i in chosen]
    right = [pairs.right[i] for i in chosen]
    files = sorted(set(left) | set(right))
    crops = []
    for f in files:
        with Image.open(folder / f) as img:
            grey = to_grey(np.asarray(img.convert("RGB")))[60:190, 60:190]
        crops.append(resize(grey, (160, 160), anti_aliasing=True, preserve_range=True))
    crops = np.stack(crops).astype(np.float32)
    index = {f: k for k, f in enumerate(files)}
    a = [index[f] for f in left]
    b = [index[f] for f in right]

    def chi2_auc(F: np.ndarray) -> float:
        distance = np.sum((F[a] - F[b]) ** 2 / (F[a] + F[b] + 1e-10), axis=1)
        return roc_auc_score(same[chosen], -distance)

    hd = chi2_auc(HDLBPFeatures(margin=0.1).fit_transform(crops))
    plain = chi2_auc(LBPFeatures(grid=(7, 7)).fit_transform(crops))
    print(f"LFW pairsDevTest 100+100 pairs, chi-square AUC: hd_lbp {hd:.4f}, lbp 7x7 {plain:.4f}")
    assert hd > 0.6
    assert hd > plain


# -- the learned stage on cached features ----------------------------------------


def test_learned_stage_equals_fitting_on_images():
    """Histograms then a PCA fitted on them: the extractor's own fit, to 1e-5."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(24, 64, 64)).astype(np.float32)
    ext = HDLBPFeatures(landmarks="five", scales=(1.0, 0.75), n_components=6)
    stage, projection = ext.learned_stage()
    assert not stage.__sklearn_tags__().requires_fit and stage.n_components is None
    train, test = images[:16], images[16:]
    direct = clone(ext).fit(train).transform(test)
    split = projection.fit(stage.fit(train).transform(train)).transform(stage.transform(test))
    assert split.dtype == np.float32
    np.testing.assert_allclose(split, direct, atol=1e-5)
    assert HDLBPFeatures(landmarks="five").learned_stage() is None


def test_runner_extracts_the_histograms_once_and_fits_the_pca_per_fold(tmp_path, monkeypatch):
    """5 folds: the images go through the LBP stage once, not 5 x (train + all)."""
    from transfer.recipes import load_recipe_text
    from transfer.recipes.runner import extract, plan_run

    seen = []
    original = HDLBPFeatures._histograms

    def counting(self, images):
        seen.append(len(images))
        return original(self, images)

    monkeypatch.setattr(HDLBPFeatures, "_histograms", counting)
    text = f"""
name: hd
data: {{dataset: sklearn_digits, max_classes: 4, max_per_class: 15}}
transforms: [{{resize: {{size: 32}}}}]
extractors:
  - {{name: hd_lbp, params: {{landmarks: five, scales: [1.0], n_components: 4}}}}
heads: [knn]
protocol: {{name: classification, params: {{split: kfold, n_splits: 5}}}}
cache: {{dir: {tmp_path / "cache"}}}
"""
    plan = plan_run(load_recipe_text(text, "hd.yaml"), tmp_path / "out")
    seen.clear()  # the plan's one-image trial
    got = extract(plan, "hd_lbp", list(range(len(plan.folds))))
    n = len(plan.views["hd_lbp"])
    assert sum(seen) == n
    ext = plan.recipe.extractors["hd_lbp"]
    view = plan.views["hd_lbp"]
    for i, fold in enumerate(plan.folds):
        direct = clone(ext).fit(view.subset(fold.train)).transform(view)
        np.testing.assert_allclose(got.per_fold[i], direct, atol=1e-5)
