"""Time weak-to-strong search: tokens/s of the strong LM and of the small scorers, and what the KV cache saves.

    python benchmarks/w2s_search.py                                   # random-init GPT-2s (no build, ~1 min)
    python benchmarks/w2s_search.py --strong offline-lm-l --small offline-lm-s   # the ladder (built on first use)
    python benchmarks/w2s_search.py --w 4 --k 4 --l 5 --prompts 8 --new_tokens 48 --json out.json

The same search runs twice on the same prompts and seeds: with one KV cache per beam reused across
chunks, and with ``use_cache=False`` (every token recomputed from each row's whole sequence, the cost of
re-encoding prefixes); the outputs are checked identical and the ratio of wall times and of tokens the
strong model processed is printed. Every model's ``forward`` is wrapped to count the tokens it is fed and
the time it takes, so strong and scorer throughput are separated within one run. The default models are
random-init GPT-2s (a 6-layer, 384-wide strong model with a 1,000-token BPE vocabulary; a 2-layer, 128-wide
small pair with its own 600-token vocabulary, so scoring crosses tokenizers as it would with real models):
speed does not depend on what the weights learned. The machine's load average is printed beside the
numbers, since on a shared machine wall time is partly other people's work.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
from rich.table import Table

from w2s_bench.generation.lm import CausalLM, load_causal_lm
from w2s_bench.generation.sampling import GenerationSettings
from w2s_bench.generation.search import LogRatioScorer, SearchParams, chunk_beam_search
from w2s_bench.progress import console, set_quiet

PROMPTS = ["The movie was", "I went to the restaurant with my sister.", "Honestly, the hotel", "We took the train to the",
           "The concert", "My friend said the book was", "Overall,", "The staff"]


class Meter:
    """Counts the tokens a model's forward is fed and the seconds it takes."""

    def __init__(self, lm: CausalLM) -> None:
        self.tokens, self.seconds, self._forward = 0, 0.0, lm.forward
        lm.forward = self  # type: ignore[method-assign]

    def __call__(self, input_ids, *args, **kwargs):
        start = time.perf_counter()
        out = self._forward(input_ids, *args, **kwargs)
        self.seconds += time.perf_counter() - start
        self.tokens += int(input_ids.numel())
        return out

    def reset(self) -> None:
        self.tokens, self.seconds = 0, 0.0


def random_lm(folder: Path, vocab_size: int, n_embd: int, n_layer: int, seed: int) -> str:
    from transformers import GPT2LMHeadModel

    from w2s_bench.generation.corpus import generated_documents
    from w2s_bench.generation.ladder import Recipe, train_tokenizer

    tokenizer = train_tokenizer(generated_documents("train", 2000, seed), vocab_size)
    recipe = Recipe("bench", n_embd=n_embd, n_layer=n_layer, n_head=max(1, n_embd // 64), lr=0.0, steps=0,
                    vocab_size=len(tokenizer), block_size=256)
    torch.manual_seed(seed)
    GPT2LMHeadModel(recipe.gpt2_config(tokenizer.eos_token_id)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def measure(strong: CausalLM, tuned: CausalLM, untuned: CausalLM, prompts: list[str], params: SearchParams,
            settings: GenerationSettings) -> dict:
    meters = {"strong": Meter(strong), "tuned": Meter(tuned), "untuned": Meter(untuned)}
    scorer = LogRatioScorer(tuned, untuned)
    runs = {}
    for use_cache in (True, False):
        for meter in meters.values():
            meter.reset()
        start = time.perf_counter()
        out = chunk_beam_search(strong, prompts, settings, scorer, params, seed=0, batch_size=len(prompts) * params.width,
                                use_cache=use_cache)
        runs[use_cache] = {"wall_s": time.perf_counter() - start, "outputs": [g.token_ids for g in out],
                           **{f"{name}_tokens": m.tokens for name, m in meters.items()},
                           **{f"{name}_s": m.seconds for name, m in meters.items()}}
    cached, uncached = runs[True], runs[False]
    # tokens the strong model sampled: every row of every step (the cached run feeds exactly these after the prefill)
    prefill = sum(min(len(strong.encode(p)), strong.context_length) for p in prompts)
    sampled = cached["strong_tokens"] - prefill
    scored = cached["tuned_tokens"] + cached["untuned_tokens"]
    return {
        "strong": strong.name, "small": untuned.name, "w": params.w, "k": params.k, "l": params.l,
        "prompts": len(prompts), "max_new_tokens": settings.max_new_tokens,
        "load_average": round(os.getloadavg()[0], 1),
        "wall_s_cached": round(cached["wall_s"], 2), "wall_s_uncached": round(uncached["wall_s"], 2),
        "speedup_of_cache": round(uncached["wall_s"] / cached["wall_s"], 2),
        "strong_tokens_fed_cached": cached["strong_tokens"], "strong_tokens_fed_uncached": uncached["strong_tokens"],
        "strong_sampled_tokens_per_s": round(sampled / cached["strong_s"], 1),
        "strong_share_of_wall": round(cached["strong_s"] / cached["wall_s"], 2),
        "scorer_tokens_per_s": round(scored / (cached["tuned_s"] + cached["untuned_s"]), 1),
        "scorer_share_of_wall": round((cached["tuned_s"] + cached["untuned_s"]) / cached["wall_s"], 2),
        "cached_equals_uncached": cached["outputs"] == uncached["outputs"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strong", help="strong LM (alias or folder); default a random-init GPT-2")
    parser.add_argument("--small", help="small LM used as untuned and, with other weights, tuned; default random-init")
    parser.add_argument("--w", type=int, default=4)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--l", type=int, default=5)
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--new_tokens", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: steady on a shared machine)")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args(argv)
    set_quiet(True)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="w2s_bench_search_") as tmp:
        root = Path(tmp)
        strong_name = args.strong or random_lm(root / "strong", 1000, 384, 6, seed=0)
        small_name = args.small or random_lm(root / "small", 600, 128, 2, seed=1)
        strong, untuned = load_causal_lm(strong_name, device="cpu"), load_causal_lm(small_name, device="cpu")
        tuned = load_causal_lm(small_name, device="cpu")
        strong.name = args.strong or "random-init GPT-2 (6 x 384, 1,000 tokens)"
        untuned.name = args.small or "random-init GPT-2 (2 x 128, 600 tokens)"
        with torch.no_grad():  # other weights for the "tuned" model: speed does not depend on what they learned
            for parameter in tuned.model.parameters():
                parameter.add_(0.02 * torch.randn_like(parameter))
        prompts = (PROMPTS * (args.prompts // len(PROMPTS) + 1))[:args.prompts]
        result = measure(strong, tuned, untuned, prompts, SearchParams(args.w, args.k, args.l),
                         GenerationSettings(max_new_tokens=args.new_tokens, temperature=0.7))
    table = Table(title="weak-to-strong search (CPU)")
    for key in ("metric", "value"):
        table.add_column(key)
    for key, value in result.items():
        table.add_row(key, str(value))
    console().print(table)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0 if result["cached_equals_uncached"] else 1


if __name__ == "__main__":
    sys.exit(main())
