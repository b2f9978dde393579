"""Recipes: every shipped recipe validates; bad recipes fail early and clearly."""

from __future__ import annotations

import textwrap

import pytest

from transfer.recipes import RecipeError, list_recipes, load_recipe, load_recipe_text
from transfer.recipes.schema import set_override

GOOD = textwrap.dedent(
    """
    name: toy
    data:
      dataset: skimage_lfw_subset
    extractors:
      - pixels
      - {name: lbp, params: {P: 8, R: 1}}
    heads: [linear_svm, {name: knn, params: {n_neighbors: 1}}]
    protocol: {name: classification, params: {n_splits: 3}}
    """
)


def test_shipped_recipes_are_listed():
    assert {"quickstart", "orl-identification", "lfw-people"} <= set(list_recipes())


@pytest.mark.parametrize("name", list_recipes())
def test_every_shipped_recipe_validates(name):
    recipe = load_recipe(name)
    assert recipe.extractors and recipe.heads
    assert recipe.config["name"] == name
    # the resolved recipe records every parameter of every component
    for entry in recipe.config["extractors"]:
        built = recipe.extractors[entry["label"]]
        assert entry["params"] == built.get_params(deep=False)


def test_defaults_are_filled():
    recipe = load_recipe_text(GOOD, "toy.yaml")
    assert recipe.config["seed"] == 0
    assert recipe.config["cache"]["enabled"] is True
    assert recipe.config["report"]["title"] is None
    assert list(recipe.heads) == ["linear_svm", "knn"]
    assert recipe.protocol.n_splits == 3


def _error(text: str, overrides=None) -> str:
    with pytest.raises(RecipeError) as info:
        load_recipe_text(textwrap.dedent(text), "bad.yaml", overrides)
    return str(info.value)


def test_unknown_top_level_key_suggests_closest():
    msg = _error(GOOD.replace("heads:", "head:"))
    assert "bad.yaml" in msg and "'head'" in msg and "Did you mean 'heads'?" in msg
    assert "line 8" in msg


def test_unknown_extractor_suggests_closest():
    msg = _error(GOOD.replace("- pixels", "- pixles"))
    assert "unknown extractor 'pixles'" in msg and "Did you mean 'pixels'?" in msg
    assert "extractors[0]" in msg and "line 6" in msg


def test_unknown_head_and_protocol():
    assert "Did you mean 'linear_svm'?" in _error(GOOD.replace("[linear_svm", "[linear_svn"))
    assert "Did you mean 'classification'?" in _error(
        GOOD.replace("name: classification", "name: clasification")
    )


def test_unknown_parameter_suggests_closest():
    msg = _error(GOOD.replace("{P: 8, R: 1}", "{P: 8, radius: 1}"))
    assert "no parameter 'radius'" in msg and "extractors[1].params.radius" in msg


def test_parameter_out_of_range_names_it():
    msg = _error(GOOD.replace("n_neighbors: 1", "n_neighbors: 0"))
    assert "'n_neighbors'" in msg and "heads[1]" in msg
    msg = _error(GOOD.replace("{P: 8, R: 1}", "{P: 8, R: -1}"))
    assert "'R'" in msg


def test_wrong_types_and_missing_keys():
    assert "expected an integer" in _error(GOOD + "seed: abc\n")
    assert "missing required key 'extractors'" in _error(
        "data: {dataset: orl}\nheads: [knn]\nprotocol: {name: classification}\n"
    )
    assert "not valid YAML" in _error("data: [unclosed\n")


def test_unknown_dataset_and_transform():
    assert "Did you mean 'orl'?" in _error(GOOD.replace("skimage_lfw_subset", "orll"))
    msg = _error(GOOD + "transforms: [{resise: {size: 8}}]\n")
    assert "transforms[0]" in msg and "resize" in msg


def test_duplicate_labels():
    msg = _error(
        GOOD.replace("- pixels", "- {name: pixels, label: lbp}\n  - {name: lbp, label: lbp}")
    )
    assert "duplicate label 'lbp'" in msg


def test_overrides():
    recipe = load_recipe_text(GOOD, "toy.yaml", ["extractors.1.params.R=2", "seed=7"])
    assert recipe.extractors["lbp"].R == 2
    assert recipe.config["seed"] == 7
    recipe = load_recipe_text(GOOD, "toy.yaml", ["heads.0.params.C=0.5"])
    assert recipe.heads["linear_svm"].C == 0.5
    with pytest.raises(RecipeError, match="expected key=value"):
        load_recipe_text(GOOD, "toy.yaml", ["seed"])
    config = {"data": {"dataset": "orl"}}
    set_override(config, "data.root=/tmp/x")
    assert config["data"]["root"] == "/tmp/x"


def test_missing_recipe_file_and_name():
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe("nowhere/recipe.yaml")
    with pytest.raises(RecipeError, match="Did you mean 'quickstart'"):
        load_recipe("quickstrat")
