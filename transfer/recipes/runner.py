"""The run engine: plan -> extract -> evaluate -> write.

- **plan** checks everything a run needs before any work (the recipe and every
  component's parameters, the data and every file the protocol uses, the
  weights, the results folder), lists the cells (extractor x head x fold) and
  finds which are already in the cell cache.
- **extract** computes features per extractor (or reads the feature cache);
  an extractor that learns (``requires_fit``) is fitted on each fold's
  training images only. An extractor whose cells are all cached is skipped.
- **evaluate** runs the missing cells (joblib, ``n_jobs``), storing each in
  the cell cache as it finishes, so a killed run resumes cell by cell. A cell
  that fails is recorded with its error; the rest of the run completes.
- **write** builds the result frames from the protocol (its per-item frame and
  curves), the report, and moves the staging folder into place
  (:mod:`transfer.recipes.output`: a user's folder is never replaced).

The engine knows no protocol or head by name: it asks the protocol (folds,
targets, item frame, curves, description, report sections) and the
components' tags.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.base import clone

import transfer
from transfer._progress import PhaseProgress, format_seconds
from transfer._tags import component_tags
from transfer.data.imageset import ImageSet
from transfer.features.base import array_digest, stable_hash
from transfer.protocols.base import Fold, FoldResult
from transfer.recipes.cache import FeatureCache
from transfer.recipes.cells import CellCache, cell_key
from transfer.recipes.engines import LocalEngine, get_engine
from transfer.recipes.output import (
    OutputPlan,
    clean_stale_staging,
    make_staging,
    plan_output,
    publish,
)
from transfer.recipes.schema import Recipe

log = logging.getLogger("transfer")

_PACKAGES = (
    "transfer",
    "numpy",
    "scipy",
    "scikit-learn",
    "scikit-image",
    "pandas",
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "matplotlib",
    "pillow",
)
#: Columns of results.csv that vary between identical runs.
TIMING_COLUMNS = ("fit_seconds", "predict_seconds")


def environment() -> dict[str, Any]:
    """Versions and machine facts recorded with every result."""
    packages = {}
    for name in _PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "packages": packages,
    }


def git_commit() -> str | None:
    """The commit of the checkout the package runs from, or None (installed copy)."""
    root = Path(transfer.__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def open_data(cfg: dict, transforms: list, seed: int) -> ImageSet:
    """Open a ``data:`` mapping's dataset, filter classes, attach ``transforms``."""
    from transfer.data import open_dataset, select_classes

    data = open_dataset(cfg["dataset"], path=cfg["path"], root=cfg["root"], **cfg["params"])
    if any(cfg[k] is not None for k in ("min_per_class", "max_per_class", "max_classes")):
        data = select_classes(
            data,
            min_per_class=cfg["min_per_class"],
            max_per_class=cfg["max_per_class"],
            max_classes=cfg["max_classes"],
            seed=seed,
        )
    if transforms:
        data = data.with_transforms(*transforms)
    if len(data) == 0:
        raise ValueError(f"the dataset {data.name!r} has no images")
    return data


def load_data(recipe: Recipe) -> ImageSet:
    """Open the recipe's dataset, filter classes and attach its transforms."""
    return open_data(recipe.config["data"], recipe.transforms, recipe.config["seed"])


# -- plan -------------------------------------------------------------------


@dataclass
class Cell:
    """One (extractor, head, fold) of a run."""

    extractor: str
    head: str
    fold: int  # position in Plan.folds
    key: str | None = None  # None when caching is off
    cached: FoldResult | None = None


@dataclass
class Plan:
    """Everything a run needs, checked; see :func:`plan_run`."""

    recipe: Recipe
    data: ImageSet
    folds: list[Fold]
    targets: np.ndarray
    views: dict[str, ImageSet]
    feature_keys: dict[str, str]
    cells: list[Cell]
    output: OutputPlan | None
    feature_cache: FeatureCache | None
    cell_cache: CellCache | None
    #: the ``train:`` jobs, checked (:func:`transfer.train.recipe.plan_training`)
    training: list = field(default_factory=list)
    #: first-fold features of extractors that learn per fold, kept by the run for
    #: the analyses (they are not in the feature cache)
    fold_features: dict = field(default_factory=dict)
    #: when planning began (wall clock, and ``time.perf_counter``): a run's duration counts it
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    t0: float = field(default_factory=time.perf_counter)
    #: where features and cells are computed (:mod:`transfer.recipes.engines`),
    #: set and started by :func:`run_recipe`; None: this process (the local engine)
    engine: Any = None

    @property
    def n_cached(self) -> int:
        return sum(c.cached is not None for c in self.cells)

    def summary(self) -> str:
        """A few lines: data, split counts, components, cells (cached)."""
        data, rec = self.data, self.recipe
        counts = data.split_counts()
        split = f" (train {counts['train']}, test {counts['test']})" if counts else ""
        return (
            f"{data.name}: {len(data)} images{split}, {data.n_classes} classes; "
            f"{len(rec.extractors)} extractors ({', '.join(rec.extractors)}) x "
            f"{len(rec.heads)} heads ({', '.join(rec.heads)}) x {len(self.folds)} folds "
            f"({rec.protocol.name}) = {len(self.cells)} cells, {self.n_cached} cached"
        )


def _weights_names(recipe: Recipe) -> tuple[list[str], list[str]]:
    """Named weights sets and weights files the extractors use."""
    from transfer.weights import list_weights

    known = set(list_weights())
    named, files = [], []
    for ext in recipe.extractors.values():
        for value in ext.get_params(deep=False).values():
            if isinstance(value, str) and value in known:
                named.append(value)
            elif isinstance(value, str | os.PathLike) and os.path.isfile(os.fspath(value)):
                if str(value).endswith((".keras", ".h5", ".dat", ".pb", ".pth", ".tflite")):
                    files.append(os.fspath(value))
    return sorted(set(named)), sorted(set(files))


def _check_weights(recipe: Recipe) -> None:
    """Every weights set an extractor names can load offline: prepared and
    verified, or its source is here. Otherwise one error gives the one
    ``transfer weights prepare`` command."""
    from transfer.weights.store import require

    named, _ = _weights_names(recipe)
    if named:
        require(named)


def _weights_used(recipe: Recipe) -> dict[str, str]:
    """The sha256 of every weights file the run used, by set name or path (meta.json).

    Hashes are memoised per process (:func:`transfer.weights.file_sha256`), so
    files checked at load time are not read again.
    """
    from transfer.weights import file_sha256, verify, weights_files

    named, files = _weights_names(recipe)
    used = {path: file_sha256(path) for path in files}
    for name in named:
        if verify(name):  # a set whose cells were all cached may never have been prepared
            for path in weights_files(name):
                used[f"{name}:{Path(path).name}"] = file_sha256(path)
    return used


def _trial(label: str, extractor: Any, view: ImageSet) -> None:
    """Run a stateless extractor on one image, so that a parameter that does not
    fit the images (an LBP grid larger than the image) or the network (a layer
    it does not have) fails now, before any work. A network is loaded for
    that (and kept: the run reuses it)."""
    if extractor.__sklearn_tags__().requires_fit:
        return
    from transfer._config import config_context

    try:
        with config_context(progress=False, progress_lines=None):  # one image: no progress
            clone(extractor).fit(view.subset([0])).transform(view.subset([0]))
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(
            f"extractor {label!r} cannot run on the images ({view.describe(0)}): {exc}"
        ) from None


def plan_run(
    recipe: Recipe,
    out_dir: str | os.PathLike | None = None,
    *,
    force: bool = False,
    say: Callable[[str], object] | None = None,
) -> Plan:
    """Check everything a run of ``recipe`` needs and list its cells.

    Parameters
    ----------
    recipe : Recipe
        A validated recipe (components already instantiated and checked).
    out_dir : path, optional
        The results folder; checked (see :func:`transfer.recipes.output.plan_output`).
    force : bool, default=False
        Allow adding results to an existing folder with other files.
    say : callable, optional
        Progress printer.

    Returns
    -------
    Plan or SweepPlan
        A :class:`transfer.recipes.sweep.SweepPlan` (every point planned)
        when the recipe has a ``sweep:`` section.

    Raises
    ------
    OutputFolderError, ValueError, FileNotFoundError, ImageReadError, WeightsError
        Naming the folder, file, key or parameter at fault (and the sweep's
        point); nothing is written.
    """
    if recipe.sweep is not None:
        from transfer.recipes.sweep import plan_sweep

        if out_dir is None:
            raise ValueError(f"{recipe.source}: a sweep needs its results folder (out_dir)")
        return plan_sweep(recipe, out_dir, force=force, say=say)
    started, t0 = datetime.now(timezone.utc), time.perf_counter()
    output = plan_output(out_dir, force=force) if out_dir is not None else None
    config = recipe.config
    protocol = recipe.protocol
    data, folds = protocol.select(load_data(recipe))
    if not folds:
        raise ValueError(f"the protocol {protocol.name!r} produced no folds")
    data.check_files()  # every file exists and parses as an image (headers only)
    targets = protocol.targets(data)
    views = {
        label: data.with_transforms(*recipe.extractor_transforms.get(label, ()))
        for label in recipe.extractors
    }
    data.image_shape()  # decodes the first image: a bad transform fails now
    for view in views.values():
        if view.transforms != data.transforms:
            view.image_shape()
    _check_weights(recipe)
    training = []
    if recipe.train_jobs:  # before the keys: extractors get the trained networks' files
        from transfer.train.recipe import plan_training

        training = plan_training(recipe)

    cache_cfg = config["cache"]
    feature_cache = cell_cache = None
    if cache_cfg["enabled"]:
        root = Path(cache_cfg["dir"]).expanduser() if cache_cfg["dir"] else None
        feature_cache = FeatureCache(root / "features" if root else None)
        cell_cache = CellCache(root / "cells" if root else None)

    feature_keys = {}
    for label, ext in recipe.extractors.items():
        if not fused_rows(ext):
            feature_keys[label] = stable_hash(
                {
                    "extractor": ext.cache_key(),
                    "data": views[label].fingerprint(),
                    "per_fold": bool(ext.__sklearn_tags__().requires_fit),
                }
            )
    for label, ext in recipe.extractors.items():
        if fused_rows(ext):  # its features are its parts' rows', combined
            parts = [feature_keys[r] for r in fused_rows(ext)]
            feature_keys[label] = stable_hash({"extractor": ext.cache_key(), "parts": parts})
    fold_defs = [protocol.fold_definition(f) for f in folds]
    target_digest = array_digest(targets)
    cells = []
    for ext_label in recipe.extractors:
        for head_label, head in recipe.heads.items():
            for i in range(len(folds)):
                cell = Cell(ext_label, head_label, i)
                if cell_cache is not None:
                    cell.key = cell_key(
                        features=feature_keys[ext_label],
                        head=head,
                        fold=fold_defs[i],
                        targets=target_digest,
                        protocol=protocol,
                        seed=config["seed"],
                    )
                    cell.cached = cell_cache.load(cell.key)
                cells.append(cell)
    for label, ext in recipe.extractors.items():
        # handcrafted extractors always (cheap); a network only when it will
        # run, since loading it costs seconds
        own = [c for c in cells if c.extractor == label]
        pending = ext.get_params(deep=False).get("network") in {
            t.job.label for t in training if not t.done
        }
        if pending:
            continue  # its network is trained first; its layers were checked on the architecture
        if fused_rows(ext):
            continue  # runs nothing on images: its parts' rows are tried
        if component_tags(ext).get("kind") == "handcrafted" or any(c.cached is None for c in own):
            _trial(label, ext, views[label])
    plan = Plan(
        recipe,
        data,
        folds,
        targets,
        views,
        feature_keys,
        cells,
        output,
        feature_cache,
        cell_cache,
        training,
        started=started,
        t0=t0,
    )
    if recipe.analyses:
        from transfer.analysis.base import AnalysisContext

        context = AnalysisContext(plan)
        for i, (label, analysis) in enumerate(recipe.analyses.items()):
            try:
                analysis.check_plan(context)
            except ValueError as exc:
                raise ValueError(f"{recipe.source}: analyses[{i}] ({label}): {exc}") from None
    return plan


# -- extract ------------------------------------------------------------------


@dataclass
class Features:
    """One extractor's features: one array for all folds, or one per fold."""

    per_fold: list[np.ndarray]
    row: dict[str, Any] = field(default_factory=dict)


def _check_features(features: np.ndarray, label: str) -> None:
    if features.ndim != 2 or len(features) == 0:
        raise ValueError(f"extractor {label!r} returned features of shape {features.shape}")
    if not np.all(np.isfinite(features)):
        raise ValueError(f"extractor {label!r} returned NaN or infinite features")


def _stateless_features(
    plan: Plan, extractor: Any, view: ImageSet, label: str
) -> tuple[np.ndarray, int, int]:
    """(features, images read from the cache, images computed) of a non-learning extractor."""
    if plan.feature_cache is not None:
        engine = plan.engine or LocalEngine()
        got = engine.features(plan.feature_cache, clone(extractor), view, label)
        features, cached, computed = got.features, got.n_cached, got.n_computed
    else:
        features = clone(extractor).fit(view).transform(view)
        cached, computed = 0, len(view)
    _check_features(features, label)
    return features, cached, computed


def fused_rows(extractor: Any) -> list[str]:
    """The recipe rows whose features ``extractor`` combines ([] for an ordinary extractor)."""
    method = getattr(extractor, "fused_rows", None)
    return list(method()) if callable(method) else []


def _fused_features(plan: Plan, extractor: Any, folds: list[int]) -> list[np.ndarray]:
    """Per fold, the combination of the features of ``extractor``'s rows (read from the
    feature cache when they were extracted before; nothing is extracted twice)."""
    parts = [extract(plan, row, folds) for row in fused_rows(extractor)]
    per_fold = [np.empty((0, 0), np.float32)] * len(plan.folds)
    done: dict[tuple[int, ...], np.ndarray] = {}
    for i in folds:
        arrays = [p.per_fold[i] for p in parts]
        same = tuple(id(a) for a in arrays)  # stateless parts: one array for every fold
        if same not in done:
            done[same] = extractor.combine(arrays)
        per_fold[i] = done[same]
    return per_fold


def extract(plan: Plan, label: str, folds: list[int]) -> Features:
    """Features of extractor ``label`` for the folds ``folds`` (indices into plan.folds)."""
    extractor = plan.recipe.extractors[label]
    view = plan.views[label]
    t0 = time.perf_counter()
    split = extractor.learned_stage() if extractor.__sklearn_tags__().requires_fit else None
    if fused_rows(extractor):
        per_fold = _fused_features(plan, extractor, folds)
        n_features = per_fold[folds[0]].shape[1]
        cached = n_extracted = 0
    elif split is not None:
        # the stateless stage once for every image (and cached), the learned
        # projection per fold on the training rows: hd_lbp with PCA on View 2
        # costs one extraction and ten PCA fits, not ten extractions
        stage, projection = split
        F, cached, n_extracted = _stateless_features(plan, stage, view, label)
        per_fold = [np.empty((0, 0), np.float32)] * len(plan.folds)
        for i in folds:
            train = plan.folds[i].train
            proj = clone(projection).fit(F[train], plan.targets[train])
            per_fold[i] = np.asarray(proj.transform(F), dtype=np.float32)
            _check_features(per_fold[i], label)
        n_features = per_fold[folds[0]].shape[1]
    elif extractor.__sklearn_tags__().requires_fit:
        per_fold: list[np.ndarray] = [np.empty((0, 0), np.float32)] * len(plan.folds)
        n_extracted = 0
        for i in folds:
            fold = plan.folds[i]
            ext = clone(extractor).fit(view.subset(fold.train), plan.targets[fold.train])
            X = None
            for part in (fold.train, fold.test):
                F = ext.transform(view.subset(part))
                if X is None:
                    X = np.zeros((len(view), F.shape[1]), dtype=np.float32)
                X[part] = F
            _check_features(X, label)
            per_fold[i] = X
            n_extracted += len(fold.train) + len(fold.test)
        n_features = per_fold[folds[0]].shape[1]
        cached = 0
    else:
        features, cached, n_extracted = _stateless_features(plan, extractor, view, label)
        per_fold = [features] * len(plan.folds)
        n_features = features.shape[1]
    seconds = time.perf_counter() - t0
    row = {
        "extractor": label,
        "n_images": n_extracted,
        "n_features": n_features,
        "seconds": round(seconds, 4),
        "images_per_second": round(n_extracted / max(seconds, 1e-9), 2) if n_extracted else 0.0,
        "cached": n_extracted == 0,
        "n_cached_images": cached,
    }
    return Features(per_fold, row)


# -- evaluate -------------------------------------------------------------------


@dataclass
class Outcome:
    """What one cell gave: its result, or the error it failed with."""

    cell: Cell
    result: FoldResult | None
    error: str = ""
    from_cache: bool = False


def _evaluate_one(protocol: Any, head: Any, X: np.ndarray, targets: np.ndarray, fold: Fold):
    try:
        return protocol.evaluate(head, X, targets, fold), ""
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"


def evaluate(
    plan: Plan, cells: list[Cell], features: Features | None, progress: PhaseProgress
) -> Iterator[Outcome]:
    """Run ``cells`` of one extractor (cached ones are read), yielding outcomes as they end."""
    todo = []
    for cell in cells:
        if cell.cached is not None:
            progress.advance()
            yield Outcome(cell, cell.cached, from_cache=True)
        else:
            todo.append(cell)
    if not todo:
        return
    if features is None:
        raise RuntimeError("features are needed for cells that are not cached")
    protocol = plan.recipe.protocol
    jobs = [
        (
            protocol,
            plan.recipe.heads[c.head],
            features.per_fold[c.fold],
            plan.targets,
            plan.folds[c.fold],
        )
        for c in todo
    ]
    engine = plan.engine or LocalEngine()
    # as each cell finishes (any order on a cluster), so each is cached at once
    for i, (result, error) in engine.map_cells(_evaluate_one, jobs, plan.recipe.config["n_jobs"]):
        cell = todo[i]
        if result is not None and plan.cell_cache is not None and cell.key is not None:
            plan.cell_cache.save(
                cell.key,
                result,
                {"extractor": cell.extractor, "head": cell.head, "fold": cell.fold},
            )
        if error:
            error = f"head {cell.head!r} on {cell.extractor!r}, fold {cell.fold}: {error}"
            log.warning("%s", error)
        progress.advance()
        yield Outcome(cell, result, error)


# -- write -----------------------------------------------------------------------


@dataclass
class RunResult:
    """Where a run wrote its results, and its main tables."""

    out_dir: Path
    results: pd.DataFrame
    summary: pd.DataFrame
    extraction: pd.DataFrame
    n_failed: int = 0
    n_cached: int = 0
    seconds: float = 0.0
    #: a sweep's table (sweep.csv; :mod:`transfer.recipes.sweep`), None for a single run
    sweep: pd.DataFrame | None = None


def _component_meta(recipe: Recipe, section: str, built: dict) -> dict:
    return {
        c["label"]: {
            "name": c["name"],
            "params": c["params"],
            "tags": component_tags(built[c["label"]]),
        }
        for c in recipe.config[section]
    }


def _labelled(frames: list[tuple[tuple[str, str], pd.DataFrame]]) -> pd.DataFrame:
    """Concatenate per-cell frames with ``extractor`` and ``head`` columns first."""
    table = pd.concat([f for _, f in frames], ignore_index=True)
    sizes = [len(f) for _, f in frames]
    table.insert(0, "head", np.repeat([h for (_, h), _ in frames], sizes))
    table.insert(0, "extractor", np.repeat([e for (e, _), _ in frames], sizes))
    return table


#: Images per row of ``samples.png`` (one per class, as far as there are classes).
N_SAMPLES = 8


def _sample_indices(plan: Plan, n: int) -> np.ndarray:
    """Up to ``n`` images taken round-robin over the classes in class order
    (the first image of each class, then the second, ...)."""
    labels = np.asarray(plan.data.labels)
    per_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    chosen: list[int] = []
    for rank in range(max(len(p) for p in per_class)):
        chosen += [int(p[rank]) for p in per_class if rank < len(p)][: n - len(chosen)]
        if len(chosen) == n:
            break
    return np.asarray(chosen)


def write_samples(plan: Plan, path: Path, n: int = N_SAMPLES) -> bool:
    """Draw ``samples.png``: the same images as each extractor sees them (one
    row per distinct chain of transforms, named by its extractors).

    The report shows it as a strip; a failure (an image that cannot be read
    or aligned) only logs a warning: the samples illustrate, they are not results.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    from transfer.report.plots import figure_to_png

    try:
        idx = _sample_indices(plan, n)
        rows: dict[tuple, tuple[list[str], ImageSet]] = {}
        for label, view in plan.views.items():
            key = tuple(json.dumps(t.spec(), sort_keys=True, default=str) for t in view.transforms)
            rows.setdefault(key, ([], view))[0].append(label)
        images = [(labels, view.load(idx)) for labels, view in rows.values()]
        names = [plan.data.class_names[int(c)] for c in np.asarray(plan.data.labels)[idx]]
        fig = Figure(figsize=(1.3 * len(idx), 1.5 * len(images) + 0.2))
        axes = fig.subplots(len(images), len(idx), squeeze=False)
        for r, (labels, batch) in enumerate(images):
            for c, image in enumerate(batch):
                ax = axes[r][c]
                arr = np.clip(np.asarray(image, dtype=np.float32), 0, 255) / 255.0
                grey = arr.ndim == 2 or arr.shape[-1] == 1
                shown = arr.squeeze() if grey else arr
                ax.imshow(shown, cmap="gray" if grey else None, vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(str(names[c])[:14], fontsize=7)
            axes[r][0].set_ylabel(", ".join(labels)[:28], fontsize=7)
        fig.tight_layout()
        path.write_bytes(figure_to_png(fig, dpi=90))
        return True
    except Exception as exc:  # an illustration must not fail a finished run
        log.warning("samples.png not drawn: %s", exc)
        return False


def write_results(
    plan: Plan,
    outcomes: list[Outcome],
    extraction_rows: list[dict],
    folder: Path,
    *,
    started: datetime,
    seconds: float,
    command: str | None,
    analyses: list[dict] | None = None,
) -> pd.DataFrame:
    """Write results.csv, the protocol's item and curve files, meta.json, recipe.yaml.

    ``analyses`` are the entries :func:`transfer.analysis.base.run_analyses`
    returned (its files are already in ``folder``), recorded in meta.json.
    """
    recipe, protocol = plan.recipe, plan.recipe.protocol
    rows, items, curves = [], [], {}
    for o in outcomes:
        fold = plan.folds[o.cell.fold]
        n_train, n_test = protocol.fold_sizes(fold)
        row = {"extractor": o.cell.extractor, "head": o.cell.head, "fold": fold.index}
        row.update(o.result.metrics if o.result else dict.fromkeys(protocol.metrics, np.nan))
        row.update(
            {
                "n_train": n_train,
                "n_test": n_test,
                "fit_seconds": round(o.result.fit_seconds, 4) if o.result else np.nan,
                "predict_seconds": round(o.result.predict_seconds, 4) if o.result else np.nan,
                "status": "ok" if o.result else "failed",
                "error": o.error,
            }
        )
        rows.append(row)
        if o.result is None:
            continue
        pair = (o.cell.extractor, o.cell.head)
        items.append((pair, protocol.item_frame(plan.data, plan.targets, fold, o.result)))
        for name, curve in protocol.curve_frames(fold, o.result).items():
            curves.setdefault(name, []).append((pair, curve))
    results = pd.DataFrame(rows)
    results.to_csv(folder / "results.csv", index=False)
    write_samples(plan, folder / "samples.png")
    pd.DataFrame(extraction_rows).to_csv(folder / "extraction.csv", index=False)
    if items:
        _labelled(items).to_csv(folder / protocol.item_file, index=False)
    for name, frames in curves.items():
        _labelled(frames).to_csv(folder / name, index=False)
    training_cards = {}
    if plan.training:
        from transfer.train.recipe import training_tables

        curves_table, training_cards = training_tables(plan.training)
        if curves_table is not None:
            curves_table.to_csv(folder / "training.csv", index=False)
    config = recipe.config
    (folder / "recipe.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    data = plan.data
    n_failed = int((results["status"] == "failed").sum())
    meta = {
        "name": config["name"],
        "title": config["report"]["title"] or config["title"],
        "description": config["description"],
        "recipe_source": recipe.source,
        "results_dir": str(plan.output.out_dir) if plan.output else None,
        "command": command,
        "version": transfer.__version__,
        "git_commit": git_commit(),
        "protocol": {
            "name": protocol.name,
            "params": protocol.get_params(),
            "metrics": list(protocol.metrics),
            "primary_metric": protocol.primary_metric,
            "n_folds": len(plan.folds),
            "description": protocol.describe(data, plan.folds),
            "sections": list(protocol.report_sections),
            "item_file": protocol.item_file,
            "curve_files": sorted(curves),
        },
        "extractors": _component_meta(recipe, "extractors", recipe.extractors),
        "heads": _component_meta(recipe, "heads", recipe.heads),
        "analyses": analyses or [],
        "train": training_cards,
        "dataset": {
            "name": data.name,
            "n_images": len(data),
            "n_classes": data.n_classes,
            "class_names": list(data.class_names),
            "split_counts": data.split_counts(),
            "transforms": [t.spec() for t in data.transforms],
            "fingerprint": data.fingerprint(),
        },
        "weights": _weights_used(recipe),
        "cells": {
            "total": len(outcomes),
            "cached": sum(o.from_cache for o in outcomes),
            "computed": sum(not o.from_cache and o.result is not None for o in outcomes),
            "failed": n_failed,
        },
        "seed": config["seed"],
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "duration_seconds": round(seconds, 3),
        "environment": environment(),
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
    return results


def replace_plan(old: Plan, new: Plan) -> Plan:
    """``new``, keeping ``old``'s start time and its trained networks' cards."""
    new.started, new.t0 = old.started, old.t0
    cards = {t.job.label: t.card for t in old.training}
    for t in new.training:
        t.card = t.card or cards.get(t.job.label)
    return new


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM cleans up like Ctrl-C (the staging folder is removed)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_recipe(
    recipe: Recipe,
    out_dir: str | os.PathLike,
    *,
    console: Callable[[str], object] | None = None,
    force: bool = False,
    command: str | None = None,
    plan: Plan | None = None,
) -> RunResult:
    """Run ``recipe`` and write its results folder at ``out_dir``.

    Parameters
    ----------
    recipe : Recipe
        A validated recipe (see :func:`transfer.recipes.load_recipe`).
    out_dir : path
        The results folder. A new or empty folder, or one a previous run wrote
        (replaced); any other existing folder is refused unless ``force``.
    console : callable, optional
        Called with one-line progress messages (the CLI passes its printer).
    force : bool, default=False
        Add the results to an existing folder holding other files; nothing of
        those is deleted or overwritten.
    command : str, optional
        The command line, recorded in meta.json.
    plan : Plan, optional
        A plan from :func:`plan_run` for the same recipe and ``out_dir``.

    Returns
    -------
    RunResult
        With ``n_failed`` > 0 when some cells failed (their errors are in
        results.csv); the others are complete. For a recipe with a
        ``sweep:`` section, each point is run into ``out_dir/points/`` and
        the result is the sweep's (:func:`transfer.recipes.sweep.run_sweep`).
    """
    from transfer.analysis.base import run_analyses
    from transfer.report import build_report

    if recipe.sweep is not None:
        from transfer.recipes.sweep import run_sweep

        if plan is None:
            plan = plan_run(recipe, out_dir, force=force, say=console)
        return run_sweep(plan, console=console, command=command)
    say = console or (lambda msg: log.info("%s", msg))
    if plan is None:
        plan = plan_run(recipe, out_dir, force=force, say=say)
    started, t_start = plan.started, plan.t0
    assert plan.output is not None
    if plan.training:
        from transfer.train.recipe import run_training

        with _sigterm_as_interrupt():
            if run_training(plan.training, say):
                # the new networks' files now key their features and cells
                plan = replace_plan(plan, plan_run(recipe, out_dir, force=force, say=say))
    for stale in clean_stale_staging(plan.output):
        say(f"removed {stale}, left by a run that was killed")
    say(plan.summary())
    engine = get_engine(recipe.config)
    staging = make_staging(plan.output)
    try:
        with _sigterm_as_interrupt():
            plan.engine = engine.start()
            outcomes, extraction_rows = _run_cells(plan, say)
            analyses = run_analyses(plan, staging, say)
            results = write_results(
                plan,
                outcomes,
                extraction_rows,
                staging,
                started=started,
                seconds=time.perf_counter() - t_start,
                command=command,
                analyses=analyses,
            )
            build_report(staging)
            summary = pd.read_csv(staging / "summary.csv")
            publish(staging, plan.output, transfer.__version__)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        engine.stop()  # also on error and Ctrl-C: a cluster the run started is shut down
        plan.engine = None
    return RunResult(
        plan.output.out_dir,
        results,
        summary,
        pd.DataFrame(extraction_rows),
        n_failed=int((results["status"] == "failed").sum()),
        n_cached=plan.n_cached,
        seconds=time.perf_counter() - t_start,
    )


def _run_cells(plan: Plan, say: Callable[[str], object]) -> tuple[list[Outcome], list[dict]]:
    """Extract and evaluate, extractor by extractor, keeping every finished cell."""
    recipe = plan.recipe
    primary = recipe.protocol.primary_metric
    outcomes: list[Outcome] = []
    extraction_rows = []
    for label in recipe.extractors:
        cells = [c for c in plan.cells if c.extractor == label]
        missing_folds = sorted({c.fold for c in cells if c.cached is None})
        features = None
        if missing_folds:
            say(f"{label}: extracting features of {len(plan.views[label])} images")
            try:
                features = extract(plan, label, missing_folds)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:
                error = f"extractor {label!r} failed: {type(exc).__name__}: {exc}"
                log.warning("%s", error)
                say(error)
                outcomes += [
                    Outcome(c, c.cached, "" if c.cached else error, c.cached is not None)
                    for c in cells
                ]
                extraction_rows.append({"extractor": label, "error": error})
                continue
            extraction_rows.append(features.row)
            if 0 in missing_folds and recipe.extractors[label].__sklearn_tags__().requires_fit:
                plan.fold_features[label] = features.per_fold[0]
            row = features.row
            say(
                f"{label}: {row['n_features']} features, "
                + (
                    "from the cache"
                    if row["cached"]
                    else f"{row['n_images']} images, {row['images_per_second']:.0f} images/s"
                )
            )
        else:
            extraction_rows.append({"extractor": label, "cached": True, "n_images": 0})
            say(f"{label}: every cell cached")
        with PhaseProgress(f"heads on {label}", len(cells), say=say) as progress:
            done = list(evaluate(plan, cells, features, progress))
        outcomes += done
        by_head: dict[str, list[float]] = {}
        for o in done:
            if o.result is not None:
                by_head.setdefault(o.cell.head, []).append(o.result.metrics[primary])
        for head_label in recipe.heads:
            scores = by_head.get(head_label, [])
            failed = sum(o.result is None and o.cell.head == head_label for o in done)
            text = f"  {label} + {head_label}: "
            if scores:
                spread = np.std(scores, ddof=1) if len(scores) > 1 else 0.0
                text += f"{primary} {np.mean(scores):.4f} ± {spread:.4f}"
            if failed:
                text += f" ({failed} failed)"
            say(text)
    position = {id(c): i for i, c in enumerate(plan.cells)}
    outcomes.sort(key=lambda o: position[id(o.cell)])
    return outcomes, extraction_rows


def closing_table(result: RunResult, primary: str) -> str:
    """The main table (extractors x heads, primary metric mean ± std) and the headline."""
    if result.sweep is not None:
        from transfer.recipes.sweep import closing_lines

        return "\n".join(
            [*closing_lines(result, primary), f"elapsed {format_seconds(result.seconds)}"]
        )
    s = result.summary
    mean, std = f"{primary}_mean", f"{primary}_std"
    if mean not in s or s.empty:
        return "no results"
    from transfer.report.tables import format_mean_std  # the report's one formatter

    cells = s.assign(
        cell=[
            "failed" if pd.isna(m) else format_mean_std(m, 0.0 if pd.isna(d) else d)
            for m, d in zip(s[mean], s[std] if std in s else [0.0] * len(s), strict=True)
        ]
    )
    table = cells.pivot(index="extractor", columns="head", values="cell")
    table = table.reindex(index=list(dict.fromkeys(s["extractor"])))
    table = table.reindex(columns=list(dict.fromkeys(s["head"]))).fillna("")
    best = s.loc[s[mean].idxmax()] if s[mean].notna().any() else None
    lines = [f"{primary} (mean ± std over folds):", table.to_string()]
    if best is not None:
        lines.append(f"best: {best['extractor']} + {best['head']}: {primary} {best[mean]:.4f}")
    lines.append(
        f"elapsed {format_seconds(result.seconds)}"
        + (f"; {result.n_cached} cells from the cache" if result.n_cached else "")
    )
    return "\n".join(lines)
