"""The generation family in the run loop: plans and runs ``generate_until`` cells into typed records.

Planning checks, before anything is trained, that the weak and strong models are causal LMs, that the
method supports generation (``Method.families``) and can run with these models (``Method.check_generation``)
and that the task's judge can run here (its task, class, data and model; ``Judge.check``). Running a cell
runs the protocol's steps (``w2s_bench.generation.protocol``), judges each model's test outputs, and computes
the record's metrics from the per-prompt scores with the same statistics as classification (``w2s_bench.metrics.stats``).
"""

from __future__ import annotations

import time
from typing import Any

from w2s_bench.errors import W2SError
from w2s_bench.evaluator import Cell, _StepFailed, _Sweep, cell_identity
from w2s_bench.families import Family, register_family
from w2s_bench.generation.judges import JudgeContext
from w2s_bench.generation.protocol import STEPS, GenerationProtocol, Written
from w2s_bench.generation.task import GenerationTask, LoadedGeneration
from w2s_bench.metrics.catalog import generation_metrics
from w2s_bench.records import (
    ArtefactRef,
    DemonstrationSupervision,
    FailedRun,
    GenerationSample,
    JudgeRecord,
    Record,
    RunRecord,
    TrainingLog,
    from_json,
)
from w2s_bench.results import provenance

CAUSAL_FIX = "use a causal LM: offline-lm-s, offline-lm-m, offline-lm-l, gpt2, pythia-*, qwen2.5-* ..."


def check_causal(spec: Any, option: str) -> None:
    """A W2SError unless the resolved model ``spec`` is a causal LM (read from its config, nothing loaded)."""
    if spec.kind != "hf":
        raise W2SError(f"model {spec.name!r} is not a language model, so it cannot generate text", where=option,
                       fix=CAUSAL_FIX)
    from w2s_bench.models.backbone import Backbone, is_decoder

    config = Backbone(str(spec.path), spec.name, trust_remote_code=bool(spec.params.get("trust_remote_code"))).model_config()
    if not is_decoder(config):
        raise W2SError(f"model {spec.name!r} (type {config.model_type!r}) is not a causal language model, so it "
                       "cannot generate text", where=option, fix=CAUSAL_FIX)


@register_family("generation")
class GenerationFamily(Family):
    """``generate_until`` tasks: SFT on demonstrations, a judge's scores (issue 15's generative protocol)."""

    task_class = GenerationTask

    def protocol(self, sweep: _Sweep, loaded: LoadedGeneration, seed: int) -> GenerationProtocol:
        config = sweep.config
        context = JudgeContext(config.data_dir, list(config.include_paths), sweep.store,
                               tuple(dict.fromkeys([*config.weak, *config.strong])))
        return GenerationProtocol(loaded, sweep.models.specs, seed, sweep.store, sweep.models.identity, context)

    def plan_cell(self, sweep: _Sweep, protocol: GenerationProtocol, cell: Cell) -> list[tuple[str, str]]:
        for role, name in (("weak", cell.weak), ("strong", cell.strong)):
            check_causal(sweep.models.specs[role][name], f"--{role} {name} (task {cell.task.name} is a generation task)")
        protocol.judge.check(protocol.judge_context)
        cell.method.check_generation(protocol, cell.weak, cell.strong)
        return protocol.cell_keys(cell.weak, cell.strong, cell.method)

    def run_cell(self, sweep: _Sweep, protocol: GenerationProtocol, cell: Cell) -> tuple[Record, list[GenerationSample]]:
        start = time.perf_counter()
        names, cell_config, data = cell_identity(protocol, cell, sweep.config, "generation")
        try:
            written = _write_steps(protocol, cell)
            judged = {step: protocol.judged(w, cell.strong) for step, w in written.items()}
            judge = protocol.judge_info()
        except _StepFailed as failed:
            return FailedRun(**names, step=failed.step, error=type(failed.error).__name__, reason=str(failed.error),
                             config=cell_config, data=data, provenance=provenance()), []
        except W2SError as exc:  # the judge: its task's data or its training
            return FailedRun(**names, step="judge", error=type(exc).__name__, reason=str(exc), config=cell_config,
                             data=data, provenance=provenance()), []
        cell_config.judge = JudgeRecord(identity=judge["identity"], test_acc=judge["test_acc"])
        config = sweep.config
        metrics = generation_metrics({s: w.outputs["test"] for s, w in written.items()},
                                     {s: j.scores for s, j in judged.items()}, {s: j.logprob for s, j in judged.items()},
                                     {s: j.tokens for s, j in judged.items()}, task_metrics=cell_config.task_metrics,
                                     n_resamples=config.n_resamples, seed=cell.seed, min_gap=config.min_gap,
                                     pgr_floor=cell.method.pgr_floor)
        n_train = len(protocol.splits.train_b)
        info = written["w2s"].info or {"kept": n_train, "offered": n_train, "selection": "all"}
        record = RunRecord(
            **names, metrics=metrics, config=cell_config, data=data,
            supervision=from_json(DemonstrationSupervision, info, "supervision"),
            training={s: from_json(TrainingLog | None, w.training, f"training.{s}") for s, w in written.items()},
            artefacts={**{s: ArtefactRef(key=w.key, reused=w.reused) for s, w in written.items()},
                       **{f"{s}_judged": ArtefactRef(key=j.key, reused=j.reused) for s, j in judged.items()}},
            seconds={**{s: round(w.seconds, 2) for s, w in written.items()}, "cell": round(time.perf_counter() - start, 2)},
            provenance=provenance())
        return record, generation_samples(protocol, written, judged)


def _write_steps(protocol: GenerationProtocol, cell: Cell) -> dict[str, Written]:
    """Each model's texts, in the protocol's order (each from the store when it has it)."""
    steps = {"weak": lambda: protocol.weak(cell.weak), "ceiling": lambda: protocol.ceiling(cell.strong),
             "w2s": lambda: protocol.w2s(cell.weak, cell.strong, cell.method), "base": lambda: protocol.base(cell.strong)}
    written = {}
    for step in STEPS:
        try:
            written[step] = steps[step]()
        except W2SError as exc:
            raise _StepFailed(step, exc) from exc
    return written


def generation_samples(protocol: GenerationProtocol, written: dict[str, Written],
                       judged: dict[str, Any]) -> list[GenerationSample]:
    """One row per test prompt with every model's output, judge score and fluency numbers."""
    rows = []
    for i, demo in enumerate(protocol.splits.test):
        rows.append(GenerationSample(
            id=demo.id, prompt=demo.prompt, gold=demo.gold, outputs={s: w.outputs["test"][i] for s, w in written.items()},
            score={s: float(j.scores[i]) for s, j in judged.items()},
            base_logprob={s: float(j.logprob[i]) for s, j in judged.items()},
            tokens={s: int(j.tokens[i]) for s, j in judged.items()}))
    return rows
