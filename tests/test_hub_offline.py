"""The design card's command, ``--weak gpt2 --strong llama3-8b``, through the real hub code path, offline.

Small random-init models are laid into a Hugging Face hub cache (``models--<org>--<name>/snapshots/<commit>/``
with ``refs/main``, as huggingface_hub writes it) under the ids the aliases name, and the command line runs in a
fresh process with ``HF_HUB_OFFLINE=1`` and ``HF_HUB_CACHE`` pointed there: alias -> hub id -> snapshot, with the
alias's settings (LoRA, gradient checkpointing) in the plan, in the memory estimate and in the run record.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from w2s_bench.models.registry import ALIASES
from w2s_bench.records import read_results


def lay_into_hub_cache(cache: Path, hub_id: str, model, tokenizer) -> Path:
    """``model`` and ``tokenizer`` saved as the snapshot ``refs/main`` points to; the snapshot folder."""
    repo = cache / f"models--{hub_id.replace('/', '--')}"
    commit = hashlib.sha1(hub_id.encode()).hexdigest()  # any 40-hex name: a commit id to huggingface_hub
    snapshot = repo / "snapshots" / commit
    model.save_pretrained(snapshot)
    tokenizer.save_pretrained(snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    """A hub cache holding a tiny GPT-2 as openai-community/gpt2 and a tiny Llama as meta-llama/Meta-Llama-3-8B."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    from w2s_bench.generation.corpus import generated_documents
    from w2s_bench.generation.ladder import train_tokenizer

    cache = tmp_path_factory.mktemp("hub")
    tokenizer = train_tokenizer(generated_documents("train", 200, 0), 300)
    eos = tokenizer.eos_token_id
    torch.manual_seed(0)
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=2, n_positions=128,
                                      bos_token_id=eos, eos_token_id=eos))
    llama = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=48, intermediate_size=96,
                                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                         max_position_embeddings=128, bos_token_id=eos, eos_token_id=eos,
                                         dtype="float32"))
    snapshots = {alias: lay_into_hub_cache(cache, str(ALIASES[alias].path), model, tokenizer)
                 for alias, model in (("gpt2", gpt2), ("llama3-8b", llama))}
    return cache, snapshots


def w2s_bench(args: list[str], cache: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """The command line in a fresh process (huggingface_hub reads its settings from the environment at import)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "W2S_BENCH_", "TRANSFORMERS_"))}
    env.update(HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(cache), HF_HOME=str(tmp_path / "hf_home"),
               W2S_BENCH_CACHE=str(tmp_path / "w2s_cache"), COLUMNS="250")  # wide enough for the tables
    command = [sys.executable, "-m", "w2s_bench", "--tasks", "w2s_demo_sentiment", "--weak", "gpt2", "--strong",
               "llama3-8b", "--limit", "40", "--quiet", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_gpt2_to_llama3_8b_runs_offline_through_the_hub_cache(hub_cache, tmp_path):
    cache, snapshots = hub_cache
    plan = w2s_bench(["--dry_run"], cache, tmp_path)
    assert plan.returncode == 0, plan.stderr
    lines = plan.stdout.replace("\n", " ")
    # alias -> hub id -> the snapshot refs/main names, with the alias's defaults
    assert f"weak gpt2 = openai-community/gpt2 -> {snapshots['gpt2']}" in lines
    assert f"strong llama3-8b = meta-llama/Meta-Llama-3-8B -> {snapshots['llama3-8b']}" in lines
    assert "lora={'r': 16}" in lines and "gradient_checkpointing=True" in lines
    memory_row = next(line for line in plan.stdout.splitlines() if line.lstrip("│ ").startswith("llama3-8b"))
    assert "(LoRA)" in memory_row and "float32 / float32" in memory_row  # CPU: no bf16 autocast

    run = w2s_bench(["--output_path", str(tmp_path / "out"), "--n_resamples", "20"], cache, tmp_path)
    assert run.returncode == 0, run.stderr
    (record,) = read_results(tmp_path / "out")
    strong = record.config.strong_model
    assert strong["name"] == "meta-llama/Meta-Llama-3-8B" and strong["path"] == str(snapshots["llama3-8b"])
    assert strong["params"]["lora"] == {"r": 16} and strong["params"]["gradient_checkpointing"] is True
    assert record.config.weak_model["path"] == str(snapshots["gpt2"])
    for step in ("ceiling", "w2s"):
        assert record.training[step].precision == "float32" and record.training[step].micro_batch_size == 32
    assert record.training["w2s"].steps >= 1
