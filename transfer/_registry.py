"""Name registries for extractors, heads, datasets, protocols, transforms, analyses
and architectures.

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


class AliasDict(dict):
    """A dict whose keys also answer to alias names.

    ``name in d``, ``d[name]`` and ``d.get(name)`` accept a key or an alias
    of one; iteration, ``keys()`` and ``len`` see the canonical keys only,
    so listings and ``sorted(d)`` never show a name twice. Used where one
    thing has two established names (the weights ``mobilenet_v1_1.0_224``
    and their backbone ``mobilenet_v1``), so that both work wherever a name
    is taken and :meth:`canonical` gives the one name that goes into
    outputs and cache keys.

    Parameters
    ----------
    entries : mapping
        The canonical entries.
    aliases : mapping of str to str
        Alias -> canonical key. Aliases that are keys themselves, or that
        point to no key, are ignored.
    """

    def __init__(self, entries: Any = (), aliases: Any = ()) -> None:
        super().__init__(entries)
        self.aliases: dict[str, str] = {
            a: k
            for a, k in dict(aliases).items()
            if not dict.__contains__(self, a) and dict.__contains__(self, k)
        }

    def canonical(self, name: Any) -> Any:
        """The canonical key of ``name`` (a key or an alias), else ``name`` unchanged."""
        try:
            return name if dict.__contains__(self, name) else self.aliases.get(name, name)
        except TypeError:  # unhashable: not a name at all
            return name

    def __contains__(self, name: object) -> bool:
        return dict.__contains__(self, self.canonical(name))

    def __getitem__(self, name: Any) -> Any:
        return dict.__getitem__(self, self.canonical(name))

    def get(self, name: Any, default: Any = None) -> Any:
        return dict.get(self, self.canonical(name), default)

    def __reduce__(self) -> tuple:
        return (type(self), (dict(self), self.aliases))


class Registry(Generic[T]):
    """A mapping from names to factories (usually classes).

    Parameters
    ----------
    kind : str
        What the registry holds ("extractor", "head", ...), used in messages.
    plural : str, optional
        The plural of ``kind`` (default ``kind + "s"``), as ``transfer list``
        names the registry.
    """

    def __init__(self, kind: str, plural: str | None = None) -> None:
        self.kind = kind
        self.plural = plural or f"{kind}s"
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
                f"Known {self.plural}: {', '.join(self.names())}"
            ) from None

    def create(self, name: str, **params: Any) -> T:
        """Instantiate the entry ``name`` with ``params``."""
        factory = self.get(name)
        return factory(**params)

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._entries)

    def summary(self, name: str) -> str:
        """The one-line description of ``name`` (``summary=`` or its docstring's first line)."""
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
ANALYSES: Registry[Any] = Registry("analysis", plural="analyses")
ARCHITECTURES: Registry[Any] = Registry("architecture")

#: Every registry above, in the order ``transfer list`` shows them.
REGISTRIES: tuple[Registry[Any], ...] = (
    EXTRACTORS,
    HEADS,
    DATASETS,
    PROTOCOLS,
    TRANSFORMS,
    ANALYSES,
    ARCHITECTURES,
)

register_extractor = EXTRACTORS.register
register_head = HEADS.register
register_dataset = DATASETS.register
register_protocol = PROTOCOLS.register
register_transform = TRANSFORMS.register
register_analysis = ANALYSES.register
register_architecture = ARCHITECTURES.register
