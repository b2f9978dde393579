"""Handcrafted extractors: agreement with scikit-image, stored reference
outputs, behaviour, validation and the scikit-learn contract."""

from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from skimage import data
from skimage.feature import hog, local_binary_pattern
from skimage.filters import gabor, gabor_kernel
from skimage.transform import resize
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from tests.conftest import need
from transfer._registry import EXTRACTORS
from transfer.data.imageset import ImageSet
from transfer.data.transforms import to_grey
from transfer.features.handcrafted import (
    GaborFeatures,
    HOGFeatures,
    LBPFeatures,
    PixelFeatures,
    as_grey_batch,
    gabor_bank,
    gabor_features,
    gabor_magnitudes,
    grid_mean,
    lbp_codes,
    lbp_histograms,
    lbp_n_bins,
    multiscale_lbp_histograms,
    pixel_features,
)
from transfer.features.handcrafted import gabor as gabor_module
from transfer.features.handcrafted import lbp as lbp_module

REFERENCE = Path(__file__).parent / "data" / "handcrafted" / "reference.npz"


def reference_image() -> np.ndarray:
    """scikit-image's camera averaged over 8x8 blocks (as make_reference.py)."""
    blocks = data.camera().astype(np.float64).reshape(64, 8, 64, 8).mean(axis=(1, 3))
    return np.round(blocks).astype(np.uint8)


EXTRACTOR_CLASSES = [PixelFeatures, LBPFeatures, HOGFeatures, GaborFeatures]


def _uint8_resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    out = resize(image, shape, anti_aliasing=True, preserve_range=True)
    return np.round(out).astype(np.uint8)


@pytest.fixture(scope="module")
def real_images() -> dict[str, np.ndarray]:
    """Grey uint8 test images: real photographs and noise, of different shapes."""
    rng = np.random.default_rng(0)
    return {
        "camera": _uint8_resize(data.camera(), (96, 96)),
        "astronaut": _uint8_resize(to_grey(data.astronaut().astype(np.float32)), (80, 72)),
        "coins": data.coins()[60:160, 100:220],
        "random": rng.integers(0, 256, size=(50, 37)).astype(np.uint8),
    }


@pytest.fixture(scope="module")
def faces() -> tuple[np.ndarray, np.ndarray]:
    """scikit-image's lfw_subset: 100 faces then 100 non-faces, 25x25, in [0, 255]."""
    images = data.lfw_subset().astype(np.float32) * 255
    labels = np.repeat([1, 0], 100)
    return images, labels


def _skimage_lbp(image: np.ndarray, P: int, R: float, method: str) -> np.ndarray:
    with warnings.catch_warnings():  # it warns on float input, which we test on purpose
        warnings.simplefilter("ignore", UserWarning)
        return local_binary_pattern(image, P, R, method)


# -- LBP -----------------------------------------------------------------


@pytest.mark.parametrize("method", ["default", "ror", "uniform", "nri_uniform"])
@pytest.mark.parametrize("P, R", [(8, 1.0), (8, 2.0), (4, 1.0), (12, 1.5), (16, 2.0), (24, 3.0)])
def test_lbp_codes_equal_skimage(real_images, P, R, method):
    for name, image in real_images.items():
        expected = _skimage_lbp(image, P, R, method)
        got = lbp_codes(image[None], P, R, method)[0]
        np.testing.assert_array_equal(got, expected, err_msg=f"{name} P={P} R={R} {method}")


def test_lbp_codes_equal_skimage_on_float_batch():
    # Non-integer values and a batch: each image as skimage codes it alone.
    rng = np.random.default_rng(1)
    batch = rng.uniform(0, 255, size=(5, 31, 29)).astype(np.float32)
    for method in ("uniform", "nri_uniform"):
        got = lbp_codes(batch, 8, 1.7, method)
        for image, codes in zip(batch, got, strict=True):
            np.testing.assert_array_equal(codes, _skimage_lbp(image, 8, 1.7, method))


@pytest.mark.parametrize("P, R", [(8, 2.0), (8, 1.0), (12, 1.5), (4, 1.0), (16, 2.5)])
def test_lbp_codes_equal_skimage_across_chunks(monkeypatch, real_images, P, R):
    # The batch is coded in chunks of 3 images laid end to end in one flat
    # buffer, the last chunk shorter than the others (stale values from the
    # previous chunk behind it): each image must still be coded alone.
    monkeypatch.setattr(lbp_module, "_CHUNK_PIXELS", 3 * 40 * 40)
    rng = np.random.default_rng(2)
    camera = real_images["camera"].astype(np.float32)
    batch = np.stack(
        [
            camera[:34, :33],
            camera[40:74, 50:83],
            rng.integers(0, 3, size=(34, 33)),  # few grey levels: ties everywhere
            np.full((34, 33), 7.0),  # flat: every interpolated neighbour a tie
            rng.uniform(0, 255, size=(34, 33)),
            camera[::-1][:34, :33] / 7,  # non-integer values
            camera[60:94, 10:43],
        ]
    ).astype(np.float32)
    for method in ("default", "nri_uniform"):
        got = lbp_codes(batch, P, R, method)
        for i, image in enumerate(batch):
            expected = _skimage_lbp(image, P, R, method)
            np.testing.assert_array_equal(got[i], expected, err_msg=f"image {i} {method}")


def _lfw_people_crops(root, n: int) -> np.ndarray:
    """``n`` LFW faces as LFW-people has them: central crop, grey, 62x47, 0..255."""
    from skimage.io import imread

    folder = need(root, "lfw/lfw-deepfunneled")
    paths = sorted(folder.glob("*/*.jpg"))[::50][:n]
    faces = []
    for path in paths:
        grey = to_grey(imread(path).astype(np.float32))[70:195, 78:172]
        faces.append(resize(grey, (62, 47), anti_aliasing=True, preserve_range=True))
    return np.stack(faces).astype(np.float32)


def test_lbp_codes_equal_skimage_on_lfw_faces(shared_data):
    # The benchmark's workload on real faces: decoded (integer) and resized
    # (non-integer) grey levels, a batch against skimage image by image.
    faces = _lfw_people_crops(shared_data, 60)
    for batch in (np.round(faces), faces):
        for P, R, method in [(8, 2, "nri_uniform"), (8, 1, "uniform"), (16, 2, "default")]:
            got = lbp_codes(batch, P, R, method)
            expected = np.stack([_skimage_lbp(face, P, R, method) for face in batch])
            np.testing.assert_array_equal(got, expected, err_msg=f"P={P} R={R} {method}")


def test_lbp_code_ranges():
    image = data.camera()[None, ::4, ::4]
    for method in ("default", "ror", "uniform", "nri_uniform"):
        codes = lbp_codes(image, 8, 1.0, method)
        assert codes.dtype == np.int32
        assert codes.min() >= 0
    assert lbp_codes(image, 8, 1.0, "uniform").max() <= 9
    assert lbp_codes(image, 8, 1.0, "nri_uniform").max() <= 58
    assert (lbp_n_bins(8, "default"), lbp_n_bins(8, "ror")) == (256, 36)
    assert (lbp_n_bins(8, "uniform"), lbp_n_bins(8, "nri_uniform")) == (10, 59)


def test_lbp_rotation_by_90_degrees_is_a_cyclic_shift(real_images):
    # With P=4, R=1 the neighbours sit on pixels, so rotating the image by 90
    # degrees counter-clockwise rotates every pattern by one neighbour, exactly.
    image = real_images["astronaut"][None]
    rotated = np.rot90(image, axes=(1, 2))

    def rot90(codes):
        return np.rot90(codes, axes=(1, 2))

    for method in ("ror", "uniform"):
        np.testing.assert_array_equal(
            rot90(lbp_codes(image, 4, 1.0, method)), lbp_codes(rotated, 4, 1.0, method)
        )
    default = lbp_codes(image, 4, 1.0, "default")
    shifted = ((default << 1) | (default >> 3)) & 0b1111
    np.testing.assert_array_equal(rot90(shifted), lbp_codes(rotated, 4, 1.0, "default"))
    # Hence rotation-invariant histograms over the whole image are unchanged.
    np.testing.assert_array_equal(
        lbp_histograms(image, 4, 1.0, "uniform", grid=1),
        lbp_histograms(rotated, 4, 1.0, "uniform", grid=1),
    )


@pytest.mark.parametrize("method", ["default", "ror", "uniform", "nri_uniform"])
def test_lbp_histograms_are_per_cell_histograms(real_images, method):
    image = real_images["coins"]  # 100 x 120: cells of unequal size with grid (7, 9)
    got = lbp_histograms(image[None], 8, 1.0, method, grid=(7, 9), normalize=False)[0]
    codes = _skimage_lbp(image, 8, 1.0, method).astype(np.int64)
    if method == "ror":  # bins are the distinct rotation-invariant codes, in order
        codes = np.searchsorted(_ror_codes(8), codes)
    n_bins = lbp_n_bins(8, method)
    expected = [
        np.bincount(cell.ravel(), minlength=n_bins)
        for band in np.array_split(codes, 7, axis=0)
        for cell in np.array_split(band, 9, axis=1)
    ]
    np.testing.assert_array_equal(got, np.concatenate(expected))


def _ror_codes(P: int) -> np.ndarray:
    """The distinct smallest rotations of all P-bit patterns (binary necklaces)."""
    codes = np.arange(2**P)
    mask = 2**P - 1
    rotations = [((codes >> k) | (codes << (P - k))) & mask for k in range(P)]
    return np.unique(np.min(rotations, axis=0))


def test_lbp_ror_bins_are_the_binary_necklaces():
    assert len(_ror_codes(8)) == lbp_n_bins(8, "ror") == 36
    assert len(_ror_codes(4)) == lbp_n_bins(4, "ror") == 6


def test_lbp_histograms_sum_to_one_per_cell(real_images):
    image = real_images["camera"][None]
    for method in ("ror", "uniform", "nri_uniform"):
        hist = lbp_histograms(image, 8, 2.0, method, grid=(5, 6))
        sums = hist.reshape(5 * 6, lbp_n_bins(8, method)).sum(axis=1)
        np.testing.assert_allclose(sums, 1.0, rtol=1e-6)


def test_multiscale_lbp_is_the_concatenation(real_images):
    images = np.stack([real_images["camera"][:80, :72], real_images["astronaut"]])
    got = multiscale_lbp_histograms(images, 8, (1, 2.5), "uniform", grid=3)
    expected = np.hstack([lbp_histograms(images, 8, R, "uniform", grid=3) for R in (1, 2.5)])
    np.testing.assert_array_equal(got, expected)


def test_lbp_function_errors_name_the_parameter():
    images = np.zeros((1, 20, 20))
    with pytest.raises(ValueError, match="'P'"):
        lbp_codes(images, P=0)
    with pytest.raises(ValueError, match="'R'"):
        lbp_codes(images, R=-1.0)
    with pytest.raises(ValueError, match="'method'"):
        lbp_codes(images, method="var")
    with pytest.raises(ValueError, match="'grid'"):
        lbp_histograms(images, grid=(21, 2))
    with pytest.raises(ValueError, match="'P'"):
        lbp_histograms(images, P=20, method="default")
    with pytest.raises(ValueError, match=r"\(n, height, width\)"):
        lbp_codes(np.zeros((20, 20)))


# -- HOG -----------------------------------------------------------------
# Agreement with scikit-image, batches and errors: tests/test_hog.py.


# -- Gabor ---------------------------------------------------------------


def test_gabor_bank_is_skimage_kernels():
    kernels = gabor_bank((0.1, 0.3), n_orientations=3, bandwidth=1.5)
    assert len(kernels) == 6
    for i, f in enumerate((0.1, 0.3)):
        for k in range(3):
            expected = gabor_kernel(f, theta=np.pi * k / 3, bandwidth=1.5)
            np.testing.assert_array_equal(kernels[i * 3 + k], expected)
    fixed = gabor_bank((0.1,), 2, sigma=3.0)
    np.testing.assert_array_equal(fixed[1], gabor_kernel(0.1, np.pi / 2, sigma_x=3, sigma_y=3))


@pytest.fixture(params=["matrix", "fft"])
def gabor_path(request, monkeypatch):
    """Run the test through one way of filtering: small images take the
    matrix products unless the FFT is forced (no image is then small)."""
    if request.param == "fft":
        monkeypatch.setattr(gabor_module, "_MATRIX_MAX_SIDES", 0)
    else:  # chunks of 2 images, so that chunk boundaries are crossed
        monkeypatch.setattr(gabor_module, "_MATRIX_CHUNK_PIXELS", 2 * 48 * 40)
    return request.param


@pytest.mark.parametrize(
    "mode",
    # two modes by default (2 s each on both paths); the other three with the slow tests
    [
        "reflect",
        "constant",
        *(pytest.param(m, marks=pytest.mark.slow) for m in ("mirror", "nearest", "wrap")),
    ],
)
def test_gabor_magnitude_equals_skimage(real_images, mode, gabor_path):
    # Whole image, borders included; the 0.05 kernel (69x69) is larger than
    # the images, so the padding goes round them more than once.
    frequencies = (0.05, 0.2, 0.35)
    for name, image in [
        ("camera", real_images["camera"][20:68, 30:70]),
        ("random", real_images["random"]),
    ]:
        image = image.astype(np.float64)
        got = gabor_magnitudes(image[None], frequencies, n_orientations=4, mode=mode)[0]
        for i, f in enumerate(frequencies):
            for k in range(4):
                expected = np.hypot(*gabor(image, f, np.pi * k / 4, mode=mode))
                np.testing.assert_allclose(
                    got[i, k],
                    expected,
                    rtol=1e-4,
                    atol=1e-4 * expected.max(),
                    err_msg=f"{name} f={f} theta={k}/4 pi",
                )


def test_gabor_batch_equals_skimage_per_image(real_images, gabor_path):
    # A batch of 5 (chunks of 2 on the matrix path, the last one short),
    # orientations whose column kernel is real (0) and complex (pi/3).
    camera = real_images["camera"].astype(np.float64)
    batch = np.stack([camera[i * 9 : i * 9 + 48, i * 7 : i * 7 + 40] for i in range(5)])
    got = gabor_magnitudes(batch, (0.2, 0.35), n_orientations=3, mode="reflect")
    for j, image in enumerate(batch):
        for i, f in enumerate((0.2, 0.35)):
            for k in range(3):
                expected = np.hypot(*gabor(image, f, np.pi * k / 3, mode="reflect"))
                np.testing.assert_allclose(
                    got[j, i, k], expected, rtol=1e-4, atol=1e-4 * expected.max()
                )


def test_gabor_small_images_take_the_separable_products(monkeypatch, faces):
    # Faces and CIFAR-size images with the default bank (every kernel rank
    # one, the 0.05 ones larger than the images) never reach the FFT.
    def no_fft(*args):
        raise AssertionError("the FFT path was taken")

    monkeypatch.setattr(gabor_module, "_fft_responses", no_fft)
    images, _ = faces
    for batch in (images[:3], np.zeros((2, 62, 47)), np.ones((2, 32, 32))):
        assert gabor_features(batch).shape == (len(batch), 2048)


def test_gabor_kernel_not_rank_one_takes_the_fft(real_images):
    # An anisotropic Gabor kernel (sigma_x != sigma_y, rotated) is not a
    # column kernel times a row kernel: no separable operators, and the
    # responses are still the convolution, through the FFT.
    import scipy.ndimage

    kernel = gabor_kernel(0.15, theta=np.pi / 5, sigma_x=2.0, sigma_y=5.0)
    image = real_images["camera"][10:58, 20:60].astype(np.float32)
    key = gabor_module._kernel_key(kernel)
    assert gabor_module._separable_operators(key, image.shape, "reflect") is None
    [(_, _, response)] = gabor_module._iter_responses(image[None], [kernel], 1, "reflect")
    expected = scipy.ndimage.convolve(image.astype(np.float64), kernel.real, mode="reflect")
    expected = expected + 1j * scipy.ndimage.convolve(
        image.astype(np.float64), kernel.imag, mode="reflect"
    )
    np.testing.assert_allclose(response[0], expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_gabor_features_pool_the_magnitudes(real_images):
    images = np.stack([real_images["camera"][:80, :72], real_images["astronaut"]])
    mags = gabor_magnitudes(images, (0.1, 0.25), 3)
    raw = gabor_features(images, (0.1, 0.25), 3, grid=(5, 4), normalize="none")
    expected = grid_mean(mags, (5, 4)).reshape(2, -1)
    np.testing.assert_allclose(raw, expected, rtol=1e-5)
    z = gabor_features(images, (0.1, 0.25), 3, grid=(5, 4)).reshape(2, 6, 20)
    np.testing.assert_allclose(z.mean(axis=2), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=2), 1, rtol=1e-4)
    l2 = gabor_features(images, (0.1, 0.25), 3, grid=(5, 4), normalize="l2")
    np.testing.assert_allclose(np.linalg.norm(l2, axis=1), 1, rtol=1e-5)


def test_gabor_errors_name_the_parameter():
    images = np.zeros((1, 10, 10))
    with pytest.raises(ValueError, match="'frequencies'"):
        gabor_features(images, frequencies=(0.7,))
    with pytest.raises(ValueError, match="'grid'"):
        gabor_features(images, grid=11)
    with pytest.raises(ValueError, match="'mode'"):
        gabor_magnitudes(images, mode="symmetric")


# -- pixels and helpers ----------------------------------------------------


def test_pixel_features_normalisations():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, size=(3, 6, 5)).astype(np.float32)
    images[2] = 7.0  # a constant image
    raw = pixel_features(images)
    np.testing.assert_array_equal(raw, images.reshape(3, 30))
    l2 = pixel_features(images, "l2")
    np.testing.assert_allclose(np.linalg.norm(l2, axis=1), 1, rtol=1e-6)
    z = pixel_features(images, "zscore")
    np.testing.assert_allclose(z[:2].mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(z[:2].std(axis=1), 1, rtol=1e-5)
    assert not z[2].any()


def test_grey_batch_and_grid_mean():
    rgb = data.astronaut()[:40, :30].astype(np.float32)
    batch = np.stack([rgb, rgb[::-1]])
    grey = as_grey_batch(batch)
    np.testing.assert_allclose(grey[1], to_grey(rgb[::-1]), rtol=1e-6)
    assert as_grey_batch(batch[..., :1]).shape == (2, 40, 30)
    maps = np.arange(7 * 5, dtype=float).reshape(7, 5)
    expected = [[c.mean() for c in np.array_split(b, 2, axis=1)] for b in np.array_split(maps, 3)]
    np.testing.assert_allclose(grid_mean(maps, (3, 2)), expected)


# -- stored reference outputs ------------------------------------------------


def _reference_cases():
    with np.load(REFERENCE) as ref:
        configs = json.loads(str(ref["configs"]))
    return sorted(configs.items())


@pytest.mark.parametrize(
    "name, config", _reference_cases(), ids=[name for name, _ in _reference_cases()]
)
def test_reference_outputs(name, config):
    """Outputs on a 64x64 camera image; regenerate with make_reference.py."""
    kind, params = config
    image = reference_image()
    with np.load(REFERENCE) as ref:
        expected = ref[name]
    got = EXTRACTORS.create(kind, **params).fit_transform(image[None])[0]
    # Gabor runs single-precision FFTs, whose last bits may vary with the FFT backend.
    rtol = 1e-4 if kind == "gabor" else 1e-6
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


def test_hog_reference_equals_skimage_today():
    image = reference_image()
    with np.load(REFERENCE) as ref:
        expected = ref["hog_default"]
    np.testing.assert_allclose(
        hog(image.astype(np.float64), cells_per_block=(2, 2)), expected, rtol=1e-6, atol=1e-7
    )


# -- the transformers ----------------------------------------------------


def test_registry_names():
    for name, cls in [
        ("pixels", PixelFeatures),
        ("lbp", LBPFeatures),
        ("hog", HOGFeatures),
        ("gabor", GaborFeatures),
    ]:
        assert EXTRACTORS.get(name) is cls


@pytest.mark.parametrize("cls", EXTRACTOR_CLASSES)
def test_transformer_contract(cls, real_images):
    images = np.stack([real_images["camera"][:64, :48], real_images["astronaut"][:64, :48]])
    images = images.astype(np.float32)
    est = cls()
    out = est.fit_transform(images)
    assert out.dtype == np.float32 and out.shape[0] == 2 and np.isfinite(out).all()
    assert len(est.get_feature_names_out()) == out.shape[1]
    # stateless: transform without fit gives the same
    np.testing.assert_array_equal(cls().transform(images), out)
    # clone and pickle
    np.testing.assert_array_equal(clone(est).fit_transform(images), out)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).transform(images), out)
    # flattened rows with image_shape
    flat = cls(image_shape=(64, 48)).fit(images.reshape(2, -1))
    np.testing.assert_array_equal(flat.transform(images.reshape(2, -1)), out)
    # colour images are converted to grey first (BT.601 luma, so an RGB copy of a
    # grey image is grey again only to float32 round-off, which can flip LBP ties)
    rgb = np.stack([images, images[:, ::-1], images[:, :, ::-1]], axis=-1)
    np.testing.assert_array_equal(cls().fit_transform(rgb), cls().transform(as_grey_batch(rgb)))
    # an ImageSet streams in batches with the same result, to float32 round-off
    # (Gabor's separable products are BLAS calls whose blocking follows the batch)
    est.batch_size_ = 1
    imageset = ImageSet(name="two", labels=np.array([0, 1]), class_names=("a", "b"), images=images)
    np.testing.assert_allclose(est.fit(imageset).transform(imageset), out, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "cls, param, value",
    [
        (LBPFeatures, "P", 0),
        (LBPFeatures, "R", 0.0),
        (LBPFeatures, "method", "var"),
        (LBPFeatures, "grid", (0, 3)),
        (LBPFeatures, "radii", (1, -2)),
        (LBPFeatures, "normalize", "yes"),
        (HOGFeatures, "orientations", 0),
        (HOGFeatures, "pixels_per_cell", (8, 0)),
        (HOGFeatures, "block_norm", "L3"),
        (GaborFeatures, "frequencies", (0.1, 0.9)),
        (GaborFeatures, "n_orientations", 2.5),
        (GaborFeatures, "sigma", -1.0),
        (GaborFeatures, "normalize", "max"),
        (PixelFeatures, "normalize", "l1"),
        (PixelFeatures, "grey", "no"),
        (PixelFeatures, "image_shape", (0, 4)),
    ],
)
def test_invalid_parameters_are_named_at_fit(cls, param, value):
    est = cls(**{param: value})  # __init__ accepts anything
    with pytest.raises(ValueError, match=f"'{param}'"):
        est.fit(np.zeros((2, 64, 64)))


@pytest.mark.parametrize(
    "est, param",
    [
        (LBPFeatures(grid=(41, 5)), "grid"),
        (LBPFeatures(P=17, method="ror"), "P"),
        (HOGFeatures(pixels_per_cell=(16, 16), cells_per_block=(3, 3)), "cells_per_block"),
        (HOGFeatures(pixels_per_cell=40), "pixels_per_cell"),
        (GaborFeatures(grid=(12, 21)), "grid"),
    ],
)
def test_images_too_small_for_the_parameters(est, param):
    small = np.zeros((2, 40, 20))
    with pytest.raises(ValueError, match=f"'{param}'"):
        est.fit(small)
    with pytest.raises(ValueError, match=f"'{param}'"):
        clone(est).transform(small)


def test_lbp_radii_overrides_R(faces):
    images = faces[0][:4]
    a = LBPFeatures(R=1.0, radii=(1, 2)).fit_transform(images)
    b = LBPFeatures(R=3.0, radii=(1, 2)).fit_transform(images)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (4, 2 * 49 * 59)


def test_cache_key_covers_parameters():
    assert LBPFeatures().cache_key() == LBPFeatures().cache_key()
    assert LBPFeatures().cache_key() != LBPFeatures(R=2.0).cache_key()
    assert GaborFeatures().cache_key() != GaborFeatures(mode="wrap").cache_key()


def test_pipeline_and_grid_search(faces):
    images, labels = faces
    pipe = make_pipeline(LBPFeatures(grid=(5, 5)), LinearSVC())
    pipe.fit(images[::2], labels[::2])
    accuracy = np.mean(pipe.predict(images[1::2]) == labels[1::2])
    assert accuracy > 0.8  # faces vs non-faces is easy for LBP
    search = GridSearchCV(pipe, {"lbpfeatures__R": [1.0, 2.0]}, cv=3)
    search.fit(images, labels)
    assert search.best_params_["lbpfeatures__R"] in (1.0, 2.0)
    assert (
        search.best_estimator_.named_steps["lbpfeatures"].R == search.best_params_["lbpfeatures__R"]
    )
