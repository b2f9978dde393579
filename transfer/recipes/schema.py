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

An optional ``sweep:`` runs the recipe once per value of a parameter (the
keys of ``set`` take the value, as ``--set`` would set them), e.g. the
transfer-learning curve over training images per class::

    sweep:
      name: train_per_class
      values: [50, 200, 1000]
      set: [data.params.train_per_class, train.0.data.params.train_per_class]

Every error names the file, the line and the key, and suggests the closest
valid key or component name.
"""

from __future__ import annotations

import copy
import inspect
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from transfer._registry import ANALYSES, DATASETS, EXTRACTORS, HEADS, PROTOCOLS, did_you_mean


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
    # the neuron analyses (transfer.analysis) run on every extractor after the heads
    "analyses": (COMPONENT, False, []),
    # networks trained on a dataset A before extraction (transfer.train)
    "train": ((list,), False, []),
    # one run per value of a parameter (transfer.recipes.sweep); checked by _check_sweep
    "sweep": ((dict, type(None)), False, None),
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
    # where extraction and the cells run (transfer.recipes.engines); a plain
    # name (engine: ray) is read as {name: ray}; checked by _check_engine
    "engine": (
        {
            "name": ((str,), False, "local"),
            "address": ((str, type(None)), False, None),
            "workers": ((int, type(None)), False, None),
            "batch_size": ((int, type(None)), False, None),
        },
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
        elif kind == COMPONENT and not required and v in ([], None):
            out[key] = []  # an optional section left empty
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
        message = str(exc)
        hinted = {k: _number_hint(v) for k, v in comp["params"].items() if _number_hint(v)}
        # the parameter the message names, when it is one of them
        named = [k for k in hinted if repr(k) in message] or list(hinted)
        if not named:
            raise ctx.error((*path, "params"), message) from None
        where = (*path, "params", named[0]) if len(named) == 1 else (*path, "params")
        raise ctx.error(where, " ".join([message, *(hinted[k] for k in named)])) from None
    return obj


# PyYAML follows YAML 1.1, whose floats need a dot and a signed exponent: 1e-3
# and 1.0e3 stay strings there.
_EXPONENT = re.compile(r"([-+]?)(\d*)(?:\.(\d*))?[eE]([-+]?)(\d+)")
_SPECIAL = {"inf": ".inf", "+inf": ".inf", "-inf": "-.inf", "nan": ".nan"}


def _number_hint(value: Any) -> str:
    """How to write a number that YAML read as a string, or "" when ``value`` is none."""
    if not isinstance(value, str):
        return ""
    text = value.strip()
    try:
        float(text)
    except ValueError:
        return ""
    m = _EXPONENT.fullmatch(text)
    if m and (m[2] or m[3]):
        fixed = f"{m[1]}{m[2] or '0'}.{m[3] or '0'}e{m[4] or '+'}{m[5]}"
    elif text.lower() in _SPECIAL:
        fixed = _SPECIAL[text.lower()]
    else:
        return f"YAML reads {value!r} as a string because it is quoted; write {text} unquoted"
    return f"YAML reads {value} as a string; write {fixed}"


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
    #: the analyses of the ``analyses:`` section, by label (run after the heads)
    analyses: dict = field(default_factory=dict)
    #: the networks of the ``train:`` section, by label (trained before extraction)
    train_jobs: dict = field(default_factory=dict)
    #: the ``sweep:`` section with one recipe per point, or None (a single run)
    sweep: Sweep | None = None

    @property
    def name(self) -> str:
        return self.config["name"]


# A sweep's name becomes part of folder names (points/<name>=<value>) and a
# column of sweep.csv: it must not be one of that file's other columns.
_SWEEP_KEYS = ("name", "values", "set")
_SWEEP_RESERVED = ("extractor", "head", "source", "point", "n_folds", "n_failed")


def _value_label(value: Any) -> str:
    """A sweep value as it appears in a folder name (``train_per_class=50``)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float | str):
        text = str(value)
    else:
        text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    text = re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-")
    return text or "empty"


@dataclass
class Sweep:
    """A recipe's ``sweep:`` section: one run per value, each a full recipe.

    Attributes
    ----------
    name : str
        The x axis' name (``train_per_class``).
    values : list
        The values, in order (at least 2, distinct).
    set : list of str
        The dotted keys that take each value, as ``--set`` would set them.
    points : list of Recipe
        One validated recipe per value (without a sweep).
    """

    name: str
    values: list
    set: list[str]
    points: list[Recipe]

    def label(self, value: Any) -> str:
        """The folder name of the point of ``value``: ``<name>=<value>``."""
        return f"{self.name}={_value_label(value)}"


def _missing_key(config: dict, keys: list) -> int | None:
    """Index of the first of ``keys`` the recipe lacks and may not gain, or None.

    A key may be new when the schema knows it (a default applies) or when it is a
    component's or dataset's parameter (``params`` or a key in it): building the
    recipe checks those names.
    """
    node: Any = config
    schema: Any = SCHEMA
    for i, k in enumerate(keys):
        if i and _is_component_slot(keys[:i]):  # a bare name, or a lone component
            if i == 1 and isinstance(node, str | dict) and isinstance(k, int):
                node = [node]
            elif isinstance(node, str) and not isinstance(k, int):
                node = {"name": node}
        known = isinstance(schema, dict) and k in schema
        schema = schema[k][0] if known and isinstance(schema[k][0], dict) else None
        if isinstance(node, dict):
            if k in node:
                node = node[k]
                continue
            if known or k == "params" or (i and keys[i - 1] == "params"):
                return None
            return i
        if isinstance(node, list) and isinstance(k, int) and k < len(node):
            node = node[k]
            continue
        return None  # not walkable: _assign says why
    return None


def _check_sweep(spec: Any, raw: dict, ctx: _Context) -> tuple[str, list, list[str]]:
    """Check a ``sweep:`` mapping against the recipe; (name, values, set paths)."""
    where = ("sweep",)
    if not isinstance(spec, dict):
        raise ctx.error(where, f"expected a mapping of name, values, set; got {spec!r}")
    for key in spec:
        if key not in _SWEEP_KEYS:
            raise ctx.error(
                (*where, key),
                f"unknown key {key!r}.{did_you_mean(str(key), _SWEEP_KEYS)} "
                f"Valid keys here: {', '.join(_SWEEP_KEYS)}",
            )
    for key in _SWEEP_KEYS:
        if key not in spec:
            raise ctx.error(where, f"missing required key {key!r}")
    name = spec["name"]
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise ctx.error(
            (*where, "name"),
            f"expected a name of letters, digits, '-', '_' and '.' (it names the points' "
            f"folders, e.g. train_per_class), got {name!r}",
        )
    if name in _SWEEP_RESERVED or name.endswith(("_mean", "_std")):
        raise ctx.error(
            (*where, "name"),
            f"{name!r} is a column of sweep.csv already; choose another name for the x axis",
        )
    values = spec["values"]
    if not isinstance(values, list) or len(values) < 2:
        raise ctx.error(
            (*where, "values"),
            f"expected a list of at least 2 values (one run each), got {values!r}",
        )
    seen: dict[str, int] = {}
    for i, value in enumerate(values):
        if value is None or isinstance(value, dict):
            raise ctx.error(
                (*where, "values", i), f"expected a number, string or list, got {value!r}"
            )
        label = _value_label(value)
        if label in seen:
            first = values[seen[label]]
            same = "repeats" if first == value else f"has the same folder name as {first!r}"
            raise ctx.error(
                (*where, "values", i),
                f"{value!r} {same} ({name}={label}); the values must be distinct",
            )
        seen[label] = i
    paths = spec["set"]
    if isinstance(paths, str):
        paths = [paths]
    if not isinstance(paths, list) or not paths:
        raise ctx.error(
            (*where, "set"),
            "expected the dotted keys that take each value, e.g. [data.params.train_per_class]",
        )
    for i, dotted in enumerate(paths):
        p = (*where, "set", i)
        if not isinstance(dotted, str) or not dotted.strip() or "" in dotted.strip().split("."):
            raise ctx.error(p, f"expected a dotted key such as data.params.n_bits, got {dotted!r}")
        keys = _dotted_keys(dotted.strip().split("."))
        if keys[0] in ("sweep", "name"):
            raise ctx.error(p, f"{dotted!r}: a sweep cannot set {keys[0]!r}")
        missing = _missing_key(raw, keys)
        if missing is not None:
            parent: Any = raw
            for k in keys[:missing]:
                parent = parent[k] if not isinstance(parent, str) else {}
            options = [str(k) for k in parent] if isinstance(parent, dict) else []
            raise ctx.error(
                p,
                f"{dotted!r}: the recipe has no key {_fmt_path(tuple(keys[: missing + 1]))}."
                f"{did_you_mean(str(keys[missing]), options)} A swept key must be in the recipe "
                "(or be a parameter: ...params.NAME)",
            )

        def fail(j: int, problem: str, dotted: str = dotted, p: tuple = p) -> RecipeError:
            return ctx.error(p, f"{dotted!r}: {problem}")

        _assign(copy.deepcopy(raw), keys, values[0], fail)
        paths[i] = dotted.strip()
    return name, list(values), list(paths)


def _is_component_slot(keys: list) -> bool:
    """Whether ``keys`` leads to a component list, or an item of one (e.g. ``heads.0``)."""
    top = SCHEMA.get(keys[0]) if keys and isinstance(keys[0], str) else None
    if top is None or top[0] != COMPONENT:
        return False
    return len(keys) == 1 or (len(keys) == 2 and isinstance(keys[1], int))


def set_override(config: dict, assignment: str) -> None:
    """Apply one ``--set key.sub=value`` (value parsed as YAML) in place.

    A bare component name on the way (``heads: [knn]`` with ``--set
    heads.0.params.n_neighbors=3``) becomes a ``{name: ...}`` mapping, and a
    single component a one-item list.

    Raises
    ------
    RecipeError
        Naming the assignment and the key when it has no ``=``, a key is
        empty, the value is not YAML, or the path walks into a value that
        has no such key (a scalar, a list indexed by a name, an item past
        the end).
    """
    if "=" not in assignment:
        raise RecipeError(f"--set {assignment!r}: expected key=value, e.g. data.root=/data")
    dotted, raw = assignment.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError as exc:
        raise RecipeError(f"--set {assignment!r}: cannot parse the value: {exc}") from None
    parts = dotted.strip().split(".")
    if "" in parts:
        raise RecipeError(
            f"--set {assignment!r}: empty key in {dotted.strip()!r}; write dotted keys such as "
            "protocol.params.n_repeats"
        )
    keys = _dotted_keys(parts)

    def fail(i: int, problem: str) -> RecipeError:
        return RecipeError(
            f"--set {assignment!r}: key {_fmt_path(tuple(keys[: i + 1]))}: {problem}"
        )

    _assign(config, keys, value, fail)


def _dotted_keys(parts: list[str]) -> list:
    """The keys of a dotted path: list indices as ints, ``protocol.KEY`` expanded."""
    keys: list = [int(k) if k.isdigit() else k for k in parts]
    if len(keys) == 2 and keys[0] == "protocol" and keys[1] not in ("name", "params"):
        keys = ["protocol", "params", keys[1]]  # protocol.KEY is short for protocol.params.KEY
    return keys


def _assign(config: dict, keys: list, value: Any, fail: Callable[[int, str], Exception]) -> None:
    """Set ``config[keys[0]][keys[1]]... = value`` as ``--set`` does (see :func:`set_override`).

    ``fail(i, problem)`` makes the error raised when ``keys[i]`` cannot be walked.
    """
    node: Any = config
    for i, k in enumerate(keys):
        parent = _fmt_path(tuple(keys[:i]))
        if isinstance(node, list):
            items = f"(0 to {len(node) - 1})" if node else "(it is empty)"
            if not isinstance(k, int):
                raise fail(i, f"{parent} is a list: index it by item number {items}")
            if k >= len(node):
                raise fail(i, f"no item {k} in {parent}, which has {len(node)} {items}")
        elif not isinstance(node, dict):
            raise fail(
                i,
                f"{parent} is {node!r} ({_type_names((type(node),))}), not a mapping: "
                f"it has no key {k!r}",
            )
        if i == len(keys) - 1:
            node[k] = value
            return
        nxt = keys[i + 1]
        child = node[k] if isinstance(node, list) else node.get(k)
        if child is None:
            child = [] if isinstance(nxt, int) else {}
        elif keys[: i + 1] == ["engine"] and isinstance(child, str):
            child = {"name": child}  # engine: ray is short for engine: {name: ray}
        elif _is_component_slot(keys[: i + 1]):
            # recipes may write a component as a bare name, and a list of one as that item
            if len(keys[: i + 1]) == 1 and isinstance(child, str | dict) and isinstance(nxt, int):
                child = [child]
            elif isinstance(child, str) and not isinstance(nxt, int):
                child = {"name": child}
        node[k] = child
        node = child


def load_recipe_text(text: str, source: str, overrides: list[str] | None = None) -> Recipe:
    """Parse, override, validate and build a recipe from YAML ``text``.

    With a ``sweep:`` section, every point's recipe (the keys of ``set`` given
    each value) is validated and built now; the recipe returned is the first
    point's, carrying them all in ``sweep`` (:class:`Sweep`).

    Raises
    ------
    RecipeError
        Naming the file, line and key; for a point of a sweep, prefixed with
        the point (``sweep point train_per_class=5000: ...``).
    """
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
    spec = raw.pop("sweep", None)
    if spec is None:
        return _load_point(raw, ctx, overrides)
    name, values, paths = _check_sweep(spec, raw, ctx)
    points = []
    for value in values:
        point = copy.deepcopy(raw)
        for dotted in paths:
            _assign(point, _dotted_keys(dotted.split(".")), copy.deepcopy(value), _never)
        try:
            points.append(_load_point(point, ctx, overrides))
        except RecipeError as exc:
            raise RecipeError(f"sweep point {name}={_value_label(value)}: {exc}") from None
    sweep = Sweep(name, values, paths, points)
    # the recipe of the first point stands for the sweep (its name, protocol, components)
    return replace(points[0], sweep=sweep)


def _never(i: int, problem: str) -> Exception:  # pragma: no cover - _check_sweep walked it
    return AssertionError(problem)


def _load_point(raw: dict, ctx: _Context, overrides: list[str] | None) -> Recipe:
    """Validate and build one recipe mapping (overrides already applied)."""
    if isinstance(raw, dict) and isinstance(raw.get("engine"), str):
        raw = {**raw, "engine": {"name": raw["engine"]}}
    config = _check_mapping(raw, SCHEMA, (), ctx)
    config.pop("sweep", None)  # a point, or a recipe without one: its resolved form runs alone
    explicit = bool(config["name"])
    if not explicit:
        # a file name is the user's to choose: make a valid name of it
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(ctx.source).stem).replace("..", "-")
        config["name"] = stem.lstrip(".-") or "recipe"
    by_set = [o for o in overrides or [] if o.split("=", 1)[0].strip() == "name"]
    _check_name(config["name"], ctx, explicit, by_set[-1] if by_set else None)
    if not config["title"]:
        config["title"] = config["name"]
    return build_recipe(config, ctx)


# The name is a folder under results/: one path component, never hidden.
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


def _check_name(name: str, ctx: _Context, explicit: bool, assignment: str | None) -> None:
    """Refuse a recipe name that would escape or hide its results folder.

    ``explicit`` is False when the name comes from the file name;
    ``assignment`` is the ``--set name=...`` that gave it, if any.
    """
    if _NAME.fullmatch(name) and ".." not in name:
        return
    if "/" in name or "\\" in name:
        why = "it contains a path separator"
    elif name.startswith("."):
        why = "it starts with '.'"
    elif ".." in name:
        why = "it contains '..'"
    else:
        bad = sorted({c for c in name if not re.fullmatch(r"[A-Za-z0-9._-]", c)})
        why = f"it contains {', '.join(map(repr, bad))}"
    rule = (
        "it names the results folder (results/<name>): use letters, digits, '-', '_' and "
        "'.' (not first, never '..'), e.g. orl-identification"
    )
    if assignment is not None:
        raise RecipeError(f"--set {assignment!r}: {name!r} is not a valid name: {why}; {rule}")
    if explicit:
        raise ctx.error(("name",), f"{name!r} is not a valid name: {why}; {rule}")
    raise ctx.error(
        (),
        f"the recipe has no 'name' and its file name gives {name!r}, which is not valid: "
        f"{why}; add a 'name' key ({rule})",
    )


def _check_data(data: dict, path: tuple, ctx: _Context) -> None:
    """A ``data:`` mapping (the recipe's, or a train job's dataset A)."""
    dataset = data["dataset"]
    if not dataset.startswith("tfds:") and dataset not in DATASETS:
        raise ctx.error(
            (*path, "dataset"),
            f"unknown dataset {dataset!r}.{did_you_mean(dataset, DATASETS.names())} "
            f"Known: {', '.join(DATASETS.names())}, or tfds:NAME",
        )
    if not dataset.startswith("tfds:"):
        accepted = list(inspect.signature(DATASETS.get(dataset)).parameters)
        for key in data["params"]:
            if key not in accepted:
                raise ctx.error(
                    (*path, "params", key),
                    f"dataset {dataset!r} has no parameter {key!r}.{did_you_mean(key, accepted)}",
                )
    for key in ("min_per_class", "max_per_class", "max_classes"):
        if data[key] is not None and data[key] < 1:
            raise ctx.error((*path, key), f"must be >= 1, got {data[key]}")


def _check_engine(engine: dict, ctx: _Context) -> None:
    """An ``engine:`` mapping: a known name, positive counts, an address only for ray."""
    from transfer.recipes.engines import ENGINES

    name = engine["name"]
    if name not in ENGINES:
        raise ctx.error(
            ("engine", "name"),
            f"unknown engine {name!r}.{did_you_mean(name, list(ENGINES))} "
            f"Engines: {', '.join(ENGINES)}",
        )
    for key in ("workers", "batch_size"):
        if engine[key] is not None and engine[key] < 1:
            raise ctx.error(("engine", key), f"must be >= 1 (or null), got {engine[key]}")
    if name == "local" and engine["address"] is not None:
        raise ctx.error(
            ("engine", "address"),
            f"an address ({engine['address']!r}) needs name: ray; the local engine runs in "
            "this process",
        )


def build_recipe(config: dict, ctx: _Context) -> Recipe:
    from transfer.data.transforms import make_transform
    from transfer.registry import load_components

    load_components()

    _check_data(config["data"], ("data",), ctx)
    _check_engine(config["engine"], ctx)
    if config["n_jobs"] == 0 or config["n_jobs"] < -1:
        raise ctx.error(
            ("n_jobs",), f"must be a positive int or -1 (all cores), got {config['n_jobs']}"
        )

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
    for i, c in enumerate(config["extractors"]):
        ext = extractors[c["label"]]
        if callable(getattr(ext, "fused_rows", None)) and ext.fused_rows():
            try:  # an extractor combining other rows' features (a fusion)
                ext.bind_rows(extractors, own_label=c["label"])
            except ValueError as exc:
                raise ctx.error(("extractors", i, "params", "parts"), str(exc)) from None
    from transfer.train.recipe import build_train_jobs

    train_jobs = build_train_jobs(config, extractors, build_transforms, ctx)
    heads = {
        c["label"]: _instantiate(HEADS, c, ("heads", i), ctx) for i, c in enumerate(config["heads"])
    }
    protocol = _instantiate(PROTOCOLS, {**config["protocol"], "label": None}, ("protocol",), ctx)
    for i, c in enumerate(config["heads"]):
        try:
            protocol.check_head(c["label"], heads[c["label"]])
        except ValueError as exc:
            raise ctx.error(("heads", i), str(exc)) from None
    analyses = {
        c["label"]: _instantiate(ANALYSES, c, ("analyses", i), ctx)
        for i, c in enumerate(config["analyses"])
    }
    for i, c in enumerate(config["analyses"]):
        try:
            analyses[c["label"]].check_recipe(list(extractors), protocol)
        except ValueError as exc:
            raise ctx.error(("analyses", i), str(exc)) from None
    # the resolved recipe records every parameter, defaults included
    sections = (("extractors", extractors), ("heads", heads), ("analyses", analyses))
    for section, built in sections:
        for c in config[section]:
            c["params"] = {k: v for k, v in built[c["label"]].get_params(deep=False).items()}
    config["protocol"]["params"] = protocol.get_params()
    return Recipe(
        config,
        ctx.source,
        extractors,
        heads,
        protocol,
        transforms,
        extractor_transforms,
        analyses,
        train_jobs,
    )


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
