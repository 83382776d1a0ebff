"""Scoring an example's candidates in one packed row, their shared context encoded once.

A multiple-choice example's K candidate texts are ``context + delimiter + answer``: tokenised, they
share a long prefix (SciQ: 21 of 24 tokens, the chess prompts: 56 of 59). Run as K separate texts,
the model encodes that prefix K times. Packed, one row holds the prefix once and then each
candidate's own tokens::

    [prefix][answer 1][answer 2]...[answer K]

with position ids that restart after the prefix for every answer (each answer sits where it sits in
its own text) and a 4D attention mask in which the prefix sees only the prefix and answer k sees
the prefix and itself. Each candidate's pooled vector is read from the prefix and its own tokens
(``pool_weights``), so the head scores it as before. The row has ``P + sum(S_k)`` tokens instead of
``K x (P + S)``: about 3x fewer on these tasks, and less padding.

For a decoder (causal attention) this is the same computation as the separate texts, up to float
rounding: a prefix token never sees what follows it anyway, and answer k sees exactly the tokens
before it in its own text. For a bidirectional encoder (BERT, MPNet) it is not: in a separate text
the context tokens also attend to the answer, which packing cannot give without encoding the
context once per answer again. So ``shared_context="auto"`` packs decoders only, and ``"on"`` also
packs encoders as an approximation (the context's states no longer depend on the answer; the
answer's states still see the whole context) whose accuracy effect is measured in
``benchmarks/multiple_choice.py``. Encoders that pool the first token cannot be packed at all: it
would read the same context state for every candidate.

Packing needs a model whose positions come only from ``position_ids`` and that takes a ready 4D
mask: ``PACKABLE_MODEL_TYPES`` declares those (MPNet is not one: its relative position bias is
computed from positions in the row, whatever ``position_ids`` say).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch

from w2s_bench.errors import W2SError

SHARED_CONTEXT = ("auto", "on", "off")
# absolute or rotary positions read from position_ids, and a 4D attention mask passed through as given
PACKABLE_MODEL_TYPES = frozenset({"bert", "gpt2", "gpt_neox", "llama", "mistral", "qwen2", "qwen3"})
PACKABLE_ATTENTION = ("sdpa", "eager")


class PackedCandidates(NamedTuple):
    """The model inputs of a packed batch (``B`` examples of ``K`` candidates, rows of ``T`` tokens)."""

    input_ids: torch.Tensor  # [B, T]
    attention_mask: torch.Tensor  # [B, 1, T, T]: bool (SDPA) or additive float (eager)
    position_ids: torch.Tensor  # [B, T]
    pool_weights: torch.Tensor  # [B, K, T]: candidate k's pooled vector is pool_weights[:, k] @ states


def shared_prefix(texts: Sequence[Sequence[int]]) -> int:
    """How many leading tokens all of an example's tokenised candidates share, leaving each candidate at
    least one token of its own (an answer that is another's start, e.g. "carbon" / "carbon dioxide")."""
    limit = min(len(ids) for ids in texts) - 1
    length = 0
    while length < limit and all(ids[length] == texts[0][length] for ids in texts):
        length += 1
    return length


def packed_length(texts: Sequence[Sequence[int]]) -> int:
    """The tokens of an example's packed row: the shared prefix once, then each candidate's own."""
    prefix = shared_prefix(texts)
    return prefix + sum(len(ids) - prefix for ids in texts)


def packing_applies(setting: str, model_config: Any, pooling: str, causal: bool, name: str) -> bool:
    """Whether candidates are packed for ``setting`` (one of ``SHARED_CONTEXT``, checked by the estimator):
    ``auto`` where it is exact (decoders of a packable type), ``on`` for encoders too; a W2SError where ``on``
    cannot work."""
    if setting == "off":
        return False
    model_type = getattr(model_config, "model_type", "")
    attention = getattr(model_config, "_attn_implementation", None) or "eager"
    reason = None
    if model_type not in PACKABLE_MODEL_TYPES:
        reason = f"its type {model_type!r} is not one whose positions come only from position ids"
    elif attention not in PACKABLE_ATTENTION:
        reason = f"its attention {attention!r} takes no custom 4D mask"
    elif not causal and pooling == "first":
        reason = "an encoder pooling the first token would read the same context state for every candidate"
    if setting == "auto":
        return causal and reason is None
    if reason is not None:
        raise W2SError(f"shared_context=on cannot pack the candidates of model {name!r}: {reason}",
                       where=f"model {name!r}", fix="use shared_context=auto (each candidate as its own text here)")
    return True


def pack_candidates(batch: Sequence[Sequence[Sequence[int]]], pad_id: int, pooling: str, causal: bool,
                    attention: str = "sdpa") -> PackedCandidates:
    """The packed rows of ``batch`` (per example, its candidates' token ids), right-padded to the longest row.

    ``pooling`` is the head's (``mean``, ``first`` or ``last``); ``causal`` adds the decoder's causal order to the
    mask. Padding tokens attend only to themselves (a row with nothing to attend to would give NaN states, and
    0 x NaN is NaN in the pooling product); no real token attends to them.
    """
    rows = []
    for texts in batch:
        prefix = shared_prefix(texts)
        ids, segments, positions = list(texts[0][:prefix]), [0] * prefix, list(range(prefix))
        for k, candidate in enumerate(texts, start=1):
            own = candidate[prefix:]
            ids += own
            segments += [k] * len(own)
            positions += range(prefix, len(candidate))
        rows.append((ids, segments, positions))
    width, count = max(len(ids) for ids, _, _ in rows), len(batch[0])
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    segment = torch.full((len(batch), width), -1, dtype=torch.long)
    position_ids = torch.zeros((len(batch), width), dtype=torch.long)
    for row, (ids, segments, positions) in enumerate(rows):
        input_ids[row, :len(ids)] = torch.as_tensor(ids)
        segment[row, :len(ids)] = torch.as_tensor(segments)
        position_ids[row, :len(ids)] = torch.as_tensor(positions)
    query, key = segment.unsqueeze(2), segment.unsqueeze(1)  # [B, T, 1], [B, 1, T]
    mask = (key == 0) & (query >= 0) | (key == query) & (query > 0)
    if causal:
        mask &= torch.ones(width, width, dtype=torch.bool).tril()
    mask |= torch.eye(width, dtype=torch.bool) & (query < 0)
    own = segment.unsqueeze(1) == torch.arange(1, count + 1).view(1, count, 1)  # [B, K, T]: candidate k's own tokens
    if pooling == "mean":
        pooled = (own | (segment == 0).unsqueeze(1)).float()
        pool_weights = pooled / pooled.sum(-1, keepdim=True)
    else:
        columns = torch.arange(width).view(1, 1, width)
        chosen = columns.masked_fill(~own, -1).amax(-1) if pooling == "last" else torch.zeros(own.shape[:2], dtype=torch.long)
        pool_weights = (columns == chosen.unsqueeze(-1)).float()
    attention_mask = mask.unsqueeze(1)
    if attention != "sdpa":  # eager attention adds the mask to the scores
        attention_mask = torch.zeros(attention_mask.shape).masked_fill(~attention_mask, torch.finfo(torch.float32).min)
    return PackedCandidates(input_ids, attention_mask, position_ids, pool_weights)
