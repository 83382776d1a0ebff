"""A sweep does not die for one cell: a cell that fails for a data reason is recorded as failed, with its
reason, in results.json and the table, the other cells run, and the exit code says some failed. A bug
(any other exception) still stops the sweep, after the finished runs were written."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from fakes import NoisyOracle
from rich.console import Console

import w2s_bench
from w2s_bench.cli import EXIT_SOME_RUNS_FAILED, main
from w2s_bench.errors import W2SError
from w2s_bench.examples import one_hot
from w2s_bench.records import FailedRun, RunRecord, read_results
from w2s_bench.report import aggregate, render_rich, to_csv, to_markdown


class OneClass:
    """A supervisor that labels everything as class 0, so the student sees a single class."""

    def __init__(self, seed: int = 0) -> None:
        pass

    def fit(self, train, targets, val=(), val_targets=None, loss=None):
        return self

    def predict_proba(self, examples):
        return one_hot(np.zeros(len(examples), dtype=int), 2)


class Unfittable(OneClass):
    """A supervisor whose training fails for a data reason, counting its attempts."""

    fits = 0

    def fit(self, train, targets, val=(), val_targets=None, loss=None):
        Unfittable.fits += 1
        raise W2SError("this supervisor cannot learn from these examples", fix="use another one")


class Buggy(OneClass):
    def fit(self, train, targets, val=(), val_targets=None, loss=None):
        raise RuntimeError("a bug in the estimator")


@pytest.fixture
def models(register):
    register("oracle", NoisyOracle, "keyword rule with 30% flips", size=1)
    register("one-class", OneClass, "labels everything 0", size=1)
    register("unfittable", Unfittable, "fails to train", size=1)
    register("buggy", Buggy, "raises a RuntimeError", size=1)


def cli_args(keyword_task, weak: str, out) -> list[str]:
    data_dir, tasks = keyword_task
    return ["--tasks", "keywords", "--include_path", str(tasks), "--data_dir", str(data_dir), "--weak", weak,
            "--strong", "tfidf", "--all_pairs", "--limit", "200", "--n_resamples", "50", "--quiet", "--output_path", str(out)]


def test_a_single_class_supervisor_fails_its_cell_and_the_sweep_goes_on(keyword_task, models, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(cli_args(keyword_task, "one-class,oracle", out)) == EXIT_SOME_RUNS_FAILED == 3
    captured = capsys.readouterr()
    assert "1 of 2 runs failed" in captured.err and "keywords__one-class__tfidf__naive__seed0" in captured.err

    failed, done = read_results(out)
    assert isinstance(failed, FailedRun) and isinstance(done, RunRecord)
    assert failed.step == "w2s" and failed.error == "W2SError" and "single class" in failed.reason
    assert failed.config.task == "keywords" and failed.data.sizes.test == 200  # what it was, without metrics
    raw = json.loads((out / "results.json").read_text())[0]
    assert raw["status"] == "failed" and "metrics" not in raw
    assert not (out / "samples" / f"{failed.key}.jsonl").exists() and (out / "samples" / f"{done.key}.jsonl").is_file()
    assert done.metrics["w2s_acc"] > 0.5  # the other cell ran to the end

    for text in (captured.out, to_markdown([failed, done])):
        assert "failed (seed 0, w2s): " in text and "single class" in text
    rows = list(csv.DictReader(io.StringIO(to_csv([failed, done]))))
    assert (rows[0]["weak"], rows[0]["status"], rows[0]["w2s_acc"]) == ("one-class", "failed", "")
    assert "single class" in rows[0]["reason"]
    assert (rows[1]["weak"], rows[1]["status"], rows[1]["reason"]) == ("oracle", "ok", "") and float(rows[1]["w2s_acc"]) > 0.5


def test_a_failed_step_is_not_retrained_for_every_cell(keyword_task, models):
    data_dir, tasks = keyword_task
    Unfittable.fits = 0
    records = w2s_bench.run(tasks=["keywords"], include_paths=[str(tasks)], data_dir=str(data_dir), weak=["unfittable"],
                            strong=["tfidf"], methods=["naive", "naive_hard"], limit=200, n_resamples=50)
    assert [(r.status, r.step) for r in records] == [("failed", "weak"), ("failed", "weak")]
    assert "cannot learn" in records[0].reason and "fix: use another one" in records[0].reason
    assert Unfittable.fits == 1
    for row in aggregate(records):
        assert row["n_ok"] == 0 and row["seeds"] == "" and "failed (seed 0, weak)" in row["note"]
    console = Console(width=250, record=True)
    render_rich(records, console)
    assert "cannot learn" in console.export_text()


def test_a_bug_stops_the_sweep_after_writing_the_finished_runs(keyword_task, models, tmp_path):
    out = tmp_path / "out"
    data_dir, tasks = keyword_task
    with pytest.raises(RuntimeError, match="a bug in the estimator"):
        w2s_bench.run(tasks=["keywords"], include_paths=[str(tasks)], data_dir=str(data_dir), weak=["oracle", "buggy"],
                      strong=["tfidf"], all_pairs=True, limit=200, n_resamples=50, output_path=str(out))
    [finished] = read_results(out)
    assert finished.weak == "oracle" and finished.status == "ok"
