"""The classification estimator: fit / predict_proba on Examples with a transformer and a linear head.

``HFEstimator`` composes the pieces that have their own modules: the backbone and how it loads
(``backbone.py``), the head and its pooling (``head.py``), the frozen-feature cache (``features.py``)
and language-model finetuning (``lm_finetune.py``). It trains the head and the backbone together on
soft labels through the shared training loop; LoRA (peft) is optional and trains the adapters and the
head only. ``embed`` gives the pretrained backbone's pooled states as frozen features (for probes), and
``lm_finetune`` adapts the backbone to the task's unlabeled text before ``fit``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from w2s_bench.distributed import get_accelerator
from w2s_bench.errors import W2SError
from w2s_bench.examples import Example
from w2s_bench.models.backbone import Backbone, is_decoder
from w2s_bench.models.base import Loss
from w2s_bench.models.candidates import SHARED_CONTEXT, PackedCandidates, pack_candidates, packed_length, packing_applies
from w2s_bench.models.features import cached_features
from w2s_bench.models.head import POOLINGS, BackboneWithHead, resolve_pooling
from w2s_bench.models.lm_finetune import LMState, lm_finetune, restore_lm_state
from w2s_bench.models.loading import AUTO_ATTENTION, check_quantization, quantization_config
from w2s_bench.train import (
    TrainConfig,
    TrainingLog,
    autocast,
    halving_on_oom,
    length_batches,
    pad_batch,
    pick_device,
    pick_dtype,
    soft_cross_entropy,
    to_device,
    train_loop,
)


class HFEstimator:
    """Fit / predict_proba on Examples with a pretrained (or random-init) transformer."""

    def __init__(self, path: str, config: TrainConfig, *, revision: str | None = None, pooling: str = "auto",
                 num_hidden_layers: int | None = None, lora: dict[str, Any] | bool | None = None,
                 trust_remote_code: bool = False, random_init: bool = False, attn_implementation: str = AUTO_ATTENTION,
                 load_in_8bit: bool = False, load_in_4bit: bool = False, shared_context: str = "auto",
                 name: str | None = None) -> None:
        if pooling not in POOLINGS:
            raise W2SError(f"unknown pooling {pooling!r}", where="pooling", fix=f"use one of {POOLINGS}")
        if shared_context not in SHARED_CONTEXT:
            raise W2SError(f"unknown shared_context {shared_context!r}", where="shared_context",
                           fix=f"use one of {SHARED_CONTEXT}")
        self.config, self.name, self.pooling = config, name or path, pooling
        # candidates scored in one packed row, their shared context encoded once (w2s_bench.models.candidates)
        self.shared_context, self._packed = shared_context, False
        # LoRA is on for True or a dict of LoraConfig overrides, including {} (the defaults): not a truthiness test
        self.lora: dict[str, Any] | None = {} if lora is True else None if lora is False else lora
        accelerator = get_accelerator()  # when distributed, each process has its own device (GPU), whatever --device says
        self.device = accelerator.device if accelerator is not None else pick_device(config.device)
        check_quantization(load_in_8bit, load_in_4bit, self.device, self.lora is not None, random_init, self.name)
        self.backbone = Backbone(path, self.name, self.device, revision=revision, trust_remote_code=trust_remote_code,
                                 num_hidden_layers=num_hidden_layers, random_init=random_init,
                                 attn_implementation=attn_implementation,
                                 quantization=quantization_config(load_in_8bit, load_in_4bit))
        self.model: BackboneWithHead | None = None
        self.training_log: TrainingLog | None = None
        self.lm_state: LMState | None = None  # backbone weights after lm_finetune (CPU)

    # -- loading ---------------------------------------------------------------------------------
    def _load(self, num_outputs: int, base: bool = False) -> BackboneWithHead:
        """The backbone and a fresh head. The backbone starts from the weights :meth:`lm_finetune` left,
        if any, and gets LoRA adapters if asked; ``base=True`` skips both (frozen features, ``embed``)."""
        from transformers import AutoModel

        model_config = self.load_config()
        backbone = self.backbone.load(AutoModel, model_config, seed=self.config.seed)
        if self.lm_state is not None and not base:
            restore_lm_state(backbone, self.lm_state)
        if self.lora is not None and not base:
            backbone = self.backbone.add_lora(backbone, self.lora)
        model = BackboneWithHead(backbone, model_config.hidden_size, num_outputs,
                                 resolve_pooling(self.pooling, model_config))
        if self.backbone.quantization is not None:  # placed on the device as it loaded; bitsandbytes weights cannot be moved
            model.head.to(self.device)
            return model
        return model.to(self.device)

    def load_config(self) -> Any:
        """The backbone's model config (with the num_hidden_layers cut); sets ``self.tokenizer`` afresh."""
        model_config = self.backbone.model_config()
        self.tokenizer = self.backbone.tokenizer()
        return model_config

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
        backbone_config = self.model.backbone.config
        self._packed = self._candidates and packing_applies(self.shared_context, backbone_config, self.model.pooling,
                                                            is_decoder(backbone_config), self.name)
        encoded = self._encode_examples([ex.texts for ex in train])
        lengths = row_lengths(encoded, self._packed)

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
        if self._packed:
            return model(*self._pack(batch)).view(len(batch), -1)
        input_ids, attention_mask = self._pad([ids for texts in batch for ids in texts])
        out = model(input_ids, attention_mask)
        return out.view(len(batch), -1) if self._candidates else out

    def _pack(self, batch: list[list[list[int]]]) -> PackedCandidates:
        """The packed model inputs of a batch of candidate examples, on the device."""
        backbone_config = self.model.backbone.config
        packed = pack_candidates(batch, self.tokenizer.pad_token_id, self.model.pooling, is_decoder(backbone_config),
                                 backbone_config._attn_implementation)
        return PackedCandidates(*(to_device(t, self.device) for t in packed))

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

    def _inference(self, encoded: list[list[list[int]]], compute: Callable[[list[int]], torch.Tensor],
                   packed: bool = False) -> Iterator[tuple[list[int], torch.Tensor]]:
        """``(batch, output)`` for batches of similar length of ``encoded`` (token ids per example and text;
        ``packed``: as packed rows hold them): ``compute`` (example indices -> a tensor) under the config's
        autocast, in chunks that fit in memory."""
        dtype = pick_dtype(self.config.dtype, self.device)
        size = self.config.eval_batch_size

        def under_autocast(chunk: list[int]) -> torch.Tensor:
            with autocast(self.device, dtype):
                return compute(chunk)

        for batch in length_batches(row_lengths(encoded, packed), self.config.eval_batch_size, rng=None):
            out, size = self._in_batches(batch, size, under_autocast)
            yield batch, out

    @torch.no_grad()
    def predict_proba(self, examples: Sequence[Example]) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("predict_proba called before fit")
        self.model.eval()
        encoded = self._encode_examples([ex.texts for ex in examples])
        probs = np.zeros((len(examples), 0), dtype=np.float64)

        def logits_of(chunk: list[int]) -> torch.Tensor:
            return self._logits(self.model, [encoded[i] for i in chunk])

        for batch, logits in self._inference(encoded, logits_of, packed=self._packed):
            batch_probs = torch.softmax(logits, dim=-1).numpy().astype(np.float64)
            if probs.shape[1] == 0:
                probs = np.zeros((len(examples), batch_probs.shape[1]))
            probs[batch] = batch_probs
        return probs

    # -- frozen features and generative finetuning ---------------------------------------------------
    def _embed_key(self) -> tuple[Any, ...]:
        """What frozen features depend on (the autocast dtype and the weights' quantization too: bfloat16 or 4-bit
        features differ)."""
        c, b = self.config, self.backbone
        return (b.path, b.revision, b.num_hidden_layers, self.pooling, c.max_length, b.random_init,
                c.seed if b.random_init else None, str(pick_dtype(c.dtype, self.device)), b.attn_implementation,
                None if b.quantization is None else b.quantization.to_json_string())

    def embed(self, examples: Sequence[Example]) -> np.ndarray:
        """Frozen features: ``[n, hidden]`` (one text per example) or ``[n, C, hidden]`` (candidates),
        pooled as the head reads them; always the pretrained backbone's (no LoRA adapters, no
        :meth:`lm_finetune` weights), cached per process (``w2s_bench.models.features``)."""
        return cached_features(self._embed_key(), examples, self._pooled_states)

    @torch.no_grad()
    def _pooled_states(self, texts_per_example: list[tuple[str, ...]]) -> list[np.ndarray]:
        """``[C, hidden]`` per example: the pretrained backbone's pooled states of its texts."""
        model = self._load(1, base=True).eval()
        encoded = self._encode_examples(texts_per_example)
        out: list[np.ndarray] = [np.empty(0)] * len(encoded)

        def features_of(chunk: list[int]) -> torch.Tensor:
            return model.features(*self._pad([ids for i in chunk for ids in encoded[i]]))

        for batch, pooled in self._inference(encoded, features_of):
            splits = np.cumsum([len(encoded[i]) for i in batch])[:-1]
            for i, vectors in zip(batch, np.split(pooled.numpy(), splits), strict=True):
                out[i] = vectors
        return out

    def lm_finetune(self, texts: Sequence[str], epochs: float = 1.0, lr: float = 5e-5,
                    max_steps: int | None = None) -> TrainingLog:
        """Finetune the backbone with a language-modelling objective on unlabeled ``texts``
        (``w2s_bench.models.lm_finetune``); the next :meth:`fit` starts from the result, kept as a CPU copy
        of the backbone's weights (``lm_state``). A second call continues from the first one's result."""
        log, self.lm_state = lm_finetune(self.backbone, self.config, texts, lora=self.lora, start=self.lm_state,
                                         epochs=epochs, lr=lr, max_steps=max_steps)
        return log


def row_lengths(encoded: list[list[list[int]]], packed: bool) -> list[int]:
    """Each example's tokens as a batch row holds them (batches are made of examples of similar length): its
    longest text, or its packed row (``w2s_bench.models.candidates``)."""
    return [packed_length(e) if packed else max(len(ids) for ids in e) for e in encoded]


def require_transformer(estimator: object, method: str, purpose: str) -> HFEstimator:
    """``estimator`` if it is a transformer; else the error a method needing one should give."""
    if not isinstance(estimator, HFEstimator):
        raise W2SError(f"method {method!r} {purpose}, and the strong model "
                       f"{getattr(estimator, 'name', type(estimator).__name__)!r} is not a transformer",
                       where="--strong", fix="use a transformer strong model (e.g. minilm-l6, mpnet-base, gpt2)")
    return estimator
