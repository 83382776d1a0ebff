"""Output files are written atomically, honour the umask, and temporary files of killed writers are
removed (only old ones: a concurrent writer's live temporary file is left alone)."""

from __future__ import annotations

import os
import stat
import time

import numpy as np
import pytest
from fakes import NoisyOracle

from w2s_bench.cache import Artefact, ArtefactStore
from w2s_bench.cli import main
from w2s_bench.files import STALE_TEMP_SECONDS, atomic_write_text, current_umask, remove_stale_temp_files
from w2s_bench.results import ResultsDir


@pytest.fixture
def umask_002():
    old = os.umask(0o002)
    yield
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_umask_is_read_without_being_changed(umask_002):
    assert current_umask() == 0o002
    assert current_umask() == 0o002


def test_written_files_honour_the_umask(tmp_path, umask_002):
    atomic_write_text(tmp_path / "results.json", "[]")
    assert _mode(tmp_path / "results.json") == 0o664
    store = ArtefactStore(tmp_path / "cache")
    _, key, _ = store.get_or_compute("weak", {"a": 1}, lambda: Artefact({"test": np.array([[0.5, 0.5]])}, {}))
    assert _mode(store.path("weak", key)) == 0o664
    os.umask(0o077)
    atomic_write_text(tmp_path / "private.json", "[]")
    assert _mode(tmp_path / "private.json") == 0o600


def _leftover(folder, name: str, age: float):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f".{name}.abc123.tmp"
    path.write_text("half a file")
    old = time.time() - age
    os.utime(path, (old, old))
    return path


def test_old_temporary_files_are_removed_and_live_ones_kept(tmp_path):
    old = _leftover(tmp_path, "results.json", STALE_TEMP_SECONDS + 60)
    live = _leftover(tmp_path, "results.csv", 5)
    other = tmp_path / "notes.tmp"  # not one of ours: no leading dot
    other.write_text("keep")
    assert remove_stale_temp_files(tmp_path) == [old]
    assert not old.exists() and live.exists() and other.exists()


def test_opening_a_store_or_a_results_folder_cleans_up(tmp_path):
    in_store = _leftover(tmp_path / "cache" / "ceiling", "k.safetensors", STALE_TEMP_SECONDS + 60)
    in_runs = _leftover(tmp_path / "out" / "runs", "r.json", STALE_TEMP_SECONDS + 60)
    in_root = _leftover(tmp_path / "out", "results.json", STALE_TEMP_SECONDS + 60)
    ArtefactStore(tmp_path / "cache")
    ResultsDir(tmp_path / "out")
    assert not in_store.exists() and not in_runs.exists() and not in_root.exists()


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "results.md"
    atomic_write_text(target, "old table")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "new table")
    assert target.read_text() == "old table"
    assert [p.name for p in tmp_path.iterdir()] == ["results.md"]


def test_results_md_and_csv_are_written_atomically(keyword_task, register, tmp_path, monkeypatch):
    """The CLI's table files go through the atomic writer: if the rename fails, the old files survive."""
    register("oracle", NoisyOracle, "keyword rule with 30% flips", size=1)
    data_dir, tasks = keyword_task
    out = tmp_path / "out"
    argv = ["--tasks", "keywords", "--include_path", str(tasks), "--data_dir", str(data_dir), "--weak", "oracle",
            "--strong", "tfidf", "--limit", "100", "--n_resamples", "20", "--output_path", str(out), "--quiet"]
    assert main(argv) == 0
    old = {name: (out / name).read_text() for name in ("results.md", "results.csv")}
    written = []
    real_replace = os.replace

    def record_replace(src, dst):
        written.append(os.path.basename(dst))
        if os.path.basename(dst) in old:
            raise KeyboardInterrupt  # Ctrl-C at the worst moment
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", record_replace)
    with pytest.raises(KeyboardInterrupt):
        from w2s_bench.cli import _run

        _run(argv)
    assert "results.md" in written
    assert {name: (out / name).read_text() for name in old} == old
    assert not list(out.glob(".*.tmp"))
