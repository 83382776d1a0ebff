"""Cache entries are checked on read: each kind of tampering is noticed, named in a warning with the
file, and the artefact recomputed and overwritten; an invalid result is never stored."""

from __future__ import annotations

import json
import logging
import re
import shutil

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from w2s_bench.cache import Artefact, ArtefactStore, Expected, array_checksum
from w2s_bench.errors import W2SError

PARTS = {"task": "t", "seed": 0}
EXPECTED = Expected({"test": (4, 2), "train_b": (3, 2)}, ("seconds", "info"))


def _good() -> Artefact:
    return Artefact({"test": np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.5, 0.5]]),
                     "train_b": np.array([[1.0, 0.0], [0.3, 0.7], [0.5, 0.5]])}, {"seconds": 1.5, "info": {"n": 4}})


def _stored(tmp_path):
    store = ArtefactStore(tmp_path)
    _, key, reused = store.get_or_compute("weak", PARTS, _good, EXPECTED)
    assert not reused
    return store, store.path("weak", key)


def _rewrite(path, arrays=None, metadata=None, forge_checksum=True):
    """Replace an entry's arrays and/or metadata, with a checksum that matches the new arrays if
    ``forge_checksum`` (so that the check under test, not the checksum, must catch the change)."""
    with safe_open(str(path), framework="np") as handle:
        old_metadata = handle.metadata()
    arrays = arrays if arrays is not None else load_file(str(path))
    metadata = {**old_metadata, **(metadata or {})}
    if forge_checksum:
        metadata["checksum"] = array_checksum(arrays)
    save_file(arrays, str(path), metadata=metadata)


def _reread(store, caplog):
    """Read the entry again: returns (reused, the warning text)."""
    calls = []
    with caplog.at_level(logging.WARNING, logger="w2s_bench"):
        artefact, _, reused = store.get_or_compute("weak", PARTS, lambda: calls.append(1) or _good(), EXPECTED)
    assert reused == (not calls)
    np.testing.assert_array_equal(artefact.arrays["test"], _good().arrays["test"])
    return reused, caplog.text


def test_an_untouched_entry_is_reused(tmp_path, caplog):
    store, _ = _stored(tmp_path)
    reused, warnings = _reread(store, caplog)
    assert reused and not warnings


def _tamper_swapped_columns(path):
    arrays = load_file(str(path))
    arrays["test"] = np.ascontiguousarray(arrays["test"][:, ::-1])
    _rewrite(path, arrays, forge_checksum=False)


def _tamper(kind):
    def arrays_with(change):
        def tamper(path):
            arrays = load_file(str(path))
            change(arrays)
            _rewrite(path, arrays)
        return tamper

    def nan(arrays):
        arrays["test"][1, 0] = np.nan

    def unnormalised(arrays):
        arrays["test"][2] = [0.6, 0.6]

    def wrong_rows(arrays):
        arrays["train_b"] = arrays["train_b"][:2].copy()

    def other_key(path):
        other = ArtefactStore(path.parent.parent / "other")
        _, key, _ = other.get_or_compute("weak", {"task": "other", "seed": 0}, _good, EXPECTED)
        shutil.copy(other.path("weak", key), path)  # another entry's (valid) file under this key

    def missing_field(path):
        _rewrite(path, metadata={"record": json.dumps({"seconds": 1.5})})

    def no_checksum(path):
        with safe_open(str(path), framework="np") as handle:
            metadata = handle.metadata()
        del metadata["checksum"]
        save_file(load_file(str(path)), str(path), metadata=metadata)

    return {"swapped columns": (_tamper_swapped_columns, "checksum"), "NaN": (arrays_with(nan), "non-finite"),
            "not normalised": (arrays_with(unnormalised), "do not sum to 1"),
            "wrong row count": (arrays_with(wrong_rows), "shape (2, 2), expected (3, 2)"),
            "key parts": (other_key, "key parts differ"), "missing field": (missing_field, "lacks the field(s) info"),
            "no checksum": (no_checksum, "lacks checksum")}[kind]


@pytest.mark.parametrize("kind", ["swapped columns", "NaN", "not normalised", "wrong row count", "key parts",
                                  "missing field", "no checksum"])
def test_tampered_entry_is_recomputed_with_a_warning_and_overwritten(tmp_path, caplog, kind):
    store, path = _stored(tmp_path)
    tamper, reason = _tamper(kind)
    tamper(path)
    reused, warnings = _reread(store, caplog)
    assert not reused
    assert str(path) in warnings and reason in warnings, warnings
    caplog.clear()
    reused, warnings = _reread(store, caplog)  # the recomputed entry replaced the tampered one
    assert reused and not warnings


@pytest.mark.parametrize("arrays, reason", [
    ({"test": np.full((4, 2), np.nan), "train_b": np.full((3, 2), 0.5)}, "non-finite"),
    ({"test": np.full((4, 2), 0.5), "train_b": np.full((2, 2), 0.5)}, "expected (3, 2)"),
    ({"test": np.full((4, 2), 0.7), "train_b": np.full((3, 2), 0.5)}, "do not sum to 1"),
])
def test_an_invalid_result_is_an_error_and_never_stored(tmp_path, arrays, reason):
    store = ArtefactStore(tmp_path)
    with pytest.raises(W2SError, match=re.escape(reason)) as info:
        store.get_or_compute("weak", PARTS, lambda: Artefact(arrays, {"seconds": 1, "info": {}}), EXPECTED,
                             label="weak supervisor m (task t, seed 0)")
    assert "weak supervisor m (task t, seed 0)" in str(info.value) and "not stored" in str(info.value)
    assert not list(tmp_path.rglob("*.safetensors"))


def test_the_protocol_recomputes_a_tampered_ceiling_with_the_same_numbers(keyword_task, register, caplog):
    from fakes import NoisyOracle

    from w2s_bench.evaluator import RunConfig, run_sweep

    register("oracle", NoisyOracle, "keyword rule with 30% flips", size=1)
    data_dir, tasks = keyword_task
    config = RunConfig(tasks=["keywords"], include_paths=[str(tasks)], data_dir=str(data_dir), weak=["oracle"],
                       strong=["tfidf"], n_resamples=50, limit=200, all_pairs=True)
    first = run_sweep(config)
    path = ArtefactStore(config.cache_dir).path("ceiling", first.records[0].artefacts["ceiling"].key)
    _tamper_swapped_columns(path)
    with caplog.at_level(logging.WARNING, logger="w2s_bench"):
        second = run_sweep(config)
    assert str(path) in caplog.text and "checksum" in caplog.text
    c = second.store_counts
    assert (c["ceiling computed"], c["weak reused"], c["w2s reused"]) == (1, 1, 1)
    assert second.records[0].metrics == first.records[0].metrics
