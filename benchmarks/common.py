"""Shared helpers of the benchmarks: timing, and the entry format of ``latest.json``.

Every benchmark module that ``make bench`` runs (``benchmarks/run.py``)
exposes ``bench(quick: bool = True) -> dict[str, dict]``, mapping the keys of
``benchmarks/results/latest.json`` to entries built by :func:`entry`: the
ratio baseline seconds / our seconds, both measured in the same process and
run, on the same inputs, after an equality check of the two outputs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))


def data_root() -> Path:
    """``$TRANSFER_DATA``, else ``../shared/data`` beside the repository."""
    return Path(os.environ.get("TRANSFER_DATA") or REPO.parent / "shared" / "data")


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    """The shortest of ``repeat`` wall-clock times of ``fn()``, in seconds."""
    times = []
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def interleaved(fns: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    """Best-of-``repeat`` times of several functions, their passes interleaved.

    A load change on the machine during the run then hits every contender
    alike, which keeps their ratio honest on a shared machine. The order
    rotates from pass to pass, so no contender always runs right after the
    same other one (TensorFlow's threads spin for a while after its work,
    slowing whatever runs next).
    """
    best = {name: float("inf") for name in fns}
    names = list(fns)
    for i in range(max(1, repeat)):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            fn = fns[name]
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def max_abs_diff(a: Any, b: Any) -> float:
    """Largest absolute difference of two arrays of the same shape (inf if shapes differ)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def entry(
    *,
    baseline: str,
    ours: str,
    baseline_s: float,
    ours_s: float,
    sizes: dict[str, Any],
    equal: dict[str, Any],
    goal: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One entry of ``latest.json``.

    Parameters
    ----------
    baseline, ours : str
        What was timed on each side (one line each, for the README table).
    baseline_s, ours_s : float
        Their times in seconds, measured in the same run.
    sizes : dict
        The sizes that define the workload (images, dimensions, folds, ...).
    equal : dict
        The equality check of the two outputs: at least ``ok`` (bool), and
        what was compared (``max_abs_diff`` and ``tol``, or agreement rates).
    goal : float, optional
        The ratio the issue asks for; ``meets_goal`` is then recorded.
    **extra
        Anything else worth keeping (accuracies, iterations, notes).
    """
    ratio = float(baseline_s) / max(float(ours_s), 1e-12)
    out: dict[str, Any] = {
        "ratio": round(ratio, 3),
        "baseline": baseline,
        "ours": ours,
        "baseline_s": round(float(baseline_s), 4),
        "ours_s": round(float(ours_s), 4),
        "sizes": sizes,
        "equal": equal,
    }
    if goal is not None:
        out["goal"] = goal
        out["meets_goal"] = bool(ratio >= goal and equal.get("ok", False))
    out.update(extra)
    return out


def main(
    bench: Callable[[bool], dict[str, dict]],
    doc: str | None,
    full_help: str,
    argv: list[str] | None = None,
) -> dict[str, dict]:
    """Command line of a benchmark module: ``[--full]``, entries printed as JSON."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0] if doc else None)
    parser.add_argument("--full", action="store_true", help=full_help)
    args = parser.parse_args(argv)
    out = bench(not args.full)
    print(json.dumps(out, indent=2))
    return out
