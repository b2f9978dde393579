"""The default network runtime: the fastest engine verified against TensorFlow, else TensorFlow.

MobileNet v1 (prepared once per session by ``cnn_weights_dir``) at small
input sizes keeps each conversion to a second or two. Every test that
converts works in a private engine cache (``TRANSFER_CACHE`` in ``tmp_path``),
clears the process-wide cache of built networks, so that what it checks (a
conversion, a cache hit, a fallback) really happens in it, and lowers
``AUTO_MIN_IMAGES`` (the workload from which "auto" converts) to a few images.
Tests of one engine's behaviour restrict ``network.ENGINES`` to it (``only``),
so that another installed engine (OpenVINO) does not take its place; the
OpenVINO tests skip when its optional package is not installed.
"""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import pytest
from skimage import data

from transfer.features import network

NAME = "mobilenet_v1_1.0_224"
CATS = {"tabby, tabby cat", "tiger cat", "Egyptian cat"}


def CNNFeatures(*args, **params):  # stands for the class
    """The class, imported on use (importing it at collection registers "cnn")."""
    from transfer.features.cnn import CNNFeatures as cls

    return cls(*args, **params)


@pytest.fixture
def fresh(cnn_weights_dir, tmp_path, monkeypatch):
    """A private engine cache and no network built yet in this process; yields the cache.

    A verified engine always beats TensorFlow here (``SLOWER_MARGIN`` 0): on a
    busy machine the check's timing of a 64-pixel network could go either way.
    """
    monkeypatch.setenv("TRANSFER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(network, "AUTO_MIN_IMAGES", 1)
    monkeypatch.setattr(network, "SLOWER_MARGIN", 0.0)
    network._compiled_forward.cache_clear()
    yield tmp_path / "cache" / "engines"
    network._compiled_forward.cache_clear()  # built under this test's patches


@pytest.fixture
def conversions(monkeypatch):
    """Counts the calls of the TFLite converter."""
    calls = []
    convert = network._convert

    def counted(*args, **kwargs):
        calls.append(args)
        return convert(*args, **kwargs)

    monkeypatch.setattr(network, "_convert", counted)
    return calls


@pytest.fixture
def only(monkeypatch):
    """``only("tflite")``: the engines "auto" may try, for this test."""

    def restrict(*names):
        monkeypatch.setattr(network, "ENGINES", {n: network.ENGINES[n] for n in names})

    return restrict


def _slowed(monkeypatch, cls, seconds=0.3):
    """Make every call of an engine class take ``seconds`` longer (for its timing)."""
    call = cls.__call__

    def slow(self, x):
        time.sleep(seconds)
        return call(self, x)

    monkeypatch.setattr(cls, "__call__", slow)


def _images(n=3, size=64):
    rng = np.random.default_rng(0)
    return rng.uniform(0, 255, (n, size, size, 3)).astype(np.float32)


@pytest.mark.slow  # converts MobileNet to TFLite (13 s); the fallback test checks auto by default
def test_auto_is_tflite_and_equals_tensorflow_on_chelsea(cnn_weights_dir, monkeypatch, only):
    from transfer.features.cnn import center_crop, imagenet_class_names

    only("tflite")
    cat = center_crop(data.chelsea()[None])
    layers = ["predictions", "conv_pw_11_relu"]  # the softmax and an intermediate stage
    monkeypatch.setattr(network, "AUTO_MIN_IMAGES", 1)  # as if chelsea came with 255 others
    auto = CNNFeatures(NAME, layers)  # the default runtime
    assert auto.runtime == "auto"
    fast = auto.fit_transform(cat)
    reference = CNNFeatures(NAME, layers, runtime="tensorflow").fit_transform(cat)
    assert auto.runtime_ == "tflite"
    assert fast.shape == reference.shape == (1, 1000 + 512)
    np.testing.assert_allclose(fast, reference, rtol=0, atol=1e-4)
    names = imagenet_class_names()
    assert names[int(np.argmax(fast[0, :1000]))] in CATS
    assert int(np.argmax(fast[0, :1000])) == int(np.argmax(reference[0, :1000]))


@pytest.mark.slow  # a few seconds; a faster sibling covers the default suite
def test_auto_converts_when_the_workload_pays_then_starts_on_the_cache(fresh, conversions, only):
    only("tflite")
    X = _images(4)
    network.AUTO_MIN_IMAGES = 4  # restored by fresh's monkeypatch
    est = CNNFeatures(NAME, "conv_pw_4_relu", input_size=64, batch_size=2).fit(X[:1])
    small = est.transform(X[:3])
    assert est.runtime_ == "tensorflow" and not conversions  # 3 images: not worth converting
    big = est.transform(X)
    assert est.runtime_ == "tflite" and len(conversions) == 1
    np.testing.assert_allclose(big[:3], small, rtol=0, atol=1e-4)
    # a later build finds the engine in the cache: TFLite from the start, for any workload
    network._compiled_forward.cache_clear()
    again = CNNFeatures(NAME, "conv_pw_4_relu", input_size=64, batch_size=3).fit(X[:1])
    assert again.runtime_ == "tflite"
    np.testing.assert_allclose(again.transform(X[:1]), big[:1], rtol=0, atol=1e-6)
    assert len(conversions) == 1


def test_a_mismatch_falls_back_to_tensorflow_with_a_log_line(fresh, monkeypatch, caplog, only):
    only("tflite")
    call = network.TFLiteForward.__call__
    monkeypatch.setattr(network.TFLiteForward, "__call__", lambda self, x: call(self, x) + 1e-2)
    X = _images()
    est = CNNFeatures(NAME, "conv_pw_6_relu", input_size=64, batch_size=2)
    with caplog.at_level(logging.WARNING, logger="transfer"):
        got = est.fit_transform(X)
    assert est.runtime_ == "tensorflow"
    [record] = [r for r in caplog.records if r.name == "transfer"]
    message = record.getMessage()
    assert record.levelno == logging.WARNING
    assert NAME in message and "conv_pw_6_relu" in message
    assert "TFLite differs from TensorFlow by 0.01" in message
    assert "running TensorFlow instead" in message
    expected = CNNFeatures(NAME, "conv_pw_6_relu", input_size=64, runtime="tensorflow")
    np.testing.assert_allclose(got, expected.fit_transform(X), rtol=0, atol=1e-5)
    # the verdict is cached: forcing TFLite now fails at once, naming the difference
    network._compiled_forward.cache_clear()
    forced = CNNFeatures(NAME, "conv_pw_6_relu", input_size=64, runtime="tflite")
    with pytest.raises(RuntimeError, match=r"runtime='tflite'.*differs from TensorFlow by 0\.01"):
        forced.fit(X)


@pytest.mark.slow  # a few seconds; a faster sibling covers the default suite
def test_a_conversion_failure_falls_back(fresh, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise ValueError("converter exploded")

    monkeypatch.setattr(network, "_convert", broken)
    X = _images()
    est = CNNFeatures(NAME, input_size=64, batch_size=2)
    with caplog.at_level(logging.WARNING, logger="transfer"):
        got = est.fit_transform(X)
    assert est.runtime_ == "tensorflow"
    [message] = [r.getMessage() for r in caplog.records if r.name == "transfer"]
    assert NAME in message and "global_pool" in message
    assert "conversion failed (ValueError: converter exploded)" in message
    expected = CNNFeatures(NAME, input_size=64, runtime="tensorflow").fit_transform(X)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)
    network._compiled_forward.cache_clear()
    with pytest.raises(RuntimeError, match="converter exploded"):
        CNNFeatures(NAME, input_size=64, runtime="tflite").fit(X)


@pytest.mark.slow  # converts and reloads an engine twice (6 s)
def test_the_disk_cache_is_reused_and_a_damaged_entry_rebuilt(fresh, conversions, caplog, only):
    only("tflite")
    X = _images(5)  # batch 2: two full batches and a padded one
    first = CNNFeatures(NAME, "conv_pw_8_relu", input_size=64, batch_size=2)
    F = first.fit_transform(X)
    assert first.runtime_ == "tflite" and len(conversions) == 1
    [flat] = fresh.glob("*/*.tflite")
    assert len(list(fresh.glob("*/*.json"))) == 1
    np.testing.assert_allclose(
        F,
        CNNFeatures(NAME, "conv_pw_8_relu", input_size=64, runtime="tensorflow").fit_transform(X),
        rtol=0,
        atol=1e-4,
    )

    # another extractor (a new process would do the same): no conversion, any batch size
    network._compiled_forward.cache_clear()
    second = CNNFeatures(NAME, "conv_pw_8_relu", input_size=64, batch_size=4)
    np.testing.assert_allclose(second.fit_transform(X), F, rtol=0, atol=1e-6)
    assert second.runtime_ == "tflite" and len(conversions) == 1

    # a damaged flat buffer is noticed (its sha256) and converted again
    damaged = bytearray(flat.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    flat.write_bytes(bytes(damaged))
    network._compiled_forward.cache_clear()
    third = CNNFeatures(NAME, "conv_pw_8_relu", input_size=64, batch_size=2)
    with caplog.at_level(logging.WARNING, logger="transfer"):
        np.testing.assert_allclose(third.fit_transform(X), F, rtol=0, atol=1e-6)
    assert third.runtime_ == "tflite" and len(conversions) == 2
    assert any("damaged" in r.getMessage() for r in caplog.records)

    # so is an unreadable record
    [record] = fresh.glob("*/*.json")
    record.write_text("{not json")
    network._compiled_forward.cache_clear()
    fourth = CNNFeatures(NAME, "conv_pw_8_relu", input_size=64, batch_size=2)
    np.testing.assert_allclose(fourth.fit_transform(X), F, rtol=0, atol=1e-6)
    assert fourth.runtime_ == "tflite" and len(conversions) == 3


def test_the_feature_cache_key_does_not_depend_on_the_runtime():
    keys = {CNNFeatures(NAME, runtime=r).cache_key() for r in network.RUNTIMES}
    assert len(keys) == 1
    assert CNNFeatures(NAME, "logits").cache_key() not in keys


def test_a_bad_runtime_is_named():
    with pytest.raises(ValueError, match="'runtime'"):
        CNNFeatures(NAME, runtime="onnx").fit(np.zeros((1, 32, 32), np.float32))
    with pytest.raises(ValueError, match="'runtime'"):
        network.build_forward(
            None, ["global_pool"], preprocessing="tf", input_size=32, runtime="onnx"
        )


def test_runtime_is_unknown_before_the_network_is_built():
    with pytest.raises(AttributeError, match="not built"):
        CNNFeatures(NAME).runtime_  # noqa: B018


# --------------------------------------------------------------------------- OpenVINO


@pytest.mark.slow  # an optional engine; auto's TFLite check stays in the default run
def test_openvino_equals_tensorflow_on_chelsea(cnn_weights_dir):
    pytest.importorskip("openvino")
    from transfer.features.cnn import center_crop, imagenet_class_names

    cat = center_crop(data.chelsea()[None])
    layers = ["predictions", "conv_pw_11_relu"]
    # two images: the batch is split across OpenVINO's streams and put back in order
    X = np.concatenate([cat, cat[:, ::-1]])
    ov = CNNFeatures(NAME, layers, runtime="openvino", batch_size=2)
    got = ov.fit_transform(X)
    assert ov.runtime_ == "openvino"
    reference = CNNFeatures(NAME, layers, runtime="tensorflow").fit_transform(X)
    np.testing.assert_allclose(got, reference, rtol=0, atol=1e-4)
    assert imagenet_class_names()[int(np.argmax(got[0, :1000]))] in CATS
    assert not np.allclose(got[0], got[1], atol=1e-3)  # the flipped image is its own row


@pytest.mark.slow  # converts and times every engine (11 s)
def test_auto_runs_the_fastest_verified_engine_and_caches_the_choice(
    fresh, conversions, monkeypatch
):
    pytest.importorskip("openvino")
    X = _images(4)
    fast = network.TFLiteForward.__call__
    _slowed(monkeypatch, network.TFLiteForward)  # TFLite now loses the check's timing
    est = CNNFeatures(NAME, "conv_pw_5_relu", input_size=64, batch_size=2)
    F = est.fit_transform(X)
    assert est.runtime_ == "openvino" and len(conversions) == 1
    expected = CNNFeatures(NAME, "conv_pw_5_relu", input_size=64, runtime="tensorflow")
    np.testing.assert_allclose(F, expected.fit_transform(X), rtol=0, atol=1e-4)
    [record] = [json.loads(p.read_text()) for p in fresh.glob("*/*.json")]
    assert record["engines"]["tflite"]["ok"] and record["engines"]["openvino"]["ok"]
    assert record["engines"]["tflite"]["seconds"] > record["engines"]["openvino"]["seconds"]
    assert record["engines"]["openvino"]["max_abs_diff"] <= record["tolerance"]

    # the verdict is cached: a later build takes OpenVINO at once, even if TFLite is fast now
    monkeypatch.setattr(network.TFLiteForward, "__call__", fast)
    network._compiled_forward.cache_clear()
    again = CNNFeatures(NAME, "conv_pw_5_relu", input_size=64, batch_size=4).fit(X[:1])
    assert again.runtime_ == "openvino"
    np.testing.assert_allclose(again.transform(X), F, rtol=0, atol=1e-6)
    assert len(conversions) == 1
    # and TFLite, verified in the same check, can still be forced from the cache
    network._compiled_forward.cache_clear()
    forced = CNNFeatures(NAME, "conv_pw_5_relu", input_size=64, runtime="tflite").fit(X[:1])
    assert forced.runtime_ == "tflite" and len(conversions) == 1
    network._compiled_forward.cache_clear()


@pytest.mark.slow  # a few seconds; a faster sibling covers the default suite
def test_an_openvino_mismatch_falls_back_to_tflite_with_a_log_line(fresh, monkeypatch, caplog):
    pytest.importorskip("openvino")
    call = network.OpenVINOForward.__call__
    monkeypatch.setattr(network.OpenVINOForward, "__call__", lambda self, x: call(self, x) + 1e-2)
    X = _images()
    est = CNNFeatures(NAME, "conv_pw_7_relu", input_size=64, batch_size=2)
    with caplog.at_level(logging.WARNING, logger="transfer"):
        got = est.fit_transform(X)
    assert est.runtime_ == "tflite"
    [message] = [r.getMessage() for r in caplog.records if r.name == "transfer"]
    assert NAME in message and "conv_pw_7_relu" in message
    assert "OpenVINO differs from TensorFlow by 0.01" in message
    assert "running TFLite instead" in message
    expected = CNNFeatures(NAME, "conv_pw_7_relu", input_size=64, runtime="tensorflow")
    np.testing.assert_allclose(got, expected.fit_transform(X), rtol=0, atol=1e-4)
    network._compiled_forward.cache_clear()
    with pytest.raises(RuntimeError, match=r"runtime='openvino'.*OpenVINO differs .* by 0\.01"):
        CNNFeatures(NAME, "conv_pw_7_relu", input_size=64, runtime="openvino").fit(X)


@pytest.mark.slow  # a few seconds; a faster sibling covers the default suite
def test_an_engine_whose_package_is_absent_is_skipped_quietly(fresh, monkeypatch, caplog):
    missing = ("transfer_no_such_engine_package", network.OpenVINOForward)
    monkeypatch.setattr(network, "ENGINES", {"tflite": network.ENGINES["tflite"]})
    monkeypatch.setitem(network.ENGINES, "openvino", missing)
    X = _images()
    est = CNNFeatures(NAME, "conv_pw_3_relu", input_size=64, batch_size=2)
    with caplog.at_level(logging.DEBUG, logger="transfer"):
        est.fit_transform(X)
    assert est.runtime_ == "tflite"
    skipped = [r for r in caplog.records if "transfer_no_such_engine_package" in r.getMessage()]
    assert skipped and all(r.levelno == logging.DEBUG for r in skipped)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    [record] = [json.loads(p.read_text()) for p in fresh.glob("*/*.json")]
    assert set(record["engines"]) == {"tflite"}
    network._compiled_forward.cache_clear()
    with pytest.raises(RuntimeError, match="needs the package 'transfer_no_such_engine_package'"):
        CNNFeatures(NAME, "conv_pw_3_relu", input_size=64, runtime="openvino").fit(X)


@pytest.mark.slow  # times three engines (5 s)
def test_auto_keeps_tensorflow_when_it_is_clearly_faster(fresh, monkeypatch, caplog):
    monkeypatch.setattr(network, "SLOWER_MARGIN", 0.8)
    for cls in {cls for _, cls in network.ENGINES.values()}:
        _slowed(monkeypatch, cls, 0.5)
    X = _images()
    est = CNNFeatures(NAME, "conv_pw_2_relu", input_size=64, batch_size=2)
    with caplog.at_level(logging.INFO, logger="transfer"):
        got = est.fit_transform(X)
    assert est.runtime_ == "tensorflow"
    [message] = [r.getMessage() for r in caplog.records if r.name == "transfer"]
    assert "TensorFlow is faster here than" in message and "conv_pw_2_relu" in message
    expected = CNNFeatures(NAME, "conv_pw_2_relu", input_size=64, runtime="tensorflow")
    np.testing.assert_allclose(got, expected.fit_transform(X), rtol=0, atol=1e-6)


def test_openvino_sub_batches_equal_one_request_in_order():
    """The queued sub-batches (any count, any batch size) give one request's rows, in order."""
    pytest.importorskip("openvino")
    import keras

    inputs = keras.Input((32, 32, 3))
    hidden = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(hidden))
    forward = network.make_forward(model, ["global_pool"], preprocessing="tf", input_size=32)
    engine = network.OpenVINOForward(network._convert(forward, 32)[0], 32)
    whole = engine._compiled.create_infer_request()
    X = _images(11, size=32)
    for streams, n in [(1, 1), (2, 5), (3, 11), (4, 2)]:
        engine.streams = streams  # more sub-batches than OpenVINO chose (its queue is shared)
        jobs = 1 if streams == 1 else streams * network.OPENVINO_JOBS_PER_STREAM
        assert engine.sub_batch(n) == -(-n // jobs)
        x = X[:n].copy()
        got = engine(x)
        whole.infer({0: x})
        np.testing.assert_array_equal(got, whole.get_output_tensor(0).data)
        np.testing.assert_array_equal(x, X[:n])  # shared, not written to
    # rows are the images' own: a reversed (non-contiguous) batch gives reversed rows
    np.testing.assert_array_equal(engine(X[::-1]), engine(X)[::-1])
    np.testing.assert_allclose(engine(X), np.asarray(forward(X)), rtol=0, atol=1e-4)
