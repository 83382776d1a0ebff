"""Model folders are fingerprinted by their files' contents: weights rewritten in place at the same
size make new cache keys (retrained), a touched but unchanged folder keeps its key."""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import pytest

from w2s_bench.evaluator import RunConfig, run_sweep
from w2s_bench.models.fingerprint import folder_fingerprint
from w2s_bench.models.registry import resolve


def _rewrite_middle_of_a_tensor(weights: Path) -> None:
    """Overwrite 4 bytes in the middle of the tensor data with another float32: same size, same header."""
    data = bytearray(weights.read_bytes())
    start = 8 + struct.unpack("<Q", data[:8])[0]
    middle = start + ((len(data) - start) // 2) // 4 * 4
    assert data[middle:middle + 4] != struct.pack("<f", 0.123)
    data[middle:middle + 4] = struct.pack("<f", 0.123)
    size = weights.stat().st_size
    with open(weights, "r+b") as handle:  # in place: same file, same inode
        handle.write(data)
    assert weights.stat().st_size == size


@pytest.fixture
def model_copy(tiny_bert, tmp_path) -> Path:
    return Path(shutil.copytree(tiny_bert, tmp_path / "model"))


def test_weights_rewritten_in_place_change_the_fingerprint(model_copy, weights_index):
    before = folder_fingerprint(model_copy)
    weights = model_copy / "model.safetensors"
    inode = weights.stat().st_ino
    _rewrite_middle_of_a_tensor(weights)
    assert weights.stat().st_ino == inode
    assert folder_fingerprint(model_copy) != before


def test_mtime_restored_after_a_rewrite_still_changes_the_fingerprint(model_copy):
    """Restoring the old mtime (as `cp -p` or `touch -d` can) does not hide a change: the ctime moves."""
    weights = model_copy / "model.safetensors"
    before, stat = folder_fingerprint(model_copy), weights.stat()
    _rewrite_middle_of_a_tensor(weights)
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert weights.stat().st_mtime_ns == stat.st_mtime_ns
    assert folder_fingerprint(model_copy) != before


def test_touched_folder_keeps_its_fingerprint_and_the_index_follows(model_copy, weights_index):
    weights = model_copy / "model.safetensors"
    before = folder_fingerprint(model_copy)
    entry = json.loads(weights_index.read_text())[str(weights)]
    assert entry["size"] == weights.stat().st_size and len(entry["sha256"]) == 64
    os.utime(weights, ns=(entry["mtime_ns"] + 10**9, entry["mtime_ns"] + 10**9))
    assert folder_fingerprint(model_copy) == before
    assert json.loads(weights_index.read_text())[str(weights)]["mtime_ns"] == entry["mtime_ns"] + 10**9


def test_remembered_digests_are_used_not_recomputed(model_copy, weights_index, monkeypatch):
    before = folder_fingerprint(model_copy)
    monkeypatch.setattr("w2s_bench.models.fingerprint._sha256", lambda path: pytest.fail(f"rehashed {path}"))
    assert folder_fingerprint(model_copy) == before


def test_a_damaged_index_is_ignored(model_copy, weights_index):
    before = folder_fingerprint(model_copy)
    weights_index.write_text("{not json")
    assert folder_fingerprint(model_copy) == before
    assert json.loads(weights_index.read_text())  # rewritten whole


def test_tokenizer_files_count_too(model_copy):
    before = folder_fingerprint(model_copy)
    vocab = model_copy / "tokenizer_config.json"
    vocab.write_text(vocab.read_text().replace("{", '{"model_max_length": 7, ', 1))
    assert folder_fingerprint(model_copy) != before


def test_hub_snapshots_are_keyed_by_their_commit(tmp_path):
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = tmp_path / "models--org--name" / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    assert folder_fingerprint(snapshot) == f"hub:{commit}"


def test_rewritten_weights_are_retrained_and_touched_ones_reused(keyword_task, model_copy):
    data_dir, tasks = keyword_task
    config = dict(tasks=["keywords"], include_paths=[str(tasks)], data_dir=str(data_dir), weak=["tfidf"],
                  strong=[str(model_copy)], limit=60, n_resamples=50,
                  strong_args={"epochs": 1, "min_steps": 0, "max_length": 16})
    first = run_sweep(RunConfig(**config))
    assert first.store_counts["ceiling computed"] == 1
    os.utime(model_copy / "model.safetensors")  # touched, unchanged: reused
    again = run_sweep(RunConfig(**config)).store_counts
    assert (again["ceiling reused"], again["w2s reused"], again["ceiling computed"]) == (1, 1, 0)
    identity = resolve(str(model_copy)).identity()
    _rewrite_middle_of_a_tensor(model_copy / "model.safetensors")
    assert resolve(str(model_copy)).identity()["weights"] != identity["weights"]
    changed = run_sweep(RunConfig(**config)).store_counts
    assert (changed["ceiling computed"], changed["w2s computed"], changed["weak reused"]) == (1, 1, 1)
