"""Sampling from a causal LM with a KV cache: batched, left-padded, deterministic for a fixed seed.

Three layers:

* Low level: a :class:`DecodeState` holds a batch's KV cache, the logits of each row's next token, the
  attention mask and the next position ids. :func:`prefill` encodes prompts once; :func:`feed` appends
  tokens through the cache; :meth:`DecodeState.select` keeps, reorders or repeats rows
  (``select([0, 0, 2])``) and :meth:`DecodeState.repeat` gives each row K copies, so a search holds W*K
  rows at most and never re-encodes a prefix.
* :class:`Decoder`: the one decoding loop, used by :func:`sample` and by every search
  (``generation.search``). Rows draw their next token from one model's logits, or from a weighted sum of
  several models' log-probabilities (EFT); rows that end leave the batch in groups
  (:func:`time_to_compact`), so a batch costs what its running rows cost.
* High level: :func:`sample` turns prompts into :class:`Generation` texts with lm-eval's generation
  settings (``max_new_tokens``, ``temperature``, ``top_p``, ``until`` stop strings), batch by batch.
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
    cached positions are real (0 = left padding) and ``next_position`` ``[B]`` each row's next position id."""

    cache: Any
    next_logits: torch.Tensor
    attention_mask: torch.Tensor
    next_position: torch.Tensor

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
                           self.next_position[index])

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
    return DecodeState(cache, logits[:, -1], attention_mask, attention_mask.sum(dim=-1))


@torch.no_grad()
def feed(lm: CausalLM, state: DecodeState, tokens: torch.Tensor) -> DecodeState:
    """Append ``tokens`` ``[B, n]`` to every row (through the cache) and return the state after them."""
    batch, n = tokens.shape
    attention_mask = torch.cat([state.attention_mask, torch.ones((batch, n), dtype=state.attention_mask.dtype)], dim=1)
    position_ids = state.next_position[:, None] + torch.arange(n)[None, :]
    logits, cache = lm.forward(tokens, attention_mask, position_ids, cache=state.cache)
    return DecodeState(cache, logits[:, -1], attention_mask, state.next_position + n)


@torch.no_grad()
def recomputed_next_logits(lm: CausalLM, sequences: Sequence[Sequence[int]]) -> torch.Tensor:
    """The reference to the cache: each row's next-token logits from a forward pass over its whole sequence."""
    input_ids, attention_mask, position_ids = left_pad(sequences, lm.pad_id)
    logits, _ = lm.forward(input_ids, attention_mask, position_ids)
    return logits[:, -1]


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


class Decoder:
    """A batch of rows that sample their next token from ``sum_m weight_m * log p_m`` over one or more models
    sharing a vocabulary (one model: its logits as they are). Cached: one :class:`DecodeState` per model.
    Uncached (the reference): every step runs each model over each row's whole sequence again.

    Rows are the caller's (``sample``'s prompts, a search's beam slots). Only running rows are computed: the
    batch holds the caller's rows that have not ended, and a row that ends (:meth:`drop`) leaves it with the
    next compaction (:func:`time_to_compact`). Every row slot still draws once per step, held or not
    (:func:`skip_draws`), so a slot's randomness does not depend on which rows ended: a search that reuses a
    slot for a new beam gets the same draws whichever rows left."""

    def __init__(self, lms: Sequence[CausalLM], weights: Sequence[float], prompt_ids: Sequence[Sequence[int]],
                 use_cache: bool) -> None:
        self.lms, self.weights, self.use_cache = list(lms), list(weights), use_cache
        self.states: list[DecodeState] = [prefill(lm, prompt_ids) for lm in lms] if use_cache else []
        self.sequences = [] if use_cache else [list(ids) for ids in prompt_ids]
        self.held = list(range(len(prompt_ids)))  # the caller's row at each position of the batch
        self.ended: set[int] = set()  # held rows that ended; they leave at the next compaction

    def next_logits(self) -> torch.Tensor:
        per_model = ([state.next_logits for state in self.states] if self.use_cache
                     else [recomputed_next_logits(lm, self.sequences) for lm in self.lms])
        if len(per_model) == 1:
            return per_model[0]
        width = min(logits.shape[-1] for logits in per_model)  # a model may pad its output layer past the vocabulary
        return sum(weight * torch.log_softmax(logits[:, :width].double().cpu(), dim=-1)
                   for weight, logits in zip(self.weights, per_model, strict=True))

    @property
    def running(self) -> bool:
        return len(self.ended) < len(self.held)

    @torch.no_grad()
    def step(self, settings: GenerationSettings, generators: Sequence[torch.Generator]) -> dict[int, int]:
        """The next token of every running row, by the caller's row index; ``generators`` has one per caller row."""
        tokens = choose_tokens(self.next_logits(), settings, [generators[row] for row in self.held])
        held = set(self.held)
        skip_draws([g for row, g in enumerate(generators) if row not in held], settings)
        if self.use_cache:
            self.states = [feed(lm, state, tokens[:, None]) for lm, state in zip(self.lms, self.states, strict=True)]
        else:
            for sequence, token in zip(self.sequences, tokens.tolist(), strict=True):
                sequence.append(token)
        return {row: token for row, token in zip(self.held, tokens.tolist(), strict=True) if row not in self.ended}

    def drop(self, row: int) -> None:
        """Caller row ``row`` has ended: it needs no more tokens."""
        self.ended.add(row)
        if time_to_compact(len(self.ended), len(self.held)):
            keep = [i for i, held in enumerate(self.held) if held not in self.ended]
            self._keep(keep, [self.held[i] for i in keep])

    def select(self, rows: Sequence[int], running: Sequence[bool]) -> None:
        """The caller's rows become its old rows ``rows`` in that order (a row may repeat); only those marked
        ``running`` are held. Caches are reordered in place, never recomputed."""
        position = {row: i for i, row in enumerate(self.held)}
        new = [j for j, run in enumerate(running) if run]
        self._keep([position[rows[j]] for j in new], new)

    def _keep(self, positions: list[int], rows: list[int]) -> None:
        self.states = [state.select(positions) for state in self.states]
        self.sequences = [list(self.sequences[p]) for p in positions] if not self.use_cache else []
        self.held, self.ended = rows, set()


def _sample_batch(lm: CausalLM, prompt_ids: list[list[int]], settings: GenerationSettings, seeds: list[int],
                  use_cache: bool) -> list[Generation]:
    generators = row_generators(seeds)
    budget = min(settings.max_new_tokens, lm.context_length - max(len(ids) for ids in prompt_ids))
    decoder = Decoder([lm], [1.0], prompt_ids, use_cache)
    generated: list[list[int]] = [[] for _ in prompt_ids]
    done: list[Generation | None] = [None] * len(prompt_ids)
    for _ in range(budget):
        for row, token in decoder.step(settings, generators).items():
            generated[row].append(token)
            done[row] = ended_by_last_token(lm, generated[row], settings)
            if done[row] is not None:
                decoder.drop(row)
        if not decoder.running:
            break
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

