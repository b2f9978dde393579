"""Dataset loaders on the real datasets and on small broken folders made on the fly.

The real data is found through ``TRANSFER_DATA``, else ``../shared/data``
next to the repository; tests that need a dataset that is absent are skipped
saying which. Expected counts are those published with each dataset (see
``shared/data/README.md``) or, for LFW with ``min_images_per_person=20``,
those of scikit-learn's ``fetch_lfw_people(min_faces_per_person=20)``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from transfer._registry import DATASETS, UnknownNameError
from transfer._validation import InvalidParameterError
from transfer.data import (
    DatasetInfo,
    DatasetNotAvailableError,
    ImageReadError,
    ImageSet,
    LFWCrop,
    celeba,
    dataset_info,
    image_folder,
    lfw,
    lfw_image_folder,
    lfw_image_path,
    load_tfds,
    npz,
    open_dataset,
    orl,
    read_celeba_attributes,
    read_lfw_people,
    select_classes,
    skimage_lfw_subset,
    sklearn_digits,
)
from transfer.data.tfds import network_available

REPO = Path(__file__).resolve().parents[1]


def _need(root: Path, sub: str) -> Path:
    # ``shared_data`` (conftest.py) is TRANSFER_DATA or ../shared/data, else the test skips.
    path = root / sub
    if not path.exists():
        pytest.skip(f"real dataset {sub!r} is absent from the data root {root}")
    return path


def write_image(path: Path, value: int = 128, size=(6, 5), mode="L") -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full(size[::-1] if mode == "L" else (*size[::-1], 3), value, dtype=np.uint8)
    Image.fromarray(arr).save(path)


# --------------------------------------------------------------------------- registry


def test_every_loader_is_registered_and_takes_path_first():
    import inspect

    assert {
        "image_folder",
        "orl",
        "lfw",
        "celeba",
        "npz",
        "sklearn_digits",
        "skimage_lfw_subset",
        "tfds",
    } <= set(DATASETS.names())
    for name in DATASETS.names():
        params = list(inspect.signature(DATASETS.get(name)).parameters.values())
        assert params[0].name == "path" and params[0].default is None, name
        assert DATASETS.summary(name), f"{name} has no docstring"


def test_every_loader_carries_its_info():
    for name in DATASETS.names():
        info = dataset_info(name)
        assert isinstance(info, DatasetInfo) and info.name == name
        assert info.summary == DATASETS.summary(name) and info.layout, name
        assert DATASETS.get(name).dataset_info is info
    assert dataset_info("orl").default_path == "orl" and "Samaria" in dataset_info("orl").citation
    assert dataset_info("lfw").default_path == "lfw" and dataset_info("celeba").url
    assert dataset_info("image_folder").default_path is None
    assert not dataset_info("sklearn_digits").takes_path
    assert dataset_info("tfds:mnist").name == "tfds"
    with pytest.raises(UnknownNameError, match="Did you mean 'celeba'"):
        dataset_info("celeb")
    with pytest.raises(dataclasses.FrozenInstanceError):
        dataset_info("orl").default_path = "elsewhere"


def test_plugin_loader_without_info_and_the_old_module():
    from transfer._registry import register_dataset
    from transfer.data import loaders

    @register_dataset("test_plugin_set")
    def plugin(path=None):
        """A plugin's dataset."""

    try:
        assert dataset_info("test_plugin_set") == DatasetInfo(
            name="test_plugin_set", summary="A plugin's dataset."
        )
    finally:
        DATASETS.unregister("test_plugin_set")
    # transfer.data.loaders still serves the names it used to define.
    assert loaders.image_folder is image_folder and loaders.select_classes is select_classes
    assert loaders.open_dataset is open_dataset and loaders.orl is orl


def test_import_does_not_load_tensorflow():
    import subprocess

    code = (
        "import sys, transfer.data; "
        "print(any(m.split('.')[0] in ('tensorflow', 'tensorflow_datasets') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=True,
    )
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- ORL


def test_orl_counts_order_and_shape(shared_data):
    s = orl(_need(shared_data, "orl"))
    assert len(s) == 400 and s.n_classes == 40
    assert np.bincount(s.labels).tolist() == [10] * 40
    assert s.class_names[:3] == ("s1", "s2", "s3")
    assert s.class_names.index("s10") == 9
    assert s.class_names[-1] == "s40"
    assert s.describe(1) == os.path.join("s1", "2.pgm")
    assert s.describe(9) == os.path.join("s1", "10.pgm")
    assert s.describe(90) == os.path.join("s10", "1.pgm") and s.labels[90] == 9
    assert s.image_shape() == (112, 92)
    assert s.lazy and s.name == "orl" and s.identities is None
    batch = s.load(indices=[0, 399])
    assert batch.shape == (2, 112, 92) and batch.dtype == np.float32
    assert 0 <= batch.min() and batch.max() <= 255


def test_orl_without_subject_folders(tmp_path):
    write_image(tmp_path / "faces" / "1.pgm")
    with pytest.raises(ValueError, match=r"no ORL subject folders .*s1, s2"):
        orl(tmp_path)


# --------------------------------------------------------------------------- LFW


def test_lfw_all(shared_data):
    s = lfw(_need(shared_data, "lfw"))
    assert len(s) == 13233 and s.n_classes == 5749
    assert list(s.class_names) == sorted(s.class_names)
    assert s.describe(0) == os.path.join("AJ_Cook", "AJ_Cook_0001.jpg")
    assert os.path.basename(s.root) == "lfw-deepfunneled"
    assert (np.bincount(s.labels) >= 2).sum() == 1680


def test_lfw_min_images_per_person_matches_scikit_learn(shared_data):
    s = lfw(_need(shared_data, "lfw"), min_images_per_person=20)
    assert len(s) == 3023 and s.n_classes == 62
    bush = s.class_names.index("George_W_Bush")
    assert (s.labels == bush).sum() == 530


def test_lfw_people_files(shared_data):
    root = _need(shared_data, "lfw")
    train = lfw(root, people="peopleDevTrain.txt")
    assert train.n_classes == 4038 and len(train) == 9525
    test = lfw(root / "lfw-deepfunneled", people="peopleDevTest.txt")
    assert test.n_classes == 1711 and len(test) == 3708
    assert not set(train.class_names) & set(test.class_names)
    assert len(read_lfw_people(root / "peopleDevTrain.txt")) == 4038


def test_lfw_max_people_keeps_the_largest(shared_data):
    s = lfw(_need(shared_data, "lfw"), max_people=3)
    assert s.class_names == ("Colin_Powell", "George_W_Bush", "Tony_Blair")
    assert np.bincount(s.labels).tolist() == [236, 530, 144]


def test_lfw_crop_on_a_few_images(shared_data):
    s = lfw(_need(shared_data, "lfw"), max_people=1).with_transforms(LFWCrop())
    batch = s.load(indices=[0, 1, 2])
    assert batch.shape == (3, 62, 47, 3) and batch.dtype == np.float32
    assert 0 <= batch.min() and batch.max() <= 255 and batch.std() > 10


def test_lfw_image_path_and_folder(shared_data):
    root = _need(shared_data, "lfw")
    folder = lfw_image_folder(root)
    assert folder == str(root / "lfw-deepfunneled")
    assert lfw_image_folder(folder) == folder
    p = lfw_image_path(folder, "Aaron_Peirsol", 3)
    assert p == os.path.join(folder, "Aaron_Peirsol", "Aaron_Peirsol_0003.jpg")
    assert os.path.isfile(p)
    with pytest.raises(InvalidParameterError, match="int >= 1"):
        lfw_image_path(folder, "Aaron_Peirsol", 0)


def make_lfw(tmp_path: Path, people: dict[str, int]) -> Path:
    for name, n in people.items():
        for k in range(1, n + 1):
            write_image(tmp_path / "lfw-funneled" / name / f"{name}_{k:04d}.jpg", size=(250, 250))
    return tmp_path


def test_lfw_errors(tmp_path):
    root = make_lfw(tmp_path, {"Ann_A": 2, "Bob_B": 1})
    assert len(lfw(root)) == 3
    with pytest.raises(FileNotFoundError, match=r"people file 'nope\.txt' not found"):
        lfw(root, people="nope.txt")
    (root / "people.txt").write_text("2\nAnn_A\t2\nCid_C\t1\n")
    with pytest.raises(FileNotFoundError, match=re.escape("Cid_C_0001.jpg")):
        lfw(root, people="people.txt")
    (root / "short.txt").write_text("3\nAnn_A\t2\nBob_B\t1\n")
    with pytest.raises(ValueError, match=r"short.txt:1: the section announces 3 people but has 2"):
        lfw(root, people="short.txt")
    (root / "bad.txt").write_text("1\nAnn_A two\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: expected"):
        lfw(root, people="bad.txt")
    # View 2 layout: number of folds, then sections.
    (root / "view2.txt").write_text("2\n1\nAnn_A\t2\n1\nBob_B\t1\n")
    assert lfw(root, people="view2.txt").class_names == ("Ann_A", "Bob_B")
    with pytest.raises(ValueError, match="min_images_per_person=5"):
        lfw(root, min_images_per_person=5)
    with pytest.raises(InvalidParameterError, match="'min_images_per_person'"):
        lfw(root, min_images_per_person=0)
    with pytest.raises(InvalidParameterError, match="'max_people'"):
        lfw(root, max_people="3")
    with pytest.raises(InvalidParameterError, match="'people'"):
        lfw(root, people=3)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no LFW image folder in"):
        lfw(empty)


# --------------------------------------------------------------------------- CelebA


def test_celeba_real(shared_data):
    root = _need(shared_data, "celeba")
    s = celeba(root)
    assert len(s) == 10000 and s.attributes.shape == (10000, 40)
    assert s.attributes.dtype == np.uint8 and set(np.unique(s.attributes)) == {0, 1}
    assert s.attribute_names[0] == "5_o_Clock_Shadow" and s.attribute_names[-1] == "Young"
    male = s.attributes[:, s.attribute_names.index("Male")]
    assert male.sum() == 4217  # 42 % men, as in the full CelebA (about 42 %)
    assert s.class_names == ("face",) and not s.labels.any() and s.identities is None
    assert s.describe(0) == "000001.jpg" and s.describe(9999) == "010000.jpg"
    with open(root / "list_attr_celeba.txt", encoding="utf-8") as f:
        f.readline(), f.readline()
        first = f.readline().split()
    assert first[0] == "000001.jpg"
    assert s.attributes[0].tolist() == [int(v == "1") for v in first[1:]]
    assert s.image_shape() == (109, 89, 3)


def test_celeba_attributes_label_and_max_images(shared_data):
    s = celeba(
        _need(shared_data, "celeba"), attributes=["Smiling", "Male"], label="Male", max_images=50
    )
    assert len(s) == 50 and s.attribute_names == ("Smiling", "Male")
    assert s.class_names == ("not Male", "Male")
    assert np.array_equal(s.labels, s.attributes[:, 1])
    with pytest.raises(UnknownNameError, match="Did you mean 'Male'"):
        celeba(_need(shared_data, "celeba"), attributes=["Mail"])
    with pytest.raises(UnknownNameError, match="Did you mean 'Smiling'"):
        celeba(_need(shared_data, "celeba"), label="Smilling")


def make_celeba(tmp_path: Path, rows: list[str], images: list[str]) -> Path:
    (tmp_path / "img_align_celeba").mkdir(parents=True)
    for f in images:
        write_image(tmp_path / "img_align_celeba" / f, mode="RGB")
    header = "3\r\nBald Male  Young \r\n"
    (tmp_path / "list_attr_celeba.txt").write_bytes((header + "".join(rows)).encode())
    return tmp_path


def test_celeba_irregular_file(tmp_path):
    rows = ["000001.jpg  1 -1  1\r\n", "000002.jpg -1  1 -1\r\n", "000003.jpg -1 -1 -1\r\n"]
    root = make_celeba(tmp_path, rows, ["000001.jpg", "000002.jpg", "000003.jpg"])
    s = celeba(root)
    assert s.attribute_names == ("Bald", "Male", "Young")
    assert s.attributes.tolist() == [[1, 0, 1], [0, 1, 0], [0, 0, 0]]


def test_celeba_errors(tmp_path):
    rows = ["000001.jpg  1 -1  1\r\n", "000002.jpg -1  1 -1\r\n", "000003.jpg -1 -1 -1\r\n"]
    root = make_celeba(tmp_path / "a", rows, ["000001.jpg", "000003.jpg"])
    with pytest.raises(FileNotFoundError, match=r"CelebA image .*000002\.jpg' listed in"):
        celeba(root)
    assert len(celeba(root, max_images=1)) == 1
    (root / "list_attr_celeba.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"list_attr_celeba\.txt' does not exist"):
        celeba(root)
    bad = make_celeba(tmp_path / "b", [rows[0], "000002.jpg -1 2 -1\r\n", rows[2]], [])
    with pytest.raises(ValueError, match=r"'000002\.jpg'.*Male has value '2'"):
        read_celeba_attributes(bad / "list_attr_celeba.txt")
    short = make_celeba(tmp_path / "c", rows[:2], [])
    with pytest.raises(ValueError, match="announces 3 images but 2 rows"):
        read_celeba_attributes(short / "list_attr_celeba.txt")
    with pytest.raises(InvalidParameterError, match="'max_images'"):
        celeba(root, max_images=0)
    with pytest.raises(FileNotFoundError, match=r"data folder .* does not exist"):
        celeba(tmp_path / "missing")


# --------------------------------------------------------------------------- arrays


def test_mnist_npz(shared_data):
    s = npz(_need(shared_data, "mnist/mnist.npz"))
    assert len(s) == 70000 and s.name == "mnist" and not s.lazy
    assert (s.split == "train").sum() == 60000 and (s.split == "test").sum() == 10000
    assert s.split[0] == "train" and s.split[-1] == "test"
    assert s.images.shape == (70000, 28, 28) and s.images.dtype == np.uint8
    assert s.class_names == tuple(str(d) for d in range(10))
    assert np.bincount(s.labels[s.split == "test"]).tolist()[:3] == [980, 1135, 1032]
    small = npz(_need(shared_data, "mnist/mnist.npz"), max_train=1000, max_test=0)
    assert len(small) == 1000 and set(small.split) == {"train"}
    assert np.bincount(small.labels).min() >= 90


def test_npz_subset_is_stratified_on_sorted_labels(tmp_path):
    x = np.arange(40, dtype=np.uint8).reshape(40, 1, 1).repeat(4, 1).repeat(4, 2)
    y = np.repeat([0, 1, 2, 3], 10)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_test=x[:4], y_test=y[:4])
    s = npz(tmp_path / "d.npz", max_train=8, class_names=["a", "b", "c", "d"])
    assert s.class_names == ("a", "b", "c", "d")
    train = s.split == "train"
    assert np.bincount(s.labels[train]).tolist() == [2, 2, 2, 2]
    assert s.images[train][:, 0, 0].tolist() == [0, 1, 10, 11, 20, 21, 30, 31]


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "x.npz", x_train=np.zeros((2, 3, 3)), y_train=np.zeros(2))
    with pytest.raises(ValueError, match=r"x\.npz' lacks x_test, y_test"):
        npz(tmp_path / "x.npz")
    with pytest.raises(FileNotFoundError, match=r"npz file .*nope\.npz' does not exist"):
        npz(tmp_path / "nope.npz")
    np.savez(
        tmp_path / "y.npz",
        x_train=np.zeros((2, 3, 3)),
        y_train=np.array([0, 5]),
        x_test=np.zeros((1, 3, 3)),
        y_test=np.array([0]),
    )
    with pytest.raises(InvalidParameterError, match="'class_names'"):
        npz(tmp_path / "y.npz", class_names=["a", "b"])
    assert npz(tmp_path / "y.npz").class_names == ("0", "5")
    with pytest.raises(InvalidParameterError, match="'max_train'"):
        npz(tmp_path / "y.npz", max_train=-1)


def test_sklearn_digits():
    s = sklearn_digits()
    assert len(s) == 1797 and s.images.shape == (1797, 8, 8)
    assert s.images.max() == 255.0 and s.images.min() == 0.0
    assert s.class_names == tuple("0123456789")
    with pytest.raises(InvalidParameterError, match="takes no 'path'"):
        sklearn_digits("somewhere")


def test_skimage_lfw_subset():
    s = skimage_lfw_subset()
    assert len(s) == 200 and s.images.shape == (200, 25, 25)
    assert s.class_names == ("face", "non-face")
    assert s.labels[:100].sum() == 0 and s.labels[100:].all()
    assert 0 <= s.images.min() and s.images.max() == pytest.approx(255.0)


# --------------------------------------------------------------------------- image folders


def test_image_folder(tmp_path):
    for cls, n in (("dog", 2), ("cat", 3)):
        for i in range(n):
            write_image(tmp_path / cls / f"{i:03d}.png", value=10 * i)
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden").mkdir()
    with pytest.warns(UserWarning, match=r"skipping 1 file\(s\) that are not images.*notes"):
        s = image_folder(tmp_path)
    assert s.class_names == ("cat", "dog") and s.labels.tolist() == [0, 0, 0, 1, 1]
    assert s.describe(0) == os.path.join("cat", "000.png")
    assert s.load().shape == (5, 5, 6)
    with pytest.warns(UserWarning, match="not images"):
        assert len(image_folder(tmp_path, extensions=[".jpg", "png"])) == 5
    (tmp_path / "empty").mkdir()
    with (
        pytest.warns(UserWarning, match="not images"),
        pytest.warns(UserWarning, match="skipping 1 class folder.*empty"),
    ):
        s = image_folder(tmp_path)
    assert s.class_names == ("cat", "dog")


def test_image_folder_warns_once_about_broken_links(tmp_path):
    write_image(tmp_path / "cat" / "1.png")
    write_image(tmp_path / "dog" / "1.png")
    for i in range(7):
        os.symlink(tmp_path / "gone" / f"{i}.png", tmp_path / "dog" / f"link{i}.png")
    os.symlink(tmp_path / "gone", tmp_path / "bird")  # a class folder that vanished
    os.symlink(tmp_path / "cat" / "1.png", tmp_path / "dog" / "ok.png")  # a live link
    os.symlink(tmp_path / "gone.txt", tmp_path / "dog" / "notes.txt")  # not an image: ignored
    with pytest.warns(UserWarning) as record:
        s = image_folder(tmp_path)
    assert len(record) == 1
    msg = str(record[0].message)
    assert msg.startswith("image_folder: skipping 8 broken symbolic link(s)")
    assert repr(str(tmp_path / "bird")) in msg and "link0.png" in msg and "(first 5 shown)" in msg
    assert "notes.txt" not in msg
    assert s.class_names == ("cat", "dog") and len(s) == 3
    assert s.describe(2) == os.path.join("dog", "ok.png")


def test_orl_and_lfw_warn_about_broken_links(tmp_path):
    write_image(tmp_path / "orl" / "s1" / "1.pgm")
    os.symlink(tmp_path / "nowhere.pgm", tmp_path / "orl" / "s1" / "2.pgm")
    with pytest.warns(UserWarning, match=r"orl: skipping 1 broken .*s1/2\.pgm"):
        assert len(orl(tmp_path / "orl")) == 1
    root = make_lfw(tmp_path / "l", {"Ann_A": 1})
    os.symlink(tmp_path / "x.jpg", root / "lfw-funneled" / "Ann_A" / "Ann_A_0002.jpg")
    with pytest.warns(UserWarning, match=r"lfw: skipping 1 broken .*Ann_A_0002\.jpg"):
        assert len(lfw(root)) == 1


def test_image_folder_test_path_may_lack_classes(tmp_path):
    for cls in ("a", "b"):
        write_image(tmp_path / "train" / cls / "1.png")
    write_image(tmp_path / "test" / "b" / "1.png")
    s = image_folder(tmp_path / "train", test_path=tmp_path / "test")
    assert s.split_counts() == {"train": 2, "test": 1}
    assert s.split.tolist() == ["train", "train", "test"] and s.labels.tolist() == [0, 1, 1]


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data folder .*nowhere' does not exist"):
        image_folder(tmp_path / "nowhere")
    write_image(tmp_path / "flat" / "a.png")
    with pytest.raises(ValueError, match=r"no class subfolders in .*flat' \(it holds 1 images"):
        image_folder(tmp_path / "flat")
    (tmp_path / "noimg" / "a").mkdir(parents=True)
    (tmp_path / "noimg" / "a" / "x.txt").write_text("")
    with (
        pytest.warns(UserWarning, match=r"not images.*x\.txt"),
        pytest.raises(ValueError, match=r"no images found under .*noimg' \(extensions \.jpg"),
    ):
        image_folder(tmp_path / "noimg")
    with pytest.raises(InvalidParameterError, match="'extensions'"):
        image_folder(tmp_path / "flat", extensions=[])
    with pytest.raises(InvalidParameterError, match="needs a 'path'"):
        image_folder()


def test_corrupt_images_are_named_when_read(tmp_path):
    write_image(tmp_path / "a" / "good.jpg")
    (tmp_path / "a" / "empty.jpg").write_bytes(b"")
    (tmp_path / "b" / "garbage.jpg").parent.mkdir()
    (tmp_path / "b" / "garbage.jpg").write_bytes(b"\xff\xd8 this is not a jpeg" * 10)
    s = image_folder(tmp_path)  # listing decodes nothing
    assert len(s) == 3
    with pytest.raises(ImageReadError, match=r"empty\.jpg.*the file is empty"):
        s.load()
    with pytest.raises(ImageReadError, match=r"garbage\.jpg"):
        s.load(indices=[2])
    assert s.load(indices=[1]).shape == (1, 5, 6)


# --------------------------------------------------------------------------- helpers


def toy_set(counts) -> ImageSet:
    labels = np.repeat(np.arange(len(counts)), counts)
    return ImageSet(
        name="toy",
        labels=labels,
        class_names=tuple(f"c{k}" for k in range(len(counts))),
        images=np.arange(len(labels), dtype=np.float32)[:, None, None].repeat(2, 1).repeat(2, 2),
    )


def test_select_classes():
    s = toy_set([5, 1, 3, 4])
    sub = select_classes(s, min_per_class=3)
    assert sub.class_names == ("c0", "c2", "c3")
    assert np.bincount(sub.labels).tolist() == [5, 3, 4]
    sub = select_classes(s, max_classes=2, max_per_class=2, seed=1)
    assert sub.class_names == ("c0", "c3") and np.bincount(sub.labels).tolist() == [2, 2]
    assert np.all(np.diff(sub.images[:, 0, 0]) > 0)  # original order kept
    again = select_classes(s, max_classes=2, max_per_class=2, seed=1)
    assert np.array_equal(again.images, sub.images)
    with pytest.raises(ValueError, match="no class of 'toy' has min_per_class=6"):
        select_classes(s, min_per_class=6)
    with pytest.raises(InvalidParameterError, match="'max_classes'"):
        select_classes(s, max_classes=0)


def split_set(train_counts, test_counts) -> ImageSet:
    """A toy set with a given split: per class, its training then its test images."""
    labels, split = [], []
    for k, (n_train, n_test) in enumerate(zip(train_counts, test_counts, strict=True)):
        labels += [k] * (n_train + n_test)
        split += ["train"] * n_train + ["test"] * n_test
    n = len(labels)
    return ImageSet(
        name="split",
        labels=np.array(labels),
        class_names=tuple(f"c{k}" for k in range(len(train_counts))),
        images=np.arange(n, dtype=np.float32)[:, None, None].repeat(2, 1).repeat(2, 2),
        split=np.array(split),
    )


def counts_by_split(s: ImageSet) -> dict[str, list[int]]:
    return {
        part: np.bincount(s.labels[s.split == part], minlength=s.n_classes).tolist()
        for part in ("train", "test")
    }


def test_select_classes_limits_the_training_split_only():
    s = split_set([6, 2, 4], [4, 9, 3])
    assert s.split_counts() == {"train": 12, "test": 16}
    sub = select_classes(s, max_per_class=3, seed=0)
    assert counts_by_split(sub) == {"train": [3, 2, 3], "test": [4, 9, 3]}
    assert sub.split_counts() == {"train": 8, "test": 16}
    # c1 has 11 images in all, but 2 for training: it is the one dropped.
    sub = select_classes(s, min_per_class=3)
    assert sub.class_names == ("c0", "c2")
    assert counts_by_split(sub) == {"train": [6, 4], "test": [4, 3]}
    sub = select_classes(s, max_classes=1, max_per_class=5)
    assert sub.class_names == ("c0",) and counts_by_split(sub) == {"train": [5], "test": [4]}
    with pytest.raises(ValueError, match=r"min_per_class=7 training images \(the most is 6\)"):
        select_classes(s, min_per_class=7)
    # Without a training split, the limits count every image, as without a split.
    test_only = s.subset(np.flatnonzero(s.split == "test"))
    assert np.bincount(select_classes(test_only, max_per_class=3).labels).tolist() == [3, 3, 3]


def test_select_classes_keeps_an_official_test_folder(tmp_path):
    for cls in ("a", "b"):
        for i in range(5):
            write_image(tmp_path / "train" / cls / f"{i}.png")
        for i in range(4):
            write_image(tmp_path / "test" / cls / f"{i}.png")
    s = image_folder(tmp_path / "train", test_path=tmp_path / "test")
    sub = select_classes(s, max_per_class=2)
    assert sub.split_counts() == {"train": 4, "test": 8}
    assert sum(d.startswith(str(tmp_path / "test")) for d in sub.paths) == 8


def test_split_counts():
    assert toy_set([2, 3]).split_counts() is None
    s = replace(toy_set([2, 3]), split=np.array(["val", "train", "test", "train", "val"]))
    assert s.split_counts() == {"train": 2, "test": 1, "val": 2}
    only = replace(toy_set([2]), split=np.array(["train", "train"]))
    assert only.split_counts() == {"train": 2, "test": 0}


def test_select_classes_on_orl(shared_data):
    sub = select_classes(orl(_need(shared_data, "orl")), max_classes=5, max_per_class=4)
    assert len(sub) == 20 and sub.class_names == ("s1", "s2", "s3", "s4", "s5")
    assert sub.describe(0).startswith("s1" + os.sep)


def test_open_dataset(tmp_path, monkeypatch):
    monkeypatch.delenv("TRANSFER_DATA", raising=False)
    with pytest.raises(ValueError, match=r"the data root is not set: set TRANSFER_DATA=.*'orl'"):
        open_dataset("orl")
    with pytest.raises(UnknownNameError, match="Did you mean 'celeba'"):
        open_dataset("celeb", path="x")
    with pytest.raises(
        UnknownNameError,
        match=r"unknown parameter 'min_image_per_person'.*Did you mean 'min_images_per_person'",
    ):
        open_dataset("lfw", path="lfw", min_image_per_person=3)
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "orl")) + ".*data root"):
        open_dataset("orl", root=tmp_path)
    monkeypatch.setenv("TRANSFER_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"/faces' .*from TRANSFER_DATA"):
        open_dataset("image_folder", path="faces")
    write_image(tmp_path / "faces" / "a" / "1.png")
    s = open_dataset("image_folder", path="faces")
    assert len(s) == 1 and s.root == str(tmp_path / "faces")
    assert len(open_dataset("sklearn_digits")) == 1797


def test_open_dataset_real_root(shared_data):
    root = _need(shared_data, "orl").parent
    assert len(open_dataset("orl", root=root)) == 400
    s = open_dataset("lfw", root=root, people="peopleDevTest.txt", min_images_per_person=10)
    assert s.name == "lfw" and s.n_classes > 0


# --------------------------------------------------------------------------- TFDS


def test_network_probe_is_quick():
    t0 = time.perf_counter()
    ok, detail = network_available("192.0.2.1", 9, timeout=0.5)  # TEST-NET-1: never answers
    assert not ok and "192.0.2.1:9" in detail
    assert time.perf_counter() - t0 < 2


def test_tfds_offline_error_is_quick(tmp_path, monkeypatch):
    pytest.importorskip("tensorflow_datasets")
    import transfer.data.tfds as tfds_mod

    monkeypatch.setattr(tfds_mod, "network_available", lambda: (False, "test: offline"))
    t0 = time.perf_counter()
    with pytest.raises(
        DatasetNotAvailableError, match=r"'mnist' is not prepared .*tfds build mnist"
    ):
        load_tfds("mnist", data_dir=tmp_path / "empty")
    with pytest.raises(DatasetNotAvailableError, match=re.escape("--set data.params.data_dir=")):
        open_dataset("tfds:mnist", path=str(tmp_path))
    assert time.perf_counter() - t0 < 10
    assert not (tmp_path / "empty").exists()
    with pytest.raises(UnknownNameError, match="Did you mean 'mnist'"):
        load_tfds("mnsit", data_dir=tmp_path)
    with pytest.raises(InvalidParameterError, match="'image_size'"):
        load_tfds("mnist", image_size=0)


@pytest.fixture(scope="module")
def tiny_tfds(tmp_path_factory):
    """A two-class 8x8 TFDS dataset prepared locally (TFDS generates it, no download)."""
    tfds = pytest.importorskip("tensorflow_datasets")

    class TransferTestTinyImages(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(
                builder=self,
                features=tfds.features.FeaturesDict(
                    {
                        "image": tfds.features.Image(shape=(8, 8, 1)),
                        "label": tfds.features.ClassLabel(names=["dark", "light"]),
                    }
                ),
                supervised_keys=("image", "label"),
            )

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(6), "test": self._generate_examples(2)}

        def _generate_examples(self, n):
            for i in range(n):
                yield i, {"image": np.full((8, 8, 1), 10 * i, np.uint8), "label": i % 2}

    data_dir = tmp_path_factory.mktemp("tfds")
    TransferTestTinyImages(data_dir=str(data_dir)).download_and_prepare()
    return data_dir


def test_tfds_prepared_dataset(tiny_tfds, monkeypatch):
    import transfer.data.tfds as tfds_mod

    def no_network():
        raise AssertionError("a prepared dataset must not probe the network")

    monkeypatch.setattr(tfds_mod, "network_available", no_network)
    s = load_tfds("transfer_test_tiny_images", data_dir=tiny_tfds)
    assert len(s) == 6 and s.images.shape == (6, 8, 8) and s.class_names == ("dark", "light")
    assert s.name == "tfds:transfer_test_tiny_images"
    assert np.array_equal(s.labels, (s.images[:, 0, 0] // 10) % 2)
    t = open_dataset(
        "tfds:transfer_test_tiny_images", path=str(tiny_tfds), split="test", image_size=4
    )
    assert t.images.shape == (2, 4, 4)
    with pytest.raises(UnknownNameError, match="Did you mean 'test'"):
        load_tfds("transfer_test_tiny_images", data_dir=tiny_tfds, split="tset")


def test_pad_frames_digits_like_mnist():
    from transfer.data.transforms import make_transform

    pad = make_transform({"pad": {"width": 4}})
    img = np.full((20, 20), 7.0, np.float32)
    out = pad(img)
    assert out.shape == (28, 28) and out[4:24, 4:24].min() == 7.0
    assert out[:4].max() == 0.0 and out[:, :4].max() == 0.0 and out[24:].max() == 0.0
    rgb = make_transform({"pad": {"width": 2, "value": 255}})(np.zeros((5, 6, 3), np.float32))
    assert rgb.shape == (9, 10, 3) and rgb[0, 0, 0] == 255 and rgb[2, 2, 0] == 0
    assert pad.spec() == {"name": "pad", "width": 4, "value": 0.0}
    with pytest.raises(ValueError, match="'width' must be an int >= 1"):
        make_transform({"pad": {"width": 0}})


def test_image_folder_test_and_train_per_class(tmp_path):
    for cls in ("cat", "dog"):
        for i in range(5):
            write_image(tmp_path / cls / f"{i:03d}.png", value=10 * i)
    s = image_folder(tmp_path, test_per_class=2)
    assert s.split_counts() == {"train": 6, "test": 4}
    test = [s.describe(i) for i in np.flatnonzero(s.split == "test")]
    assert test == [os.path.join(c, f"{i:03d}.png") for c in ("cat", "dog") for i in (3, 4)]
    # smaller training sets keep the same test images (learning curves)
    small = image_folder(tmp_path, test_per_class=2, train_per_class=1)
    assert small.split_counts() == {"train": 2, "test": 4}
    assert [small.describe(i) for i in np.flatnonzero(small.split == "test")] == test
    assert small.describe(0) == os.path.join("cat", "000.png")
    with pytest.raises(ValueError, match="leaves no training image"):
        image_folder(tmp_path, test_per_class=5)
    with pytest.raises(ValueError, match="either 'test_path' or 'test_per_class'"):
        image_folder(tmp_path, test_per_class=1, test_path=tmp_path)
    with pytest.raises(ValueError, match=r"'train_per_class'.*int >= 1"):
        image_folder(tmp_path, train_per_class=0)
