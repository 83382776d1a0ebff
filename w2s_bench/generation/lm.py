"""A causal language model ready to generate, score and finetune: the model, its tokenizer, device and precision.

Any name the model registry resolves works (``w2s_bench.models.registry``): the offline ladder
(``offline-lm-s`` / ``-m`` / ``-l``, built on first use by ``w2s_bench.generation.ladder``), hub aliases
(``gpt2`` ... ``gpt2-xl``, ``pythia-*``, ``qwen2.5-*``, ``llama3-8b``), a local folder or a hub id, fetched
and loaded by the same code as for classification (``w2s_bench.models.backbone``). Precision follows the
training loop: bf16 autocast on CUDA only, never on CPU. ``trust_remote_code`` stays off unless asked
for. LoRA (peft) wraps the model when asked, for finetuning adapters only.

Every text is encoded the same way for sampling, scoring and SFT: the model's BOS token (GPT-2's
``<|endoftext|>``), when it has one and the tokenizer does not add it, then the text's tokens; so a
prompt starts the way the ladder's pretraining documents start. Token sequences longer than the
model's context are cut on the left (the most recent context is kept), as lm-eval does.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch

from w2s_bench.errors import W2SError
from w2s_bench.models.backbone import Backbone, is_decoder
from w2s_bench.models.loading import AUTO_ATTENTION, check_quantization, quantization_config
from w2s_bench.train import autocast, pick_device, pick_dtype, to_device


@dataclass
class CausalLM:
    """A loaded causal LM. ``cache_keyword`` is the name its forward gives the KV cache: ``cache`` in
    transformers 5.x (``past_key_values`` is deprecated there, removed in 5.40), ``past_key_values`` before."""

    model: torch.nn.Module
    tokenizer: Any
    device: torch.device
    autocast_dtype: torch.dtype | None
    name: str
    context_length: int
    cache_keyword: str = "cache"

    @property
    def pad_id(self) -> int:
        return int(self.tokenizer.pad_token_id)

    @property
    def eos_id(self) -> int | None:
        return self.tokenizer.eos_token_id

    def encode(self, text: str, bos: bool = True) -> list[int]:
        """Token ids of ``text``. With ``bos`` they start with the BOS token when the model has one (and
        with EOS for an empty text of a model without BOS, as lm-eval does, so there is always a context)."""
        ids = list(self.tokenizer(text, add_special_tokens=bos)["input_ids"])
        bos_id = self.tokenizer.bos_token_id
        if bos and bos_id is not None and (not ids or ids[0] != bos_id):
            ids.insert(0, bos_id)
        if bos and not ids and self.eos_id is not None:
            ids = [self.eos_id]
        return ids

    def encode_pair(self, prompt: str, continuation: str, truncate: bool = False) -> tuple[list[int], int]:
        """``(ids, n_prompt)``: the prompt's ids (with BOS) then the continuation's (encoded on its own, as
        sampling appends them), cut on the left to the context length; the first ``n_prompt`` are the prompt's.
        A continuation that does not fit is an error, or with ``truncate`` cut on the right to half the context
        (SFT on long gold demonstrations: their start is what a model writing after the prompt must learn)."""
        prompt_ids, continuation_ids = self.encode(prompt), self.encode(continuation, bos=False)
        if truncate:
            continuation_ids = continuation_ids[:self.context_length // 2]
        if len(continuation_ids) >= self.context_length:
            raise W2SError(f"a continuation of {len(continuation_ids)} tokens does not fit model {self.name!r}'s "
                           f"context of {self.context_length} tokens", where=f"model {self.name!r}",
                           fix="score shorter texts, or use a model with a longer context")
        keep = self.context_length - len(continuation_ids)
        prompt_ids = prompt_ids[-keep:]
        return prompt_ids + continuation_ids, len(prompt_ids)

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor | None = None,
                cache: Any = None, use_cache: bool = False) -> tuple[torch.Tensor, Any]:
        """``(logits [B, T, V] float32, cache)``. With ``cache`` (a ``transformers`` Cache holding the earlier
        tokens) only the new tokens are passed and ``attention_mask`` covers cached and new positions."""
        kwargs: dict[str, Any] = {"input_ids": to_device(input_ids, self.device),
                                  "attention_mask": to_device(attention_mask, self.device),
                                  "use_cache": use_cache or cache is not None}
        if position_ids is not None:
            kwargs["position_ids"] = to_device(position_ids, self.device)
        if cache is not None:
            kwargs[self.cache_keyword] = cache
        with autocast(self.device, self.autocast_dtype):
            out = self.model(**kwargs)
        new_cache = out.get(self.cache_keyword, out.get("past_key_values")) if kwargs["use_cache"] else None
        return out.logits.float(), new_cache


def context_length(config: Any) -> int:
    for key in ("n_positions", "max_position_embeddings", "n_ctx", "seq_length"):
        if isinstance(getattr(config, key, None), int):
            return int(getattr(config, key))
    return 2048


def load_causal_lm(name: str, *, device: str = "auto", dtype: str = "auto", lora: dict[str, Any] | bool | None = None,
                   trust_remote_code: bool = False, revision: str | None = None, data_dir: str | None = None,
                   attn_implementation: str = AUTO_ATTENTION, load_in_8bit: bool = False,
                   load_in_4bit: bool = False) -> CausalLM:
    """Load ``name`` (an alias, a local folder or a hub id) as a causal LM in eval mode.

    ``data_dir`` reaches aliases whose build reads a local mirror (the offline ladder; default
    ``$W2S_BENCH_DATA_DIR``). A model without a causal-LM head (an encoder such as minilm-l6, or TF-IDF)
    is a clear error. Attention and 8-bit / 4-bit weights: see ``w2s_bench.models.loading``.
    """
    from transformers import AutoModelForCausalLM

    from w2s_bench.models.registry import fetch, resolve

    spec = resolve(name).with_params({"revision": revision} if revision else {})
    torch_device = pick_device(device)
    with_lora = lora is not None and lora is not False
    check_quantization(load_in_8bit, load_in_4bit, torch_device, with_lora, False, name)
    if spec.kind != "hf":
        raise W2SError(f"model {name!r} is not a transformer, so it cannot generate text", where=f"model {name!r}",
                       fix="use a causal LM: offline-lm-s, offline-lm-m, offline-lm-l, gpt2, pythia-*, qwen2.5-* ...")
    backbone = Backbone(fetch(spec, data_dir=data_dir), name, torch_device, revision=revision or None,
                        trust_remote_code=trust_remote_code, attn_implementation=attn_implementation,
                        quantization=quantization_config(load_in_8bit, load_in_4bit))
    config = backbone.model_config()
    if not is_decoder(config):
        raise W2SError(f"model {name!r} (type {config.model_type!r}) is not a causal language model, so it cannot "
                       "generate text", where=f"model {name!r}",
                       fix="use a decoder: offline-lm-s, offline-lm-m, offline-lm-l, gpt2, pythia-*, qwen2.5-* ...")
    tokenizer = backbone.tokenizer()
    model = backbone.load(AutoModelForCausalLM, config)
    keyword = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    if with_lora:
        model = backbone.add_lora(model, {} if lora is True else dict(lora))
    if backbone.quantization is None:  # a quantized model was placed as it loaded and cannot be moved
        model = model.to(torch_device)
    return CausalLM(model.eval(), tokenizer, torch_device, pick_dtype(dtype, torch_device), name,
                    context_length(config), keyword)
