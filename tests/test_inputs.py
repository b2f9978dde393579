"""Inputs made safe: one image, paths, folders, loose files found by content, ImageSet in CV.

Each rule of :mod:`transfer.features.base` is checked with numbers: the
features of an input in one form equal those of the same images as an
explicit batch.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline

from tests.conftest import need
from transfer._validation import InvalidParameterError
from transfer.data import ImageSet, image_folder, is_image_file, open_dataset, read_image
from transfer.data.decode import ImageReadError
from transfer.features.base import BaseExtractor, as_extractor_input
from transfer.features.handcrafted import LBPFeatures, PixelFeatures
from transfer.heads.classifiers import KNNHead


def write_png(path: Path, shape=(20, 16), seed=0) -> np.ndarray:
    """A random uint8 image saved as PNG (whatever ``path``'s extension); its pixels."""
    from PIL import Image

    arr = np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, format="PNG")
    return arr


class ChannelMeans(BaseExtractor):
    """Per-channel means and the image's height and width: shows what each image was."""

    def __init__(self, colour: bool = False, mixed: str | None = None, image_shape=None):
        self.colour = colour
        self.mixed = mixed
        self.image_shape = image_shape

    def __transfer_tags__(self):
        tags = super().__transfer_tags__()
        tags["colour_input"] = self.colour
        tags["mixed_sizes"] = self.mixed
        return tags

    def _transform_batch(self, images):
        rows = []
        for img in images:  # an array batch or, with mixed="list", a list
            img = np.asarray(img, dtype=np.float32)
            rgb = img if img.ndim == 3 else img[..., None]
            rows.append([*np.resize(rgb.mean(axis=(0, 1)), 3), img.shape[0], img.shape[1]])
        return np.asarray(rows, dtype=np.float32)


def _rng_images(shape, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, size=shape).astype(np.float32)


# ----------------------------------------------------------------- one image, arrays


@pytest.mark.parametrize("shape", [(40, 30, 3), (40, 30, 4), (40, 30, 1), (40, 30)])
def test_one_image_gets_its_batch_axis(shape):
    img = _rng_images(shape)
    one = PixelFeatures().fit_transform(img)
    np.testing.assert_array_equal(one, PixelFeatures().fit_transform(img[None]))
    assert one.shape == (1, 40 * 30)  # one row: scikit-learn's convention
    ext = PixelFeatures().fit(img[None])
    np.testing.assert_array_equal(ext.transform(img), one)


def test_grey_batches_stay_batches():
    X = _rng_images((6, 32, 32))
    F = PixelFeatures().fit_transform(X)
    assert F.shape == (6, 32 * 32)
    np.testing.assert_array_equal(F[2], PixelFeatures().fit_transform(X[2])[0])
    # the documented rule: last axis 3 and both leading axes above 4 is one colour image
    assert PixelFeatures().fit_transform(_rng_images((10, 8, 3))).shape == (1, 80)
    # a list is a list of images: never read as one image
    assert PixelFeatures().fit_transform(list(_rng_images((10, 8, 3)))).shape == (10, 24)


def test_ambiguous_arrays_say_how_to_pass_one_image():
    with pytest.raises(ValueError, match=r"\(3, 64, 3\) may be one image .*X\[None\]"):
        PixelFeatures().fit(np.zeros((3, 64, 3)))
    with pytest.raises(ValueError, match=r"X\[None\].*image_shape|image_shape.*X\[None\]"):
        PixelFeatures().fit(np.zeros((3, 5)))  # a table, or a 3x5 grey image
    # rows of flattened images with image_shape, as before
    rows = _rng_images((4, 12))
    F = PixelFeatures(image_shape=(6, 2)).fit_transform(rows)
    np.testing.assert_array_equal(F, PixelFeatures().fit_transform(rows.reshape(4, 6, 2)))
    # an extractor of colour images takes a small (h, w, 3) as one image
    small = _rng_images((3, 64, 3))
    F = ChannelMeans(colour=True).fit_transform(small)
    np.testing.assert_allclose(F, [[*small.mean(axis=(0, 1)), 3, 64]], rtol=1e-5)


def test_as_extractor_input_costs_nothing_on_batches():
    X = _rng_images((5, 8, 8))
    assert as_extractor_input(X) is X
    one = _rng_images((8, 8, 3))
    assert np.shares_memory(as_extractor_input(one), one)  # a view, not a copy


# ----------------------------------------------------------------- paths, lists, folders


def test_paths_lists_and_folders_equal_their_arrays(tmp_path):
    a = write_png(tmp_path / "faces" / "2.png", seed=1)
    b = write_png(tmp_path / "faces" / "10.png", seed=2)
    c = write_png(tmp_path / "faces" / "sub" / "1.png", seed=3)
    lbp = LBPFeatures().fit(a[None])
    arrays = lbp.transform(np.stack([a, b, c]).astype(np.float32))
    # one path: the row of read_image(path)[None]
    path = tmp_path / "faces" / "2.png"
    np.testing.assert_array_equal(lbp.transform(str(path)), lbp.transform(read_image(path)[None]))
    np.testing.assert_array_equal(lbp.transform(path), arrays[:1])  # a PathLike too
    # a list of two paths, in the list's order
    two = lbp.transform([tmp_path / "faces" / "10.png", str(path)])
    np.testing.assert_array_equal(two, arrays[[1, 0]])
    # a folder: every image under it, recursively, natural order (2 before 10, then sub/)
    np.testing.assert_array_equal(lbp.transform(tmp_path / "faces"), arrays)
    np.testing.assert_array_equal(clone(lbp).fit_transform(str(tmp_path / "faces")), arrays)


def test_bad_paths_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no image file or folder .*nowhere\.png"):
        PixelFeatures().fit_transform(tmp_path / "nowhere.png")
    good = tmp_path / "a.png"
    write_png(good)
    with pytest.raises(FileNotFoundError, match=r"no image file .*gone\.png"):
        PixelFeatures().fit_transform([good, tmp_path / "gone.png"])
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ImageReadError, match=r"notes\.txt"):
        PixelFeatures().fit_transform(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match="paths only; got both"):
        PixelFeatures().fit_transform([good, read_image(good)])
    with pytest.raises(ValueError, match="is a folder"):
        PixelFeatures().fit_transform([good, tmp_path])


def test_mixed_sizes_are_listed_for_an_extractor_that_needs_one_size(tmp_path):
    for i, shape in enumerate([(20, 16), (20, 16), (30, 30), (12, 12, 3)]):
        write_png(tmp_path / f"{i}.png", shape=shape, seed=i)
    with pytest.raises(ValueError) as info:
        PixelFeatures().fit_transform(tmp_path)
    msg = str(info.value)
    assert "3 different shapes: (20, 16) x 2 (e.g. 0.png)" in msg
    assert "(30, 30) x 1 (e.g. 2.png)" in msg and "(12, 12, 3) x 1 (e.g. 3.png)" in msg
    assert "'resize' transform" in msg
    imgs = [_rng_images((20, 16)), _rng_images((30, 30))]
    with pytest.raises(ValueError, match=r"2 different shapes: \(20, 16\) x 1 \(e.g. images\[0\]"):
        PixelFeatures().fit_transform(imgs)


@pytest.mark.parametrize("mode", ["list", "split"])
def test_mixed_sizes_for_an_extractor_that_sizes_images_itself(tmp_path, mode):
    imgs = [_rng_images(s, seed=i) for i, s in enumerate([(20, 16), (30, 30, 3), (30, 30, 3)])]
    expected = np.concatenate([ChannelMeans().fit_transform(im[None]) for im in imgs])
    ext = ChannelMeans(mixed=mode)
    np.testing.assert_allclose(ext.fit_transform(imgs), expected, rtol=1e-6)
    assert ext.image_shape_ == (20, 16)  # the first image's, for the record
    ext.batch_size_ = 2  # batches that hold, and split at, several shapes
    np.testing.assert_allclose(ext.transform(imgs), expected, rtol=1e-6)
    np.testing.assert_allclose(ext.transform(imgs[1]), expected[1:2], rtol=1e-6)  # any size


def test_a_subclass_overriding_transform_gets_read_input(tmp_path):
    seen = []

    class Spy(ChannelMeans):
        def transform(self, X):
            seen.append(type(X).__name__)
            return super().transform(X)

    write_png(tmp_path / "x.png")
    row = Spy().fit_transform(tmp_path / "x.png")
    assert row.shape == (1, 5) and set(seen) == {"ImageSet"}
    seen.clear()
    row = Spy().fit(np.zeros((1, 40, 30, 3))).transform(_rng_images((40, 30, 3)))
    assert seen == ["ndarray"] and row.shape == (1, 5)


# ----------------------------------------------------------------- files found by content


def test_is_image_file_reads_content_and_follows_changes(tmp_path):
    png_as_txt = tmp_path / "photo.txt"
    write_png(png_as_txt)
    text_as_jpg = tmp_path / "photo.jpg"
    text_as_jpg.write_text("I am not a JPEG")
    assert is_image_file(png_as_txt) and not is_image_file(text_as_jpg)
    assert not is_image_file(tmp_path / "missing") and not is_image_file(tmp_path)
    # cached per path, size and mtime: a rewritten file is read again
    st = os.stat(text_as_jpg)
    write_png(text_as_jpg, shape=(9, 9))
    os.utime(text_as_jpg, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert is_image_file(text_as_jpg)


def test_files_dataset_labels_from_a_pattern_on_extensionless_orl_copies(tmp_path):
    from tests.conftest import data_root

    root = data_root()
    if root is None:
        pytest.skip("ORL is absent")
    orl = need(root, "orl")
    for s in (1, 2, 10):
        for cond, i in (("glasses", 1), ("happy", 2)):
            shutil.copy(orl / f"s{s}" / f"{i}.pgm", tmp_path / f"subject{s:02d}.{cond}")
    (tmp_path / "Readme").write_text("The Yale-like faces")
    with pytest.warns(UserWarning, match=r"skipping 1 file\(s\) that are not images.*Readme"):
        s = open_dataset("files", path=tmp_path, label_from=r"^(subject\d+)\.")
    assert s.class_names == ("subject01", "subject02", "subject10")
    assert s.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert s.describe(0) == "subject01.glasses" and s.describe(5) == "subject10.happy"
    np.testing.assert_array_equal(s.load()[3], read_image(orl / "s2" / "2.pgm"))
    # no labels: one class
    with pytest.warns(UserWarning):
        u = open_dataset("files", path=tmp_path)
    assert u.class_names == ("unlabelled",) and u.labels.tolist() == [0] * 6
    # a file the pattern does not match is named
    with pytest.warns(UserWarning), pytest.raises(ValueError, match=r"'subject01\.glasses'"):
        open_dataset("files", path=tmp_path, label_from=r"^(subject1\d)")


def test_files_dataset_sniffs_content_and_labels_from_parents(tmp_path):
    a = write_png(tmp_path / "alice" / "one.txt", seed=1)  # a PNG named .txt: read
    write_png(tmp_path / "alice" / "two", seed=2)
    write_png(tmp_path / "bob" / "10.png", seed=3)
    write_png(tmp_path / "bob" / "9.png", seed=4)
    (tmp_path / "bob" / "broken.jpg").write_text("text, not a JPEG")
    (tmp_path / ".cache").mkdir()
    write_png(tmp_path / ".cache" / "hidden.png")
    with pytest.warns(UserWarning, match=r"skipping 1 file\(s\) .*bob/broken\.jpg") as record:
        s = open_dataset("files", path=tmp_path, label_from="parent")
    assert len(record) == 1
    assert [s.describe(i) for i in range(len(s))] == [
        os.path.join("alice", "one.txt"),
        os.path.join("alice", "two"),
        os.path.join("bob", "9.png"),
        os.path.join("bob", "10.png"),
    ]
    assert s.class_names == ("alice", "bob") and s.labels.tolist() == [0, 0, 1, 1]
    np.testing.assert_array_equal(s.load(indices=[0])[0], a)
    only_png = open_dataset("files", path=tmp_path, extensions=["PNG"])
    assert len(only_png) == 2 and only_png.class_names == ("unlabelled",)
    with pytest.raises(InvalidParameterError, match=r"'label_from'.*not a valid regular"):
        open_dataset("files", path=tmp_path, label_from="(unclosed")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "x.txt").write_text("")
    with pytest.warns(UserWarning), pytest.raises(ValueError, match=r"under .*empty': 1 file"):
        open_dataset("files", path=tmp_path / "empty")


def test_image_folder_takes_extensionless_images_by_content(tmp_path):
    write_png(tmp_path / "cat" / "001.png")
    write_png(tmp_path / "cat" / "kitten.happy", seed=1)
    write_png(tmp_path / "dog" / "rex")
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    with pytest.warns(UserWarning, match=r"image_folder: skipping 1 file.*notes\.txt"):
        s = image_folder(tmp_path)
    assert [s.describe(i) for i in range(3)] == [
        os.path.join("cat", "001.png"),
        os.path.join("cat", "kitten.happy"),
        os.path.join("dog", "rex"),
    ]
    assert s.labels.tolist() == [0, 0, 1]
    with pytest.warns(UserWarning, match=r"skipping 1 class folder.*: dog"):
        assert len(image_folder(tmp_path, sniff=False)) == 1
    with pytest.raises(ValueError, match=r"no class subfolders.*the 'files' dataset"):
        image_folder(tmp_path / "cat")


# ----------------------------------------------------------------- ImageSet as X in scikit-learn


def test_imageset_indexing_as_scikit_learn_does():
    images = _rng_images((6, 4, 4))
    s = ImageSet(name="t", labels=np.arange(6) % 2, class_names=("a", "b"), images=images)
    assert s.shape == (6,)
    for key in ([4, 1], np.array([4, 1]), (np.array([4, 1]), Ellipsis)):
        sub = s[key]
        assert isinstance(sub, ImageSet) and sub.labels.tolist() == [0, 1]
        np.testing.assert_array_equal(sub.images, images[[4, 1]])
    assert s[s.labels == 1].labels.tolist() == [1, 1, 1] and len(s[1:3]) == 2
    np.testing.assert_array_equal(s[-1], images[5])
    with pytest.raises(IndexError, match="out of range"):
        s[6]
    with pytest.raises(IndexError, match="boolean mask"):
        s[np.array([True, False])]
    loose = ImageSet(name="loose", paths=("a.png", "b.png"))
    assert loose.class_names == ("unlabelled",) and loose.labels.tolist() == [0, 0]


def test_cross_val_score_and_grid_search_on_an_imageset():
    digits = open_dataset("sklearn_digits")[np.arange(0, 1797, 3)]  # 599 images, still a set
    knn = Pipeline([("features", PixelFeatures()), ("head", KNNHead())])
    scores = cross_val_score(knn, digits, digits.labels, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.93, scores
    search = GridSearchCV(knn, {"head__n_neighbors": [1, 25]}, cv=3).fit(digits, digits.labels)
    assert search.best_score_ > 0.9 and search.best_params_ == {"head__n_neighbors": 1}
    assert search.predict(digits[:5]).tolist() == digits.labels[:5].tolist()


def test_cross_val_score_on_a_lazy_set_of_files(tmp_path):
    # two classes of noisy images around two patterns, saved as files: folds stay lazy
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, size=(2, 12, 12))
    from PIL import Image

    for k in range(2):
        for i in range(6):
            img = np.clip(base[k] + rng.normal(0, 20, size=(12, 12)), 0, 255).astype(np.uint8)
            (tmp_path / f"c{k}").mkdir(exist_ok=True)
            Image.fromarray(img).save(tmp_path / f"c{k}" / f"{i}", format="PNG")  # no extension
    s = image_folder(tmp_path)
    assert len(s) == 12 and s.lazy
    pipe = Pipeline([("features", PixelFeatures()), ("head", KNNHead(n_neighbors=1))])
    assert cross_val_score(pipe, s, s.labels, cv=3).tolist() == [1.0, 1.0, 1.0]


# ----------------------------------------------------------------- dlib: photos of any size


@pytest.mark.slow  # loads dlib's models (a few seconds) and describes 4 faces
def test_dlib_takes_one_photo_and_photos_of_different_sizes():
    pytest.importorskip("dlib")
    from tests.conftest import data_root
    from transfer.features.identity import DlibResNetFeatures

    root = data_root()
    if root is None:
        pytest.skip("LFW is absent")
    lfw = need(root, "lfw/lfw-deepfunneled")
    a = read_image(lfw / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg")
    b = read_image(sorted((lfw / "Abdullah_Gul").iterdir())[0])
    from skimage.transform import resize

    big = np.clip(resize(b, (400, 400, 3), preserve_range=True), 0, 255).astype(np.uint8)
    ext = DlibResNetFeatures()
    one = ext.fit_transform(a)  # one (h, w, 3) photo: one row
    assert one.shape == (1, 128)
    np.testing.assert_allclose(one, ext.transform(a[None]), atol=1e-6)
    mixed = ext.transform([a, big, b])  # 250 x 250 and 400 x 400: no resize asked for
    np.testing.assert_allclose(mixed[0], one[0], atol=1e-6)
    np.testing.assert_allclose(mixed[1], ext.transform(big)[0], atol=1e-6)
    assert np.linalg.norm(mixed[1] - mixed[2]) < 0.6 < np.linalg.norm(mixed[0] - mixed[2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no resize advice, no warning
        ragged = np.empty(3, dtype=object)
        ragged[0], ragged[1], ragged[2] = a, big, b
        np.testing.assert_allclose(ext.transform(ImageSet(name="p", images=ragged)), mixed)


@pytest.mark.slow  # builds FaceNet's network
def test_facenet_takes_one_photo_paths_and_photos_of_different_sizes(weights_home):
    from tests.conftest import data_root
    from transfer.features.identity import FaceNetFeatures

    weights_home("facenet_inception_resnet_v1")
    root = data_root()
    if root is None:
        pytest.skip("LFW is absent")
    path = need(root, "lfw/lfw-deepfunneled") / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg"
    photo = read_image(path)
    ext = FaceNetFeatures(runtime="tensorflow")
    one = ext.fit_transform(photo)  # issue 14: was (250, 128), 250 "grey images"
    assert one.shape == (1, 128)
    np.testing.assert_allclose(one, ext.transform(photo[None]), atol=1e-5)
    # a path is decoded by tf.data, whose JPEG decoder differs from PIL's by a grey level
    assert float(ext.transform(path)[0] @ one[0]) > 0.999
    other = need(root, "lfw/lfw-deepfunneled") / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg"
    rows = ext.transform([path, other])
    assert float(rows[0] @ one[0]) > 0.999 and float(rows[0] @ rows[1]) < 0.9


@pytest.mark.slow  # builds FaceNet's network
def test_facenet_takes_photos_of_different_sizes(weights_home):
    from tests.conftest import data_root
    from transfer.features.identity import FaceNetFeatures

    weights_home("facenet_inception_resnet_v1")
    root = data_root()
    if root is None:
        pytest.skip("LFW and ORL are absent")
    lfw = need(root, "lfw/lfw-deepfunneled")
    photo = read_image(lfw / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg")
    grey = read_image(need(root, "orl") / "s1" / "1.pgm")
    ext = FaceNetFeatures(runtime="tensorflow").fit(photo)
    rows = ext.transform([photo, grey, photo])  # 250 x 250 x 3 and 112 x 92: resized inside
    np.testing.assert_allclose(rows[[0, 2]], ext.transform(photo[None]).repeat(2, 0), atol=1e-5)
    np.testing.assert_allclose(rows[1], ext.transform(grey)[0], atol=1e-5)
