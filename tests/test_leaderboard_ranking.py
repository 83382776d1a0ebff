"""The ranking over the w2s_leaderboard suite, and the seeded submissions in leaderboard/submissions:
each one validates (level 1, data included when the mirrors are here), and the shipped JSON Schemas accept
every file in them (the property the leaderboard stands on, over what the harness really wrote)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest
from fakes import fake_record

from w2s_bench.leaderboard.ranking import SubmittedRun, Suite, bootstrap_mean_pgr, build_board, read_submissions
from w2s_bench.leaderboard.submission import ModelMeta, SubmissionMeta
from w2s_bench.leaderboard.validate import validate_submission
from w2s_bench.tasks import TaskRegistry

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "leaderboard" / "submissions"
SEEDED = sorted(p for p in SUBMISSIONS.iterdir() if p.is_dir() and not p.name.startswith(".")) if SUBMISSIONS.is_dir() else []
SUITE = Suite.load(TaskRegistry.discover())


def entry(name: str, pgr_of: dict[str, float | None], *, limit: int | None = SUITE.limit,
          seeds: tuple[int, ...] = SUITE.seeds) -> SubmittedRun:
    records = []
    for task, pgr in pgr_of.items():
        for seed in seeds:
            record = fake_record(task=task, weak="tfidf", strong="minilm-l6", method=name, seed=seed,
                                 pgr=None if pgr is None else pgr + 0.01 * seed,
                                 pgr_flag="gap_not_significant" if pgr is None else None)
            records.append(dataclasses.replace(record, config=dataclasses.replace(record.config, limit=limit)))
    meta = SubmissionMeta(name=name, who="tests", when="2026-01-01", command="w2s-bench ...", produced_by="w2s-bench on CPU",
                          hardware="cpu", w2s_bench_version="0", w2s_bench_commit=None, weak=ModelMeta(id="tfidf"),
                          strong=ModelMeta(id="minilm-l6"), method=name)
    return SubmittedRun(meta, records)


def test_the_suite_is_the_group_with_one_or_two_tasks_per_family_and_local_data():
    registry = TaskRegistry.discover()
    families = [registry.get(t).config.family for t in SUITE.tasks]
    assert set(families) == {"nlp", "chess", "reward", "safety"}
    assert all(1 <= families.count(f) <= 2 for f in set(families))
    assert SUITE.limit and SUITE.seeds


def test_ranked_by_mean_pgr_with_partial_submissions_unranked():
    full = {task: 0.3 for task in SUITE.tasks}
    board = build_board([entry("low", full), entry("high", {**full, "sst2": 0.9}),
                         entry("partial", {"sst2": 0.95, "imdb": 0.9}), entry("other-limit", full, limit=7),
                         entry("undefined", {**full, "imdb": None, "sst2": 0.6})])
    by_name = {row.submission: row for row in board.ranking}
    assert [r.submission for r in board.ranking if r.rank is not None] == ["high", "undefined", "low"]
    assert [by_name[n].rank for n in ("high", "undefined", "low")] == [1, 2, 3]
    assert by_name["partial"].rank is None and by_name["partial"].status.startswith("unranked (partial: lacks chess_generated")
    assert by_name["other-limit"].rank is None  # run at another --limit: not the suite
    assert "PGR undefined on imdb" in by_name["undefined"].status
    seed_offset = 0.01 * np.mean(SUITE.seeds)
    assert by_name["low"].mean_pgr == pytest.approx(0.3 + seed_offset)
    assert by_name["high"].mean_pgr == pytest.approx(0.3 + seed_offset + 0.6 / len(SUITE.tasks))
    low, high = by_name["high"].mean_pgr_ci
    assert low <= by_name["high"].mean_pgr <= high and high - low > 0.05  # one task differs: tasks resampled
    assert by_name["high"].family_means["nlp"] == pytest.approx((0.9 + 0.3) / 2 + seed_offset)
    assert board.suite == SUITE.tasks and "bootstrap over tasks and seeds" in board.about


def test_the_bootstrap_resamples_tasks_and_seeds():
    point, (low, high) = bootstrap_mean_pgr({"a": [0.5, 0.5, 0.5], "b": [0.5, 0.5, 0.5]})
    assert point == low == high == 0.5  # nothing varies: no width
    point, (low, high) = bootstrap_mean_pgr({"a": [0.0, 1.0], "b": [0.5, 0.5]})  # only seeds vary
    assert point == 0.5 and low < 0.5 < high


@pytest.mark.parametrize("folder", SEEDED, ids=[p.name for p in SEEDED])
def test_every_seeded_submission_validates(folder):
    data = os.environ.get("W2S_BENCH_TEST_DATA") or os.environ.get("W2S_BENCH_DATA_DIR")
    result = validate_submission(folder, data)
    assert result.ok, "\n".join(map(str, result.problems))
    if data and Path(data).is_dir():
        assert not result.unchecked, result.unchecked[:3]


def test_the_seeded_submissions_are_ranked_exactly_when_they_cover_the_suite():
    assert len(SEEDED) >= 4
    entries = read_submissions(SUBMISSIONS)
    board = build_board(entries)
    assert {row.submission for row in board.ranking} == {p.name for p in SEEDED}
    for entry, row in zip(entries, sorted(board.ranking, key=lambda r: [e.meta.name for e in entries].index(r.submission)),
                          strict=True):
        lacking = SUITE.pgr_by_task(entry.records)[1]
        assert (row.rank is None) == bool(lacking), (row.submission, lacking)
        if lacking:
            assert row.status.startswith(f"unranked (partial: lacks {lacking[0]}")
    assert "w2s_demo_sentiment" in {row.task for row in board.rows}


def test_the_shipped_schemas_accept_every_seeded_file():
    jsonschema = pytest.importorskip("jsonschema")
    schemas = ROOT / "w2s_bench" / "schemas"
    results = jsonschema.Draft202012Validator(json.loads((schemas / "results.schema.json").read_text()))
    samples = jsonschema.Draft202012Validator(json.loads((schemas / "samples.schema.json").read_text()))
    checked = 0
    for folder in SEEDED:
        for file in [folder / "results.json", *sorted((folder / "runs").glob("*.json"))]:
            errors = [e.message for e in results.iter_errors(json.loads(file.read_text()))]
            assert not errors, (str(file), errors[:3])
            checked += 1
        for file in sorted((folder / "samples").glob("*.jsonl")):
            for number, line in enumerate(file.read_text().splitlines(), start=1):
                assert not list(samples.iter_errors(json.loads(line))), f"{file}: line {number}"
            checked += 1
    assert checked >= 3 * len(SEEDED)
