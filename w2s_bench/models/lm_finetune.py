"""Language-model finetuning of a backbone on unlabeled text (the ``generative`` method's first step).

Decoders learn next-token prediction (AutoModelForCausalLM), BERT-like encoders to recover 15% of
their tokens replaced by the mask token (AutoModelForMaskedLM; checkpoints saved without an MLM
head, like the sentence-transformers MiniLM and MPNet, start its transform at random; only the
backbone is kept either way). The optimisation is the shared ``train_loop`` (AdamW, warm-up,
clipping; batch size and max_length of the estimator's config): the batch's LM loss stands in for
its logits and the loss function passes it through. With LoRA the adapters are trained, then merged
into the weights. The result is a CPU copy of the backbone's weights, which the classification
estimator's next ``fit`` starts from (``restore_lm_state``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from w2s_bench.errors import W2SError
from w2s_bench.models.backbone import Backbone, is_decoder
from w2s_bench.train import TrainConfig, TrainingLog, pad_batch, to_device, train_loop

LMState = dict[str, torch.Tensor]  # a backbone's weights after LM finetuning, on the CPU


def lm_objective(config: Any, tokenizer: Any, name: str) -> str:
    """``"causal"`` for decoders, ``"masked"`` for encoders with a masked-LM head and a mask token."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    if is_decoder(config):
        return "causal"
    if config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES and tokenizer.mask_token is not None:
        return "masked"
    raise W2SError(f"model {name!r} (type {config.model_type!r}) has neither a causal nor a masked language-model "
                   "head with a mask token in transformers, so it cannot be finetuned generatively",
                   where=f"model {name!r}",
                   fix="use a decoder (gpt2, pythia-*, qwen2.5-*) or a BERT-like encoder (minilm-l6, mpnet-base) as the "
                       "strong model, or a method without generative finetuning")


def mask_positions(input_ids: torch.Tensor, attention_mask: torch.Tensor, special_ids: torch.Tensor,
                   generator: torch.Generator, rate: float = 0.15) -> torch.Tensor:
    """Masked-LM positions: each real, non-special token with probability ``rate``, and at least one
    per text (a batch without a masked token has no loss)."""
    maskable = attention_mask.bool() & ~torch.isin(input_ids, special_ids.to(input_ids.device))
    scores = torch.rand(input_ids.shape, generator=generator).to(input_ids.device).masked_fill(~maskable, 2.0)
    return ((scores < rate) | (scores == scores.min(dim=1, keepdim=True).values)) & maskable


def restore_lm_state(backbone: torch.nn.Module, state: LMState) -> None:
    """Load LM-finetuned weights into a bare backbone. An LM's base model may lack parts of the bare
    one (BERT's pooler, which no pooling here reads): those keep their pretrained values."""
    unexpected = backbone.load_state_dict(state, strict=False).unexpected_keys
    if unexpected:
        raise RuntimeError(f"LM-finetuned weights do not fit the backbone: {unexpected[:5]}")


def lm_finetune(backbone: Backbone, config: TrainConfig, texts: Sequence[str], *, lora: dict[str, Any] | None = None,
                start: LMState | None = None, epochs: float = 1.0, lr: float = 5e-5,
                max_steps: int | None = None) -> tuple[TrainingLog, LMState]:
    """Finetune ``backbone`` (from the weights ``start``, an earlier call's result, if given; with LoRA
    adapters if ``lora`` is a dict of LoraConfig overrides) on ``texts``; ``config`` gives the seed, batch size
    and max_length, ``epochs`` / ``max_steps`` / ``lr`` the optimisation. Returns the log and the weights."""
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

    model_config, tokenizer = backbone.model_config(), backbone.tokenizer()
    objective = lm_objective(model_config, tokenizer, backbone.name)
    lm = backbone.load(AutoModelForCausalLM if objective == "causal" else AutoModelForMaskedLM, model_config,
                       seed=config.seed)
    if start is not None:
        restore_lm_state(lm.base_model, start)
    if lora is not None:
        lm = backbone.add_lora(lm, lora)
    lm.to(backbone.device)
    special = set(tokenizer.all_special_ids)
    encoded = [ids for ids in tokenizer(list(texts), truncation=True, max_length=config.max_length)["input_ids"]
               if len(ids) > 1 and any(i not in special for i in ids)]
    if not encoded:
        raise W2SError("no text to finetune on", where=f"model {backbone.name!r}", fix="check the task's texts")
    special_ids, generator = torch.as_tensor(sorted(special)), torch.Generator().manual_seed(config.seed)

    def forward(model: torch.nn.Module, indices: list[int]) -> torch.Tensor:
        input_ids, attention_mask = pad_batch([encoded[i] for i in indices], tokenizer.pad_token_id)
        input_ids, attention_mask = to_device(input_ids, backbone.device), to_device(attention_mask, backbone.device)
        if objective == "causal":
            labels = input_ids.masked_fill(attention_mask == 0, -100)
        else:
            chosen = mask_positions(input_ids, attention_mask, special_ids, generator)
            labels = input_ids.masked_fill(~chosen, -100)
            input_ids = input_ids.masked_fill(chosen, tokenizer.mask_token_id)
        return model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss

    steps = math.ceil(epochs * math.ceil(len(encoded) / config.batch_size))
    config = replace(config, lr=lr, epochs=0.0, min_steps=steps if max_steps is None else min(steps, max_steps))
    log = train_loop(lm, forward, [len(ids) for ids in encoded], np.zeros((len(encoded), 0)), config,
                     lambda loss, _targets, _progress: loss, None, backbone.device, label=f"LM-finetune {backbone.name}")
    if lora is not None:
        lm = lm.merge_and_unload()
    return log, {k: v.detach().to("cpu", copy=True) for k, v in lm.base_model.state_dict().items()}
