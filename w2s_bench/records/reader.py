"""The one reader of results: run records and their per-sample rows, checked field by field.

Everything that reads results goes through here (tables, ``compare``, ``plot``, validators), so a bad file
is reported once, the same way, naming the file, the record (index and key) and the field:

    results.json: record 3 (sst2__tfidf__minilm-l6__naive__seed0): metrics.pgr_ci: expected an interval [low, high], got 0.4

``schema_version`` is checked first: a newer version is refused with the fix (upgrade w2s-bench), version 2
to 4 are migrated, version 1 is refused with the fix (rerun). Metrics are checked against the registry: the
metrics a run of its kind always reports must be there, and every value must have its metric's type.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from w2s_bench.errors import W2SError
from w2s_bench.metrics.registry import reported_metrics, task_metric_names, value_problem
from w2s_bench.records.codec import FieldError, field_hints, from_json
from w2s_bench.records.types import SAMPLE_TYPES, SCHEMA_VERSION, Record, RunRecord, Sample

_FIX = "pass a run's --output_path folder, its results.json, or one of its runs/<key>.json files"


def read_results(path: str | Path) -> list[Record]:
    """The records of a results set: a ``results.json`` (a list of records), a ``runs/<key>.json`` (one
    record), a ``runs/`` folder (every record in it) or a run's ``--output_path`` folder (its results.json,
    else every runs/*.json)."""
    path = Path(path)
    if path.is_dir():
        runs = path if path.name == "runs" else path / "runs"
        files = [path / "results.json"] if (path / "results.json").is_file() else sorted(runs.glob("*.json"))
        if not files:
            raise W2SError("folder has no results.json and no runs/*.json", where=str(path), fix=_FIX)
    elif path.is_file():
        files = [path]
    else:
        raise W2SError("no such results file or folder", where=str(path), fix=_FIX)
    return [record for file in files for record in _read_file(file)]


def results_folder(path: str | Path) -> Path:
    """The ``--output_path`` folder a results path belongs to (where ``samples/`` is)."""
    path = Path(path)
    if path.is_dir():
        return path
    return path.parent.parent if path.parent.name == "runs" else path.parent


def read_samples(folder: str | Path, record: RunRecord) -> list[Sample]:
    """The per-sample rows of ``record`` from ``folder/samples/<key>.jsonl`` (``folder``: see :func:`results_folder`)."""
    file = Path(folder) / "samples" / f"{record.key}.jsonl"
    if not file.is_file():
        raise W2SError(f"no per-sample rows for run {record.key}", where=str(file),
                       fix="samples/ must hold the run's rows beside results.json, as the run wrote them")
    sample_type = SAMPLE_TYPES[record.kind]
    rows = []
    for number, line in enumerate(_text(file).splitlines(), start=1):
        try:
            rows.append(from_json(sample_type, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise W2SError(f"not valid JSON ({exc})", where=f"{file}: line {number}", fix="rerun the run") from exc
        except FieldError as exc:
            raise W2SError(exc.what, where=f"{file}: line {number}: {exc.path}",
                           fix=f"a {sample_type.__name__} row has {', '.join(field_hints(sample_type))}") from exc
    return rows


def parse_record(value: Any, where: str = "record") -> Record:
    """One record from parsed JSON, migrated to the current version and checked, or a W2SError naming
    ``where`` and the field."""
    if isinstance(value, dict) and isinstance(value.get("key"), str):
        where = f"{where} ({value['key']})"
    if not isinstance(value, dict):
        raise W2SError(f"expected a run record (a JSON object), got {type(value).__name__}", where=where, fix=_FIX)
    value = _migrated(value, where)
    try:
        record = from_json(Record, value)
    except FieldError as exc:
        raise W2SError(exc.what, where=f"{where}: {exc.path}", fix="compare with the JSON Schema shipped in "
                       "w2s_bench/schemas/results.schema.json") from exc
    _check_metrics(record, where)
    return record


def _read_file(file: Path) -> list[Record]:
    try:
        data = json.loads(_text(file))
    except json.JSONDecodeError as exc:
        raise W2SError(f"not valid JSON ({exc})", where=str(file), fix=_FIX) from exc
    if isinstance(data, list):
        return [parse_record(item, f"{file}: record {i}") for i, item in enumerate(data)]
    return [parse_record(data, str(file))]


def _text(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise W2SError(f"not UTF-8 text ({exc})", where=str(file), fix=_FIX) from exc


def _migrated(value: dict[str, Any], where: str) -> dict[str, Any]:
    """``value`` in the current schema version, or a W2SError that says what to do."""
    version = value.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise W2SError(f"schema_version is {version!r}, not a version number" if "schema_version" in value
                       else "no schema_version: not a w2s-bench run record", where=f"{where}: schema_version", fix=_FIX)
    if version > SCHEMA_VERSION:
        raise W2SError(f"unknown schema_version {version}: this w2s-bench reads versions 2 to {SCHEMA_VERSION}",
                       where=f"{where}: schema_version", fix="upgrade w2s-bench (pip install -U w2s-bench) to read it")
    if version < 2:
        raise W2SError(f"schema_version {version} is too old to read (version 2 is the oldest this w2s-bench migrates)",
                       where=f"{where}: schema_version", fix="rerun the command that made it with this w2s-bench")
    if version == 2:
        value = _from_v2(value)
    if value["schema_version"] == 3:
        value = _from_v3(value)
    return _from_v4(value) if value["schema_version"] == 4 else value


def _from_v2(value: dict[str, Any]) -> dict[str, Any]:
    """Version 2 -> 3: every v2 record is a finished classification run; its untyped supervision info is
    typed by the keys each method wrote; v2 always reported AUROC and ECE."""
    info = dict(value.get("supervision") or {})
    info["kind"] = "chain" if "chain" in info else "ensemble" if "supervisor_test_acc" in info else "single"
    metrics = value.get("metrics") if isinstance(value.get("metrics"), dict) else {}
    config = value.get("config")
    if isinstance(config, dict):
        config = {**config, "task_metrics": [m for m in ("auroc", "ece") if f"weak_{m}" in metrics]}
    return {**value, "schema_version": 3, "status": "ok", "kind": "classification", "supervision": info,
            "config": config}


def _from_v3(value: dict[str, Any]) -> dict[str, Any]:
    """Version 3 -> 4: v3 had classification runs only, which have no judge; nothing else changed."""
    return {**value, "schema_version": 4}


def _from_v4(value: dict[str, Any]) -> dict[str, Any]:
    """Version 4 -> 5: a v4 generation run's PGR started from the weak model (no search methods yet), and it
    did not report the win rate (None: the record alone cannot give it). Classification runs are unchanged."""
    metrics = value.get("metrics")
    if value.get("kind") == "generation" and value.get("status") == "ok" and isinstance(metrics, dict):
        value = {**value, "metrics": {"pgr_floor": "weak", "win_rate": None, **metrics}}
    return {**value, "schema_version": SCHEMA_VERSION}


def _check_metrics(record: Record, where: str) -> None:
    if record.kind not in SAMPLE_TYPES:
        raise W2SError(f"unknown kind {record.kind!r}", where=f"{where}: kind",
                       fix=f"this w2s-bench knows {', '.join(SAMPLE_TYPES)}: upgrade it to read other kinds")
    allowed = task_metric_names(record.kind)
    for name in record.config.task_metrics:
        if name not in allowed:
            raise W2SError(f"{name!r} is not a metric a {record.kind} task can add", where=f"{where}: config.task_metrics",
                           fix=f"one of {', '.join(allowed)}")
    if not isinstance(record, RunRecord):
        return
    for metric in reported_metrics(record.kind, record.config.task_metrics):
        for key in metric.keys():
            if key not in record.metrics:
                raise W2SError("missing" + ("" if metric.protocol else f" (the task's metric_list names {metric.name})"),
                               where=f"{where}: metrics.{key}", fix="every run of this kind reports it: rerun the run")
    for key, value in record.metrics.items():
        problem = value_problem(key, value)
        if problem:
            raise W2SError(problem, where=f"{where}: metrics.{key}", fix="rerun the run, or restore the value it wrote")
