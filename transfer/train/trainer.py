"""Train a network on a dataset A: the ``train:`` stage of a recipe and ``transfer train``.

The lecture's recipe is "dataset A -> features learned on A -> classifier
on B". :func:`train_network` learns the features: an architecture of
:mod:`transfer.train.architectures` trained with softmax cross-entropy on
A's labels (Adam or SGD with momentum, optional augmentation, early
stopping on a stratified validation split of A's training images, seeded),
then evaluated on A's own test split when A has one (``split == "test"``,
as MNIST's official 10,000). What it writes, in one folder named by the
key of everything that made it (:func:`train_key`):

- ``model.keras``: the trained network, loadable with
  ``keras.saving.load_model(path, safe_mode=True)``;
- ``model.json``: its card (architecture, parameters, data A, classes,
  history per epoch, test accuracy, seconds, the sha256 of ``model.keras``);
- while training, ``checkpoint/`` (Keras' ``BackupAndRestore``: a run
  killed mid-way resumes from its last finished epoch) and ``best.weights.h5``
  (the weights of the best validation loss so far).

A loss that becomes NaN stops training with an error naming the epoch; the
checkpoint of the last good epoch is kept.

References
----------
.. [1] LeCun, Bottou, Bengio, Haffner. "Gradient-based learning applied to
   document recognition." Proc. IEEE 1998.
.. [2] Yosinski, Clune, Bengio, Lipson. "How transferable are features in
   deep neural networks?" NeurIPS 2014.
"""

from __future__ import annotations

import json
import logging
import numbers
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from transfer._validation import NONE, InstanceOf, Interval, Options, validate_params
from transfer.data.imageset import ImageSet
from transfer.features.base import stable_hash

__all__ = [
    "TRAIN_FORMAT",
    "NetworkTrainer",
    "TrainingError",
    "finetune_key",
    "finetune_network",
    "train_key",
    "train_network",
]

log = logging.getLogger("transfer")

#: Version of the trained-network folder layout and of the training procedure.
TRAIN_FORMAT = 1


class TrainingError(RuntimeError):
    """Training failed (a NaN loss); the message says where the last checkpoint is."""


class NetworkTrainer(BaseEstimator):
    """How to train a network on dataset A (a recipe's ``train[i].params``).

    Parameters
    ----------
    loss : {"softmax", "softmax_contrastive", "triplet", "autoencoder"}, default="softmax"
        ``"softmax"``: cross-entropy on A's class labels (identities for
        faces), DeepID's identification signal. ``"softmax_contrastive"``:
        plus ``verification_weight`` times the contrastive loss on the
        ``embedding`` layer over the pairs of each batch, DeepID2's joint
        identification-verification [3]_. ``"triplet"``: FaceNet's triplet
        loss with online semi-hard mining on the L2-normalised embedding
        alone [4]_. ``"autoencoder"``: no labels used; a dense decoder
        reconstructs the clean image from the ``embedding`` of a corrupted
        one (masking noise, ``noise``), the denoising autoencoder of
        unsupervised pretraining [5]_. The pair losses draw batches of
        ``images_per_identity`` images per identity (FaceNet's P x K batches).
    epochs : int, default=10
        The most epochs; early stopping may end sooner.
    batch_size : int, default=128
    learning_rate : float, default=1e-3
    optimizer : {"adam", "sgd"}, default="adam"
        SGD uses Nesterov momentum 0.9.
    lr_schedule : {"constant", "cosine"}, default="cosine"
        Cosine decay over the epochs, or a constant rate.
    weight_decay : float, default=0.0
        Decoupled weight decay (AdamW / SGDW style).
    validation_fraction : float, default=0.1
        Stratified share of A's training images held out for early stopping
        (0: no validation, no early stopping).
    patience : int, default=3
        Epochs without a better validation loss before stopping; the best
        epoch's weights are kept.
    augment : bool, default=False
        Random translations by up to 10% (and horizontal flips with
        ``flip=True``) during training.
    flip : bool, default=False
        Horizontal flips in the augmentation (not for digits).
    label_smoothing : float, default=0.0
    seed : int, default=0
        Seeds the split, the initialisation, the shuffling and augmentation.
    verbose : int, default=0
        Keras' own progress output (0: the toolkit's lines only).
    verification_weight : float, default=0.05
        DeepID2's lambda, the weight of the contrastive term.
    margin : float, optional
        The contrastive margin (default 1.0) or the triplet margin (default
        0.2), on L2-normalised embeddings (:mod:`transfer.train.losses`).
    images_per_identity : int, default=4
        K of the P x K batches of the pair losses.
    noise : float, default=0.3
        Fraction of pixels zeroed in the autoencoder's input.

    Notes
    -----
    Devices: with several visible GPUs, :func:`train_network` builds and
    compiles the network under ``tf.distribute.MirroredStrategy`` (each batch
    of ``batch_size`` split across the replicas, gradients summed), and the
    card records ``replicas``; with one GPU or none it runs as is. Restrict
    the devices with ``CUDA_VISIBLE_DEVICES``. The cache key does not depend
    on the number of devices.

    References
    ----------
    .. [3] Sun, Chen, Wang, Tang. "Deep learning face representation by joint
       identification-verification." NeurIPS 2014.
    .. [4] Schroff, Kalenichenko, Philbin. "FaceNet: a unified embedding for
       face recognition and clustering." CVPR 2015.
    .. [5] Vincent, Larochelle, Bengio, Manzagol. "Extracting and composing
       robust features with denoising autoencoders." ICML 2008.
    """

    _parameter_constraints: dict = {
        "loss": [Options(("softmax", "softmax_contrastive", "triplet", "autoencoder"))],
        "epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "optimizer": [Options(("adam", "sgd"))],
        "lr_schedule": [Options(("constant", "cosine"))],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
        "patience": [Interval(numbers.Integral, 0, None, closed="left")],
        "augment": [InstanceOf(bool)],
        "flip": [InstanceOf(bool)],
        "label_smoothing": [Interval(numbers.Real, 0, 1, closed="left")],
        "seed": [Interval(numbers.Integral, 0, 2**31 - 1, closed="both")],
        "verbose": [Interval(numbers.Integral, 0, 2, closed="both")],
        "verification_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "margin": [NONE, Interval(numbers.Real, 0, None, closed="neither")],
        "images_per_identity": [Interval(numbers.Integral, 1, None, closed="left")],
        "noise": [Interval(numbers.Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        loss: str = "softmax",
        epochs: int = 10,
        batch_size: int = 128,
        learning_rate: float = 1e-3,
        optimizer: str = "adam",
        lr_schedule: str = "cosine",
        weight_decay: float = 0.0,
        validation_fraction: float = 0.1,
        patience: int = 3,
        augment: bool = False,
        flip: bool = False,
        label_smoothing: float = 0.0,
        seed: int = 0,
        verbose: int = 0,
        verification_weight: float = 0.05,
        margin: float | None = None,
        images_per_identity: int = 4,
        noise: float = 0.3,
    ) -> None:
        self.loss = loss
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.lr_schedule = lr_schedule
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.augment = augment
        self.flip = flip
        self.label_smoothing = label_smoothing
        self.seed = seed
        self.verbose = verbose
        self.verification_weight = verification_weight
        self.margin = margin
        self.images_per_identity = images_per_identity
        self.noise = noise


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in ("keras", "tensorflow"):
        try:
            out[name] = ".".join(metadata.version(name).split(".")[:2])
        except metadata.PackageNotFoundError:  # pragma: no cover
            out[name] = "?"
    return out


def train_key(
    architecture: str, architecture_params: dict, trainer: NetworkTrainer, data: ImageSet
) -> str:
    """The key of a trained network: everything that made it.

    Covers the architecture and its parameters, every training parameter
    (``verbose`` aside), dataset A's content fingerprint (files, labels,
    split and transforms), the Keras and TensorFlow versions and
    :data:`TRAIN_FORMAT`.
    """
    params = {k: v for k, v in trainer.get_params(deep=False).items() if k != "verbose"}
    return stable_hash(
        {
            "format": TRAIN_FORMAT,
            "architecture": architecture,
            "architecture_params": architecture_params,
            "trainer": params,
            "data": data.fingerprint(),
            "versions": _versions(),
        }
    )


def finetune_key(weights: str, params: dict, data: ImageSet) -> str:
    """The key of a network fine-tuned on dataset A: the pretrained weights
    (their content), every :class:`~transfer.features.cnn.FineTunedCNN`
    parameter, A's fingerprint and the library versions."""
    from transfer.features.network import weights_identity
    from transfer.weights.records import canonical_weights

    weights = canonical_weights(str(weights))
    return stable_hash(
        {
            "format": TRAIN_FORMAT,
            "finetune": weights,
            "weights": weights_identity(weights),
            "params": {k: v for k, v in params.items() if k != "verbose"},
            "data": data.fingerprint(),
            "versions": _versions(),
        }
    )


def finetune_network(
    weights: str,
    params: dict,
    data: ImageSet,
    folder: str | os.PathLike,
    *,
    label: str = "network",
    say: Callable[[str], object] | None = None,
) -> dict:
    """Fine-tune a pretrained network on ``data`` (dataset A) and write it to ``folder``.

    :class:`~transfer.features.cnn.FineTunedCNN` trains on A's training rows
    (its own validation split and early stopping), is tested on A's test
    rows when A has a split, and is saved as ``model.keras`` with its card
    ``model.json`` (``FineTunedCNN.save``'s card: preprocessing, input size,
    sha256, history; plus the job's label, data and test accuracy), which
    :class:`~transfer.features.cnn.CNNFeatures` and the ``trained`` extractor
    load. A finished job in ``folder`` is returned as is; an interrupted one
    starts again (fine-tuning keeps no checkpoint).

    Returns
    -------
    dict
        The card.
    """
    from transfer._io import atomic_write_text
    from transfer.features.cnn.finetune import FineTunedCNN

    folder = Path(folder)
    say = say or (lambda _msg: None)
    done = read_card(folder)
    if done is not None:
        return done
    train_rows, test_rows = _rows(data)
    network = FineTunedCNN(weights, **params)
    say(f"train {label}: fine-tuning {weights} on {len(train_rows)} images of {data.name}")
    t0 = time.perf_counter()
    network.fit(data.subset(train_rows))
    seconds = time.perf_counter() - t0
    folder.mkdir(parents=True, exist_ok=True)
    network.save(folder / "model.keras")
    card = json.loads((folder / "model.json").read_text())
    card.update(
        {
            "label": label,
            "architecture": f"finetuned {weights}",
            "data": {
                "name": data.name,
                "n_train": len(train_rows),
                "n_test": len(test_rows),
                "fingerprint": data.fingerprint(),
                "transforms": [t.spec() for t in data.transforms],
            },
            "epochs_run": int(network.n_epochs_),
            "seconds": round(seconds, 2),
        }
    )
    if len(test_rows) and not network.multilabel_:
        truth = np.asarray(data.labels)[test_rows]
        accuracy = float(np.mean(network.predict(data.subset(test_rows)) == truth))
        card["test"] = {
            "n_images": len(test_rows),
            "accuracy": round(accuracy, 6),
            "error": round(1.0 - accuracy, 6),
        }
        say(f"train {label}: test accuracy {accuracy:.4f} on {len(test_rows)} images of A")
    atomic_write_text(folder / "model.json", json.dumps(card, indent=2, default=str))
    return card


def _rows(data: ImageSet) -> tuple[np.ndarray, np.ndarray]:
    """Training and test rows of A: its given split when it has one, else all / none."""
    n = len(data)
    if data.split is None:
        return np.arange(n), np.arange(0)
    split = np.asarray(data.split).astype(str)
    return np.flatnonzero(split != "test"), np.flatnonzero(split == "test")


def _validation(codes: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    idx = np.arange(len(codes))
    if fraction == 0:
        return idx, idx[:0]
    from sklearn.model_selection import train_test_split

    try:
        train, val = train_test_split(
            idx, test_size=float(fraction), stratify=codes, random_state=seed
        )
    except ValueError as exc:
        raise ValueError(
            f"validation_fraction={fraction} cannot make a stratified validation split of "
            f"{len(codes)} training images in {len(np.unique(codes))} classes ({exc}); give "
            "more images per class or set validation_fraction: 0"
        ) from None
    return np.sort(train), np.sort(val)


def _sha256(path: Path) -> str:
    from transfer.weights.store import file_sha256  # memoised while the file is unchanged

    return file_sha256(path)


def read_card(folder: Path) -> dict | None:
    """The card of a finished training in ``folder``, None when unfinished or damaged."""
    card_path, model_path = folder / "model.json", folder / "model.keras"
    if not (card_path.is_file() and model_path.is_file()):
        return None
    try:
        card = json.loads(card_path.read_text())
    except (OSError, ValueError):
        return None
    if card.get("sha256") != _sha256(model_path):
        log.warning("trained network %s does not match its card; training it again", model_path)
        return None
    return card


class _EpochLines:
    """A Keras callback printing one line per epoch through ``say``."""

    def __new__(cls, say: Callable[[str], object], label: str, epochs: int) -> Any:
        import keras

        class Lines(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.t0 = time.perf_counter()

            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                logs = logs or {}
                parts = [f"{k} {v:.4f}" for k, v in logs.items() if k != "learning_rate"]
                say(
                    f"train {label}: epoch {epoch + 1}/{epochs}, "
                    + ", ".join(parts)
                    + f" ({time.perf_counter() - self.t0:.0f}s)"
                )

        return Lines()


def _identity_batches(x: np.ndarray, codes: np.ndarray, trainer: NetworkTrainer, shuffle: bool):
    """Batches for the pair losses: ``images_per_identity`` images of each identity
    side by side (FaceNet's P x K batches), reshuffled every epoch with the seed."""
    import keras

    class Batches(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__()
            self.epoch = 0
            self.order = self._order()

        def _order(self) -> np.ndarray:
            n = len(codes)
            if not shuffle:
                return np.arange(n)
            rng = np.random.default_rng(int(trainer.seed) + self.epoch)
            k = int(trainer.images_per_identity)
            groups = []
            for c in np.unique(codes):
                members = rng.permutation(np.flatnonzero(codes == c))
                groups += [members[i : i + k] for i in range(0, len(members), k)]
            return np.concatenate([groups[i] for i in rng.permutation(len(groups))])

        def __len__(self) -> int:
            return int(np.ceil(len(codes) / int(trainer.batch_size)))

        def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
            b = int(trainer.batch_size)
            idx = self.order[i * b : (i + 1) * b]
            return x[idx], codes[idx].astype(np.int32)

        def on_epoch_end(self) -> None:
            self.epoch += 1
            self.order = self._order()

    return Batches()


def _embedding_trainer(model: Any, trainer: NetworkTrainer, n_classes: int, augment: Any) -> Any:
    """A training wrapper around ``model`` for the losses on its ``embedding`` layer.

    Never saved (only ``model`` is): its train and test steps compute the
    loss of ``trainer.loss`` (:mod:`transfer.train.losses`), its decoder
    (autoencoder) lives only here.
    """
    import keras
    import tensorflow as tf
    from keras import ops

    from transfer.train.losses import contrastive_loss, triplet_semi_hard_loss

    loss_name = trainer.loss
    weight = float(trainer.verification_weight)
    margin = trainer.margin
    noise = float(trainer.noise)
    smoothing = float(trainer.label_smoothing)
    joint = keras.Model(model.inputs[0], [model.output, model.get_layer("embedding").output])
    size = int(np.prod(model.inputs[0].shape[1:]))
    decoder = None
    if loss_name == "autoencoder":
        decoder = keras.layers.Dense(size, activation="sigmoid", name="decoder")

    class EmbeddingTrainer(keras.Model):
        def __init__(self) -> None:
            super().__init__(name="embedding_trainer")
            self.joint = joint
            self.decoder = decoder
            self.tracked = {
                name: keras.metrics.Mean(name=name)
                for name in ("loss", "accuracy", "identification", "verification")
            }

        @property
        def metrics(self) -> list:
            return list(self.tracked.values())

        def call(self, x: Any, training: bool = False) -> Any:
            return self.joint(x, training=training)

        def _loss(self, x: Any, y: Any, training: bool) -> tuple[Any, dict]:
            clean = x
            if loss_name == "autoencoder" and training:
                keep = ops.cast(tf.random.uniform(ops.shape(x)) >= noise, x.dtype)
                x = x * keep
            logits, emb = self.joint(x, training=training)
            parts: dict[str, Any] = {}
            if loss_name == "autoencoder":
                flat = ops.reshape(emb, (ops.shape(emb)[0], -1))
                target = ops.reshape(clean, (ops.shape(clean)[0], -1)) / 255.0
                total = ops.mean(ops.square(self.decoder(flat) - target))
                return total, parts
            flat = ops.reshape(emb, (ops.shape(emb)[0], -1))
            if loss_name == "triplet":
                total = triplet_semi_hard_loss(flat, y, 0.2 if margin is None else margin)
                parts["verification"] = total
                return total, parts
            one_hot = ops.one_hot(y, n_classes)
            ident = ops.mean(
                keras.losses.categorical_crossentropy(
                    one_hot, logits, from_logits=True, label_smoothing=smoothing
                )
            )
            verif = contrastive_loss(flat, y, 1.0 if margin is None else margin)
            parts = {
                "identification": ident,
                "verification": verif,
                "accuracy": ops.mean(
                    ops.cast(ops.equal(ops.argmax(logits, axis=1), ops.cast(y, "int64")), "float32")
                ),
            }
            return ident + weight * verif, parts

        def _record(self, total: Any, parts: dict) -> dict:
            self.tracked["loss"].update_state(total)
            for name, value in parts.items():
                self.tracked[name].update_state(value)
            shown = ["loss", *parts]
            return {name: self.tracked[name].result() for name in shown}

        def train_step(self, data: Any) -> dict:
            x, y = data
            if augment is not None:
                x = augment(x, training=True)
            with tf.GradientTape() as tape:
                total, parts = self._loss(x, y, training=True)
            variables = self.trainable_variables
            grads = tape.gradient(total, variables)
            self.optimizer.apply_gradients(
                [(g, v) for g, v in zip(grads, variables, strict=True) if g is not None]
            )
            return self._record(total, parts)

        def test_step(self, data: Any) -> dict:
            x, y = data
            total, parts = self._loss(x, y, training=False)
            return self._record(total, parts)

    wrapper = EmbeddingTrainer()
    probe = np.zeros((1, *model.inputs[0].shape[1:]), np.float32)
    _, emb = wrapper(probe)  # builds it: Keras' BackupAndRestore needs a built model
    if decoder is not None:
        decoder.build((None, int(np.prod(emb.shape[1:]))))
    return wrapper


def _strategy(tf: Any) -> Any:
    """``tf.distribute.MirroredStrategy`` over the visible GPUs when there are
    several, else the default (no-op) strategy."""
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy([device.name for device in gpus])
    return tf.distribute.get_strategy()


def train_network(
    architecture: str,
    architecture_params: dict,
    trainer: NetworkTrainer,
    data: ImageSet,
    folder: str | os.PathLike,
    *,
    label: str = "network",
    say: Callable[[str], object] | None = None,
) -> dict:
    """Train ``architecture`` on ``data`` (dataset A) and write it to ``folder``.

    Parameters
    ----------
    architecture : str
        A name of :data:`transfer._registry.ARCHITECTURES`.
    architecture_params : dict
        Its parameters (besides ``input_shape``, ``n_outputs``, ``seed``,
        which come from the data and the trainer).
    trainer : NetworkTrainer
        The training parameters.
    data : ImageSet
        Dataset A with class labels, its transforms applied; images of one
        shape. Rows whose ``split`` is "test" are held out for the final
        test accuracy.
    folder : path
        Where ``model.keras``, ``model.json`` and the checkpoints go (the
        toolkit's own cache folder for recipes). A finished training there
        (card and model matching) is returned as is; an unfinished one
        resumes from its checkpoint.
    label : str, default="network"
        Name in progress lines and the card.
    say : callable, optional
        Progress printer (one line per epoch).

    Returns
    -------
    dict
        The card (also in ``folder/model.json``).

    Raises
    ------
    ValueError
        Bad parameters, fewer than 2 classes, images of several shapes.
    TrainingError
        The loss became NaN.
    """
    from transfer._quiet import import_tensorflow
    from transfer._registry import ARCHITECTURES

    validate_params(trainer)
    folder = Path(folder)
    say = say or (lambda _msg: None)
    done = read_card(folder)
    if done is not None:
        return done
    if architecture not in ARCHITECTURES:
        from transfer._registry import did_you_mean

        hint = did_you_mean(architecture, ARCHITECTURES.names())
        raise ValueError(f"unknown architecture {architecture!r}.{hint}")
    train_rows, test_rows = _rows(data)
    labels = np.asarray(data.labels)
    classes, codes = np.unique(labels[train_rows], return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"dataset {data.name!r}: training needs at least 2 classes")
    if trainer.loss in ("softmax_contrastive", "triplet"):
        counts = np.bincount(codes)
        if counts.min() < 2:
            lonely = [str(classes[c]) for c in np.flatnonzero(counts < 2)[:5]]
            raise ValueError(
                f"dataset {data.name!r}: loss {trainer.loss!r} compares images of the same "
                f"identity, but {int((counts < 2).sum())} classes have a single training image "
                f"({', '.join(lonely)}, ...); keep classes with several images "
                "(data: {min_per_class: 2}) or use loss: softmax"
            )
    fit_idx, val_idx = _validation(codes, trainer.validation_fraction, trainer.seed)

    import_tensorflow()
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(int(trainer.seed))
    say(f"train {label}: loading {len(data)} images of {data.name}")
    images = np.asarray(data.load(), dtype=np.float32)
    if images.ndim == 3:
        images = images[..., None]
    n_classes = len(classes)
    # Several GPUs: replicate the model (synchronous data parallelism, the
    # batch split across them); one device or none: the default strategy.
    strategy = _strategy(tf)
    if strategy.num_replicas_in_sync > 1:
        say(f"train {label}: {strategy.num_replicas_in_sync} devices (MirroredStrategy)")
    with strategy.scope():
        model = ARCHITECTURES.create(
            architecture,
            input_shape=images.shape[1:],
            n_outputs=n_classes,
            seed=int(trainer.seed),
            **architecture_params,
        )
        x_train, y_train = images[train_rows], codes
        steps = int(np.ceil(len(fit_idx) / trainer.batch_size)) * int(trainer.epochs)
        rate: Any = float(trainer.learning_rate)
        if trainer.lr_schedule == "cosine":
            rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=max(steps, 1))
        decay = float(trainer.weight_decay) or None
        if trainer.optimizer == "adam":
            optimizer = (
                keras.optimizers.AdamW(rate, weight_decay=decay or 0.0)
                if decay
                else (keras.optimizers.Adam(rate))
            )
        else:
            optimizer = keras.optimizers.SGD(rate, momentum=0.9, nesterov=True, weight_decay=decay)
        augment = None
        if trainer.augment:
            steps_aug = [keras.layers.RandomTranslation(0.1, 0.1, seed=int(trainer.seed))]
            if trainer.flip:
                steps_aug.append(keras.layers.RandomFlip("horizontal", seed=int(trainer.seed)))
            augment = keras.Sequential(steps_aug, name="augment")

        if trainer.loss == "softmax":
            fitter = model
            model.compile(
                optimizer=optimizer,
                loss=keras.losses.CategoricalCrossentropy(
                    from_logits=True, label_smoothing=float(trainer.label_smoothing)
                ),
                metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
            )

            def dataset(idx: np.ndarray, shuffle: bool) -> Any:
                one_hot = np.eye(n_classes, dtype=np.float32)[y_train[idx]]
                ds = tf.data.Dataset.from_tensor_slices((x_train[idx], one_hot))
                if shuffle:
                    ds = ds.shuffle(len(idx), seed=int(trainer.seed), reshuffle_each_iteration=True)
                ds = ds.batch(int(trainer.batch_size))
                if shuffle and augment is not None:
                    ds = ds.map(lambda x, y: (augment(x, training=True), y))
                return ds.prefetch(2)

        else:
            fitter = _embedding_trainer(model, trainer, n_classes, augment)
            fitter.compile(optimizer=optimizer)

            def dataset(idx: np.ndarray, shuffle: bool) -> Any:
                return _identity_batches(x_train[idx], y_train[idx], trainer, shuffle)

    folder.mkdir(parents=True, exist_ok=True)
    best = folder / "best.weights.h5"
    callbacks: list[Any] = [
        keras.callbacks.BackupAndRestore(str(folder / "checkpoint")),
        keras.callbacks.TerminateOnNaN(),
        _EpochLines(say, label, int(trainer.epochs)),
    ]
    val_ds = dataset(val_idx, shuffle=False) if len(val_idx) else None
    if val_ds is not None:
        callbacks += [
            keras.callbacks.ModelCheckpoint(
                str(best), monitor="val_loss", save_best_only=True, save_weights_only=True
            ),
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=int(trainer.patience)),
        ]
    t0 = time.perf_counter()
    history = fitter.fit(
        dataset(fit_idx, shuffle=True),
        shuffle=False,  # the pipeline shuffles, with its seed
        validation_data=val_ds,
        epochs=int(trainer.epochs),
        callbacks=callbacks,
        verbose=int(trainer.verbose),
    )
    seconds = time.perf_counter() - t0
    hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    losses = hist.get("loss", [])
    if losses and not np.isfinite(losses[-1]):
        raise TrainingError(
            f"train {label}: the loss became NaN at epoch {len(losses)}; lower the "
            f"learning_rate. The last good epoch's checkpoint is kept in {folder / 'checkpoint'}"
        )
    if val_ds is not None and best.is_file():
        fitter.load_weights(str(best))
    card: dict[str, Any] = {
        "format": TRAIN_FORMAT,
        "label": label,
        "architecture": architecture,
        "architecture_params": architecture_params,
        "trainer": trainer.get_params(deep=False),
        "data": {
            "name": data.name,
            "n_train": len(fit_idx),
            "n_validation": len(val_idx),
            "n_test": len(test_rows),
            "fingerprint": data.fingerprint(),
            "transforms": [t.spec() for t in data.transforms],
        },
        "classes": [str(c) for c in classes],
        "input_shape": [int(s) for s in images.shape[1:]],
        "history": hist,
        "epochs_run": len(losses),
        "seconds": round(seconds, 2),
        "replicas": int(strategy.num_replicas_in_sync),
        "versions": _versions(),
    }
    if len(test_rows) and trainer.loss in ("softmax", "softmax_contrastive"):
        known = np.isin(labels[test_rows], classes)
        logits = model.predict(images[test_rows][known], batch_size=512, verbose=0)
        predicted = classes[np.argmax(logits, axis=1)]
        accuracy = float(np.mean(predicted == labels[test_rows][known]))
        card["test"] = {
            "n_images": int(known.sum()),
            "accuracy": round(accuracy, 6),
            "error": round(1.0 - accuracy, 6),
        }
        say(f"train {label}: test accuracy {accuracy:.4f} on {int(known.sum())} images of A")
    model_path = folder / "model.keras"
    tmp = folder / "model.tmp.keras"
    model.save(str(tmp))
    os.replace(tmp, model_path)
    card["sha256"] = _sha256(model_path)
    (folder / "model.json").write_text(json.dumps(card, indent=1, default=str))
    shutil.rmtree(folder / "checkpoint", ignore_errors=True)  # our own, finished
    best.unlink(missing_ok=True)
    return card
