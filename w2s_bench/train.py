"""The one training and inference loop shared by every transformer estimator.

Batches are built by length (examples of similar length share a batch, so little compute goes to
padding), the device and precision are chosen once, and early stopping keeps the trainable
parameters of the best validation checkpoint. Methods never re-implement this loop: they pass
targets and, when needed, a loss (see ``w2s_bench.models.base``). Launched with ``accelerate launch``
the same loop trains data-parallel across processes (``w2s_bench.distributed``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from w2s_bench.distributed import get_accelerator
from w2s_bench.errors import W2SError
from w2s_bench.progress import progress_bar
from w2s_bench.train_config import DTYPES, TrainConfig

_AUTOCAST_DTYPES = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}


def check_device(name: str, where: str = "--device") -> None:
    """A W2SError unless ``name`` is ``auto`` or a device torch knows and this machine has, so that
    ``--device cuda`` on a machine without CUDA fails before any training, not in the middle of it."""
    if name == "auto":
        return
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise W2SError(f"unknown device {name!r}", where=where,
                       fix="use cpu, cuda, cuda:N or mps (or leave it out: the best available)")
    mps = getattr(torch.backends, "mps", None)
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": mps is not None and mps.is_available()}[device.type]
    if not available:
        raise W2SError(f"device {name!r} is not available on this machine (torch {torch.__version__}"
                       f"{', built without CUDA' if device.type == 'cuda' and torch.version.cuda is None else ''})",
                       where=where, fix="use --device cpu, or leave --device out to use the best available device")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise W2SError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)", where=where,
                       fix=f"use cuda:0 ... cuda:{torch.cuda.device_count() - 1}")


def pick_device(name: str = "auto") -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: bf16 only where the hardware has it (never on CPU: it is ~300x slower)."""
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    if name in ("float32", "fp32"):
        return None
    if name not in _AUTOCAST_DTYPES:
        raise W2SError(f"unknown dtype {name!r}", where="dtype", fix=f"use one of {', '.join(DTYPES)}")
    return _AUTOCAST_DTYPES[name]


def autocast(device: torch.device, dtype: torch.dtype | None) -> Any:
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, progress: float = 0.0) -> torch.Tensor:
    """Cross-entropy against probability targets (one-hot targets give the usual loss)."""
    return -(targets * F.log_softmax(logits.float(), dim=-1)).sum(dim=-1).mean()


def length_batches(lengths: Sequence[int], batch_size: int, rng: random.Random | None) -> Iterator[list[int]]:
    """Index batches of similar length. With ``rng``: shuffled, sorted within chunks of 50 batches,
    batch order shuffled (training). Without: sorted by length (inference)."""
    order = list(range(len(lengths)))
    if rng is None:
        order.sort(key=lambda i: lengths[i])
        yield from (order[i:i + batch_size] for i in range(0, len(order), batch_size))
        return
    rng.shuffle(order)
    chunk = batch_size * 50
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start:start + chunk], key=lambda i: lengths[i])
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    yield from batches


class TrainingDiverged(W2SError):
    """The training loss became NaN or infinite: the weights are ruined, so training stops at once
    (rather than training on, and caching NaN predictions). The message names the model and the
    settings that usually fix it; the protocol adds the task and step (:meth:`during`)."""

    def __init__(self, label: str, step: int, total: int, loss: float, config: TrainConfig, where: str | None = None) -> None:
        self.label, self.step, self.total, self.loss, self.config = label, step, total, loss, config
        super().__init__(f"training {label} diverged: the loss was {loss} at step {step} of {total}",
                         where=where or f"model {label}",
                         fix=f"lower the learning rate (lr={config.lr:g} now, e.g. lr={config.lr / 10:g}), train in "
                             f"float32 (dtype=float32; dtype={config.dtype} now) or clip gradients (grad_clip=1.0; "
                             f"grad_clip={config.grad_clip:g} now), in --weak_args or --strong_args")

    def during(self, where: str) -> TrainingDiverged:
        """The same error, located in the protocol step that was training (task, seed, step)."""
        return TrainingDiverged(self.label, self.step, self.total, self.loss, self.config, where=where)


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int, left: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)`` ``[B, T]`` of token sequences padded to the longest, on the right (the
    default: positions need no correction) or on the left (generation: every row's last token in the last column)."""
    width = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros_like(input_ids)
    for row, ids in enumerate(sequences):
        span = slice(width - len(ids), width) if left else slice(0, len(ids))
        input_ids[row, span] = torch.as_tensor(list(ids), dtype=torch.long)
        attention_mask[row, span] = 1
    return input_ids, attention_mask


@dataclass
class TrainingLog:
    """What happened during fit, kept in the run record for inspection."""

    steps: int = 0
    best_step: int | None = None
    evals: list[dict[str, float]] = field(default_factory=list)


def train_loop(model: torch.nn.Module, forward: Callable[[torch.nn.Module, list[int]], torch.Tensor],
               lengths: Sequence[int], targets: np.ndarray, config: TrainConfig, loss_fn: Callable[..., torch.Tensor] | None,
               evaluate: Callable[[], tuple[float, float]] | None, device: torch.device, label: str) -> TrainingLog:
    """Optimise ``model``; ``forward(module, indices)`` gives the logits ``module`` computes for those training
    examples and ``evaluate()`` returns (validation accuracy, validation loss) for early stopping.

    In one process ``module`` is ``model``. Under ``accelerate launch`` it is ``model``'s data-parallel
    wrapper (DDP), the only forward through which gradients are averaged across processes; each process
    computes its slice ``batch[rank::world]`` of every batch, so the batch size, the number of steps and the
    weights after each step are those of one process (up to float rounding). ``model`` itself shares the
    wrapper's weights and stays the plain module that ``evaluate`` and inference use: every process
    evaluates the whole validation set on the same weights, so all keep the same best checkpoint. Not
    shared: random draws (dropout) and losses built on batch statistics (logconf) see a process's share.
    """
    loss_fn = loss_fn or soft_cross_entropy
    accelerator = get_accelerator()
    dtype = pick_dtype(config.dtype, device)
    steps_per_epoch = math.ceil(len(lengths) / config.batch_size)
    total = max(config.min_steps, math.ceil(config.epochs * steps_per_epoch))
    eval_every = max(1, steps_per_epoch // max(1, config.evals_per_epoch))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    warmup = int(config.warmup_fraction * total)
    # not given to accelerate, whose scheduler wrapper would step once per process and batch
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / max(1, warmup) if s < warmup else max(0.0, (total - s) / max(1, total - warmup)))
    module, rank, world = model, 0, 1
    if accelerator is not None:
        module, optimizer = accelerator.prepare(model, optimizer)
        rank, world = accelerator.process_index, accelerator.num_processes
    backward = accelerator.backward if accelerator is not None else torch.Tensor.backward
    clip_grad_norm = accelerator.clip_grad_norm_ if accelerator is not None else torch.nn.utils.clip_grad_norm_
    rng = random.Random(config.seed)
    target_tensor = torch.as_tensor(targets, dtype=torch.float32)
    log, best, best_score = TrainingLog(), None, (-math.inf, -math.inf)

    def batches() -> Iterator[list[int]]:
        while True:
            yield from length_batches(lengths, config.batch_size, rng)

    model.train()
    with progress_bar(f"train {label}", total) as advance:
        for step, batch in zip(range(1, total + 1), batches(), strict=False):
            # DDP averages the processes' gradients, so each loss is weighted by its process's share of the batch:
            # the average is then the gradient of the whole batch's loss (exactly so for means over examples). A
            # process with no share (a last batch smaller than the number of processes) must still join the
            # gradient all-reduce, so it runs the batch's first example at weight 0.
            share = batch[rank::world]
            examples = share or batch[:1]
            with autocast(device, dtype):
                logits = forward(module, examples)
            loss = loss_fn(logits.float(), target_tensor[examples].to(device), (step - 1) / total)
            if not torch.isfinite(loss.detach()).all():
                raise TrainingDiverged(label, step, total, float(loss.detach().float().mean()), config)
            optimizer.zero_grad(set_to_none=True)
            backward(loss * (len(share) * world / len(batch)))
            if config.grad_clip:
                clip_grad_norm(params, config.grad_clip)
            optimizer.step()
            schedule.step()
            log.steps = step
            advance(1, loss=loss.item())
            if evaluate is not None and config.early_stopping and (step % eval_every == 0 or step == total):
                model.eval()
                accuracy, val_loss = evaluate()
                model.train()
                log.evals.append({"step": step, "val_acc": accuracy, "val_loss": val_loss})
                if (accuracy, -val_loss) > best_score:
                    best_score, log.best_step = (accuracy, -val_loss), step
                    best = {n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters() if p.requires_grad}
    if accelerator is not None:
        accelerator.free_memory()  # drop its references to the wrapper and optimizer, which would keep them alive
    if best is not None and log.best_step != log.steps:
        with torch.no_grad():
            named = dict(model.named_parameters())
            for name, value in best.items():
                named[name].copy_(value.to(named[name].device))
    model.eval()
    return log
