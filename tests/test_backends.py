"""Sweeps spread over workers: a Ray-backed sweep gives the one-process results, and workers sharing
the artefact store compute a key once and never leave a broken entry."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from w2s_bench.cache import ArtefactStore, Expected
from w2s_bench.evaluator import RunConfig, run_sweep

RACE = textwrap.dedent("""
    import sys, time
    import numpy as np
    from w2s_bench.cache import Artefact, ArtefactStore, Expected

    root, log = sys.argv[1], sys.argv[2]

    def compute():
        with open(log, "a") as handle:
            handle.write("computed\\n")
        time.sleep(1.5)  # long enough for the other worker to ask for the same key meanwhile
        return Artefact({"test": np.full((4, 2), 0.5)}, {"who": "a worker"})

    artefact, key, reused = ArtefactStore(root).get_or_compute("weak", {"task": "t"}, compute, Expected({"test": (4, 2)}))
    print(key, reused, float(artefact.arrays["test"].sum()))
""")


def test_two_workers_racing_on_one_key_compute_it_once(tmp_path: Path) -> None:
    root, log = tmp_path / "store", tmp_path / "computed.log"
    workers = [subprocess.Popen([sys.executable, "-c", RACE, str(root), str(log)], stdout=subprocess.PIPE, text=True)
               for _ in range(2)]
    outputs = [w.communicate(timeout=300)[0].split() for w in workers]
    assert all(w.returncode == 0 for w in workers)
    assert log.read_text().splitlines() == ["computed"]  # the second worker waited and read the first one's entry
    assert {o[0] for o in outputs} == {outputs[0][0]} and sorted(o[1] for o in outputs) == ["False", "True"]
    assert all(o[2] == "4.0" for o in outputs)
    entry = ArtefactStore(root)._read(root / "weak" / f"{outputs[0][0]}.safetensors", {"task": "t"}, Expected({"test": (4, 2)}))
    assert entry is not None and entry.record == {"who": "a worker"}
    assert not list((root / "weak").glob(".*.tmp*"))  # no temporary file left behind


@pytest.mark.slow
def test_ray_backed_sweep_reproduces_the_one_process_results(keyword_task, tiny_bert, tmp_path: Path) -> None:
    """Two methods share one weak supervisor and one ceiling: 4 cells in all, run as Ray tasks on a local
    cluster, against a fresh store; every metric and every per-example probability equals the
    one-process sweep's (both on one torch thread, what each Ray task gets)."""
    ray = pytest.importorskip("ray")
    import torch

    data_dir, tasks = keyword_task
    settings = dict(tasks=["keywords"], include_paths=[str(tasks)], data_dir=str(data_dir), weak=["tfidf"],
                    strong=[tiny_bert], methods=["naive", "naive_hard"], seeds=[0, 1], limit=120, n_resamples=50,
                    strong_args={"epochs": 1, "min_steps": 0, "max_length": 32})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local = run_sweep(RunConfig(**settings, cache_dir=str(tmp_path / "local")))
    finally:
        torch.set_num_threads(threads)
    try:
        remote = run_sweep(RunConfig(**settings, cache_dir=str(tmp_path / "shared"), backend="ray",
                                     output_path=str(tmp_path / "out")))
    finally:
        ray.shutdown()
    assert [r.key for r in remote.records] == [r.key for r in local.records] and len(local.records) == 4
    assert [r.metrics for r in remote.records] == [r.metrics for r in local.records]
    assert remote.samples == local.samples
    # each weak supervisor and ceiling was trained once across the workers (2 seeds: 2 of each), then read
    assert remote.store_counts["weak computed"] == 2 and remote.store_counts["ceiling computed"] == 2
    assert remote.store_counts["w2s computed"] == 4
    written = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [r["key"] for r in written] == [r.key for r in local.records]
    assert np.isfinite([r.metrics["w2s_acc"] for r in remote.records]).all()


def test_unknown_backend_is_a_clear_error() -> None:
    from w2s_bench.errors import W2SError

    with pytest.raises(W2SError, match="unknown backend 'slurm'"):
        RunConfig(backend="slurm").check()
