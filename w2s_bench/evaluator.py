"""The one evaluator loop: tasks x seeds x (weak, strong) pairs x methods -> run records.

Everything the CLI does is a call here: ``w2s_bench.run(tasks=[...], weak=[...], strong=[...])``
returns the run records (``w2s_bench.records``); :func:`run_sweep` also returns the per-sample
predictions, the paired method comparisons and what was computed versus reused; :func:`plan_sweep`
says what a sweep would train without training anything (``--dry_run``).

Every protocol step goes through the artefact store (``w2s_bench.cache``): a sweep fits each weak
supervisor and ceiling once, and rerunning a killed sweep rebuilds the finished runs from stored
predictions and trains only what is missing.

A sweep does not die for one cell. A cell whose step raises a :class:`W2SError` (a data reason: a
supervisor whose labels are all one class, a split too small for a model) is recorded as a
:class:`FailedRun` with its reason, and the other cells run. Any other exception is a bug and stops
the sweep with its traceback (the runs finished before it are already on disk), as does Ctrl-C.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from w2s_bench import cache
from w2s_bench.cache import ArtefactStore
from w2s_bench.defaults import DEFAULT_STRONG, DEFAULT_TASKS, DEFAULT_WEAK, STEPS
from w2s_bench.distributed import is_distributed, is_main_process, require_accelerate
from w2s_bench.errors import W2SError, did_you_mean
from w2s_bench.examples import accuracy_of, labels_of
from w2s_bench.families import Family, family_of, register_family
from w2s_bench.files import writable_folder_problem
from w2s_bench.methods import get_method
from w2s_bench.methods.base import Fit, Method
from w2s_bench.metrics import compare_methods, run_metrics
from w2s_bench.models import build_estimator, resolve
from w2s_bench.models.memory import MemoryEstimate, estimate_training_memory
from w2s_bench.models.registry import ModelSpec, fetch
from w2s_bench.optional import require
from w2s_bench.progress import progress_bar
from w2s_bench.protocol import Fitted, Protocol
from w2s_bench.records import (
    SAMPLE_TYPES,
    ArtefactRef,
    CellConfig,
    DataInfo,
    FailedRun,
    MethodComparison,
    Record,
    RunRecord,
    Sample,
    SplitSizes,
    SupervisionInfo,
    TrainingLog,
    from_json,
)
from w2s_bench.results import ResultsDir, classification_samples, provenance, run_key
from w2s_bench.tasks import Task, TaskRegistry
from w2s_bench.tasks.data import load_source
from w2s_bench.tasks.task import LoadedTask
from w2s_bench.train import check_device

log = logging.getLogger("w2s_bench")
BACKENDS = ("local", "ray")



@dataclass
class RunConfig:
    """Everything that defines a sweep; the defaults are the offline embedded demo."""

    tasks: list[str] = field(default_factory=lambda: list(DEFAULT_TASKS))
    weak: list[str] = field(default_factory=lambda: list(DEFAULT_WEAK))
    strong: list[str] = field(default_factory=lambda: list(DEFAULT_STRONG))
    methods: list[str] = field(default_factory=lambda: ["naive"])
    seeds: list[int] = field(default_factory=lambda: [0])
    limit: int | None = None
    data_dir: str | None = None
    include_paths: list[str] = field(default_factory=list)
    weak_args: dict[str, Any] = field(default_factory=dict)
    strong_args: dict[str, Any] = field(default_factory=dict)
    device: str | None = None
    output_path: str | None = None
    n_resamples: int = 1000
    min_gap: float = 0.01
    all_pairs: bool = False  # also pairs whose weak model is not smaller than the strong one
    cache_dir: str | None = field(default_factory=lambda: str(cache.default_dir()))  # None: --no_cache
    rerun: bool = False  # recompute every artefact, overwriting the stored ones
    baseline: str | None = None  # the method others are compared with; None: naive (else each cell's first)
    backend: str = "local"  # "local": cells run one after another in this process; "ray": as Ray tasks

    def check(self) -> None:
        """The options that can be checked without loading anything; a W2SError names the first bad one."""
        for option, values in (("--tasks", self.tasks), ("--weak", self.weak), ("--strong", self.strong),
                               ("--methods", self.methods), ("--seeds", self.seeds)):
            if not values:
                raise W2SError(f"{option} is empty", where=option, fix=f"give at least one, or leave {option} out")
        if not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**32 for s in self.seeds):
            raise W2SError(f"seeds must be integers in [0, 2**32) (what numpy and scikit-learn take), got {self.seeds!r}",
                           where="--seeds", fix="e.g. --seeds 0,1,2")
        if self.limit is not None and (isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1):
            raise W2SError(f"--limit {self.limit!r} is not a positive number of examples", where="--limit",
                           fix="give the number of examples per split (e.g. --limit 1000), or leave --limit out for all")
        if isinstance(self.n_resamples, bool) or not isinstance(self.n_resamples, int) or self.n_resamples < 1:
            raise W2SError(f"--n_resamples {self.n_resamples!r} is not a positive number", where="--n_resamples",
                           fix="e.g. --n_resamples 1000 (the default)")
        if self.backend not in BACKENDS:
            raise W2SError(f"unknown backend {self.backend!r}", where="--backend", fix=f"use one of {', '.join(BACKENDS)}")
        if self.device:
            check_device(self.device)
        for option, folder in (("--output_path", self.output_path), ("--use_cache", self.cache_dir)):
            problem = writable_folder_problem(folder) if folder else None
            if problem:
                raise W2SError(f"{folder} {problem}", where=option, fix="give a folder that exists or can be created, "
                               "and that you can write to")


@dataclass
class Cell:
    """One run of the sweep: a task, a seed, a model pair and a method."""

    task: Task
    seed: int
    weak: str
    strong: str
    method: Method


@dataclass
class Plan:
    """What a sweep will do: its runs, the pairs left out, and per protocol step how many artefacts
    must be trained and how many the store already holds (shared ones counted once)."""

    cells: list[Cell]
    skipped_pairs: list[tuple[str, str]]
    to_train: Counter[str] = field(default_factory=Counter)
    cached: Counter[str] = field(default_factory=Counter)
    models: dict[str, dict[str, ModelSpec]] = field(default_factory=dict)  # role -> name -> resolved spec
    memory: dict[str, MemoryEstimate] = field(default_factory=dict)  # per strong transformer (plan_sweep only)

    @property
    def trainings(self) -> int:
        return sum(self.to_train.values())


@dataclass
class Sweep:
    """A finished sweep: run records (failed runs included), per-sample predictions by run key, method
    comparisons, and how many artefacts were computed or reused per step (``store_counts``)."""

    records: list[Record]
    samples: dict[str, list[Sample]]
    comparisons: list[MethodComparison]
    plan: Plan
    store_counts: Counter[str]

    @property
    def failed(self) -> list[FailedRun]:
        return [r for r in self.records if isinstance(r, FailedRun)]


class _Models:
    """The sweep's resolved models: builds estimators and says what determines each one's numbers."""

    def __init__(self, config: RunConfig, methods: list[Method]) -> None:
        # methods' own models: ensemble members supervise (weak_args); bootstrap links are students (strong_args)
        extra = {role: [n for m in methods for n, r in m.models().items() if r == role] for role in ("weak", "strong")}
        names = {"weak": config.weak + extra["weak"], "strong": config.strong + extra["strong"]}
        args = {"weak": config.weak_args, "strong": config.strong_args}
        self.specs = {role: {n: self._spec(n, args[role], config, f"--{role}_args") for n in dict.fromkeys(names[role])}
                      for role in ("weak", "strong")}
        self._identities = {(role, n): spec.identity() for role, specs in self.specs.items() for n, spec in specs.items()}
        # each model built once now: its constructor checks its settings before any training, and says
        # how many examples of each class it needs to be fitted (TF-IDF's cross-validation: 5)
        self.min_per_class = {(role, n): getattr(build_estimator(spec, 0), "min_examples_per_class", 1)
                              for role, specs in self.specs.items() for n, spec in specs.items()}

    @staticmethod
    def _spec(name: str, args: dict[str, Any], config: RunConfig, option: str) -> ModelSpec:
        """Resolve a model name with its settings checked, and fetch its weights once, before any
        training, so that a model that cannot be had fails the run at once and later builds read the
        local folder. Models built from a mirror's text (the offline LM ladder) see the run's ``--data_dir``."""
        spec = resolve(name).with_params(args, where=option)
        if spec.kind == "hf":
            if config.device:
                spec = spec.with_params({"device": config.device}, where="--device")
            check_device(spec.params.get("device", "auto"), where=f"{option} device" if "device" in args else "--device")
            spec = replace(spec, path=fetch(spec, data_dir=config.data_dir))
        return spec

    def identity(self, role: str, name: str) -> dict[str, Any]:
        return self._identities[(role, name)]

    def protocol(self, loaded: LoadedTask, seed: int, store: ArtefactStore) -> Protocol:
        return Protocol(loaded, lambda name, s: build_estimator(self.specs["weak"][name], s),
                        lambda name, s: build_estimator(self.specs["strong"][name], s), seed, store, self.identity)

    def pairs(self, config: RunConfig) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(pairs to run, pairs skipped). A grid keeps pairs whose weak model is smaller than the strong
        one (when both sizes are known) unless ``all_pairs``; a single pair is run as asked."""
        grid = list(itertools.product(config.weak, config.strong))
        if config.all_pairs or len(grid) == 1:
            return grid, []
        size = {role: {n: s.size for n, s in specs.items()} for role, specs in self.specs.items()}
        skipped = [(w, s) for w, s in grid if size["weak"][w] and size["strong"][s] and size["weak"][w] >= size["strong"][s]]
        kept = [p for p in grid if p not in skipped]
        if not kept:
            raise W2SError(f"no (weak, strong) pair has a weak model smaller than the strong one: {grid}",
                           where="--weak/--strong", fix="swap them, or pass --all_pairs to run them anyway")
        return kept, skipped


class _Sweep:
    """Resolved inputs shared by planning and running."""

    def __init__(self, config: RunConfig) -> None:
        config.check()
        self.config = config
        if is_distributed():
            require_accelerate()
        if config.backend == "ray":
            require("ray", "--backend ray")
        registry = TaskRegistry.discover(config.include_paths)
        registry.expand(config.tasks)  # unknown names fail before anything is loaded
        self.methods = [get_method(m) for m in config.methods]
        names = [m.name for m in self.methods]
        if config.baseline is not None and config.baseline not in names:
            raise W2SError(f"--baseline {config.baseline!r} is not a method of this run ({', '.join(names)})",
                           where="--baseline", fix=f"{did_you_mean(config.baseline, names)} (or add it to --methods)")
        self.models = _Models(config, self.methods)
        self.pairs, self.skipped_pairs = self.models.pairs(config)
        for (weak, _), method in itertools.product(self.pairs, self.methods):
            method.check(weak)  # a method that cannot run as configured fails before any data is loaded
        self.tasks = _available_tasks(registry, config)
        self.store = ArtefactStore(config.cache_dir, rerun=config.rerun, writable=is_main_process())

    def protocols(self) -> Iterator[tuple[Family, Task, int, Any, Any]]:
        """(family, task, seed, loaded task, protocol) for every task and seed; the task's family makes the protocol."""
        for task in self.tasks:
            family = family_of(task.config.kind)
            for seed in self.config.seeds:
                loaded = task.load(seed=seed, limit=self.config.limit, data_dir=self.config.data_dir)
                yield family, task, seed, loaded, family.protocol(self, loaded, seed)

    def cells(self, task: Task, seed: int) -> Iterator[Cell]:
        for (weak, strong), method in itertools.product(self.pairs, self.methods):
            yield Cell(task, seed, weak, strong, method)

    def plan(self) -> Plan:
        plan = Plan([], self.skipped_pairs, models=self.models.specs)
        seen: set[tuple[str, str]] = set()
        for family, task, seed, _, protocol in self.protocols():
            for cell in self.cells(task, seed):
                cell.method.check_family(family.kind, task.name)
                keys = family.plan_cell(self, protocol, cell)
                plan.cells.append(cell)
                for step, key in keys:
                    if (step, key) not in seen:
                        seen.add((step, key))
                        (plan.cached if self.store.has(step, key) else plan.to_train)[step] += 1
        return plan

    def check_counts(self, fit: Fit, loaded: LoadedTask, seed: int) -> None:
        """A W2SError, at planning time, if ``fit``'s examples have fewer of some class than its model
        needs (rather than the estimator's own error in the middle of the sweep). Scored candidates are
        fitted as one "is this the answer" item per candidate, so there each example counts for both."""
        need = fit.min_per_class or self.models.min_per_class[(fit.role, fit.model)]
        examples = fit.examples
        if examples and examples[0].is_candidates:
            counts = {"each": len(examples)}
        else:
            by_label = Counter(ex.label for ex in examples)
            counts = {repr(name): by_label.get(k, 0) for k, name in enumerate(loaded.class_names)}
        fewest = min(counts.values())
        if fewest >= need:
            return
        n, limit = len(examples), loaded.task.config.run_limit(self.config.limit)
        have = ", ".join(f"{count} of class {name}" for name, count in counts.items() if name != "each")
        fix = (f"use a larger --limit (about {math.ceil(limit * need / max(fewest, 0.5) / 10) * 10})" if limit
               else "use a dataset with more examples")
        raise W2SError(f"the {fit.what} is fitted on {n} example{'s' * (n != 1)} of {fit.part}"
                       f"{f' ({have})' if have else ''} and needs at least {need} of each class",
                       where=f"task {loaded.task.name}, seed {seed}" + (f", --limit {limit}" if limit else ""),
                       fix=f"{fix}, or another {fit.role} model")


def plan_sweep(config: RunConfig | None = None, **overrides: Any) -> Plan:
    """What the sweep would run and train, after the cache, with each strong transformer's training memory
    estimated from its config and settings (``w2s_bench.models.memory``); loads data but no weights, trains nothing."""
    sweep = _Sweep(config or RunConfig(**overrides))
    plan = sweep.plan()
    plan.memory = {name: estimate_training_memory(build_estimator(spec, 0), spec.size)
                   for name, spec in sweep.models.specs["strong"].items() if spec.kind == "hf"}
    return plan


def run(config: RunConfig | None = None, **overrides: Any) -> list[Record]:
    """Run the sweep and return its run records (also written under ``output_path`` if given)."""
    return run_sweep(config, **overrides).records


def run_sweep(config: RunConfig | None = None, **overrides: Any) -> Sweep:
    config = config or RunConfig(**overrides)
    sweep = _Sweep(config)
    plan = sweep.plan()
    log.info("sweep: %d runs, %d trainings to do (%s), %d artefacts reused from %s", len(plan.cells), plan.trainings,
             ", ".join(f"{n} {s}" for s, n in plan.to_train.items()) or "none", sum(plan.cached.values()),
             config.cache_dir or "no cache")
    out = ResultsDir(config.output_path) if config.output_path and is_main_process() else None
    records: list[Record] = []
    samples: dict[str, list[Sample]] = {}
    counts: Counter[str] = Counter()
    with progress_bar("sweep (trainings)", plan.trainings) as advance:
        if config.backend == "ray":
            from w2s_bench.backends.ray_cells import run_cells

            finished = run_cells(config, sweep.methods, plan, advance)
        else:
            sweep.store.on_computed = lambda step: advance(1) if step in plan.to_train else None
            finished = _run_cells(sweep)
        for record, rows, cell_counts in finished:
            _warn(record)
            records.append(record)
            samples[record.key] = rows
            counts.update(cell_counts)
            if out:
                out.write_run(record, rows)
                out.write_summary(records)
    comparisons = compare_methods(records, samples, baseline=config.baseline, n_resamples=config.n_resamples)
    if out:
        out.write_summary(records)  # also when every run was reused
        earlier = out.earlier_than(records)  # the folder's runs from earlier sweeps: compared with this sweep's too
        out.write_comparisons(compare_methods([*records, *earlier], {**samples, **out.earlier_samples(earlier)},
                                              baseline=config.baseline, n_resamples=config.n_resamples)
                              if earlier else comparisons)
    return Sweep(records, samples, comparisons, plan, counts)


def _run_cells(sweep: _Sweep) -> Iterator[tuple[Record, list[Sample], Counter[str]]]:
    """Every cell of the sweep in this process, in plan order: (record, samples, the store's counts
    for this cell)."""
    for family, task, seed, loaded, protocol in sweep.protocols():
        for note in loaded.splits.notes:
            log.warning("%s: %s", task.name, note)
        for cell in sweep.cells(task, seed):
            before = Counter(sweep.store.counts)
            record, rows = family.run_cell(sweep, protocol, cell)
            yield record, rows, Counter(sweep.store.counts) - before


def single_cell_config(config: RunConfig, cell: Cell, method_spec: str) -> RunConfig:
    """The sweep's config cut to one cell: what a worker runs (``w2s_bench.backends``). Its weak
    supervisor and ceiling come from the shared artefact store when another cell stored them."""
    return replace(config, tasks=[cell.task.name], seeds=[cell.seed], weak=[cell.weak], strong=[cell.strong],
                   methods=[method_spec], output_path=None, all_pairs=True, backend="local")


def _available_tasks(registry: TaskRegistry, config: RunConfig) -> list[Task]:
    """The tasks to run, each checked for data before any training. A task named on the command line
    without data is an error; a member of a group or tag without data (e.g. a hub-only task when
    offline) is skipped with a warning, so ``--tasks toxicity`` runs what the machine can load."""
    available = []
    for name in registry.expand(config.tasks):
        try:
            task = registry.get(name)
            load_source(task.config, config.data_dir)
        except W2SError as exc:
            if name in config.tasks:
                raise
            log.warning("skipping %s (in a group you asked for): %s", name, exc.what)
            continue
        available.append(task)
    if not available:
        raise W2SError(f"none of the tasks {config.tasks} has data here", where="--tasks",
                       fix="point --data_dir at a local mirror, or check the network")
    return available


def _warn(record: Record) -> None:
    if isinstance(record, FailedRun):
        log.warning("%s failed in its %s step, the sweep goes on: %s", record.key, record.step, record.reason)
        return
    m, score = record.metrics, SAMPLE_TYPES[record.kind].score_metric
    floor = m.get("pgr_floor", "weak")
    if m["pgr_flag"]:
        log.warning("%s: the strong ceiling (%.3f) is not clearly above the %s model (%.3f): %s, so PGR is "
                    "undefined. Check the strong model's training (--strong_args), the --limit, or the model pair.",
                    record.key, m[f"ceiling_{score}"], "untuned strong" if floor == "base" else floor,
                    m[f"{floor}_{score}"], m["pgr_flag"])


class _StepFailed(Exception):
    """A protocol step of a cell raised a W2SError."""

    def __init__(self, step: str, error: W2SError) -> None:
        super().__init__(step)
        self.step, self.error = step, error


def _fit_steps(protocol: Protocol, cell: Cell) -> dict[str, Fitted]:
    """The cell's three protocol steps, in order (each from the store when it has it)."""
    steps = {"weak": lambda: protocol.weak(cell.weak), "ceiling": lambda: protocol.ceiling(cell.strong),
             "w2s": lambda: protocol.w2s(cell.weak, cell.strong, cell.method)}
    fitted = {}
    for step, fit in steps.items():
        try:
            fitted[step] = fit()
        except W2SError as exc:
            raise _StepFailed(step, exc) from exc
    return fitted


def cell_identity(protocol: Any, cell: Cell, config: RunConfig, kind: str) -> tuple[dict[str, Any], CellConfig, DataInfo]:
    """What every record of a cell says about it, whatever its family: its names (``RunIdentity``'s fields),
    its settings and its data."""
    loaded = protocol.loaded
    key = run_key(cell.task.name, cell.weak, cell.strong, cell.method.name, cell.seed)
    names = {"key": key, "task": cell.task.name, "weak": cell.weak, "strong": cell.strong, "method": cell.method.name,
             "seed": cell.seed, "kind": kind}
    cell_config = CellConfig(
        task=cell.task.name, task_version=cell.task.config.version, task_hash=cell.task.config_hash(),
        weak_model=protocol.identity("weak", cell.weak), strong_model=protocol.identity("strong", cell.strong),
        method=cell.method.name, method_params=cell.method.params, seed=cell.seed,
        limit=cell.task.config.run_limit(config.limit),
        n_resamples=config.n_resamples, min_gap=config.min_gap, task_metrics=cell.task.config.task_metrics)
    data = DataInfo(origin=loaded.source.origin, fingerprint=protocol.data_fingerprint,
                    sizes=SplitSizes(**loaded.splits.sizes()), notes=list(loaded.splits.notes),
                    class_names=loaded.class_names)
    return names, cell_config, data


@register_family("classification")
class ClassificationFamily(Family):
    """Classification, multiple choice and pairwise preference tasks: the protocol of ``w2s_bench.protocol``."""

    task_class = Task

    def protocol(self, sweep: _Sweep, loaded: LoadedTask, seed: int) -> Protocol:
        return sweep.models.protocol(loaded, seed, sweep.store)

    def plan_cell(self, sweep: _Sweep, protocol: Protocol, cell: Cell) -> list[tuple[str, str]]:
        for fit in protocol.fits(cell.weak, cell.strong, cell.method):
            sweep.check_counts(fit, protocol.loaded, cell.seed)
        return protocol.cell_keys(cell.weak, cell.strong, cell.method)

    def run_cell(self, sweep: _Sweep, protocol: Protocol, cell: Cell) -> tuple[Record, list[Sample]]:
        return _run_cell(protocol, cell, sweep.config)


def _run_cell(protocol: Protocol, cell: Cell, config: RunConfig) -> tuple[Record, list[Sample]]:
    start = time.perf_counter()
    loaded = protocol.loaded
    names, cell_config, data = cell_identity(protocol, cell, config, "classification")
    try:
        steps = _fit_steps(protocol, cell)
    except _StepFailed as failed:
        return FailedRun(**names, step=failed.step, error=type(failed.error).__name__, reason=str(failed.error),
                         config=cell_config, data=data, provenance=provenance()), []
    data.weak_label_accuracy = accuracy_of(steps["weak"].extra["train_b"], loaded.splits.train_b)
    metrics = run_metrics(*(steps[s].test_probs for s in STEPS), labels_of(loaded.splits.test),
                          task_metrics=cell_config.task_metrics, n_resamples=config.n_resamples, seed=cell.seed,
                          min_gap=config.min_gap)
    record = RunRecord(
        **names, metrics=metrics, config=cell_config, data=data,
        supervision=from_json(SupervisionInfo, steps["w2s"].info, "supervision"),
        training={s: from_json(TrainingLog | None, f.training, f"training.{s}") for s, f in steps.items()},
        artefacts={s: ArtefactRef(key=f.key, reused=f.reused) for s, f in steps.items()},
        seconds={**{s: round(f.seconds, 2) for s, f in steps.items()}, "cell": round(time.perf_counter() - start, 2)},
        provenance=provenance())
    return record, classification_samples(loaded.splits.test, {s: f.test_probs for s, f in steps.items()})
