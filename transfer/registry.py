"""Public access to the component registries.

``list_extractors()``, ``list_heads()``, ``list_datasets()`` and
``list_protocols()`` enumerate registered names; ``create_extractor(name,
**params)`` and ``create_head(name, **params)`` build components by name.
Registration happens when a component module is imported, so these import the
built-in modules first (no TensorFlow: weights and networks load only when an
extractor first runs; scikit-learn and pandas, which take seconds to import).

:func:`component_index` answers "which components are there, and what is
each" for ``transfer list`` without importing them again: it is built once by
importing the built-in modules, then read from a small JSON file in the cache
folder while no source file of the package changed. :func:`describe`
reads a component's parameters (with their defaults and allowed values),
summary and references from the component itself: its signature, its
numpydoc docstring and its ``_parameter_constraints`` table.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from transfer._registry import (
    ANALYSES,
    ARCHITECTURES,
    DATASETS,
    EXTRACTORS,
    HEADS,
    PROTOCOLS,
    REGISTRIES,
    TRANSFORMS,
    Registry,
    UnknownNameError,
    did_you_mean,
)

_BUILTIN_MODULES = (
    "transfer.data",
    "transfer.align",
    "transfer.features.handcrafted",
    "transfer.features.cnn",
    "transfer.features.identity",
    "transfer.features.fusion",
    "transfer.heads",
    "transfer.protocols",
    "transfer.analysis",
    "transfer.train",
)


def load_components() -> None:
    """Import the built-in component modules so that they register."""
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def _names(registry: Registry) -> list[str]:
    load_components()
    return registry.names()


def list_extractors() -> list[str]:
    """Names of the registered feature extractors."""
    return _names(EXTRACTORS)


def list_heads() -> list[str]:
    """Names of the registered heads."""
    return _names(HEADS)


def list_datasets() -> list[str]:
    """Names of the registered dataset loaders (plus ``tfds:NAME``)."""
    return _names(DATASETS)


def list_protocols() -> list[str]:
    """Names of the registered evaluation protocols."""
    return _names(PROTOCOLS)


def list_analyses() -> list[str]:
    """Names of the registered analyses (the ``analyses:`` section of a recipe)."""
    return _names(ANALYSES)


def list_architectures() -> list[str]:
    """Names of the networks the ``train:`` stage builds (:mod:`transfer.train`)."""
    return _names(ARCHITECTURES)


def create_extractor(name: str, **params: Any) -> Any:
    """Build the extractor registered as ``name``."""
    load_components()
    return EXTRACTORS.create(name, **params)


def create_head(name: str, **params: Any) -> Any:
    """Build the head registered as ``name``."""
    load_components()
    return HEADS.create(name, **params)


__all__ = [
    "ANALYSES",
    "ARCHITECTURES",
    "DATASETS",
    "EXTRACTORS",
    "HEADS",
    "PROTOCOLS",
    "REGISTRIES",
    "TRANSFORMS",
    "UnknownNameError",
    "component_index",
    "create_extractor",
    "create_head",
    "describe",
    "list_analyses",
    "list_architectures",
    "list_datasets",
    "list_extractors",
    "list_heads",
    "list_protocols",
    "load_components",
    "numpydoc_sections",
]


# -- the component index (what `transfer list` reads) ----------------------

#: Bumped when the layout of the index file changes.
_INDEX_VERSION = 2


def _source_fingerprint() -> str:
    """A digest of every module file of the package (path, size, mtime).

    Stat'ing the package's files takes milliseconds; importing the
    components takes seconds (scikit-learn, pandas, matplotlib). A changed,
    added or removed module changes the digest, so a stale index is never
    read.
    """
    root = Path(__file__).resolve().parent
    rows = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for f in sorted(filenames):
            if f.endswith(".py"):
                st = os.stat(os.path.join(dirpath, f))
                rows.append(
                    f"{os.path.relpath(os.path.join(dirpath, f), root)}:{st.st_size}:"
                    f"{st.st_mtime_ns}"
                )
    from transfer import __version__

    head = f"{_INDEX_VERSION}|{__version__}|{sys.version_info[:2]}|{root}|"
    return hashlib.sha256((head + "\n".join(rows)).encode()).hexdigest()[:20]


def _backbone_rows() -> list[dict[str, Any]]:
    """The backbone presets, as ``transfer list backbones`` shows them."""
    from transfer.features.cnn.backbones import BACKBONES

    aliases: dict[str, list[str]] = {}
    for alias, name in BACKBONES.aliases.items():
        aliases.setdefault(name, []).append(alias)
    rows = []
    for name, bb in sorted(BACKBONES.items()):
        source = "Keras download" if bb.weights == "imagenet" else f"offline: {bb.weights}"
        rows.append(
            {
                "name": name,
                "summary": f"input {bb.input_size}, preprocessing {bb.preprocessing}, "
                f"weights {source}",
                "aliases": sorted(aliases.get(name, [])),
                "input_size": bb.input_size,
                "preprocessing": bb.preprocessing,
                "weights": bb.weights,
            }
        )
    return rows


def _build_index() -> dict[str, list[dict[str, Any]]]:
    load_components()
    index: dict[str, list[dict[str, Any]]] = {
        reg.plural: [
            {
                "name": name,
                "summary": reg.summary(name),
                "object": f"{reg.get(name).__module__}:{reg.get(name).__qualname__}",
            }
            for name in reg.names()
        ]
        for reg in REGISTRIES
    }
    # importing the backbone table imports the CNN extractors (their package): index it too
    index["backbones"] = _backbone_rows()
    return index


def component_index(*, use_cache: bool = True) -> dict[str, list[dict[str, str]]]:
    """Every registered component, by registry: name, one-line summary, object.

    Parameters
    ----------
    use_cache : bool, default=True
        Read the index from ``default_cache_dir() / "index"`` when it was
        built from the same source files (else build it by importing the
        built-in modules, and store it). False always imports.

    Returns
    -------
    dict
        ``{plural: [{"name", "summary", "object"}, ...]}`` with ``plural``
        a :attr:`Registry.plural` ("extractors", "heads", ...) and
        ``object`` the ``"module:qualname"`` of the registered factory; and
        ``"backbones"``: the presets of
        :data:`transfer.features.cnn.BACKBONES` (name, summary, aliases,
        input size, preprocessing, default weights).

    Notes
    -----
    Only the built-in modules are indexed; a plugin that registers
    components in-process is seen by the registries themselves
    (``EXTRACTORS.names()``), not by the stored index.
    """
    if not use_cache:
        return _build_index()
    from transfer._io import atomic_write_text, default_cache_dir

    folder = default_cache_dir() / "index"
    path = folder / f"components-{_source_fingerprint()}.json"
    try:
        index = json.loads(path.read_text())
        if isinstance(index, dict) and {"backbones", *(r.plural for r in REGISTRIES)} <= set(index):
            return index
    except (OSError, ValueError):
        pass  # absent or damaged: rebuilt below
    index = _build_index()
    try:
        atomic_write_text(path, json.dumps(index, indent=1, sort_keys=True))
        for old in folder.glob("components-*.json"):  # one index per source tree
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only cache only costs the next listing its speed
    return index


# -- describing one component ------------------------------------------------

_HEADER = re.compile(r"^-{3,}$")


def numpydoc_sections(doc: str | None) -> dict[str, list[str]]:
    """Split a numpydoc docstring into its sections.

    Parameters
    ----------
    doc : str or None
        A docstring.

    Returns
    -------
    dict
        ``{"": summary lines, "Parameters": lines, "References": lines, ...}``:
        the body of each section (the lines under its dashed header, up to the
        next header), dedented as :func:`inspect.cleandoc` does.
    """
    lines = inspect.cleandoc(doc or "").splitlines()
    sections: dict[str, list[str]] = {"": []}
    current = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if line.strip() and not line.startswith(" ") and _HEADER.match(nxt):
            current = line.strip()
            sections[current] = []
            i += 2
            continue
        sections[current].append(line)
        i += 1
    return sections


def _split_top_level(spec: str) -> list[str]:
    """Split a numpydoc type spec on the commas outside ``{}``, ``()`` and ``[]``."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(spec):
        if ch in "{([":
            depth += 1
        elif ch in "})]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(spec[start:i].strip())
            start = i + 1
    parts.append(spec[start:].strip())
    return [p for p in parts if p]


_DEFAULT = re.compile(r"^default\s*[=:]?\s*(?P<value>.*)$")


def _parse_parameters(lines: list[str]) -> dict[str, dict[str, str]]:
    """``name : type, default=x`` entries and their indented descriptions."""
    entries: dict[str, dict[str, str]] = {}
    names: list[str] = []
    for line in lines:
        if line.strip() and not line.startswith(" "):
            head, _, spec = line.partition(" : ")
            names = [n.strip().lstrip("*") for n in head.split(",") if n.strip()]
            type_parts, doc_default = [], ""
            # "int or (int, int), default=(7, 7)": the type may hold commas itself
            for part in _split_top_level(spec.strip()):
                m = _DEFAULT.match(part)
                if m:
                    doc_default = m.group("value")
                elif part != "optional":
                    type_parts.append(part)
            for n in names:
                entries[n] = {"type": ", ".join(type_parts), "doc_default": doc_default, "doc": ""}
        elif line.strip() and names:
            for n in names:
                entries[n]["doc"] = f"{entries[n]['doc']} {line.strip()}".strip()
    return entries


def _allowed(factory: Any, name: str, type_: str) -> str:
    """Allowed values: the ``_parameter_constraints`` table, else a ``{...}`` type."""
    constraints = getattr(factory, "_parameter_constraints", None) or {}
    described = [c.describe() for c in constraints.get(name, ()) if hasattr(c, "describe")]
    if described:
        return " or ".join(dict.fromkeys(described))
    return type_ if type_.startswith("{") else ""


def _registry_of(kind: str) -> Registry[Any]:
    for reg in REGISTRIES:
        if kind in (reg.kind, reg.plural):
            return reg
    raise UnknownNameError(
        f"unknown kind of component {kind!r}.{did_you_mean(kind, [r.kind for r in REGISTRIES])} "
        f"Kinds: {', '.join(r.kind for r in REGISTRIES)}"
    )


def describe(kind: str, name: str) -> dict[str, Any]:
    """What the component ``name`` of registry ``kind`` is and what it takes.

    Imports only the module that defines the component.

    Parameters
    ----------
    kind : str
        A registry kind ("extractor", "head", "dataset", "protocol",
        "transform", "analysis", "architecture") or its plural.
    name : str
        The registered name.

    Returns
    -------
    dict
        ``kind``, ``name``, ``object`` (``"module:qualname"``), ``summary``
        (the registered one: ``summary=`` or the first docstring line),
        ``description`` (the rest of the docstring's opening paragraphs),
        ``parameters`` (a list of ``{"name", "type", "default", "required",
        "allowed", "doc"}``: ``default`` is the ``repr`` of the signature's
        default, ``allowed`` comes from ``_parameter_constraints`` or a
        ``{...}`` type), ``references`` (lines of the References section) and
        ``info`` (the fields of a dataset's ``dataset_info``, when it has one).

    Raises
    ------
    UnknownNameError
        For an unknown kind or name, naming the closest.
    """
    reg = _registry_of(kind)
    entries = {e["name"]: e for e in component_index()[reg.plural]}
    if name not in entries:
        raise UnknownNameError(
            f"unknown {reg.kind} {name!r}.{did_you_mean(name, sorted(entries))} "
            f"Known {reg.plural}: {', '.join(sorted(entries))}"
        )
    module, _, qualname = entries[name]["object"].partition(":")
    factory: Any = importlib.import_module(module)
    for part in qualname.split("."):
        factory = getattr(factory, part)
    sections = numpydoc_sections(factory.__doc__)
    opening = "\n".join(sections[""]).strip()
    summary, _, rest = opening.partition("\n")
    documented = _parse_parameters(sections.get("Parameters", []))
    parameters = []
    for p in inspect.signature(factory).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name == "self":
            continue
        doc = documented.get(p.name, {"type": "", "doc_default": "", "doc": ""})
        required = p.default is p.empty
        annotation = "" if p.annotation is p.empty else str(p.annotation)
        parameters.append(
            {
                "name": p.name,
                "type": doc["type"] or annotation,
                "default": None if required else repr(p.default),
                "required": required,
                "allowed": _allowed(factory, p.name, doc["type"]),
                "doc": doc["doc"],
            }
        )
    info = getattr(factory, "dataset_info", None)
    if info is not None and hasattr(info, "__dataclass_fields__"):
        info = {k: v for k, v in vars(info).items() if v not in ("", None)}
    return {
        "kind": reg.kind,
        "name": name,
        "object": entries[name]["object"],
        "summary": entries[name]["summary"] or summary.strip(),
        "description": rest.strip(),
        "parameters": parameters,
        "references": [ln for ln in sections.get("References", []) if ln.strip()],
        "info": info or {},
    }
