"""Build the offline LM ladder cold and measure it: build time, parameters, held-out perplexity, sampling speed.

    python benchmarks/offline_lm.py                      # s, m, l from the generated corpus (~15 min on 2 free cores)
    python benchmarks/offline_lm.py --sizes s --json out.json
    python benchmarks/offline_lm.py --data_dir ../shared/data   # with SST-2 training sentences in the corpus

Each size is built into a fresh temporary cache (a cold build: corpus, tokenizer, pretraining, the
held-out perplexity, saving), timed in wall-clock and CPU seconds; the machine's load average is
printed beside it, since on a shared machine wall time is mostly other people's work. Sampling is
timed on the same prompts with the KV cache and without it (every step re-encodes the whole
sequence), with identical outputs checked; a few samples per size are printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
from rich.table import Table

from w2s_bench.generation import ladder
from w2s_bench.generation.lm import load_causal_lm
from w2s_bench.generation.sampling import GenerationSettings, sample
from w2s_bench.progress import console, set_quiet

PROMPTS = ["The movie was", "I went to the restaurant with my sister.", "Honestly, the hotel", "We took the train to the",
           "The concert", "My friend said the book was", "Overall,", "The staff"]


def measure(size: str, data_dir: str | None, new_tokens: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="w2s_bench_ladder_") as cache:
        load = os.getloadavg()[0]
        wall, cpu = time.perf_counter(), time.process_time()
        folder = ladder.ladder_path(size, data_dir=data_dir if data_dir is not None else "", cache_dir=cache)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        info = ladder.read_info(folder)
        lm = load_causal_lm(folder)
        settings = GenerationSettings(max_new_tokens=new_tokens, temperature=1.0, top_p=0.95)
        speeds, outputs = {}, {}
        for use_cache in (True, False):
            start = time.perf_counter()
            outputs[use_cache] = sample(lm, PROMPTS, settings, seed=0, batch_size=len(PROMPTS), use_cache=use_cache)
            speeds[use_cache] = sum(len(g.token_ids) for g in outputs[use_cache]) / (time.perf_counter() - start)
    same = [g.token_ids for g in outputs[True]] == [g.token_ids for g in outputs[False]]
    return {"alias": info["alias"], "parameters": info["parameters"], "build_wall_s": round(wall, 1),
            "build_cpu_s": round(cpu, 1), "load_average_at_start": round(load, 1),
            "held_out_perplexity": info["held_out_perplexity"], "training_tokens": info["training_tokens"],
            "corpus": info["corpus"]["sources"], "tokens_per_s_cached": round(speeds[True], 1),
            "tokens_per_s_uncached": round(speeds[False], 1), "cached_equals_uncached": same,
            "samples": [p + g.text for p, g in zip(PROMPTS, outputs[True], strict=True)][:4]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="s,m,l")
    parser.add_argument("--data_dir", default=None, help="a local mirror with stanfordnlp/sst2/train.jsonl (default: none)")
    parser.add_argument("--new_tokens", type=int, default=48, help="tokens sampled per prompt for the speed test")
    parser.add_argument("--threads", type=int, default=1, help="torch threads while sampling (builds use the recipe's, 1); "
                        "one suits models this small, and a busy machine")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    set_quiet(True)
    out = console()
    rows = []
    for size in args.sizes.split(","):
        rows.append(measure(size, args.data_dir, args.new_tokens))
        out.print(json.dumps({k: v for k, v in rows[-1].items() if k != "samples"}), highlight=False)
    table = Table(title=f"offline LM ladder, {os.cpu_count()} CPUs, sampling on {args.threads} thread(s), corpus: "
                        f"{'generated + SST-2' if args.data_dir else 'generated only'}")
    for column in ("alias", "parameters", "build wall s", "build CPU s", "load avg", "held-out ppl",
                   "sample tok/s cached", "uncached", "speed-up", "same tokens"):
        table.add_column(column, justify="left" if column == "alias" else "right")
    for row in rows:
        ppl = ", ".join(f"{k} {v:.2f}" for k, v in row["held_out_perplexity"].items())
        table.add_row(row["alias"], f"{row['parameters']:,}", f"{row['build_wall_s']:.0f}", f"{row['build_cpu_s']:.0f}",
                      f"{row['load_average_at_start']:.1f}", ppl, f"{row['tokens_per_s_cached']:.0f}",
                      f"{row['tokens_per_s_uncached']:.0f}",
                      f"{row['tokens_per_s_cached'] / row['tokens_per_s_uncached']:.1f}x", str(row["cached_equals_uncached"]))
    out.print(table)
    for row in rows:
        out.print(f"[bold]{row['alias']}[/] samples (temperature 1.0, top_p 0.95):")
        for text in row["samples"]:
            out.print(f"  {text!r}", highlight=False)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0 if all(row["cached_equals_uncached"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
