"""Leaderboard submissions: ``submit`` copies a run into the layout, ``validate`` accepts it and rejects
every tampered copy with a message naming the submission, the file, the record and the field.

The run is real (the harness on the keyword task, with two fake models that need no training, so the
fixture takes seconds); every check of level 1 runs on it, data included.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fakes import NoisyOracle, write_keyword_task

import w2s_bench
from w2s_bench.cli import main
from w2s_bench.errors import W2SError
from w2s_bench.leaderboard.submission import read_meta, submit
from w2s_bench.leaderboard.validate import validate_submission
from w2s_bench.models import ALIASES, register_model


class Oracle(NoisyOracle):
    """The strong fake: the keyword rule with 5% flips."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed, flip=0.05)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(data dir, tasks dir, output folder) of a two-seed run on the keyword task."""
    root = tmp_path_factory.mktemp("submission_run")
    data, tasks = write_keyword_task(root)
    register_model("lb-noisy", NoisyOracle, "keyword rule, 30% flips", size=1)
    register_model("lb-oracle", Oracle, "keyword rule, 5% flips", size=2)
    try:
        w2s_bench.run(tasks=["keywords"], include_paths=[str(tasks)], data_dir=str(data), weak=["lb-noisy"],
                      strong=["lb-oracle"], methods=["naive", "naive_hard"], seeds=[0, 1], limit=150, n_resamples=50,
                      output_path=str(root / "out"), cache_dir=None)
    finally:
        ALIASES.pop("lb-noisy", None)
        ALIASES.pop("lb-oracle", None)
    return data, tasks, root / "out"


@pytest.fixture(scope="module")
def submitted(run, tmp_path_factory) -> Path:
    _, _, out = run
    return submit(out, "noisy-oracle-naive", who="the tests", command="w2s_bench.run(...) in tests", method="naive",
                  root=tmp_path_factory.mktemp("submissions"))


@pytest.fixture
def copy(submitted, tmp_path) -> Path:
    """A fresh copy of the valid submission, to tamper with."""
    return Path(shutil.copytree(submitted, tmp_path / submitted.name))


def check(folder: Path, run) -> list[str]:
    data, tasks, _ = run
    result = validate_submission(folder, data, [tasks])
    assert not result.unchecked
    return [str(p) for p in result.problems]


def edit_record(folder: Path, index: int, change) -> str:
    """Apply ``change`` to record ``index`` in results.json and in its runs/ file alike (a careful forger);
    returns the record's key."""
    records = json.loads((folder / "results.json").read_text())
    change(records[index])
    (folder / "results.json").write_text(json.dumps(records))
    key = records[index]["key"]
    (folder / "runs" / f"{key}.json").write_text(json.dumps(records[index]))
    return key


def test_submit_writes_the_layout_and_the_copy_validates(submitted, run):
    assert sorted(p.name for p in submitted.iterdir()) == ["results.json", "runs", "samples", "submission.yaml"]
    assert len(list((submitted / "samples").glob("*.jsonl"))) == 2  # naive only, seeds 0 and 1
    meta = read_meta(submitted)
    assert (meta.name, meta.method, meta.weak.id, meta.strong.id) == ("noisy-oracle-naive", "naive", "lb-noisy", "lb-oracle")
    assert meta.produced_by == "w2s-bench on CPU" and meta.command == "w2s_bench.run(...) in tests"
    assert check(submitted, run) == []


def test_submit_writes_an_older_run_in_the_current_schema(run, tmp_path):
    """A run made by an older w2s-bench (schema 4 here) is submitted in the current schema: its runs/ files
    too, not copied as they were (the shipped JSON Schema accepts only the current version)."""
    from w2s_bench.records import SCHEMA_VERSION

    _, _, out = run
    old = Path(shutil.copytree(out, tmp_path / "old"))
    for path in [old / "results.json", *(old / "runs").glob("*.json")]:
        text = path.read_text().replace(f'"schema_version": {SCHEMA_VERSION}', '"schema_version": 4')
        assert '"schema_version": 4' in text
        path.write_text(text)
    folder = submit(old, "old-run", who="the tests", command="c", method="naive", root=tmp_path / "submissions")
    versions = {json.loads(p.read_text())["schema_version"] for p in (folder / "runs").glob("*.json")}
    assert versions == {SCHEMA_VERSION} and check(folder, run) == []


def test_submit_refuses_a_run_of_several_cells_and_names_that_escape(run, tmp_path):
    _, _, out = run
    with pytest.raises(W2SError, match="one \\(weak, strong, method\\).*lb-noisy/lb-oracle/naive_hard"):
        submit(out, "both", who="x", command="c", root=tmp_path)
    for name in ("../evil", "..", "a/b", ".hidden", "x..y", ""):
        with pytest.raises(W2SError, match="cannot be a submission name"):
            submit(out, name, who="x", command="c", root=tmp_path, method="naive")
    assert list(tmp_path.iterdir()) == []  # nothing written, nothing left half-copied


@pytest.mark.parametrize(("field", "change"), [
    ("metrics.w2s_acc", lambda r: r["metrics"].update(w2s_acc=r["metrics"]["w2s_acc"] + 0.01)),
    ("metrics.pgr_ci", lambda r: r["metrics"]["pgr_ci"].__setitem__(1, r["metrics"]["pgr_ci"][1] + 0.05)),
    ("metrics.pgr", lambda r: r["metrics"].update(pgr=r["metrics"]["pgr"] + 1e-4)),
    ("metrics.n_test", lambda r: r["metrics"].update(n_test=r["metrics"]["n_test"] - 1)),
])
def test_one_edited_number_is_rejected_naming_record_and_field(copy, run, field, change):
    key = edit_record(copy, 1, change)
    problems = check(copy, run)
    assert any(p.startswith(f"{copy.name}: {copy / 'results.json'}: record 1 ({key}): {field}:") for p in problems), problems


def test_an_edit_in_results_json_alone_differs_from_its_runs_file(copy, run):
    records = json.loads((copy / "results.json").read_text())
    records[0]["metrics"]["weak_acc"] = 0.99
    (copy / "results.json").write_text(json.dumps(records))
    problems = check(copy, run)
    assert any("differs from its record in results.json" in p and records[0]["key"] in p for p in problems)


def _edit_samples(folder: Path, change) -> tuple[Path, list[dict]]:
    file = sorted((folder / "samples").glob("*.jsonl"))[0]
    rows = [json.loads(line) for line in file.read_text().splitlines()]
    rows = change(rows)
    file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return file, rows


def test_a_flipped_gold_label_is_rejected_naming_the_line(copy, run):
    def flip(rows):
        rows[4]["label"] = 1 - rows[4]["label"]
        return rows

    file, rows = _edit_samples(copy, flip)
    problems = check(copy, run)
    assert f"{copy.name}: {file}: line 5 ({rows[4]['id']}): label: is {rows[4]['label']}, the task's gold label is " \
           f"{1 - rows[4]['label']}" in problems


def test_a_missing_sample_is_rejected(copy, run):
    dropped = {}

    def drop(rows):
        dropped["id"] = rows[10]["id"]
        return rows[:10] + rows[11:]

    file, _ = _edit_samples(copy, drop)
    problems = check(copy, run)
    assert any(str(file) in p and "has 149 rows" in p for p in problems)
    assert any(f"example {dropped['id']!r} of the test split is missing" in p for p in problems), problems


def test_a_task_version_that_no_longer_matches_is_rejected(copy, run):
    key = edit_record(copy, 0, lambda r: r["config"].update(task_version="0.9"))
    problems = check(copy, run)
    assert any(f"record 0 ({key}): config.task_version: is 0.9, the shipped keywords is version 1" in p for p in problems)


def test_an_unknown_schema_version_is_rejected(copy, run):
    key = edit_record(copy, 1, lambda r: r.update(schema_version=99))
    problems = check(copy, run)
    assert any(f"record 1 ({key}): schema_version: unknown schema_version 99" in p for p in problems), problems


def test_test_ids_are_checked_against_the_rebuilt_split(copy, run):
    def rename(rows):
        rows[0]["id"] = "made-up"
        return rows

    file, _ = _edit_samples(copy, rename)
    assert any(f"{file}: line 1: id: is 'made-up'" in p for p in check(copy, run))


def test_files_that_are_not_json_are_rejected(copy, run):
    (copy / "model.pkl").write_bytes(b"\x80\x04\x95")
    sample = sorted((copy / "samples").glob("*.jsonl"))[0]
    (copy / "samples" / "extra.jsonl").write_bytes(b"\x80\x04\x95 not json")
    (copy / "runs" / "notes.txt").write_text("hello")
    problems = check(copy, run)
    assert any(str(copy / "model.pkl") in p and "not allowed in a submission" in p for p in problems)
    assert any(str(copy / "samples" / "extra.jsonl") in p and "only JSON" in p for p in problems)
    assert any(str(copy / "runs" / "notes.txt") in p and "not allowed in runs/" in p for p in problems)
    assert sample.is_file()


def test_a_link_and_a_folder_name_that_escapes_are_rejected(copy, run, tmp_path):
    (copy / "results.json").rename(copy / "real.json")
    (copy / "results.json").symlink_to(copy / "real.json")
    problems = check(copy, run)
    assert any("a link" in p for p in problems)
    escaping = validate_submission(copy / "runs" / "..")
    assert escaping.problems and "cannot be a submission name" in str(escaping.problems[0])


def test_metadata_must_agree_with_the_records(copy, run):
    text = (copy / "submission.yaml").read_text().replace("produced_by: w2s-bench on CPU", "produced_by: w2s-bench on GPU")
    (copy / "submission.yaml").write_text(text)
    assert any("submission.yaml: produced_by: is 'w2s-bench on GPU', but the records say 'w2s-bench on CPU'" in p
               for p in check(copy, run))


def test_data_that_is_absent_is_said_not_checked(submitted, run, tmp_path):
    _, tasks, _ = run
    result = validate_submission(submitted, tmp_path / "empty", [tasks])
    assert result.ok and len(result.unchecked) == 2
    assert "test ids and gold labels not checked: no local data for keywords" in result.unchecked[0]


def test_cli_validate_exit_codes(submitted, copy, run, capsys):
    data, tasks, _ = run
    assert main(["leaderboard", "validate", str(submitted), "--data_dir", str(data), "--include_path", str(tasks)]) == 0
    assert "valid noisy-oracle-naive: 2 records" in capsys.readouterr().out
    edit_record(copy, 0, lambda r: r["metrics"].update(ceiling_acc=1.0))
    assert main(["leaderboard", "validate", str(copy), "--data_dir", str(data), "--include_path", str(tasks)]) == 1
    out = capsys.readouterr().out
    assert "rejected noisy-oracle-naive" in out and "metrics.ceiling_acc: claims 1.0, the samples give" in out


def test_level_2_reruns_cells_and_catches_a_claim_the_rerun_does_not_reproduce(submitted, copy, run, register):
    from w2s_bench.leaderboard.validate import rerun_cells

    data, tasks, _ = run
    register("lb-noisy", NoisyOracle, "keyword rule, 30% flips", size=1)
    register("lb-oracle", Oracle, "keyword rule, 5% flips", size=2)
    chosen, check = rerun_cells(validate_submission(submitted, data, [tasks]), 1, data_dir=data, include_paths=[tasks])
    assert len(chosen) == 1 and not check.failed and check.counts()["ok"] == 4
    # a forged record whose every number is consistent with forged samples passes level 1 only if the samples
    # were forged too; the rerun compares with what training really gives
    key = edit_record(copy, 0, lambda r: r["metrics"].update(w2s_acc=r["metrics"]["w2s_acc"] + 0.2))
    forged = validate_submission(copy, data, [tasks])
    forged.problems.clear()  # level 1 rejects it; level 2 on its own must as well
    chosen, check = rerun_cells(forged, 2, data_dir=data, include_paths=[tasks])
    assert check.failed and any(row.metric == "w2s_acc" and row.status != "ok" for row in check.rows), key
