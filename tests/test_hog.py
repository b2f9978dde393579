"""Batched HOG: equal to scikit-image's per-image ``hog``, batch for batch."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data
from skimage.feature import hog

import transfer.features.handcrafted.hog as hog_module
from transfer.data.transforms import to_grey
from transfer.features.handcrafted import HOGFeatures, hog_features

TOL = 1e-6  # absolute, on features in [0, 1]


def skimage_hog(image: np.ndarray, **params) -> np.ndarray:
    """scikit-image's HOG of one image in float64, with our parameter spelling."""
    params = {
        "orientations": 9,
        "pixels_per_cell": 8,
        "cells_per_block": 2,
        "block_norm": "L2-Hys",
        "transform_sqrt": False,
        **params,
    }
    for name in ("pixels_per_cell", "cells_per_block"):
        params[name] = tuple(np.broadcast_to(params[name], 2).tolist())
    return hog(np.asarray(image, dtype=np.float64), feature_vector=True, **params)


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    """Real photographs: camera (integer levels), astronaut in grey (fractional levels)."""
    return {
        "camera": data.camera().astype(np.float32),
        "astronaut": np.asarray(to_grey(data.astronaut().astype(np.float32)), dtype=np.float32),
    }


@pytest.fixture(scope="module")
def lfw_size(photos) -> np.ndarray:
    """Eight 62x47 crops (LFW-people size) of the photographs."""
    rng = np.random.default_rng(0)
    crops = []
    for image in photos.values():
        for _ in range(4):
            r, c = rng.integers(0, 512 - 62), rng.integers(0, 512 - 47)
            crops.append(image[r : r + 62, c : c + 47])
    return np.stack(crops)


PARAMS = [
    pytest.param({}, id="default-L2-Hys"),
    pytest.param(
        {
            "orientations": 12,
            "pixels_per_cell": (6, 5),
            "cells_per_block": (3, 2),
            "block_norm": "L1",
        },
        id="non-square-L1",
    ),
    pytest.param(
        {"pixels_per_cell": 4, "block_norm": "L1-sqrt", "transform_sqrt": True}, id="4x4-L1-sqrt"
    ),
    pytest.param(
        {
            "orientations": 7,
            "pixels_per_cell": (7, 3),
            "cells_per_block": (1, 3),
            "block_norm": "L2",
        },
        id="odd-cells-L2",
    ),
    # 45-degree edges, which integer gradients hit exactly
    pytest.param({"orientations": 4, "pixels_per_cell": 5, "block_norm": "L2"}, id="4-bins"),
    # (180 / 39) * 39 rounds below 180: the last edge is not 180
    pytest.param({"orientations": 39, "pixels_per_cell": 10, "cells_per_block": 1}, id="39-bins"),
]


@pytest.mark.parametrize("params", PARAMS)
def test_equals_skimage_on_photographs(photos, params):
    for name, image in photos.items():
        # 500x509: neither side is a multiple of the cell sizes above
        image = image[:500, :509]
        got = hog_features(image[None], **params)[0]
        expected = skimage_hog(image, **params)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=0, atol=TOL, err_msg=name)
        if name == "camera":
            # Integer grey levels: the same votes and the same float32 running
            # sums as scikit-image, so the same float32 features (to one ulp for
            # the order of the float64 block sums); a float64 sum is 2-4 ulps off.
            np.testing.assert_array_max_ulp(got, expected.astype(np.float32), maxulp=1)


@pytest.mark.parametrize("params", PARAMS)
def test_equals_skimage_on_lfw_size_batch(lfw_size, params):
    got = hog_features(lfw_size, **params)
    expected = np.stack([skimage_hog(image, **params) for image in lfw_size])
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)
    assert np.abs(expected).max() > 0.1  # the comparison is on real, non-zero features


def test_orientations_on_and_near_the_edges_vote_as_skimage():
    # A falling ramp has gradients at exactly 180 degrees (bin 0). Moving the
    # first row up by one ulp puts the pixels of row 1 at -1e-14 degrees, whose
    # remainder rounds to 180.0 and votes in no bin. A diagonal ramp sits on the
    # 45-degree edges of 4 bins. Cells of 2x2 pixels make any misplaced vote
    # show far above the tolerance.
    falling = np.tile(-0.5 * np.arange(12.0), (12, 1))
    rounded = np.tile(0.5 * np.arange(12.0), (12, 1))
    rounded[0] = np.nextafter(rounded[0], np.inf)
    diagonal = np.add.outer(np.arange(12.0), np.arange(12.0)) % 7
    for image in (falling, rounded, diagonal):
        for params in ({"orientations": 9}, {"orientations": 4}):
            params = {**params, "pixels_per_cell": 2, "cells_per_block": 1, "block_norm": "L1"}
            got = hog_features(image[None], **params)[0]
            np.testing.assert_allclose(got, skimage_hog(image, **params), rtol=0, atol=TOL)


def test_batch_equals_image_by_image(lfw_size, monkeypatch):
    # Chunks of 3 images, so that the batch crosses several chunk boundaries.
    monkeypatch.setattr(hog_module, "_CHUNK_PIXELS", 3 * 62 * 47)
    batch = hog_features(lfw_size, pixels_per_cell=(6, 5), block_norm="L1")
    singles = np.stack(
        [
            hog_features(image[None], pixels_per_cell=(6, 5), block_norm="L1")[0]
            for image in lfw_size
        ]
    )
    np.testing.assert_array_equal(batch, singles)
    assert len(np.unique(batch, axis=0)) == len(lfw_size)


def test_extractor_equals_skimage(lfw_size):
    est = HOGFeatures(pixels_per_cell=(6, 5), cells_per_block=3, block_norm="L1-sqrt")
    got = est.fit_transform(lfw_size)
    expected = np.stack(
        [
            skimage_hog(image, pixels_per_cell=(6, 5), cells_per_block=3, block_norm="L1-sqrt")
            for image in lfw_size
        ]
    )
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)


def test_constant_images_give_zero_features():
    features = hog_features(np.full((2, 32, 40), 117.0))
    assert features.shape == (2, 3 * 4 * 2 * 2 * 9)
    assert not features.any()


def test_images_smaller_than_one_block_name_the_parameter():
    with pytest.raises(
        ValueError, match=r"'pixels_per_cell'=32 is larger than the images \(30x30\)"
    ):
        hog_features(np.zeros((1, 30, 30)), pixels_per_cell=32)
    with pytest.raises(ValueError, match=r"'cells_per_block'=4 needs at least 4x4 cells.* 3x3"):
        hog_features(np.zeros((1, 30, 30)), pixels_per_cell=8, cells_per_block=4)
    with pytest.raises(ValueError, match=r"'cells_per_block'=\(2, 3\) needs at least 2x3 cells"):
        hog_features(np.zeros((1, 16, 23)), pixels_per_cell=8, cells_per_block=(2, 3))
    # one block exactly fits
    assert hog_features(np.zeros((1, 16, 24)), pixels_per_cell=8, cells_per_block=(2, 3)).shape == (
        1,
        2 * 3 * 9,
    )


@pytest.mark.parametrize(
    "params, match",
    [
        ({"orientations": 0}, "'orientations'"),
        ({"orientations": 2.5}, "'orientations'"),
        ({"pixels_per_cell": (8, 0)}, "'pixels_per_cell'"),
        ({"cells_per_block": -1}, "'cells_per_block'"),
        ({"block_norm": "L3"}, "'block_norm'"),
    ],
)
def test_invalid_parameters_are_named(params, match):
    with pytest.raises(ValueError, match=match):
        hog_features(np.zeros((1, 32, 32)), **params)


def test_bad_values_are_refused():
    images = np.full((1, 32, 32), 10.0)
    images[0, 3, 4] = -1.0
    with pytest.raises(ValueError, match=r"'transform_sqrt'=True .* negative"):
        hog_features(images, transform_sqrt=True)
    assert np.isfinite(hog_features(images)).all()  # without the square root it is fine
    images[0, 3, 4] = np.nan
    with pytest.raises(ValueError, match="finite"):
        hog_features(images)
    with pytest.raises(ValueError, match=r"\(n, height, width\)"):
        hog_features(np.zeros((32, 32)))
