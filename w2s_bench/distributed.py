"""Data-parallel training across processes started by ``accelerate launch`` (or ``torchrun``).

Every process runs the whole benchmark; only the transformer training loop is shared, each process
taking a slice of every batch (``w2s_bench.train``). A plain ``w2s-bench`` run is one process: then
nothing here creates an Accelerator or imports ``accelerate``, so single-process behaviour is unchanged.
"""

from __future__ import annotations

import logging
import os
from types import ModuleType
from typing import TYPE_CHECKING

from w2s_bench.errors import W2SError
from w2s_bench.optional import require

if TYPE_CHECKING:
    from accelerate import Accelerator

log = logging.getLogger("w2s_bench")
_accelerator: Accelerator | None = None  # created on first use, then shared by every training in this process


def is_distributed() -> bool:
    """Launched with more than one process: the launchers (accelerate launch, torchrun) set WORLD_SIZE."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_main_process() -> bool:
    """Whether this process should write files: every process holds the same results, so one (rank 0) writes."""
    return not is_distributed() or int(os.environ.get("RANK", "0")) == 0


def require_accelerate() -> ModuleType:
    """The accelerate package, or the W2SError naming the extra that installs it (checked when a sweep
    is planned, before any training)."""
    return require("accelerate", "multi-process training (accelerate launch)")


def get_accelerator() -> Accelerator | None:
    """The process's ``accelerate.Accelerator`` when distributed, else None.

    Created once per process, because it sets up the process group. Mixed precision is off in it: the
    training loop's own autocast (``w2s_bench.train.pick_dtype``) decides precision in every setting,
    and a second autocast from accelerate would double it. ``find_unused_parameters``: a backbone can
    hold weights the loss never reaches (BERT's pooler, which the head does not read), and DDP would
    otherwise stop at the second step, still waiting for their gradients.
    """
    global _accelerator
    if not is_distributed():
        return None
    if _accelerator is None:
        accelerate = require_accelerate()
        accelerator = accelerate.Accelerator(
            mixed_precision="no", kwargs_handlers=[accelerate.DistributedDataParallelKwargs(find_unused_parameters=True)])
        if accelerator.num_processes != int(os.environ["WORLD_SIZE"]):
            # without GPUs accelerate joins the processes only when told to use the CPU; each would train alone
            raise W2SError(f"{os.environ['WORLD_SIZE']} processes were launched, but accelerate found no devices to "
                           "train them together on", where="accelerate launch",
                           fix="on CPUs: ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes N -m w2s_bench ...")
        if is_main_process():
            log.info("training data-parallel on %d processes (%s)", accelerator.num_processes, accelerator.distributed_type)
        _accelerator = accelerator
    return _accelerator
