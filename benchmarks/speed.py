"""Where every phase stands against this machine's limit: a table and a JSON file (not a timed test).

    python benchmarks/speed.py --quick                # small sizes, a few minutes on 2 cores
    python benchmarks/speed.py --out speed.json       # --limit 1000 SST-2, the reference side by side

In one run on one machine it measures:

- the limit: a large float32 matmul's FLOP/s (and bfloat16's, reported as measured, whatever it is);
- per model (MiniLM-L6, mpnet-base, a random-init 6x384 GPT-2 with an 8,000-id BPE tokenizer built
  here, 14M parameters) x phase (ceiling training, weak-label inference, w2s training, test inference),
  through the harness's own estimator: examples/s, real tokens/s, achieved FLOP/s counted as
  6 x non-embedding parameters x real tokens for training (2 x for the early-stopping evaluations inside
  it) and 2 x for inference, its fraction of the matmul peak, the fraction of processed tokens that are
  real (not padding), and the phase's peak memory (resident set on CPU, allocated on CUDA);
- the float32 matmul rate at each model's own shapes (a training batch's tokens x hidden -> 4 x hidden):
  what a small model's phases can reach at best;
- the harness's training against a bare PyTorch loop over the same model, batches, optimiser and
  schedule (load + tokenise + steps in both; the ratio, and each one's fraction of the peak), and how much
  of it is setup;
- the start-up time of the light CLI verbs (``--help``, ``ls``, ``validate``, ``compare``), and the bare
  ``w2s-bench``'s wall time (the offline demo, empty cache);
- the side-by-side with the reference implementation (openai/weak-to-strong, run by
  ``../shared/bench/peer_oai/run.sh``) on the same model folders, data sizes and settings, when that
  folder exists (else the column is skipped with the reason).

Other processes on the machine change absolute times: compare ratios measured within one run, and
read the load average printed with them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from w2s_bench.evaluator import RunConfig, run_sweep
from w2s_bench.examples import labels_of, one_hot
from w2s_bench.models import build_estimator, resolve
from w2s_bench.models.hf import HFEstimator
from w2s_bench.progress import set_quiet
from w2s_bench.tasks import TaskRegistry
from w2s_bench.train import length_batches, soft_cross_entropy

REPO = Path(__file__).resolve().parents[1]
GPT2_RANDOM = "gpt2-random-6x384"


# -- the machine's limit ------------------------------------------------------------------------------
def matmul_flops(m: int, k: int, n: int, dtype: torch.dtype = torch.float32, seconds: float = 2.0) -> float:
    """FLOP/s of an ``[m x k] @ [k x n]`` matmul (2 m k n per product), best of repeated timings over ``seconds``."""
    a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
    torch.mm(a, b)  # warm-up
    best, deadline = math.inf, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * m * k * n / best


# -- memory -------------------------------------------------------------------------------------------
class PeakMemory:
    """The peak memory of the enclosed phase: CUDA's allocator peak, or the process's resident set
    sampled every 5 ms (the kernel's high-water mark cannot be reset per phase everywhere)."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.peak = device, 0

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            return self
        import psutil

        process, self._stop = psutil.Process(), threading.Event()

        def sample() -> None:
            while not self._stop.is_set():
                self.peak = max(self.peak, process.memory_info().rss)
                time.sleep(0.005)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            self.peak = torch.cuda.max_memory_allocated(self.device)
        else:
            self._stop.set()
            self._thread.join()


# -- models -------------------------------------------------------------------------------------------
def make_random_gpt2(folder: Path, texts: list[str], layers: int = 6, width: int = 384, vocab: int = 8000) -> str:
    """A random-init GPT-2 (``layers`` x ``width``) with a byte-level BPE tokenizer of ``vocab`` ids
    trained on ``texts``, saved as a local model folder (the size of the reference's benchmark model)."""
    if (folder / "config.json").is_file():
        return str(folder)
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2Model, PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=vocab, special_tokens=["<|endoftext|>"])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    config = GPT2Config(vocab_size=len(tokenizer), n_embd=width, n_layer=layers, n_head=width // 64, n_positions=512,
                        eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    GPT2Model(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def non_embedding_parameters(module: torch.nn.Module) -> int:
    """Parameters outside embedding tables: the ones every token's matmuls use (the FLOP count's P)."""
    embedding = sum(p.numel() for m in module.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters())
    return sum(p.numel() for p in module.parameters()) - embedding


class TokenCounter:
    """Counts the real and processed (padded) tokens of every batch the estimator runs, split by
    whether the model was training (forward + backward) or evaluating."""

    def __init__(self, estimator: HFEstimator) -> None:
        self.counts = {"train": [0, 0], "eval": [0, 0]}
        original = estimator._logits

        def counted(model: torch.nn.Module, batch: list[list[list[int]]]) -> torch.Tensor:
            flat = [ids for texts in batch for ids in texts]
            count = self.counts["train" if model.training else "eval"]
            count[0] += sum(map(len, flat))
            count[1] += len(flat) * max(map(len, flat))
            return original(model, batch)

        estimator._logits = counted

    def reset(self) -> None:
        self.counts = {"train": [0, 0], "eval": [0, 0]}


def phase_row(model: str, phase: str, seconds: float, examples: int, counter: TokenCounter, params: int,
              peak_flops: float, memory: int) -> dict[str, Any]:
    (train_real, train_padded), (eval_real, eval_padded) = counter.counts["train"], counter.counts["eval"]
    flops = 6 * params * train_real + 2 * params * eval_real
    real, padded = train_real + eval_real, train_padded + eval_padded
    return {"model": model, "phase": phase, "seconds": round(seconds, 2), "examples_per_s": round(examples / seconds, 1),
            "real_tokens_per_s": round(real / seconds), "achieved_flops": flops / seconds,
            "fraction_of_peak": round(flops / seconds / peak_flops, 3), "real_token_fraction": round(real / max(padded, 1), 3),
            "peak_memory_mb": round(memory / 2**20), "train_tokens": train_real, "eval_tokens": eval_real}


def phases(name: str, spec_name: str, loaded: Any, peak_flops: float, overrides: dict[str, Any]) -> list[dict[str, Any]]:
    """The four protocol phases of one model, as the harness runs them (early stopping included)."""
    s, k = loaded.splits, loaded.num_classes
    rows: list[dict[str, Any]] = []

    def estimator() -> tuple[HFEstimator, TokenCounter]:
        est = build_estimator(resolve(spec_name).with_params(overrides), seed=0)
        return est, TokenCounter(est)

    def timed(phase: str, examples: int, counter: TokenCounter, est: HFEstimator, work: Callable[[], Any]) -> Any:
        counter.reset()
        with PeakMemory(est.device) as memory:
            start = time.perf_counter()
            out = work()
            seconds = time.perf_counter() - start
        rows.append(phase_row(name, phase, seconds, examples, counter, non_embedding_parameters(est.model.backbone),
                              peak_flops, memory.peak))
        print(_format_row(rows[-1]), flush=True)
        return out

    ceiling, counter = estimator()
    timed("ceiling training", len(s.train_a), counter, ceiling,
          lambda: ceiling.fit(s.train_a, one_hot(labels_of(s.train_a), k), s.val_a, one_hot(labels_of(s.val_a), k)))
    weak_labels = timed("weak-label inference", len(s.train_b) + len(s.val_b), counter, ceiling,
                        lambda: (ceiling.predict_proba(s.train_b), ceiling.predict_proba(s.val_b)))
    student, counter = estimator()
    timed("w2s training", len(s.train_b), counter, student,
          lambda: student.fit(s.train_b, weak_labels[0], s.val_b, weak_labels[1]))
    timed("test inference", len(s.test), counter, student, lambda: student.predict_proba(s.test))
    return rows


# -- harness vs a bare loop ----------------------------------------------------------------------------
def bare_loop(est: HFEstimator, texts: list[tuple[str, ...]], targets: np.ndarray) -> float:
    """Seconds for what the harness's ``fit`` does without early stopping, written as plainly as PyTorch
    allows: load the same backbone and head, tokenise, then the same batches (same seed and length
    bucketing), AdamW, warm-up/decay schedule, clipping and soft cross-entropy."""
    start = time.perf_counter()
    c = est.config
    model = est._load(targets.shape[1]).train()
    encoded = [ids[0] for ids in est._encode_examples(texts)]
    total = max(c.min_steps, math.ceil(c.epochs * math.ceil(len(encoded) / c.batch_size)))
    warmup = int(c.warmup_fraction * total)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=c.lr, weight_decay=c.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda t: (t + 1) / max(1, warmup) if t < warmup else max(0.0, (total - t) / max(1, total - warmup)))
    rng, target_tensor, pad = random.Random(c.seed), torch.as_tensor(targets, dtype=torch.float32), est.tokenizer.pad_token_id

    def batches() -> Iterator[list[int]]:
        while True:
            yield from length_batches([len(ids) for ids in encoded], c.batch_size, rng)

    for _, batch in zip(range(total), batches(), strict=False):
        width = max(len(encoded[i]) for i in batch)
        input_ids = torch.tensor([encoded[i] + [pad] * (width - len(encoded[i])) for i in batch])
        attention_mask = torch.tensor([[1] * len(encoded[i]) + [0] * (width - len(encoded[i])) for i in batch])
        loss = soft_cross_entropy(model(input_ids, attention_mask), target_tensor[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), c.grad_clip)
        optimizer.step()
        schedule.step()
    return time.perf_counter() - start


def overhead(name: str, spec_name: str, loaded: Any, overrides: dict[str, Any], steps: int,
             peak_flops: float) -> dict[str, Any]:
    """The harness's ``fit`` (early stopping off) against :func:`bare_loop`, ``steps`` optimiser steps each,
    interleaved twice (bare, harness, bare, harness) so that a load change hits both; the best of each. Both
    run the same batches, so the harness's real-token count gives the bare loop's FLOP/s too (6 x non-embedding
    parameters x real tokens, setup included): how close plain PyTorch itself gets to the matmul peak."""
    train = loaded.splits.train_a
    targets = one_hot(labels_of(train), loaded.num_classes)
    settings = {**overrides, "epochs": 0.0, "min_steps": steps, "early_stopping": False}
    bare, harness, setup = [], [], []
    for _ in range(2):
        est = build_estimator(resolve(spec_name).with_params(settings), seed=0)
        bare.append(bare_loop(est, [ex.texts for ex in train], targets))
        est = build_estimator(resolve(spec_name).with_params(settings), seed=0)
        counter = TokenCounter(est)
        start = time.perf_counter()
        est._load(loaded.num_classes)
        est._encode_examples([ex.texts for ex in train])
        setup.append(time.perf_counter() - start)
        start = time.perf_counter()
        est.fit(train, targets)
        harness.append(time.perf_counter() - start)
    flops = 6 * non_embedding_parameters(est.model.backbone) * counter.counts["train"][0]
    row = {"model": name, "steps": steps, "bare_s": round(min(bare), 2), "harness_s": round(min(harness), 2),
           "ratio": round(min(harness) / min(bare), 3), "setup_s": round(min(setup), 2),
           "setup_fraction": round(min(setup) / min(harness), 3),
           "bare_fraction_of_peak": round(flops / min(bare) / peak_flops, 3),
           "harness_fraction_of_peak": round(flops / min(harness) / peak_flops, 3)}
    print(f"  harness vs bare loop, {name}, {steps} steps: bare {row['bare_s']} s ({row['bare_fraction_of_peak']:.1%} of "
          f"peak), harness {row['harness_s']} s ({row['harness_fraction_of_peak']:.1%}), ratio {row['ratio']}; load + "
          f"tokenise {row['setup_s']} s ({row['setup_fraction']:.1%} of the harness fit)")
    return row


def shape_limit(name: str, spec_name: str, loaded: Any, overrides: dict[str, Any], peak_flops: float) -> dict[str, Any]:
    """The float32 matmul rate at the model's own shapes: a training batch's real tokens (batch size x the mean
    length of train_a's examples) times the hidden size into the 4x MLP width, the largest matmul of a layer.
    A small model cannot beat this rate, whatever the harness does; it is the ceiling for its phases."""
    est = build_estimator(resolve(spec_name).with_params(overrides), seed=0)
    est._load(loaded.num_classes)  # also loads the tokenizer
    lengths = [len(ids) for texts in est._encode_examples([ex.texts for ex in loaded.splits.train_a]) for ids in texts]
    rows = est.config.batch_size * round(sum(lengths) / len(lengths))
    hidden = est.load_config().hidden_size
    rate = matmul_flops(rows, hidden, 4 * hidden)
    row = {"model": name, "shape": [rows, hidden, 4 * hidden], "flops": rate, "fraction_of_peak": round(rate / peak_flops, 3)}
    print(f"  {name}: [{rows} x {hidden}] @ [{hidden} x {4 * hidden}]: {rate / 1e9:.1f} GFLOP/s "
          f"({row['fraction_of_peak']:.1%} of the {peak_flops / 1e9:.0f} GFLOP/s peak)", flush=True)
    return row


# -- start-up of the light verbs ---------------------------------------------------------------------------
def startup_times(results_file: Path | None) -> list[dict[str, Any]]:
    """Wall seconds of each light CLI verb in a fresh interpreter (best of 3), and whether it imported torch."""
    task = REPO / "tasks" / "nlp" / "sst2.yaml"
    verbs = {"--help": ["--help"], "ls models": ["ls", "models"], "ls tasks": ["ls", "tasks"],
             "validate --schema_only": ["validate", str(task), "--schema_only"]}
    if results_file is not None:
        verbs["compare"] = ["compare", str(results_file), str(results_file)]
    probe = ("import runpy, sys; sys.argv = ['w2s-bench', *sys.argv[1:]]\n"
             "try:\n    runpy.run_module('w2s_bench', run_name='__main__')\n"
             "except SystemExit:\n    pass\n"
             "print('HEAVY=' + ','.join(m for m in ('torch', 'transformers') if m in sys.modules), file=sys.stderr)")
    rows = []
    for label, args in verbs.items():
        best, heavy = math.inf, ""
        for _ in range(3):
            start = time.perf_counter()
            # from a neutral folder: with ``-c`` the working folder comes first on sys.path, and a checkout there
            # would shadow the installed w2s-bench being measured
            done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True,
                                  cwd=tempfile.gettempdir())
            best = min(best, time.perf_counter() - start)
            heavy = done.stderr.rsplit("HEAVY=", 1)[-1].strip()
        rows.append({"verb": label, "seconds": round(best, 2), "imports": heavy or "neither torch nor transformers"})
        print(f"  w2s-bench {label:<24} {best:6.2f} s   imports: {rows[-1]['imports']}", flush=True)
    return rows


def demo_time() -> dict[str, Any]:
    """Wall seconds of the bare ``w2s-bench`` (the offline demo: TF-IDF -> MiniLM-L6 on the generated task) in a
    fresh process with an empty artefact cache, so every model trains as on a first run after install."""
    with tempfile.TemporaryDirectory(prefix="w2s_speed_demo_") as tmp:
        start = time.perf_counter()
        done = subprocess.run([str(Path(sys.executable).parent / "w2s-bench"), "--use_cache", tmp, "--quiet"],
                              capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if done.returncode:
        return {"skipped": f"w2s-bench failed: {done.stderr[-500:]}"}
    print(f"  w2s-bench (the demo, empty cache): {seconds:.1f} s", flush=True)
    return {"seconds": round(seconds, 1)}


# -- the reference, side by side ---------------------------------------------------------------------------
def find_shared() -> Path:
    """``../shared`` beside the checkout (or beside its parent, for a git worktree under ``wt/``)."""
    return next((base / "shared" for base in (REPO.parent, REPO.parent.parent) if (base / "shared").is_dir()),
                REPO.parent / "shared")


def find_peer() -> Path | None:
    run_sh = find_shared() / "bench" / "peer_oai" / "run.sh"
    return run_sh if run_sh.is_file() else None


def reference_side_by_side(run_sh: Path, out: Path, data_dir: str, peer_json: Path | None) -> dict[str, Any]:
    """The reference's four phases (``run.sh OUT``, or a JSON line it printed earlier), then w2s-bench's
    same four phases on the same model folders, data sizes and settings (one process, a fresh cache)."""
    if peer_json is not None:
        peer = json.loads(peer_json.read_text().strip().splitlines()[-1])
        peer["source"] = f"{peer_json} (an earlier run)"
    else:
        done = subprocess.run(["bash", str(run_sh), str(out)], capture_output=True, text=True)
        if done.returncode:
            return {"skipped": f"{run_sh} failed: {done.stdout[-500:]} {done.stderr[-500:]}"}
        peer = json.loads(done.stdout.strip().splitlines()[-1])
        peer["source"] = "run now, before w2s-bench"
    print(f"  reference: {peer['total_s']} s {peer['phases_s']}", flush=True)
    weak, strong = out / "models" / "rand-gpt2-weak", out / "models" / "rand-gpt2-strong"
    settings = "lr=5e-5,epochs=2,batch_size=32,eval_batch_size=32,min_steps=0"
    with tempfile.TemporaryDirectory(prefix="w2s_speed_") as tmp:
        command = ["w2s-bench", "--tasks", "sst2", "--weak", str(weak), "--strong", str(strong), "--methods",
                   "naive,logconf", "--limit", "1000", "--data_dir", data_dir, "--use_cache", f"{tmp}/cache",
                   "--weak_args", settings, "--strong_args", settings, "--output_path", f"{tmp}/out", "--quiet"]
        start = time.perf_counter()
        done = subprocess.run([str(Path(sys.executable).parent / command[0]), *command[1:]], capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode:
            return {"reference": peer, "skipped": f"w2s-bench failed: {done.stderr[-800:]}"}
    ours = {"command": " ".join(command[:12]) + " --weak_args/--strong_args " + settings, "total_s": round(seconds, 1)}
    print(f"  w2s-bench: {ours['total_s']} s; reference / w2s-bench = {peer['total_s'] / seconds:.2f}x", flush=True)
    return {"reference": peer, "w2s_bench": ours, "speedup": round(peer["total_s"] / seconds, 2)}


# -- printing ----------------------------------------------------------------------------------------------
def _format_row(r: dict[str, Any]) -> str:
    return (f"  {r['model']:<18} {r['phase']:<22} {r['seconds']:7.1f} s {r['examples_per_s']:8.1f} ex/s "
            f"{r['real_tokens_per_s']:8d} tok/s {r['achieved_flops'] / 1e9:7.1f} GFLOP/s {r['fraction_of_peak']:6.1%} of peak "
            f"{r['real_token_fraction']:6.1%} real {r['peak_memory_mb']:6d} MB")


@contextmanager
def section(title: str) -> Iterator[None]:
    print(f"\n== {title}", flush=True)
    yield


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="--limit 200, 20 steps for the bare-loop ratio, no reference")
    parser.add_argument("--limit", type=int, default=None, help="examples per split (default 1000; 200 with --quick)")
    parser.add_argument("--models", default=f"minilm-l6,mpnet-base,{GPT2_RANDOM}")
    parser.add_argument("--data_dir", default=os.environ.get("W2S_BENCH_DATA_DIR", str(find_shared() / "data")))
    parser.add_argument("--overhead_steps", type=int, default=None, help="steps of the bare-loop comparison (default 60)")
    parser.add_argument("--reference", choices=["auto", "skip"], default=None,
                        help="run the reference side by side (auto: when ../shared/bench/peer_oai exists; --quick: skip)")
    parser.add_argument("--reference_out", default=str(Path(tempfile.gettempdir()) / "w2s_bench_peer_oai"),
                        help="the reference's work folder (its venv and model folders are reused)")
    parser.add_argument("--reference_json", type=Path, default=None,
                        help="use the JSON line of an earlier run.sh instead of running it again")
    parser.add_argument("--out", type=Path, default=Path("speed.json"))
    args = parser.parse_args(argv)
    set_quiet(True)
    limit = args.limit or (200 if args.quick else 1000)
    steps = args.overhead_steps or (20 if args.quick else 60)
    reference = args.reference or ("skip" if args.quick else "auto")
    torch.manual_seed(0)
    report: dict[str, Any] = {"limit": limit, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                              "load_average_start": os.getloadavg(), "torch": torch.__version__}
    print(f"speed benchmark: --limit {limit}, {torch.get_num_threads()} torch threads on {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")

    with section("the machine's limit (n x n matmul)"):
        n = 1024 if args.quick else 2048
        report["peak_flops"] = {"float32": matmul_flops(n, n, n), "bfloat16": matmul_flops(n, n, n, torch.bfloat16, 1.0)}
        for dtype, value in report["peak_flops"].items():
            print(f"  {dtype}: {value / 1e9:.1f} GFLOP/s ({n}x{n})")
    peak = report["peak_flops"]["float32"]

    sst2 = Path(args.data_dir, "stanfordnlp", "sst2").is_dir()
    task_name = "sst2" if sst2 else "w2s_demo_sentiment"
    loaded = TaskRegistry.discover([]).get(task_name).load(seed=0, limit=limit, data_dir=args.data_dir if sst2 else None)
    report["task"] = task_name
    work = Path(tempfile.gettempdir()) / "w2s_bench_speed"
    models = {m: m for m in args.models.split(",")}
    if GPT2_RANDOM in models:
        texts = [ex.texts[0] for part in (loaded.splits.train_a, loaded.splits.train_b) for ex in part]
        models[GPT2_RANDOM] = make_random_gpt2(work / f"{GPT2_RANDOM}-{task_name}", texts)
    overrides = {"device": RunConfig().device or "auto"}

    with section(f"phases ({task_name}, --limit {limit}; sizes {loaded.splits.sizes()})"):
        report["phases"] = [row for name, spec in models.items() for row in phases(name, spec, loaded, peak, overrides)]
    with section("the float32 matmul rate at each model's own shapes (its achievable limit)"):
        report["shape_limits"] = [shape_limit(name, spec, loaded, overrides, peak) for name, spec in models.items()]
    with section(f"harness vs a bare PyTorch loop ({steps} steps, same batches and optimiser)"):
        report["overhead"] = [overhead(name, spec, loaded, overrides, steps, peak) for name, spec in models.items()]
    with section("start-up of the light CLI verbs (fresh interpreter, best of 3)"):
        with tempfile.TemporaryDirectory(prefix="w2s_speed_results_") as tmp:
            # a real results folder for `compare` to read: a seconds-long TF-IDF-only sweep
            run_sweep(RunConfig(weak=["tfidf"], strong=["tfidf"], limit=200, output_path=tmp, cache_dir=None))
            report["startup"] = startup_times(Path(tmp, "results.json"))
    with section("the bare w2s-bench (the offline demo, a fresh process, empty cache)"):
        report["demo"] = {"skipped": "--quick"} if args.quick else demo_time()
    with section("the reference implementation, side by side"):
        run_sh = find_peer()
        if reference == "skip":
            report["reference"] = {"skipped": "--quick or --reference skip"}
        elif run_sh is None:
            report["reference"] = {"skipped": "../shared/bench/peer_oai/run.sh not found"}
        elif not sst2:
            report["reference"] = {"skipped": f"the SST-2 mirror is not under {args.data_dir}"}
        else:
            report["reference"] = reference_side_by_side(run_sh, Path(args.reference_out), args.data_dir, args.reference_json)
        if "skipped" in report["reference"]:
            print(f"  skipped: {report['reference']['skipped']}")
    report["load_average_end"] = os.getloadavg()
    args.out.write_text(json.dumps(report, indent=2))
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}; JSON in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
