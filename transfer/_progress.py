"""Progress bars for long work, shown only when enabled (see ``set_config``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from transfer._config import get_config

T = TypeVar("T")

#: Seconds between two plain progress lines of one phase; a phase shorter than
#: this (or than 2 s) prints no closing line either, so short steps stay quiet.
LINE_INTERVAL = 30.0


def track(iterable: Iterable[T], total: float | None, description: str) -> Iterator[T]:
    """Yield from ``iterable``, showing its progress as :class:`PhaseProgress` does.

    A ``rich`` bar when progress bars are enabled; plain periodic lines through
    the ``progress_lines`` printer of :func:`~transfer._config.set_config` when
    one is set (output piped to a log); nothing otherwise. Items with a length
    (batches) count as that many units.
    """
    say = get_config()["progress_lines"]
    with PhaseProgress(description, int(total or 0), unit="images", say=say) as progress:
        for item in iterable:
            yield item
            progress.advance(len(item) if hasattr(item, "__len__") else 1)


def format_seconds(seconds: float) -> str:
    """``1h02m03s`` / ``2m03s`` / ``4.1s``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


class PhaseProgress:
    """Progress of one phase of a run: a live bar on a terminal, plain lines otherwise.

    With progress bars enabled (``set_config(progress=True)``, which the CLI
    does on a terminal) a ``rich`` bar shows done / total, elapsed and time
    left. Otherwise, when a ``say`` callable is given (the CLI's printer when
    output is piped to a log), one plain line (no carriage returns) is printed
    at most every ``interval`` seconds and when the phase ends. With neither,
    it is silent.

    Parameters
    ----------
    description : str
        What is being done ("heads on lbp").
    total : int
        Units of work (cells, images).
    unit : str, default="cells"
        Name of a unit in the plain lines.
    say : callable, optional
        Printer for plain lines.
    interval : float, optional
        Seconds between plain lines (default :data:`LINE_INTERVAL`).
    """

    def __init__(
        self,
        description: str,
        total: int,
        *,
        unit: str = "cells",
        say: Callable[[str], object] | None = None,
        interval: float | None = None,
    ) -> None:
        self.description = description
        self.total = max(int(total), 0)
        self.unit = unit
        self.say = say
        self.interval = LINE_INTERVAL if interval is None else interval
        self.done = 0
        self._start = time.monotonic()
        self._last_line = self._start
        self._bar = None
        self._task = None

    def __enter__(self) -> PhaseProgress:
        if get_config()["progress"] and self.total:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.description, total=self.total)
        return self

    def advance(self, n: int = 1) -> None:
        """Record ``n`` more units done."""
        self.done += n
        if self._bar is not None:
            self._bar.advance(self._task, n)
            return
        now = time.monotonic()
        long_enough = now - self._start >= min(2.0, self.interval)
        finished = self.done >= self.total > 0 and long_enough
        if self.say is not None and (now - self._last_line >= self.interval or finished):
            self._last_line = now
            self.say(self.line())

    def line(self) -> str:
        """``description: done/total unit, elapsed, ~left``."""
        elapsed = time.monotonic() - self._start
        text = (
            f"{self.description}: {self.done}/{self.total} {self.unit}, {format_seconds(elapsed)}"
        )
        if 0 < self.done < self.total:
            left = elapsed / self.done * (self.total - self.done)
            text += f" elapsed, ~{format_seconds(left)} left"
        else:
            text += " elapsed"
        return text

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None
