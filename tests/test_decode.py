"""The one image decoder: bit depths and PIL modes, pixel limits, cheap file checks.

16-bit files are written byte by byte (PNG chunks, PGM header) so that the
test does not depend on which writers PIL supports for them.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from transfer.data import MAX_PIXELS_ENV, ImageReadError, ImageSet, image_folder, read_image

# A 16-bit ramp over the whole range, 0 ... 65535, 8 rows of 64.
RAMP16 = np.linspace(0, 65535, 8 * 64).round().astype(np.uint16).reshape(8, 64)


def write_png16(path: Path, arr: np.ndarray) -> Path:
    """A 16-bit grey (2-D) or RGB (3-D) PNG of the uint16 ``arr``."""
    height, width = arr.shape[:2]
    color_type = 0 if arr.ndim == 2 else 2
    rows = arr.astype(">u2").reshape(height, -1)
    raw = b"".join(b"\x00" + rows[r].tobytes() for r in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    return path


def to8(arr16: np.ndarray) -> np.ndarray:
    """The 8-bit version of a 16-bit image, by rounding value / 257."""
    return np.round(arr16 / 257.0).astype(np.uint8)


def load_one(path: Path) -> np.ndarray:
    """The image as the handcrafted path sees it: an ImageSet of files, loaded."""
    s = ImageSet(
        name="t", labels=np.zeros(1, dtype=np.int64), class_names=("a",), paths=(str(path),)
    )
    return s.load()[0]


# --------------------------------------------------------------------------- bit depths


def test_16bit_grey_png_is_scaled_not_saturated(tmp_path):
    p16 = write_png16(tmp_path / "g16.png", RAMP16)
    p8 = tmp_path / "g8.png"
    Image.fromarray(to8(RAMP16)).save(p8)
    assert Image.open(p16).mode == "I;16"  # the file PIL used to clip at 255
    got = load_one(p16)
    assert got.shape == RAMP16.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, RAMP16 / 257.0, atol=1e-3)
    assert np.abs(got - load_one(p8)).max() <= 1.0
    assert got.min() == 0.0 and got.max() == 255.0
    assert (got >= 254.5).mean() < 0.01  # was 98.6 % at 255 with convert("L")


def test_16bit_rgb_png_matches_its_8bit_version(tmp_path):
    rgb16 = np.stack([RAMP16, 65535 - RAMP16, RAMP16[::-1]], axis=-1)
    p16 = write_png16(tmp_path / "rgb16.png", rgb16)
    p8 = tmp_path / "rgb8.png"
    Image.fromarray(to8(rgb16)).save(p8)
    got = load_one(p16)
    assert got.shape == rgb16.shape
    assert np.abs(got - rgb16 / 257.0).max() <= 1.0
    assert np.abs(got - load_one(p8)).max() <= 1.0
    assert got[..., 1].max() == 255 and got[..., 1].min() == 0


def test_16bit_pgm_mode_i_is_scaled(tmp_path):
    p = tmp_path / "g16.pgm"
    p.write_bytes(b"P5\n64 8\n65535\n" + RAMP16.astype(">u2").tobytes())
    assert Image.open(p).mode == "I"
    np.testing.assert_allclose(read_image(p), RAMP16 / 257.0, atol=1e-3)


def test_16bit_tiff(tmp_path):
    p = tmp_path / "g16.tif"
    Image.fromarray(RAMP16).save(p)
    assert Image.open(p).mode.startswith("I;16")
    np.testing.assert_allclose(read_image(p), RAMP16 / 257.0, atol=1e-3)


def test_float_images(tmp_path):
    unit = (RAMP16 / 65535.0).astype(np.float32)
    Image.fromarray(unit).save(tmp_path / "unit.tif")
    np.testing.assert_allclose(read_image(tmp_path / "unit.tif"), unit * 255, atol=1e-3)
    scaled = np.where(unit > 0.5, 300.0, unit * 255).astype(np.float32)
    scaled[0, 0] = np.nan
    Image.fromarray(scaled).save(tmp_path / "scaled.tif")
    got = read_image(tmp_path / "scaled.tif")
    assert got.dtype == np.float32 and got[0, 0] == 0.0  # NaN is 0, not a NaN feature
    expected = np.clip(np.nan_to_num(scaled), 0, 255)
    np.testing.assert_allclose(got, expected, atol=1e-3)


# --------------------------------------------------------------------------- modes


@pytest.fixture
def rgb8():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(6, 7, 3), dtype=np.uint8)


def test_alpha_is_dropped_and_grey_stays_grey(tmp_path, rgb8):
    alpha = np.full(rgb8.shape[:2], 7, dtype=np.uint8)
    Image.fromarray(np.dstack([rgb8, alpha]), mode="RGBA").save(tmp_path / "rgba.png")
    got = read_image(tmp_path / "rgba.png")
    assert got.dtype == np.uint8 and np.array_equal(got, rgb8)
    grey = rgb8[..., 0]
    Image.fromarray(np.dstack([grey, alpha]), mode="LA").save(tmp_path / "la.png")
    got = read_image(tmp_path / "la.png")
    assert got.shape == grey.shape and np.array_equal(got, grey)


def test_palette_bilevel_and_cmyk(tmp_path, rgb8):
    pal = Image.fromarray(rgb8).quantize(colors=16)
    pal.save(tmp_path / "p.png")
    assert Image.open(tmp_path / "p.png").mode == "P"
    got = read_image(tmp_path / "p.png")
    assert got.shape == rgb8.shape and np.array_equal(got, np.asarray(pal.convert("RGB")))
    bits = np.arange(42).reshape(6, 7) % 2 == 0
    Image.fromarray(bits).save(tmp_path / "b.png")
    assert np.array_equal(read_image(tmp_path / "b.png"), bits * np.uint8(255))
    cmyk = Image.fromarray(rgb8).convert("CMYK")
    cmyk.save(tmp_path / "c.tif")
    got = read_image(tmp_path / "c.tif")
    assert got.shape == rgb8.shape and np.array_equal(got, np.asarray(cmyk.convert("RGB")))


def test_cnn_path_reads_16bit_files_alike(tmp_path):
    """The tf.data decoder of the CNN extractor and the ImageSet agree within 1."""
    pytest.importorskip("tensorflow")
    from transfer.features.network import file_batches

    grey = write_png16(tmp_path / "g16.png", RAMP16[:, :8])
    rgb = write_png16(tmp_path / "rgb16.png", np.stack([RAMP16[:, :8]] * 3, axis=-1)[:, ::-1])
    # Same size in and out, so tf.image.resize leaves the pixels as they are.
    (tf_grey,) = file_batches([str(grey)], 8, 1)
    (tf_rgb,) = file_batches([str(rgb)], 8, 1)
    assert np.abs(tf_grey[0, ..., 0] - load_one(grey)).max() <= 1.0
    assert np.abs(tf_rgb[0] - load_one(rgb)).max() <= 1.0


# --------------------------------------------------------------------------- pixel limit


def test_decompression_bomb_is_an_image_read_error(tmp_path, monkeypatch):
    monkeypatch.delenv(MAX_PIXELS_ENV, raising=False)
    p = tmp_path / "big.png"
    Image.fromarray(np.full((20, 30), 9, dtype=np.uint8)).save(p)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # PIL refuses > 200 pixels
    with pytest.raises(
        ImageReadError,
        match=r"big\.png'.* 600 pixels \(30x20\), over the limit of 200 .*"
        + MAX_PIXELS_ENV
        + " to at least 600",
    ):
        read_image(p)
    monkeypatch.setenv(MAX_PIXELS_ENV, "600")
    assert read_image(p).shape == (20, 30) and read_image(p)[0, 0] == 9
    assert Image.MAX_IMAGE_PIXELS == 100  # lifted for that file only
    monkeypatch.setenv(MAX_PIXELS_ENV, "none")
    assert read_image(p).shape == (20, 30)
    monkeypatch.setenv(MAX_PIXELS_ENV, "599")
    with pytest.raises(ImageReadError, match=r"600 pixels .*over the limit of 599"):
        read_image(p)
    monkeypatch.setenv(MAX_PIXELS_ENV, "lots")
    with pytest.raises(ImageReadError, match=MAX_PIXELS_ENV + "='lots' must be a number"):
        read_image(p)


def test_pixel_limit_below_pil_s_own(tmp_path, monkeypatch):
    p = tmp_path / "small.png"
    Image.fromarray(np.zeros((20, 30), dtype=np.uint8)).save(p)
    monkeypatch.setenv(MAX_PIXELS_ENV, "500")
    with pytest.raises(ImageReadError, match=r"600 pixels .*over the limit of 500"):
        read_image(p)


# --------------------------------------------------------------------------- check_files


def make_folder(tmp_path: Path) -> ImageSet:
    for name in ("a/1.png", "a/2.png", "b/1.png", "b/2.png", "b/3.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((4, 5), dtype=np.uint8)).save(tmp_path / name)
    return image_folder(tmp_path)


def test_check_files_passes_good_files_and_memory_sets(tmp_path):
    s = make_folder(tmp_path)
    assert s.check_files() is None
    ImageSet(
        name="m", labels=np.zeros(1, dtype=np.int64), class_names=("a",), images=np.zeros((1, 2, 2))
    ).check_files()


def test_check_files_names_the_first_bad_file_and_counts(tmp_path):
    s = make_folder(tmp_path)
    good = (tmp_path / "a" / "1.png").read_bytes()
    (tmp_path / "a" / "2.png").write_bytes(good[:12])  # cut inside the header
    (tmp_path / "b" / "1.png").unlink()
    (tmp_path / "b" / "3.png").write_bytes(b"\x89PNG not really" * 20)
    with pytest.raises(ImageReadError) as err:
        s.check_files(progress=False)
    msg = str(err.value)
    assert msg.startswith("3 of 5 image files of ")
    assert "the first is " + repr(str(tmp_path / "a" / "2.png")) in msg
    assert "others: " + os.path.join("b", "1.png") + ", " + os.path.join("b", "3.png") in msg
    with pytest.raises(ImageReadError, match=r"a/2\.png"):
        s.load(indices=[1])  # the decoder agrees that it is unreadable


def test_check_files_missing_empty_and_folder(tmp_path):
    s = make_folder(tmp_path)
    (tmp_path / "b" / "2.png").unlink()
    with pytest.raises(ImageReadError, match=r"1 of 5 .*b/2\.png'.*No such file"):
        s.check_files()
    (tmp_path / "b" / "2.png").write_bytes(b"")
    with pytest.raises(ImageReadError, match=r"b/2\.png': the file is empty"):
        s.check_files()
    (tmp_path / "b" / "2.png").unlink()
    (tmp_path / "b" / "2.png").mkdir()
    with pytest.raises(ImageReadError, match=r"b/2\.png': not a regular file"):
        s.check_files()


def test_check_files_applies_the_pixel_limit(tmp_path, monkeypatch):
    s = make_folder(tmp_path)
    monkeypatch.setenv(MAX_PIXELS_ENV, "10")
    with pytest.raises(ImageReadError, match=r"5 of 5 .*20 pixels \(5x4\), over the limit of 10"):
        s.check_files()


def test_check_files_on_orl(shared_data):
    orl_root = shared_data / "orl"
    if not orl_root.exists():
        pytest.skip(f"orl is absent from the data root {shared_data}")
    from transfer.data import orl

    orl(orl_root).check_files()  # 400 headers; timed in benchmarks, not here


def test_fingerprint_covers_the_decoder_version(tmp_path, monkeypatch):
    import transfer.data.imageset as imageset

    s = make_folder(tmp_path)
    before = s.fingerprint()
    monkeypatch.setattr(imageset, "DECODER_VERSION", imageset.DECODER_VERSION + 1)
    assert s.subset(range(len(s))).fingerprint() != before
