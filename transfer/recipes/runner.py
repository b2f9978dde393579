"""The runner: every extractor x head of a recipe under its protocol.

Features of a stateless extractor are computed once for the whole dataset
(or read from the cache) and reused across heads and folds; an extractor
that learns (``requires_fit``) is fitted on each fold's training images only.
Everything is written to a temporary folder next to the output and moved into
place at the end, so a failed run leaves no half-written results.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from joblib import Parallel, delayed
from sklearn.base import clone

from transfer.data.imageset import ImageSet
from transfer.recipes.cache import FeatureCache
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


def load_data(recipe: Recipe) -> ImageSet:
    """Open the recipe's dataset, filter classes and attach its transforms."""
    from transfer.data import open_dataset, select_classes

    cfg = recipe.config["data"]
    data = open_dataset(cfg["dataset"], path=cfg["path"], root=cfg["root"], **cfg["params"])
    if any(cfg[k] is not None for k in ("min_per_class", "max_per_class", "max_classes")):
        data = select_classes(
            data,
            min_per_class=cfg["min_per_class"],
            max_per_class=cfg["max_per_class"],
            max_classes=cfg["max_classes"],
            seed=recipe.config["seed"],
        )
    if recipe.transforms:
        data = data.with_transforms(*recipe.transforms)
    if len(data) == 0:
        raise ValueError(f"the dataset {data.name!r} has no images")
    return data


@dataclass
class RunResult:
    """Where a run wrote its results, and its main tables."""

    out_dir: Path
    results: pd.DataFrame
    summary: pd.DataFrame
    extraction: pd.DataFrame


def _extract(extractor: Any, data: ImageSet, cache: FeatureCache | None, label: str) -> tuple:
    """Features for all of ``data``; returns (features, seconds, cached)."""
    t0 = time.perf_counter()
    key = FeatureCache.key(extractor, data) if cache else None
    if cache is not None:
        hit = cache.load(key)
        if hit is not None and len(hit) == len(data):
            log.info("%s: features from the cache (%s)", label, key[:12])
            return hit, time.perf_counter() - t0, True
    features = extractor.fit(data).transform(data)
    seconds = time.perf_counter() - t0
    if cache is not None:
        cache.save(key, features, {"extractor": label, "n_images": len(data)})
    return features, seconds, False


def _check_features(features: np.ndarray, label: str) -> None:
    if features.ndim != 2 or len(features) == 0:
        raise ValueError(f"extractor {label!r} returned features of shape {features.shape}")
    if not np.all(np.isfinite(features)):
        raise ValueError(f"extractor {label!r} returned NaN or infinite features")


def _require_weights(recipe: Recipe) -> None:
    """Pretrained weights named by extractors must load offline, checked before any work."""
    from transfer.weights.records import list_weights
    from transfer.weights.store import require

    known = set(list_weights())
    names = [
        str(ext.get_params().get("weights"))
        for ext in recipe.extractors.values()
        if str(ext.get_params().get("weights")) in known
    ]
    if names:
        require(names)


def run_recipe(recipe: Recipe, out_dir: str | os.PathLike, *, console: Any = None) -> RunResult:
    """Run ``recipe`` and write its results folder at ``out_dir``.

    Parameters
    ----------
    recipe : Recipe
        A validated recipe (see :func:`transfer.recipes.load_recipe`).
    out_dir : path
        The results folder; replaced if it exists, written only on success.
    console : callable, optional
        Called with one-line progress messages (the CLI passes its printer).

    Returns
    -------
    RunResult
    """
    from transfer.report import build_report

    say = console or (lambda msg: log.info("%s", msg))
    out_dir = Path(out_dir)
    started = datetime.now(timezone.utc)
    t_start = time.perf_counter()
    config = recipe.config
    protocol = recipe.protocol

    # everything that can fail on bad input happens before extraction
    data, folds = protocol.select(load_data(recipe))
    targets = data.identity_array() if protocol.uses_identities else data.labels
    views = {
        label: data.with_transforms(*recipe.extractor_transforms.get(label, ()))
        for label in recipe.extractors
    }
    data.image_shape()  # decodes the first image: a bad file or transform fails now
    for view in views.values():
        if view.transforms != data.transforms:
            view.image_shape()
    _require_weights(recipe)
    say(
        f"{data.name}: {len(data)} images, {data.n_classes} classes; "
        f"{len(recipe.extractors)} extractors x {len(recipe.heads)} heads x {len(folds)} folds"
    )

    cache_cfg = config["cache"]
    cache = (
        FeatureCache(Path(cache_cfg["dir"]) / "features" if cache_cfg["dir"] else None)
        if cache_cfg["enabled"]
        else None
    )

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.tmp-"))
    try:
        rows, pred_rows, cmc_rows, roc_rows, ext_rows = [], [], [], [], []
        for label, extractor in recipe.extractors.items():
            ext_data = views[label]
            stateful = extractor.__sklearn_tags__().requires_fit
            if stateful:
                t0 = time.perf_counter()
                fold_features = []
                for fold in folds:
                    ext = clone(extractor).fit(ext_data.subset(fold.train), targets[fold.train])
                    X = None
                    for part in (fold.train, fold.test):
                        F = ext.transform(ext_data.subset(part))
                        if X is None:
                            X = np.zeros((len(ext_data), F.shape[1]), dtype=np.float32)
                        X[part] = F
                    fold_features.append(X)
                seconds, cached = time.perf_counter() - t0, False
                n_features = fold_features[0].shape[1]
                n_extracted = sum(len(f.train) + len(f.test) for f in folds)
            else:
                features, seconds, cached = _extract(extractor, ext_data, cache, label)
                _check_features(features, label)
                fold_features = [features] * len(folds)
                n_features = features.shape[1]
                n_extracted = len(data)
            ext_rows.append(
                {
                    "extractor": label,
                    "n_images": n_extracted,
                    "n_features": n_features,
                    "seconds": round(seconds, 4),
                    "images_per_second": round(n_extracted / max(seconds, 1e-9), 2),
                    "cached": cached,
                }
            )
            say(
                f"{label}: {n_features} features, "
                + (
                    "from the cache"
                    if cached
                    else f"{n_extracted / max(seconds, 1e-9):.0f} images/s"
                )
            )
            jobs = [
                (head_label, fold_i) for head_label in recipe.heads for fold_i in range(len(folds))
            ]
            outcomes = Parallel(n_jobs=config["n_jobs"])(
                delayed(protocol.evaluate)(recipe.heads[h], fold_features[i], targets, folds[i])
                for h, i in jobs
            )
            by_head: dict[str, list[float]] = {}
            for (head_label, fold_i), result in zip(jobs, outcomes, strict=True):
                fold = folds[fold_i]
                rows.append(
                    {
                        "extractor": label,
                        "head": head_label,
                        "fold": fold.index,
                        **result.metrics,
                        # pairs for a pair protocol, images otherwise
                        "n_train": len(getattr(fold, "train_pairs", fold.train)),
                        "n_test": len(getattr(fold, "test_pairs", fold.test)),
                        "fit_seconds": round(result.fit_seconds, 4),
                        "predict_seconds": round(result.predict_seconds, 4),
                    }
                )
                if hasattr(protocol, "score_frame"):
                    frame = protocol.score_frame(fold, result)
                    frame.insert(0, "head", head_label)
                    frame.insert(0, "extractor", label)
                    pred_rows.append(frame)
                else:
                    pred_rows.append(
                        pd.DataFrame(
                            {
                                "extractor": label,
                                "head": head_label,
                                "fold": fold.index,
                                "index": fold.test,
                                "y_true": targets[fold.test],
                                "y_pred": result.y_pred,
                            }
                        )
                    )
                if "fpr" in result.curves:
                    roc_rows.append(
                        pd.DataFrame(
                            {
                                "extractor": label,
                                "head": head_label,
                                "fold": fold.index,
                                "fpr": result.curves["fpr"],
                                "tpr": result.curves["tpr"],
                            }
                        )
                    )
                if "cmc" in result.curves:
                    cmc = result.curves["cmc"]
                    cmc_rows.append(
                        pd.DataFrame(
                            {
                                "extractor": label,
                                "head": head_label,
                                "fold": fold.index,
                                "rank": np.arange(1, len(cmc) + 1),
                                "rate": cmc,
                            }
                        )
                    )
                by_head.setdefault(head_label, []).append(result.metrics[protocol.primary_metric])
            for head_label, scores in by_head.items():
                spread = np.std(scores, ddof=1) if len(scores) > 1 else 0.0
                say(
                    f"  {label} + {head_label}: {protocol.primary_metric} "
                    f"{np.mean(scores):.4f} ± {spread:.4f}"
                )

        results = pd.DataFrame(rows)
        extraction = pd.DataFrame(ext_rows)
        results.to_csv(tmp / "results.csv", index=False)
        extraction.to_csv(tmp / "extraction.csv", index=False)
        predictions = "scores.csv" if hasattr(protocol, "score_frame") else "predictions.csv"
        pd.concat(pred_rows, ignore_index=True).to_csv(tmp / predictions, index=False)
        if roc_rows:
            pd.concat(roc_rows, ignore_index=True).to_csv(tmp / "roc.csv", index=False)
        if cmc_rows:
            pd.concat(cmc_rows, ignore_index=True).to_csv(tmp / "cmc.csv", index=False)
        (tmp / "recipe.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        finished = datetime.now(timezone.utc)
        meta = {
            "name": config["name"],
            "title": config["report"]["title"] or config["title"],
            "description": config["description"],
            "recipe_source": recipe.source,
            "protocol": {
                "name": protocol.name,
                "params": protocol.get_params(),
                "metrics": list(protocol.metrics),
                "primary_metric": protocol.primary_metric,
                "n_folds": len(folds),
            },
            "dataset": {
                "name": data.name,
                "n_images": len(data),
                "n_classes": data.n_classes,
                "class_names": list(data.class_names),
                "transforms": [t.spec() for t in data.transforms],
                "fingerprint": data.fingerprint(),
            },
            "seed": config["seed"],
            "started": started.isoformat(timespec="seconds"),
            "finished": finished.isoformat(timespec="seconds"),
            "duration_seconds": round(time.perf_counter() - t_start, 3),
            "environment": environment(),
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
        build_report(tmp)
        summary = pd.read_csv(tmp / "summary.csv")
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return RunResult(out_dir, results, summary, extraction)


def _replace_dir(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst``, replacing an existing results folder."""
    if dst.exists():
        if not dst.is_dir():
            raise FileExistsError(f"{dst} exists and is not a folder")
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        os.replace(dst, old)
        os.replace(src, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, dst)
