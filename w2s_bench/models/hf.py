"""Any ``transformers`` backbone with a linear head, trained on soft labels.

The head reads one vector per text: the mean of the token states (encoders' default), the first
token (``[CLS]``), or the last non-padding token (decoders, as in Burns et al. 2023). For
classification it outputs K logits; for scored candidates it outputs one score per candidate text.
LoRA (peft) is optional and trains the adapters and the head only.

Two more uses of the same backbone: ``embed`` gives the pooled states of the pretrained backbone as
frozen features (for probes, cached per process), and ``lm_finetune`` adapts the backbone to the
task's unlabeled text with a language-modelling objective before ``fit``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from w2s_bench.distributed import get_accelerator
from w2s_bench.errors import W2SError
from w2s_bench.examples import Example
from w2s_bench.models.base import Loss
from w2s_bench.models.loading import AUTO_ATTENTION, check_quantization, load_model, quantization_config
from w2s_bench.train import (
    TrainConfig,
    TrainingLog,
    autocast,
    enable_checkpointing,
    halving_on_oom,
    length_batches,
    pad_batch,
    pick_device,
    pick_dtype,
    soft_cross_entropy,
    to_device,
    train_loop,
)

POOLINGS = ("auto", "mean", "first", "last")
EMBED_CACHE_MODELS = 4
# frozen features: backbone configuration (HFEstimator._embed_key) -> {example texts: [C, hidden] float32}
_EMBED_CACHE: dict[tuple[Any, ...], dict[tuple[str, ...], np.ndarray]] = {}


def _embedding_cache(key: tuple[Any, ...]) -> dict[tuple[str, ...], np.ndarray]:
    """The cached vectors of one backbone configuration.

    Memory is 4 bytes x hidden size per distinct text (10,000 texts of a 4,096-wide model: 164 MB);
    at most ``EMBED_CACHE_MODELS`` configurations are kept, the oldest is dropped first.
    """
    if key not in _EMBED_CACHE and len(_EMBED_CACHE) >= EMBED_CACHE_MODELS:
        del _EMBED_CACHE[next(iter(_EMBED_CACHE))]
    return _EMBED_CACHE.setdefault(key, {})


def is_decoder(config: Any) -> bool:
    """Decoder-only LMs (GPT-2, Llama, Qwen, ...) read the last token; encoders (BERT, MPNet) pool."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, MODEL_FOR_MASKED_LM_MAPPING_NAMES

    model_type = getattr(config, "model_type", "")
    return model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def wrap_lora(model: torch.nn.Module, overrides: dict[str, Any], quantized: bool = False) -> torch.nn.Module:
    """peft LoRA adapters on every linear layer (r 16, alpha 32, dropout 0.05 unless ``overrides`` say otherwise);
    the base weights are frozen. Shared by this estimator and the generation family's causal LMs. A ``quantized``
    (bitsandbytes) model is first prepared as QLoRA needs: norms in float32, inputs that carry gradients."""
    from peft import LoraConfig, get_peft_model

    if quantized:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)

    settings = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": "all-linear", **overrides}
    return get_peft_model(model, LoraConfig(**settings))


def _lm_objective(config: Any, tokenizer: Any, name: str) -> str:
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


def _mask_positions(input_ids: torch.Tensor, attention_mask: torch.Tensor, special_ids: torch.Tensor,
                    generator: torch.Generator, rate: float = 0.15) -> torch.Tensor:
    """Masked-LM positions: each real, non-special token with probability ``rate``, and at least one
    per text (a batch without a masked token has no loss)."""
    maskable = attention_mask.bool() & ~torch.isin(input_ids, special_ids.to(input_ids.device))
    scores = torch.rand(input_ids.shape, generator=generator).to(input_ids.device).masked_fill(~maskable, 2.0)
    return ((scores < rate) | (scores == scores.min(dim=1, keepdim=True).values)) & maskable


def _restore_lm_state(backbone: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load LM-finetuned weights into a bare backbone. An LM's base model may lack parts of the bare
    one (BERT's pooler, which no pooling here reads): those keep their pretrained values."""
    unexpected = backbone.load_state_dict(state, strict=False).unexpected_keys
    if unexpected:
        raise RuntimeError(f"LM-finetuned weights do not fit the backbone: {unexpected[:5]}")


class BackboneWithHead(torch.nn.Module):
    def __init__(self, backbone: torch.nn.Module, hidden_size: int, num_outputs: int, pooling: str) -> None:
        super().__init__()
        self.backbone, self.pooling = backbone, pooling
        self.head = torch.nn.Linear(hidden_size, num_outputs)
        torch.nn.init.normal_(self.head.weight, std=0.02)
        torch.nn.init.zeros_(self.head.bias)

    @property
    def supports_gradient_checkpointing(self) -> bool:
        return bool(getattr(self.backbone, "supports_gradient_checkpointing", False))

    def activation_checkpointing_enable(self, checkpoint_kwargs: dict[str, Any] | None = None) -> None:
        """The training loop's ``gradient_checkpointing`` reaches the backbone through here (the head is one layer);
        ``enable_checkpointing`` chooses the backbone's checkpointing arguments as it does for any model."""
        enable_checkpointing(self.backbone, getattr(self.backbone, "name_or_path", "backbone"))

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The one vector per text that the head reads; frozen-feature probes read the same (``embed``)."""
        states = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        if self.pooling == "mean":
            return (states * mask).sum(1) / mask.sum(1).clamp(min=1)
        if self.pooling == "first":
            return states[:, 0]
        # last non-padding token, for right or left padding alike
        positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
        last = (attention_mask * positions).argmax(dim=1)
        return states[torch.arange(states.shape[0], device=states.device), last]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(input_ids, attention_mask).float())


class HFEstimator:
    """Fit / predict_proba on Examples with a pretrained (or random-init) transformer."""

    def __init__(self, path: str, config: TrainConfig, *, revision: str | None = None, pooling: str = "auto",
                 num_hidden_layers: int | None = None, lora: dict[str, Any] | bool | None = None,
                 trust_remote_code: bool = False, random_init: bool = False, attn_implementation: str = AUTO_ATTENTION,
                 load_in_8bit: bool = False, load_in_4bit: bool = False, name: str | None = None) -> None:
        if pooling not in POOLINGS:
            raise W2SError(f"unknown pooling {pooling!r}", where="pooling", fix=f"use one of {POOLINGS}")
        self.path, self.config, self.name = path, config, name or path
        self.load_kwargs = {"revision": revision, "trust_remote_code": trust_remote_code}
        self.pooling, self.num_hidden_layers, self.random_init = pooling, num_hidden_layers, random_init
        self.attn_implementation = attn_implementation
        # LoRA is on for True or a dict of LoraConfig overrides, including {} (the defaults): not a truthiness test
        self.lora: dict[str, Any] | None = {} if lora is True else None if lora is False else lora
        accelerator = get_accelerator()  # when distributed, each process has its own device (GPU), whatever --device says
        self.device = accelerator.device if accelerator is not None else pick_device(config.device)
        check_quantization(load_in_8bit, load_in_4bit, self.device, self.lora is not None, random_init, self.name)
        self.quantization = quantization_config(load_in_8bit, load_in_4bit)
        self.model: BackboneWithHead | None = None
        self.training_log: TrainingLog | None = None
        self.lm_state: dict[str, torch.Tensor] | None = None  # backbone weights after lm_finetune (CPU)

    # -- loading ---------------------------------------------------------------------------------
    def _load(self, num_outputs: int, base: bool = False) -> BackboneWithHead:
        """The backbone and a fresh head. The backbone starts from the weights :meth:`lm_finetune` left,
        if any, and gets LoRA adapters if asked; ``base=True`` skips both (frozen features, ``embed``)."""
        from transformers import AutoModel

        model_config, kwargs = self.load_config()
        pooling = self.pooling if self.pooling != "auto" else ("last" if is_decoder(model_config) else "mean")
        backbone = self._pretrained(AutoModel, model_config, kwargs)
        if self.lm_state is not None and not base:
            _restore_lm_state(backbone, self.lm_state)
        if self.lora is not None and not base:
            backbone = self._wrap_lora(backbone)
        model = BackboneWithHead(backbone, model_config.hidden_size, num_outputs, pooling)
        if self.quantization is not None:  # placed on the device as it loaded; bitsandbytes weights cannot be moved
            model.head.to(self.device)
            return model
        return model.to(self.device)

    def load_config(self) -> tuple[Any, dict[str, Any]]:
        """The model config (with the num_hidden_layers cut) and the loading kwargs; sets ``self.tokenizer``."""
        from transformers import AutoConfig, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # our own progress bars say what is happening
        hf_logging.set_verbosity_error()  # e.g. the weights a num_hidden_layers cut leaves unused are expected
        overrides = {"num_hidden_layers": self.num_hidden_layers} if self.num_hidden_layers else {}
        kwargs = {k: v for k, v in self.load_kwargs.items() if v is not None}
        model_config = AutoConfig.from_pretrained(self.path, **kwargs, **overrides)
        self.tokenizer = AutoTokenizer.from_pretrained(self.path, **kwargs)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        return model_config, kwargs

    def _pretrained(self, auto_class: Any, model_config: Any, kwargs: dict[str, Any]) -> torch.nn.Module:
        """``auto_class`` (AutoModel, AutoModelForCausalLM, ...) with the pretrained or seeded random weights."""
        torch.manual_seed(self.config.seed)
        return load_model(auto_class, self.path, model_config, kwargs, name=self.name,
                          attn_implementation=self.attn_implementation, random_init=self.random_init,
                          quantization=self.quantization, device=self.device)

    def _wrap_lora(self, backbone: torch.nn.Module) -> torch.nn.Module:
        return wrap_lora(backbone, self.lora or {}, quantized=self.quantization is not None)

    def _encode(self, texts: list[str]) -> list[list[int]]:
        return self.tokenizer(texts, truncation=True, max_length=self.config.max_length)["input_ids"]

    def _encode_examples(self, texts_per_example: Sequence[Sequence[str]]) -> list[list[list[int]]]:
        """Token ids per example and text. Candidates differ at their end (the answer, the last
        response), so long ones are truncated on the left; single texts on the right."""
        self.tokenizer.truncation_side = "left" if len(texts_per_example[0]) > 1 else "right"
        return [self._encode(list(texts)) for texts in texts_per_example]

    # -- the estimator interface -------------------------------------------------------------------
    def fit(self, train: Sequence[Example], targets: np.ndarray, val: Sequence[Example] = (),
            val_targets: np.ndarray | None = None, loss: Loss | None = None) -> HFEstimator:
        self._candidates = train[0].is_candidates
        self.model = self._load(1 if self._candidates else targets.shape[1])
        encoded = self._encode_examples([ex.texts for ex in train])
        lengths = [max(len(ids) for ids in e) for e in encoded]

        def forward(model: torch.nn.Module, indices: list[int]) -> torch.Tensor:
            return self._logits(model, [encoded[i] for i in indices])

        evaluate = None
        if len(val) and val_targets is not None:
            val_labels = torch.as_tensor(np.asarray(val_targets).argmax(1))
            val_target_tensor = torch.as_tensor(np.asarray(val_targets), dtype=torch.float32)

            def evaluate() -> tuple[float, float]:
                probs = torch.as_tensor(self.predict_proba(val))
                acc = float((probs.argmax(1) == val_labels).float().mean())
                return acc, float(soft_cross_entropy(torch.log(probs.clamp_min(1e-9)), val_target_tensor))

        self.training_log = train_loop(self.model, forward, lengths, np.asarray(targets), self.config, loss,
                                       evaluate, self.device, label=self.name)
        return self

    def _logits(self, model: torch.nn.Module, batch: list[list[list[int]]]) -> torch.Tensor:
        """Logits ``[B, K]`` from ``model`` (``self.model``, or its data-parallel wrapper in training) for a batch
        of examples, each a list of tokenised texts."""
        input_ids, attention_mask = self._pad([ids for texts in batch for ids in texts])
        out = model(input_ids, attention_mask)
        return out.view(len(batch), -1) if self._candidates else out

    def _pad(self, flat: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """``input_ids`` and ``attention_mask`` on the device, right-padded (pooling finds the last real
        token either way)."""
        input_ids, attention_mask = pad_batch(flat, self.tokenizer.pad_token_id)
        return to_device(input_ids, self.device), to_device(attention_mask, self.device)

    def _in_batches(self, batch: list[int], size: int, compute: Callable[[list[int]], torch.Tensor]) -> tuple[torch.Tensor, int]:
        """``compute`` over ``batch`` (example indices) in chunks of ``size`` examples, concatenated; a chunk that runs
        out of memory halves ``size`` (``auto_batch_size``), which is returned for the batches after this one."""
        def run(chunk_size: int) -> torch.Tensor:
            return torch.cat([compute(batch[i:i + chunk_size]).float().cpu() for i in range(0, len(batch), chunk_size)])

        fits = min(size, len(batch))
        out, fitted = halving_on_oom(run, fits, self.config.auto_batch_size, f"inference with {self.name}",
                                     where=f"model {self.name!r}")
        return out, fitted if fitted < fits else size

    @torch.no_grad()
    def predict_proba(self, examples: Sequence[Example]) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("predict_proba called before fit")
        self.model.eval()
        encoded = self._encode_examples([ex.texts for ex in examples])
        lengths = [max(len(ids) for ids in e) for e in encoded]
        dtype = pick_dtype(self.config.dtype, self.device)
        probs = np.zeros((len(examples), 0), dtype=np.float64)
        size = self.config.eval_batch_size

        def logits_of(chunk: list[int]) -> torch.Tensor:
            with autocast(self.device, dtype):
                return self._logits(self.model, [encoded[i] for i in chunk])

        for batch in length_batches(lengths, self.config.eval_batch_size, rng=None):
            logits, size = self._in_batches(batch, size, logits_of)
            batch_probs = torch.softmax(logits, dim=-1).numpy().astype(np.float64)
            if probs.shape[1] == 0:
                probs = np.zeros((len(examples), batch_probs.shape[1]))
            probs[batch] = batch_probs
        return probs

    # -- frozen features and generative finetuning ---------------------------------------------------
    def _embed_key(self) -> tuple[Any, ...]:
        """What frozen features depend on (the autocast dtype and the weights' quantization too: bfloat16 or 4-bit
        features differ)."""
        c = self.config
        return (self.path, self.load_kwargs["revision"], self.num_hidden_layers, self.pooling, c.max_length,
                self.random_init, c.seed if self.random_init else None, str(pick_dtype(c.dtype, self.device)),
                self.attn_implementation, None if self.quantization is None else self.quantization.to_json_string())

    @torch.no_grad()
    def embed(self, examples: Sequence[Example]) -> np.ndarray:
        """Frozen features: ``[n, hidden]`` (one text per example) or ``[n, C, hidden]`` (candidates),
        pooled as the head reads them.

        Always the pretrained backbone (no LoRA adapters, no :meth:`lm_finetune` weights), which is
        what lets a process-level cache serve every probe method and every estimator of the same
        model: each distinct example's texts go through the backbone once per process.
        """
        cache = _embedding_cache(self._embed_key())
        missing = list(dict.fromkeys(ex.texts for ex in examples if ex.texts not in cache))
        if missing:
            model = self._load(1, base=True).eval()
            encoded = self._encode_examples(missing)
            dtype = pick_dtype(self.config.dtype, self.device)
            size = self.config.eval_batch_size

            def features_of(chunk: list[int]) -> torch.Tensor:
                with autocast(self.device, dtype):
                    return model.features(*self._pad([ids for i in chunk for ids in encoded[i]]))

            for batch in length_batches([max(map(len, e)) for e in encoded], self.config.eval_batch_size, rng=None):
                pooled, size = self._in_batches(batch, size, features_of)
                splits = np.cumsum([len(encoded[i]) for i in batch])[:-1]
                for i, vectors in zip(batch, np.split(pooled.numpy(), splits), strict=True):
                    cache[missing[i]] = vectors
        stacked = np.stack([cache[ex.texts] for ex in examples])
        return stacked if examples[0].is_candidates else stacked[:, 0]

    def lm_finetune(self, texts: Sequence[str], epochs: float = 1.0, lr: float = 5e-5,
                    max_steps: int | None = None) -> TrainingLog:
        """Finetune the backbone with a language-modelling objective on unlabeled ``texts``; the next
        :meth:`fit` starts from the result, kept as a CPU copy of the backbone's weights (``lm_state``).

        Decoders learn next-token prediction (AutoModelForCausalLM), BERT-like encoders to recover 15%
        of their tokens replaced by the mask token (AutoModelForMaskedLM; checkpoints saved without an
        MLM head, like the sentence-transformers MiniLM and MPNet, start its transform at random; only
        the backbone is kept either way). The optimisation is the shared ``train_loop`` (AdamW,
        warm-up, clipping; batch size and max_length of this model's config): the batch's LM loss
        stands in for its logits and the loss function passes it through. With LoRA the adapters are
        trained, then merged into the weights. A second call continues from the first one's result.
        """
        from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

        model_config, kwargs = self.load_config()
        objective = _lm_objective(model_config, self.tokenizer, self.name)
        lm = self._pretrained(AutoModelForCausalLM if objective == "causal" else AutoModelForMaskedLM, model_config, kwargs)
        if self.lm_state is not None:
            _restore_lm_state(lm.base_model, self.lm_state)
        if self.lora is not None:
            lm = self._wrap_lora(lm)
        lm.to(self.device)
        special = set(self.tokenizer.all_special_ids)
        encoded = [ids for ids in self._encode(list(texts)) if len(ids) > 1 and any(i not in special for i in ids)]
        if not encoded:
            raise W2SError("no text to finetune on", where=f"model {self.name!r}", fix="check the task's texts")
        special_ids, generator = torch.as_tensor(sorted(special)), torch.Generator().manual_seed(self.config.seed)

        def forward(model: torch.nn.Module, indices: list[int]) -> torch.Tensor:
            input_ids, attention_mask = self._pad([encoded[i] for i in indices])
            if objective == "causal":
                labels = input_ids.masked_fill(attention_mask == 0, -100)
            else:
                chosen = _mask_positions(input_ids, attention_mask, special_ids, generator)
                labels = input_ids.masked_fill(~chosen, -100)
                input_ids = input_ids.masked_fill(chosen, self.tokenizer.mask_token_id)
            return model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss

        steps = math.ceil(epochs * math.ceil(len(encoded) / self.config.batch_size))
        config = replace(self.config, lr=lr, epochs=0.0, min_steps=steps if max_steps is None else min(steps, max_steps))
        log = train_loop(lm, forward, [len(ids) for ids in encoded], np.zeros((len(encoded), 0)), config,
                         lambda loss, _targets, _progress: loss, None, self.device, label=f"LM-finetune {self.name}")
        if self.lora is not None:
            lm = lm.merge_and_unload()
        self.lm_state = {k: v.detach().to("cpu", copy=True) for k, v in lm.base_model.state_dict().items()}
        return log


def require_transformer(estimator: object, method: str, purpose: str) -> HFEstimator:
    """``estimator`` if it is a transformer; else the error a method needing one should give."""
    if not isinstance(estimator, HFEstimator):
        raise W2SError(f"method {method!r} {purpose}, and the strong model "
                       f"{getattr(estimator, 'name', type(estimator).__name__)!r} is not a transformer",
                       where="--strong", fix="use a transformer strong model (e.g. minilm-l6, mpnet-base, gpt2)")
    return estimator
