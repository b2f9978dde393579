"""Public access to the component registries.

``list_extractors()``, ``list_heads()``, ``list_datasets()`` and
``list_protocols()`` enumerate registered names; ``create_extractor(name,
**params)`` and ``create_head(name, **params)`` build components by name.
Registration happens when a component module is imported, so these import the
built-in modules first (cheap: TensorFlow and weights load only when an extractor first runs).
"""

from __future__ import annotations

import importlib
from typing import Any

from transfer._registry import (
    ANALYSES,
    ARCHITECTURES,
    DATASETS,
    EXTRACTORS,
    HEADS,
    PROTOCOLS,
    TRANSFORMS,
    Registry,
    UnknownNameError,
)

_BUILTIN_MODULES = (
    "transfer.data",
    "transfer.align",
    "transfer.features.handcrafted",
    "transfer.features.cnn",
    "transfer.features.identity",
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
    "TRANSFORMS",
    "UnknownNameError",
    "create_extractor",
    "create_head",
    "list_analyses",
    "list_architectures",
    "list_datasets",
    "list_extractors",
    "list_heads",
    "list_protocols",
    "load_components",
]
