"""Steering a frozen strong LM at test time with a small tuned / untuned pair: weak-to-strong search,
best-of-n and emulated fine-tuning.

* :func:`chunk_beam_search` is the chunk-level beam search (CBS) of Zhou et al., "Weak-to-Strong Search"
  (NeurIPS 2024). Each prompt keeps W beams; every beam gets K continuations of L tokens sampled from
  the strong LM; each of the W*K partial outputs y is scored by a :data:`Scorer`, for weak-to-strong
  search :class:`LogRatioScorer`, ``log p_tuned(y | x) - log p_untuned(y | x)`` summed over the whole
  partial output; the W best are kept; until ``max_new_tokens`` or every kept beam has ended (EOS or a
  stop string). The answer is the best beam.
* :func:`best_of_n` is the same search with one chunk as long as the output: N = K samples ranked by
  the same score (W = 1, L = max_new_tokens).
* :func:`emulated_finetuning` (EFT, Mitchell et al. 2023, Zhou et al.'s baseline) samples each token from
  ``log p_strong + beta * (log p_tuned - log p_untuned)``, which needs one vocabulary for all three models.

Scoring is on text: each partial output is decoded by the strong model's tokenizer and re-encoded by
each small model's own (``scoring.score_continuations``), so the small pair's tokenizer need not match
the strong model's (gpt2 can steer a Llama). EFT combines logits token by token, so it cannot: mismatched
vocabularies are a :class:`W2SError`.

Efficient by construction:

* The strong model decodes through ``sampling.Decoder``, the loop ``sample`` uses: one KV cache per beam,
  reused across chunks: the prompt is encoded once (``sampling.prefill``), and after scoring,
  ``Decoder.select`` (``DecodeState.select``) keeps the W best rows and repeats each K times in place, so a
  prefix is never re-encoded by the strong model.
* A prompt batch holds W*K rows per prompt, never more, whatever the number of chunks; prompts whose
  kept beams have all ended leave the batch, and so do single rows that end (EOS or a stop string), in
  groups (``sampling.time_to_compact``): an ended beam is kept as text and score, not decoded further.
  On the offline ladder half the strong LM's samples end within 10 of 24 tokens, so best-of-n fed every
  row to the end did about twice the work it needed. ``batch_size`` counts rows (prompts per batch =
  ``batch_size // (W*K)``, at least one).
* All candidates of a prompt batch are scored by each small model in one batch. The small models
  re-encode ``prompt + partial output`` at every chunk (text crosses tokenizers, so their caches could
  not be reused); they are the small ones.

Randomness: prompt i's seed is derived from the run seed and i (``sampling.row_seeds``, as ``sample``
does), and each of its W*K row slots has its own generator (slot 0 uses the prompt's seed, the others
seeds derived from it), kept by the slot across chunks. So a prompt's output does not depend on its
batch, W = K = 1 is exactly the strong model's own sampling, and one chunk of length ``max_new_tokens``
is exactly the best of the W*K samples ``sample`` draws with those seeds (tested).

``use_cache=False`` recomputes every token from each row's whole sequence: the reference the tests
hold the cached search to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from w2s_bench.errors import W2SError
from w2s_bench.generation.lm import CausalLM
from w2s_bench.generation.sampling import (
    Decoder,
    Generation,
    GenerationSettings,
    ended_by_last_token,
    row_generators,
    row_seeds,
)
from w2s_bench.generation.scoring import score_continuations
from w2s_bench.progress import progress_bar
from w2s_bench.train import length_batches

Scorer = Callable[[Sequence[str], Sequence[str]], np.ndarray]
"""``scorer(prompts, continuations)``: one number per (prompt, partial output) pair, higher is better."""


@dataclass(frozen=True)
class SearchParams:
    """CBS's beam width ``w``, successors per beam ``k`` and chunk length ``l`` (tokens). The defaults are
    Zhou et al.'s controlled-sentiment setting (W, K, L = 4, 4, 5, gpt2 steering gpt2-xl)."""

    w: int = 4
    k: int = 4
    l: int = 5  # noqa: E741 (the paper's name)

    def __post_init__(self) -> None:
        meaning = {"w": "beams kept per prompt", "k": "continuations sampled per beam", "l": "tokens per chunk"}
        for name, what in meaning.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise W2SError(f"{name}={value!r} must be a positive integer ({what})", where="weak-to-strong search",
                               fix="e.g. w2s_search(w=4,k=4,l=5)")

    @property
    def width(self) -> int:
        """Rows per prompt: W beams times K continuations."""
        return self.w * self.k


class LogRatioScorer:
    """``log p_tuned(y | x) - log p_untuned(y | x)``: the small pair's implicit reward (Rafailov et al.'s DPO
    identity, with the untuned model as reference), as Zhou et al. use it to steer the strong model. Each
    model encodes the text with its own tokenizer; ``batch_size`` is the scoring batch (all of a
    search batch's candidates by default)."""

    def __init__(self, tuned: CausalLM, untuned: CausalLM, batch_size: int = 256) -> None:
        self.tuned, self.untuned, self.batch_size = tuned, untuned, batch_size

    def __call__(self, prompts: Sequence[str], continuations: Sequence[str]) -> np.ndarray:
        return (score_continuations(self.tuned, prompts, continuations, self.batch_size)
                - score_continuations(self.untuned, prompts, continuations, self.batch_size))


def slot_seeds(prompt_seed: int, n: int) -> list[int]:
    """Seeds of a prompt's ``n`` row slots: slot 0 is the prompt's own seed (so one slot samples exactly as
    ``sample`` does), the others are derived from it."""
    return [int(prompt_seed)] + row_seeds(prompt_seed, n)[1:]


@dataclass
class _Row:
    """One candidate: its prompt (index in the batch), tokens so far, its end (None while running), its score,
    and whether it takes part in the selection (only the first copy of an ended beam does)."""

    prompt: int
    tokens: list[int]
    ended: Generation | None = None
    score: float = 0.0
    candidate: bool = True

    def generation(self, lm: CausalLM) -> Generation:
        return self.ended or Generation(lm.decode(self.tokens), tuple(self.tokens), "length")


def _search_batch(strong: CausalLM, decoder: Decoder, prompts: list[str], seeds: list[int], budget: int,
                  params: SearchParams, settings: GenerationSettings, scorer: Scorer | None) -> list[Generation]:
    width = params.width
    generators = [row_generators(slot_seeds(seed, width)) for seed in seeds]
    active = list(range(len(prompts)))  # prompts still searching; each owns `width` consecutive rows
    rows = [_Row(p, []) for p in active for _ in range(width)]
    decoder.select([p for p in active for _ in range(width)], [True] * len(rows))
    results: list[Generation | None] = [None] * len(prompts)
    produced = 0
    while True:
        n_tokens = min(params.l, budget - produced)
        live = [i for i, row in enumerate(rows) if row.ended is None]
        slot_generators = [g for p in active for g in generators[p]]
        for _ in range(n_tokens):
            for i, token in decoder.step(settings, slot_generators).items():
                rows[i].tokens.append(token)
                rows[i].ended = ended_by_last_token(strong, rows[i].tokens, settings)
                if rows[i].ended is not None:
                    decoder.drop(i)
            if not decoder.running:  # every row ended: each prompt's kept beams have, so the batch is done
                break
        produced += n_tokens
        if scorer is not None and width > 1:  # one row per prompt needs no ranking
            texts = [rows[i].generation(strong).text for i in live]
            for i, score in zip(live, scorer([prompts[rows[i].prompt] for i in live], texts), strict=True):
                rows[i].score = float(score)
        kept_rows: list[int] = []
        still_active = []
        for slot, p in enumerate(active):
            own = range(slot * width, (slot + 1) * width)
            ranked = sorted((i for i in own if rows[i].candidate), key=lambda i: -rows[i].score)  # stable: ties by slot
            kept = ranked[:params.w]
            if produced >= budget or all(rows[i].ended is not None for i in kept):
                results[p] = rows[kept[0]].generation(strong)
            else:
                still_active.append(p)
                kept_rows += [i for i in kept for _ in range(params.k)]
        if not still_active:
            return [r for r in results if r is not None]
        decoder.select(kept_rows, [rows[i].ended is None for i in kept_rows])
        rows = [_Row(rows[i].prompt, list(rows[i].tokens), rows[i].ended, rows[i].score,
                     candidate=rows[i].ended is None or n == 0)
                for i, n in zip(kept_rows, [j % params.k for j in range(len(kept_rows))], strict=True)]
        active = still_active


def _check_causal(lm: object, role: str) -> None:
    if not isinstance(lm, CausalLM):
        raise W2SError(f"the {role} model is a {type(lm).__name__}, not a causal LM, so it cannot be sampled or "
                       "score text", where=f"{role} model",
                       fix="load it with w2s_bench.generation.lm.load_causal_lm (decoders only: offline-lm-*, gpt2, ...)")


def _search(decoder_models: tuple[Sequence[CausalLM], Sequence[float]], prompts: Sequence[str],
            settings: GenerationSettings, scorer: Scorer | None, params: SearchParams, seed: int | Sequence[int],
            batch_size: int, use_cache: bool, label: str) -> list[Generation]:
    """The loop every method here shares: prompts in batches of similar length, each batch searched."""
    lms, weights = decoder_models
    strong = lms[0]
    seeds = row_seeds(seed, len(prompts)) if isinstance(seed, int) else [int(s) for s in seed]
    if len(seeds) != len(prompts):
        raise W2SError(f"{len(seeds)} seeds for {len(prompts)} prompts", where=label, fix="give one seed per prompt")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise W2SError(f"batch_size={batch_size!r} must be a positive integer", where=label, fix="e.g. batch_size=64")
    if scorer is None and params.width > 1:
        raise W2SError(f"{params.width} candidates per prompt but no scorer to rank them", where=label,
                       fix="pass a scorer, e.g. LogRatioScorer(tuned, untuned)")
    context = min(lm.context_length for lm in lms)
    keep = max(1, context - settings.max_new_tokens)
    encoded = [strong.encode(p)[-keep:] for p in prompts]
    out: list[Generation | None] = [None] * len(prompts)
    per_batch = max(1, batch_size // params.width)
    with progress_bar(label, total=len(prompts)) as advance:
        for batch in length_batches([len(ids) for ids in encoded], per_batch, rng=None):
            prompt_ids = [encoded[i] for i in batch]
            budget = min(settings.max_new_tokens, context - max(len(ids) for ids in prompt_ids))
            decoder = Decoder(lms, weights, prompt_ids, use_cache)
            results = _search_batch(strong, decoder, [prompts[i] for i in batch], [seeds[i] for i in batch], budget,
                                    params, settings, scorer)
            for i, result in zip(batch, results, strict=True):
                out[i] = result
            advance(len(batch))
    return [o for o in out if o is not None]


def chunk_beam_search(strong: CausalLM, prompts: Sequence[str], settings: GenerationSettings, scorer: Scorer,
                      params: SearchParams = SearchParams(), seed: int | Sequence[int] = 0, batch_size: int = 64,
                      use_cache: bool = True) -> list[Generation]:
    """Weak-to-strong search (CBS): one continuation per prompt, sampled from the frozen ``strong`` LM and
    steered by ``scorer`` (``LogRatioScorer(tuned, untuned)`` for Zhou et al.'s method). ``settings`` are the
    strong model's sampling settings (temperature, top_p, max_new_tokens, stop strings); ``seed`` the run
    seed or one seed per prompt; ``batch_size`` the rows per batch (see the module docstring)."""
    _check_causal(strong, "strong")
    return _search(([strong], [1.0]), prompts, settings, scorer, params, seed, batch_size, use_cache,
                   f"w2s search W={params.w} K={params.k} L={params.l}")


def best_of_n(strong: CausalLM, prompts: Sequence[str], settings: GenerationSettings, scorer: Scorer, n: int = 16,
              seed: int | Sequence[int] = 0, batch_size: int = 64, use_cache: bool = True) -> list[Generation]:
    """Best-of-N: ``n`` samples of the strong LM per prompt, the one ``scorer`` ranks highest (Zhou et al.'s BoN
    baseline, N = W*K for the same sampling budget as the search)."""
    _check_causal(strong, "strong")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise W2SError(f"n={n!r} must be a positive integer (samples per prompt)", where="best-of-n",
                       fix="e.g. best_of_n(n=16)")
    return _search(([strong], [1.0]), prompts, settings, scorer, SearchParams(w=1, k=n, l=settings.max_new_tokens),
                   seed, batch_size, use_cache, f"best-of-{n}")


def check_same_vocabulary(strong: CausalLM, *small: CausalLM) -> None:
    """EFT adds log probabilities token by token, so every model must map the same strings to the same ids."""
    check_same_vocabularies(strong.name, strong.tokenizer.get_vocab(), {lm.name: lm.tokenizer.get_vocab() for lm in small})


def check_same_vocabularies(strong: str, vocabulary: dict[str, int], small: dict[str, dict[str, int]],
                            where: str = "emulated fine-tuning (eft)") -> None:
    """:func:`check_same_vocabulary` on the vocabularies alone (token -> id, by model name), so a sweep can check
    them from the tokenizers before any model is loaded."""
    for name, other in small.items():
        if other != vocabulary:
            differ = len(set(vocabulary.items()) ^ set(other.items()))
            raise W2SError(f"model {name!r} ({len(other)} tokens) does not share the vocabulary of the strong model "
                           f"{strong!r} ({len(vocabulary)} tokens; {differ} entries differ), and emulated "
                           "fine-tuning adds their next-token log probabilities token by token",
                           where=where,
                           fix="use a small pair of the strong model's family (gpt2 with gpt2-xl, offline-lm-s with "
                               "offline-lm-l), or w2s_search / best_of_n, which score text and work across tokenizers")


def emulated_finetuning(strong: CausalLM, tuned: CausalLM, untuned: CausalLM, prompts: Sequence[str],
                        settings: GenerationSettings, beta: float = 1.0, seed: int | Sequence[int] = 0,
                        batch_size: int = 16, use_cache: bool = True) -> list[Generation]:
    """EFT: each token sampled from ``softmax(log p_strong + beta * (log p_tuned - log p_untuned))`` (then
    ``settings``' temperature and top-p), one KV cache per model. Needs one vocabulary for all three."""
    for lm, role in ((strong, "strong"), (tuned, "tuned"), (untuned, "untuned")):
        _check_causal(lm, role)
    check_same_vocabulary(strong, tuned, untuned)
    if isinstance(beta, bool) or not isinstance(beta, int | float) or not np.isfinite(beta):
        raise W2SError(f"beta={beta!r} must be a finite number", where="emulated fine-tuning (eft)", fix="e.g. beta=1.0")
    return _search(([strong, tuned, untuned], [1.0, float(beta), -float(beta)]), prompts, settings, None,
                   SearchParams(w=1, k=1, l=settings.max_new_tokens), seed, batch_size, use_cache, "eft")
