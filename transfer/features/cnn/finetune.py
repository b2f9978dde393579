"""Fine-tune a pretrained CNN on a dataset A, then use it as a frozen extractor on B.

:class:`FineTunedCNN` takes a pretrained network (any ``weights`` that
:class:`~transfer.features.cnn.CNNFeatures` accepts), replaces its classifier
by a new one for the classes of the training labels, trains that classifier
together with the top ``unfreeze_blocks`` blocks of the backbone, and then
serves the activations of the *fine-tuned* network as features, exactly as
:class:`CNNFeatures` serves those of the pretrained one. A saved model
(:meth:`FineTunedCNN.save`) is a plain ``.keras`` file with a JSON card, which
``CNNFeatures(weights="model.keras")`` reads back with the same features.

Design choices
--------------
* **Preprocessing and resizing** are not layers of the saved model: the saved
  network takes input already scaled as the base weights require, like every
  pretrained backbone here, and its card names that mode. Training applies
  the same :func:`transfer.weights.preprocess_mode` and the same antialiased
  bilinear resize inside the ``tf.data`` graph; features and predictions
  apply them inside the compiled feature function
  (:func:`~transfer.features.network.make_forward`). The saved model
  therefore holds built-in Keras layers only (no ``Lambda``, no custom layer
  for the channel flip of "caffe" or the per-channel scaling of "torch") and
  loads with ``safe_mode=True`` without importing this module.
* **Augmentation** (random horizontal flip, translation and zoom of up to
  10 %, Keras preprocessing layers with ``fill_mode="reflect"``) runs in the
  training model only, which wraps the network and is never saved. The
  geometric transforms commute with the per-pixel affine preprocessing, so
  applying them after it is the same as before it.
* **BatchNormalization** layers are all frozen (``trainable = False``, which
  in Keras 3 also makes them run in inference mode): their moving statistics
  and their scale/offset keep the pretrained values, including in the
  unfrozen blocks. With the few hundred images and small batches typical of
  a target dataset, batch statistics are noisy, and updating the moving
  averages would shift the inputs of every layer above; this is the practice
  of the Keras transfer-learning guide.
* **Learning rates**: the new classifier trains with Adam at
  ``learning_rate``; the unfrozen backbone layers with a second Adam at
  ``learning_rate * backbone_lr_scale`` (default a tenth), so the pretrained
  filters move slowly while the randomly initialised classifier settles.
  (Adam is invariant to gradient scaling, hence two optimizers rather than
  scaled gradients.)
* **Multi-label targets** (a 0/1 matrix, one column per binary label, such
  as CelebA's 40 face attributes) train one sigmoid output per label with
  binary cross-entropy, the multi-task attribute networks of Liu et al. [4]_
  and Rudd et al. [5]_ (MOON; without its re-weighting of unbalanced
  attributes): everything else (optimizers, unfrozen blocks, augmentation,
  early stopping) is the single-label path. A stratified split on 40 labels
  does not exist, so the validation rows are drawn by iterative
  stratification (:func:`transfer.protocols.attributes.iterative_stratification`),
  which keeps every label's positive rate close in both parts.
* **Seeding**: ``random_state`` seeds Python, NumPy and TensorFlow through
  ``keras.utils.set_random_seed``, which is process-global: it resets the
  seeds of everything else in the process too. ``random_state=None`` leaves
  the global seeds alone (and the result then varies from run to run).

References
----------
.. [1] J. Yosinski, J. Clune, Y. Bengio, H. Lipson, "How transferable are
   features in deep neural networks?", NeurIPS 2014.
.. [2] A. S. Razavian, H. Azizpour, J. Sullivan, S. Carlsson, "CNN Features
   off-the-shelf: an Astounding Baseline for Recognition", CVPR Workshops 2014.
.. [3] Y. Sun, X. Wang, X. Tang, "Deep Learning Face Representation by Joint
   Identification-Verification" (DeepID2), NeurIPS 2014.
.. [4] Z. Liu, P. Luo, X. Wang, X. Tang, "Deep Learning Face Attributes in the
   Wild", ICCV 2015.
.. [5] E. M. Rudd, M. Günther, T. E. Boult, "MOON: A Mixed Objective
   Optimization Network for the Recognition of Facial Attributes", ECCV 2016.
"""

from __future__ import annotations

import hashlib
import json
import numbers
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from transfer._io import atomic_write, atomic_write_text
from transfer._quiet import import_tensorflow
from transfer._registry import register_extractor
from transfer._validation import NONE, InstanceOf, Interval, Options, SequenceOf
from transfer.data.imageset import ImageSet
from transfer.features.base import to_jsonable
from transfer.features.cnn.backbones import BACKBONES, Backbone
from transfer.features.cnn.extractor import read_model_card, resolve_weights
from transfer.features.network import (
    MULTILABEL_SUFFIX,
    RUNTIMES,
    NetworkExtractor,
    ResolvedWeights,
    _tap_model,
    build_forward,
    extract,
    is_decodable_file_set,
    load_network,
    model_digest,
    stage_tensor,
    to_rgb,
)
from transfer.weights.records import WEIGHTS, get_record, preprocess_mode

__all__ = ["FineTunedCNN"]

#: Format tag of the card written by :meth:`FineTunedCNN.save`.
CARD_FORMAT = "transfer.finetuned/1"
#: Names of the layers added on top of the pretrained network.
HEAD_LAYERS = ("finetune_flatten", "finetune_pool", "finetune_dropout", "finetune_logits")


def _model_to_bytes(model: Any) -> bytes:
    """A Keras model as the bytes of a ``.keras`` file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        return path.read_bytes()


def _model_from_bytes(data: bytes) -> Any:
    import_tensorflow()  # the first import after unpickling in a fresh process
    import keras

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        path.write_bytes(data)
        return keras.saving.load_model(path, compile=False, safe_mode=True)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function, without overflow: ``exp`` only of non-positive numbers."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype, copy=False)


def _backbone_of(resolved: ResolvedWeights) -> Backbone | None:
    """The backbone preset of resolved weights; a fine-tuned model names it in its card."""
    if resolved.backbone is not None:
        return resolved.backbone
    if resolved.kind == "model":
        name = read_model_card(Path(resolved.path)).get("backbone")
        return BACKBONES.get(name) if name else None
    return None


def _trainable_start(body: Sequence[Any], backbone: Backbone | None, k: int) -> int:
    """Index of the first layer of ``body`` to train for ``unfreeze_blocks=k``."""
    if k == -1:
        return 0
    if k == 0:
        return len(body)
    if backbone is None:
        raise ValueError(
            f"FineTunedCNN: 'unfreeze_blocks'={k} needs the backbone's block layout, which these "
            "weights do not give; use unfreeze_blocks=0 (classifier only) or -1 (all layers)"
        )
    blocks: list[str] = []
    for layer in body:
        block = backbone.block_of(layer.name)
        if block is not None and block not in blocks:
            blocks.append(block)
    if not blocks:
        raise ValueError(
            f"FineTunedCNN: no layer of the {backbone.name!r} network matches its block pattern "
            f"{backbone.block_pattern!r}; use unfreeze_blocks=0 or -1"
        )
    top = set(blocks[-k:])
    return min(i for i, layer in enumerate(body) if backbone.block_of(layer.name) in top)


def _make_trainer(net: Any, augment: Any, body_optimizer: Any, head_ids: set[int]) -> Any:
    """A training wrapper: augmentation, then ``net``; two optimizers.

    Never saved: only ``net`` is. The new classifier's variables (``head_ids``)
    go to the compiled optimizer, the backbone's to ``body_optimizer``.
    """
    import keras
    import tensorflow as tf

    class _Trainer(keras.Model):
        def __init__(self) -> None:
            super().__init__(name="finetune_trainer")
            self.net = net
            self.augment = augment

        def call(self, x: Any, training: bool = False) -> Any:
            if self.augment is not None:
                x = self.augment(x, training=training)
            return self.net(x, training=training)

        def train_step(self, data: Any) -> dict:
            x, y = data
            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
            variables = self.trainable_variables
            grads = tape.gradient(loss, variables)
            head = [(g, v) for g, v in zip(grads, variables, strict=True) if id(v) in head_ids]
            body = [(g, v) for g, v in zip(grads, variables, strict=True) if id(v) not in head_ids]
            self.optimizer.apply([g for g, _ in head], [v for _, v in head])
            if body:
                body_optimizer.apply([g for g, _ in body], [v for _, v in body])
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
            return self.compute_metrics(x, y, y_pred)

    return _Trainer()


@register_extractor("cnn_finetuned")
class FineTunedCNN(NetworkExtractor):
    """A pretrained CNN fine-tuned on labelled images, then used as a feature extractor.

    ``fit(X, y)`` replaces the network's classifier by ``Dropout`` and a new
    ``Dense`` layer (``"finetune_logits"``, one output per class of ``y``),
    trains it with the top ``unfreeze_blocks`` blocks of the backbone (cross
    entropy, Adam, augmentation, early stopping on a stratified validation
    split), and compiles the feature function of the fine-tuned network.
    ``transform`` then returns the activations of ``layer`` of that network
    (by default the pooled vector under the new classifier), and
    ``predict`` / ``predict_proba`` its own softmax classifier, the baseline
    that a linear head on the features should be compared with.

    ``y`` is either one class label per image (1-D, or a single column),
    or a matrix of shape (n_images, n_labels) with ``n_labels >= 2`` binary
    labels, given as 0/1 (int, float or bool) or, as in CelebA's attribute
    file, as -1/1. With a matrix, the new layer has one output per column,
    trained with sigmoid binary cross-entropy [4]_ [5]_; ``predict_proba``
    then gives each label's probability and ``predict`` the 0/1 matrix.
    Every column must take both values in the training images.

    Parameters
    ----------
    weights : str, default="mobilenet_v1_1.0_224"
        The pretrained network, as for :class:`CNNFeatures`: a prepared
        weights name, ``"imagenet"`` (with ``backbone``), a weights file (with
        ``backbone``) or a ``.keras`` model saved by :meth:`save`.
    layer : str or list of str, default="global_pool"
        What ``transform`` returns, from the fine-tuned network: a stage
        ("global_pool", "logits", "predictions", the latter two of the *new*
        classifier), a Keras layer name, or a list of these (concatenated).
    backbone : str, optional
        A name of :data:`transfer.features.cnn.BACKBONES`, as for
        :class:`CNNFeatures`.
    unfreeze_blocks : int, default=2
        How many blocks to train, counted from the top as
        :meth:`Backbone.block_of` groups layers, together with every layer
        after the last block (such as a head convolution); more blocks than
        the network has means all blocks (the stem stays frozen). ``0``
        trains the new classifier only, ``-1`` every layer. BatchNormalization
        layers stay frozen in all cases (see the module notes).
    epochs : int, default=5
        Most passes over the training images (early stopping may end sooner).
    learning_rate : float, default=1e-3
        Adam learning rate of the new classifier.
    backbone_lr_scale : float, default=0.1
        The unfrozen backbone layers train at ``learning_rate *
        backbone_lr_scale``.
    batch_size : int, default=32
        Images per training step and per forward pass of ``transform``.
    input_size : int, optional
        Side of the square network input; default the weights' own. Smaller
        sides (96, 128) make CPU training several times faster.
    augment : bool, default=True
        Random horizontal flips, translations and zooms (up to 10 %) of the
        training images.
    validation_fraction : float, default=0.1
        Share of the training images held out (stratified on the classes,
        or by iterative stratification over all labels of a multi-label
        ``y``) for early stopping on the validation loss; the weights of the
        best epoch are kept. ``0`` trains for ``epochs`` epochs without
        validation.
    patience : int, default=2
        Epochs without improvement of the validation loss before stopping.
    dropout : float, default=0.2
        Dropout rate before the new classifier.
    random_state : int or None, default=0
        Seeds Python, NumPy and TensorFlow (``keras.utils.set_random_seed``,
        process-global), the validation split, the shuffling and the
        augmentation. None leaves the global seeds alone.
    verbose : int, default=0
        Keras' ``fit`` verbosity.
    runtime : {"auto", "tensorflow", "tflite", "openvino"}, default="auto"
        What runs the fine-tuned network in ``transform`` and ``predict``, as
        for :class:`~transfer.features.cnn.CNNFeatures`: the fastest engine
        that matches TensorFlow on a few images, else TensorFlow with a
        warning.
        The converted network is cached on disk under the sha256 of the
        fine-tuned weights (``weights_sha256_``). Training always runs in
        TensorFlow.
    image_shape : (int, int), optional
        Shape of flattened grey images given as rows of a 2-D array.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,) or (n_labels,)
        Labels seen in ``fit``, in the order of the classifier's outputs;
        for multi-label ``y``, the column indices ``0 .. n_labels - 1`` (as
        scikit-learn's ``OneVsRestClassifier``).
    multilabel_ : bool
        Whether ``y`` was a label matrix (sigmoid outputs) rather than one
        class per image (softmax).
    n_outputs_ : int
        Outputs of the new classifier: classes, or labels.
    history_ : dict of str to list of float
        Per-epoch ``loss``, ``accuracy`` (and ``val_loss``, ``val_accuracy``);
        for multi-label ``y`` the accuracy is the binary accuracy over all
        labels (the mean of the per-label accuracies).
    n_epochs_ : int
        Epochs run.
    best_val_accuracy_ : float or None
        Validation accuracy of the kept epoch (None without validation).
    trainable_layers_ : list of str
        Names of the pretrained layers whose weights were trained.
    input_size_ : int
        Side of the network input used.
    preprocessing_ : str
        The preprocessing mode of the base weights (applied before the
        network, see the module notes).
    weights_sha256_ : str
        sha256 over the fine-tuned weights; part of :meth:`cache_key`.
    image_shape_ : tuple
        Shape of one training image.

    References
    ----------
    .. [1] J. Yosinski, J. Clune, Y. Bengio, H. Lipson, "How transferable are
       features in deep neural networks?", NeurIPS 2014.
    .. [2] A. S. Razavian, H. Azizpour, J. Sullivan, S. Carlsson, "CNN
       Features off-the-shelf: an Astounding Baseline for Recognition",
       CVPR Workshops 2014.
    .. [3] Y. Sun, X. Wang, X. Tang, "Deep Learning Face Representation by
       Joint Identification-Verification", NeurIPS 2014.
    .. [4] Z. Liu, P. Luo, X. Wang, X. Tang, "Deep Learning Face Attributes
       in the Wild", ICCV 2015.
    .. [5] E. M. Rudd, M. Günther, T. E. Boult, "MOON: A Mixed Objective
       Optimization Network for the Recognition of Facial Attributes",
       ECCV 2016.

    Examples
    --------
    >>> from transfer.features.cnn.finetune import FineTunedCNN
    >>> ft = FineTunedCNN("efficientnet_lite0", input_size=96, epochs=3)  # doctest: +SKIP
    >>> ft.fit(images_a, labels_a).transform(images_b).shape  # doctest: +SKIP
    (n_images_b, 1280)
    >>> ft.save("lite0_ft.keras")  # then CNNFeatures(weights="lite0_ft.keras")  # doctest: +SKIP

    Multi-label (``attributes``: an (n_images, 40) 0/1 matrix):

    >>> ft = FineTunedCNN("mobilenet_v2_1.0_224", input_size=96)  # doctest: +SKIP
    >>> ft.fit(faces, attributes)  # doctest: +SKIP
    >>> ft.predict(faces_test).shape, ft.predict_proba(faces_test).shape  # doctest: +SKIP
    ((n_test, 40), (n_test, 40))
    """

    _parameter_constraints: dict = {
        **NetworkExtractor._parameter_constraints,
        "weights": [InstanceOf(str), InstanceOf(os.PathLike)],
        "backbone": [NONE, Options((*sorted(BACKBONES), *BACKBONES.aliases))],
        "layer": [InstanceOf(str), SequenceOf(InstanceOf(str))],
        "unfreeze_blocks": [Interval(numbers.Integral, -1, None)],
        "epochs": [Interval(numbers.Integral, 1, None)],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "backbone_lr_scale": [Interval(numbers.Real, 0, None, closed="neither")],
        "batch_size": [Interval(numbers.Integral, 1, None)],
        "input_size": [NONE, Interval(numbers.Integral, 32, None)],
        "augment": [InstanceOf(bool)],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
        "patience": [Interval(numbers.Integral, 0, None)],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "random_state": [NONE, Interval(numbers.Integral, 0, 2**32 - 1)],
        "verbose": [Interval(numbers.Integral, 0, 2)],
        "runtime": [Options(RUNTIMES)],
    }
    _cache_version = 1

    def __init__(
        self,
        weights: str = "mobilenet_v1_1.0_224",
        layer: str | Sequence[str] = "global_pool",
        *,
        backbone: str | None = None,
        unfreeze_blocks: int = 2,
        epochs: int = 5,
        learning_rate: float = 1e-3,
        backbone_lr_scale: float = 0.1,
        batch_size: int = 32,
        input_size: int | None = None,
        augment: bool = True,
        validation_fraction: float = 0.1,
        patience: int = 2,
        dropout: float = 0.2,
        random_state: int | None = 0,
        verbose: int = 0,
        runtime: str = "auto",
        image_shape: Any = None,
    ) -> None:
        self.weights = weights
        self.layer = layer
        self.backbone = backbone
        self.unfreeze_blocks = unfreeze_blocks
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.backbone_lr_scale = backbone_lr_scale
        self.batch_size = batch_size
        self.input_size = input_size
        self.augment = augment
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.dropout = dropout
        self.random_state = random_state
        self.verbose = verbose
        self.runtime = runtime
        self.image_shape = image_shape

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.target_tags.required = True
        return tags

    # -- the live model (never pickled as such) ----------------------------
    def __getstate__(self) -> dict:
        state = super().__getstate__()  # a copy, without _live_attributes
        net = state.pop("_net", None)
        if net is not None and state.get("_model_bytes") is None:
            state["_model_bytes"] = self.__dict__["_model_bytes"] = _model_to_bytes(net)
        return state

    def _network(self) -> Any:
        """The fine-tuned Keras network (rebuilt from its bytes after unpickling)."""
        net = self.__dict__.get("_net")
        if net is None:
            check_is_fitted(self)
            net = self._net = _model_from_bytes(self._model_bytes)
        return net

    def _make_forward(self, layers: tuple[str, ...]) -> Any:
        """The feature function of the fine-tuned network for ``layers`` (:func:`build_forward`)."""
        return build_forward(
            self._network(),
            layers,
            preprocessing=self.preprocessing_,
            input_size=self.input_size_,
            batch_size=int(self.batch_size),
            label=f"the fine-tuned model of {str(self.weights)!r}",
            runtime=str(self.runtime),
        )

    def _input_size(self) -> int:
        return self.input_size_

    # -- fitting ------------------------------------------------------------
    def _labels(self, X: Any, y: Any) -> np.ndarray:
        if y is None and isinstance(X, ImageSet):
            y = X.labels
        if y is None:
            raise ValueError(
                "FineTunedCNN.fit needs labels: pass y (one per image) or an ImageSet with labels"
            )
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:  # a column vector: one class per image
            y = y[:, 0]
        if y.ndim == 2:
            if len(y) != len(X):
                raise ValueError(
                    f"FineTunedCNN.fit: a 2-D y (multi-label) must have one row per image "
                    f"({len(X)}), got shape {y.shape}"
                )
            return y
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(
                f"FineTunedCNN.fit: y must hold one label per image ({len(X)}), got shape {y.shape}"
            )
        return y

    @staticmethod
    def _targets(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """``(classes_, targets, multilabel)``: what the loss trains on, from checked labels.

        ``targets`` are the class codes (int32) of 1-D labels, or the 0/1
        matrix (float32) of 2-D ones, whose ``classes_`` are the column
        indices.
        """
        if labels.ndim == 1:
            classes, codes = np.unique(labels, return_inverse=True)
            if len(classes) < 2:
                raise ValueError(
                    f"FineTunedCNN.fit needs at least 2 classes, got only {classes.tolist()}"
                )
            return classes, codes.astype(np.int32), False
        # type_of_target calls any two-valued integer matrix ({1, 2}, {-1, 1})
        # "multilabel-indicator": the values are checked here instead
        if labels.dtype.kind not in "biuf":
            raise ValueError(
                f"FineTunedCNN.fit: a 2-D y (multi-label) must be numeric 0/1 (or -1/1), "
                f"got dtype {labels.dtype}"
            )
        values = labels.astype(np.float64)
        if np.isin(values, (-1.0, 1.0)).all() and (values == -1).any():
            values = (values == 1).astype(np.float64)  # CelebA's -1/1 coding
        bad = ~np.isin(values, (0.0, 1.0))
        if bad.any():
            col = int(np.flatnonzero(bad.any(axis=0))[0])
            found = np.unique(labels[:, col][bad[:, col]])[:5].tolist()
            raise ValueError(
                f"FineTunedCNN.fit: y column {col} holds {found}; a 2-D y (multi-label) must be "
                "0/1 (int, float or bool) or -1/1 throughout"
            )
        constant = np.flatnonzero(values.min(axis=0) == values.max(axis=0))
        if len(constant):
            which = ", ".join(f"{int(c)} (always {int(values[0, c])})" for c in constant[:10]) + (
                ", ..." if len(constant) > 10 else ""
            )
            raise ValueError(
                f"FineTunedCNN.fit: y column(s) {which} take one value in all {len(values)} "
                "training images; every label column of a 2-D y (multi-label) needs both 0 "
                "and 1 to be learnt: drop those columns"
            )
        return np.arange(labels.shape[1]), values.astype(np.float32), True

    def _split(self, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(train, validation)`` row indices: stratified on the classes, or on the labels."""
        idx = np.arange(len(targets))
        if self.validation_fraction == 0:
            return idx, idx[:0]
        if targets.ndim == 2:
            return self._multilabel_split(targets)
        codes = targets
        from sklearn.model_selection import train_test_split

        try:
            train, val = train_test_split(
                idx,
                test_size=float(self.validation_fraction),
                stratify=codes,
                random_state=self.random_state,
            )
        except ValueError as exc:
            raise ValueError(
                f"FineTunedCNN: validation_fraction={self.validation_fraction} cannot make a "
                f"stratified validation split of {len(codes)} images in "
                f"{len(np.unique(codes))} classes ({exc}); give more images per class or set "
                "validation_fraction=0 (no early stopping)"
            ) from None
        return np.sort(train), np.sort(val)

    def _multilabel_split(self, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Validation rows drawn by iterative stratification over all labels."""
        # imported here: the protocols package is not needed to extract features
        from transfer.protocols.attributes import iterative_stratification

        frac = float(self.validation_fraction)
        if self.random_state is None:  # a fresh split each fit, as documented
            seed = int(np.random.default_rng().integers(2**31 - 1))
        else:
            seed = int(self.random_state)
        fold = iterative_stratification(Y, np.array([frac, 1.0 - frac]), seed)
        val, train = np.flatnonzero(fold == 0), np.flatnonzero(fold == 1)
        if not len(val) or not len(train):
            raise ValueError(
                f"FineTunedCNN: validation_fraction={self.validation_fraction} leaves "
                f"{len(val)} validation and {len(train)} training images of {len(Y)}; give "
                "more images or set validation_fraction=0 (no early stopping)"
            )
        return train, val

    def _dataset(
        self, X: Any, indices: np.ndarray, targets: np.ndarray, *, shuffle: bool, seed: int | None
    ) -> Any:
        """Resized, preprocessed images with their targets, as a ``tf.data`` pipeline.

        ``targets`` are class codes (1-D) or a 0/1 label matrix (2-D, fed as
        float32 to the binary cross-entropy).

        Arrays are sliced; an ImageSet of image files is decoded image by
        image after shuffling the paths, and any other ImageSet is read one
        image at a time, so memory holds a few batches whatever its size.
        """
        import tensorflow as tf

        size, mode = self.input_size_, self.preprocessing_
        labels = targets[indices]
        labels = labels.astype(np.float32 if labels.ndim == 2 else np.int32)

        def finish(img: Any) -> Any:
            if img.shape[0] != size or img.shape[1] != size:
                img = tf.image.resize(img, (size, size), method="bilinear", antialias=True)
            return preprocess_mode(mode, img)

        if isinstance(X, ImageSet) and X.images is not None and not X.transforms:
            X = np.asarray(X.images)
        if isinstance(X, np.ndarray):
            source = tf.data.Dataset.from_tensor_slices((to_rgb(X[indices]), labels))

            def load(img: Any, label: Any) -> tuple[Any, Any]:
                return finish(img), label

        elif is_decodable_file_set(X):
            paths = np.asarray([str(X.paths[i]) for i in indices])
            source = tf.data.Dataset.from_tensor_slices((paths, labels))

            def load(path: Any, label: Any) -> tuple[Any, Any]:
                raw = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
                img = tf.image.resize(tf.cast(raw, tf.float32), (size, size), antialias=True)
                return preprocess_mode(mode, tf.clip_by_value(img, 0.0, 255.0)), label

        else:
            source = tf.data.Dataset.from_tensor_slices((indices.astype(np.int64), labels))

            def read(i: np.ndarray) -> np.ndarray:
                return to_rgb(next(X.iter_batches(1, indices=[int(i)])))[0]

            def load(i: Any, label: Any) -> tuple[Any, Any]:
                img = tf.numpy_function(read, [i], tf.float32)
                img.set_shape((None, None, 3))
                img = tf.image.resize(img, (size, size), method="bilinear", antialias=True)
                return preprocess_mode(mode, img), label

        if shuffle:
            source = source.shuffle(len(indices), seed=seed, reshuffle_each_iteration=True)
        return (
            source.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .batch(int(self.batch_size))
            .prefetch(tf.data.AUTOTUNE)
        )

    def _build_network(
        self, base: Any, n_outputs: int, seed: int | None, multilabel: bool = False
    ) -> Any:
        """The pretrained network up to its pooled vector, then Dropout and a new classifier.

        The classifier outputs logits (``n_outputs``: classes or labels);
        softmax or sigmoid belong to the loss and to :meth:`predict_proba`. A
        multi-label network's name ends in ``MULTILABEL_SUFFIX``, so that its
        "predictions" stage is a sigmoid wherever the saved model is loaded.
        """
        import keras

        pooled, _ = stage_tensor(base, "global_pool")
        x = pooled
        if len(x.shape) == 4 and tuple(x.shape[1:3]) == (1, 1):  # a keepdims pooling
            x = keras.layers.Flatten(name="finetune_flatten")(x)
        elif len(x.shape) == 4:  # a feature map (VGG): average it
            x = keras.layers.GlobalAveragePooling2D(name="finetune_pool")(x)
        x = keras.layers.Dropout(float(self.dropout), seed=seed, name="finetune_dropout")(x)
        init = keras.initializers.GlorotUniform(seed=seed)
        logits = keras.layers.Dense(n_outputs, kernel_initializer=init, name="finetune_logits")(x)
        suffix = MULTILABEL_SUFFIX if multilabel else ""
        return keras.Model(base.inputs, logits, name=f"{base.name}_finetuned{suffix}")

    def _freeze(self, net: Any, backbone: Backbone | None) -> list[str]:
        """Set ``trainable`` per layer; returns the pretrained layers that will train."""
        import keras

        body = [
            lyr
            for lyr in net.layers
            if lyr.name not in HEAD_LAYERS and not isinstance(lyr, keras.layers.InputLayer)
        ]
        start = _trainable_start(body, backbone, int(self.unfreeze_blocks))
        trained = []
        for i, lyr in enumerate(body):
            # BatchNormalization: frozen (inference mode, pretrained statistics) everywhere
            lyr.trainable = i >= start and not isinstance(lyr, keras.layers.BatchNormalization)
            if lyr.trainable and lyr.weights:
                trained.append(lyr.name)
        return trained

    def _fit(self, X: Any, y: Any) -> None:
        import_tensorflow()
        import keras

        self._reset_forward()
        for attr in ("_net", "_model_bytes"):
            self.__dict__.pop(attr, None)
        self.classes_, targets, self.multilabel_ = self._targets(self._labels(X, y))
        self.n_outputs_ = len(self.classes_)
        train_idx, val_idx = self._split(targets)
        resolved = resolve_weights(str(self.weights), self.backbone, self.input_size)
        self.input_size_ = int(resolved.input_size)
        self.preprocessing_ = resolved.preprocessing
        self.base_weights_sha256_ = self._base_sha256(resolved)
        seed = None if self.random_state is None else int(self.random_state)
        if seed is not None:
            keras.utils.set_random_seed(seed)  # process-global: see the module notes

        base = load_network(resolved)
        net = self._build_network(base, self.n_outputs_, seed, self.multilabel_)
        self.trainable_layers_ = self._freeze(net, _backbone_of(resolved))
        self._net = net
        # an unknown layer fails before training; nothing is compiled or converted yet
        # (a converted engine would freeze the weights before they are trained)
        _tap_model(net, self._feature_layers(), f"the fine-tuned model of {str(self.weights)!r}")

        train_ds = self._dataset(X, train_idx, targets, shuffle=True, seed=seed)
        val_ds = (
            self._dataset(X, val_idx, targets, shuffle=False, seed=seed) if len(val_idx) else None
        )
        augment = None
        if self.augment:
            s = (lambda k: None) if seed is None else (lambda k: seed + k)
            augment = keras.Sequential(
                [
                    keras.layers.RandomFlip("horizontal", seed=s(1)),
                    keras.layers.RandomTranslation(0.1, 0.1, fill_mode="reflect", seed=s(2)),
                    keras.layers.RandomZoom(0.1, fill_mode="reflect", seed=s(3)),
                ],
                name="finetune_augment",
            )
        head = net.get_layer("finetune_logits")
        head_vars = list(head.trainable_variables)
        body_vars = [v for v in net.trainable_variables if all(v is not h for h in head_vars)]
        head_opt = keras.optimizers.Adam(float(self.learning_rate))
        body_opt = keras.optimizers.Adam(float(self.learning_rate * self.backbone_lr_scale))
        head_opt.build(head_vars)
        if body_vars:
            body_opt.build(body_vars)
        trainer = _make_trainer(net, augment, body_opt, {id(v) for v in head_vars})
        if self.multilabel_:
            loss = keras.losses.BinaryCrossentropy(from_logits=True)
            # on logits, a probability of 0.5 is a logit of 0
            metric = keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)
        else:
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            metric = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        trainer.compile(
            optimizer=head_opt,
            loss=loss,
            metrics=[metric],
            jit_compile=False,  # XLA compilation costs more than it saves for a few epochs
        )
        callbacks = []
        if val_ds is not None:
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor="val_loss", patience=int(self.patience), restore_best_weights=True
                )
            )
        t0 = time.perf_counter()
        history = trainer.fit(
            train_ds,
            validation_data=val_ds,
            epochs=int(self.epochs),
            callbacks=callbacks,
            shuffle=False,  # the pipeline shuffles, with its seed
            verbose=int(self.verbose),
        )
        self.fit_seconds_ = time.perf_counter() - t0
        self.history_ = {k: [float(v) for v in vals] for k, vals in history.history.items()}
        self.n_epochs_ = len(self.history_.get("loss", []))
        if "val_loss" in self.history_:
            best = int(np.argmin(self.history_["val_loss"]))
            self.best_val_accuracy_ = self.history_["val_accuracy"][best]
        else:
            self.best_val_accuracy_ = None
        self.weights_sha256_ = model_digest(net)
        self._reset_forward()  # built on first use, from the trained weights

    def _base_sha256(self, resolved: ResolvedWeights) -> str | None:
        """sha256 of the file the base weights load from (None for Keras' download)."""
        from transfer.weights.store import ensure, sha256_file

        if resolved.kind == "prepared":
            return sha256_file(ensure(str(self.weights)))  # also checks the recorded sha256
        if resolved.path is not None:
            return sha256_file(resolved.path)
        return None

    # -- features and predictions -------------------------------------------
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class (or label) probabilities of the fine-tuned network's own classifier.

        Parameters
        ----------
        X : ndarray of shape (n_samples, height, width[, channels]) or ImageSet
            Images with values in [0, 255].

        Returns
        -------
        ndarray of shape (n_samples, n_classes) or (n_samples, n_labels), float32
            Columns in the order of ``classes_``: the softmax over the classes,
            or for a multi-label fit each label's sigmoid probability.
        """
        check_is_fitted(self)
        if self.multilabel_:
            return _sigmoid(self._logits(X))
        return self._apply(self._forward(("predictions",)), X)

    def predict(self, X: Any) -> np.ndarray:
        """Labels from the fine-tuned network's own classifier.

        Parameters
        ----------
        X : ndarray of shape (n_samples, height, width[, channels]) or ImageSet
            Images with values in [0, 255].

        Returns
        -------
        ndarray of shape (n_samples,), or (n_samples, n_labels) of int64
            The most probable class; for a multi-label fit, the 0/1 matrix of
            the labels whose probability exceeds 0.5 (logit above 0).
        """
        check_is_fitted(self)
        if self.multilabel_:
            return (self._logits(X) > 0).astype(np.int64)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def _logits(self, X: Any) -> np.ndarray:
        # predict/predict_proba of a multi-label fit threshold or squash the
        # logits themselves (the "predictions" stage is their sigmoid too, but
        # only for networks built since MULTILABEL_SUFFIX named them)
        return self._apply(self._forward(("logits",)), X)

    def _apply(self, forward: Any, X: Any) -> np.ndarray:
        return extract(self, forward, X, self.input_size_)

    # -- persistence ------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the fine-tuned network as ``.keras`` and its card ``<stem>.json``.

        ``CNNFeatures(weights=path)`` then gives the features of
        :meth:`transform`; the card records the sha256 of the ``.keras`` file
        (checked on every load), the preprocessing the network's input
        expects, the input size, the base weights and their sha256, the
        classes, whether the classifier is multi-label (``"multilabel"``,
        ``"n_outputs"``, ``"output_activation"``: softmax or sigmoid of the
        ``"logits"`` stage), the training parameters and history, and the
        versions.
        Both files are written atomically, the model first.

        Parameters
        ----------
        path : str or PathLike
            Ending in ``.keras``.

        Returns
        -------
        Path
            The ``.keras`` file.
        """
        tf = import_tensorflow()
        import keras

        check_is_fitted(self)
        path = Path(path).expanduser()
        if path.suffix != ".keras":
            raise ValueError(f"FineTunedCNN.save: the path must end in '.keras', got {path}")
        data = self.__dict__.get("_model_bytes") or _model_to_bytes(self._network())
        self._model_bytes = data
        weights = str(self.weights)
        resolved_backbone = get_record(weights).architecture if weights in WEIGHTS else None
        card = {
            "format": CARD_FORMAT,
            "sha256": hashlib.sha256(data).hexdigest(),
            "preprocessing": self.preprocessing_,
            "input_size": int(self.input_size_),
            "backbone": self.backbone or resolved_backbone,
            "base_weights": weights,
            "base_weights_sha256": self.base_weights_sha256_,
            "base_source_sha256": get_record(weights).sha256 if weights in WEIGHTS else None,
            "weights_sha256": self.weights_sha256_,
            "classes": to_jsonable(self.classes_),
            "multilabel": bool(self.multilabel_),
            "n_outputs": int(self.n_outputs_),
            "output_activation": "sigmoid" if self.multilabel_ else "softmax",
            "params": to_jsonable(self.get_params(deep=False)),
            "trainable_layers": list(self.trainable_layers_),
            "history": self.history_,
            "n_epochs": self.n_epochs_,
            "best_val_accuracy": self.best_val_accuracy_,
            "keras": keras.__version__,
            "tensorflow": tf.__version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        atomic_write(path, lambda f: f.write(data))
        atomic_write_text(path.with_suffix(".json"), json.dumps(card, indent=2, default=str))
        return path

    # -- caching ----------------------------------------------------------------
    def _cache_identity(self) -> dict[str, Any]:
        """Once fitted, the sha256 of the fine-tuned weights and the classes.

        Each fit (each fold of the runner) trains different weights, so a
        fitted key never matches another fit's; an unfitted instance has a
        key of its parameters only, marked as unfitted.
        """
        fitted = self.__dict__.get("weights_sha256_")
        return {
            "fitted_weights_sha256": fitted,
            "classes": to_jsonable(self.classes_) if fitted else None,
        }
