"""The train stage: architectures, training with checkpoints, the trained
extractor, and recipes that learn on a dataset A and evaluate on B."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from transfer._registry import ARCHITECTURES
from transfer.data.imageset import ImageSet
from transfer.train import NetworkTrainer, TrainedFeatures, TrainingError, train_key, train_network
from transfer.train import trainer as trainer_module
from transfer_cli.main import main


def _build(name, shape, n=5, **params):
    return ARCHITECTURES.create(name, input_shape=shape, n_outputs=n, seed=0, **params)


def test_lenet5_layers_follow_the_paper():
    model = _build("lenet5", (28, 28, 1))
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    # 28x28 is padded to the paper's 32x32: C1 28x28x6, S2 14x14, C3 10x10x16, S4 5x5
    assert shapes["pad"] == (32, 32, 1)
    assert shapes["c1"] == (28, 28, 6) and shapes["s2"] == (14, 14, 6)
    assert shapes["c3"] == (10, 10, 16) and shapes["s4"] == (5, 5, 16)
    assert shapes["c5"] == (120,) and shapes["embedding"] == (84,) and shapes["logits"] == (5,)
    # C1 156, C3 2,416, C5 48,120, F6 10,164, output 85 * 5 weights
    assert model.count_params() == 156 + 2416 + 48120 + 10164 + 85 * 5


def test_other_architectures_name_their_layers():
    cnn = _build("convnetjs_cifar10", (32, 32, 3), n=10)
    assert tuple(cnn.get_layer("pool3").output.shape[1:]) == (4, 4, 20)
    assert tuple(cnn.get_layer("embedding").output.shape[1:]) == (320,)
    face = _build("deepid2", (55, 47, 3), n=7)
    # the identity layer sees both the third pooling and the fourth convolution
    inbound = {t.name for t in face.get_layer("multiscale").input}
    assert len(inbound) == 2
    assert tuple(face.get_layer("embedding").output.shape[1:]) == (160,)
    res = _build("small_resnet", (32, 32, 3), n=10)
    assert tuple(res.get_layer("embedding").output.shape[1:]) == (64,)
    assert tuple(res.get_layer("block3_2_out").output.shape[1:]) == (8, 8, 64)
    with pytest.raises(ValueError, match="input_shape"):
        _build("lenet5", (16, 16, 1))


def _stripes(n_per_class=40, size=16, seed=0, with_test=True):
    """Two classes: bright upper half / bright lower half, with noise and a test split."""
    rng = np.random.default_rng(seed)
    yy = np.mgrid[:size, :size][0]
    images, labels = [], []
    for c, mask in enumerate((yy < size // 2, yy >= size // 2)):
        for _ in range(n_per_class):
            images.append(40 + 150 * mask + rng.uniform(0, 60, (size, size)))
            labels.append(c)
    images, labels = np.asarray(images, np.float32), np.asarray(labels)
    order = rng.permutation(len(labels))
    images, labels = images[order], labels[order]
    split = None
    if with_test:
        split = np.where(np.arange(len(labels)) < int(0.75 * len(labels)), "train", "test")
    return _arrays(images, labels, "stripes", split)


def _arrays(images, labels, name, split=None):
    labels = np.asarray(labels)
    classes = tuple(str(c) for c in range(int(labels.max()) + 1))
    return ImageSet(name, labels, classes, images=np.asarray(images), split=split)


def test_train_network_learns_saves_and_reuses(tmp_path):
    data = _stripes()
    trainer = NetworkTrainer(epochs=6, batch_size=16, learning_rate=3e-3, validation_fraction=0.2)
    lines = []
    card = train_network("convnetjs_cifar10", {}, trainer, data, tmp_path / "n", say=lines.append)
    assert card["test"]["n_images"] == 20 and card["test"]["accuracy"] >= 0.9
    assert card["classes"] == ["0", "1"] and card["input_shape"] == [16, 16, 1]
    # one CPU: the default strategy, no replication
    assert card["replicas"] == 1
    assert len(card["history"]["val_loss"]) == card["epochs_run"]
    assert any("epoch 1/6" in line for line in lines)
    saved = json.loads((tmp_path / "n" / "model.json").read_text())
    assert saved["sha256"] == card["sha256"]
    assert not (tmp_path / "n" / "checkpoint").exists()
    import keras

    model = keras.saving.load_model(tmp_path / "n" / "model.keras", safe_mode=True)
    assert model.get_layer("embedding").output.shape[-1] == 4 * 4 * 20 // 4  # 16x16 -> 2x2x20
    # a finished training is read back, not repeated
    again = train_network("convnetjs_cifar10", {}, trainer, data, tmp_path / "n", say=lines.append)
    assert again == saved
    # the key covers the data and every parameter but verbosity
    key = train_key("convnetjs_cifar10", {}, trainer, data)
    assert key == train_key("convnetjs_cifar10", {}, trainer.set_params(verbose=1), data)
    assert key != train_key("convnetjs_cifar10", {}, NetworkTrainer(epochs=5), data)
    assert key != train_key("convnetjs_cifar10", {}, trainer, _stripes(seed=1))


@pytest.mark.slow  # a few seconds; a faster sibling covers the default suite
def test_a_killed_training_resumes_from_its_last_epoch(tmp_path, monkeypatch):
    data = _stripes(with_test=False)
    trainer = NetworkTrainer(epochs=3, batch_size=16, validation_fraction=0)

    def killed_at_epoch_2(line):
        if "epoch 2/3" in line:
            raise KeyboardInterrupt("kill")

    with pytest.raises(KeyboardInterrupt):
        train_network("convnetjs_cifar10", {}, trainer, data, tmp_path / "n", say=killed_at_epoch_2)
    assert (tmp_path / "n" / "checkpoint").exists() and not (tmp_path / "n" / "model.json").exists()
    lines = []
    card = train_network("convnetjs_cifar10", {}, trainer, data, tmp_path / "n", say=lines.append)
    epochs = [line for line in lines if "epoch" in line]
    assert epochs and all("epoch 3/3" in line for line in epochs)  # epochs 1-2 were kept
    assert card["epochs_run"] == 1


def test_a_nan_loss_stops_with_a_clear_error(tmp_path):
    data = _stripes(with_test=False)
    trainer = NetworkTrainer(
        epochs=2, optimizer="sgd", learning_rate=1e12, lr_schedule="constant", batch_size=8
    )
    with pytest.raises(TrainingError, match="NaN at epoch"):
        train_network("convnetjs_cifar10", {}, trainer, data, tmp_path / "n")
    assert not (tmp_path / "n" / "model.keras").exists()


def test_training_rejects_bad_data(tmp_path):
    one = _arrays(np.zeros((4, 16, 16), np.float32), np.zeros(4, int), "one")
    with pytest.raises(ValueError, match="at least 2 classes"):
        train_network("convnetjs_cifar10", {}, NetworkTrainer(), one, tmp_path / "a")
    lonely = _arrays(np.zeros((5, 16, 16), np.float32), np.array([0, 0, 0, 0, 1]), "lonely")
    with pytest.raises(ValueError, match="validation_fraction"):
        train_network("convnetjs_cifar10", {}, NetworkTrainer(), lonely, tmp_path / "b")
    with pytest.raises(ValueError, match="Did you mean 'lenet5'"):
        train_network("lenet", {}, NetworkTrainer(), _stripes(), tmp_path / "c")


@pytest.fixture(scope="module")
def trained_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("trained")
    trainer = NetworkTrainer(epochs=2, batch_size=16, validation_fraction=0)
    train_network("convnetjs_cifar10", {}, trainer, _stripes(with_test=False), folder)
    return folder / "model.keras"


def test_trained_features_at_named_layers(trained_file):
    X = _stripes(n_per_class=3, with_test=False).load()
    ext = TrainedFeatures(weights=str(trained_file), layer=["pool3", "embedding"], pooling="avg")
    F = ext.fit(X).transform(X)
    assert F.shape == (6, 20 + 80)  # pool3 averaged to 20, embedding (2x2x20 flattened) 80
    # the same values as the Keras model's own layer
    import keras

    model = keras.saving.load_model(trained_file, safe_mode=True)
    emb = keras.Model(model.inputs[0], model.get_layer("embedding").output)
    np.testing.assert_allclose(F[:, 20:], emb(X[..., None]).numpy(), rtol=1e-5, atol=1e-5)
    # RGB input of another size is brought to the network's 16x16 grey input
    rgb = np.repeat(np.kron(X, np.ones((2, 2)))[..., None], 3, axis=-1)
    G = TrainedFeatures(weights=str(trained_file)).fit(rgb).transform(rgb)
    assert G.shape == (6, 80) and np.all(np.isfinite(G))
    with pytest.raises(ValueError, match="Did you mean 'embedding'"):
        TrainedFeatures(weights=str(trained_file), layer="embeding").fit(X)
    with pytest.raises(ValueError, match="weights=PATH"):
        TrainedFeatures(network="lenet5").fit(X)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        TrainedFeatures(weights=str(trained_file) + ".missing").fit(X)
    # the cache key follows the file's content
    assert (
        TrainedFeatures(weights=str(trained_file)).cache_key()
        != TrainedFeatures(weights=str(trained_file) + ".missing").cache_key()
    )


RECIPE = """
name: ab
seed: 0
train:
  - label: net
    data: {{dataset: image_folder, path: {a}}}
    architecture: convnetjs_cifar10
    params: {{epochs: 3, batch_size: 8, validation_fraction: 0.25, learning_rate: 0.003}}
data: {{dataset: image_folder, path: {b}}}
transforms: [grey]
extractors:
  - {{name: trained, label: net_emb, params: {{network: net, layer: embedding}}}}
  - pixels
heads: [{{name: knn, params: {{n_neighbors: 1}}}}]
protocol: {{name: classification, params: {{n_splits: 2}}}}
"""


def _folder(root: Path, per_class: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    yy = np.mgrid[:16, :16][0]
    for c, mask in enumerate((yy < 8, yy >= 8)):
        d = root / f"class{c}"
        d.mkdir(parents=True)
        for i in range(per_class):
            img = 40 + 150 * mask + rng.uniform(0, 60, (16, 16))
            Image.fromarray(img.astype(np.uint8)).save(d / f"{i}.png")
    return root


def _recipe(tmp_path: Path) -> Path:
    a = _folder(tmp_path / "a", 16, 0)
    b = _folder(tmp_path / "b", 6, 1)
    path = tmp_path / "ab.yaml"
    path.write_text(textwrap.dedent(RECIPE.format(a=a, b=b)))
    return path


@pytest.mark.slow
def test_recipe_trains_on_a_and_evaluates_on_b(tmp_path):
    recipe = _recipe(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(recipe), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "train net: epoch 1/3" in result.output
    meta = json.loads((out / "meta.json").read_text())
    card = meta["train"]["net"]
    assert card["architecture"] == "convnetjs_cifar10" and card["data"]["n_train"] == 24
    curves = pd.read_csv(out / "training.csv")
    assert list(curves["epoch"]) == list(range(1, card["epochs_run"] + 1))
    assert {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(curves.columns)
    summary = pd.read_csv(out / "summary.csv").set_index(["extractor", "head"])
    assert summary.loc[("net_emb", "knn"), "accuracy_mean"] >= 0.9
    assert '<h2 id="training">' in (out / "report.html").read_text()
    # a second run takes the network from the cache and every cell too
    again = CliRunner().invoke(main, ["run", str(recipe), "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert "train net: from the cache" in again.output and "epoch 1/3" not in again.output
    assert json.loads((out / "meta.json").read_text())["cells"]["cached"] == 4
    # transfer train reports the same network
    listed = CliRunner().invoke(main, ["train", str(recipe)])
    assert listed.exit_code == 0 and "net: trained" in listed.output
    assert card["folder"] in listed.output


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("extractors.0.params.layer=embeding", "Did you mean 'embedding'"),
        ("extractors.0.params.network=nett", "Did you mean 'net'"),
        ("train.0.architecture=lenet", "Did you mean 'lenet5'"),
        ("train.0.params.epoch=2", "Did you mean 'epochs'"),
        ("train.0.params.epochs=0", "epochs"),
        (
            "train.0.architecture={name: convnetjs_cifar10, params: {widths: [8]}}",
            "has no parameter 'widths'",
        ),
        ("train.0.dataa=x", "unknown key 'dataa'"),
    ],
)
def test_bad_train_sections_fail_before_any_work(tmp_path, override, match):
    recipe = _recipe(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(recipe), "--out", str(out), "--set", override])
    assert result.exit_code == 2, result.output
    assert match in result.output
    assert not out.exists()
    assert not (Path(trainer_module.__file__).parent / "checkpoint").exists()


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("train.0.finetune=efficientnet_lite0", "either 'architecture'"),
        (
            "train.0={label: net, data: {dataset: sklearn_digits}, finetune: x, params: {}}",
            "finetune.params",
        ),
        (
            "train.0={label: net, data: {dataset: sklearn_digits}, "
            "finetune: {weights: efficientnet_lite0, params: {epoch: 1}}}",
            "Did you mean 'epochs'",
        ),
    ],
)
def test_bad_finetune_jobs_fail_before_any_work(tmp_path, override, match):
    recipe = _recipe(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(recipe), "--out", str(out), "--set", override])
    assert result.exit_code == 2, result.output
    assert match in result.output
    assert not out.exists()


FINETUNE_RECIPE = """
name: ab-finetune
seed: 0
train:
  - label: ft
    data: {{dataset: image_folder, path: {a}}}
    finetune:
      weights: efficientnet_lite0
      params: {{input_size: 32, epochs: 2, batch_size: 8, validation_fraction: 0.25,
                unfreeze_blocks: 1}}
data: {{dataset: image_folder, path: {b}}}
extractors:
  - {{name: trained, label: ft_pool, params: {{network: ft, layer: global_pool}}}}
heads: [{{name: knn, params: {{n_neighbors: 1}}}}]
protocol: {{name: classification, params: {{n_splits: 2}}}}
"""


@pytest.mark.slow  # fine-tunes EfficientNet-Lite0 for two epochs
def test_a_network_fine_tuned_on_a_is_used_frozen_on_b(tmp_path, weights_home):
    from transfer.features.cnn import CNNFeatures

    weights_home("efficientnet_lite0")
    a = _folder(tmp_path / "a", 16, 0)
    b = _folder(tmp_path / "b", 6, 1)
    recipe = tmp_path / "ft.yaml"
    recipe.write_text(textwrap.dedent(FINETUNE_RECIPE.format(a=a, b=b)))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(recipe), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "train ft: fine-tuning efficientnet_lite0 on 32 images" in result.output
    card = json.loads((out / "meta.json").read_text())["train"]["ft"]
    assert card["format"] == "transfer.finetuned/1" and card["data"]["n_train"] == 32
    assert card["epochs_run"] == card["n_epochs"] == 2
    curves = pd.read_csv(out / "training.csv")
    assert list(curves["epoch"]) == [1, 2] and "val_loss" in curves
    # the trained extractor gives the saved network's features, with its preprocessing
    model = Path(card["folder"]) / "model.keras"
    from transfer.data import open_dataset

    images = open_dataset("image_folder", path=str(b)).load()[:4]
    expected = CNNFeatures(str(model), layer="global_pool").fit(images).transform(images)
    from transfer.train import TrainedFeatures

    got = TrainedFeatures(weights=str(model), layer="global_pool").fit(images).transform(images)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    summary = pd.read_csv(out / "summary.csv").set_index(["extractor", "head"])
    # two epochs on 24 images: the loss goes down (measured 0.733 -> 0.697); what
    # is tested is the plumbing, A -> saved network -> frozen features on B
    assert curves["loss"].iloc[-1] < curves["loss"].iloc[0]
    assert summary.loc[("ft_pool", "knn"), "n_failed"] == 0
    again = CliRunner().invoke(main, ["run", str(recipe), "--out", str(out)])
    assert again.exit_code == 0 and "train ft: from the cache" in again.output


# -- losses -----------------------------------------------------------------------


def test_semi_hard_miner_picks_the_closest_negative_beyond_the_positive():
    from transfer.train.losses import semi_hard_negatives

    labels = np.array([0, 0, 1, 1, 1])
    D = np.full((5, 5), 2.0, np.float32)
    np.fill_diagonal(D, 0.0)
    D[0, 1] = D[1, 0] = 0.5  # the positive pair
    D[0, 2:] = [0.3, 0.7, 0.9]  # negatives of anchor 0: harder, semi-hard, easy
    D[1, 2:] = [0.1, 0.2, 0.4]  # every negative of anchor 1 is closer than its positive
    d_an, positive = semi_hard_negatives(D, labels)
    d_an, positive = np.asarray(d_an), np.asarray(positive)
    assert positive[0, 1] and positive[1, 0] and not positive[0, 2] and not positive[0, 0]
    assert d_an[0, 1] == pytest.approx(0.7)  # the semi-hard one, not the hardest (0.3)
    assert d_an[1, 0] == pytest.approx(0.4)  # none beyond 0.5: the farthest negative


@pytest.mark.slow  # trains two small embeddings (6 s); the miner's test stays fast
def test_contrastive_and_triplet_losses_pull_identities_together():
    import tensorflow as tf

    from transfer.train.losses import (
        contrastive_loss,
        pairwise_sq_distances,
        triplet_semi_hard_loss,
    )

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 4)
    for loss in (contrastive_loss, triplet_semi_hard_loss):
        E = tf.Variable(rng.normal(size=(16, 8)).astype(np.float32))

        def gaps(E=E):
            D = np.asarray(pairwise_sq_distances(E))
            same = (labels[:, None] == labels[None]) & ~np.eye(16, dtype=bool)
            return D[same].mean(), D[labels[:, None] != labels[None]].mean()

        same0, diff0 = gaps()
        first = float(loss(E, labels))
        opt = tf.keras.optimizers.SGD(0.5)
        for _ in range(300):
            with tf.GradientTape() as tape:
                value = loss(E, labels)
            opt.apply_gradients([(tape.gradient(value, E), E)])
        same1, diff1 = gaps()
        assert float(loss(E, labels)) < 0.5 * first, loss.__name__
        # same-identity pairs pulled together, the gap to different pairs widened
        assert same1 < 0.75 * same0 and diff1 - same1 > diff0 - same0 + 0.5, loss.__name__
    # well separated clusters cost nothing beyond the margin
    E = np.eye(4, dtype=np.float32)[labels] * 5
    assert float(triplet_semi_hard_loss(E, labels, margin=0.2)) == 0.0
    assert float(contrastive_loss(E, labels, margin=1.0)) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(
    "loss",
    [
        pytest.param("softmax_contrastive", marks=pytest.mark.slow),
        "triplet",
        pytest.param("autoencoder", marks=pytest.mark.slow),
    ],
)
def test_embedding_losses_train_a_separating_embedding(tmp_path, loss):
    data = _stripes(n_per_class=40)
    trainer = NetworkTrainer(
        loss=loss, epochs=5, batch_size=16, learning_rate=3e-3, validation_fraction=0.2
    )
    card = train_network("convnetjs_cifar10", {}, trainer, data, tmp_path / loss)
    assert card["epochs_run"] >= 1 and "val_loss" in card["history"]
    assert ("test" in card) == (loss == "softmax_contrastive")
    ext = TrainedFeatures(weights=str(tmp_path / loss / "model.keras"))
    X, y = data.load(), data.labels
    train = np.asarray(data.split) == "train"
    F = ext.fit(X).transform(X)
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier(1).fit(F[train], y[train])
    assert knn.score(F[~train], y[~train]) >= 0.9, loss


def test_pair_losses_need_several_images_per_identity(tmp_path):
    labels = np.array([0, 0, 0, 1, 1, 1, 2])
    images = np.random.default_rng(0).uniform(0, 255, (7, 16, 16)).astype(np.float32)
    with pytest.raises(ValueError, match="single training image"):
        train_network(
            "convnetjs_cifar10",
            {},
            NetworkTrainer(loss="triplet", validation_fraction=0),
            _arrays(images, labels, "few"),
            tmp_path / "x",
        )


def test_parity_and_an_mlp_at_a_parameter_budget():
    from transfer.data import open_dataset

    data = open_dataset("parity", n_bits=5, test_fraction=0.25, seed=1)
    X = data.load()
    assert X.shape == (32, 1, 5) and data.split_counts() == {"train": 24, "test": 8}
    bits = (X[:, 0, :] > 0).sum(axis=1)
    np.testing.assert_array_equal(data.labels, bits % 2)
    shallow = _build("mlp", (1, 10, 1), n=2, depth=1, n_params=1000)
    deep = _build("mlp", (1, 10, 1), n=2, depth=4, n_params=1000)
    assert [lyr.name for lyr in deep.layers][-2:] == ["embedding", "logits"]
    for model in (shallow, deep):  # the widest within the budget
        assert 850 < model.count_params() <= 1000
    with pytest.raises(ValueError, match="n_bits"):
        open_dataset("parity", n_bits=1)


def test_transfer_train_reports_a_nan_loss_in_one_line(tmp_path):
    recipe = _recipe(tmp_path)
    result = CliRunner().invoke(
        main,
        [
            "train",
            str(recipe),
            "--set",
            "train.0.params={epochs: 2, optimizer: sgd, learning_rate: 1.0e+12, "
            "lr_schedule: constant, validation_fraction: 0}",
        ],
    )
    assert result.exit_code == 2, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("error: ") and "NaN at epoch" in last and "checkpoint" in last
