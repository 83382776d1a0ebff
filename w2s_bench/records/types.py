"""The results format: what one run of the protocol leaves, as typed and versioned records.

A sweep writes, under ``--output_path DIR``: ``results.json`` (a list of records), ``runs/<key>.json``
(one record), ``samples/<key>.jsonl`` (one :class:`ClassificationSample` per test example) and
``comparisons.json`` (a list of :class:`MethodComparison`). A record is a :class:`RunRecord`
(``status: "ok"``) or a :class:`FailedRun` (``status: "failed"``: a cell that stopped for a data reason,
with the reason and no metrics).

``kind`` says which protocol family made a run and so which metrics (``w2s_bench.metrics.registry``)
and which per-sample row type (:data:`SAMPLE_TYPES`) it has: ``classification`` (a
:class:`ClassificationSample` per test example) or ``generation`` (a :class:`GenerationSample` per test
prompt: each model's output and judge score). A family adds its row type here and its metrics to the
registry, and keeps the rest of the record.

A record carries what is needed to check it without trusting it: the task's name, version and config
hash, the seed and ``--limit`` (so the test split can be rebuilt from the data), the data fingerprint
and split sizes, the settings of the statistics (``n_resamples``, ``min_gap``) and the task's extra
metrics, so every metric can be recomputed from the per-sample rows.

Version history (``schema_version``): 1 had a ``config_hash``; 2 had artefact keys, provenance with git
and hardware, and untyped ``supervision``; 3 (this one) adds ``status``, ``kind``, typed supervision,
``config.task_metrics``, failed runs and full-precision sample probabilities; 4 adds the
``generation`` kind with its sample rows, ``config.judge`` (the judge's identity and test accuracy, None
for classification) and the ``demonstrations`` supervision kind; 5 (this one) adds two metrics every
generation run reports: ``pgr_floor`` (the model PGR starts from: ``weak``, or ``base`` for the search
methods) and ``win_rate`` (w2s against base under the judge). ``read_results`` reads 2 to 4 by migrating
them and refuses 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from w2s_bench.records.supervision import SupervisionInfo

SCHEMA_VERSION = 5
STEPS = ("weak", "ceiling", "w2s")  # the protocol steps a run record reports on, in order


@dataclass(kw_only=True)
class SplitSizes:
    """Examples in each protocol part (``val_*``: held out of ``train_*`` for early stopping)."""

    train_a: int
    val_a: int
    train_b: int
    val_b: int
    test: int


@dataclass(kw_only=True)
class DataInfo:
    """Where the examples came from. ``fingerprint`` hashes every example (id, texts, label) of every part,
    in order, as the artefact keys do; ``notes`` say what the split rules did (carving, dropped repeats)."""

    origin: str
    fingerprint: str
    sizes: SplitSizes
    notes: list[str] = field(default_factory=list)
    class_names: list[str] | None = None
    weak_label_accuracy: float | None = None  # the --weak supervisor's labels for train_b, against GT


@dataclass(kw_only=True)
class CellConfig:
    """Everything that defines the run: rerunning with these settings reproduces it."""

    task: str
    task_version: str
    task_hash: str  # the task fields that change its examples (w2s_bench.tasks.Task.config_hash)
    weak_model: dict[str, Any]  # the model's identity: name, settings, folder and weights fingerprint
    strong_model: dict[str, Any]
    method: str
    method_params: dict[str, Any]
    seed: int
    limit: int | None
    n_resamples: int
    min_gap: float
    task_metrics: list[str] = field(default_factory=list)  # the task's metric_list beyond the protocol's set
    judge: JudgeRecord | None = None  # generation runs: what scored the outputs


@dataclass(kw_only=True)
class JudgeRecord:
    """A generation run's judge: ``identity`` is what determines its scores (type, task, class, model, ...),
    ``test_acc`` its accuracy on its own classification task's test part (None for a rule judge), so a reader
    can weigh its verdicts."""

    identity: dict[str, Any]
    test_acc: float | None


@dataclass(kw_only=True)
class TrainingLog:
    """One fit: optimiser steps, the step early stopping kept, the validation evaluations, the micro-batch size the
    steps ended with (smaller than the settings' after halving on out-of-memory) and the autocast precision."""

    steps: int
    best_step: int | None
    evals: list[dict[str, float]] = field(default_factory=list)
    micro_batch_size: int | None = None  # None: a record written before w2s-bench recorded it
    precision: str | None = None  # "float32", "bfloat16", "float16"


@dataclass(kw_only=True)
class ArtefactRef:
    """A protocol step's entry in the artefact store, and whether this run reused it."""

    key: str
    reused: bool


@dataclass(kw_only=True)
class GitState:
    commit: str | None
    dirty: bool | None


@dataclass(kw_only=True)
class Hardware:
    cpu: str
    cpu_count: int | None
    memory_gb: float | None
    gpus: list[str]
    torch_threads: int


@dataclass(kw_only=True)
class Provenance:
    """Versions, code state and machine facts that can change a number, and when the run was made."""

    versions: dict[str, str | None]
    python: str
    platform: str
    git: GitState
    hardware: Hardware
    created: str


@dataclass(kw_only=True)
class RunIdentity:
    """Which run a record is: its protocol family, its file name (``key``) and its cell of the sweep."""

    schema_version: int = SCHEMA_VERSION
    kind: str
    key: str
    task: str
    weak: str
    strong: str
    method: str
    seed: int


@dataclass(kw_only=True)
class RunRecord(RunIdentity):
    """One finished (task, weak, strong, method, seed) run. ``metrics`` maps registered metric names
    (``w2s_bench.metrics.registry``) to numbers, ``[low, high]`` intervals, flags or None."""

    status: Literal["ok"] = "ok"
    metrics: dict[str, Any]
    config: CellConfig
    data: DataInfo
    supervision: SupervisionInfo
    training: dict[str, TrainingLog | None]
    artefacts: dict[str, ArtefactRef]
    seconds: dict[str, float]
    provenance: Provenance


@dataclass(kw_only=True)
class FailedRun(RunIdentity):
    """A run that stopped for a data reason (a W2SError in one of its steps, e.g. a supervisor whose labels
    are all one class): the sweep goes on and this record says where and why. No metrics, no samples."""

    status: Literal["failed"] = "failed"
    step: str  # the protocol step that failed: weak, ceiling or w2s
    error: str  # the exception's type
    reason: str  # its message: what went wrong, where, and the fix
    config: CellConfig
    data: DataInfo
    provenance: Provenance


Record = RunRecord | FailedRun


@dataclass(kw_only=True)
class ClassificationSample:
    """One test example of a classification run: its id and gold label, and each model's class probabilities
    (stored at full float precision, so metrics recomputed from these rows equal the record's exactly)."""

    score_metric: ClassVar[str] = "acc"  # the per-model metric whose per-example values :meth:`scores` gives

    id: str
    label: int
    weak: list[float]
    ceiling: list[float]
    w2s: list[float]

    @staticmethod
    def scores(rows: list[ClassificationSample], model: str) -> np.ndarray:
        """Per-example correctness (1.0 or 0.0) of ``model``: the scores PGR and method comparisons use."""
        return (ClassificationSample.predictions(rows, model) == np.array([r.label for r in rows])).astype(np.float64)

    @staticmethod
    def predictions(rows: list[ClassificationSample], model: str) -> np.ndarray:
        """``model``'s predicted class per example (argmax; ties go to the lowest class index)."""
        return np.array([getattr(r, model) for r in rows]).argmax(axis=1)


@dataclass(kw_only=True)
class GenerationSample:
    """One test prompt of a generation run: its id, the prompt and the gold continuation, each model's output
    (``weak``, ``ceiling``, ``w2s`` and ``base``, the untuned strong LM) and the judge's score of each (in
    [0, 1], higher is better), and each output's token count and log likelihood under the untuned strong LM
    (the fluency guard), so every metric of the record can be recomputed from these rows."""

    score_metric: ClassVar[str] = "score"

    id: str
    prompt: str
    gold: str
    outputs: dict[str, str]
    score: dict[str, float]  # the judge's, by model
    base_logprob: dict[str, float]
    tokens: dict[str, int]

    @staticmethod
    def scores(rows: list[GenerationSample], model: str) -> np.ndarray:
        """Per-prompt judge scores of ``model``: the scores PGR and method comparisons use."""
        return np.array([r.score[model] for r in rows], dtype=np.float64)

    @staticmethod
    def predictions(rows: list[GenerationSample], model: str) -> np.ndarray:
        """``model``'s output texts (two runs disagree on a prompt when their texts differ)."""
        return np.array([r.outputs[model] for r in rows], dtype=object)


Sample = ClassificationSample | GenerationSample
SAMPLE_TYPES: dict[str, type] = {"classification": ClassificationSample, "generation": GenerationSample}  # per kind


@dataclass(kw_only=True)
class MethodComparison:
    """A method against the baseline method in one (task, weak, strong) cell, on the seeds both ran:
    ``diff`` is the mean difference of ``metric`` (method minus baseline) with a paired ``level`` interval
    over seeds (``ci_kind: "seeds"``) or, with one seed, over bootstrap resamples of the test examples."""

    task: str
    weak: str
    strong: str
    method: str
    baseline: str
    metric: str  # the compared record metric, e.g. w2s_acc
    seeds: list[int]
    diff: float | None
    diff_ci: list[float] | None
    pgr_diff: float | None
    n_disagree: list[int]  # per seed: test examples whose predictions differ
    ci_kind: Literal["seeds", "test bootstrap"] | None
    verdict: Literal["better", "worse", "no difference", "n/a"]
    level: float
    note: str = ""
