"""The results format: typed records written and read back, the one reader's errors, version checks and
migration, and the shipped JSON Schemas (equal to the generated ones, and accepting what the harness writes)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from fakes import NoisyOracle, fake_record

import w2s_bench
from w2s_bench.errors import W2SError
from w2s_bench.metrics import run_metrics
from w2s_bench.records import (
    SCHEMA_VERSION,
    ChainLink,
    ChainSupervision,
    EnsembleMember,
    EnsembleSupervision,
    FailedRun,
    RunRecord,
    parse_record,
    read_results,
    read_samples,
    results_folder,
    to_json,
)
from w2s_bench.records.schema import SCHEMA_DIR, SCHEMAS, schema_text

SUPERVISIONS = [None, EnsembleSupervision(members=[EnsembleMember(model="a", member=0, test_acc=0.7, estimated_reliability=0.8),
                                                   EnsembleMember(model="a", member=1, test_acc=0.6)],
                                          combine="dawid_skene", supervisor_test_acc=0.72, label_accuracy=0.7),
                ChainSupervision(chain=[ChainLink(model="w", test_acc=0.6, label_acc=0.62),
                                        ChainLink(model="m", test_acc=0.7, label_acc=0.71)], label_accuracy=0.71)]


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_shipped_schema_is_the_generated_one(name):
    """The files in w2s_bench/schemas/ must be regenerated (python -m w2s_bench.records.schema) whenever a
    record type or the metric registry changes, so they can never describe another format than the code's."""
    assert (SCHEMA_DIR / name).read_text() == schema_text(name), f"regenerate {name}: python -m w2s_bench.records.schema"


@pytest.mark.parametrize("supervision", SUPERVISIONS, ids=["single", "ensemble", "chain"])
def test_a_record_round_trips_through_json_and_the_reader(tmp_path, supervision):
    record = fake_record(supervision=supervision, task_metrics=("balanced_acc",),
                         **{f"{m}_balanced_acc": 0.5 for m in ("weak", "ceiling", "w2s")})
    (tmp_path / "results.json").write_text(json.dumps(to_json([record])))
    (back,) = read_results(tmp_path)
    assert back == record and type(back.supervision) is type(record.supervision)
    assert not list(validator("results.schema.json").iter_errors(to_json([record])))


def run_keyword_sweep(keyword_task, register, out: Path) -> list:
    data_dir, tasks = keyword_task
    register("noisy-oracle", NoisyOracle, "keyword rule with 30% flips", size=1)
    return w2s_bench.run(tasks=["keywords"], include_paths=[str(tasks)], data_dir=str(data_dir), weak=["noisy-oracle"],
                         strong=["tfidf"], methods=["naive", "ensemble(seeds=2,combine=dawid_skene)", "bootstrap(via=tfidf)"],
                         seeds=[0], limit=200, n_resamples=50, output_path=str(out))


def test_every_file_a_sweep_writes_matches_its_schema_and_reads_back(keyword_task, register, tmp_path):
    """The property the leaderboard stands on: what the harness writes (results.json, runs/*.json,
    samples/*.jsonl, comparisons.json) is accepted by the shipped schemas and by read_results."""
    out = tmp_path / "out"
    records = run_keyword_sweep(keyword_task, register, out)
    assert {type(r.supervision).__name__ for r in records} == {"SingleSupervision", "EnsembleSupervision", "ChainSupervision"}
    results = validator("results.schema.json")
    files = [out / "results.json", *sorted((out / "runs").glob("*.json"))]
    assert len(files) == 1 + len(records)
    for file in files:
        errors = [e.message for e in results.iter_errors(json.loads(file.read_text()))]
        assert not errors, (file.name, errors[:3])
    samples = validator("samples.schema.json")
    for file in sorted((out / "samples").glob("*.jsonl")):
        for line in file.read_text().splitlines():
            assert not list(samples.iter_errors(json.loads(line))), file.name
    assert not list(validator("comparisons.schema.json").iter_errors(json.loads((out / "comparisons.json").read_text())))

    assert read_results(out) == records == read_results(out / "results.json")
    assert sorted(read_results(out / "runs"), key=lambda r: r.key) == sorted(records, key=lambda r: r.key)
    one = out / "runs" / f"{records[0].key}.json"
    assert read_results(one) == [records[0]] and results_folder(one) == out
    # the samples hold the run's probabilities at full precision: every metric recomputes exactly from them,
    # with the settings the record carries (what a leaderboard validator does)
    for record in records:
        rows = read_samples(out, record)
        assert len(rows) == record.data.sizes.test == record.metrics["n_test"]
        probs = [np.array([getattr(r, m) for r in rows]) for m in ("weak", "ceiling", "w2s")]
        again = run_metrics(*probs, np.array([r.label for r in rows]), task_metrics=record.config.task_metrics,
                            n_resamples=record.config.n_resamples, seed=record.seed, min_gap=record.config.min_gap)
        assert again == record.metrics


def test_the_schema_rejects_what_the_reader_rejects(tmp_path):
    good = to_json(fake_record())
    results = validator("results.schema.json")
    for change in ({"metrics": {**good["metrics"], "pgr_ci": 0.4}}, {"status": "done"}, {"seed": "0"},
                   {"schema_version": 99}, {"supervision": {"kind": "committee"}}):
        bad = {**good, **change}
        assert list(results.iter_errors(bad)), change
        with pytest.raises(W2SError):
            parse_record(bad)
    lacking = {**good, "metrics": {k: v for k, v in good["metrics"].items() if k != "pgr"}}
    assert list(results.iter_errors(lacking))


def write(folder: Path, records: list) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(records))
    return folder / "results.json"


@pytest.mark.parametrize(("change", "field", "what"), [
    (lambda r: r["metrics"].update(pgr_ci=0.4), "metrics.pgr_ci", "expected an interval"),
    (lambda r: r["metrics"].pop("w2s_acc"), "metrics.w2s_acc", "missing"),
    (lambda r: r["supervision"].update(kind="committee"), "supervision.kind", "expected one of"),
    (lambda r: r["data"]["sizes"].update(test="many"), "data.sizes.test", "expected an integer"),
    (lambda r: r["config"].update(task_metrics=["bogus"]), "config.task_metrics", "not a metric"),
    (lambda r: r.update(colour="red"), "colour", "unknown field"),
    (lambda r: r.update(kind="vision"), "kind", "unknown kind"),
])
def test_a_bad_record_names_file_record_and_field(tmp_path, change, field, what):
    records = to_json([fake_record(method="naive"), fake_record(method="logconf")])
    change(records[1])
    file = write(tmp_path, records)
    with pytest.raises(W2SError) as error:
        read_results(file)
    message = str(error.value)
    assert f"{file}: record 1 (t__w__s__logconf__seed0): {field}" in message and what in message and "fix:" in message


def test_schema_versions_newer_older_and_missing(tmp_path):
    record = to_json(fake_record())
    with pytest.raises(W2SError, match="unknown schema_version 99.*\n.*upgrade w2s-bench"):
        read_results(write(tmp_path / "new", [{**record, "schema_version": 99}]))
    with pytest.raises(W2SError, match="schema_version 1 is too old.*\n.*rerun"):
        read_results(write(tmp_path / "old", [{**record, "schema_version": 1}]))
    with pytest.raises(W2SError, match="no schema_version: not a w2s-bench run record"):
        read_results(write(tmp_path / "none", [{"task": "sst2", "metrics": {}}]))


def as_version_2(record: dict) -> dict:
    """A record as w2s-bench wrote it with schema_version 2: untyped supervision, no status, kind or task_metrics."""
    v2 = copy.deepcopy(record)
    for key in ("status", "kind"):
        v2.pop(key)
    v2["schema_version"] = 2
    v2["supervision"].pop("kind")
    v2["config"].pop("task_metrics")
    return v2


def test_version_2_records_are_migrated(tmp_path):
    metrics = {f"{m}_{name}": 0.5 for m in ("weak", "ceiling", "w2s") for name in ("auroc", "ece")}
    records = [fake_record(method=f"m{i}", supervision=s, **metrics) for i, s in enumerate(SUPERVISIONS)]
    migrated = read_results(write(tmp_path, [as_version_2(r) for r in to_json(records)]))
    assert all(r.schema_version == SCHEMA_VERSION for r in migrated)
    assert [type(r.supervision) for r in migrated] == [type(r.supervision) for r in records]
    assert all(r.config.task_metrics == ["auroc", "ece"] for r in migrated)
    assert [r.metrics for r in migrated] == [r.metrics for r in records]


def test_a_folder_without_results_and_missing_samples_are_clear_errors(tmp_path):
    with pytest.raises(W2SError, match="no results.json and no runs"):
        read_results(tmp_path)
    with pytest.raises(W2SError, match="no per-sample rows"):
        read_samples(tmp_path, fake_record())
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "t__w__s__naive__seed0.jsonl").write_text('{"id": "a", "label": "one", "weak": []}\n')
    with pytest.raises(W2SError, match=r"line 1: label: expected an integer"):
        read_samples(tmp_path, fake_record())


def test_failed_runs_are_typed_records_too():
    failed = parse_record(to_json(FailedRun(**{k: v for k, v in vars(fake_record()).items()
                                               if k in ("kind", "key", "task", "weak", "strong", "method", "seed", "config",
                                                        "data", "provenance")},
                                            step="w2s", error="W2SError", reason="the targets contain a single class")))
    assert isinstance(failed, FailedRun) and not isinstance(failed, RunRecord) and failed.status == "failed"
    assert not list(validator("results.schema.json").iter_errors(to_json(failed)))
