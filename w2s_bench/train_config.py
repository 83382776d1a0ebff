"""The optimisation settings of a transformer estimator, as a plain dataclass.

It lives apart from the training loop (``w2s_bench.train``) so that what only reads settings (the
model registry, ``w2s-bench ls models``, checking ``--strong_args`` in a plan) does not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from w2s_bench.errors import W2SError

# "auto": bfloat16 autocast where the hardware has it (CUDA), float32 elsewhere; the rest name autocast dtypes
DTYPES = ("auto", "float32", "fp32", "bfloat16", "bf16", "float16", "fp16")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; every field can be set per model (``--strong_args lr=1e-4``).

    Defaults start from Burns et al. 2023 (soft labels, AdamW, batch 32, 2 epochs, small learning
    rate); ``min_steps`` guarantees a floor of optimiser steps when a ``--limit`` makes an epoch
    tiny. Model aliases override these per family (``w2s_bench.models.registry``).

    Memory settings change how a step is computed, not what it computes: ``batch_size`` examples make
    one optimiser step whatever ``micro_batch_size`` is (the batch is split into micro-batches whose
    gradients accumulate; None: one micro-batch), and with ``auto_batch_size`` a micro-batch (or an
    inference batch) that runs out of memory is halved and the step retried. ``gradient_checkpointing``
    recomputes activations in the backward pass instead of storing them (transformers' activation
    checkpointing); ``compile`` runs the model through ``torch.compile`` (nn.Module.compile).
    """

    lr: float = 5e-5
    epochs: float = 2.0
    min_steps: int = 0
    batch_size: int = 32
    eval_batch_size: int = 64
    max_length: int = 256
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    evals_per_epoch: int = 2
    early_stopping: bool = True
    device: str = "auto"
    dtype: str = "auto"
    micro_batch_size: int | None = None
    auto_batch_size: bool = True
    gradient_checkpointing: bool = False
    compile: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        """The ranges types cannot say, checked when an estimator is built: for every model of a sweep
        that is when its plan is made, before any training."""
        for name, valid, rule in (
            ("lr", self.lr > 0, "> 0"), ("epochs", self.epochs >= 0, ">= 0"), ("min_steps", self.min_steps >= 0, ">= 0"),
            ("batch_size", self.batch_size >= 1, ">= 1"), ("eval_batch_size", self.eval_batch_size >= 1, ">= 1"),
            ("max_length", self.max_length >= 1, ">= 1"), ("warmup_fraction", 0 <= self.warmup_fraction <= 1, "in [0, 1]"),
            ("weight_decay", self.weight_decay >= 0, ">= 0"), ("grad_clip", self.grad_clip >= 0, ">= 0 (0: no clipping)"),
            ("evals_per_epoch", self.evals_per_epoch >= 1, ">= 1"),
            ("micro_batch_size", self.micro_batch_size is None or self.micro_batch_size >= 1, ">= 1 (or none: the batch)"),
            ("dtype", self.dtype in DTYPES, f"one of {', '.join(DTYPES)}"),
        ):
            if not valid:
                raise W2SError(f"{name}={getattr(self, name)!r} must be {rule}", where="--weak_args/--strong_args",
                               fix=f"e.g. {name}={getattr(TrainConfig, name)} (the default)")
