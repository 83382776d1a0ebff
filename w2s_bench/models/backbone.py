"""A pretrained transformer backbone as both model families load it: no head, no training.

The classification estimator (``w2s_bench.models.hf``) puts a head on top of it, reads frozen features
from it (``w2s_bench.models.features``) and LM-finetunes it (``w2s_bench.models.lm_finetune``); the
generation family loads its causal LMs through it (``w2s_bench.generation.lm``). A ``Backbone`` says
which weights and how: the folder (or hub id), revision, a ``num_hidden_layers`` cut, random weights,
the attention implementation and 8-bit / 4-bit quantization (``w2s_bench.models.loading``), the device.
LoRA adapters (peft) wrap whatever model it loaded, for finetuning adapters only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from w2s_bench.models.loading import AUTO_ATTENTION, load_model


def is_decoder(config: Any) -> bool:
    """Decoder-only LMs (GPT-2, Llama, Qwen, ...) read the last token; encoders (BERT, MPNet) pool."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, MODEL_FOR_MASKED_LM_MAPPING_NAMES

    model_type = getattr(config, "model_type", "")
    return model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def wrap_lora(model: torch.nn.Module, overrides: dict[str, Any], quantized: bool = False) -> torch.nn.Module:
    """peft LoRA adapters on every linear layer (r 16, alpha 32, dropout 0.05 unless ``overrides`` say otherwise);
    the base weights are frozen. A ``quantized`` (bitsandbytes) model is first prepared as QLoRA needs: norms in
    float32, inputs that carry gradients."""
    from peft import LoraConfig, get_peft_model

    if quantized:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)

    settings = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": "all-linear", **overrides}
    return get_peft_model(model, LoraConfig(**settings))


@dataclass(frozen=True)
class Backbone:
    """Which pretrained transformer to load, and how. ``quantization`` is transformers' BitsAndBytesConfig
    (``loading.quantization_config``; None: full precision), checked by ``loading.check_quantization``."""

    path: str
    name: str
    device: torch.device | None = None
    revision: str | None = None
    trust_remote_code: bool = False
    num_hidden_layers: int | None = None
    random_init: bool = False
    attn_implementation: str = AUTO_ATTENTION
    quantization: Any | None = None

    @property
    def load_kwargs(self) -> dict[str, Any]:
        """What every ``from_pretrained`` of this backbone (config, tokenizer, weights) is given."""
        return {"trust_remote_code": self.trust_remote_code,
                **({"revision": self.revision} if self.revision is not None else {})}

    def model_config(self) -> Any:
        """The model's config, with the ``num_hidden_layers`` cut."""
        from transformers import AutoConfig
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # our own progress bars say what is happening
        hf_logging.set_verbosity_error()  # e.g. the weights a num_hidden_layers cut leaves unused are expected
        overrides = {"num_hidden_layers": self.num_hidden_layers} if self.num_hidden_layers else {}
        return AutoConfig.from_pretrained(self.path, **self.load_kwargs, **overrides)

    def tokenizer(self) -> Any:
        """A fresh tokenizer; one without a padding token pads with its EOS (or unknown) token."""
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(self.path, **self.load_kwargs)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        return tokenizer

    def load(self, auto_class: Any, model_config: Any, seed: int | None = None) -> torch.nn.Module:
        """``auto_class`` (AutoModel, AutoModelForCausalLM, ...) with the pretrained or random weights. ``seed``
        seeds torch's global RNG first, which random weights are drawn from."""
        if seed is not None:
            torch.manual_seed(seed)
        return load_model(auto_class, self.path, model_config, self.load_kwargs, name=self.name,
                          attn_implementation=self.attn_implementation, random_init=self.random_init,
                          quantization=self.quantization, device=self.device)

    def add_lora(self, model: torch.nn.Module, overrides: dict[str, Any]) -> torch.nn.Module:
        """``model`` (loaded by :meth:`load`) with LoRA adapters, prepared for QLoRA if quantized."""
        return wrap_lora(model, overrides, quantized=self.quantization is not None)
