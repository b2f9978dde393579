"""EfficientNet-Lite0/1/2: the Keras port against the PyTorch original.

The reference logits in ``tests/data/cnn/efficientnet_lite{i}_reference.npz``
come from ``make_efficientnet_lite_reference.py`` (torch and the
``efficientnet_lite_pytorch`` package, run by hand); these tests need neither.
The files hold no images: the input, scikit-image's chelsea and coffee resized
to the variant's side as uint8, is rebuilt by
:func:`tests.data.cnn.reference_images.reference_images` and checked against
the stored sha256.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from tests.data.cnn.reference_images import images_sha256, reference_images
from transfer.features.cnn.architectures import efficientnet_lite as arch
from transfer.weights.convert_efficientnet_lite import keras_weights, variant_of

REF = Path(__file__).resolve().parent / "data" / "cnn"

#: Keras (TF, NHWC) and PyTorch (NCHW) sum the same float32 products in a
#: different order through ~50 conv/BN layers; with logits of magnitude ~10
#: float32 rounding leaves differences of a few 1e-6 (measured: 5.7e-6,
#: 4.3e-6, 3.8e-6 for Lite0/1/2). 1e-4 leaves a ~20x margin for other
#: BLAS/oneDNN builds yet is far below what a mapping error produces (on
#: Lite0: the stem kernel's kh/kw swapped moves logits by 3.7, the input
#: shifted by one pixel, as a symmetric instead of TF "same" padding would,
#: by 0.66).
ATOL = 1e-4

#: All three run by default: each costs < 10 s (fetch, convert, build, run).
# lite0 in the default suite; the wider variants (same converter) in the slow one
VARIANTS = [
    pytest.param(v, id=f"lite{v}", marks=[pytest.mark.slow] if v else []) for v in (0, 1, 2)
]


@functools.cache
def _model(variant: int, path: str):
    model = arch.build(variant=variant)
    model.load_weights(path)
    return model


@pytest.fixture
def lite(weights_home):
    """``lite(variant) -> (record, model)`` with the converted ImageNet weights."""
    from transfer.weights import get_record

    def get(variant: int):
        name = f"efficientnet_lite{variant}"
        path = weights_home(name)
        return get_record(name), _model(variant, str(path))

    return get


def _logits(model, x: np.ndarray) -> np.ndarray:
    return np.asarray(model(x, training=False), dtype=np.float64)


@pytest.mark.parametrize("variant", VARIANTS)
def test_logits_match_pytorch(lite, variant):
    from transfer.weights import preprocess

    record, model = lite(variant)
    path = REF / f"efficientnet_lite{variant}_reference.npz"
    with np.load(path) as f:
        ref = {k: f[k] for k in f.files}
    images = reference_images(record.input_size)
    assert images_sha256(images) == str(ref["images_sha256"]), (
        f"Lite{variant}: the rebuilt chelsea/coffee input differs from the one the PyTorch "
        "reference was computed on (scikit-image's resize changed?): regenerate "
        f"{path.name} with tests/data/cnn/make_efficientnet_lite_reference.py (needs torch)"
    )
    assert images.dtype == np.uint8
    assert images.shape[1:] == (record.input_size, record.input_size, 3)
    assert model.input_shape[1:3] == images.shape[1:3]
    got = _logits(model, preprocess(record, images))
    want = ref["logits"].astype(np.float64)
    diff = np.abs(got - want).max()
    assert diff < ATOL, f"Lite{variant}: max |keras - torch| logit difference {diff:.2e}"
    assert np.array_equal(got.argmax(1), want.argmax(1))


@pytest.mark.parametrize("variant", VARIANTS)
def test_imagenet_predictions(lite, variant):
    from skimage import data

    from transfer.features.cnn import center_crop, imagenet_class_names
    from transfer.weights import preprocess

    try:
        classes = imagenet_class_names()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    record, model = lite(variant)
    size = record.input_size
    crops = np.concatenate(
        [
            center_crop(img[None], resize=round(size * 256 / 224), crop=size)
            for img in (data.chelsea(), data.coffee())
        ]
    )
    logits = _logits(model, preprocess(record, crops))
    top3 = [[classes[k] for k in np.argsort(row)[::-1][:3]] for row in logits]
    cats = {"tabby, tabby cat", "tiger cat", "Egyptian cat"}
    assert cats & set(top3[0]), f"Lite{variant} chelsea top-3: {top3[0]}"
    assert top3[0][0] in cats, f"Lite{variant} chelsea top-3: {top3[0]}"
    assert top3[1][0] == "espresso", f"Lite{variant} coffee top-3: {top3[1]}"


def _fake_state_dict(variant: int) -> dict[str, np.ndarray]:
    """Zeros with the shapes of the efficientnet_lite_pytorch state dict."""
    sd: dict[str, np.ndarray] = {}

    def conv(key, c_in, c_out, k):
        sd[f"{key}.weight"] = np.zeros((c_out, c_in, k, k), np.float32)

    def bn(key, c):
        for v in ("weight", "bias", "running_mean", "running_var"):
            sd[f"{key}.{v}"] = np.zeros(c, np.float32)
        sd[f"{key}.num_batches_tracked"] = np.zeros((), np.int64)

    conv("_conv_stem", 3, 32, 3)
    bn("_bn0", 32)
    specs = arch.block_specs(variant)
    for i, s in enumerate(specs):
        p = f"_blocks.{i}."
        if s.expand != 1:
            conv(p + "_expand_conv", s.filters_in, s.expanded, 1)
            bn(p + "_bn0", s.expanded)
        sd[p + "_depthwise_conv.weight"] = np.zeros((s.expanded, 1, s.kernel, s.kernel), np.float32)
        bn(p + "_bn1", s.expanded)
        conv(p + "_project_conv", s.expanded, s.filters_out, 1)
        bn(p + "_bn2", s.filters_out)
    conv("_conv_head", specs[-1].filters_out, 1280, 1)
    bn("_bn1", 1280)
    sd["_fc.weight"] = np.zeros((1000, 1280), np.float32)
    sd["_fc.bias"] = np.zeros(1000, np.float32)
    return sd


def test_block_specs_match_the_pytorch_checkpoints():
    # 16 / 21 / 21 blocks (``_blocks.0`` ... in the .pth files); stem and head not scaled
    assert [len(arch.block_specs(v)) for v in (0, 1, 2)] == [16, 21, 21]
    assert arch.block_specs(2)[-1].filters_out == 352  # 320 * 1.1
    assert arch.block_specs(2)[0].filters_in == 32
    assert variant_of("efficientnet_lite2") == 2
    with pytest.raises(ValueError, match="not an EfficientNet-Lite"):
        variant_of("efficientnet_b0")


def test_keras_weights_maps_every_layer():
    sd = _fake_state_dict(0)
    sd["_conv_stem.weight"][1, 2, 0, 1] = 1.0  # (out, in, kh, kw) -> (kh, kw, in, out)
    sd["_blocks.3._depthwise_conv.weight"][5, 0, 2, 1] = 1.0  # (c, 1, kh, kw) -> (kh, kw, c, 1)
    sd["_bn1.running_var"][:] = 2.0
    sd["_fc.weight"][7, 9] = 1.0
    out = keras_weights(sd, 0)
    assert out["stem_conv"][0].shape == (3, 3, 3, 32) and out["stem_conv"][0][0, 1, 2, 1] == 1
    assert out["block3_dw_conv"][0].shape == (5, 5, 144, 1)
    assert out["block3_dw_conv"][0][2, 1, 5, 0] == 1
    assert np.all(out["head_bn"][3] == 2.0)  # gamma, beta, moving_mean, moving_variance
    assert out["logits"][0].shape == (1280, 1000) and out["logits"][0][9, 7] == 1
    model = arch.build(variant=0)
    assert {layer.name for layer in model.layers if layer.weights} == set(out)
    for name, arrays in out.items():
        assert [tuple(w.shape) for w in model.get_layer(name).weights] == [a.shape for a in arrays]


def test_keras_weights_rejects_bad_state_dicts():
    sd = _fake_state_dict(0)
    del sd["_blocks.5._bn1.running_mean"]
    with pytest.raises(ValueError, match=r"block5_dw_bn.*_blocks\.5\._bn1\.running_mean"):
        keras_weights(sd, 0)

    sd = _fake_state_dict(0)
    sd["_blocks.2._project_conv.weight"] = np.zeros((24, 96, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"block2_project_conv.*shape \(24, 96, 3, 3\)"):
        keras_weights(sd, 0)

    sd = _fake_state_dict(0)
    sd["_blocks.0._se_reduce.weight"] = np.zeros((8, 32, 1, 1), np.float32)
    with pytest.raises(ValueError, match=r"match no layer.*_se_reduce"):
        keras_weights(sd, 0)

    # a Lite2 state dict is not a Lite0 one (and vice versa)
    with pytest.raises(ValueError, match="EfficientNet-Lite0"):
        keras_weights(_fake_state_dict(2), 0)
    with pytest.raises(ValueError, match="EfficientNet-Lite2"):
        keras_weights(_fake_state_dict(0), 2)
