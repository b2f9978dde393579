"""Recipe errors: bad --set paths, unsafe names and YAML 1.1 numbers name the key."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from transfer.recipes import RecipeError, load_recipe, load_recipe_text
from transfer.recipes.schema import set_override

GOOD = textwrap.dedent(
    """
    name: toy
    seed: 3
    data:
      dataset: skimage_lfw_subset
    extractors:
      - pixels
      - {name: lbp, params: {P: 8, R: 1}}
    heads:
      - name: linear_svm
        params:
          C: 0.5
      - {name: knn, params: {n_neighbors: 1}}
    protocol: {name: classification, params: {n_splits: 3}}
    """
)


def _error(text: str, overrides=None, source: str = "bad.yaml") -> str:
    with pytest.raises(RecipeError) as info:
        load_recipe_text(text, source, overrides)
    return str(info.value)


@pytest.mark.parametrize(
    ("assignment", "expected"),
    [
        # walking into a scalar
        ("seed.x=1", ["key seed.x", "seed is 3 (an integer), not a mapping", "no key 'x'"]),
        ("name.a.b=1", ["key name.a", "name is 'toy' (a string)", "no key 'a'"]),
        ("data.dataset.x=1", ["key data.dataset.x", "'skimage_lfw_subset' (a string)"]),
        ("heads.0.params.C.x=1", ["key heads[0].params.C.x", "0.5 (a number)", "no key 'x'"]),
        # a list indexed by a name, or past its end
        ("heads.x=1", ["key heads.x", "heads is a list", "item number (0 to 1)"]),
        ("heads.-1.name=knn", ["key heads.-1", "heads is a list"]),
        (
            "extractors.9.name=lbp",
            ["key extractors[9]", "no item 9 in extractors", "has 2 (0 to 1)"],
        ),
        ("transforms.0=grey", ["key transforms[0]", "in transforms, which has 0 (it is empty)"]),
        # empty keys
        ("heads..name=knn", ["empty key in 'heads..name'"]),
        ("=1", ["empty key in ''"]),
    ],
)
def test_set_override_that_walks_off_the_recipe_names_the_key(assignment, expected):
    text = GOOD + "transforms: []\n" if assignment.startswith("transforms") else GOOD
    msg = _error(text, [assignment])
    assert msg.startswith(f"--set {assignment!r}: ")
    for part in expected:
        assert part in msg, msg


def test_set_override_on_a_shipped_recipe_raises_a_recipe_error():
    # the crash that was reported: a TypeError from inside set_override
    with pytest.raises(RecipeError, match=r"--set 'seed\.x=1': key seed\.x: seed is 0"):
        load_recipe("quickstart", ["seed.x=1"])


def test_set_override_still_reaches_components_written_as_bare_names():
    config = {"heads": "knn"}
    set_override(config, "heads.0.params.n_neighbors=3")
    assert config == {"heads": [{"name": "knn", "params": {"n_neighbors": 3}}]}
    config = {"heads": ["knn", "linear_svm"]}
    set_override(config, "heads.1.params.C=2")
    assert config["heads"] == ["knn", {"name": "linear_svm", "params": {"C": 2}}]
    # outside component lists a string stays a string: no silent {name: ...}
    with pytest.raises(RecipeError, match="not a mapping"):
        set_override({"data": {"dataset": "orl"}}, "data.dataset.params=1")
    recipe = load_recipe_text(GOOD, "toy.yaml", ["heads.1.params.n_neighbors=3", "seed=5"])
    assert recipe.heads["knn"].n_neighbors == 3 and recipe.config["seed"] == 5


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../outside", "path separator"),
        ("a/b", "path separator"),
        ("'a\\b'", "path separator"),
        (".hidden", "starts with '.'"),
        ("a..b", "contains '..'"),
        ("'two words'", "contains ' '"),
    ],
)
def test_unsafe_recipe_names_are_refused_with_file_and_line(name, why):
    msg = _error(GOOD.replace("name: toy", f"name: {name}"))
    assert msg.startswith("bad.yaml, line 2: name: ")
    assert why in msg and "results/<name>" in msg


def test_safe_recipe_names_and_names_from_the_file():
    assert load_recipe_text(GOOD.replace("name: toy", "name: v2.orl_x-1"), "t.yaml").name == (
        "v2.orl_x-1"
    )
    no_name = GOOD.replace("name: toy\n", "")
    assert load_recipe_text(no_name, "dir/from-file.yaml").name == "from-file"
    # a file name is the user's choice: it is made into a valid name
    assert load_recipe_text(no_name, "dir/.hidden.yaml").name == "hidden"
    assert load_recipe_text(no_name, "dir/my recipe (v2).yaml").name == "my-recipe-v2-"


def test_unsafe_name_given_by_set_names_the_assignment():
    msg = _error(GOOD, ["name=../../etc"])
    assert msg.startswith("--set 'name=../../etc': '../../etc' is not a valid name")


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        ("1e-3", "YAML reads 1e-3 as a string; write 1.0e-3"),
        ("2E5", "YAML reads 2E5 as a string; write 2.0e+5"),
        ("1.5e3", "YAML reads 1.5e3 as a string; write 1.5e+3"),
        ("'0.5'", "YAML reads '0.5' as a string because it is quoted; write 0.5 unquoted"),
    ],
)
def test_number_that_yaml_reads_as_a_string_gets_a_hint(written, hint):
    msg = _error(GOOD.replace("C: 0.5", f"C: {written}"))
    # the line of C itself, and the usual message before the hint
    assert msg.startswith("bad.yaml, line 12: heads[0].params.C: ")
    assert "'C' parameter" in msg and msg.endswith(hint)
    fixed = hint.rsplit("write ", 1)[1].removesuffix(" unquoted")
    # the suggested spelling really is a float for PyYAML, with the same value
    expected = float(written.strip("'"))
    assert yaml.safe_load(f"C: {fixed}")["C"] == pytest.approx(expected)
    assert load_recipe_text(GOOD.replace("C: 0.5", f"C: {fixed}"), "t.yaml").heads[
        "linear_svm"
    ].C == pytest.approx(expected)


def test_no_number_hint_for_strings_that_are_not_numbers():
    msg = _error(GOOD.replace("C: 0.5", "C: lots"))
    assert "'C' parameter" in msg and "YAML reads" not in msg


@pytest.mark.parametrize(
    ("engine", "expected"),
    [
        ("engine: rey", ["bad.yaml, line 15: engine.name", "unknown engine 'rey'", "'ray'"]),
        ("engine: {name: ray, workers: 0}", ["engine.workers", "must be >= 1", "got 0"]),
        ("engine: {name: ray, batch_size: -2}", ["engine.batch_size", "got -2"]),
        ("engine: {name: ray, workers: two}", ["engine.workers", "expected an integer or null"]),
        ("engine: {name: ray, adress: auto}", ["engine.adress", "Did you mean 'address'"]),
        ("engine: {address: auto}", ["engine.address", "needs name: ray"]),
        ("engine: [ray]", ["engine", "expected a mapping"]),
    ],
)
def test_engine_key_errors_name_the_key(engine, expected):
    message = _error(GOOD + engine + "\n")
    for part in expected:
        assert part in message, message


def test_engine_defaults_to_local_and_takes_a_plain_name():
    local = load_recipe_text(GOOD, "good.yaml").config["engine"]
    assert local == {"name": "local", "address": None, "workers": None, "batch_size": None}
    ray = load_recipe_text(GOOD + "engine: ray\n", "good.yaml", ["engine.workers=2"])
    assert ray.config["engine"] == {
        "name": "ray",
        "address": None,
        "workers": 2,
        "batch_size": None,
    }
