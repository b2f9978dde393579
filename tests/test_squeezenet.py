"""SqueezeNet v1.1: the Keras 3 builder and the conversion of its Keras 2 HDF5 weights.

The weights have no classifier, so they are checked (a) bit-exactly against the
source file, and (b) by behaviour that random weights of the same architecture
lack: invariance of the pooled features to small crops and flips, and a
nearest-centroid probe on scikit-image's bundled faces / non-faces set.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

NAME = "squeezenet_v1.1"
N_PARAMS = 722_496


def _h5_to_keras(name: str) -> str:
    """Independent re-statement of the naming rule: conv1 -> stem_conv1, fireI/x -> blockI_x."""
    return "stem_conv1" if name == "conv1" else "block" + name[len("fire") :].replace("/", "_", 1)


def _legacy_h5(layers: dict[str, list[np.ndarray]], *, layer_names: bool = True) -> bytes:
    """A Keras 2 weights file in memory: ``layer_names`` and one group per layer."""
    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        if layer_names:
            f.attrs["layer_names"] = np.array([n.encode() for n in layers])
        for name, arrays in layers.items():
            group = f.create_group(name)
            names = [f"{name}_W{i}".encode() for i in range(len(arrays))]
            group.attrs["weight_names"] = np.array(names) if names else np.array([], "float64")
            for w, a in zip(names, arrays, strict=True):
                group.create_dataset(w.decode(), data=a)
    return buf.getvalue()


def _synthetic_layers() -> dict[str, list[np.ndarray]]:
    """Zero weights of the right shapes under the HDF5 names, plus weightless layers."""
    from transfer.features.cnn.architectures.squeezenet import build
    from transfer.weights.convert_squeezenet import h5_layer_name

    model = build()
    out: dict[str, list[np.ndarray]] = {"input_1": [], "relu_conv1": []}
    for layer in model.layers:
        if layer.weights:
            out[h5_layer_name(layer.name)] = [np.zeros(w.shape, np.float32) for w in layer.weights]
    out["drop9"] = []
    return out


# --------------------------------------------------------------------------- architecture


def test_build_shapes_names_and_params():
    from keras import layers

    from transfer.features.cnn.architectures.squeezenet import build

    model = build()
    assert model.count_params() == N_PARAMS
    assert model.output.shape == (None, 512)
    assert model.layers[-1].name == "global_pool"
    assert isinstance(model.layers[-1], layers.GlobalAveragePooling2D)
    convs = [la for la in model.layers if isinstance(la, layers.Conv2D)]
    assert len(convs) == 25
    for la in model.layers[1:]:
        assert la.name.startswith(("stem_", "block", "global_pool")), la.name
    blocks = {la.name.split("_")[0] for la in model.layers if la.name.startswith("block")}
    assert blocks == {f"block{i}" for i in range(2, 10)}
    # spatial grid of the reference Keras code ('valid' pools) at 227x227
    assert model.get_layer("stem_pool1").output.shape[1:] == (56, 56, 64)
    assert model.get_layer("block3_pool").output.shape[1:] == (27, 27, 128)
    assert model.get_layer("block5_pool").output.shape[1:] == (13, 13, 256)
    assert model.get_layer("block9_concat").output.shape[1:] == (13, 13, 512)

    top = build((96, 96, 3), include_top=True, classes=7)
    assert top.output.shape == (None, 7)
    assert top.layers[-1].name == "logits"
    assert top.get_layer("global_pool").output.shape == (None, 512)
    assert top.count_params() == N_PARAMS + 512 * 7 + 7


# --------------------------------------------------------------------------- converter errors


def test_synthetic_file_converts(tmp_path):
    from transfer.weights.convert_squeezenet import convert

    dest = convert(_legacy_h5(_synthetic_layers()), tmp_path / "s.weights.h5")
    assert dest.is_file()


def test_wrong_shape_names_the_layer(tmp_path):
    from transfer.weights.convert_squeezenet import convert

    layers = _synthetic_layers()
    layers["fire4/expand3x3"][0] = np.zeros((3, 3, 32, 64), np.float32)
    with pytest.raises(ValueError, match=r"block4_expand3x3.*fire4/expand3x3.*\(3, 3, 32, 64\)"):
        convert(_legacy_h5(layers), tmp_path / "s.weights.h5")


def test_missing_layer_names_the_layer(tmp_path):
    from transfer.weights.convert_squeezenet import convert

    layers = _synthetic_layers()
    del layers["fire7/squeeze1x1"]
    with pytest.raises(ValueError, match=r"no weights for the layers 'block7_squeeze1x1'"):
        convert(_legacy_h5(layers), tmp_path / "s.weights.h5")


def test_unused_weights_are_an_error(tmp_path):
    from transfer.weights.convert_squeezenet import convert

    layers = _synthetic_layers()
    layers["conv10"] = [np.zeros((1, 1, 512, 1000), np.float32), np.zeros(1000, np.float32)]
    with pytest.raises(ValueError, match="'conv10'"):
        convert(_legacy_h5(layers), tmp_path / "s.weights.h5")
    layers = _synthetic_layers()
    layers["fire2/expand1x1"].append(np.zeros(64, np.float32))  # a third array
    with pytest.raises(ValueError, match="block2_expand1x1"):
        convert(_legacy_h5(layers), tmp_path / "s.weights.h5")


def test_not_a_keras2_file(tmp_path):
    from transfer.weights.convert_squeezenet import convert

    with pytest.raises(ValueError, match="layer_names"):
        convert(_legacy_h5(_synthetic_layers(), layer_names=False), tmp_path / "s.weights.h5")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        convert(b"not hdf5 at all", tmp_path / "s.weights.h5")


# --------------------------------------------------------------------------- real weights


@pytest.fixture(scope="module")
def prepared(weights_home) -> Path:
    return weights_home(NAME)


@pytest.fixture(scope="module")
def source_bytes(prepared) -> bytes:
    from transfer.weights import fetch_source

    return fetch_source(NAME)  # sha256-checked


@pytest.fixture(scope="module")
def models(prepared):
    """(pretrained, random) SqueezeNets for 112x112 inputs; random is Keras' default init."""
    import keras

    from transfer.features.cnn.architectures.squeezenet import build

    real = build((112, 112, 3))
    real.load_weights(prepared)
    keras.utils.set_random_seed(0)
    random = build((112, 112, 3))
    return real, random


def test_weights_are_bit_exact(prepared, source_bytes):
    import h5py

    from transfer.features.cnn.architectures.squeezenet import build

    model = build()
    model.load_weights(prepared)
    n, seen = 0, set()
    with h5py.File(io.BytesIO(source_bytes), "r") as f:
        for raw in f.attrs["layer_names"]:
            group = f[raw.decode()]
            names = [w.decode() for w in group.attrs["weight_names"]]
            if not names:
                continue
            layer = _h5_to_keras(raw.decode())
            got = model.get_layer(layer).get_weights()
            assert len(got) == len(names) == 2, layer
            for w, a in zip(names, got, strict=True):
                expected = group[w][()]
                assert a.dtype == expected.dtype == np.float32
                assert np.array_equal(a, expected), (layer, w)
                n += expected.size
            seen.add(layer)
    assert n == N_PARAMS == model.count_params()
    assert seen == {la.name for la in model.layers if la.weights}


def _rgb255(image: np.ndarray, size: int) -> np.ndarray:
    from skimage import transform

    a = np.asarray(image, dtype=np.float64)
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    if a.max() <= 1.0:
        a = a * 255.0
    return transform.resize(a, (size, size), preserve_range=True, anti_aliasing=True)


def _features(model, images: list[np.ndarray]) -> np.ndarray:
    from transfer.weights import get_record, preprocess

    x = preprocess(get_record(NAME), np.stack(images))
    return np.asarray(model.predict(x, batch_size=50, verbose=0), dtype=np.float64)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_features_are_invariant_and_discriminative(models):
    """Chelsea vs its crops / flip: near 1; vs other photographs: far lower (random: all ~1)."""
    from skimage import data

    cat = data.chelsea()
    same = [cat, cat[10:, 15:], cat[:-20, 20:-10], cat[:, ::-1]]
    others = [data.coffee(), data.rocket(), data.astronaut(), data.camera(), data.coins()]
    images = [_rgb255(a, 112) for a in same + others]
    gaps = []
    for model in models:
        f = _features(model, images)
        sim_same = min(_cos(f[0], f[i]) for i in range(1, len(same)))
        sim_other = max(_cos(f[0], f[i]) for i in range(len(same), len(images)))
        gaps.append(sim_same - sim_other)
    real_gap, random_gap = gaps
    print(f"similarity gap (crops - other photos): real {real_gap:.3f}, random {random_gap:.3f}")
    # measured at 227 px: real 0.967 vs 0.386; random 0.999 vs 0.998
    assert real_gap > 0.3, gaps
    assert real_gap - random_gap > 0.25, gaps


@pytest.mark.filterwarnings("ignore:self.within_class_std_dev_:UserWarning")
@pytest.mark.slow  # a few seconds; a faster sibling covers the default suite
def test_probe_beats_random_weights(models):
    """Faces vs non-faces (scikit-image's lfw_subset), 5-fold nearest-centroid on cosine."""
    from skimage import data
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import NearestCentroid
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer

    faces = data.lfw_subset()  # 100 faces then 100 non-faces, 25x25 in [0, 1]
    y = np.r_[np.ones(100), np.zeros(100)]
    images = [_rgb255(a, 112) for a in faces]
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    accs = []
    for model in models:
        probe = make_pipeline(Normalizer(), NearestCentroid())
        accs.append(cross_val_score(probe, _features(model, images), y, cv=cv).mean())
    real, random = accs
    print(f"faces vs non-faces probe: real {real:.3f}, random {random:.3f}")
    # measured: real 0.995; random 0.805-0.835 over seeds 0-4
    assert real >= 0.95, accs
    assert real - random >= 0.1, accs


def test_truncated_source_is_refused(prepared, tmp_path):
    from transfer.weights import WeightsError, get_record, prepare
    from transfer.weights.store import search_path

    record = get_record(NAME)
    source = next(p / record.member for p in search_path() if (p / record.member).is_file())
    truncated = tmp_path / record.member
    truncated.write_bytes(source.read_bytes()[:100_000])
    with pytest.raises(WeightsError) as info:
        prepare(NAME, source=truncated, force=True)
    message = str(info.value)
    assert str(truncated) in message
    assert "sha256" in message and record.sha256 in message
    assert prepared.is_file()  # the prepared copy is untouched
