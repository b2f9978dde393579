"""Parameter validation from one declared table per class.

Each estimator declares ``_parameter_constraints``: a dict mapping a
parameter name to a list of constraints, any one of which may accept the
value. ``validate_params`` is called at ``fit`` time (never in ``__init__``),
so that ``clone``, ``set_params`` and grid searches behave as in
scikit-learn. Only scikit-learn's public API is used.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Interval:
    """A numeric interval; ``closed`` is one of "both", "left", "right", "neither"."""

    type: type
    left: float | None
    right: float | None
    closed: str = "both"

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if self.type is numbers.Integral or self.type is int:
            if not isinstance(value, numbers.Integral):
                return False
        elif not isinstance(value, numbers.Real):
            return False
        lo_ok = self.left is None or (
            value >= self.left if self.closed in ("both", "left") else value > self.left
        )
        hi_ok = self.right is None or (
            value <= self.right if self.closed in ("both", "right") else value < self.right
        )
        return bool(lo_ok and hi_ok)

    def describe(self) -> str:
        kind = "an int" if self.type in (int, numbers.Integral) else "a float"
        lb = "[" if self.closed in ("both", "left") else "("
        rb = "]" if self.closed in ("both", "right") else ")"
        lo = "-inf" if self.left is None else repr(self.left)
        hi = "inf" if self.right is None else repr(self.right)
        return f"{kind} in the range {lb}{lo}, {hi}{rb}"


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values."""

    values: tuple

    def accepts(self, value: Any) -> bool:
        try:
            return value in self.values
        except TypeError:
            return False

    def describe(self) -> str:
        return "one of {" + ", ".join(repr(v) for v in self.values) + "}"


@dataclass(frozen=True)
class IntPair:
    """A pair of positive ints ``(rows, cols)``; a single int means ``(n, n)``."""

    minimum: int = 1

    def accepts(self, value: Any) -> bool:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return value >= self.minimum
        if isinstance(value, list | tuple) and len(value) == 2:
            return all(
                isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= self.minimum
                for v in value
            )
        return False

    def describe(self) -> str:
        return f"an int >= {self.minimum} or a pair of them"


@dataclass(frozen=True)
class InstanceOf:
    type: type | tuple

    def accepts(self, value: Any) -> bool:
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        if isinstance(value, bool) and bool not in types:
            return False
        return isinstance(value, self.type)

    def describe(self) -> str:
        names = self.type if isinstance(self.type, tuple) else (self.type,)
        return "an instance of " + " or ".join(t.__name__ for t in names)


@dataclass(frozen=True)
class SequenceOf:
    """A non-empty tuple or list whose items all satisfy ``item``."""

    item: Interval | Options | InstanceOf

    def accepts(self, value: Any) -> bool:
        if not isinstance(value, list | tuple) or len(value) == 0:
            return False
        return all(self.item.accepts(v) for v in value)

    def describe(self) -> str:
        return f"a non-empty tuple, each item {self.item.describe()}"


class _NoneConstraint:
    def accepts(self, value: Any) -> bool:
        return value is None

    def describe(self) -> str:
        return "None"


NONE = _NoneConstraint()


class InvalidParameterError(ValueError, TypeError):
    """A parameter value outside what the estimator allows."""


def validate_params(estimator: Any) -> None:
    """Check ``estimator.get_params(deep=False)`` against its constraints table.

    Raises
    ------
    InvalidParameterError
        Naming the class, the parameter, the value given and what is allowed.
    """
    constraints = getattr(type(estimator), "_parameter_constraints", {})
    params = estimator.get_params(deep=False)
    for name, value in params.items():
        allowed = constraints.get(name)
        if allowed is None or allowed == "no_validation":
            continue
        if any(c.accepts(value) for c in allowed):
            continue
        described = " or ".join(c.describe() for c in allowed)
        raise InvalidParameterError(
            f"The {name!r} parameter of {type(estimator).__name__} must be {described}; "
            f"got {value!r}."
        )


def as_pair(value: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """``3 -> (3, 3)``; ``(2, 4) -> (2, 4)``."""
    if isinstance(value, numbers.Integral):
        return int(value), int(value)
    a, b = value
    return int(a), int(b)
