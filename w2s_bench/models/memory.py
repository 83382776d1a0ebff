"""How much device memory training a transformer estimator needs, estimated from its parameter count and its
settings without loading any weights (``--dry_run`` prints it per strong model).

The parameters are counted on a weightless copy of the model built from its ``config.json`` on PyTorch's
``meta`` device, LoRA adapters included, so the count and the weights' dtype are the model's own; when no
config can be read the alias's nominal size stands in (and activations are not estimated). The terms:

- weights: every parameter at its dtype (the checkpoint's, e.g. bfloat16 for Llama 3; 1 or 0.5 bytes with
  ``load_in_8bit`` / ``load_in_4bit``);
- gradients and AdamW's two moment buffers: the trainable parameters only (LoRA adapters and the head, or
  everything), at their dtype (peft keeps adapters in float32);
- activations kept for the backward pass, for one micro-batch of texts at ``max_length`` tokens (the worst
  case: batches are padded to their longest text). Per layer and token a transformer block keeps about
  ``9 h + 2 f`` values (h the hidden size, f the MLP's width; Korthikanti et al. 2022, "Reducing Activation
  Recomputation in Large Transformer Models", counted 34 h bytes at 16 bits for f = 4 h), plus ``2.5 a s``
  for the attention scores when the attention is not SDPA (a heads, s tokens). With gradient checkpointing
  only each layer's input (h values) is kept, plus one layer's activations while it is recomputed.

It is rough: it leaves out the CUDA context (about 0.5-1 GB), allocator fragmentation, temporary buffers,
multiple-choice tasks' several texts per example, and the language-model head of ``lm_finetune``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from w2s_bench.models.backbone import wrap_lora
from w2s_bench.models.hf import HFEstimator
from w2s_bench.models.loading import load_model
from w2s_bench.train import pick_dtype

GB = 1e9
_QUANTIZED_BYTES = {"load_in_8bit": 1.0, "load_in_4bit": 0.5}


@dataclass(frozen=True)
class MemoryEstimate:
    """One model's training memory, in bytes, per process."""

    parameters: int
    trainable: int
    counted_from: str  # "config" (a weightless copy) or "nominal size"
    weights_dtype: str
    compute_dtype: str
    lora: bool
    gradient_checkpointing: bool
    micro_batch_tokens: int
    weights: float
    gradients: float
    optimizer: float
    activations_checkpointed: float | None  # None: unknown (no config)
    activations_stored: float | None

    @property
    def activations(self) -> float | None:
        """The activations under the model's own gradient_checkpointing setting."""
        return self.activations_checkpointed if self.gradient_checkpointing else self.activations_stored

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer + (self.activations or 0.0)


def estimate_training_memory(estimator: HFEstimator, nominal_size: float = 0.0, num_outputs: int = 2) -> MemoryEstimate:
    """The estimate for ``estimator`` as configured (nothing is loaded but its config and tokenizer files);
    ``nominal_size`` (millions of parameters) stands in when the model's config cannot be read."""
    from transformers import AutoModel

    config = estimator.config
    compute = pick_dtype(config.dtype, estimator.device) or torch.float32
    quantized = next((name for name in _QUANTIZED_BYTES if getattr(estimator.backbone.quantization, name, False)), None)
    micro = config.micro_batch_size or config.batch_size
    try:
        model_config = estimator.load_config()
        with torch.device("meta"):
            backbone = load_model(AutoModel, estimator.backbone.path, model_config, {}, name=estimator.name,
                                  attn_implementation=estimator.backbone.attn_implementation, random_init=True)
            if estimator.lora is not None:
                backbone = wrap_lora(backbone, estimator.lora)
    except Exception:  # an unreadable or remote-code config: the nominal size, no activations
        model_config, backbone = None, None
    if backbone is None:
        parameters = int(nominal_size * 1e6)
        trainable = parameters if estimator.lora is None else 0
        weight_bytes = parameters * (_QUANTIZED_BYTES.get(quantized or "", 0) or 4.0)
        weights_dtype, trainable_bytes, per_token = "float32 (assumed)", trainable * 4.0, None
    else:
        hidden = model_config.hidden_size
        head = hidden * num_outputs + num_outputs
        params = list(backbone.parameters())
        parameters = sum(p.numel() for p in params) + head
        trainable = sum(p.numel() for p in params if p.requires_grad) + head
        frozen_dtype = str(next(p.dtype for p in params if not p.requires_grad or estimator.lora is None))
        weights_dtype = frozen_dtype.removeprefix("torch.") + (f" ({quantized})" if quantized else "")
        weight_bytes = sum(p.numel() * (_QUANTIZED_BYTES[quantized] if quantized and not p.requires_grad
                                        else p.element_size()) for p in params) + head * 4
        trainable_bytes = sum(p.numel() * p.element_size() for p in params if p.requires_grad) + head * 4
        per_token = _activation_values(model_config, backbone, config.max_length)
    tokens = micro * config.max_length
    activation_bytes = torch.finfo(compute).bits // 8 * tokens
    return MemoryEstimate(
        parameters=parameters, trainable=trainable,
        counted_from="config" if backbone is not None else "nominal size", weights_dtype=weights_dtype,
        compute_dtype=str(compute).removeprefix("torch."), lora=estimator.lora is not None,
        gradient_checkpointing=config.gradient_checkpointing, micro_batch_tokens=tokens, weights=weight_bytes,
        gradients=trainable_bytes, optimizer=2 * trainable_bytes,
        activations_checkpointed=None if per_token is None else per_token[0] * activation_bytes,
        activations_stored=None if per_token is None else per_token[1] * activation_bytes)


def _activation_values(model_config: Any, backbone: torch.nn.Module, max_length: int) -> tuple[float, float]:
    """Values kept per token for the backward pass: (with gradient checkpointing, without)."""
    hidden, layers = model_config.hidden_size, model_config.num_hidden_layers
    width = getattr(model_config, "intermediate_size", None) or getattr(model_config, "n_inner", None) or 4 * hidden
    per_layer = 9 * hidden + 2 * width
    if getattr(backbone.config, "_attn_implementation", "eager") != "sdpa":
        per_layer += 2.5 * model_config.num_attention_heads * max_length
    return layers * hidden + per_layer, layers * per_layer
