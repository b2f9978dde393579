"""Progress bars for long work, shown only when enabled (see ``set_config``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from transfer._config import get_config

T = TypeVar("T")


def track(iterable: Iterable[T], total: float | None, description: str) -> Iterator[T]:
    """Yield from ``iterable``, drawing a ``rich`` progress bar if enabled."""
    if not get_config()["progress"]:
        yield from iterable
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(description, total=total)
        for item in iterable:
            yield item
            size = len(item) if hasattr(item, "__len__") else 1
            bar.advance(task, size)
