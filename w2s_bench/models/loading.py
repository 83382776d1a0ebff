"""How a transformer's weights are loaded, the same for both model families: ``w2s_bench.models.backbone``
calls it for the classification estimator and the generation family's causal LMs.

Two choices live here. The attention implementation: ``"auto"`` asks for PyTorch's fused
``scaled_dot_product_attention`` (SDPA: flash / memory-efficient kernels on a GPU, no ``[T, T]`` score matrix
kept) and falls back to the plain ("eager") implementation for architectures transformers has no SDPA path
for (MPNet, for one); any other value (``"sdpa"``, ``"eager"``, ``"flash_attention_2"`` ...) is passed on and
must work. And 8-bit / 4-bit weights through bitsandbytes (``load_in_8bit`` / ``load_in_4bit``): CUDA only,
with LoRA adapters trained on top of the frozen quantized weights (QLoRA), checked before anything loads.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

import torch

from w2s_bench.errors import W2SError

log = logging.getLogger("w2s_bench")
AUTO_ATTENTION = "auto"


def check_quantization(load_in_8bit: bool, load_in_4bit: bool, device: torch.device, lora: bool, random_init: bool,
                       name: str) -> None:
    """A W2SError unless the 8-bit / 4-bit settings can work here: one of them at most, bitsandbytes installed, a
    CUDA device (bitsandbytes' kernels), LoRA on (quantized weights cannot be trained) and pretrained weights."""
    if not (load_in_8bit or load_in_4bit):
        return
    where = f"model {name!r}"
    if load_in_8bit and load_in_4bit:
        raise W2SError("load_in_8bit and load_in_4bit are both set", where=where, fix="set one of them")
    setting = "load_in_8bit" if load_in_8bit else "load_in_4bit"
    if importlib.util.find_spec("bitsandbytes") is None:
        raise W2SError(f"{setting} needs the bitsandbytes package, which is not installed", where=where,
                       fix=f"pip install bitsandbytes (on a machine with a CUDA GPU), or drop {setting}")
    if device.type != "cuda":
        raise W2SError(f"{setting} needs a CUDA GPU (bitsandbytes' quantized kernels), and this model runs on "
                       f"{device.type}", where=where, fix=f"run on a CUDA device (--device cuda), or drop {setting}")
    if not lora:
        raise W2SError(f"{setting} freezes the model's weights in 8 or 4 bits, so only LoRA adapters can be trained",
                       where=where, fix="add lora=true (QLoRA), or drop the quantization to finetune every weight")
    if random_init:
        raise W2SError(f"{setting} quantizes pretrained weights, and random_init=true has none", where=where,
                       fix=f"drop {setting} or random_init")


def quantization_config(load_in_8bit: bool, load_in_4bit: bool) -> Any | None:
    """transformers' BitsAndBytesConfig for the settings (None: full-precision weights). 4-bit is QLoRA's recipe:
    NF4 with double quantization, computing in bfloat16 (Dettmers et al. 2023)."""
    if not (load_in_8bit or load_in_4bit):
        return None
    from transformers import BitsAndBytesConfig

    if load_in_8bit:
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)


def load_model(auto_class: Any, path: str, model_config: Any, kwargs: dict[str, Any], *, name: str,
               attn_implementation: str = AUTO_ATTENTION, random_init: bool = False, quantization: Any | None = None,
               device: torch.device | None = None) -> torch.nn.Module:
    """``auto_class`` (AutoModel, AutoModelForCausalLM, ...) from ``path`` (or seeded random weights with
    ``random_init``; seed the global RNG first) with the requested attention. A quantized model is placed on
    ``device`` as it loads (bitsandbytes models cannot be moved afterwards)."""
    placement = {"quantization_config": quantization, "device_map": {"": device}} if quantization is not None else {}

    def build(attention: str) -> torch.nn.Module:
        if random_init:
            return auto_class.from_config(model_config, attn_implementation=attention)
        return auto_class.from_pretrained(path, config=model_config, attn_implementation=attention, **kwargs, **placement)

    requested = "sdpa" if attn_implementation == AUTO_ATTENTION else attn_implementation
    try:
        return build(requested)
    except (ValueError, ImportError) as exc:
        message = str(exc)
        if requested not in message and "attention" not in message.lower():
            raise  # not about the attention implementation
        if attn_implementation != AUTO_ATTENTION:
            raise W2SError(f"attn_implementation={attn_implementation!r} does not work for model {name!r}: "
                           f"{message.splitlines()[0][:300]}", where=f"model {name!r}",
                           fix="use attn_implementation=auto (SDPA where the architecture has it, else eager)") from None
    log.info("model %s: no SDPA attention in transformers for %s, using eager attention", name, model_config.model_type)
    return build("eager")
