"""Rebuild ``thresholds.json``: each (model, metric) threshold chosen on LFW View 1 training pairs.

Run ``python -m transfer.faces.make_thresholds`` with ``TRANSFER_DATA``
pointing at a data root holding ``lfw/`` (deep-funneled images and
``pairsDevTrain.txt`` / ``pairsDevTest.txt``). The embeddings are the
``lfw-verification`` recipe's own, taken through its plan and the feature
cache (computed and cached when absent: ~5,000 images). For every model and
metric the threshold is the accuracy-maximising one on the 2,200 View 1
training pairs (:func:`transfer.faces.api.fit_threshold`), never looked at
the test pairs; accuracy, FAR and TAR are then measured on the 1,000 View 1
test pairs. The recipe's own cosine head (centred embeddings, its threshold
cross-fitted on the training pairs) is scored on the same test pairs for
comparison.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

#: The recipe's extractor label of each API model.
RECIPE_LABELS = {"facenet": "facenet", "dlib": "dlib_resnet"}


def recipe_embeddings(models: tuple[str, ...]) -> tuple[dict[str, np.ndarray], object, object]:
    """View 1 embeddings per model (rows of the recipe's image set), its fold and data."""
    from sklearn.base import clone

    from transfer.recipes import FeatureCache, load_recipe
    from transfer.recipes.runner import load_data

    recipe = load_recipe("lfw-verification")
    data, folds = recipe.protocol.select(load_data(recipe))
    cache = FeatureCache()
    out = {}
    for model in models:
        label = RECIPE_LABELS[model]
        view = data.with_transforms(*recipe.extractor_transforms.get(label, ()))
        got = cache.extract(clone(recipe.extractors[label]), view, label=label)
        out[model] = got.features
    return out, folds[0], (recipe, data)


def _rounded(rates: dict) -> dict:
    return {k: v if k == "n_pairs" else round(v, 4) for k, v in rates.items()}


def main(argv: list[str] | None = None) -> None:
    from transfer.faces.api import _rates, fit_threshold, pair_scores

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).with_name("thresholds.json")))
    parser.add_argument("--models", nargs="+", default=["facenet", "dlib"])
    args = parser.parse_args(argv)
    features, fold, (recipe, data) = recipe_embeddings(tuple(args.models))
    labels = recipe.protocol.targets(data)
    result = {
        "about": (
            "Verification thresholds of transfer.faces.verify, per model and metric. Each was "
            "chosen as the accuracy-maximising threshold on the 2,200 LFW View 1 training pairs "
            "(pairsDevTrain.txt) and measured on the 1,000 View 1 test pairs (pairsDevTest.txt), "
            "with the lfw-verification recipe's embeddings (deep-funneled LFW, 250 px). FAR: "
            "false accept rate (different pairs said same); TAR: true accept rate. Photos unlike "
            "LFW's (high resolution, other poses) shift the scores: fit your own with "
            "transfer calibrate. Rebuilt by python -m transfer.faces.make_thresholds."
        ),
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "thresholds": {},
    }
    out = Path(args.out)
    if out.is_file():  # the models not rebuilt keep their entries
        result["thresholds"] = json.loads(out.read_text())["thresholds"]
    for model, X in features.items():
        tr, te = fold.train_pairs, fold.test_pairs
        entry = {}
        for metric in ("cosine", "euclidean"):
            s_tr = pair_scores(X[tr[:, 0]], X[tr[:, 1]], metric)
            s_te = pair_scores(X[te[:, 0]], X[te[:, 1]], metric)
            t = fit_threshold(s_tr, fold.train_same, metric)
            entry[metric] = {
                "threshold": round(t, 6),
                "chosen_on": "LFW View 1 training pairs (2,200)",
                "rule": "accuracy-maximising threshold",
                "same_when": "score >= threshold" if metric == "cosine" else "score <= threshold",
                "train": {
                    k: round(v, 4) for k, v in _rates(s_tr, fold.train_same, t, metric).items()
                },
                "test": {
                    k: round(v, 4) for k, v in _rates(s_te, fold.test_same, t, metric).items()
                },
            }
        head = recipe.heads["cosine"]
        scored = recipe.protocol.evaluate(head, X, labels, fold)
        entry["cosine"]["recipe_test_accuracy"] = round(float(scored.metrics["accuracy"]), 4)
        result["thresholds"][model] = entry
        print(model, json.dumps(entry, indent=1))
    out.write_text(json.dumps(result, indent=1) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
