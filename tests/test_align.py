"""Face alignment: MTCNN and dlib landmarks warped onto the five-point template."""

from __future__ import annotations

import pickle
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("dlib", reason="needs the face extras: pip install 'transfer[faces]'")
pytest.importorskip("mtcnn", reason="needs the face extras: pip install 'transfer[faces]'")
pytest.importorskip("face_recognition_models", reason="needs pip install 'transfer[faces]'")

from skimage import data as skdata

from tests.conftest import need
from transfer.align import (
    Align,
    center_box,
    detectors,
    get_detector,
    reset_stats,
    stats,
    target_landmarks,
    template_landmarks,
)
from transfer.data import read_image

METHODS = ("mtcnn", "dlib")
SIZE, MARGIN = 160, 0.2
# Measured on 100 LFW images (one per random person) aligned to 160 px with
# margin 0.2 and re-detected with the same method: eye errors median 1.6 px,
# 90th percentile 3.0-3.6 px, max 7 px for both methods. On the 11 images
# here: mean 2.35 (max 6.9) px with MTCNN, 1.50 (max 3.5) px with dlib.
MEAN_EYE_ERROR_PX = 3.5
MAX_EYE_ERROR_PX = 9.0


@pytest.fixture(scope="module")
def faces(shared_data):
    """Ten LFW images (the first image of ten people of the View-1 test pairs) and the astronaut."""
    lfw = need(shared_data, "lfw/lfw-deepfunneled")
    pairs = (shared_data / "lfw" / "pairsDevTest.txt").read_text().split("\n")[1:]
    names = []
    for line in pairs[::50]:  # spread over same and different pairs
        name = line.split("\t")[0]
        if name and name not in names:
            names.append(name)
    images = [read_image(lfw / n / f"{n}_0001.jpg") for n in names[:10]]
    return [*images, skdata.astronaut()]


@pytest.fixture(scope="module", params=METHODS)
def aligned(request, faces):
    method = request.param
    crops = [Align(method, SIZE, MARGIN, cache=False)(img) for img in faces]
    return method, crops


def test_aligned_crops_put_the_eyes_on_the_template(aligned):
    method, crops = aligned
    detector = get_detector(method)
    targets = target_landmarks(method, SIZE, MARGIN)
    errors = []
    for crop in crops:
        assert crop.shape == (SIZE, SIZE, 3) and crop.dtype == np.float32
        assert 0 <= crop.min() and crop.max() <= 255
        found = detector.detect(crop)
        assert found is not None, "the aligned face must be found again"
        errors.append(np.linalg.norm(found.landmarks[:2] - targets[:2], axis=1))
    errors = np.array(errors)
    mean, worst = errors.mean(), errors.max()
    print(f"{method}: eye error after alignment mean {mean:.2f}, max {worst:.2f} px")
    assert errors.mean() < MEAN_EYE_ERROR_PX
    assert errors.max() < MAX_EYE_ERROR_PX


def test_dlib_targets_differ_from_the_template_only_at_the_nose():
    t, d = template_landmarks(SIZE, MARGIN), target_landmarks("dlib", SIZE, MARGIN)
    np.testing.assert_array_equal(np.delete(t, 2, 0), np.delete(d, 2, 0))
    assert d[2, 1] > t[2, 1]  # dlib's nose point is the nose bottom, below the tip
    np.testing.assert_array_equal(target_landmarks("mtcnn", SIZE, MARGIN), t)


def test_dlib_landmarks_order_and_missing_mouth():
    found = get_detector("dlib").detect(skdata.astronaut())
    lm = found.landmarks
    assert lm[0, 0] < lm[1, 0]  # left eye on the image's left
    assert lm[2, 1] > lm[:2, 1].max()  # nose below the eyes
    assert np.isnan(lm[3:]).all() and found.valid.tolist() == [True, True, True, False, False]


@pytest.mark.parametrize("method", METHODS)
def test_size_and_margin_are_honoured(method):
    crop = Align(method, size=96, margin=0.0, cache=False)(skdata.astronaut())
    assert crop.shape == (96, 96, 3)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("image", ["grey", "coffee"])
def test_no_face_raises_with_fallback_error(method, image):
    img = np.full((120, 160, 3), 128, np.uint8) if image == "grey" else skdata.coffee()
    with pytest.raises(ValueError, match="no face"):
        Align(method, fallback="error", cache=False)(img)


@pytest.mark.parametrize("method", METHODS)
def test_no_face_gives_the_centre_crop(method):
    # a ramp image: R = column, G = row; no face in it
    h, w = 200, 240
    ramp = np.zeros((h, w, 3), np.float32)
    ramp[..., 0] = np.arange(w)[None, :]
    ramp[..., 1] = np.arange(h)[:, None]
    reset_stats()
    size, margin = 50, 0.1
    crop = Align(method, size=size, margin=margin, fallback="center", cache=False)(ramp)
    assert stats()["fallback"] == 1 and stats()["detected"] == 0
    left, top, side = center_box(ramp.shape, margin)
    assert side == pytest.approx(0.51 * 200 * 1.2)
    centres = (np.arange(size) + 0.5) * side / size - 0.5
    np.testing.assert_allclose(crop[size // 2, :, 0], left + centres, atol=1e-3)
    np.testing.assert_allclose(crop[:, size // 2, 1], top + centres, atol=1e-3)


def test_cache_returns_the_same_crop_without_detecting(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFER_CACHE", str(tmp_path))
    image = skdata.astronaut()
    align = Align("dlib", size=64)
    detector = get_detector("dlib")
    first = align(image)
    calls = detector.calls
    path = align.cache_path(image)
    assert path.is_file() and path.is_relative_to(tmp_path / "aligned")
    reset_stats()

    def no_detection(*args, **kwargs):
        raise AssertionError("the detector ran on a cached image")

    monkeypatch.setattr(detector, "detect", no_detection)
    again = align(image)
    np.testing.assert_array_equal(again, first)
    assert again.dtype == first.dtype
    assert detector.calls == calls and stats()["cache_hits"] == 1
    # another spec is another entry
    assert Align("dlib", size=65).cache_path(image) != path
    assert not list(tmp_path.rglob("*.tmp"))  # written atomically


def test_spec_pickle_and_recipe_spec():
    from transfer.data import make_transform
    from transfer.registry import load_components

    base = Align()
    assert base.spec()["name"] == "align"
    specs = {
        repr(a.spec())
        for a in (base, Align(size=128), Align(margin=0.3), Align("dlib"), Align(fallback="error"))
    }
    assert len(specs) == 5
    assert Align(cache=False).spec() == base.spec()  # caching does not change the output
    assert pickle.loads(pickle.dumps(base)) == base
    load_components()
    built = make_transform({"align": {"method": "mtcnn", "size": 160, "margin": 0.2}})
    assert built == Align("mtcnn", 160, 0.2)
    # the recipe entry checks at once; the estimator at fit / transform time
    for bad, key in (({"method": "haar"}, "method"), ({"fallback": "skip"}, "fallback")):
        with pytest.raises(ValueError, match=key):
            make_transform({"align": bad})
    with pytest.raises(ValueError, match="'size' parameter of Align"):
        Align(size=0).fit()
    with pytest.raises(ValueError, match="'face' parameter"):
        Align(face="left").transform(np.zeros((1, 32, 32, 3)))


def test_grey_input_gives_rgb():
    grey = skdata.astronaut().mean(axis=-1)
    crop = Align("dlib", size=64, cache=False)(grey)
    assert crop.shape == (64, 64, 3)
    np.testing.assert_allclose(crop[..., 0], crop[..., 2], atol=1e-4)


def test_detectors_are_thread_safe_and_pickle_without_model():
    detector = get_detector("dlib")
    image = skdata.astronaut()
    with ThreadPoolExecutor(2) as pool:
        found = list(pool.map(detector.detect, [image] * 4))
    assert all(np.allclose(f.landmarks[:3], found[0].landmarks[:3]) for f in found)
    clone = pickle.loads(pickle.dumps(detector))
    assert clone._model is None and clone.upsample == detector.upsample


def test_model_sha256_mismatch_names_the_file(monkeypatch):
    name = "shape_predictor_5_face_landmarks.dat"
    monkeypatch.setitem(detectors.DLIB_MODEL_SHA256, name, "0" * 64)
    with pytest.raises(RuntimeError, match=name):
        detectors.DlibDetector().detect(skdata.astronaut())


def test_missing_packages_say_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)
    monkeypatch.setitem(sys.modules, "mtcnn", None)
    with pytest.raises(ImportError, match=r"transfer\[faces\]"):
        detectors.DlibDetector().detect(skdata.astronaut())
    with pytest.raises(ImportError, match=r"transfer\[faces\]"):
        detectors.MTCNNDetector().detect(skdata.astronaut())


@pytest.mark.parametrize(
    "method",
    # MTCNN one image at a time is the slow reference (about 10 s): in the slow suite
    [pytest.param(m, marks=pytest.mark.slow) if m == "mtcnn" else m for m in METHODS],
)
def test_batched_alignment_equals_one_at_a_time(method, faces):
    # the ten LFW images, the astronaut (another shape), a face-less grey image
    images = [*faces, np.full((120, 160, 3), 128, np.uint8)]
    detector = get_detector(method)
    one = [detector.detect(img) for img in images]
    calls = detector.calls
    batch = detector.detect_batch(images)
    assert detector.calls == calls + len(images)
    assert [d is None for d in batch] == [d is None for d in one] == [False] * 11 + [True]
    for a, b in zip(one[:-1], batch[:-1], strict=True):
        # the networks run on batches of crops: the same to float32 round-off (BLAS
        # kernels differ by batch size on some CPUs: 8e-6 px seen on an AVX2 EPYC)
        np.testing.assert_allclose(b.landmarks, a.landmarks, rtol=0, atol=1e-3)
        np.testing.assert_allclose(b.box, a.box, rtol=0, atol=1e-3)
        assert b.score == pytest.approx(a.score, abs=1e-5)
    align = Align(method, SIZE, MARGIN, fallback="center", cache=False)
    reset_stats()
    crops = align.apply_batch(images)
    counts = stats()
    assert {k: counts[k] for k in ("detected", "fallback", "cache_hits")} == {
        "detected": 11,
        "fallback": 1,
        "cache_hits": 0,
    }
    assert counts["fallback_images"] == ["image 11"]
    assert counts["faces"] >= 11
    for img, crop in zip(images, crops, strict=True):
        # grey levels 0-255: a landmark 1e-5 px away moves a pixel by ~1e-3 at an edge
        np.testing.assert_allclose(crop, align(img), rtol=0, atol=0.05)
    assert align.apply_batch([]) == []


def test_mtcnn_cascade_runs_on_chunks_of_mtcnn_batch(faces, monkeypatch):
    # a recipe's extraction chunk (256 images) reaches detect_all_batch whole:
    # the cascade takes at most MTCNN_BATCH of them per call (larger stacks
    # ran 3x slower), with the same detections as one call for all
    detector = get_detector("mtcnn")
    images = faces[:7]
    whole = detector.detect_all_batch(images)
    sizes = []
    original = detectors._mtcnn_same_shape

    def counted(model, rgbs, min_face_size):
        sizes.append(len(rgbs))
        return original(model, rgbs, min_face_size)

    monkeypatch.setattr(detectors, "_mtcnn_same_shape", counted)
    monkeypatch.setattr(detectors, "MTCNN_BATCH", 3)
    chunked = detector.detect_all_batch(images)
    assert sizes == [3, 3, 1]
    for a, b in zip(whole, chunked, strict=True):
        assert len(a) == len(b) >= 1
        for x, y in zip(a, b, strict=True):
            np.testing.assert_allclose(x.landmarks, y.landmarks, rtol=0, atol=1e-3)
            assert x.score == pytest.approx(y.score, abs=1e-5)


@pytest.mark.slow
def test_mtcnn_batch_keeps_each_images_own_suppression(faces):
    # mtcnn's suppression depends on the order of tied scores: sorting the
    # boxes of several images together moved one of 24 LFW faces by ~4 px
    detector = get_detector("mtcnn")
    images = faces[:10]
    alone = [detector.detect_all(img) for img in images]
    together = detector.detect_all_batch(images[::-1])[::-1]
    for a, b in zip(alone, together, strict=True):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            # float32 round-off of batched networks aside (8e-6 px seen), the same faces
            np.testing.assert_allclose(x.landmarks, y.landmarks, rtol=0, atol=1e-3)


@pytest.mark.parametrize("method", METHODS)
def test_batched_alignment_without_a_face_errors_as_one_at_a_time(
    method, faces, tmp_path, monkeypatch
):
    monkeypatch.setenv("TRANSFER_CACHE", str(tmp_path))
    grey = np.full((120, 160, 3), 128, np.uint8)
    align = Align(method, size=64, fallback="error")
    with pytest.raises(
        ValueError, match=r"no face found by .* in an image of shape \(120, 160, 3\)"
    ):
        align(grey)
    with pytest.raises(ValueError, match=r"no face found by .* in image 1;"):
        align.apply_batch([faces[0], grey, faces[1]])
    with pytest.raises(ValueError, match=r"no face found by .* in b\.jpg;"):
        align.apply_batch([faces[0], grey], names=["a.jpg", "b.jpg"])
    # as in a loop, the crop before the face-less image was cached, the one after not
    assert align.cache_path(faces[0]).is_file() and not align.cache_path(faces[1]).is_file()
    reset_stats()
    again = align.apply_batch([faces[0], faces[0]])
    assert stats()["cache_hits"] == 2
    np.testing.assert_array_equal(again[0], align(faces[0]))
