"""The ``train:`` section of a recipe: networks learned on a dataset A, used frozen on B.

A job names its dataset A (a ``data:`` mapping like the recipe's own), the
transforms that bring A's images to the network's input, an architecture
(:data:`transfer._registry.ARCHITECTURES`) and the training parameters
(:class:`~transfer.train.trainer.NetworkTrainer`)::

    train:
      - label: lenet5
        data: {dataset: npz, path: mnist/mnist.npz}
        architecture: lenet5
        params: {epochs: 12, learning_rate: 0.002}
    extractors:
      - {name: trained, params: {network: lenet5, layer: embedding}}

A job may instead fine-tune a pretrained network on A (``finetune:`` in place
of ``architecture`` and ``params``: the weights and the parameters of
:class:`~transfer.features.cnn.FineTunedCNN`); its ``trained`` extractors
then take any of its stages ("global_pool", "logits", "predictions") or
Keras layers, with the network's own preprocessing::

    train:
      - label: mobilenet_a
        data: {dataset: image_folder, path: cifar10/train}
        finetune: {weights: mobilenet_v2_1.0_224, params: {unfreeze_blocks: 2, epochs: 3}}
    extractors:
      - {name: trained, params: {network: mobilenet_a, layer: global_pool}}

An extractor whose ``network`` parameter names a job gets the job's trained
``model.keras`` as its ``weights`` when the run is planned. Everything is
checked before any work: the job's keys, dataset and transforms, the
architecture and its parameters, the training parameters, and (at plan
time, on a network built from A's image shape) every layer an extractor
asks of it. The trained network lives in the cache folder
(``<cache>/trained/<key>/``, the key of everything that made it), so a
second run, or another recipe with the same job, reuses it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from transfer._registry import ARCHITECTURES, did_you_mean

__all__ = ["TrainJob", "TrainPlan", "build_train_jobs", "plan_training", "run_training"]

JOB_KEYS = ("label", "data", "transforms", "architecture", "params", "finetune")
#: architecture arguments the stage supplies itself
_SUPPLIED = ("input_shape", "n_outputs", "seed")


@dataclass
class TrainJob:
    """One validated ``train:`` item."""

    label: str
    data: dict
    transforms: list
    architecture: str
    architecture_params: dict
    trainer: Any
    #: a fine-tuning job: ``{"weights": ..., "params": {...}}`` (then no architecture)
    finetune: dict | None = None


@dataclass
class TrainPlan:
    """A job with its dataset A opened and checked, its key and folder."""

    job: TrainJob
    data: Any
    key: str
    folder: Path
    done: bool
    card: dict | None = field(default=None)

    @property
    def model_path(self) -> Path:
        return self.folder / "model.keras"


def build_train_jobs(
    config: dict, extractors: dict, build_transforms: Callable, ctx: Any
) -> dict[str, TrainJob]:
    """Validate the ``train:`` section and the extractors that use it.

    Parameters
    ----------
    config : dict
        The recipe being built (``train`` still raw).
    extractors : dict
        The recipe's built extractors, by label.
    build_transforms : callable
        ``(specs, path) -> list`` from the schema.
    ctx : _Context
        For errors with file and line.

    Returns
    -------
    dict of str to TrainJob
    """
    from transfer._validation import validate_params
    from transfer.recipes.schema import SCHEMA, _check_data, _check_mapping, _number_hint
    from transfer.train.trainer import NetworkTrainer

    jobs: dict[str, TrainJob] = {}
    resolved = []
    for i, item in enumerate(config.get("train") or []):
        p = ("train", i)
        if not isinstance(item, dict):
            raise ctx.error(p, f"expected a mapping with {', '.join(JOB_KEYS)}, got {item!r}")
        for key in item:
            if key not in JOB_KEYS:
                raise ctx.error(
                    (*p, key),
                    f"unknown key {key!r}.{did_you_mean(str(key), JOB_KEYS)} "
                    f"Valid keys: {', '.join(JOB_KEYS)}",
                )
        for key in ("label", "data"):
            if key not in item:
                raise ctx.error(p, f"missing required key {key!r}")
        if ("architecture" in item) == ("finetune" in item):
            raise ctx.error(
                p,
                "give either 'architecture' (a network trained from scratch) or 'finetune' "
                "(a pretrained network fine-tuned on A)",
            )
        label = item["label"]
        if not isinstance(label, str) or not label:
            raise ctx.error((*p, "label"), f"expected a name, got {label!r}")
        if label in jobs:
            raise ctx.error((*p, "label"), f"duplicate train label {label!r}")
        data = _check_mapping(item["data"], SCHEMA["data"][0], (*p, "data"), ctx)
        _check_data(data, (*p, "data"), ctx)
        transforms = item.get("transforms") or []
        if not isinstance(transforms, list):
            raise ctx.error((*p, "transforms"), f"expected a list, got {transforms!r}")
        built_transforms = build_transforms(transforms, (*p, "transforms"))
        if "finetune" in item:
            if "params" in item:
                raise ctx.error(
                    (*p, "params"), "a finetune job takes its parameters in finetune.params"
                )
            spec = _finetune_spec(item["finetune"], config["seed"], (*p, "finetune"), ctx)
            jobs[label] = TrainJob(label, data, built_transforms, "", {}, None, spec)
            resolved.append(
                {"label": label, "data": data, "transforms": transforms, "finetune": spec}
            )
            continue
        arch = item["architecture"]
        if isinstance(arch, str):
            arch = {"name": arch}
        if not isinstance(arch, dict) or not isinstance(arch.get("name"), str):
            raise ctx.error((*p, "architecture"), "expected a name or {name, params}")
        extra = set(arch) - {"name", "params"}
        if extra:
            raise ctx.error((*p, "architecture", sorted(extra)[0]), "expected only name, params")
        name, arch_params = arch["name"], dict(arch.get("params") or {})
        if name not in ARCHITECTURES:
            raise ctx.error(
                (*p, "architecture"),
                f"unknown architecture {name!r}.{did_you_mean(name, ARCHITECTURES.names())} "
                f"Known: {', '.join(ARCHITECTURES.names())}",
            )
        accepted = [
            k for k in inspect.signature(ARCHITECTURES.get(name)).parameters if k not in _SUPPLIED
        ]
        for key in arch_params:
            if key not in accepted:
                raise ctx.error(
                    (*p, "architecture", "params", key),
                    f"architecture {name!r} has no parameter {key!r}."
                    f"{did_you_mean(key, accepted)} Parameters: {', '.join(accepted)}",
                )
        params = item.get("params") or {}
        if not isinstance(params, dict):
            raise ctx.error((*p, "params"), f"expected a mapping, got {params!r}")
        accepted = list(inspect.signature(NetworkTrainer).parameters)
        for key in params:
            if key not in accepted:
                raise ctx.error(
                    (*p, "params", key),
                    f"training has no parameter {key!r}.{did_you_mean(key, accepted)} "
                    f"Parameters: {', '.join(accepted)}",
                )
        params.setdefault("seed", config["seed"])
        try:
            trainer = NetworkTrainer(**params)
            validate_params(trainer)
        except (ValueError, TypeError) as exc:
            hints = [_number_hint(v) for v in params.values() if _number_hint(v)]
            raise ctx.error((*p, "params"), " ".join([str(exc), *hints])) from None
        jobs[label] = TrainJob(label, data, built_transforms, name, arch_params, trainer)
        resolved.append(
            {
                "label": label,
                "data": data,
                "transforms": transforms,
                "architecture": {"name": name, "params": arch_params},
                "params": trainer.get_params(deep=False),
            }
        )
    config["train"] = resolved
    # extractors that use a job: by name, and only those
    for i, c in enumerate(config["extractors"]):
        ext = extractors[c["label"]]
        params = ext.get_params(deep=False)
        if "network" not in params:
            continue
        wanted = params["network"]
        if wanted is None and params.get("weights") is None:
            raise ctx.error(
                ("extractors", i, "params"),
                "give 'network' (a label of the train: section) or 'weights' (a model file)",
            )
        if wanted is not None and wanted not in jobs:
            known = list(jobs)
            raise ctx.error(
                ("extractors", i, "params", "network"),
                f"{wanted!r} is not a job of the train: section."
                f"{did_you_mean(wanted, known)} Jobs: {', '.join(known) or 'none'}",
            )
    return jobs


def _finetune_spec(spec: Any, seed: int, p: tuple, ctx: Any) -> dict:
    """A job's ``finetune:`` mapping, checked: ``{"weights": str, "params": dict}``."""
    from transfer._validation import validate_params
    from transfer.features.cnn.finetune import FineTunedCNN

    if isinstance(spec, str):
        spec = {"weights": spec}
    if not isinstance(spec, dict) or not isinstance(spec.get("weights"), str):
        raise ctx.error(p, f"expected {{weights: NAME_OR_PATH, params: {{...}}}}, got {spec!r}")
    extra = set(spec) - {"weights", "params"}
    if extra:
        raise ctx.error((*p, sorted(extra)[0]), "expected only weights, params")
    params = dict(spec.get("params") or {})
    accepted = [k for k in inspect.signature(FineTunedCNN).parameters if k != "weights"]
    for key in params:
        if key not in accepted:
            raise ctx.error(
                (*p, "params", key),
                f"FineTunedCNN has no parameter {key!r}.{did_you_mean(key, accepted)} "
                f"Parameters: {', '.join(accepted)}",
            )
    params.setdefault("random_state", seed)
    try:
        validate_params(FineTunedCNN(spec["weights"], **params))
    except (ValueError, TypeError) as exc:
        raise ctx.error((*p, "params"), str(exc)) from None
    return {"weights": spec["weights"], "params": params}


def _trained_root(recipe: Any) -> Path:
    from transfer._io import default_cache_dir

    cache_dir = recipe.config["cache"]["dir"]
    root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    return root / "trained"


def _users(recipe: Any, label: str) -> list[tuple[str, Any]]:
    return [
        (ext_label, ext)
        for ext_label, ext in recipe.extractors.items()
        if ext.get_params(deep=False).get("network") == label
    ]


def plan_training(recipe: Any) -> list[TrainPlan]:
    """Open and check every job's dataset A, key it, and point its extractors at it.

    Builds each network once (untrained, from A's image shape) to check the
    layers its extractors name; sets their ``weights`` to the job's
    ``model.keras`` (which exists once trained).

    Raises
    ------
    ValueError
        Naming the job and what is wrong (a class with one image, a layer
        the network does not have, images of several shapes).
    """
    from transfer.recipes.runner import open_data
    from transfer.train.trainer import finetune_key, read_card, train_key

    plans = []
    for label, job in recipe.train_jobs.items():
        data = open_data(job.data, job.transforms, recipe.config["seed"])
        data.check_files()
        if data.labels is None or len(np.unique(data.labels)) < 2:
            raise ValueError(f"train job {label!r}: dataset A needs at least 2 classes")
        users = _users(recipe, label)
        if job.finetune is not None:
            key = finetune_key(job.finetune["weights"], job.finetune["params"], data)
            folder = _trained_root(recipe) / key
            card = read_card(folder)
            if users and card is None:
                _check_finetune_layers(job, users)
            for _, ext in users:
                ext.set_params(weights=str(folder / "model.keras"))
            plans.append(TrainPlan(job, data, key, folder, card is not None, card))
            continue
        shape = tuple(int(s) for s in data.image_shape())
        key = train_key(job.architecture, job.architecture_params, job.trainer, data)
        folder = _trained_root(recipe) / key
        card = read_card(folder)
        if users and card is None:
            from transfer._quiet import import_tensorflow

            import_tensorflow()
            model = ARCHITECTURES.create(
                job.architecture,
                input_shape=shape if len(shape) == 3 else (*shape, 1),
                n_outputs=len(np.unique(data.labels)),
                **job.architecture_params,
            )
            names = [lyr.name for lyr in model.layers]
            for ext_label, ext in users:
                layers = ext.layer if not isinstance(ext.layer, str) else [ext.layer]
                for name in layers:
                    if name not in names:
                        raise ValueError(
                            f"extractor {ext_label!r}: the network of train job {label!r} "
                            f"({job.architecture}) has no layer {name!r}."
                            f"{did_you_mean(name, names)} Layers: {', '.join(names)}"
                        )
        for _, ext in users:
            ext.set_params(weights=str(folder / "model.keras"))
        plans.append(TrainPlan(job, data, key, folder, card is not None, card))
    return plans


def _check_finetune_layers(job: TrainJob, users: list[tuple[str, Any]]) -> None:
    """The layers the extractors ask of a fine-tuning job exist in its pretrained network
    (a stage, a layer of the network, or a layer of the new classifier)."""
    from transfer.features.cnn import CNNFeatures
    from transfer.features.cnn.finetune import HEAD_LAYERS
    from transfer.features.network import STAGES

    for ext_label, ext in users:
        layers = [ext.layer] if isinstance(ext.layer, str) else list(ext.layer)
        named = [n for n in layers if n not in STAGES and n not in HEAD_LAYERS]
        if not named:
            continue
        probe = np.zeros((1, 32, 32, 3), np.float32)
        try:
            CNNFeatures(job.finetune["weights"], layer=named, runtime="tensorflow").fit(
                probe
            ).transform(probe)
        except ValueError as exc:
            raise ValueError(f"extractor {ext_label!r} (train job {job.label!r}): {exc}") from None


def run_training(plans: list[TrainPlan], say: Callable[[str], object]) -> bool:
    """Train every job not yet trained; True when something was trained."""
    from transfer.train.trainer import finetune_network, train_network

    trained = False
    for plan in plans:
        if plan.done:
            say(f"train {plan.job.label}: from the cache ({plan.folder})")
            continue
        job = plan.job
        if job.finetune is not None:
            plan.card = finetune_network(
                job.finetune["weights"],
                job.finetune["params"],
                plan.data,
                plan.folder,
                label=job.label,
                say=say,
            )
            plan.done, trained = True, True
            continue
        plan.card = train_network(
            job.architecture,
            job.architecture_params,
            job.trainer,
            plan.data,
            plan.folder,
            label=job.label,
            say=say,
        )
        plan.done, trained = True, True
    return trained


def training_tables(plans: list[TrainPlan]) -> tuple[pd.DataFrame | None, dict]:
    """``training.csv`` (one row per job and epoch) and the cards for meta.json."""
    rows, cards = [], {}
    for plan in plans:
        card = plan.card or {}
        hist = card.get("history", {})
        n = len(hist.get("loss", []))
        for epoch in range(n):
            row = {"network": plan.job.label, "epoch": epoch + 1}
            row.update({k: v[epoch] for k, v in hist.items() if len(v) == n})
            rows.append(row)
        cards[plan.job.label] = {
            **{k: v for k, v in card.items() if k != "history"},
            "folder": str(plan.folder),
        }
    return (pd.DataFrame(rows) if rows else None), cards
