"""Weights: ``transfer weights`` states, and each weights file hashed once per process.

The weights folder is faked (a converted file and its JSON record written by
hand), so no conversion, TensorFlow or network is needed.
"""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from click.testing import CliRunner

from transfer.weights import (
    WeightsDamagedError,
    WeightsNotPreparedError,
    file_sha256,
    get_record,
    list_weights,
    store,
    weights_files,
    weights_status,
)
from transfer_cli.main import main

NAME = "mobilenet_v1_1.0_224"
CONTENT = b"converted weights " * 1000


def _fake_prepare(folder, name: str = NAME, content: bytes = CONTENT):
    """Write ``name`` as :func:`transfer.weights.prepare` would; returns the file."""
    record = get_record(name)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / record.filename
    path.write_bytes(content)
    info = {
        "name": name,
        "file": record.filename,
        "sha256": hashlib.sha256(content).hexdigest(),
        "source_sha256": record.sha256,
        "converter_version": record.converter_version,
    }
    (folder / f"{name}.json").write_text(json.dumps(info))
    return path


@pytest.fixture
def folder(tmp_path, monkeypatch):
    weights = tmp_path / "weights"
    monkeypatch.setenv("TRANSFER_WEIGHTS", str(weights))
    return weights


def _invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def _listed_state(output: str, name: str) -> str:
    line = next(row for row in output.splitlines() if row.startswith(f"{name}  ["))
    return line.split("  [", 1)[1].split("]  network", 1)[0]


def test_verify_with_nothing_prepared_says_where_it_looked(folder):
    result = _invoke("weights", "verify")
    assert result.exit_code == 0
    assert f"no weights are prepared in {folder}" in result.output
    assert "transfer weights prepare NAME" in result.output


def test_list_tells_prepared_missing_and_damaged_apart(folder):
    # a set that prepares itself offline on first use lists as such, not "not prepared"
    other = next(n for n in list_weights() if n != NAME and not store.prepares_on_first_use(n))
    _fake_prepare(folder)
    listed = _invoke("weights", "list")
    assert listed.exit_code == 0
    assert _listed_state(listed.output, NAME) == "prepared"
    assert _listed_state(listed.output, other) == "not prepared"
    assert f"weights folder: {folder}" in listed.output
    assert _invoke("weights", "verify").exit_code == 0

    # truncated after conversion: damaged, not "not prepared"
    h5 = folder / get_record(NAME).filename
    h5.write_bytes(CONTENT[:100])
    listed = _invoke("weights", "list")
    assert listed.exit_code == 0
    assert _listed_state(listed.output, NAME) == (
        f"DAMAGED (sha256 mismatch: re-run transfer weights prepare {NAME} --force)"
    )
    assert _listed_state(listed.output, other) == "not prepared"
    verified = _invoke("weights", "verify")
    assert (
        verified.exit_code == 2
        and f"BAD {NAME}" in verified.output
        and str(h5) in (verified.output)
    )


def test_list_shows_unreadable_and_outdated_records(folder):
    _fake_prepare(folder)
    meta = folder / f"{NAME}.json"
    info = json.loads(meta.read_text())
    meta.write_text(json.dumps({**info, "converter_version": info["converter_version"] - 1}))
    assert _listed_state(_invoke("weights", "list").output, NAME).startswith(
        f"OUTDATED (another source or an older converter: re-run transfer weights prepare {NAME}"
    )
    meta.write_text("{not json")
    assert _listed_state(_invoke("weights", "list").output, NAME) == (
        f"DAMAGED (unreadable record {NAME}.json: re-run transfer weights prepare {NAME} --force)"
    )


def test_status_and_files_of_a_set(folder):
    assert weights_status(NAME) == "not prepared"
    with pytest.raises(WeightsNotPreparedError, match="are not prepared"):
        weights_files(NAME)
    path = _fake_prepare(folder)
    assert weights_status(NAME) == "prepared"
    assert weights_files(NAME) == [path]
    assert file_sha256(weights_files(NAME)[0]) == hashlib.sha256(CONTENT).hexdigest()
    path.write_bytes(b"x" + CONTENT[1:])  # same size, other content
    os.utime(path, ns=(1, 1))
    assert weights_status(NAME) == "damaged"
    with pytest.raises(WeightsDamagedError, match="is damaged or truncated"):
        weights_files(NAME)


def test_the_weights_group_keeps_its_commands():
    assert set(main.commands["weights"].commands) == {"list", "prepare", "verify"}
    result = _invoke("weights", "prepare", "mobilenet_v1_1.0_22")
    assert result.exit_code == 2 and "Did you mean 'mobilenet_v1_1.0_224'" in result.output


@pytest.fixture
def reads(monkeypatch):
    """Count the files whose content is read to hash them."""
    seen: list = []
    read = store._read_sha256

    def counting(path):
        seen.append(path)
        return read(path)

    monkeypatch.setattr(store, "_read_sha256", counting)
    return seen


def test_file_sha256_reads_a_file_once(tmp_path, reads):
    path = tmp_path / "w.h5"
    path.write_bytes(CONTENT)
    expected = hashlib.sha256(CONTENT).hexdigest()
    assert file_sha256(path) == expected
    # again, by another spelling of the same path: served from the memo
    assert file_sha256(str(tmp_path / "." / "w.h5")) == expected
    assert len(reads) == 1
    # the old name is the same memoised function
    assert store.sha256_file(path) == expected and len(reads) == 1


def test_file_sha256_reads_a_changed_file_again(tmp_path, reads):
    path = tmp_path / "w.h5"
    path.write_bytes(CONTENT)
    first = file_sha256(path)
    # same size, other content; the times are set apart so that the test does
    # not depend on the file system's timestamp granularity
    path.write_bytes(b"X" + CONTENT[1:])
    os.utime(path, ns=(10**18, 10**18))
    second = file_sha256(path)
    assert second == hashlib.sha256(b"X" + CONTENT[1:]).hexdigest() != first
    # a touch alone also invalidates (the digest is the same, but it is read)
    os.utime(path, ns=(2 * 10**18, 2 * 10**18))
    assert file_sha256(path) == second
    # a new file moved into place (new inode), as prepare does
    new = tmp_path / "new.h5"
    new.write_bytes(CONTENT)
    os.replace(new, path)
    assert file_sha256(path) == first
    assert len(reads) == 4


def test_load_path_after_prepare_reads_the_weights_once(folder, reads):
    _fake_prepare(folder)
    for _ in range(3):  # e.g. the plan, then two extractors
        assert weights_status(NAME) == "prepared"
    assert [p.name for p in reads] == [get_record(NAME).filename]
