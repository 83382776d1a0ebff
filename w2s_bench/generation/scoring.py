"""Scoring text under a causal LM: log p(continuation | prompt), batched; perplexity.

Ranking sampled candidates (best-of-n, weak-to-strong search's log p_tuned - log p_untuned), filtering
weak demonstrations by the weak model's confidence, and the fluency guard (the base model's
perplexity of an output) all read the same number: the sum of the continuation tokens' log
probabilities given the prompt, each text encoded by the scoring model's own tokenizer (so models
with different vocabularies can score the same text). The prompt is encoded with the BOS token and
the continuation on its own, as sampling appends it (``CausalLM.encode_pair``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from w2s_bench.generation.lm import CausalLM
from w2s_bench.train import length_batches, pad_batch


@torch.no_grad()
def score_ids(lm: CausalLM, pairs: Sequence[tuple[list[int], int]], batch_size: int = 32) -> list[np.ndarray]:
    """Per ``(ids, n_prompt)`` pair, the log probability (float64) of each token after the first ``n_prompt``
    given everything before it; batches of similar length, right-padded."""
    out: list[np.ndarray] = [np.zeros(0)] * len(pairs)
    for batch in length_batches([len(ids) for ids, _ in pairs], batch_size, rng=None):
        input_ids, attention_mask = pad_batch([pairs[i][0] for i in batch], lm.pad_id)
        logits, _ = lm.forward(input_ids, attention_mask)
        # only the positions that predict a continuation token (the token at t is predicted by the logits at
        # t - 1) are normalised: the prompt's positions, often half the row, never reach the softmax
        rows, positions, targets = [], [], []
        for row, i in enumerate(batch):
            ids, n_prompt = pairs[i]
            rows += [row] * (len(ids) - n_prompt)
            positions += range(n_prompt - 1, len(ids) - 1)
            targets += ids[n_prompt:]
        picked = logits[torch.tensor(rows, dtype=torch.long), torch.tensor(positions, dtype=torch.long)]
        logprobs = torch.log_softmax(picked.double(), dim=-1).cpu()
        values = logprobs.gather(1, torch.tensor(targets, dtype=torch.long)[:, None])[:, 0].numpy()
        ends = np.cumsum([len(pairs[i][0]) - pairs[i][1] for i in batch])
        for i, start, end in zip(batch, [0, *ends[:-1]], ends, strict=True):
            out[i] = values[start:end]
    return out


def token_logprobs(lm: CausalLM, prompts: Sequence[str], continuations: Sequence[str],
                   batch_size: int = 32, truncate: bool = False) -> list[np.ndarray]:
    """Per example, the log probability of each continuation token given the prompt and the tokens before it
    (``truncate``: of the continuation's first half-context of tokens, see ``CausalLM.encode_pair``)."""
    if len(prompts) != len(continuations):
        raise ValueError(f"{len(prompts)} prompts for {len(continuations)} continuations")
    pairs = [lm.encode_pair(p, c, truncate) for p, c in zip(prompts, continuations, strict=True)]
    return score_ids(lm, pairs, batch_size)


def mean_token_logprobs(lm: CausalLM, prompts: Sequence[str], continuations: Sequence[str]) -> list[float]:
    """Per example, the mean log probability per continuation token (truncated as ``token_logprobs(...,
    truncate=True)``); ``-inf`` for an empty continuation. A model's confidence in a text it or another wrote."""
    return [float(v.mean()) if len(v) else float("-inf") for v in token_logprobs(lm, prompts, continuations, truncate=True)]


def score_continuations(lm: CausalLM, prompts: Sequence[str], continuations: Sequence[str],
                        batch_size: int = 32) -> np.ndarray:
    """``log p(continuation | prompt)`` per example, summed over the continuation's tokens."""
    return np.array([values.sum() for values in token_logprobs(lm, prompts, continuations, batch_size)])


def perplexity(lm: CausalLM, texts: Sequence[str], batch_size: int = 32) -> float:
    """exp of the mean negative log likelihood per token over all ``texts``, each scored from the BOS token
    (a text longer than the context in windows of context - 1 tokens, each from the BOS token again)."""
    start = lm.encode("")
    window = lm.context_length - len(start)
    pairs = []
    for text in texts:
        ids = lm.encode(text, bos=False)
        pairs += [(start + ids[i:i + window], len(start)) for i in range(0, len(ids), window)]
    values = score_ids(lm, pairs, batch_size)
    tokens = sum(len(v) for v in values)
    return math.exp(-sum(float(v.sum()) for v in values) / max(1, tokens))
