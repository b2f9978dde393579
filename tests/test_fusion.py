"""Feature fusion: the maths, the scikit-learn estimator, and recipe rows combining rows."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from tests.test_common import check_extractor_contract
from transfer._tags import component_tags
from transfer.data.transforms import make_transform
from transfer.features.fusion import FeatureFusion, fuse_features
from transfer.features.handcrafted import HOGFeatures, PixelFeatures
from transfer.recipes import RecipeError, load_recipe_text, run_recipe
from transfer.recipes.runner import extract, plan_run


def _unit(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def test_fused_cosine_is_the_weighted_mean_of_the_parts_cosines():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 5, 7)), rng.normal(size=(2, 5, 3)) * 40.0
    fa, fb = (fuse_features([a[i], b[i]], weights=[3.0, 1.0]) for i in range(2))
    fused = np.sum(fa * fb, axis=1)
    cos_a = np.sum(_unit(a[0]) * _unit(a[1]), axis=1)
    cos_b = np.sum(_unit(b[0]) * _unit(b[1]), axis=1)
    np.testing.assert_allclose(fused, 0.75 * cos_a + 0.25 * cos_b, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(fa, axis=1), 1.0, rtol=1e-6)
    # without normalisation the parts keep their scale, weighted
    raw = fuse_features([a[0], b[0]], normalize="none")
    np.testing.assert_allclose(raw, np.hstack([a[0], b[0]]) * np.sqrt(0.5), rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"parts": [np.zeros((3, 2))]}, "at least 2"),
        ({"parts": [np.zeros((3, 2)), np.zeros((4, 2))]}, "different numbers of rows"),
        ({"parts": [np.zeros((3, 2))] * 2, "weights": [1.0]}, "1 values for 2 parts"),
        ({"parts": [np.zeros((3, 2))] * 2, "weights": [1.0, -1.0]}, "positive"),
    ],
)
def test_fuse_features_refuses_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fuse_features(**kwargs)


def _images(n=6, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, size=(n, 32, 32)).astype(np.float32)


def test_python_fusion_equals_the_parts_normalised_and_concatenated():
    X = _images()
    hog = HOGFeatures(pixels_per_cell=(8, 8))
    fused = FeatureFusion([PixelFeatures(), hog]).fit_transform(X)
    expected = np.hstack([_unit(PixelFeatures().fit_transform(X)), _unit(hog.fit_transform(X))])
    np.testing.assert_allclose(fused, expected * np.sqrt(0.5), rtol=1e-5, atol=1e-7)
    names = FeatureFusion([("px", PixelFeatures()), ("hog", hog)]).fit(X).get_feature_names_out()
    assert names[0] == "px__pixelfeatures0" and names[-1].startswith("hog__")
    assert len(names) == fused.shape[1]


def test_fusion_passes_the_extractor_contract():
    check_extractor_contract(FeatureFusion([PixelFeatures(), HOGFeatures(pixels_per_cell=(8, 8))]))


def test_fusion_kind_follows_its_parts():
    handcrafted = FeatureFusion([PixelFeatures(), HOGFeatures()])
    assert component_tags(handcrafted)["kind"] == "handcrafted"

    class Net(PixelFeatures):
        def __transfer_tags__(self):
            return {**super().__transfer_tags__(), "kind": "learned"}

    mixed = FeatureFusion([PixelFeatures(), make_pipeline(FunctionTransformer(), Net())])
    assert component_tags(mixed)["kind"] == "learned"


def test_cache_key_covers_parts_and_parameters():
    base = FeatureFusion([PixelFeatures(), HOGFeatures()])
    key = base.cache_key()
    assert clone(base).cache_key() == key
    others = [
        FeatureFusion([PixelFeatures(), HOGFeatures(orientations=8)]),
        FeatureFusion([PixelFeatures(), HOGFeatures()], normalize="none"),
        FeatureFusion([PixelFeatures(), HOGFeatures()], weights=[2.0, 1.0]),
        FeatureFusion([HOGFeatures(), PixelFeatures()]),
    ]
    assert len({key, *(o.cache_key() for o in others)}) == 5


def test_python_fusion_refuses_row_labels_and_single_parts():
    with pytest.raises(ValueError, match="names recipe rows"):
        FeatureFusion(["pixels", "hog"]).fit(_images())
    with pytest.raises(ValueError, match="at least 2"):
        FeatureFusion([PixelFeatures()]).fit(_images())
    with pytest.raises(ValueError, match="repeats 'a'"):
        FeatureFusion([("a", PixelFeatures()), ("a", HOGFeatures())]).fit(_images())


RECIPE = textwrap.dedent(
    """
    name: fused
    data: {{dataset: sklearn_digits, max_classes: 4, max_per_class: 15}}
    cache: {{dir: {cache}}}
    extractors:
      - pixels
      - {{name: hog, transforms: [{{resize: {{size: 16}}}}],
         params: {{pixels_per_cell: [4, 4], cells_per_block: [2, 2]}}}}
      - {{name: fusion, label: pixels+hog, params: {{parts: [pixels, hog], weights: {weights}}}}}
    heads: [{{name: knn, params: {{n_neighbors: 1}}}}]
    protocol: {{name: classification, params: {{split: kfold, n_splits: 3}}}}
    """
)


def _recipe(tmp_path, weights="[1.0, 1.0]", hog_size=None):
    text = RECIPE.format(cache=tmp_path / "cache", weights=weights)
    if hog_size:
        text = text.replace("size: 16", f"size: {hog_size}")
    return load_recipe_text(text, "fused.yaml")


def test_recipe_fusion_combines_the_rows_features_with_their_own_transforms(tmp_path):
    recipe = _recipe(tmp_path)
    plan = plan_run(recipe)
    fused = extract(plan, "pixels+hog", [0, 1, 2])
    # computed apart: pixels on the plain images, HOG on the resized ones
    data = plan.data
    pixels = PixelFeatures().fit_transform(data)
    hog = HOGFeatures(pixels_per_cell=(4, 4)).fit_transform(
        data.with_transforms(make_transform({"resize": {"size": 16}}))
    )
    expected = np.hstack([_unit(pixels), _unit(hog)]) * np.sqrt(0.5)
    for i in range(3):
        np.testing.assert_allclose(fused.per_fold[i], expected, rtol=1e-5, atol=1e-7)
    assert fused.row["n_features"] == pixels.shape[1] + hog.shape[1]


@pytest.mark.slow  # a few seconds; a faster sibling covers the default suite
def test_recipe_fusion_runs_from_the_cache_and_follows_its_parts(tmp_path):
    result = run_recipe(_recipe(tmp_path), tmp_path / "a")
    table = pd.read_csv(tmp_path / "a" / "results.csv")
    assert set(table["extractor"]) == {"pixels", "hog", "pixels+hog"}
    assert (table["status"] == "ok").all()
    # the parts' features are read from the cache, nothing is extracted twice
    rows = result.extraction.set_index("extractor")
    assert rows.loc["pixels+hog", "n_images"] == 0
    # a second run takes every cell from the cache
    again = run_recipe(_recipe(tmp_path), tmp_path / "b")
    assert again.n_cached == len(table)
    # a change in a part (hog's transforms) reruns the fusion's cells too
    changed = run_recipe(_recipe(tmp_path, hog_size=24), tmp_path / "c")
    assert changed.n_cached == 3  # pixels' cells only


@pytest.mark.parametrize(
    "parts, message",
    [
        ("[pixels, hgo]", r"names no row of this recipe: 'hgo' \(rows: 'pixels', 'hog'\)"),
        ("[pixels, both]", "names this row itself"),
        ("[pixels]", "at least 2"),
    ],
)
def test_recipe_fusion_errors_name_the_key(tmp_path, parts, message):
    text = RECIPE.format(cache=tmp_path, weights="null").replace(
        "label: pixels+hog, params: {parts: [pixels, hog]", f"label: both, params: {{parts: {parts}"
    )
    with pytest.raises(RecipeError, match=r"extractors\[2\]\.params\.parts: .*" + message):
        load_recipe_text(text, "fused.yaml")


def test_recipe_fusion_of_a_fusion_is_refused():
    text = textwrap.dedent(
        """
        name: nested
        data: {dataset: sklearn_digits}
        extractors:
          - pixels
          - hog
          - {name: fusion, label: a, params: {parts: [pixels, hog]}}
          - {name: fusion, label: b, params: {parts: [a, hog]}}
        heads: [knn]
        protocol: {name: classification}
        """
    )
    match = r"extractors\[3\]\.params\.parts: .*'a', itself a fusion"
    with pytest.raises(RecipeError, match=match):
        load_recipe_text(text, "nested.yaml")
