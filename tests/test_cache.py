"""The feature cache: keys cover content, order, transforms and parameters."""

from __future__ import annotations

import numpy as np

from transfer.data import ImageSet, Resize
from transfer.recipes import FeatureCache
from transfer.registry import create_extractor


def _set(images):
    return ImageSet(
        name="t", labels=np.arange(len(images)), class_names=tuple("abcd"), images=images
    )


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
    # a damaged entry is a miss, not an error
    npy = next(tmp_path.rglob("*.npy"))
    npy.write_bytes(b"garbage")
    assert cache.load("ab" * 32) is None
    assert not list(tmp_path.rglob("*.tmp"))
