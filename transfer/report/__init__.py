"""Reports from a results folder: summary tables, a Markdown file and one HTML page.

``build_report(results_dir)`` needs nothing but the folder written by the
runner (``transfer run``)::

    results_dir/
        meta.json         required: name, protocol, dataset, extractors, heads,
                          environment, provenance (command, version, ...)
        results.csv       required: extractor, head, fold, <metrics>, timings,
                          status ("ok" / "failed") and error
        recipe.yaml       optional: the resolved recipe, shown verbatim
        extraction.csv    optional: feature extraction timings
        predictions.csv   optional: per-image predictions (confusion matrix)
        cmc.csv           optional: CMC curves per fold
        roc.csv           optional: ROC curves per fold
        scores.csv        optional: per-pair scores and thresholds
        samples.png       optional: a strip of sample images after the transforms
        samples/          optional: sample images (PNG/JPEG) after the transforms

Extractors are grouped by kind (learned / handcrafted: the ``kind`` tag in
``meta["extractors"][label]["tags"]``, else asked of the registered class);
the overview's headline compares the best learned cell with the best
handcrafted one with a paired test (:mod:`transfer.report.stats`), and every
cell within noise of the best is marked.

What the page shows is assembled from the sections registered in
:mod:`transfer.report.sections`: the generic ones always, the protocol's own
(``meta["protocol"]["sections"]``, e.g. ``["roc", "scores"]``) on request;
nothing here knows a protocol or a head by name. ``build_report`` writes, next
to the inputs, ``summary.csv``, ``summary.json``, ``report.md``
and ``report.html`` (each atomically: a temporary file in the same folder,
then :func:`os.replace`). The page is self-contained: the plots are inline
PNG data URIs and there are no external styles, scripts or fonts.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from transfer._io import atomic_write_text
from transfer.report.sections import Section, register_section, unregister_section
from transfer.report.stats import (
    Comparison,
    compare_cells,
    fold_scores,
    item_outcomes,
    within_noise,
)
from transfer.report.tables import (
    KINDS,
    STATUSES,
    best_pair,
    binary_code_table,
    cmc_mean,
    confusion_matrix,
    failed_cells,
    higher_is_better,
    pivot,
    roc_mean,
    summarize,
)

__all__ = [
    "Report",
    "ResultsFolder",
    "Section",
    "best_pair",
    "binary_code_table",
    "build_report",
    "cmc_mean",
    "confusion_matrix",
    "failed_cells",
    "load_results",
    "pivot",
    "register_section",
    "roc_mean",
    "summarize",
    "unregister_section",
]

#: Columns of results.csv that are not metrics.
NON_METRIC_COLUMNS = frozenset(
    {
        "extractor",
        "head",
        "fold",
        "n_train",
        "n_test",
        "fit_seconds",
        "predict_seconds",
        "status",
        "error",
    }
)

_PAIR_DTYPES = {"extractor": str, "head": str, "status": str, "error": str}


@dataclass
class ResultsFolder:
    """The files of one results folder, as read from disk.

    Attributes
    ----------
    path : Path
        The folder.
    meta : dict
        ``meta.json``.
    results : DataFrame
        ``results.csv``.
    extraction, predictions, cmc, roc, scores : DataFrame or None
        The optional CSV files (None when absent): ``extraction.csv``,
        ``predictions.csv``, ``cmc.csv``, ``roc.csv`` and ``scores.csv``.
    recipe_text : str or None
        ``recipe.yaml`` verbatim (None when absent).
    """

    path: Path
    meta: dict
    results: pd.DataFrame
    extraction: pd.DataFrame | None = None
    predictions: pd.DataFrame | None = None
    cmc: pd.DataFrame | None = None
    roc: pd.DataFrame | None = None
    scores: pd.DataFrame | None = None
    recipe_text: str | None = None

    @property
    def recipe(self) -> dict:
        """The resolved recipe: ``meta["recipe"]``, else ``recipe.yaml`` parsed.

        Empty dict when neither is there or the YAML does not parse to a mapping.
        """
        recipe = self.meta.get("recipe")
        if isinstance(recipe, dict):
            return recipe
        if not self.recipe_text:
            return {}
        import yaml

        try:
            parsed = yaml.safe_load(self.recipe_text)
        except yaml.YAMLError:
            return {}
        return parsed if isinstance(parsed, dict) else {}

    @property
    def heads(self) -> dict[str, dict]:
        """``meta["heads"]``: label -> ``{"name", "params", "tags"}`` (empty when absent)."""
        heads = self.meta.get("heads")
        return dict(heads) if isinstance(heads, dict) else {}

    @property
    def extractors(self) -> dict[str, dict]:
        """``meta["extractors"]``: label -> ``{"name", "params", "tags"}`` (empty when absent)."""
        extractors = self.meta.get("extractors")
        return dict(extractors) if isinstance(extractors, dict) else {}

    @property
    def kinds(self) -> dict[str, str | None]:
        """Extractor label -> ``"learned"``, ``"handcrafted"`` or None (unknown).

        From the ``kind`` tag meta.json records for each extractor; for
        folders written before tags were recorded, asked of the extractor
        built from the registry with the recorded parameters (construction
        loads nothing). Labels of results.csv missing from meta.json are
        looked up by name in the registry too.
        """
        out: dict[str, str | None] = {}
        labels = list(dict.fromkeys([*self.extractors, *self.results["extractor"].astype(str)]))
        for label in labels:
            entry = self.extractors.get(label)
            entry = entry if isinstance(entry, dict) else {}
            kind = (entry.get("tags") or {}).get("kind")
            if kind is None:
                kind = _kind_from_registry(str(entry.get("name") or label), entry.get("params"))
            out[label] = str(kind) if kind else None
        return out

    @property
    def sections(self) -> list[str]:
        """The report sections the protocol asks for.

        ``protocol.sections`` when meta.json has it, else inferred from the
        curve files present (see :func:`transfer.report.sections.requested_sections`).
        """
        from transfer.report.sections import requested_sections

        return requested_sections(self.meta, self.path)

    @property
    def results_dir(self) -> str:
        """The folder's name for the page: ``meta["results_dir"]``, else the folder name.

        The runner builds the report in a temporary folder and moves it into
        place afterwards, so the folder being read may not carry the final name.
        """
        return str(self.meta.get("results_dir") or self.path.name)

    @property
    def protocol(self) -> dict:
        """``meta["protocol"]`` (empty dict when absent)."""
        return self.meta.get("protocol") or {}

    @property
    def metrics(self) -> list[str]:
        """The metric columns: ``protocol.metrics``, else inferred from results.csv."""
        declared = self.protocol.get("metrics")
        if declared:
            return [str(m) for m in declared]
        return [c for c in self.results.columns if c not in NON_METRIC_COLUMNS]

    @property
    def primary_metric(self) -> str:
        """``protocol.primary_metric``, else the first metric."""
        return str(self.protocol.get("primary_metric") or self.metrics[0])

    @property
    def class_names(self) -> list[str]:
        """``dataset.class_names`` (may be empty)."""
        return [str(c) for c in ((self.meta.get("dataset") or {}).get("class_names") or [])]


def _kind_from_registry(name: str, params: object) -> str | None:
    """The ``kind`` tag of the extractor registered as ``name`` (None if unknown)."""
    from transfer._tags import component_tags
    from transfer.registry import EXTRACTORS, load_components

    try:
        load_components()
        factory = EXTRACTORS.get(name)
    except (KeyError, ValueError, ImportError):
        return None
    try:  # __init__ only stores its arguments, so this loads nothing
        component = factory(**(params if isinstance(params, dict) else {}))
    except (TypeError, ValueError):
        try:
            component = factory()
        except (TypeError, ValueError):
            return None
    kind = component_tags(component).get("kind")
    return str(kind) if kind else None


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=_PAIR_DTYPES, keep_default_na=True)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty") from None


def load_results(results_dir: str | os.PathLike) -> ResultsFolder:
    """Read a results folder.

    Parameters
    ----------
    results_dir : str or path-like
        The folder written by the runner.

    Returns
    -------
    ResultsFolder

    Raises
    ------
    FileNotFoundError
        Naming the folder or the missing ``meta.json`` / ``results.csv``.
    ValueError
        If ``results.csv`` lacks a declared metric column or is empty.
    """
    path = Path(results_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"results folder {str(path)!r} does not exist")
    for name in ("meta.json", "results.csv"):
        if not (path / name).is_file():
            raise FileNotFoundError(
                f"{name} is missing from {str(path)!r}; a results folder written by "
                "`transfer run` has meta.json and results.csv"
            )
    try:
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path / 'meta.json'} is not valid JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path / 'meta.json'} must hold a JSON object")
    results = _read_csv(path / "results.csv")
    if results.empty:
        raise ValueError(f"{path / 'results.csv'} has no rows")

    def optional(name: str) -> pd.DataFrame | None:
        p = path / name
        return _read_csv(p) if p.is_file() else None

    recipe = path / "recipe.yaml"
    if "status" in results.columns:
        status = results["status"].fillna("ok").astype(str).str.strip().str.lower()
        bad = sorted(set(status) - set(STATUSES))
        if bad:
            raise ValueError(
                f"{path / 'results.csv'}: column 'status' has the value(s) {bad}; "
                f"expected one of {list(STATUSES)}"
            )
    folder = ResultsFolder(
        path=path,
        meta=meta,
        results=results,
        extraction=optional("extraction.csv"),
        predictions=optional("predictions.csv"),
        cmc=optional("cmc.csv"),
        roc=optional("roc.csv"),
        scores=optional("scores.csv"),
        recipe_text=recipe.read_text(encoding="utf-8") if recipe.is_file() else None,
    )
    metrics = folder.metrics
    if not metrics:
        raise ValueError(f"{path / 'results.csv'} has no metric column")
    missing = [m for m in metrics if m not in results.columns]
    if missing:
        raise ValueError(
            f"{path / 'results.csv'} lacks the metric column(s) {missing} declared in meta.json"
        )
    if folder.primary_metric not in metrics:
        raise ValueError(
            f"primary_metric {folder.primary_metric!r} is not one of the metrics {metrics}"
        )
    from transfer.report.sections import requested_sections

    try:  # validate protocol.sections now, with the file's path in the message
        requested_sections(meta)
    except ValueError as exc:
        raise ValueError(f"{path / 'meta.json'}: {exc}") from None
    return folder


@dataclass
class Report:
    """Everything the renderers show, computed once from a :class:`ResultsFolder`.

    Attributes
    ----------
    folder : ResultsFolder
        The inputs.
    summary : DataFrame
        :func:`summarize` output, best pair first.
    metrics : list of str
        Metric names, primary first.
    primary : str
        The primary metric.
    best : tuple of (str, str) or None
        The best pair by mean primary metric.
    confusion : ndarray or None
        Confusion matrix of the best pair, summed over folds.
    cmc : DataFrame or None
        :func:`cmc_mean` output.
    roc : DataFrame or None
        :func:`roc_mean` output (verification).
    binary_codes : DataFrame or None
        :func:`binary_code_table` of the primary metric when some head's
        tags say it works on binary codes, else None.
    failed : DataFrame
        :func:`failed_cells`: extractor, head, fold and error of each failed
        cell (no rows when every cell ran).
    with_figures : bool
        Whether the sections draw their plots (the HTML page needs them; the
        tables do not).
    figures : dict
        Plot name -> PNG data URI, filled by the sections that draw plots.
    notes : dict
        Plot name -> caption note (e.g. which CMC curves were left out).
    rendered : list or None
        The rendered sections, cached by
        :func:`transfer.report.sections.render_sections`.
    kinds : dict
        Extractor label -> ``"learned"``, ``"handcrafted"`` or None.
    fold_scores : DataFrame or None
        :func:`transfer.report.stats.fold_scores` of the primary metric.
    items : DataFrame or None
        :func:`transfer.report.stats.item_outcomes` of the per-item file.
    headline : Comparison or None
        The best learned cell against the best handcrafted cell (None unless
        the run has cells of both kinds).
    noise : dict
        The cells within noise of the best (see
        :func:`transfer.report.stats.within_noise`) -> their comparison
        with the best (None for the best itself).
    """

    folder: ResultsFolder
    summary: pd.DataFrame
    metrics: list[str]
    primary: str
    best: tuple[str, str] | None
    confusion: np.ndarray | None = None
    cmc: pd.DataFrame | None = None
    roc: pd.DataFrame | None = None
    binary_codes: pd.DataFrame | None = None
    failed: pd.DataFrame = field(default_factory=pd.DataFrame)
    with_figures: bool = False
    figures: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    rendered: list | None = field(default=None, repr=False)
    kinds: dict[str, str | None] = field(default_factory=dict)
    fold_scores: pd.DataFrame | None = None
    items: pd.DataFrame | None = None
    headline: Comparison | None = None
    noise: dict[tuple[str, str], Comparison | None] = field(default_factory=dict)

    @property
    def meta(self) -> dict:
        """The run's ``meta.json``."""
        return self.folder.meta

    @property
    def sections(self) -> list[str]:
        """The report sections the protocol asks for (see :attr:`ResultsFolder.sections`)."""
        return self.folder.sections

    @property
    def results_dir(self) -> str:
        """The results folder's final name (see :attr:`ResultsFolder.results_dir`)."""
        return self.folder.results_dir

    @property
    def n_folds(self) -> int:
        """The largest number of folds a pair ran (0 for an empty summary)."""
        if len(self.summary):
            return int(self.summary["n_folds"].max())
        return 0

    @property
    def best_row(self) -> pd.Series | None:
        """The summary row of the best pair."""
        if self.best is None:
            return None
        s = self.summary
        hit = s[(s["extractor"] == self.best[0]) & (s["head"] == self.best[1])]
        return hit.iloc[0] if len(hit) else None

    @property
    def n_classes(self) -> int:
        """Number of classes: from meta, widened to fit the predictions."""
        dataset = self.meta.get("dataset") or {}
        n = int(dataset.get("n_classes") or len(self.folder.class_names) or 0)
        pred = self.folder.predictions
        if pred is not None and len(pred) and {"y_true", "y_pred"} <= set(pred.columns):
            n = max(n, int(pred[["y_true", "y_pred"]].to_numpy().max()) + 1)
        return n


def _prepare(folder: ResultsFolder, with_figures: bool) -> Report:
    metrics = folder.metrics
    primary = folder.primary_metric
    metrics = [primary] + [m for m in metrics if m != primary]
    results = folder.results
    higher = higher_is_better(primary)
    summary = summarize(results, metrics, primary=primary, higher_is_better=higher)
    try:
        best = best_pair(summary, primary, higher_is_better=higher)
    except ValueError:
        best = None
    kinds = folder.kinds
    report = Report(
        folder=folder,
        summary=summary,
        metrics=metrics,
        primary=primary,
        best=best,
        failed=failed_cells(results),
        with_figures=with_figures,
        kinds=kinds,
        fold_scores=fold_scores(results, primary),
    )
    item_file = str(folder.protocol.get("item_file") or "")
    per_item = folder.scores if item_file == "scores.csv" else folder.predictions
    report.items = item_outcomes(per_item if per_item is not None else folder.scores)
    if best is not None:
        report.noise = within_noise(summary, primary, best, report.fold_scores, report.items)
    report.headline = _headline(report)
    summary["kind"] = [kinds.get(str(e)) or "" for e in summary["extractor"]]
    summary["within_noise"] = [
        (str(e), str(h)) in report.noise
        for e, h in zip(summary["extractor"], summary["head"], strict=True)
    ]

    pred = folder.predictions
    if (
        best is not None
        and pred is not None
        and len(pred)
        and {"extractor", "head", "y_true", "y_pred"} <= set(pred.columns)
    ):
        has_best = ((pred["extractor"] == best[0]) & (pred["head"] == best[1])).any()
        if has_best:
            report.confusion = confusion_matrix(pred, best[0], best[1], report.n_classes)
    if folder.cmc is not None and len(folder.cmc):
        report.cmc = cmc_mean(folder.cmc)
    if folder.roc is not None and len(folder.roc):
        report.roc = roc_mean(folder.roc)
    codes = binary_code_table(summary, folder.heads, primary)
    if codes.shape[1]:
        report.binary_codes = codes
    return report


def _headline(report: Report) -> Comparison | None:
    """The best learned cell against the best handcrafted one (None without both kinds)."""
    best: dict[str, tuple[str, str]] = {}
    # summary is sorted best first, so the first cell of each kind is its best
    for ext, head, mean in zip(
        report.summary["extractor"],
        report.summary["head"],
        report.summary[f"{report.primary}_mean"],
        strict=True,
    ):
        kind = report.kinds.get(str(ext))
        if kind in KINDS and kind not in best and not pd.isna(mean):
            best[kind] = (str(ext), str(head))
    if len(best) < len(KINDS):
        return None
    learned, handcrafted = (best[k] for k in KINDS)
    return compare_cells(learned, handcrafted, report.fold_scores, report.items)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def summary_json(report: Report) -> dict:
    """The content of ``summary.json``: metrics, best pair, summary rows and meta.

    Parameters
    ----------
    report : Report
        A prepared report.

    Returns
    -------
    dict
        JSON-ready (NaN becomes None): ``name``, ``primary_metric``,
        ``metrics``, ``best``, ``learned_vs_handcrafted`` (the headline:
        both cells, ``delta`` = learned - handcrafted in metric units, the
        test, ``p``, ``n``), ``within_noise`` (the cells marked, with their
        p-value against the best), ``sections`` (those the protocol asked for),
        ``failed`` (the failed cells), ``summary`` and ``meta``.
    """
    best = None
    row = report.best_row
    if row is not None:
        best = {
            "extractor": row["extractor"],
            "head": row["head"],
            "metric": report.primary,
            "mean": row[f"{report.primary}_mean"],
            "std": row[f"{report.primary}_std"],
            "n_folds": row["n_folds"],
        }
    headline = None
    comp = report.headline
    if comp is not None:
        headline = {
            "learned": {"extractor": comp.a[0], "head": comp.a[1], "mean": comp.mean_a},
            "handcrafted": {"extractor": comp.b[0], "head": comp.b[1], "mean": comp.mean_b},
            "metric": report.primary,
            "delta": comp.delta,
            "test": comp.test.name if comp.test else None,
            "p": comp.test.p if comp.test else None,
            "n": comp.test.n if comp.test else None,
            "over": comp.test.over if comp.test else None,
            "no_test_reason": comp.reason or None,
        }
    return _jsonable(
        {
            "name": report.meta.get("name"),
            "primary_metric": report.primary,
            "metrics": report.metrics,
            "best": best,
            "learned_vs_handcrafted": headline,
            "within_noise": [
                {
                    "extractor": cell[0],
                    "head": cell[1],
                    "p": c.test.p if c is not None and c.test is not None else None,
                }
                for cell, c in report.noise.items()
            ],
            "sections": report.sections,
            "failed": report.failed.to_dict(orient="records"),
            "summary": report.summary.to_dict(orient="records"),
            "meta": report.meta,
        }
    )


def build_report(results_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``summary.csv``, ``summary.json``, ``report.md`` and ``report.html``.

    Parameters
    ----------
    results_dir : str or path-like
        A results folder written by the runner; see the module docstring.

    Returns
    -------
    dict of str to Path
        Keys ``"summary_csv"``, ``"summary_json"``, ``"markdown"``, ``"html"``;
        for a sweep's folder (``sweep.json``), those of
        :func:`transfer.recipes.sweep_report.build_sweep_report`, after each
        point's own report is rebuilt.

    Raises
    ------
    FileNotFoundError
        If the folder, ``meta.json`` or ``results.csv`` is missing (the message
        names the file).
    ValueError
        If a file is malformed (missing columns, duplicated folds, ...).
    """
    from transfer.report.html import render_html
    from transfer.report.markdown import render_markdown

    if (Path(results_dir) / "sweep.json").is_file():
        # a sweep's folder: every point's own report, then the curve page
        from transfer.recipes.sweep_report import build_sweep_report, point_folders

        for point in point_folders(results_dir):
            build_report(point)
        return build_sweep_report(results_dir)
    folder = load_results(results_dir)
    report = _prepare(folder, with_figures=True)
    path = folder.path
    out = {
        "summary_csv": path / "summary.csv",
        "summary_json": path / "summary.json",
        "markdown": path / "report.md",
        "html": path / "report.html",
    }
    atomic_write_text(out["summary_csv"], report.summary.to_csv(index=False, lineterminator="\n"))
    atomic_write_text(
        out["summary_json"],
        json.dumps(summary_json(report), indent=2, allow_nan=False, ensure_ascii=False) + "\n",
    )
    atomic_write_text(out["markdown"], render_markdown(report))
    atomic_write_text(out["html"], render_html(report))
    return out
