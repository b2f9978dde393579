"""Finding one's way from the command line: list, describe, show, init, help examples,
weights aliases and folders, and a start-up that imports neither TensorFlow nor
scikit-learn."""

from __future__ import annotations

import fnmatch
import importlib.util
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from transfer import registry
from transfer._registry import REGISTRIES
from transfer.weights import (
    canonical_weights,
    get_record,
    list_weights,
    weights_dir,
    weights_status,
)
from transfer_cli.main import LAZY_COMMANDS, LazyGroup, main


def invoke(*args: str, **kwargs):
    return CliRunner().invoke(main, list(args), **kwargs)


def listed(*args: str):
    result = invoke("list", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture(scope="module")
def components():
    registry.load_components()
    return {reg.plural: reg for reg in REGISTRIES}


# -- transfer list ------------------------------------------------------------


@pytest.mark.parametrize("reg", REGISTRIES, ids=lambda r: r.plural)
def test_list_json_holds_every_registered_name_and_its_summary(reg, components):
    rows = listed(reg.plural)
    extra = {"tfds:NAME"} if reg is components["datasets"] else set()
    assert {r["name"] for r in rows} == set(reg.names()) | extra
    for row in rows:
        if row["name"] in reg:
            assert row["summary"] == reg.summary(row["name"])
            module, _, qualname = row["object"].partition(":")
            assert f"{reg.get(row['name']).__module__}:{reg.get(row['name']).__qualname__}" == (
                f"{module}:{qualname}"
            )


def test_list_text_shows_one_line_summaries(components):
    result = invoke("list", "heads")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    heads = components["heads"]
    assert len(lines) == len(heads)
    for line, name in zip(lines, heads.names(), strict=True):
        assert line.split()[0] == name and heads.summary(name) in line


def test_glob_filter_and_bare_word(components):
    names = components["extractors"].names()
    glob = [r["name"] for r in listed("extractors", "lbp*")]
    assert glob == [n for n in names if fnmatch.fnmatchcase(n, "lbp*")] == ["lbp"]
    word = [r["name"] for r in listed("extractors", "lbp")]
    assert word == [n for n in names if "lbp" in n] and "hd_lbp" in word
    assert listed("heads", "*_verifier") and all(
        r["name"].endswith("_verifier") for r in listed("heads", "*_verifier")
    )
    nothing = invoke("list", "extractors", "zzz*")
    assert nothing.exit_code == 0 and "no extractors match 'zzz*'" in nothing.output


def test_list_everything_groups_by_kind(components):
    everything = listed()
    assert set(everything) == {r.plural for r in REGISTRIES} | {"recipes", "weights", "backbones"}
    assert {r["name"] for r in everything["transforms"]} == set(components["transforms"].names())


def test_list_recipes_title_runtime_and_weights():
    from transfer.recipes import list_recipes, load_recipe

    rows = {r["name"]: r for r in listed("recipes")}
    assert sorted(rows) == list_recipes()
    quick = rows["quickstart"]
    assert quick["title"] == load_recipe("quickstart").config["title"]
    assert quick["runtime"].lower() == "about a minute"  # "About a minute on 2 CPU cores."
    assert quick["weights"] == ["efficientnet_lite0"]
    assert rows["parity-depth"]["weights"] == []  # no network to prepare
    assert set(rows["lfw-verification"]["weights"]) == {
        "facenet_inception_resnet_v1",
        "mobilenet_v2_1.0_224",
    }
    text = invoke("list", "recipes").output
    assert any(
        ln.startswith("quickstart ") and "efficientnet_lite0" in ln for ln in text.splitlines()
    )


def test_list_weights_and_backbones_show_aliases():
    from transfer.features.cnn.backbones import list_backbones

    weights = {r["name"]: r for r in listed("weights")}
    assert sorted(weights) == list_weights()
    assert weights["mobilenet_v1_1.0_224"]["aliases"] == ["mobilenet_v1"]
    backbones = {r["name"]: r for r in listed("backbones")}
    assert sorted(backbones) == list_backbones()
    assert backbones["mobilenet_v1"]["aliases"] == ["mobilenet_v1_1.0_224"]


def test_the_index_is_rebuilt_when_damaged(tmp_path, monkeypatch, components):
    monkeypatch.setenv("TRANSFER_CACHE", str(tmp_path))
    first = registry.component_index()
    (index,) = (tmp_path / "index").glob("components-*.json")
    index.write_text("{not json")
    assert registry.component_index() == first == registry.component_index(use_cache=False)
    assert json.loads(index.read_text()) == first


def _python(code: str, **env: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_starting_the_cli_imports_no_tensorflow_nor_scikit_learn():
    loaded = _python(
        "import sys, transfer_cli.main\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'sklearn', 'pandas', 'scipy') "
        "if m in sys.modules))"
    )
    assert loaded.strip() == "[]"


@pytest.mark.slow  # imports every component in a fresh interpreter (seconds)
def test_registering_the_components_imports_no_tensorflow():
    loaded = _python(
        "import sys\n"
        "from transfer import registry\n"
        "registry.component_index(use_cache=False)\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    assert loaded.strip() == "[]"


def test_a_listing_from_the_index_imports_no_component(components):
    """Once the index is stored, `transfer list` and `transfer --help` import nothing heavy."""
    registry.component_index()  # stored in this session's TRANSFER_CACHE (conftest)
    out = _python(
        "import sys\n"
        "from transfer_cli.main import main\n"
        "for args in (['list', 'extractors'], ['--help']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit as e:\n"
        "        assert not e.code, e.code\n"
        "print('LOADED', sorted(m for m in ('tensorflow', 'sklearn', 'pandas', "
        "'transfer.features', 'transfer_cli.faces', 'transfer_cli.compare') if m in sys.modules))"
    )
    assert "lbp" in out
    assert out.strip().splitlines()[-1] == "LOADED []"


# -- transfer describe --------------------------------------------------------


def test_describe_an_extractor_shows_its_parameters_defaults_and_references():
    from transfer.features.handcrafted import LBPFeatures

    result = invoke("describe", "extractor", "lbp")
    assert result.exit_code == 0
    out = result.output
    for name, default in LBPFeatures().get_params().items():
        assert f"  {name} = {default!r}" in out
    assert "allowed: one of {'default', 'ror', 'uniform', 'nri_uniform'}" in out
    assert "allowed: an int in the range [1, 31]" in out
    assert "References:" in out and "Ahonen" in out
    assert out.startswith("lbp (extractor): Grid of local binary pattern histograms")


@pytest.mark.parametrize("kind", ["extractors", "heads"])
def test_describe_covers_every_parameter_of_every_estimator(kind, components):
    reg = components[kind]
    for name in reg.names():
        info = json.loads(invoke("describe", reg.kind, name, "--json").output)
        params = reg.get(name)().get_params(deep=False)
        shown = {p["name"]: p["default"] for p in info["parameters"]}
        assert shown == {k: repr(v) for k, v in params.items()}, name
        assert info["summary"] == reg.summary(name)


def test_describe_reads_allowed_values_from_the_docstring_without_a_table(components):
    info = registry.describe("transform", "resize")
    (size,) = info["parameters"]
    assert size["type"] == "int or (int, int)"
    assert size["default"] == repr(
        inspect.signature(components["transforms"].get("resize")).parameters["size"].default
    )
    assert registry.describe("dataset", "orl")["info"]["default_path"] == "orl"


def test_describe_unknown_name_suggests_and_exits_2():
    result = invoke("describe", "extractor", "lbpp")
    assert result.exit_code == 2
    assert "Did you mean 'lbp'?" in result.output and result.output.startswith("error: ")
    assert invoke("describe", "extractr", "lbp").exit_code == 2  # click's own choice error


def test_numpydoc_sections_split_types_with_commas():
    doc = """Summary.

    Parameters
    ----------
    grid : int or (int, int), default=(7, 7)
        Cells.
    method : {"a", "b"}, default="a"
        Which.
    x, y : float, optional
        Two.

    References
    ----------
    .. [1] A paper.
    """
    sections = registry.numpydoc_sections(doc)
    assert sections[""] == ["Summary.", ""]
    assert sections["References"] == [".. [1] A paper."]
    params = registry._parse_parameters(sections["Parameters"])
    assert params["grid"] == {"type": "int or (int, int)", "doc_default": "(7, 7)", "doc": "Cells."}
    assert params["method"]["type"] == '{"a", "b"}' and params["method"]["doc_default"] == '"a"'
    assert params["x"] == params["y"] == {"type": "float", "doc_default": "", "doc": "Two."}


# -- transfer show / init -----------------------------------------------------


def _shipped(name: str) -> Path:
    from transfer.recipes import resolve_recipe_path

    return resolve_recipe_path(name)


def test_show_prints_a_shipped_recipe():
    result = invoke("show", "recipe", "orl-identification")
    assert result.exit_code == 0
    assert result.output == _shipped("orl-identification").read_text()
    bad = invoke("show", "recipe", "orl-identifcation")
    assert bad.exit_code == 2 and "Did you mean 'orl-identification'?" in bad.output


def test_init_copies_and_never_overwrites(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = invoke("init", "quickstart")
    assert first.exit_code == 0, first.output
    copy = tmp_path / "quickstart.yaml"
    assert copy.read_text() == _shipped("quickstart").read_text()
    assert "transfer run quickstart.yaml" in first.output
    copy.write_text("# my edits\n")
    again = invoke("init", "quickstart")
    assert again.exit_code == 2 and "already exists" in again.output
    assert copy.read_text() == "# my edits\n"
    (tmp_path / "sub").mkdir()
    into = invoke("init", "quickstart", "sub")
    assert into.exit_code == 0 and (tmp_path / "sub" / "quickstart.yaml").is_file()
    named = invoke("init", "lfw-people", "faces.yaml")
    assert named.exit_code == 0 and (tmp_path / "faces.yaml").read_text().startswith("# LFW")
    assert invoke("init", "nope", "x.yaml").exit_code == 2 and not (tmp_path / "x.yaml").exists()
    assert invoke("init", "quickstart", "missing/dir/q.yaml").exit_code == 2


# -- help: examples everywhere, lazy commands ---------------------------------


def _all_commands(group: click.Group, ctx: click.Context, prefix: tuple[str, ...] = ()):
    yield prefix, group
    for name in group.list_commands(ctx):
        if isinstance(group, LazyGroup) and name in group.lazy_commands:
            module = group.lazy_commands[name][0].partition(":")[0]
            if importlib.util.find_spec(module) is None:
                continue  # being written elsewhere; checked once it exists
        cmd = group.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            yield from _all_commands(cmd, ctx, (*prefix, name))
        else:
            yield (*prefix, name), cmd


def test_every_help_has_an_example():
    ctx = click.Context(main)
    checked = 0
    for path, _cmd in _all_commands(main, ctx):
        result = invoke(*path, "--help")
        assert result.exit_code == 0, path
        lines = [ln.strip() for ln in result.output.splitlines()]
        assert any(ln.startswith("Example") for ln in lines), f"transfer {' '.join(path)} --help"
        assert any(ln.startswith("transfer ") for ln in lines), path
        checked += 1
    assert checked >= 12


def test_main_help_lists_lazy_commands_with_their_stored_help():
    out = invoke("--help").output
    for name, (_target, short) in LAZY_COMMANDS.items():
        assert any(ln.split()[:1] == [name] and short[:30] in ln for ln in out.splitlines()), name


@pytest.mark.parametrize("name", sorted(LAZY_COMMANDS))
def test_lazy_command_resolves_to_its_module(name):
    target, short = LAZY_COMMANDS[name]
    module, _, attribute = target.partition(":")
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not written yet")
    cmd = main.get_command(click.Context(main), name)
    assert cmd is getattr(importlib.import_module(module), attribute)
    assert cmd.get_short_help_str(200) == short  # the stored copy says the same


def test_a_lazy_command_whose_module_is_missing_says_so():
    group = LazyGroup(
        "g",
        lazy_commands={
            "ghost": ("transfer_cli.no_such_module:ghost", "A command not installed."),
            "w": ("transfer_cli.weights:weights", "The weights group, lazily."),
        },
    )
    helped = CliRunner().invoke(group, ["--help"])
    assert "A command not installed." in helped.output
    assert "transfer_cli.no_such_module" not in sys.modules
    ghost = CliRunner().invoke(group, ["ghost", "x"])
    assert ghost.exit_code == 2 and "transfer_cli.no_such_module is missing" in ghost.output
    assert CliRunner().invoke(group, ["w", "list", "--help"]).exit_code == 0


# -- weights: one naming scheme, a folder of their own ------------------------


def test_weights_and_backbone_names_are_aliases():
    from transfer.features.cnn.backbones import BACKBONES, canonical_backbone, get_backbone

    assert get_record("mobilenet_v1") is get_record("mobilenet_v1_1.0_224")
    assert canonical_weights("mobilenet_v1") == "mobilenet_v1_1.0_224"
    assert canonical_weights("squeezenet_v1_1") == "squeezenet_v1.1"
    assert canonical_weights("imagenet") == "imagenet"  # not a name: unchanged
    assert get_backbone("mobilenet_v1_1.0_224") is get_backbone("mobilenet_v1")
    assert canonical_backbone("mobilenet_v2_1.0_224") == "mobilenet_v2_torch"
    # Keras' MobileNetV2 is another network: no alias may shadow a backbone
    assert canonical_backbone("mobilenet_v2") == "mobilenet_v2"
    assert "mobilenet_v1_1.0_224" not in list(BACKBONES) and len(BACKBONES) == len(set(BACKBONES))
    assert weights_status("mobilenet_v1") == weights_status("mobilenet_v1_1.0_224")


def test_both_weights_names_share_the_cache_identity():
    from transfer.features.network import weights_identity

    assert weights_identity("mobilenet_v1") == weights_identity("mobilenet_v1_1.0_224")


def test_both_weights_names_give_one_cache_key():
    from transfer._validation import validate_params
    from transfer.features.cnn import CNNFeatures

    assert (
        CNNFeatures("mobilenet_v1").cache_key() == CNNFeatures("mobilenet_v1_1.0_224").cache_key()
    )
    # and a backbone alias is accepted where a backbone name is
    validate_params(CNNFeatures(weights="imagenet", backbone="mobilenet_v1_1.0_224"))


def test_transfer_cache_does_not_move_the_weights(tmp_path, monkeypatch):
    monkeypatch.delenv("TRANSFER_WEIGHTS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("TRANSFER_CACHE", str(tmp_path / "scratch"))
    assert weights_dir() == tmp_path / "xdg" / "transfer" / "weights"
    # weights an earlier version prepared inside the cache folder stay in use
    (tmp_path / "scratch" / "weights").mkdir(parents=True)
    assert weights_dir() == tmp_path / "scratch" / "weights"
    monkeypatch.setenv("TRANSFER_WEIGHTS", str(tmp_path / "w"))
    assert weights_dir() == tmp_path / "w"
    helped = invoke("weights", "--help").output
    assert "TRANSFER_WEIGHTS" in helped and "TRANSFER_CACHE" in helped


def test_weights_list_says_prepares_on_first_use(tmp_path, monkeypatch):
    record = get_record("squeezenet_v1.1")  # its source is a local file, on no registry
    monkeypatch.setenv("TRANSFER_WEIGHTS", str(tmp_path / "w"))
    monkeypatch.setenv("TRANSFER_WEIGHTS_PATH", str(tmp_path / "src"))

    def state() -> str:
        line = next(
            ln for ln in invoke("weights", "list").output.splitlines() if ln.startswith(record.name)
        )
        return line.split("[", 1)[1].split("]", 1)[0]

    assert state() == "not prepared"
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / record.member).write_bytes(b"source")
    assert state() == "prepares on first use"
    rows = json.loads(invoke("weights", "list", "--json").output)["weights"]
    assert next(r for r in rows if r["name"] == record.name)["prepares_on_first_use"]
