"""Analyses as recipe components: the ``analyses:`` section and ``transfer analyze``.

An analysis is a scikit-learn-style object (parameters stored by
``__init__``, read with ``get_params``) registered by name in
:data:`transfer._registry.ANALYSES`, like extractors and heads. A recipe
lists them::

    analyses:
      - sparsity
      - {name: occlusion, params: {n_images: 200, extractors: [hog, facenet]}}

and the runner, after the heads, calls :meth:`Analysis.run` once per
extractor with an :class:`AnalysisContext` (the data, the first fold's
train/test split, the cached features, a fitted extractor for new images).
What it returns (:class:`AnalysisOutput`: tables and image grids) is written
under ``analyses/<label>/`` of the results folder, listed in ``meta.json``
(``analyses``, with the report sections it feeds) and cached like the cells,
so a second run reads it back. Each analysis module registers its own
report section (:func:`transfer.report.sections.register_section`) that reads
those files: adding an analysis touches its module, one registry line
(``@register_analysis``) and its test.

Everything is checked before any work: unknown extractor labels with
:meth:`Analysis.check_recipe` when the recipe is read, what the data must
have (attributes, identities, pairs) with :meth:`Analysis.check_plan` when
the run is planned.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from transfer._registry import did_you_mean

if TYPE_CHECKING:
    from transfer.recipes.runner import Plan
    from transfer.report import Report

__all__ = [
    "ANALYSIS_FORMAT",
    "Analysis",
    "AnalysisContext",
    "AnalysisOutput",
    "analysis_entries",
    "run_analyses",
]

log = logging.getLogger("transfer")

#: Version of the cached analysis outputs; bump when their layout changes.
ANALYSIS_FORMAT = 1


@dataclass
class AnalysisOutput:
    """What one analysis gives for one extractor.

    Attributes
    ----------
    tables : dict of str to DataFrame
        By file stem (``"summary"`` is written as ``summary.csv``); the
        runner adds an ``extractor`` column first and concatenates the
        extractors.
    images : dict of str to ndarray
        Image grids with values in [0, 1] (``(H, W)`` or ``(H, W, 3)``), by
        stem; written as ``<extractor>_<stem>.png``.
    notes : list of str
        One-line remarks for the report (why something was left out).
    """

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    images: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class AnalysisContext:
    """What an analysis may use, computed on demand and shared between analyses.

    Parameters
    ----------
    plan : Plan
        The checked run (:func:`transfer.recipes.runner.plan_run`).

    Attributes
    ----------
    data : ImageSet
        The protocol's images.
    train, test : ndarray of bool
        The first fold's training and test images (every analysis that
        chooses something, a unit or a threshold, chooses it on ``train``).
    attributes : ndarray of shape (n_images, n_attributes) or None
        0/1 attribute labels when the dataset has them.
    attribute_names : list of str or None
    identities : ndarray or None
        Identity labels when the dataset has them, else the class labels of
        a dataset with several classes, else None.
    pairs : tuple (train_pairs, train_same, test_pairs, test_same) or None
        The first fold's verification pairs (image indices) for pair
        protocols.
    seed : int
        The recipe's seed.
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.data = plan.data
        fold = plan.folds[0]
        n = len(plan.data)
        self.train = np.zeros(n, dtype=bool)
        self.test = np.zeros(n, dtype=bool)
        self.train[fold.train], self.test[fold.test] = True, True
        data = plan.data
        self.attributes = None if data.attributes is None else np.asarray(data.attributes)
        self.attribute_names = (
            None if data.attribute_names is None else [str(a) for a in data.attribute_names]
        )
        if data.identities is not None:
            self.identities = data.identity_array()
        elif data.n_classes > 1 and self.attributes is None:
            self.identities = np.asarray(data.labels)
        else:
            self.identities = None
        self.pairs = None
        if hasattr(fold, "train_pairs"):
            self.pairs = (fold.train_pairs, fold.train_same, fold.test_pairs, fold.test_same)
        self.seed = int(plan.recipe.config["seed"])
        self._features: dict[str, np.ndarray] = {}
        self._fitted: dict[str, Any] = {}

    def features(self, label: str) -> np.ndarray:
        """Extractor ``label``'s features of every image for the first fold (float64).

        From the feature cache when the run computed them; a learning
        extractor is fitted on the first fold's training images.
        """
        if label not in self._features:
            from transfer.recipes.runner import extract

            got = self.fold_features.get(label)
            if got is None:
                got = extract(self.plan, label, [0]).per_fold[0]
            self._features[label] = np.asarray(got, dtype=np.float64)
        return self._features[label]

    @property
    def fold_features(self) -> dict[str, np.ndarray]:
        """First-fold features the run computed for extractors that learn per fold."""
        return self.plan.fold_features

    def extractor(self, label: str) -> Any:
        """Extractor ``label``, fitted as in the first fold, for new images (occlusion)."""
        if label not in self._fitted:
            ext = clone(self.plan.recipe.extractors[label])
            view = self.view(label)
            if ext.__sklearn_tags__().requires_fit:
                train = np.flatnonzero(self.train)
                ext.fit(view.subset(train), self.plan.targets[train])
            else:
                ext.fit(view.subset([0]))
            self._fitted[label] = ext
        return self._fitted[label]

    def view(self, label: str) -> Any:
        """The images as extractor ``label`` sees them (its transforms applied)."""
        return self.plan.views[label]

    def images(self, label: str, indices: Any) -> np.ndarray:
        """Decoded images ``indices`` as extractor ``label`` sees them."""
        return self.view(label).load(np.asarray(indices, dtype=int))


class Analysis(BaseEstimator):
    """Base class of the analyses of :mod:`transfer.analysis`.

    Subclasses take their parameters in ``__init__`` (stored as given, one
    of them ``extractors``: the labels to analyse, None for all), list the
    report sections they feed in :attr:`sections`, and implement
    :meth:`run`; they may refine :meth:`check_recipe` and :meth:`check_plan`.
    """

    #: report sections (registered by the analysis's module) that show its files
    sections: ClassVar[tuple[str, ...]] = ()
    #: bump when a change alters the output of the same parameters (cache key)
    _cache_version: ClassVar[int] = 1

    def targets(self, labels: list[str]) -> list[str]:
        """The extractor labels this analysis runs on, in recipe order."""
        chosen = getattr(self, "extractors", None)
        if chosen is None:
            return list(labels)
        return [label for label in labels if label in set(chosen)]

    def check_recipe(self, labels: list[str], protocol: Any) -> None:
        """Check the parameters against the recipe (unknown extractor labels).

        Raises
        ------
        ValueError
            Naming the parameter and the value.
        """
        chosen = getattr(self, "extractors", None)
        if chosen is None:
            return
        if isinstance(chosen, str) or not all(isinstance(c, str) for c in chosen):
            raise ValueError(f"'extractors' must be a list of extractor labels, got {chosen!r}")
        for name in chosen:
            if name not in labels:
                raise ValueError(
                    f"'extractors' names {name!r}, which is not an extractor of the recipe."
                    f"{did_you_mean(name, labels)} Extractors: {', '.join(labels)}"
                )

    def check_plan(self, context: AnalysisContext) -> None:
        """Check that the data has what the analysis needs (attributes, identities).

        Raises
        ------
        ValueError
            Saying what is missing.
        """

    def run(self, context: AnalysisContext, label: str) -> AnalysisOutput:  # pragma: no cover
        """Analyse extractor ``label``."""
        raise NotImplementedError(f"{type(self).__name__} must define run()")


# -- the engine -------------------------------------------------------------------


def _cache_key(plan: Plan, analysis: Analysis, name: str, label: str) -> str:
    from transfer.features.base import array_digest, stable_hash

    protocol = plan.recipe.protocol
    return stable_hash(
        {
            "format": ANALYSIS_FORMAT,
            "analysis": name,
            "version": analysis._cache_version,
            "params": analysis.get_params(deep=False),
            "features": plan.feature_keys[label],
            "fold": protocol.fold_definition(plan.folds[0]),
            "targets": array_digest(plan.targets),
            "seed": plan.recipe.config["seed"],
        }
    )


class _OutputCache:
    """Analysis outputs on disk: one folder per key (CSV tables, ``.npy`` grids)."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    def load(self, key: str) -> AnalysisOutput | None:
        if self.directory is None:
            return None
        folder = self.directory / key[:2] / key
        record_path = folder / "record.json"
        if not record_path.is_file():
            return None
        try:
            record = json.loads(record_path.read_text())
            tables = {s: pd.read_csv(folder / f"{s}.csv") for s in record["tables"]}
            images = {s: np.load(folder / f"{s}.npy", allow_pickle=False) for s in record["images"]}
        except (OSError, ValueError, KeyError, pd.errors.ParserError) as exc:
            log.warning("analysis cache entry %s is damaged (%s); recomputing it", folder, exc)
            return None
        return AnalysisOutput(tables, images, list(record.get("notes", [])))

    def save(self, key: str, output: AnalysisOutput) -> None:
        if self.directory is None:
            return
        parent = self.directory / key[:2]
        try:
            parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=parent))
            for stem, frame in output.tables.items():
                frame.to_csv(tmp / f"{stem}.csv", index=False)
            for stem, grid in output.images.items():
                np.save(tmp / f"{stem}.npy", np.asarray(grid), allow_pickle=False)
            record = {
                "tables": sorted(output.tables),
                "images": sorted(output.images),
                "notes": output.notes,
            }
            (tmp / "record.json").write_text(json.dumps(record))
            final = parent / key
            if final.exists():
                shutil.rmtree(final)  # our own entry, by key
            os.replace(tmp, final)
        except OSError as exc:
            log.warning("cannot write the analysis cache in %s (%s)", self.directory, exc)


def _save_png(path: Path, grid: np.ndarray) -> None:
    from PIL import Image

    arr = np.clip(np.asarray(grid, dtype=np.float64), 0.0, 1.0)
    Image.fromarray(np.round(arr * 255).astype(np.uint8)).save(path)


def run_analyses(
    plan: Plan, folder: Path, say: Callable[[str], object] | None = None
) -> list[dict[str, Any]]:
    """Run the recipe's analyses and write their files under ``folder / "analyses"``.

    Parameters
    ----------
    plan : Plan
        The checked run.
    folder : Path
        The results folder being written (the runner's staging folder).
    say : callable, optional
        Progress printer.

    Returns
    -------
    list of dict
        One entry per analysis for ``meta.json``: ``label``, ``name``,
        ``params``, ``sections``, ``folder`` (relative), ``tables`` and
        ``images`` (file names), ``notes``, ``failed`` (extractor -> error)
        and ``seconds``. An analysis that fails on one extractor is recorded
        there and the others go on, as failed cells do.
    """
    from transfer._progress import PhaseProgress

    say = say or (lambda _msg: None)
    recipe = plan.recipe
    if not recipe.analyses:
        return []
    context = AnalysisContext(plan)
    root = None
    if plan.cell_cache is not None:
        root = plan.cell_cache.directory.parent / "analyses"
    cache = _OutputCache(root)
    names = {c["label"]: c["name"] for c in recipe.config["analyses"]}
    entries = []
    for label, analysis in recipe.analyses.items():
        t0 = time.perf_counter()
        targets = analysis.targets(list(recipe.extractors))
        out_dir = folder / "analyses" / label
        out_dir.mkdir(parents=True, exist_ok=True)
        tables: dict[str, list[pd.DataFrame]] = {}
        images, notes, failed = [], [], {}
        with PhaseProgress(f"analysis {label}", len(targets), unit="extractors", say=say) as bar:
            for ext in targets:
                key = _cache_key(plan, analysis, names[label], ext)
                output = cache.load(key)
                if output is None:
                    try:
                        output = analysis.run(context, ext)
                    except (KeyboardInterrupt, SystemExit):
                        raise
                    except Exception as exc:
                        failed[ext] = f"{type(exc).__name__}: {exc}"
                        log.warning("analysis %r on %r failed: %s", label, ext, failed[ext])
                        say(f"analysis {label} on {ext} failed: {failed[ext]}")
                        bar.advance()
                        continue
                    cache.save(key, output)
                for stem, frame in output.tables.items():
                    frame = frame.copy()
                    frame.insert(0, "extractor", ext)
                    tables.setdefault(stem, []).append(frame)
                for stem, grid in output.images.items():
                    name = f"{ext}_{stem}.png"
                    _save_png(out_dir / name, grid)
                    images.append(name)
                notes += [f"{ext}: {note}" for note in output.notes]
                bar.advance()
        for stem, frames in tables.items():
            pd.concat(frames, ignore_index=True).to_csv(out_dir / f"{stem}.csv", index=False)
        entries.append(
            {
                "label": label,
                "name": names[label],
                "params": analysis.get_params(deep=False),
                "sections": list(analysis.sections),
                "folder": f"analyses/{label}",
                "tables": sorted(f"{stem}.csv" for stem in tables),
                "images": images,
                "notes": notes,
                "failed": failed,
                "seconds": round(time.perf_counter() - t0, 3),
            }
        )
    return entries


def analysis_entries(report: Report, name: str) -> list[tuple[dict, Path]]:
    """The ``meta.json`` entries of the analyses registered as ``name``, with their folders.

    For report sections: each reads its own analysis's files from the folder.
    """
    out = []
    for entry in report.meta.get("analyses") or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            out.append((entry, report.folder.path / str(entry.get("folder", ""))))
    return out


def png_data_uri(path: Path) -> str | None:
    """A PNG file of the results folder as a data URI (None when it is missing)."""
    import base64

    if not path.is_file():
        return None
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def figure_uri(report: Report, draw: Callable[[], Any]) -> str | None:
    """``draw()``'s figure as a data URI when the report draws figures, else None."""
    if not report.with_figures:
        return None
    from transfer.report.plots import figure_to_data_uri

    return figure_to_data_uri(draw())


def analysis_section(
    report: Report,
    name: str,
    body: Callable[[Report, dict, Path], tuple[str, str]],
) -> Any:
    """The report section of every analysis registered as ``name`` in the run.

    ``body(report, entry, folder) -> (html, markdown)`` renders one analysis
    (its ``meta.json`` entry and its folder); this adds a sub-heading per
    analysis when there are several, and the notes and failures of each.
    Returns None when the run has no such analysis.
    """
    from transfer.report.html import escape
    from transfer.report.sections import Section

    entries = analysis_entries(report, name)
    if not entries:
        return None
    html, md = [], []
    for entry, folder in entries:
        label = str(entry.get("label", name))
        if len(entries) > 1:
            html.append(f"<h3>{escape(label)}</h3>")
            md += [f"### {label}", ""]
        h, m = body(report, entry, folder)
        html.append(h)
        md += [m, ""]
        remarks = list(entry.get("notes") or [])
        remarks += [f"{ext}: failed: {err}" for ext, err in (entry.get("failed") or {}).items()]
        if remarks:
            html.append(
                '<ul class="note">' + "".join(f"<li>{escape(r)}</li>" for r in remarks) + "</ul>"
            )
            md += [f"- {r}" for r in remarks] + [""]
        files = [*entry.get("tables", []), *entry.get("images", [])]
        if files:
            where = f"{entry.get('folder')}/"
            html.append(f'<p class="muted">Files: {escape(where)} {escape(", ".join(files))}</p>')
    return Section(html="".join(html), markdown="\n".join(md).strip())


def read_table(folder: Path, stem: str) -> pd.DataFrame | None:
    """``folder/stem.csv`` or None when the analysis wrote no such table."""
    path = folder / f"{stem}.csv"
    return pd.read_csv(path) if path.is_file() else None
