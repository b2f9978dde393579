"""A sweep: one recipe run per value of a parameter, and the curve across them.

A recipe with a ``sweep:`` section (see :mod:`transfer.recipes.schema`) runs
once per value; each point is a complete, ordinary results folder at
``OUT/points/<name>=<value>/`` (its own report), written by
:func:`transfer.recipes.runner.run_recipe` with the same caches, so a rerun
reads every cell from the cache and an interrupted sweep resumes where it
stopped. Then, at ``OUT``:

- ``sweep.csv``: one row per point x extractor x head (``source`` "cells":
  the mean and std over folds of every metric of the point's results.csv),
  plus one row per point x trained network whose ``train:`` stage reported a
  test accuracy on its dataset A (``source`` "training", head empty);
- ``sweep.json``: the sweep (name, values, keys set), the points' folders,
  the primary metric, provenance;
- ``report.html`` / ``report.md`` (:mod:`transfer.recipes.sweep_report`): the
  curve, the table, a link to each point's report.

Every point is planned (recipe, data, weights, its folder) before the first
one runs. ``OUT`` follows the results-folder rules of
:mod:`transfer.recipes.output`: a new or empty folder, or one that transfer
wrote (a previous sweep: its files are rewritten, points no longer in the
sweep removed once the new sweep has finished), else refused unless
``force``, which adds the sweep beside the other files and never overwrites
one of them; each point folder is checked by the same rules.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import transfer
from transfer._io import atomic_write_text
from transfer.recipes.output import (
    MARKER,
    OWNER,
    OutputFolderError,
    OutputPlan,
    _is_ours,
    plan_output,
)
from transfer.recipes.schema import Recipe, RecipeError, Sweep

#: The folder of the points, under the sweep's results folder.
POINTS = "points"
#: The files a sweep writes at the top of its results folder.
SWEEP_FILES = ("sweep.csv", "sweep.json", "report.html", "report.md")
#: The errors of a point's plan that are the user's (re-raised naming the point).
_POINT_ERRORS = (ValueError, FileNotFoundError, KeyError, OSError)


@dataclass
class SweepPlan:
    """Every point of a sweep, checked: see :func:`plan_sweep`.

    Attributes
    ----------
    recipe : Recipe
        The swept recipe (``recipe.sweep`` is set).
    output : OutputPlan
        The sweep's results folder.
    points : list of (value, Path, Plan)
        Each value, its folder and its plan (:func:`transfer.recipes.runner.plan_run`).
    force : bool
        Whether folders holding other files may be written (beside those files).
    """

    recipe: Recipe
    output: OutputPlan
    points: list[tuple[Any, Path, Any]]
    force: bool = False
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    t0: float = field(default_factory=time.perf_counter)

    @property
    def sweep(self) -> Sweep:
        assert self.recipe.sweep is not None
        return self.recipe.sweep

    @property
    def n_cached(self) -> int:
        return sum(plan.n_cached for _, _, plan in self.points)

    def summary(self) -> str:
        """One line for the sweep, then one per point (its plan's summary)."""
        sweep = self.sweep
        values = ", ".join(str(v) for v in sweep.values)
        lines = [
            f"sweep over {sweep.name} ({values}; sets {', '.join(sweep.set)}): "
            f"{len(self.points)} points"
        ]
        for value, _, plan in self.points:
            lines.append(f"  {sweep.label(value)}: {plan.summary()}")
        return "\n".join(lines)


def _point_error(label: str, exc: Exception) -> RecipeError:
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return RecipeError(f"sweep point {label}: {text}")


def _check_folder(output: OutputPlan) -> None:
    """The sweep's own names in ``output``: never a file transfer did not write."""
    out = output.out_dir
    if not out.is_dir():
        return
    ours = set((_is_ours(out) or {}).get("files", []))
    points = out / POINTS
    if points.exists() and not points.is_dir():
        raise OutputFolderError(f"--out {out}: {points} is a file; a sweep writes its points there")
    clash = [n for n in SWEEP_FILES if (out / n).exists() and n not in ours]
    if clash:
        raise OutputFolderError(
            f"--out {out}: would overwrite {', '.join(clash)}, which transfer did not write; "
            "choose another --out"
        )


def plan_sweep(
    recipe: Recipe,
    out_dir: str | os.PathLike,
    *,
    force: bool = False,
    say: Callable[[str], object] | None = None,
) -> SweepPlan:
    """Check every point of a swept recipe before any work.

    Parameters
    ----------
    recipe : Recipe
        A recipe with a ``sweep:`` section (``recipe.sweep``).
    out_dir : path
        The sweep's results folder; point ``v`` goes to ``out_dir/points/<name>=<v>``.
    force : bool, default=False
        Allow folders that hold other files (nothing of those is touched).
    say : callable, optional
        Progress printer.

    Returns
    -------
    SweepPlan

    Raises
    ------
    RecipeError, OutputFolderError
        Naming the point (``sweep point train_per_class=5000: ...``) and what
        is wrong with it, or the folder; nothing is written.
    """
    from transfer.recipes.runner import plan_run

    sweep = recipe.sweep
    if sweep is None:
        raise ValueError(f"{recipe.source}: the recipe has no sweep: section")
    started, t0 = datetime.now(timezone.utc), time.perf_counter()
    output = plan_output(out_dir, force=force)
    _check_folder(output)
    points = []
    for value, point in zip(sweep.values, sweep.points, strict=True):
        label = sweep.label(value)
        folder = output.out_dir / POINTS / label
        try:
            plan = plan_run(point, folder, force=force, say=say)
        except _POINT_ERRORS as exc:
            raise _point_error(label, exc) from None
        points.append((value, folder, plan))
    return SweepPlan(recipe, output, points, force, started, t0)


def run_sweep(
    plan: SweepPlan,
    *,
    console: Callable[[str], object] | None = None,
    command: str | None = None,
) -> Any:
    """Run every point of ``plan``, then write the sweep's files and page.

    Returns
    -------
    RunResult
        ``out_dir`` the sweep's folder; ``results`` and ``extraction`` every
        point's rows with the sweep's column first; ``summary`` and ``sweep``
        the table of sweep.csv; ``n_failed`` and ``n_cached`` summed over points.
    """
    from transfer.recipes.runner import RunResult, log, plan_run, replace_plan, run_recipe

    say = console or (lambda msg: log.info("%s", msg))
    sweep = plan.sweep
    # claimed before the first point: an interrupted sweep leaves a folder that
    # the next run may replace, its finished points inside
    _write_marker(plan, set())
    results, extraction, runs = [], [], []
    for i, (value, folder, point_plan) in enumerate(plan.points):
        label = sweep.label(value)
        say(f"sweep point {i + 1}/{len(plan.points)}: {label}")
        point = sweep.points[i]
        if i:
            # planned again: an earlier point may have computed its cells or networks
            try:
                fresh = plan_run(point, folder, force=plan.force, say=say)
            except _POINT_ERRORS as exc:
                raise _point_error(label, exc) from None
            point_plan = replace_plan(point_plan, fresh)
        # a point's duration is its own, not the time since the sweep was planned
        point_plan.started, point_plan.t0 = datetime.now(timezone.utc), time.perf_counter()
        run = run_recipe(
            point, folder, console=say, force=plan.force, command=command, plan=point_plan
        )
        runs.append(
            {
                "value": value,
                "folder": f"{POINTS}/{label}",
                "n_cells": len(run.results),
                "n_failed": run.n_failed,
                "n_cached": run.n_cached,
                "seconds": round(run.seconds, 3),
            }
        )
        results.append(run.results.assign(**{sweep.name: [value] * len(run.results)}))
        extraction.append(run.extraction.assign(**{sweep.name: [value] * len(run.extraction)}))
    out = plan.output.out_dir
    meta = {
        "tool": "transfer",
        "kind": "sweep",
        "name": plan.recipe.name,
        "title": plan.recipe.config["report"]["title"] or plan.recipe.config["title"],
        "description": plan.recipe.config["description"],
        "recipe_source": plan.recipe.source,
        "sweep": {"name": sweep.name, "values": sweep.values, "set": sweep.set},
        "primary_metric": plan.recipe.protocol.primary_metric,
        "metrics": list(plan.recipe.protocol.metrics),
        "points": runs,
        "command": command,
        "version": transfer.__version__,
        "started": plan.started.isoformat(timespec="seconds"),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "duration_seconds": round(time.perf_counter() - plan.t0, 3),
    }
    atomic_write_text(out / "sweep.json", json.dumps(meta, indent=2, default=str))
    from transfer.recipes.sweep_report import build_sweep_report

    build_sweep_report(out)
    _finish_folder(plan)
    table = pd.read_csv(out / "sweep.csv")

    def first(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[[sweep.name, *[c for c in frame.columns if c != sweep.name]]]

    all_results = first(pd.concat(results, ignore_index=True))
    return RunResult(
        out,
        all_results,
        table,
        first(pd.concat(extraction, ignore_index=True)),
        n_failed=int(sum(r["n_failed"] for r in runs)),
        n_cached=int(sum(r["n_cached"] for r in runs)),
        seconds=time.perf_counter() - plan.t0,
        sweep=table,
    )


def _finish_folder(plan: SweepPlan) -> None:
    """Claim the sweep's files in the folder's marker; drop what a replaced sweep left.

    In ``replace`` mode (the folder holds only transfer's files) the previous
    run's other files and the point folders of values no longer swept are
    removed, and only those that transfer wrote, as their markers say.
    """
    out = plan.output.out_dir
    previous = set((_is_ours(out) or {}).get("files", []))
    keep = {plan.sweep.label(v) for v in plan.sweep.values}
    points = out / POINTS
    if plan.output.mode == "replace":
        for name in previous - {*SWEEP_FILES, POINTS, MARKER}:
            path = out / name
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        for child in points.iterdir() if points.is_dir() else ():
            if child.name not in keep and child.is_dir() and _only_ours(child):
                shutil.rmtree(child, ignore_errors=True)
    _write_marker(plan, set(SWEEP_FILES))


def _write_marker(plan: SweepPlan, files: set[str]) -> None:
    """Write the folder's marker: ``files``, the points folder, and what it listed still there."""
    out = plan.output.out_dir
    out.mkdir(parents=True, exist_ok=True)
    previous = set((_is_ours(out) or {}).get("files", []))
    present = {p.name for p in out.iterdir()}
    files = set(files) | (previous & present)
    # the points folder is claimed only when it holds nothing but results folders
    # transfer wrote: a later replace may then remove it whole
    points = out / POINTS
    if not points.exists() or all(_only_ours(c) or _staging(c) for c in points.iterdir()):
        files.add(POINTS)
    else:
        files.discard(POINTS)
    marker = {
        "tool": "transfer",
        "version": transfer.__version__,
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": sorted(files),
    }
    atomic_write_text(out / MARKER, json.dumps(marker, indent=1))


def _staging(folder: Path) -> bool:
    """Whether ``folder`` is a point's staging folder (a killed run's are removed by the next)."""
    return folder.name.startswith(".") and (folder / OWNER).is_file()


def _only_ours(folder: Path) -> bool:
    """Whether ``folder`` is a results folder holding nothing but transfer's files."""
    record = _is_ours(folder) if folder.is_dir() else None
    if record is None:
        return False
    ours = set(record.get("files", [])) | {MARKER}
    return all(p.name in ours for p in folder.iterdir())


def is_sweep_folder(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds a sweep's results (its ``sweep.json``)."""
    return (Path(folder) / "sweep.json").is_file()


def sweep_table(folder: str | os.PathLike) -> tuple[pd.DataFrame, dict]:
    """Rebuild sweep.csv's table from the sweep's files alone.

    Parameters
    ----------
    folder : path
        A sweep's results folder (``sweep.json`` and ``points/*/``).

    Returns
    -------
    table : DataFrame
        One row per point x extractor x head (``source`` "cells"): the sweep's
        column (its value), ``point`` (the folder under ``points/``),
        ``source``, ``extractor``, ``head``, ``n_folds``, ``n_failed``, then
        ``<metric>_mean`` and ``<metric>_std`` (sample std over folds, NaN
        for one fold) of every metric of the point's results.csv; then one row
        per point x trained network that reported a test accuracy on its
        dataset A (``source`` "training", ``extractor`` the network, ``head``
        empty, ``accuracy_mean`` that accuracy, from its card in meta.json).
    meta : dict
        ``sweep.json``.

    Raises
    ------
    FileNotFoundError, ValueError
        Naming the file that is missing or unreadable.
    """
    from transfer.report import load_results, summarize

    folder = Path(folder)
    path = folder / "sweep.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing: {folder} is not a sweep's folder") from None
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    name = meta["sweep"]["name"]
    cells, training = [], []
    for point in meta["points"]:
        results = load_results(folder / point["folder"])
        metrics = [results.primary_metric] + [
            m for m in results.metrics if m != results.primary_metric
        ]
        summary = summarize(results.results, metrics, primary=results.primary_metric)
        keep = ["extractor", "head", "n_folds", "n_failed"]
        keep += [f"{m}_{s}" for m in metrics for s in ("mean", "std")]
        summary = summary[keep]
        # the recipe's order, not best first: lines and rows stay put from point to point
        pairs = zip(results.results["extractor"], results.results["head"], strict=True)
        order = {p: i for i, p in reversed(list(enumerate(pairs)))}
        rank = [order[p] for p in zip(summary["extractor"], summary["head"], strict=True)]
        summary = summary.iloc[np.argsort(rank, kind="stable")]
        summary.insert(0, "source", "cells")
        summary.insert(0, "point", Path(point["folder"]).name)
        summary.insert(0, name, point["value"])
        cells.append(summary)
        for network, card in (results.meta.get("train") or {}).items():
            test = card.get("test") if isinstance(card, dict) else None
            if not isinstance(test, dict):
                continue
            row: dict[str, Any] = {
                name: point["value"],
                "point": Path(point["folder"]).name,
                "source": "training",
                "extractor": network,
                "head": "",
                "n_folds": 1,
                "n_failed": 0,
            }
            accuracy = test.get("accuracy")
            if isinstance(accuracy, int | float) and not isinstance(accuracy, bool):
                training.append({**row, "accuracy_mean": float(accuracy)})
    table = pd.concat([*cells, *([pd.DataFrame(training)] if training else [])], ignore_index=True)
    return table, meta


def closing_lines(result: Any, primary: str) -> list[str]:
    """The sweep's closing table: one row per extractor x head, one column per value."""
    table = result.sweep
    name = table.columns[0]
    if f"{primary}_mean" not in table:
        return ["no results"]
    wide = curve_frame(table, primary, name)
    lines = [f"{primary} (mean ± std over folds) by {name}:", wide.to_string()]
    lines.append(f"sweep: {result.out_dir / 'sweep.csv'}")
    return lines


def curve_frame(table: pd.DataFrame, metric: str, name: str, decimals: int = 3) -> pd.DataFrame:
    """``table`` laid out as one row per line of the curve, one column per value.

    Rows are ``extractor + head`` (cells) or ``network (trained on A)``
    (training rows), cells ``mean ± std`` (``""`` where absent).
    """
    from transfer.report.tables import format_mean_std

    mean, std = f"{metric}_mean", f"{metric}_std"
    values = list(dict.fromkeys(table[name].tolist()))
    rows: dict[str, dict] = {}
    for _, r in table.iterrows():
        if mean not in r or pd.isna(r[mean]):
            continue
        rows.setdefault(line_label(r), {})[r[name]] = format_mean_std(r[mean], r.get(std))
    wide = pd.DataFrame(
        [[cells.get(v, "") for v in values] for cells in rows.values()],
        index=pd.Index(list(rows), name="line"),
        columns=[str(v) for v in values],
    )
    wide.columns.name = name
    return wide


def line_label(row: pd.Series) -> str:
    """The name of a row's line on the curve."""
    if row.get("source") == "training":
        return f"{row['extractor']} (own output, trained on A)"
    return f"{row['extractor']} + {row['head']}"
