"""Recipe files: YAML experiments validated before any work starts.

A recipe names a dataset, transforms, extractors, heads and a protocol by
registry name, with parameters::

    name: orl-identification
    seed: 0
    n_jobs: -1              # heads x folds in parallel on all cores (default 1)
    data:
      dataset: orl          # a registered loader, or "tfds:NAME"
      path: orl             # relative to data.root (default: $TRANSFER_DATA)
    transforms: [grey]
    extractors:
      - pixels
      - {name: lbp, params: {P: 8, R: 1, grid: [7, 7]}}
    heads: [linear_svm, fisherfaces, {name: knn, params: {metric: chi2}}]
    protocol: {name: identification, params: {n_train: 5, n_repeats: 10}}

Every error names the file, the line and the key, and suggests the closest
valid key or component name.
"""

from __future__ import annotations

import copy
import inspect
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from transfer._registry import DATASETS, EXTRACTORS, HEADS, PROTOCOLS, did_you_mean


class RecipeError(ValueError):
    """A recipe that cannot run; the message names the file, line and key."""


# A schema node is a dict of allowed keys -> (type(s), required, default), or a
# special marker for lists of components.
_ANY = object()
COMPONENT = "component"
SCHEMA: dict[str, Any] = {
    "name": ((str,), False, None),
    "title": ((str,), False, None),
    "description": ((str,), False, ""),
    "seed": ((int,), False, 0),
    "n_jobs": ((int,), False, 1),
    "data": (
        {
            "dataset": ((str,), True, None),
            "path": ((str, type(None)), False, None),
            "root": ((str, type(None)), False, None),
            "params": ((dict,), False, {}),
            "min_per_class": ((int, type(None)), False, None),
            "max_per_class": ((int, type(None)), False, None),
            "max_classes": ((int, type(None)), False, None),
        },
        True,
        None,
    ),
    "transforms": ((list,), False, []),
    "extractors": (COMPONENT, True, None),
    "heads": (COMPONENT, True, None),
    "protocol": (
        {"name": ((str,), True, None), "params": ((dict,), False, {})},
        True,
        None,
    ),
    "report": (
        {"title": ((str, type(None)), False, None)},
        False,
        {},
    ),
    "cache": (
        {"enabled": ((bool,), False, True), "dir": ((str, type(None)), False, None)},
        False,
        {},
    ),
}
COMPONENT_KEYS = ("name", "params", "label")
# an extractor may carry its own transforms, applied after the recipe's
EXTRACTOR_KEYS = (*COMPONENT_KEYS, "transforms")


def _line_index(text: str) -> dict[tuple, int]:
    """Map key paths (tuples of keys / list indices) to 1-based line numbers."""
    lines: dict[tuple, int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines

    def walk(node: Any, path: tuple) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                p = (*path, key_node.value)
                lines[p] = key_node.start_mark.line + 1
                walk(value_node, p)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                p = (*path, i)
                lines[p] = item.start_mark.line + 1
                walk(item, p)

    if root is not None:
        walk(root, ())
    return lines


def _fmt_path(path: tuple) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<top level>"


@dataclass
class _Context:
    source: str
    lines: dict[tuple, int]

    def error(self, path: tuple, message: str) -> RecipeError:
        line = None
        for n in range(len(path), -1, -1):  # nearest enclosing key with a known line
            if path[:n] in self.lines:
                line = self.lines[path[:n]]
                break
        where = f"{self.source}" + (f", line {line}" if line else "")
        key = _fmt_path(path)
        return RecipeError(f"{where}: {key}: {message}")


def _type_names(types: tuple) -> str:
    names = {
        str: "a string",
        int: "an integer",
        bool: "true/false",
        dict: "a mapping",
        list: "a list",
        type(None): "null",
        float: "a number",
    }
    return " or ".join(names.get(t, t.__name__) for t in types)


def _check_mapping(value: Any, schema: dict, path: tuple, ctx: _Context) -> dict:
    if not isinstance(value, dict):
        raise ctx.error(path, f"expected a mapping, got {type(value).__name__}")
    for key in value:
        if key not in schema:
            raise ctx.error(
                (*path, key),
                f"unknown key {key!r}.{did_you_mean(str(key), list(schema))} "
                f"Valid keys here: {', '.join(schema)}",
            )
    out = {}
    for key, (kind, required, default) in schema.items():
        p = (*path, key)
        if key not in value:
            if required:
                raise ctx.error(path, f"missing required key {key!r}")
            out[key] = (
                copy.deepcopy(default)
                if not isinstance(kind, dict)
                else (_check_mapping(copy.deepcopy(default or {}), kind, p, ctx))
            )
            continue
        v = value[key]
        if isinstance(kind, dict):
            out[key] = _check_mapping(v, kind, p, ctx)
        elif kind == COMPONENT:
            keys = EXTRACTOR_KEYS if key == "extractors" else COMPONENT_KEYS
            out[key] = _check_components(v, p, ctx, keys)
        else:
            if isinstance(v, bool) and bool not in kind:
                raise ctx.error(p, f"expected {_type_names(kind)}, got {v!r}")
            if not isinstance(v, kind):
                raise ctx.error(p, f"expected {_type_names(kind)}, got {v!r}")
            out[key] = v
    return out


def _check_components(
    value: Any, path: tuple, ctx: _Context, keys: tuple[str, ...] = COMPONENT_KEYS
) -> list[dict]:
    if isinstance(value, str | dict):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ctx.error(path, "expected a non-empty list of names or {name, params} mappings")
    out = []
    for i, item in enumerate(value):
        p = (*path, i)
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict):
            raise ctx.error(p, f"expected a name or a mapping, got {item!r}")
        for k in item:
            if k not in keys:
                raise ctx.error(
                    (*p, k),
                    f"unknown key {k!r}.{did_you_mean(str(k), keys)} Valid keys: {', '.join(keys)}",
                )
        if "name" not in item or not isinstance(item["name"], str):
            raise ctx.error(p, "missing the component 'name'")
        params = item.get("params") or {}
        if not isinstance(params, dict):
            raise ctx.error((*p, "params"), f"expected a mapping, got {params!r}")
        comp = {"name": item["name"], "params": dict(params), "label": item.get("label")}
        if "transforms" in keys:
            own = item.get("transforms") or []
            if not isinstance(own, list):
                raise ctx.error((*p, "transforms"), f"expected a list of transforms, got {own!r}")
            comp["transforms"] = own
        out.append(comp)
    # unique labels: default to the name, numbered when a name repeats
    seen: dict[str, int] = {}
    for i, c in enumerate(out):
        if c["label"] is None:
            same = [d for d in out if d["name"] == c["name"]]
            c["label"] = c["name"] if len(same) == 1 else f"{c['name']}-{same.index(c) + 1}"
        if c["label"] in seen:
            raise ctx.error((*path, i), f"duplicate label {c['label']!r}; give each a 'label'")
        seen[c["label"]] = i
    return out


def _instantiate(registry: Any, comp: dict, path: tuple, ctx: _Context) -> Any:
    """Build a component, turning unknown names and bad params into RecipeErrors."""
    from transfer._validation import validate_params

    name = comp["name"]
    if name not in registry:
        raise ctx.error(
            (*path, "name"),
            f"unknown {registry.kind} {name!r}.{did_you_mean(name, registry.names())} "
            f"Known: {', '.join(registry.names())}",
        )
    factory = registry.get(name)
    try:
        accepted = list(inspect.signature(factory).parameters)
    except (TypeError, ValueError):
        accepted = []
    for key in comp["params"]:
        if accepted and key not in accepted:
            raise ctx.error(
                (*path, "params", key),
                f"{registry.kind} {name!r} has no parameter {key!r}."
                f"{did_you_mean(key, accepted)} Parameters: {', '.join(accepted)}",
            )
    try:
        obj = factory(**comp["params"])
        if hasattr(obj, "_parameter_constraints"):
            validate_params(obj)
    except (ValueError, TypeError) as exc:
        raise ctx.error((*path, "params"), str(exc)) from None
    return obj


@dataclass
class Recipe:
    """A validated recipe: the resolved mapping plus built components."""

    config: dict
    source: str
    extractors: dict[str, Any]
    heads: dict[str, Any]
    protocol: Any
    transforms: list
    #: each extractor's own transforms (label -> list), applied after ``transforms``
    extractor_transforms: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.config["name"]


def set_override(config: dict, assignment: str) -> None:
    """Apply one ``--set key.sub=value`` (value parsed as YAML) in place."""
    if "=" not in assignment:
        raise RecipeError(f"--set {assignment!r}: expected key=value, e.g. data.root=/data")
    dotted, raw = assignment.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError as exc:
        raise RecipeError(f"--set {assignment!r}: cannot parse the value: {exc}") from None
    keys = [int(k) if k.isdigit() else k for k in dotted.strip().split(".")]
    if len(keys) == 2 and keys[0] == "protocol" and keys[1] not in ("name", "params"):
        keys = ["protocol", "params", keys[1]]  # protocol.KEY is short for protocol.params.KEY
    node: Any = config
    for i, k in enumerate(keys[:-1]):
        nxt = keys[i + 1]
        if isinstance(node, list):
            if not isinstance(k, int) or k >= len(node):
                raise RecipeError(
                    f"--set {assignment!r}: no item {k!r} in {'.'.join(map(str, keys[:i]))}"
                )
            if isinstance(node[k], str):  # a bare component name becomes a mapping
                node[k] = {"name": node[k]}
            node = node[k]
        else:
            if k not in node or node[k] is None:
                node[k] = [] if isinstance(nxt, int) else {}
            elif isinstance(node[k], str) and not isinstance(nxt, int):
                node[k] = {"name": node[k]}
            node = node[k]
    last = keys[-1]
    if isinstance(node, list):
        if not isinstance(last, int) or last >= len(node):
            raise RecipeError(f"--set {assignment!r}: no list item {last!r}")
    node[last] = value


def load_recipe_text(text: str, source: str, overrides: list[str] | None = None) -> Recipe:
    """Parse, override, validate and build a recipe from YAML ``text``."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark else ""
        raise RecipeError(f"{source}{where}: not valid YAML: {exc}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise RecipeError(f"{source}: a recipe is a mapping of keys, got {type(raw).__name__}")
    for assignment in overrides or []:
        set_override(raw, assignment)
    ctx = _Context(source, _line_index(text))
    config = _check_mapping(raw, SCHEMA, (), ctx)
    if not config["name"]:
        config["name"] = Path(source).stem
    if not config["title"]:
        config["title"] = config["name"]
    return build_recipe(config, ctx)


def build_recipe(config: dict, ctx: _Context) -> Recipe:
    from transfer.data.transforms import make_transform
    from transfer.registry import load_components

    load_components()

    data = config["data"]
    dataset = data["dataset"]
    if not dataset.startswith("tfds:") and dataset not in DATASETS:
        raise ctx.error(
            ("data", "dataset"),
            f"unknown dataset {dataset!r}.{did_you_mean(dataset, DATASETS.names())} "
            f"Known: {', '.join(DATASETS.names())}, or tfds:NAME",
        )
    if not dataset.startswith("tfds:"):
        accepted = list(inspect.signature(DATASETS.get(dataset)).parameters)
        for key in data["params"]:
            if key not in accepted:
                raise ctx.error(
                    ("data", "params", key),
                    f"dataset {dataset!r} has no parameter {key!r}.{did_you_mean(key, accepted)}",
                )
    if config["n_jobs"] == 0 or config["n_jobs"] < -1:
        raise ctx.error(
            ("n_jobs",), f"must be a positive int or -1 (all cores), got {config['n_jobs']}"
        )
    for key in ("min_per_class", "max_per_class", "max_classes"):
        if data[key] is not None and data[key] < 1:
            raise ctx.error(("data", key), f"must be >= 1, got {data[key]}")

    def build_transforms(specs: list, path: tuple) -> list:
        built = []
        for i, spec in enumerate(specs):
            try:
                built.append(make_transform(spec))
            except (ValueError, TypeError, KeyError) as exc:
                raise ctx.error((*path, i), str(exc)) from None
        return built

    transforms = build_transforms(config["transforms"], ("transforms",))
    extractor_transforms = {
        c["label"]: build_transforms(c["transforms"], ("extractors", i, "transforms"))
        for i, c in enumerate(config["extractors"])
    }
    extractors = {
        c["label"]: _instantiate(EXTRACTORS, c, ("extractors", i), ctx)
        for i, c in enumerate(config["extractors"])
    }
    heads = {
        c["label"]: _instantiate(HEADS, c, ("heads", i), ctx) for i, c in enumerate(config["heads"])
    }
    protocol = _instantiate(PROTOCOLS, {**config["protocol"], "label": None}, ("protocol",), ctx)
    for i, c in enumerate(config["heads"]):
        try:
            protocol.check_head(c["label"], heads[c["label"]])
        except ValueError as exc:
            raise ctx.error(("heads", i), str(exc)) from None
    # the resolved recipe records every parameter, defaults included
    for section, built in (("extractors", extractors), ("heads", heads)):
        for c in config[section]:
            c["params"] = {k: v for k, v in built[c["label"]].get_params(deep=False).items()}
    config["protocol"]["params"] = protocol.get_params()
    return Recipe(config, ctx.source, extractors, heads, protocol, transforms, extractor_transforms)


def shipped_recipes_dir() -> Path:
    """The folder of the recipes shipped with the package."""
    import transfer_recipes

    return Path(transfer_recipes.__file__).parent


def list_recipes() -> list[str]:
    """Names of the shipped recipes."""
    return sorted(p.stem for p in shipped_recipes_dir().glob("*.yaml"))


def resolve_recipe_path(recipe: str | os.PathLike) -> Path:
    """A path as given, or the shipped recipe of that name."""
    p = Path(recipe)
    if p.exists():
        if p.is_dir():
            raise RecipeError(f"{p} is a folder, not a recipe file")
        return p
    if p.suffix in (".yaml", ".yml") or os.sep in str(recipe):
        raise RecipeError(f"recipe file {str(p)!r} does not exist")
    shipped = shipped_recipes_dir() / f"{recipe}.yaml"
    if shipped.exists():
        return shipped
    names = list_recipes()
    raise RecipeError(
        f"no recipe file {str(recipe)!r} and no shipped recipe of that name."
        f"{did_you_mean(str(recipe), names)} Shipped recipes: {', '.join(names)}"
    )


def load_recipe(recipe: str | os.PathLike, overrides: list[str] | None = None) -> Recipe:
    """Load and validate a recipe file (or shipped recipe name)."""
    path = resolve_recipe_path(recipe)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"cannot read recipe {str(path)!r}: {exc}") from None
    return load_recipe_text(text, str(path), overrides)
