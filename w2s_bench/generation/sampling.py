"""Sampling from a causal LM with a KV cache: batched, left-padded, deterministic for a fixed seed.

Two layers:

* Low level, for searches that steer the sampling (chunk-level beam search, best-of-n): a
  :class:`DecodeState` holds a batch's KV cache, the logits of each row's next token, the attention
  mask and the next position ids. :func:`prefill` encodes prompts once; :func:`continue_sampling`
  samples L more tokens for every row, feeding each into the cache, and returns them with the new
  state; :meth:`DecodeState.select` keeps, reorders or repeats rows (``select([0, 0, 2])``) and
  :meth:`DecodeState.repeat` gives each row K copies, so a search holds W*K rows at most and never
  re-encodes a prefix.
* High level: :func:`sample` turns prompts into :class:`Generation` texts with lm-eval's generation
  settings (``max_new_tokens``, ``temperature``, ``top_p``, ``until`` stop strings), batch by batch;
  rows that have ended leave their batch (:func:`time_to_compact`), so a batch costs what its running
  rows cost.
  ``sample(..., use_cache=False)`` recomputes every step from the whole sequence: the reference the
  tests hold the cached path to, token for token.

Why a loop of our own rather than ``model.generate``: randomness must belong to each row, not to the
batch, so that a prompt's sample does not depend on what it was batched with (each row draws its
uniforms from its own ``torch.Generator``, seeded from the run seed and the prompt's index), and a
search must continue sampling from a cache it reorders between chunks. The token rule is
inverse-CDF sampling over the temperature-scaled, nucleus-filtered distribution, in float64.

Left padding: prompts are padded on the left so every row's next token sits in the last column; the
position ids count real tokens only (GPT-2 would otherwise give a padded prompt shifted positions)
and the attention mask hides the padding, in the prompt and in every later step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from w2s_bench.errors import W2SError
from w2s_bench.generation.lm import CausalLM
from w2s_bench.generation.settings import GenerationSettings
from w2s_bench.train import length_batches, pad_batch


@dataclass(frozen=True)
class Generation:
    """One sampled continuation: its text (cut before the first stop string), the generated token ids
    (up to the one that completed a stop string or the EOS token, which they include) and why it ended:
    ``"stop"`` (a stop string), ``"eos"`` or ``"length"`` (max_new_tokens)."""

    text: str
    token_ids: tuple[int, ...]
    finish_reason: str


def row_generators(seeds: Sequence[int]) -> list[torch.Generator]:
    """One CPU generator per row; each row's draws depend on its seed only."""
    return [torch.Generator().manual_seed(int(s)) for s in seeds]


def row_seeds(seed: int, n: int) -> list[int]:
    """Independent per-row seeds derived from a run seed and the row's index (SeedSequence mixing)."""
    return [int(np.random.SeedSequence([int(seed), i]).generate_state(1, np.uint64)[0] >> 1) for i in range(n)]


def choose_tokens(logits: torch.Tensor, settings: GenerationSettings, generators: Sequence[torch.Generator]) -> torch.Tensor:
    """The next token of each row from its logits ``[B, V]``: the argmax when ``temperature`` is 0, else a
    draw from the row's generator over the tempered distribution cut to its top-p nucleus (the smallest
    set of most likely tokens whose probability reaches ``top_p``; the most likely token always stays).
    Greedy rows draw nothing, so their generators are untouched."""
    if settings.temperature == 0:
        return logits.argmax(dim=-1).cpu()
    probs = torch.softmax(logits.double().cpu() / settings.temperature, dim=-1)
    if settings.top_p < 1:
        sorted_probs, order = probs.sort(dim=-1, descending=True, stable=True)
        before = sorted_probs.cumsum(dim=-1) - sorted_probs  # probability of the more likely tokens
        probs = probs.masked_fill(torch.zeros_like(probs, dtype=torch.bool).scatter(1, order, before >= settings.top_p), 0.0)
    # The CDF runs in vocabulary order, not in order of probability: two near-equal probabilities whose order a
    # rounding difference swaps (cached vs recomputed logits; common in flat distributions) then move the draw's
    # boundaries by the rounding error only, instead of exchanging whole intervals and so the token.
    cdf = probs.cumsum(dim=-1)
    # 1 - U is in (0, 1]: the draw is above 0, so the first token whose CDF reaches it has a positive probability
    draws = (1 - torch.stack([torch.rand((), generator=g, dtype=torch.float64) for g in generators])) * cdf[:, -1]
    return (cdf < draws[:, None]).sum(dim=-1).clamp(max=probs.shape[-1] - 1)


def skip_draws(generators: Sequence[torch.Generator], settings: GenerationSettings) -> None:
    """Advance each generator as :func:`choose_tokens` does for one row, without computing a token: a row slot
    that sits out a step (its row ended and left the batch) keeps its randomness in step with the others."""
    if settings.temperature != 0:
        for generator in generators:
            torch.rand((), generator=generator, dtype=torch.float64)


def time_to_compact(ended: int, held: int) -> bool:
    """Whether the rows that ended should leave the batch now: once they are a quarter of it. Leaving copies the
    KV cache, so rows leave in a few groups per batch rather than one by one; until then they are computed
    and ignored. A batch whose rows end early (a short answer, EOS) then costs what its running rows cost."""
    return ended > 0 and 4 * ended >= held


@dataclass
class DecodeState:
    """A batch in the middle of decoding: ``cache`` holds the keys and values of every position fed so far,
    ``next_logits`` ``[B, V]`` the distribution of each row's next token, ``attention_mask`` ``[B, T]`` which
    cached positions are real (0 = left padding), ``next_position`` ``[B]`` each row's next position id, and
    ``finished`` ``[B]`` the rows that emitted EOS (they keep emitting it)."""

    cache: Any
    next_logits: torch.Tensor
    attention_mask: torch.Tensor
    next_position: torch.Tensor
    finished: torch.Tensor

    @property
    def batch_size(self) -> int:
        return int(self.next_logits.shape[0])

    def select(self, rows: Sequence[int] | torch.Tensor) -> DecodeState:
        """The state of rows ``rows`` in that order; a row may repeat (beam expansion) or be left out (pruning).
        The cache is updated in place, so use the returned state and drop this one."""
        index = torch.as_tensor(rows, dtype=torch.long)
        self.cache.batch_select_indices(index.to(self.next_logits.device))
        return DecodeState(self.cache, self.next_logits[index.to(self.next_logits.device)],
                           self.attention_mask[index.to(self.attention_mask.device)],
                           self.next_position[index], self.finished[index])

    def repeat(self, k: int) -> DecodeState:
        """Each row ``k`` times in a row (row i becomes rows i*k ... i*k+k-1), e.g. K continuations per beam."""
        if k < 1:
            raise W2SError(f"cannot repeat each row {k} times", where="DecodeState.repeat", fix="use k >= 1")
        return self.select(torch.arange(self.batch_size).repeat_interleave(k))


def left_pad(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask, position_ids)`` for left-padded sequences; positions count real tokens."""
    input_ids, attention_mask = pad_batch(sequences, pad_id, left=True)
    return input_ids, attention_mask, (attention_mask.cumsum(dim=-1) - 1).clamp(min=0)


@torch.no_grad()
def prefill(lm: CausalLM, prompt_ids: Sequence[Sequence[int]]) -> DecodeState:
    """Encode the prompts (token ids, BOS included) in one left-padded forward pass and keep their cache."""
    if any(not ids for ids in prompt_ids):
        raise W2SError("a prompt has no tokens", where=f"model {lm.name!r}",
                       fix="encode prompts with CausalLM.encode, which adds the BOS token")
    from transformers import DynamicCache

    input_ids, attention_mask, position_ids = left_pad(prompt_ids, lm.pad_id)
    logits, cache = lm.forward(input_ids, attention_mask, position_ids, cache=DynamicCache(), use_cache=True)
    return DecodeState(cache, logits[:, -1], attention_mask, attention_mask.sum(dim=-1),
                       torch.zeros(len(prompt_ids), dtype=torch.bool))


@torch.no_grad()
def feed(lm: CausalLM, state: DecodeState, tokens: torch.Tensor) -> DecodeState:
    """Append ``tokens`` ``[B, n]`` to every row (through the cache) and return the state after them."""
    batch, n = tokens.shape
    attention_mask = torch.cat([state.attention_mask, torch.ones((batch, n), dtype=state.attention_mask.dtype)], dim=1)
    position_ids = state.next_position[:, None] + torch.arange(n)[None, :]
    logits, cache = lm.forward(tokens, attention_mask, position_ids, cache=state.cache)
    finished = state.finished
    if lm.eos_id is not None:
        finished = finished | (tokens == lm.eos_id).any(dim=1)
    return DecodeState(cache, logits[:, -1], attention_mask, state.next_position + n, finished)


@torch.no_grad()
def continue_sampling(lm: CausalLM, state: DecodeState, n_tokens: int, settings: GenerationSettings,
                      generators: Sequence[torch.Generator]) -> tuple[torch.Tensor, DecodeState]:
    """Sample ``n_tokens`` more tokens for every row (``generators``: one per row) and return them
    ``[B, n_tokens]`` with the state after them. Rows that emitted EOS emit EOS from then on (and still
    draw, so every row's randomness advances alike). The caller checks stop strings and the context length."""
    if len(generators) != state.batch_size:
        raise W2SError(f"{len(generators)} generators for {state.batch_size} rows", where="continue_sampling",
                       fix="give one generator per row (row_generators)")
    chosen = []
    for _ in range(n_tokens):
        tokens = choose_tokens(state.next_logits, settings, generators)
        if lm.eos_id is not None:
            tokens = tokens.masked_fill(state.finished, lm.eos_id)
        chosen.append(tokens)
        state = feed(lm, state, tokens[:, None])
    return torch.stack(chosen, dim=1), state


class UncachedDecoder:
    """The reference decoder: every step runs the model over each row's whole sequence again."""

    def __init__(self, lm: CausalLM, prompt_ids: Sequence[Sequence[int]]) -> None:
        self.lm, self.sequences = lm, [list(ids) for ids in prompt_ids]

    @torch.no_grad()
    def next_logits(self) -> torch.Tensor:
        input_ids, attention_mask, position_ids = left_pad(self.sequences, self.lm.pad_id)
        logits, _ = self.lm.forward(input_ids, attention_mask, position_ids)
        return logits[:, -1]

    def append(self, tokens: torch.Tensor) -> None:
        for row, token in zip(self.sequences, tokens.tolist(), strict=True):
            row.append(token)

    def select(self, rows: Sequence[int]) -> None:
        """Keep rows ``rows`` in that order (a row may repeat), as :meth:`DecodeState.select` does for a cache."""
        self.sequences = [list(self.sequences[r]) for r in rows]


def stopped_text(text: str, until: tuple[str, ...]) -> str | None:
    """``text`` cut before its first stop string, or None when it has none."""
    cuts = [text.find(s) for s in until if s in text]
    return text[:min(cuts)] if cuts else None


def ended_by_last_token(lm: CausalLM, tokens: list[int], settings: GenerationSettings) -> Generation | None:
    """The finished generation if the last of ``tokens`` (a row's generated ids, none of the earlier ones having
    ended it) ends it: the EOS token (left out of the text), or the token that completes a stop string (the
    text is cut before it); else None."""
    if tokens[-1] == lm.eos_id:
        return Generation(lm.decode(tokens[:-1]), tuple(tokens), "eos")
    if settings.until:
        text = stopped_text(lm.decode(tokens), settings.until)
        if text is not None:
            return Generation(text, tuple(tokens), "stop")
    return None


def _sample_batch(lm: CausalLM, prompt_ids: list[list[int]], settings: GenerationSettings, seeds: list[int],
                  use_cache: bool) -> list[Generation]:
    generators = row_generators(seeds)
    budget = min(settings.max_new_tokens, lm.context_length - max(len(ids) for ids in prompt_ids))
    generated: list[list[int]] = [[] for _ in prompt_ids]
    done: list[Generation | None] = [None] * len(prompt_ids)
    state = prefill(lm, prompt_ids) if use_cache else None
    reference = None if use_cache else UncachedDecoder(lm, prompt_ids)
    held = list(range(len(prompt_ids)))  # the row at each position of the batch; finished rows leave it
    for _ in range(budget):
        held_generators = [generators[row] for row in held]
        if use_cache:
            tokens, state = continue_sampling(lm, state, 1, settings, held_generators)
            tokens = tokens[:, 0]
        else:
            tokens = choose_tokens(reference.next_logits(), settings, held_generators)
            reference.append(tokens)
        for row, token in zip(held, tokens.tolist(), strict=True):
            if done[row] is None:
                generated[row].append(token)
                done[row] = ended_by_last_token(lm, generated[row], settings)
        if all(d is not None for d in done):
            break
        if time_to_compact(sum(done[row] is not None for row in held), len(held)):
            keep = [i for i, row in enumerate(held) if done[row] is None]
            if use_cache:
                state = state.select(keep)
            else:
                reference.select(keep)
            held = [held[i] for i in keep]
    return [d if d is not None else Generation(lm.decode(ids), tuple(ids), "length")
            for d, ids in zip(done, generated, strict=True)]


def sample(lm: CausalLM, prompts: Sequence[str], settings: GenerationSettings, seed: int | Sequence[int] = 0,
           batch_size: int = 64, use_cache: bool = True) -> list[Generation]:
    """Sample one continuation per prompt, in batches of similar length.

    ``seed`` is the run seed (row i's seed is derived from it and i) or one seed per prompt: a prompt's
    output depends on its seed only, not on its batch, its batch's padding or ``batch_size``. A prompt
    longer than the context minus ``max_new_tokens`` is cut on the left; when the context is full the
    generation ends (``"length"``). ``use_cache=False`` is the slow reference, for tests and benchmarks.
    """
    seeds = row_seeds(seed, len(prompts)) if isinstance(seed, int) else [int(s) for s in seed]
    if len(seeds) != len(prompts):
        raise W2SError(f"{len(seeds)} seeds for {len(prompts)} prompts", where="sample", fix="give one seed per prompt")
    keep = max(1, lm.context_length - settings.max_new_tokens)
    encoded = [lm.encode(p)[-keep:] for p in prompts]
    out: list[Generation | None] = [None] * len(prompts)
    for batch in length_batches([len(ids) for ids in encoded], batch_size, rng=None):
        results = _sample_batch(lm, [encoded[i] for i in batch], settings, [seeds[i] for i in batch], use_cache)
        for i, result in zip(batch, results, strict=True):
            out[i] = result
    return [o for o in out if o is not None]

