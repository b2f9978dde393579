"""The feature cache: per-image entries, checksums, failed writes, duplicates."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import transfer.recipes.cache as cache_mod
from transfer.data import ImageSet, Resize
from transfer.recipes import FeatureCache
from transfer.recipes.cache import FeatureCacheWarning, image_keys
from transfer.registry import create_extractor


def _set(images):
    return ImageSet(
        name="t", labels=np.arange(len(images)), class_names=tuple("abcd"), images=images
    )


def _write_pngs(folder: Path, n: int, seed: int = 0, start: int = 0) -> list[str]:
    """``n`` distinct 16x16 grey PNGs named img{start}.png ... in ``folder``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + n):
        path = folder / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def _files(paths, root) -> ImageSet:
    return ImageSet(
        name="files",
        labels=np.zeros(len(paths), dtype=int),
        class_names=("a",),
        paths=tuple(paths),
        root=str(root),
    )


def _fresh(data: ImageSet, **params) -> np.ndarray:
    """Features computed without any cache."""
    return create_extractor("lbp", **params).fit(data).transform(data)


@pytest.fixture
def rows_run(monkeypatch):
    """Counts the images LBP actually runs on, and the calls to ``fit``."""
    cls = type(create_extractor("lbp"))
    counts = {"rows": 0, "fits": 0}
    transform_batch, fit = cls._transform_batch, cls.fit

    def counting_batch(self, images):
        counts["rows"] += len(images)
        return transform_batch(self, images)

    def counting_fit(self, X, y=None):
        counts["fits"] += 1
        return fit(self, X, y)

    monkeypatch.setattr(cls, "_transform_batch", counting_batch)
    monkeypatch.setattr(cls, "fit", counting_fit)
    return counts


@contextlib.contextmanager
def _no_warnings():
    """Any warning inside fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# -- per-image entries --------------------------------------------------------
def test_dropping_and_adding_images_computes_only_new_ones(tmp_path, rows_run):
    paths = _write_pngs(tmp_path / "img", 11)
    cache = FeatureCache(tmp_path / "cache")
    first = _files(paths[:10], tmp_path / "img")
    out = cache.extract(create_extractor("lbp"), first, label="lbp")
    assert (out.n_computed, out.n_cached, rows_run["rows"]) == (10, 0, 10)
    np.testing.assert_array_equal(out.features, _fresh(first))
    assert out.features.dtype == np.float32

    rows_run["rows"] = 0
    second = _files(paths[:4] + paths[5:11], tmp_path / "img")  # drop img4, add img10
    out2 = cache.extract(create_extractor("lbp"), second, label="lbp")
    assert (out2.n_computed, out2.n_cached, rows_run["rows"]) == (1, 9, 1)
    assert out2.key == out.key
    np.testing.assert_array_equal(out2.features, _fresh(second))


def test_reordered_set_computes_nothing_and_never_fits(tmp_path, rows_run):
    paths = _write_pngs(tmp_path / "img", 6)
    cache = FeatureCache(tmp_path / "cache")
    data = _files(paths, tmp_path / "img")
    expected = cache.extract(create_extractor("lbp"), data, label="lbp").features
    rows_run.update(rows=0, fits=0)

    order = [5, 2, 0, 4, 1, 3]
    with _no_warnings():
        out = cache.extract(create_extractor("lbp"), data.subset(order), label="lbp")
    assert (out.n_computed, out.n_cached) == (0, 6)
    assert rows_run == {"rows": 0, "fits": 0}  # a CNN would not even load its model
    np.testing.assert_array_equal(out.features, expected[order])


def test_in_memory_images_are_cached_per_image(tmp_path, rows_run):
    imgs = np.random.default_rng(1).uniform(0, 255, (8, 16, 16))
    cache = FeatureCache(tmp_path)
    data = _set(imgs)
    cache.extract(create_extractor("lbp"), data.subset([0, 1, 2, 3, 4]), label="lbp")
    rows_run["rows"] = 0
    out = cache.extract(create_extractor("lbp"), data, label="lbp")
    assert (out.n_computed, out.n_cached, rows_run["rows"]) == (3, 5, 3)
    np.testing.assert_array_equal(out.features, _fresh(data))


def test_changed_transform_or_parameter_computes_all(tmp_path):
    paths = _write_pngs(tmp_path / "img", 5)
    cache = FeatureCache(tmp_path / "cache")
    data = _files(paths, tmp_path / "img")
    base = cache.extract(create_extractor("lbp"), data, label="lbp")
    resized = data.with_transforms(Resize(12))
    out = cache.extract(create_extractor("lbp"), resized, label="lbp")
    assert (out.n_computed, out.n_cached) == (5, 0)
    assert out.key != base.key
    np.testing.assert_array_equal(out.features, _fresh(resized))
    other = cache.extract(create_extractor("lbp", R=2), data, label="lbp")
    assert (other.n_computed, other.n_cached) == (5, 0)
    np.testing.assert_array_equal(other.features, _fresh(data, R=2))


def test_image_keys_follow_file_content_and_transforms(tmp_path):
    paths = _write_pngs(tmp_path, 2)
    data = _files(paths, tmp_path)
    keys = image_keys(data)
    assert len(set(keys)) == 2
    # the key follows the bytes, not the name: a renamed copy has the same key
    copy = tmp_path / "renamed.png"
    copy.write_bytes(Path(paths[0]).read_bytes())
    assert image_keys(_files([str(copy)], tmp_path)) == keys[:1]
    assert image_keys(data.with_transforms(Resize(8)))[0] != keys[0]
    # in memory: content, shape and dtype all count
    img = np.arange(16, dtype=np.uint8).reshape(4, 4)
    k = image_keys(_set(img[None]))[0]
    assert image_keys(_set(img.astype(np.float32)[None]))[0] != k
    assert image_keys(_set(img.reshape(2, 8)[None]))[0] != k
    changed = img.copy()
    changed[1, 1] += 1
    assert image_keys(_set(changed[None]))[0] != k


def test_file_digest_is_memoised_per_path_size_and_mtime(tmp_path):
    (path,) = _write_pngs(tmp_path, 1)
    key = image_keys(_files([path], tmp_path))[0]
    st = os.stat(path)
    # same size and mtime: the memo answers without reading the file again
    data = bytearray(Path(path).read_bytes())
    data[-1] ^= 0xFF
    Path(path).write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert image_keys(_files([path], tmp_path))[0] == key
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert image_keys(_files([path], tmp_path))[0] != key


# -- checksums ----------------------------------------------------------------
def _only_shard(cache_dir: Path) -> tuple[Path, Path]:
    (npy,) = cache_dir.rglob("*.npy")
    return npy, npy.with_suffix(".json")


def test_flipped_value_is_detected_and_recomputed(tmp_path):
    paths = _write_pngs(tmp_path / "img", 4)
    data = _files(paths, tmp_path / "img")
    cache = FeatureCache(tmp_path / "cache")
    cache.extract(create_extractor("lbp"), data, label="lbp")
    npy, _ = _only_shard(tmp_path / "cache")
    arr = np.load(npy)
    arr[2, 3] += 1.0
    np.save(npy, arr)

    with pytest.warns(FeatureCacheWarning, match="sha256 mismatch") as record:
        out = cache.extract(create_extractor("lbp"), data, label="lbp")
    assert str(npy) in str(record[0].message)
    assert (out.n_computed, out.n_cached) == (4, 0)
    np.testing.assert_array_equal(out.features, _fresh(data))
    # the damaged shard is removed: the next run is a clean, full hit
    assert not npy.exists()
    with _no_warnings():
        again = cache.extract(create_extractor("lbp"), data, label="lbp")
    assert (again.n_computed, again.n_cached) == (0, 4)
    np.testing.assert_array_equal(again.features, _fresh(data))


def test_non_finite_cached_values_are_recomputed(tmp_path):
    imgs = np.random.default_rng(2).uniform(0, 255, (3, 16, 16))
    data = _set(imgs)
    cache = FeatureCache(tmp_path)
    cache.extract(create_extractor("lbp"), data, label="lbp")
    npy, meta = _only_shard(tmp_path)
    arr = np.load(npy)
    arr[1, 0] = np.nan
    np.save(npy, arr)
    # a matching checksum: only the finiteness check can catch this
    record = json.loads(meta.read_text())
    record["sha256"] = hashlib.sha256(arr.tobytes()).hexdigest()
    meta.write_text(json.dumps(record))

    with pytest.warns(FeatureCacheWarning, match="NaN or infinite") as rec:
        out = cache.extract(create_extractor("lbp"), data, label="lbp")
    assert str(npy) in str(rec[0].message)
    assert out.n_computed == 3
    np.testing.assert_array_equal(out.features, _fresh(data))


def test_unreadable_record_is_recomputed(tmp_path):
    data = _set(np.random.default_rng(3).uniform(0, 255, (2, 16, 16)))
    cache = FeatureCache(tmp_path)
    cache.extract(create_extractor("lbp"), data, label="lbp")
    _, meta = _only_shard(tmp_path)
    meta.write_text("{not json")
    with pytest.warns(FeatureCacheWarning, match="unreadable record") as rec:
        out = cache.extract(create_extractor("lbp"), data, label="lbp")
    assert str(meta) in str(rec[0].message)
    assert out.n_computed == 2
    np.testing.assert_array_equal(out.features, _fresh(data))


def test_cached_rows_of_another_width_are_all_recomputed(tmp_path):
    data = _set(np.random.default_rng(6).uniform(0, 255, (4, 16, 16)))
    cache = FeatureCache(tmp_path)
    cache.extract(create_extractor("lbp"), data.subset([0, 1]), label="lbp")
    npy, meta = _only_shard(tmp_path)
    # a valid shard whose rows are wider than what the extractor gives now
    wide = np.hstack([np.load(npy), np.zeros((2, 1), np.float32)])
    np.save(npy, wide)
    record = json.loads(meta.read_text())
    record.update(shape=list(wide.shape), sha256=hashlib.sha256(wide.tobytes()).hexdigest())
    meta.write_text(json.dumps(record))
    with pytest.warns(FeatureCacheWarning, match="recomputing every image"):
        out = cache.extract(create_extractor("lbp"), data, label="lbp")
    assert (out.n_computed, out.n_cached) == (4, 0)
    np.testing.assert_array_equal(out.features, _fresh(data))


# -- failed writes --------------------------------------------------------------
def test_disk_full_warns_and_the_run_goes_on(tmp_path, monkeypatch):
    def full(path, write):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache_mod, "atomic_write", full)
    data = _set(np.random.default_rng(4).uniform(0, 255, (3, 16, 16)))
    cache = FeatureCache(tmp_path / "cache")
    with pytest.warns(FeatureCacheWarning, match="No space left on device") as rec:
        out = cache.extract(create_extractor("lbp"), data, label="lbp")
    assert str(tmp_path / "cache") in str(rec[0].message)
    np.testing.assert_array_equal(out.features, _fresh(data))
    assert out.n_computed == 3
    # writing stopped after the first failure: no second warning, still correct
    with _no_warnings():
        again = cache.extract(create_extractor("lbp", R=2), data, label="lbp2")
    np.testing.assert_array_equal(again.features, _fresh(data, R=2))


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="chmod does not stop root writing"
)
def test_read_only_cache_folder_warns_and_the_run_goes_on(tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        data = _set(np.random.default_rng(5).uniform(0, 255, (3, 16, 16)))
        with pytest.warns(FeatureCacheWarning, match="cannot write to") as rec:
            out = FeatureCache(folder).extract(create_extractor("lbp"), data, label="lbp")
        assert str(folder) in str(rec[0].message)
        np.testing.assert_array_equal(out.features, _fresh(data))
    finally:
        folder.chmod(0o755)


# -- duplicates and misuse ------------------------------------------------------
def test_duplicate_images_warn_once_and_every_row_is_filled(tmp_path, rows_run):
    paths = _write_pngs(tmp_path / "img", 3)
    dup = tmp_path / "img" / "copy_of_img1.png"
    dup.write_bytes(Path(paths[1]).read_bytes())
    data = _files([*paths, str(dup)], tmp_path / "img")
    with pytest.warns(UserWarning, match="1 images are byte-identical") as rec:
        out = FeatureCache(tmp_path / "cache").extract(create_extractor("lbp"), data, label="lbp")
    messages = [str(w.message) for w in rec if "byte-identical" in str(w.message)]
    assert len(messages) == 1
    assert "img1.png = copy_of_img1.png" in messages[0]
    assert (out.n_computed, rows_run["rows"]) == (3, 3)
    np.testing.assert_array_equal(out.features, _fresh(data))


def test_extractor_that_learns_is_refused(tmp_path):
    data = _set(np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="'ft' learns from data"):
        FeatureCache(tmp_path).extract(create_extractor("cnn_finetuned"), data, label="ft")


# -- whole-set entries (older API) ------------------------------------------------
def test_key_changes_with_what_changes_features():
    rng = np.random.default_rng(0)
    imgs = rng.uniform(0, 255, (4, 16, 16))
    data = _set(imgs)
    lbp = create_extractor("lbp")
    key = FeatureCache.key(lbp, data)
    assert key == FeatureCache.key(create_extractor("lbp"), _set(imgs.copy()))
    changed = imgs.copy()
    changed[1, 3, 3] += 1
    assert FeatureCache.key(lbp, _set(changed)) != key  # one pixel
    assert FeatureCache.key(lbp, _set(imgs[::-1].copy())) != key  # order
    assert FeatureCache.key(lbp, data.with_transforms(Resize(8))) != key  # transforms
    assert FeatureCache.key(create_extractor("lbp", R=2), data) != key  # parameters
    assert FeatureCache.key(create_extractor("hog"), data) != key  # extractor


def test_save_load_roundtrip_and_damage(tmp_path):
    cache = FeatureCache(tmp_path)
    features = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert cache.load("ab" * 32) is None
    cache.save("ab" * 32, features, {"extractor": "x"})
    np.testing.assert_array_equal(cache.load("ab" * 32), features)
    npy = next(tmp_path.rglob("*.npy"))
    # a changed value fails the checksum: a miss with a warning, not an error
    np.save(npy, features + np.eye(3, 4, dtype=np.float32))
    with pytest.warns(FeatureCacheWarning, match="sha256 mismatch"):
        assert cache.load("ab" * 32) is None
    npy.write_bytes(b"garbage")
    with pytest.warns(FeatureCacheWarning, match="cannot load the array"):
        assert cache.load("ab" * 32) is None
    assert not list(tmp_path.rglob("*.tmp"))


# -- Parquet shards (the Ray engine's and `transfer extract`'s format) ----------
def _parquet_shard(cache: FeatureCache, data: ImageSet, rows: list[int], **params) -> Path:
    """A Parquet shard of ``rows`` of ``data`` in the cache folder, written with
    the shared writer outside any engine (as a Ray actor writes it)."""
    extractor = create_extractor("lbp", **params)
    key = cache.extractor_key(extractor, data)
    keys = image_keys(data)
    subset = data.subset(rows)
    path = cache_mod.write_parquet_shard(
        cache._folder(key),
        [keys[i] for i in rows],
        [data.describe(i) for i in rows],
        subset.labels,
        _fresh(subset, **params),
        {"extractor": "lbp", "key": key},
    )
    assert path is not None and path.parent == cache._folder(key)
    return path


def test_parquet_shards_are_read_beside_npy_shards(tmp_path, rows_run):
    data = _set(np.random.default_rng(4).uniform(0, 255, (8, 16, 16)))
    cache = FeatureCache(tmp_path)
    _parquet_shard(cache, data, [0, 1, 2])
    _parquet_shard(cache, data, [3, 4])
    rows_run.update(rows=0, fits=0)
    with _no_warnings():
        out = cache.extract(create_extractor("lbp"), data, label="lbp")
    # 5 rows from the two Parquet shards, 3 computed (and written as .npy)
    assert (out.n_computed, out.n_cached, rows_run["rows"]) == (3, 5, 3)
    np.testing.assert_array_equal(out.features, _fresh(data))
    folder = cache._folder(out.key)
    assert len(list(folder.glob("*.parquet"))) == 2 and len(list(folder.glob("*.npy"))) == 1
    rows_run.update(rows=0, fits=0)
    again = cache.extract(create_extractor("lbp"), data.subset([7, 0, 4]), label="lbp")
    assert (again.n_computed, again.n_cached, rows_run["fits"]) == (0, 3, 0)
    np.testing.assert_array_equal(again.features, _fresh(data)[[7, 0, 4]])


def test_parquet_shard_is_a_plain_table(tmp_path):
    import pandas as pd
    import pyarrow.parquet as pq

    data = _set(np.random.default_rng(5).uniform(0, 255, (4, 16, 16)))
    path = _parquet_shard(FeatureCache(tmp_path), data, [0, 1, 2, 3])
    frame = pd.read_parquet(path)
    assert list(frame.columns) == ["image_key", "path", "label", "features"]
    assert frame["image_key"].tolist() == image_keys(data)
    assert frame["path"].tolist() == ["t[0]", "t[1]", "t[2]", "t[3]"]
    assert frame["label"].tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(np.stack(frame["features"]), _fresh(data))
    record = json.loads(pq.read_schema(path).metadata[cache_mod.PARQUET_RECORD])
    assert record["shape"] == [4, _fresh(data).shape[1]] and record["dtype"] == "float32"


def _rewrite_features(path: Path, change) -> None:
    """Rewrite a Parquet shard's features with ``change(array)``, keeping its record."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    column = table.column("features").combine_chunks()
    arr = column.flatten().to_numpy().reshape(len(column), -1).copy()
    record = change(arr, json.loads(table.schema.metadata[cache_mod.PARQUET_RECORD]))
    values = pa.FixedSizeListArray.from_arrays(pa.array(arr.reshape(-1)), arr.shape[1])
    table = table.set_column(3, "features", values)
    table = table.replace_schema_metadata({cache_mod.PARQUET_RECORD: json.dumps(record)})
    pq.write_table(table, path)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda a, r: (a.__setitem__((1, 2), a[1, 2] + 1.0), r)[1], "sha256 mismatch"),
        (
            lambda a, r: (
                a.__setitem__((0, 0), np.inf),
                {**r, "sha256": hashlib.sha256(a.tobytes()).hexdigest()},
            )[1],
            "NaN or infinite",
        ),
        (lambda a, r: {**r, "shape": [9, 9]}, "the record says"),
        (lambda a, r: {k: v for k, v in r.items() if k != "sha256"}, "has no sha256"),
    ],
)
def test_damaged_parquet_shard_is_warned_removed_and_recomputed(tmp_path, change, reason):
    data = _set(np.random.default_rng(6).uniform(0, 255, (3, 16, 16)))
    cache = FeatureCache(tmp_path)
    path = _parquet_shard(cache, data, [0, 1, 2])
    _rewrite_features(path, change)
    with pytest.warns(FeatureCacheWarning, match=reason) as rec:
        out = cache.extract(create_extractor("lbp"), data, label="lbp")
    assert str(path) in str(rec[0].message)
    assert (out.n_computed, out.n_cached) == (3, 0)
    np.testing.assert_array_equal(out.features, _fresh(data))
    assert not path.exists()


def test_unreadable_parquet_shard_is_warned_removed_and_recomputed(tmp_path):
    data = _set(np.random.default_rng(7).uniform(0, 255, (2, 16, 16)))
    cache = FeatureCache(tmp_path)
    path = _parquet_shard(cache, data, [0, 1])
    path.write_bytes(b"PAR1 not a parquet file")
    with pytest.warns(FeatureCacheWarning, match="unreadable shard") as rec:
        out = cache.extract(create_extractor("lbp"), data, label="lbp")
    assert str(path) in str(rec[0].message)
    assert out.n_computed == 2 and not path.exists()
    np.testing.assert_array_equal(out.features, _fresh(data))


def test_pending_lists_what_extract_would_compute(tmp_path):
    data = _set(np.random.default_rng(8).uniform(0, 255, (5, 16, 16)))
    cache = FeatureCache(tmp_path)
    cache.extract(create_extractor("lbp"), data.subset([1, 3]), label="lbp")
    twice = ImageSet(
        name="t",
        labels=np.arange(6),
        class_names=tuple("abcdef"),
        images=data.images[[0, 1, 2, 3, 4, 0]],
    )
    with pytest.warns(UserWarning, match="byte-identical"):
        pending = cache.pending(create_extractor("lbp"), twice, label="lbp")
    assert pending.missing == [0, 2, 4]  # row 5 repeats row 0: computed once
    assert sorted(pending.rows) == sorted({pending.keys[1], pending.keys[3]})
    assert pending.key == cache.extractor_key(create_extractor("lbp"), twice)
