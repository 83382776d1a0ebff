"""Multiple-choice scoring: candidates as separate texts against packed rows (not a timed test).

    python benchmarks/multiple_choice.py                       # sciq_mc and chess_generated, --limit 200
    python benchmarks/multiple_choice.py --tasks chess_generated --limit 500 --steps 60

A multiple-choice example is K candidate texts that share their context. ``shared_context=off``
runs them as K separate texts (the harness's path before packing, still the path of models that
cannot be packed); packing (``w2s_bench.models.candidates``) holds the shared prefix once per row.
For each task and model, in one run, on the same examples and with the same settings, this trains
the strong model as the ceiling is trained (``fit`` on train_a with early stopping on val_a) and
scores the test split both ways, and prints per phase the seconds, the tokens the model processed
(rows x width, padding included), the test accuracy of each way and how far their probabilities lie
apart, and the ratio old / new.

Models: MiniLM-L6 (an encoder: packing with ``shared_context=on`` is an approximation, so its
accuracy is what to read) and a random-init 6x384 GPT-2 (a decoder: ``auto`` packs, and the
probabilities must agree up to float rounding). Other processes on the machine change absolute
times: read the ratios, measured within one run, with the load average printed beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from w2s_bench.examples import labels_of, one_hot
from w2s_bench.models import build_estimator, resolve
from w2s_bench.models.candidates import packed_length
from w2s_bench.models.hf import HFEstimator
from w2s_bench.progress import set_quiet
from w2s_bench.tasks import TaskRegistry

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import GPT2_RANDOM, find_shared, make_random_gpt2  # noqa: E402  (a sibling script, not a package)


class RowCounter:
    """The tokens the model processes (rows x width of every batch, padding included) and the real ones."""

    def __init__(self, estimator: HFEstimator) -> None:
        self.processed, self.real = 0, 0
        original = estimator._logits

        def counted(model: torch.nn.Module, batch: list[list[list[int]]]) -> torch.Tensor:
            if estimator._packed:
                lengths = [packed_length(texts) for texts in batch]
                self.processed += len(batch) * max(lengths)
            else:
                lengths = [len(ids) for texts in batch for ids in texts]
                self.processed += len(lengths) * max(lengths)
            self.real += sum(lengths)
            return original(model, batch)

        estimator._logits = counted


def measure(spec_name: str, shared_context: str, loaded: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    """Ceiling-style training and test scoring of one model with one ``shared_context`` setting."""
    s, k = loaded.splits, loaded.num_classes
    est = build_estimator(resolve(spec_name).with_params({**overrides, "shared_context": shared_context}), seed=0)
    counter = RowCounter(est)
    start = time.perf_counter()
    est.fit(s.train_a, one_hot(labels_of(s.train_a), k), s.val_a, one_hot(labels_of(s.val_a), k))
    train_seconds, train_tokens = time.perf_counter() - start, counter.processed
    start = time.perf_counter()
    probs = est.predict_proba(s.test)
    test_seconds = time.perf_counter() - start
    return {"shared_context": shared_context, "packed": est._packed, "train_s": train_seconds, "test_s": test_seconds,
            "train_tokens": train_tokens, "test_tokens": counter.processed - train_tokens,
            "steps": est.training_log.steps, "accuracy": float((probs.argmax(1) == labels_of(s.test)).mean()),
            "probs": probs}


def compare(task: str, model: str, spec_name: str, packed_setting: str, loaded: Any,
            overrides: dict[str, Any]) -> dict[str, Any]:
    """Both ways on the same examples, the separate texts first; the ratios old / new."""
    old = measure(spec_name, "off", loaded, overrides)
    new = measure(spec_name, packed_setting, loaded, overrides)
    row = {"task": task, "model": model, "load_average": os.getloadavg()[0],
           "max_probability_difference": float(np.abs(old["probs"] - new["probs"]).max()),
           "same_predictions": float((old["probs"].argmax(1) == new["probs"].argmax(1)).mean()),
           "old": {k: v for k, v in old.items() if k != "probs"}, "new": {k: v for k, v in new.items() if k != "probs"}}
    for phase in ("train", "test"):
        row[f"{phase}_ratio"] = old[f"{phase}_s"] / new[f"{phase}_s"]
        row[f"{phase}_token_ratio"] = old[f"{phase}_tokens"] / max(new[f"{phase}_tokens"], 1)
    row["total_ratio"] = (old["train_s"] + old["test_s"]) / (new["train_s"] + new["test_s"])
    print(f"  {task:16s} {model:20s} packed={new['packed']!s:5s} ({packed_setting}) | train {old['train_s']:7.1f} s -> "
          f"{new['train_s']:7.1f} s ({row['train_ratio']:.2f}x; tokens {row['train_token_ratio']:.2f}x) | test "
          f"{old['test_s']:6.1f} s -> {new['test_s']:6.1f} s ({row['test_ratio']:.2f}x) | total {row['total_ratio']:.2f}x | "
          f"acc {old['accuracy']:.3f} -> {new['accuracy']:.3f}, same argmax {row['same_predictions']:.3f}, "
          f"max |dp| {row['max_probability_difference']:.1e} | load {row['load_average']:.1f}", flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="sciq_mc,chess_generated")
    parser.add_argument("--limit", type=int, default=200, help="examples per split")
    parser.add_argument("--models", default=f"minilm-l6,{GPT2_RANDOM}")
    parser.add_argument("--steps", type=int, default=None,
                        help="training steps (min_steps with epochs=0; default: the model's own epochs and min_steps)")
    parser.add_argument("--data_dir", default=os.environ.get("W2S_BENCH_DATA_DIR", str(find_shared() / "data")))
    parser.add_argument("--out", type=Path, default=Path("multiple_choice.json"))
    args = parser.parse_args(argv)
    set_quiet(True)
    torch.manual_seed(0)
    overrides: dict[str, Any] = {} if args.steps is None else {"epochs": 0.0, "min_steps": args.steps}
    print(f"multiple-choice benchmark: --limit {args.limit}, {torch.get_num_threads()} torch threads on "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; old = shared_context=off (separate texts)")
    rows = []
    work = Path(tempfile.gettempdir()) / "w2s_bench_multiple_choice"
    for task in args.tasks.split(","):
        loaded = TaskRegistry.discover([]).get(task).load(seed=0, limit=args.limit, data_dir=args.data_dir)
        print(f"{task}: sizes {loaded.splits.sizes()}")
        for model in args.models.split(","):
            spec_name, packed_setting = model, "on"
            if model == GPT2_RANDOM:
                texts = [t for part in (loaded.splits.train_a, loaded.splits.train_b) for ex in part for t in ex.texts]
                spec_name, packed_setting = make_random_gpt2(work / f"{GPT2_RANDOM}-{task}", texts), "auto"
            rows.append(compare(task, model, spec_name, packed_setting, loaded, overrides))
    args.out.write_text(json.dumps({"limit": args.limit, "steps": args.steps, "rows": rows}, indent=2))
    print(f"load average at the end {os.getloadavg()[0]:.2f}; JSON in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
