"""The one training and inference loop shared by every transformer estimator.

Batches are built by length (examples of similar length share a batch, so little compute goes to
padding), the device and precision are chosen once, and early stopping keeps the trainable
parameters of the best validation checkpoint. Methods never re-implement this loop: they pass
targets and, when needed, a loss (see ``w2s_bench.models.base``). Launched with ``accelerate launch``
the same loop trains data-parallel across processes (``w2s_bench.distributed``).
"""

from __future__ import annotations

import gc
import logging
import math
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from w2s_bench.distributed import get_accelerator
from w2s_bench.errors import W2SError
from w2s_bench.progress import progress_bar
from w2s_bench.train_config import DTYPES, TrainConfig

_AUTOCAST_DTYPES = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}
COMPILE_BACKEND = "inductor"  # torch.compile's default backend; tests set "eager" (tracing without code generation)
Result = TypeVar("Result")
log = logging.getLogger("w2s_bench")


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


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``tensor`` on ``device``. To a GPU it is copied from pinned (page-locked) host memory without blocking, so
    the copy overlaps the computation queued before it; elsewhere this is a plain ``.to``."""
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def halving_on_oom(run: Callable[[int], Result], size: int, enabled: bool, what: str, where: str) -> tuple[Result, int]:
    """``(run(size), size)``; when ``run`` runs out of memory and ``enabled``, ``size`` is halved and ``run``
    retried (from scratch: ``run`` must redo its whole unit of work) until it fits. Out of memory at size 1,
    or with halving off, is a W2SError that says which settings need less memory."""
    while True:
        try:
            return run(size), size
        except torch.OutOfMemoryError as exc:  # torch.cuda.OutOfMemoryError is the same class
            if not enabled or size == 1:
                raise W2SError(f"{what} ran out of memory at batch size {size}" + ("" if enabled else
                               " (auto_batch_size=false)"), where=where,
                               fix="set auto_batch_size=true or a smaller micro_batch_size / eval_batch_size"
                                   if not enabled else "use lora=true, gradient_checkpointing=true, a shorter "
                                   "max_length, load_in_8bit / load_in_4bit (CUDA), or a GPU with more memory") from exc
        # out of the except block, so that the failed attempt's tensors (held by the traceback) can be freed
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        log.warning("%s ran out of memory at batch size %d: retrying at %d", what, size, size // 2)
        size //= 2


def enable_checkpointing(model: torch.nn.Module, label: str) -> None:
    """Activation (gradient) checkpointing on ``model``: a transformers model, a peft model around one (which
    passes the call on), or a module that offers the same method (``BackboneWithHead``). Non-reentrant
    checkpointing, which needs no input that requires grad and replays dropout exactly."""
    enable = getattr(model, "activation_checkpointing_enable", None) or getattr(model, "gradient_checkpointing_enable", None)
    if enable is None or not getattr(model, "supports_gradient_checkpointing", False):
        raise W2SError(f"model {label} does not support gradient checkpointing in transformers", where=f"model {label}",
                       fix="set gradient_checkpointing=false in --weak_args/--strong_args")
    enable({"use_reentrant": False})


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
    micro_batch_size: int | None = None  # examples per forward/backward at the end (after any halving on OOM)
    precision: str | None = None  # the autocast dtype the steps ran in ("float32": none)


def train_loop(model: torch.nn.Module, forward: Callable[[torch.nn.Module, list[int]], torch.Tensor],
               lengths: Sequence[int], targets: np.ndarray, config: TrainConfig, loss_fn: Callable[..., torch.Tensor] | None,
               evaluate: Callable[[], tuple[float, float]] | None, device: torch.device, label: str) -> TrainingLog:
    """Optimise ``model``; ``forward(module, indices)`` gives the logits ``module`` computes for those training
    examples and ``evaluate()`` returns (validation accuracy, validation loss) for early stopping.

    Each optimiser step sees ``config.batch_size`` examples, in micro-batches of ``config.micro_batch_size``
    whose gradients accumulate (each micro-batch's mean loss weighted by its share of the batch, so the
    gradient is the whole batch's; exactly so for losses that are means over examples, while losses built
    on batch statistics, such as logconf's threshold, see a micro-batch). A micro-batch that runs out of
    memory is halved and the step redone from its start (``auto_batch_size``); the log records the size used.

    In one process ``module`` is ``model``. Under ``accelerate launch`` it is ``model``'s data-parallel
    wrapper (DDP), the only forward through which gradients are averaged across processes; each process
    computes its slice ``batch[rank::world]`` of every batch, so the batch size, the number of steps and the
    weights after each step are those of one process (up to float rounding). Gradients are averaged once
    per step, in the last micro-batch's backward (the others run under ``no_sync``), so every process joins
    exactly one all-reduce per step whatever its number of micro-batches. ``model`` itself shares the
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
    if config.gradient_checkpointing:
        enable_checkpointing(model, label)
    if config.compile:
        model.compile(backend=COMPILE_BACKEND)  # in place: parameter names and state dicts are unchanged
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
    log = TrainingLog(precision=str(dtype or torch.float32).removeprefix("torch."))
    best, best_score = None, (-math.inf, -math.inf)
    micro = config.micro_batch_size or config.batch_size

    def batches() -> Iterator[list[int]]:
        while True:
            yield from length_batches(lengths, config.batch_size, rng)

    def gradients(batch: list[int], step: int, micro: int) -> float:
        """Accumulate the batch's gradient in micro-batches of ``micro``; the batch's mean loss. DDP averages the
        processes' gradients, so each loss is weighted by its share of the whole batch: the average is then the
        gradient of the whole batch's loss. A process with no share (a last batch smaller than the number of
        processes) must still join the gradient all-reduce, so it runs the batch's first example at weight 0."""
        share = batch[rank::world]
        examples = share or batch[:1]
        chunks = [examples[i:i + micro] for i in range(0, len(examples), micro)]
        optimizer.zero_grad(set_to_none=True)
        total_loss = 0.0
        for number, chunk in enumerate(chunks, start=1):
            sync = accelerator is None or number == len(chunks)
            with nullcontext() if sync else accelerator.no_sync(module):
                with autocast(device, dtype):
                    logits = forward(module, chunk)
                loss = loss_fn(logits.float(), to_device(target_tensor[chunk], device), (step - 1) / total)
                if not torch.isfinite(loss.detach()).all():
                    raise TrainingDiverged(label, step, total, float(loss.detach().float().mean()), config)
                backward(loss * ((len(chunk) if share else 0) * world / len(batch)))
            total_loss += loss.item() * len(chunk)
        return total_loss / len(examples)

    model.train()
    with progress_bar(f"train {label}", total) as advance:
        for step, batch in zip(range(1, total + 1), batches(), strict=False):
            fits = min(micro, len(batch))  # a short last batch is no reason to halve the micro-batch of later ones
            loss_value, fitted = halving_on_oom(lambda size, batch=batch, step=step: gradients(batch, step, size), fits,
                                                config.auto_batch_size, f"training {label}", where=f"model {label}")
            micro = fitted if fitted < fits else micro
            if config.grad_clip:
                clip_grad_norm(params, config.grad_clip)
            optimizer.step()
            schedule.step()
            log.steps, log.micro_batch_size = step, micro
            advance(1, loss=loss_value)
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
