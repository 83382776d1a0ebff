"""``w2s-bench leaderboard validate``: is a submission what it claims to be?

Level 1 (:func:`validate_submission`; always, offline, seconds) trusts nothing in the folder:

1. files: only ``submission.yaml``, ``results.json``, ``runs/*.json`` and ``samples/*.jsonl``, no links,
   and a name that cannot reach outside the submissions folder;
2. schema: every record read by ``read_results`` (the one reader), the runs/ files equal to results.json's
   records, ``submission.yaml`` typed and equal to what the records say (models, method, hardware,
   w2s-bench version and commit);
3. cells: one (weak, strong, method) and one set of settings; each record's key, seed and cell agree;
   no (task, seed) twice; split sizes, ``n_test`` and the samples agree;
4. tasks: each task exists here with the record's version and config hash;
5. data: the test split is rebuilt from the task's own data (``--data_dir``) for the record's seed and
   ``--limit``, and its example ids and gold labels must be the samples', in order; the data fingerprint
   and split sizes must be the rebuilt ones. Without the data this check is reported as not done;
6. metrics: every metric is recomputed from the samples' probabilities with the registry's functions and
   the record's settings; counts and accuracies must be equal, other numbers within :data:`TOLERANCE`.

Level 2 (:func:`rerun_cells`, ``--rerun N``) trains N randomly chosen cells again, from scratch, with the
recorded config, and checks them with ``w2s-bench compare``'s tolerances.

Each problem names the submission, the file, the record and the field.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from w2s_bench.errors import W2SError
from w2s_bench.leaderboard.submission import (
    FOLDERS,
    META_FILE,
    RESULTS_FILE,
    SubmissionMeta,
    cells,
    check_name,
    derived_fields,
    read_meta,
)
from w2s_bench.metrics import run_metrics
from w2s_bench.metrics.registry import metric_for_key
from w2s_bench.records import Record, RunRecord, Sample, read_results, read_samples, to_json
from w2s_bench.results import run_key
from w2s_bench.tasks import Task, TaskRegistry
from w2s_bench.tasks.data import local_split_sizes
from w2s_bench.tasks.splits import ProtocolSplits

TOLERANCE = 1e-6  # for recomputed metrics other than counts and accuracies (which must be equal)
EXACT_METRICS = ("acc", "balanced_acc", "agreement")  # shares of counted examples: equal, not close
SETTINGS = ("limit", "n_resamples", "min_gap", "method_params")  # one value per submission


@dataclass(frozen=True)
class Problem:
    """One reason a submission is rejected: where (file, record, field) and what."""

    submission: str
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.submission}: {self.where}: {self.what}"


@dataclass
class Validation:
    """The outcome for one submission folder: the problems (none: valid), the checks that could not be
    done and why (e.g. no local data), and its records when they could be read."""

    folder: Path
    problems: list[Problem] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    meta: SubmissionMeta | None = None

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, where: str, what: str) -> None:
        self.problems.append(Problem(self.name, where, what))


def validate_submission(folder: str | Path, data_dir: str | Path | None = None,
                        include_paths: Iterable[str | Path] = ()) -> Validation:
    """Level 1: every check of the module docstring; problems are collected, not raised."""
    result = Validation(Path(folder))
    try:
        check_name(result.name, where=str(result.folder))
    except W2SError as exc:
        result.add(str(result.folder), exc.what)
        return result
    if result.folder.is_symlink() or not result.folder.is_dir():
        result.add(str(result.folder), "not a submission folder (a folder, not a link)")
        return result
    _check_files(result)
    try:
        result.meta = read_meta(result.folder)
    except W2SError as exc:
        result.add(exc.where or META_FILE, exc.what)
    try:
        result.records = read_results(result.folder / RESULTS_FILE)
    except W2SError as exc:
        result.add(exc.where or RESULTS_FILE, exc.what)
        return result
    if not result.records:
        result.add(RESULTS_FILE, "has no records")
        return result
    _check_runs_folder(result)
    _check_cells(result)
    if result.meta is not None:
        _check_meta(result, result.meta)
    registry = TaskRegistry.discover(include_paths)
    for index, record in enumerate(result.records):
        where = f"{result.folder / RESULTS_FILE}: record {index} ({record.key})"
        if _check_task(result, registry, record, where) and isinstance(record, RunRecord):
            _check_run(result, registry, record, where, data_dir)
    return result


# -- 1. files --------------------------------------------------------------------------------------------------

def _check_files(result: Validation) -> None:
    allowed_here = {META_FILE, RESULTS_FILE, *FOLDERS}
    for path in sorted(result.folder.iterdir()):
        if path.is_symlink():
            result.add(str(path), "a link: submissions hold plain files only")
        elif path.name not in allowed_here:
            result.add(str(path), f"not allowed in a submission (only {META_FILE}, {RESULTS_FILE}, runs/*.json and "
                                  "samples/*.jsonl: JSON and YAML, never pickle)")
        elif path.name in FOLDERS:
            if not path.is_dir():
                result.add(str(path), "must be a folder")
                continue
            for inner in sorted(path.iterdir()):
                if inner.is_symlink() or not inner.is_file() or inner.suffix != FOLDERS[path.name]:
                    result.add(str(inner), f"not allowed in {path.name}/ (only *{FOLDERS[path.name]} files, no links "
                                           "or folders)")
                else:
                    _check_json_text(result, inner)
        elif path.is_dir():
            result.add(str(path), "must be a file")


def _check_json_text(result: Validation, path: Path) -> None:
    """A runs/ or samples/ file is UTF-8 JSON (one value per line for .jsonl): not pickle, not binary."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        result.add(str(path), "not UTF-8 text: only JSON files are accepted (never pickle)")
        return
    lines = text.splitlines() if path.suffix == ".jsonl" else [text]
    for number, line in enumerate(lines, start=1):
        try:
            json.loads(line)
        except json.JSONDecodeError as exc:
            at = f"line {number}: " if path.suffix == ".jsonl" else ""
            result.add(str(path), f"{at}not valid JSON ({exc.msg}): only JSON files are accepted (never pickle)")
            return


# -- 2. schema: runs/ and submission.yaml ------------------------------------------------------------------------

def _check_runs_folder(result: Validation) -> None:
    by_key = {r.key: r for r in result.records}
    runs = result.folder / "runs"
    present = {p.stem for p in runs.glob("*.json")} if runs.is_dir() else set()
    for key in sorted(by_key.keys() - present):
        result.add(str(runs / f"{key}.json"), "missing: every record of results.json has its runs/ file")
    for key in sorted(present - by_key.keys()):
        result.add(str(runs / f"{key}.json"), "not a record of results.json")
    for key in sorted(present & by_key.keys()):
        try:
            (record,) = read_results(runs / f"{key}.json")
        except (W2SError, ValueError) as exc:
            result.add(str(runs / f"{key}.json"), getattr(exc, "what", str(exc)))
            continue
        if to_json(record) != to_json(by_key[key]):
            result.add(str(runs / f"{key}.json"), "differs from its record in results.json")


def _check_meta(result: Validation, meta: SubmissionMeta) -> None:
    where = str(result.folder / META_FILE)
    if meta.name != result.name:
        result.add(f"{where}: name", f"is {meta.name!r}, but the folder is {result.name!r}")
    if not meta.command.strip():
        result.add(f"{where}: command", "is empty: give the exact command that produced results.json")
    for key, expected in derived_fields(result.records).items():
        claimed = to_json(getattr(meta, key))
        if claimed != to_json(expected):
            result.add(f"{where}: {key}", f"is {claimed!r}, but the records say {to_json(expected)!r}")


# -- 3. cells, seeds and sizes ---------------------------------------------------------------------------------

def _check_cells(result: Validation) -> None:
    file = result.folder / RESULTS_FILE
    found = cells(result.records)
    if len(found) > 1:
        result.add(str(file), f"holds {len(found)} (weak, strong, method) cells ({', '.join('/'.join(c) for c in found)}): "
                              "a submission is one")
    first = result.records[0].config
    seen: dict[tuple[str, int], int] = {}
    for index, record in enumerate(result.records):
        where = f"{file}: record {index} ({record.key})"
        for setting in SETTINGS:
            if getattr(record.config, setting) != getattr(first, setting):
                result.add(f"{where}: config.{setting}", f"is {getattr(record.config, setting)!r}, record 0 has "
                           f"{getattr(first, setting)!r}: one submission has one setting")
        expected_key = run_key(record.task, record.weak, record.strong, record.method, record.seed)
        if record.key != expected_key:
            result.add(f"{where}: key", f"is {record.key!r}, its cell and seed make {expected_key!r}")
        for name, value in (("task", record.task), ("seed", record.seed), ("method", record.method)):
            if getattr(record.config, name) != value:
                result.add(f"{where}: config.{name}", f"is {getattr(record.config, name)!r}, the record says {value!r}")
        other = seen.setdefault((record.task, record.seed), index)
        if other != index:
            result.add(f"{where}: seed", f"task {record.task} seed {record.seed} is also record {other}")
        if isinstance(record, RunRecord):
            if record.metrics["n_test"] != record.data.sizes.test:
                result.add(f"{where}: metrics.n_test", f"is {record.metrics['n_test']}, data.sizes.test is "
                           f"{record.data.sizes.test}")
            if record.config.limit is not None and record.data.sizes.test > record.config.limit:
                result.add(f"{where}: data.sizes.test", f"is {record.data.sizes.test}, above --limit {record.config.limit}")


# -- 4. tasks --------------------------------------------------------------------------------------------------

def _check_task(result: Validation, registry: TaskRegistry, record: Record, where: str) -> bool:
    if record.task not in registry.tasks:
        result.add(f"{where}: task", f"{record.task!r} is not a task of this w2s-bench")
        return False
    task = registry.get(record.task)
    ok = True
    if record.config.task_version != task.config.version:
        result.add(f"{where}: config.task_version", f"is {record.config.task_version}, the shipped {record.task} is "
                   f"version {task.config.version} ({task.config.source_file})")
        ok = False
    if record.config.task_hash != task.config_hash():
        result.add(f"{where}: config.task_hash", f"is {record.config.task_hash}, the shipped {record.task} hashes to "
                   f"{task.config_hash()}: its examples are made differently")
        ok = False
    return ok


# -- 5. data and 6. metrics --------------------------------------------------------------------------------------

_REBUILT: dict[tuple[str, str, int, int | None, str | None], ProtocolSplits] = {}


def _rebuilt(task: Task, seed: int, limit: int | None, data_dir: str | Path | None) -> ProtocolSplits:
    """The protocol splits of ``task`` for one seed and --limit, rebuilt from the data (once per process:
    four submissions of one suite share their splits)."""
    key = (str(task.config.source_file), task.config_hash(), seed, limit, None if data_dir is None else str(data_dir))
    if key not in _REBUILT:
        _REBUILT[key] = task.load(seed, limit=limit, data_dir=data_dir).splits
    return _REBUILT[key]


def _check_run(result: Validation, registry: TaskRegistry, record: RunRecord, where: str,
               data_dir: str | Path | None) -> None:
    try:
        rows = read_samples(result.folder, record)
    except W2SError as exc:
        result.add(exc.where or "samples", exc.what)
        return
    samples_file = result.folder / "samples" / f"{record.key}.jsonl"
    if len(rows) != record.metrics["n_test"]:
        result.add(str(samples_file), f"has {len(rows)} rows, the record's metrics.n_test is {record.metrics['n_test']}")
    ids = [row.id for row in rows]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        result.add(str(samples_file), f"example ids repeat: {', '.join(repeated[:5])}")
    _check_against_data(result, registry, record, rows, samples_file, where, data_dir)
    _check_metrics(result, record, rows, samples_file, where)


def _check_against_data(result: Validation, registry: TaskRegistry, record: RunRecord, rows: list[Sample],
                        samples_file: Path, where: str, data_dir: str | Path | None) -> None:
    task = registry.get(record.task)
    if local_split_sizes(task.config, data_dir) is None:
        result.unchecked.append(f"{where}: test ids and gold labels not checked: no local data for {record.task} "
                                f"({task.config.dataset_path}; pass --data_dir or set W2S_BENCH_DATA_DIR)")
        return
    try:
        splits = _rebuilt(task, record.seed, record.config.limit, data_dir)
    except W2SError as exc:
        result.add(f"{where}: data", f"the test split could not be rebuilt: {exc.what}")
        return
    test = splits.test
    if len(test) != len(rows):
        result.add(str(samples_file), f"has {len(rows)} rows, the task's test split (seed {record.seed}, --limit "
                   f"{record.config.limit}) has {len(test)}")
    for number, (row, example) in enumerate(zip(rows, test, strict=False), start=1):
        if row.id != example.id:
            have, known = {r.id for r in rows}, {ex.id for ex in test}
            if row.id not in known:
                what = f"is {row.id!r}, not an example of the task's test split (expected {example.id!r} here)"
            elif example.id not in have:
                what = f"example {example.id!r} of the test split is missing"
            else:
                what = f"is {row.id!r}, the test split has {example.id!r} here (rows out of order)"
            result.add(f"{samples_file}: line {number}: id", what)
            break
        if row.label != example.label:
            result.add(f"{samples_file}: line {number} ({row.id}): label",
                       f"is {row.label}, the task's gold label is {example.label}")
            break
    if len(rows) < len(test) and all(r.id == e.id for r, e in zip(rows, test, strict=False)):
        result.add(str(samples_file), f"example {test[len(rows)].id!r} of the test split is missing")
    if record.data.fingerprint != splits.fingerprint():
        result.add(f"{where}: data.fingerprint", f"is {record.data.fingerprint}, the rebuilt splits hash to "
                   f"{splits.fingerprint()}")
    if to_json(record.data.sizes) != splits.sizes():
        result.add(f"{where}: data.sizes", f"is {to_json(record.data.sizes)}, the rebuilt splits have {splits.sizes()}")


def _check_metrics(result: Validation, record: RunRecord, rows: list[Sample], samples_file: Path, where: str) -> None:
    try:
        probs = [np.array([getattr(r, m) for r in rows], dtype=np.float64) for m in ("weak", "ceiling", "w2s")]
        again = run_metrics(*probs, np.array([r.label for r in rows]), task_metrics=record.config.task_metrics,
                            n_resamples=record.config.n_resamples, seed=record.seed, min_gap=record.config.min_gap)
    except (ValueError, W2SError) as exc:
        result.add(str(samples_file), f"the metrics cannot be recomputed from these rows: {exc}")
        return
    for key in sorted(record.metrics.keys() | again.keys()):
        if key not in again:
            result.add(f"{where}: metrics.{key}", "is not a metric this run reports (not recomputed from the samples)")
        elif key not in record.metrics:
            result.add(f"{where}: metrics.{key}", "missing: the samples give it")
        elif not _equal(key, record.metrics[key], again[key]):
            result.add(f"{where}: metrics.{key}", f"claims {record.metrics[key]!r}, the samples give {again[key]!r}")


def _equal(key: str, claimed: Any, recomputed: Any) -> bool:
    metric = metric_for_key(key)
    exact = metric is None or metric.value in ("count", "flag") or metric.name in EXACT_METRICS
    if claimed is None or recomputed is None or isinstance(claimed, str) or isinstance(recomputed, str):
        return claimed == recomputed
    if isinstance(claimed, list) or isinstance(recomputed, list):
        return (isinstance(claimed, list) and isinstance(recomputed, list) and len(claimed) == len(recomputed)
                and all(_equal(key, a, b) for a, b in zip(claimed, recomputed, strict=True)))
    if isinstance(claimed, bool) or not isinstance(claimed, (int, float)):
        return False
    return claimed == recomputed if exact else math.isclose(claimed, recomputed, rel_tol=0, abs_tol=TOLERANCE)


# -- level 2 ---------------------------------------------------------------------------------------------------

def rerun_cells(validation: Validation, n: int, *, data_dir: str | Path | None = None, seed: int = 0,
                include_paths: Iterable[str | Path] = (), tolerance: dict[str, float] | None = None,
                ) -> tuple[list[Record], Any]:
    """Level 2: train ``n`` of the submission's finished runs again, chosen at random (``seed``), from scratch
    (no artefact cache) with their recorded config, and check them with ``compare``'s tolerances (two-sided:
    a rerun must reproduce the claim, not beat it). Returns the chosen records and the regression check."""
    import w2s_bench
    from w2s_bench.report.regression import DEFAULT_METRICS, check_against_baseline

    finished = [r for r in validation.records if isinstance(r, RunRecord)]
    chosen = random.Random(seed).sample(finished, min(n, len(finished)))
    again: list[Record] = []
    for record in chosen:
        config = record.config  # the record's method is its spec as written, e.g. logconf(alpha_max=0.5)
        again += w2s_bench.run(tasks=[record.task], include_paths=[str(p) for p in include_paths], weak=[record.weak],
                               strong=[record.strong], methods=[record.method], seeds=[record.seed], limit=config.limit,
                               data_dir=None if data_dir is None else str(data_dir),
                               weak_args=config.weak_model.get("params") or {},
                               strong_args=config.strong_model.get("params") or {}, n_resamples=config.n_resamples,
                               min_gap=config.min_gap, cache_dir=None, all_pairs=True)
    return chosen, check_against_baseline(again, chosen, tolerance, DEFAULT_METRICS, two_sided=True)
