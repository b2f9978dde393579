"""The runner: stateful extractors are fitted per fold on training images only,
and a failing run leaves nothing behind."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest

from transfer._registry import EXTRACTORS
from transfer.features.base import BaseExtractor
from transfer.recipes import load_recipe_text, run_recipe


class SpyCentredPixels(BaseExtractor):
    """Pixels minus the mean training image; records what each fit saw."""

    fits: list = []
    _parameter_constraints = dict(BaseExtractor._parameter_constraints)

    def __init__(self, image_shape=None):
        self.image_shape = image_shape

    def _fit(self, X, y):
        images = X.load() if hasattr(X, "load") else X
        SpyCentredPixels.fits.append((len(images), None if y is None else np.asarray(y).copy()))
        self.mean_ = images.reshape(len(images), -1).mean(0)

    def _transform_batch(self, images):
        return images.reshape(len(images), -1) - self.mean_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        return tags


@pytest.fixture
def spy_registered():
    EXTRACTORS.register("spy_pixels")(SpyCentredPixels)
    SpyCentredPixels.fits = []
    yield
    EXTRACTORS.unregister("spy_pixels")


RECIPE = textwrap.dedent(
    """
    name: spy
    data: {dataset: sklearn_digits, max_classes: 4, max_per_class: 12}
    extractors: [spy_pixels, {name: pixels}]
    heads: [{name: knn, params: {n_neighbors: 1}}]
    protocol: {name: identification, params: {n_train: 4, n_repeats: 3}}
    """
)


def test_stateful_extractor_is_fitted_per_fold_on_training_images(spy_registered, tmp_path):
    recipe = load_recipe_text(RECIPE, "spy.yaml")
    result = run_recipe(recipe, tmp_path / "out")
    # one fit per fold, each on the 4 x 4 training images with their labels only
    assert [n for n, _ in SpyCentredPixels.fits] == [16, 16, 16]
    for _, y in SpyCentredPixels.fits:
        np.testing.assert_array_equal(np.bincount(y), [4, 4, 4, 4])
    extraction = pd.read_csv(tmp_path / "out" / "extraction.csv").set_index("extractor")
    assert not extraction.loc["spy_pixels", "cached"]
    # centring does not change 1-NN distances: both extractors rank identically
    summary = result.summary.set_index("extractor")
    assert summary.loc["spy_pixels", "rank1_mean"] == pytest.approx(
        summary.loc["pixels", "rank1_mean"]
    )


def test_failed_run_leaves_nothing(tmp_path, monkeypatch):
    recipe = load_recipe_text(RECIPE.replace("spy_pixels, ", ""), "spy.yaml")

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("transfer.report.build_report", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        run_recipe(recipe, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_previous_results_are_replaced_only_on_success(tmp_path, monkeypatch):
    out = tmp_path / "out"
    recipe = load_recipe_text(RECIPE.replace("spy_pixels, ", ""), "spy.yaml")
    run_recipe(recipe, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    with monkeypatch.context() as m:
        m.setattr("transfer.report.build_report", boom)
        with pytest.raises(RuntimeError, match="disk full"):
            run_recipe(recipe, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    run_recipe(recipe, out)
    assert (out / "results.csv").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.slow  # a recipe run with sample pictures (3 s)
def test_samples_show_each_view_of_one_image_per_class(tmp_path, monkeypatch):
    """samples.png: one row per distinct transform chain, one image per class;
    listed among the run's files and shown in the report."""
    import json

    from transfer.recipes import runner

    drawn = {}
    real = runner._sample_indices

    def spy(plan, n):
        drawn["idx"] = real(plan, n)
        drawn["labels"] = np.asarray(plan.data.labels)[drawn["idx"]]
        return drawn["idx"]

    monkeypatch.setattr(runner, "_sample_indices", spy)
    text = RECIPE.replace(
        "spy_pixels, {name: pixels}",
        "{name: pixels}, {name: pixels, label: big, transforms: [{resize: {size: 16}}]}",
    )
    out = tmp_path / "out"
    run_recipe(load_recipe_text(text, "spy.yaml"), out)
    # 4 classes: two rounds of one image per class, in class order
    np.testing.assert_array_equal(drawn["labels"], [0, 1, 2, 3, 0, 1, 2, 3])
    from PIL import Image

    with Image.open(out / "samples.png") as strip:
        width, height = strip.size
    assert width > 2.5 * height  # a strip: 8 columns, 2 rows (two transform chains)
    marker = json.loads((out / ".transfer-results.json").read_text())
    assert "samples.png" in marker["files"]
    assert "Sample images" in (out / "report.html").read_text()
