"""Name registries for extractors, heads, datasets and protocols.

Recipes refer to components by registry name, never by import path, in the
manner of timm's model registry.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError):
    """A registry name that does not exist; the message suggests the closest."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def closest(name: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """Return the entry of ``choices`` closest to ``name``, or None."""
    matches = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.5)
    return matches[0] if matches else None


def did_you_mean(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """A ``" Did you mean 'x'?"`` suffix for error messages, or ``""``."""
    best = closest(name, choices)
    return f" Did you mean {best!r}?" if best else ""


class Registry(Generic[T]):
    """A mapping from names to factories (usually classes).

    Parameters
    ----------
    kind : str
        What the registry holds ("extractor", "head", ...), used in messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., T]] = {}
        self._summaries: dict[str, str] = {}

    def register(
        self, name: str, summary: str | None = None
    ) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator that registers a factory under ``name``.

        Registering a name twice replaces the entry and warns.
        """

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries and self._entries[name] is not factory:
                warnings.warn(
                    f"{self.kind} {name!r} was registered again; the new entry replaces "
                    f"{self._entries[name]!r}",
                    UserWarning,
                    stacklevel=2,
                )
            self._entries[name] = factory
            doc = summary or (factory.__doc__ or "").strip().splitlines()
            if isinstance(doc, list):
                doc = doc[0] if doc else ""
            self._summaries[name] = doc
            return factory

        return decorator

    def unregister(self, name: str) -> None:
        """Remove ``name`` (for plugins and tests); unknown names are ignored."""
        self._entries.pop(name, None)
        self._summaries.pop(name, None)

    def get(self, name: str) -> Callable[..., T]:
        """Return the factory registered as ``name``."""
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}.{did_you_mean(name, self.names())} "
                f"Known {self.kind}s: {', '.join(self.names())}"
            ) from None

    def create(self, name: str, **params: Any) -> T:
        """Instantiate the entry ``name`` with ``params``."""
        factory = self.get(name)
        return factory(**params)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def summary(self, name: str) -> str:
        return self._summaries.get(name, "")

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)


EXTRACTORS: Registry[Any] = Registry("extractor")
HEADS: Registry[Any] = Registry("head")
DATASETS: Registry[Any] = Registry("dataset")
PROTOCOLS: Registry[Any] = Registry("protocol")
TRANSFORMS: Registry[Any] = Registry("transform")
ANALYSES: Registry[Any] = Registry("analysis")
ARCHITECTURES: Registry[Any] = Registry("architecture")

register_extractor = EXTRACTORS.register
register_head = HEADS.register
register_dataset = DATASETS.register
register_protocol = PROTOCOLS.register
register_transform = TRANSFORMS.register
register_analysis = ANALYSES.register
register_architecture = ARCHITECTURES.register
