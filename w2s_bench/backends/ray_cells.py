"""A sweep's cells as Ray tasks (``--backend ray``).

Each cell (task, seed, weak, strong, method) is one task that runs the ordinary one-process sweep cut
to that cell (:func:`w2s_bench.evaluator.single_cell_config`) against the same artefact store. The
store must be on a filesystem every worker sees (``--use_cache DIR``; on one machine the default
cache is): a weak supervisor or ceiling that one cell trained is read by the others, and a worker that
asks for a key another one is computing waits for it (a lock per key), so each is trained once. The
driver collects the records and writes the results folder, in the plan's order, exactly as a
one-process sweep does.

``ray.init()`` starts a local cluster on this machine, or joins the one ``RAY_ADDRESS`` names
(``ray start --head`` on one machine, ``ray start --address=HEAD:6379`` on the others). Models
registered in Python (``register_model``) exist in the driver only, so a Ray sweep takes aliases,
folders and hub ids. Each task asks Ray for ``W2S_BENCH_RAY_CPUS`` CPUs (default 1) and uses as many
torch threads, and one GPU when the driver sees CUDA.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from w2s_bench.evaluator import Plan, RunConfig, run_sweep, single_cell_config
from w2s_bench.methods.base import Method
from w2s_bench.optional import require
from w2s_bench.records import Record, Sample

Result = tuple[Record, list[Sample], Counter[str]]


def run_one_cell(config: RunConfig, threads: int) -> Result:
    """The body of one Ray task: the one-cell sweep, in the worker process."""
    import torch

    from w2s_bench.progress import set_quiet

    torch.set_num_threads(threads)
    set_quiet(True)
    sweep = run_sweep(config)
    record = sweep.records[0]
    return record, sweep.samples[record.key], sweep.store_counts


def run_cells(config: RunConfig, methods: list[Method], plan: Plan, advance: Callable[..., Any]) -> Iterator[Result]:
    """Run every cell of ``plan`` as a Ray task; yield their results in plan order. ``advance(n)``
    moves the sweep's progress bar by the trainings of each cell as it finishes."""
    ray = require("ray", "--backend ray")
    import torch

    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    cpus = int(os.environ.get("W2S_BENCH_RAY_CPUS", "1"))
    task = ray.remote(num_cpus=cpus, num_gpus=1 if torch.cuda.is_available() else 0)(run_one_cell)
    spec = {id(method): text for method, text in zip(methods, config.methods, strict=True)}
    pending = [task.remote(single_cell_config(config, cell, spec[id(cell.method)]), cpus) for cell in plan.cells]
    results: dict[Any, Result] = {}
    waiting = list(pending)
    while waiting:
        done, waiting = ray.wait(waiting, num_returns=1)
        results[done[0]] = ray.get(done[0])
        advance(sum(n for step, n in results[done[0]][2].items() if step.endswith(" computed")))
    for ref in pending:
        yield results[ref]

