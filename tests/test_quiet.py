"""TensorFlow's start-up notices stay off stderr (``transfer._quiet``), never at import.

The notices are the ones TensorFlow 2.21 prints on a CPU machine: absl's
"All log messages before absl::InitializeLog() ..." banner, the oneDNN line
(``port.cc``), ``cpu_feature_guard``'s instruction list, the TensorFlow Lite
converter's ``I``/``W`` lines and its interpreter's "INFO: Created TensorFlow
Lite XNNPACK delegate for CPU.". The end-to-end test runs a network extractor
in a fresh interpreter (TensorFlow is imported once per process), once quiet
and once verbose, the latter showing that the notices are really there.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO
from transfer._quiet import (
    QUIET_ENVIRONMENT,
    import_tensorflow,
    is_notice,
    notices_dropped,
    quiet_tensorflow,
)

# Lines seen on stderr when a CNN extractor runs with no quieting (TensorFlow 2.21, x86).
SEEN = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    "I0000 00:00:1796041573.139498    5317 port.cc:153] oneDNN custom operations are on. "
    "You may see slightly different numerical results due to floating-point round-off errors "
    "from different computation orders. To turn them off, set the environment variable "
    "`TF_ENABLE_ONEDNN_OPTS=0`.\n",
    "I0000 00:00:1796041573.181587    5317 cpu_feature_guard.cc:227] This TensorFlow binary "
    "is optimized to use available CPU instructions in performance-critical operations.\n",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild "
    "TensorFlow with the appropriate compiler flags.\n",
    "W0000 00:00:1796041677.319807    6760 tf_tfl_flatbuffer_helpers.cc:364] Ignored "
    "output_format.\n",
    "I0000 00:00:1796041681.194251    6760 flatbuffer_export.cc:4302] Estimated count of "
    "arithmetic ops: 4.555 G  ops, equivalently 2.277 G  MACs\n",
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n",
]
KEPT = [
    "E0000 00:00:1758131045.203198 3722035 cuda_dnn.cc:8579] Unable to register cuDNN factory\n",
    "Traceback (most recent call last):\n",
    "UserWarning: something the user should see\n",
    "WARNING: an unrelated warning\n",
]
MARKERS = ("absl::InitializeLog", "oneDNN", "cpu_feature_guard", "TF_ENABLE_ONEDNN_OPTS", "XNNPACK")


def test_notices_are_recognised_and_errors_are_not():
    assert all(is_notice(line) for line in SEEN)
    assert not any(is_notice(line) for line in KEPT)


@pytest.mark.parametrize("verbose", [False, True])
def test_notices_dropped_keeps_every_other_line(capfd, verbose):
    with notices_dropped(verbose):
        # written on file descriptor 2 directly, as TensorFlow's C++ code does
        os.write(2, "".join(SEEN + KEPT).encode())
    err = capfd.readouterr().err
    assert all(line in err for line in KEPT)
    assert all((line in err) == verbose for line in SEEN)


@pytest.fixture
def clean_environment(monkeypatch):
    for name in QUIET_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    tf_logger = logging.getLogger("tensorflow")
    level = tf_logger.level
    tf_logger.setLevel(logging.NOTSET)
    yield monkeypatch
    tf_logger.setLevel(level)


def test_quiet_tensorflow_sets_what_is_unset_and_is_idempotent(clean_environment):
    clean_environment.setenv("GRPC_VERBOSITY", "DEBUG")  # the user's choice wins
    quiet_tensorflow()
    quiet_tensorflow()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
    assert os.environ["GRPC_VERBOSITY"] == "DEBUG"
    assert logging.getLogger("tensorflow").level == logging.ERROR


def test_verbose_leaves_everything_alone(clean_environment):
    quiet_tensorflow(verbose=True)
    assert not any(name in os.environ for name in QUIET_ENVIRONMENT)
    assert logging.getLogger("tensorflow").level == logging.NOTSET


def test_import_tensorflow_returns_the_module():
    tf = import_tensorflow()
    assert tf is sys.modules["tensorflow"] and import_tensorflow() is tf


RUN_EXTRACTOR = """
import logging, os, sys
import numpy as np
verbose = sys.argv[1] == "verbose"
if verbose:
    logging.getLogger("transfer").setLevel(logging.INFO)
from transfer.features.cnn import CNNFeatures
assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ, "set at import"
X = np.random.default_rng(0).uniform(0, 255, (3, 40, 40, 3)).astype(np.float32)
# the verbose run only needs to show that TensorFlow prints notices at all
for runtime in ("tensorflow",) if verbose else ("tensorflow", "tflite"):
    est = CNNFeatures("efficientnet_lite0", input_size=32, batch_size=2, runtime=runtime)
    F = est.fit_transform(X)
    assert F.shape == (3, 1280) and np.isfinite(F).all(), F.shape
print("ok")
"""


def _run_extractor(mode: str, weights_dir: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in QUIET_ENVIRONMENT}
    env["TRANSFER_WEIGHTS"] = weights_dir
    proc = subprocess.run(
        [sys.executable, "-c", RUN_EXTRACTOR, mode],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
    return proc.stderr


@pytest.mark.slow  # a fresh interpreter importing TensorFlow and building a network: ~20 s
def test_network_extractor_leaves_stderr_free_of_notices(weights_home):
    weights_dir = str(weights_home("efficientnet_lite0").parent)
    loud = _run_extractor("verbose", weights_dir)
    if not any(is_notice(line) for line in loud.splitlines()):
        pytest.skip("this TensorFlow build prints no start-up notices: nothing to silence")
    quiet = _run_extractor("quiet", weights_dir)
    noise = [line for line in quiet.splitlines() if any(m in line for m in MARKERS)]
    assert not noise, "\n".join(noise)
    assert not any(is_notice(line) for line in quiet.splitlines()), quiet
