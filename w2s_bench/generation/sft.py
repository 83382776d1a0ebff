"""Supervised finetuning of a causal LM on (prompt, continuation) pairs, the loss on continuation tokens only.

The generation family's weak supervisor, ceiling and student are all this: next-token cross-entropy
on the demonstration's continuation given its prompt (the prompt's tokens are context, never
targets). The optimisation is the project's one training loop (``w2s_bench.train.train_loop``:
AdamW, warm-up and linear decay, clipping, batches of similar length, data-parallel under
accelerate); the batch's language-model loss stands in for its logits, as in
``w2s_bench.models.lm_finetune``. With validation pairs, early stopping keeps the checkpoint with the
lowest validation loss. With LoRA (``load_causal_lm(..., lora=True)``) only the adapters train.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from w2s_bench.errors import W2SError
from w2s_bench.generation.lm import CausalLM
from w2s_bench.generation.scoring import token_logprobs
from w2s_bench.train import TrainConfig, TrainingLog, pad_batch, train_loop

IGNORE = -100  # the label transformers' loss skips


def continuation_labels(pairs: Sequence[tuple[list[int], int]], pad_id: int) -> tuple[torch.Tensor, ...]:
    """``(input_ids, attention_mask, labels)`` right-padded; labels are the input ids on continuation tokens
    and ``IGNORE`` on prompt tokens and padding (transformers shifts them by one inside the loss)."""
    input_ids, attention_mask = pad_batch([ids for ids, _ in pairs], pad_id)
    labels = input_ids.masked_fill(attention_mask == 0, IGNORE)
    for row, (_, n_prompt) in enumerate(pairs):
        labels[row, :n_prompt] = IGNORE
    return input_ids, attention_mask, labels


def sft(lm: CausalLM, prompts: Sequence[str], continuations: Sequence[str], config: TrainConfig,
        val_prompts: Sequence[str] = (), val_continuations: Sequence[str] = (), label: str | None = None) -> TrainingLog:
    """Finetune ``lm.model`` in place on the pairs; returns the training log. ``config`` sets the optimiser
    (lr, epochs or min_steps, batch size, warm-up, seed, ...); ``max_length`` is the model's context. A
    continuation longer than half the context is cut to it (``CausalLM.encode_pair(truncate=True)``)."""
    if len(prompts) != len(continuations):
        raise ValueError(f"{len(prompts)} prompts for {len(continuations)} continuations")
    pairs = [lm.encode_pair(p, c, truncate=True) for p, c in zip(prompts, continuations, strict=True)]
    pairs = [(ids, n) for ids, n in pairs if len(ids) > n]
    if not pairs:
        raise W2SError("no demonstration has a non-empty continuation", where=f"SFT of {lm.name!r}",
                       fix="check the demonstrations (doc_to_target)")

    def forward(model: torch.nn.Module, indices: list[int]) -> torch.Tensor:
        input_ids, attention_mask, labels = continuation_labels([pairs[i] for i in indices], lm.pad_id)
        return model(input_ids=input_ids.to(lm.device), attention_mask=attention_mask.to(lm.device),
                     labels=labels.to(lm.device)).loss

    evaluate = None
    if len(val_prompts):
        def evaluate() -> tuple[float, float]:
            # no accuracy for text: a constant 0, so the best checkpoint is the one with the lowest validation loss
            values = token_logprobs(lm, val_prompts, val_continuations, config.eval_batch_size)
            return 0.0, -float(np.concatenate(values).mean())

    torch.manual_seed(config.seed)  # dropout
    return train_loop(lm.model, forward, [len(ids) for ids, _ in pairs], np.zeros((len(pairs), 0)), config,
                      lambda loss, _targets, _progress: loss, evaluate, lm.device, label=f"SFT {label or lm.name}")
