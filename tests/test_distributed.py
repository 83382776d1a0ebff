"""Data-parallel training: the switches of ``w2s_bench.distributed`` in one process, and a real
2-process run on CPU (DDP over gloo) that must reproduce a 1-process run."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from w2s_bench import distributed
from w2s_bench.errors import W2SError

BATCH = 7
TRAIN_ARGS = f"lr=3e-3,epochs=2,min_steps=0,batch_size={BATCH},max_length=24"


def test_one_process_is_not_distributed_and_makes_no_accelerator(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    assert not distributed.is_distributed() and distributed.is_main_process()
    assert distributed.get_accelerator() is None
    monkeypatch.setenv("WORLD_SIZE", "1")  # torchrun --nproc_per_node 1
    monkeypatch.setenv("RANK", "0")
    assert not distributed.is_distributed() and distributed.is_main_process()
    assert distributed.get_accelerator() is None


def test_only_rank_zero_is_the_main_process(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert distributed.is_distributed() and not distributed.is_main_process()
    monkeypatch.setenv("RANK", "0")
    assert distributed.is_main_process()


def test_distributed_without_accelerate_says_how_to_install_it(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setitem(sys.modules, "accelerate", None)  # makes `import accelerate` fail
    monkeypatch.setattr(distributed, "_accelerator", None)
    with pytest.raises(W2SError, match=r'pip install "w2s-bench\[multi-gpu\]"'):
        distributed.get_accelerator()


def _without_dropout(model: str, folder: Path) -> str:
    """A copy of the tiny BERT without dropout. Dropout masks are drawn per process for its own slice of
    the batch, so with dropout a 2-process run is another random draw of the same training (val losses
    measured 1e-4 apart), not the 1-process numbers up to float rounding, which is what is tested here."""
    shutil.copytree(model, folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    return str(folder)


def _free_port() -> int:
    """A port for the process group, so that concurrent test runs on one machine do not collide on 29500."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(command: list[str], out: Path, env: dict[str, str]) -> tuple[dict, dict[str, np.ndarray], str]:
    """Run the benchmark with its own artefact cache (nothing reused between the runs compared): the one
    record, its per-example test probabilities, and stderr."""
    env = {**env, "W2S_BENCH_CACHE": str(out / "cache")}
    done = subprocess.run([*command, "--output_path", str(out)], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    [record] = json.loads((out / "results.json").read_text())
    samples = [json.loads(line) for line in (out / "samples" / f"{record['key']}.jsonl").read_text().splitlines()]
    return record, {k: np.array([s[k] for s in samples]) for k in ("ceiling", "w2s")}, done.stderr


@pytest.mark.slow
def test_two_processes_on_cpu_train_like_one(tiny_bert, keyword_task, tmp_path):
    data_dir, tasks = keyword_task
    model = _without_dropout(tiny_bert, tmp_path / "bert")
    benchmark = ["-m", "w2s_bench", "--tasks", "keywords", "--include_path", str(tasks), "--data_dir", str(data_dir),
                 "--weak", "tfidf", "--strong", model, "--limit", "110", "--strong_args", TRAIN_ARGS, "--quiet"]
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    # `accelerate launch --cpu --num_processes 2` starts ONE process (accelerate 1.15 sends --cpu to its single-process
    # launcher); on CPUs the processes come from --multi_gpu (torchrun) and join over gloo with ACCELERATE_USE_CPU.
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
              "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port())]
    one, one_probs, _ = _run([sys.executable, *benchmark], tmp_path / "one", env)
    two, two_probs, stderr = _run([*launch, *benchmark], tmp_path / "two", {**env, "ACCELERATE_USE_CPU": "1"})

    assert "training data-parallel on 2 processes" in stderr  # really two processes, not two lone runs
    assert (two["task"], two["method"], two["strong"]) == ("keywords", "naive", model)
    # 99 training examples in batches of 7: the shares are 4 and 3, and each epoch ends in a batch of 1,
    # which leaves rank 1 an empty share (it runs one example at weight 0)
    sizes = two["data"]["sizes"]
    assert sizes["train_a"] % BATCH == sizes["train_b"] % BATCH == 1, sizes
    for model_kind, part in (("ceiling", "train_a"), ("w2s", "train_b")):
        steps = 2 * -(-sizes[part] // BATCH)  # 2 epochs
        assert two["training"][model_kind]["steps"] == one["training"][model_kind]["steps"] == steps
        assert two["training"][model_kind]["best_step"] == one["training"][model_kind]["best_step"]
        # float32 sums in another order (an all-reduce of two shares, other padding widths) move probabilities by
        # about 1e-6 (measured); 1e-4 leaves room for that and still fails on any real difference in training
        assert np.abs(two_probs[model_kind] - one_probs[model_kind]).max() < 1e-4
        # an accuracy moves only if a test example's margin is below that rounding: allow one such example
        assert abs(two["metrics"][f"{model_kind}_acc"] - one["metrics"][f"{model_kind}_acc"]) <= 1 / sizes["test"] + 1e-12
    assert one["metrics"]["ceiling_acc"] > 0.7  # the strong model learns, so the comparison is not of two coin flips
