"""The full protocol through the runner: real local data, tiny models, results on disk, resume,
and a controlled experiment whose answer is known."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fakes import NoisyOracle

import w2s_bench
from w2s_bench.errors import W2SError
from w2s_bench.metrics import compare_methods
from w2s_bench.records import read_results, read_samples, to_json

REQUIRED_METRICS = {"weak_acc", "ceiling_acc", "w2s_acc", "pgr", "gain_sq", "misfit_sq", "gain_kl", "misfit_kl"}


def test_full_protocol_on_local_data_writes_valid_results(tiny_bert, shared_data, tmp_path):
    out = tmp_path / "out"
    args = dict(tasks=["sst2"], weak=["tfidf"], strong=[tiny_bert], methods=["naive", "naive_hard"], seeds=[0],
                limit=120, data_dir=str(shared_data), strong_args={"epochs": 1, "min_steps": 0, "max_length": 48},
                output_path=str(out), n_resamples=200)
    records = w2s_bench.run(**args)
    assert len(records) == 2
    saved = json.loads((out / "results.json").read_text())
    assert [r["method"] for r in saved] == ["naive", "naive_hard"]
    for record in saved:
        assert {"task", "weak", "strong", "method", "seed", "metrics", "provenance", "config"} <= record.keys()
        assert REQUIRED_METRICS <= record["metrics"].keys()
        assert 0.0 <= record["metrics"]["w2s_acc"] <= 1.0
        samples = [json.loads(line) for line in (out / "samples" / f"{record['key']}.jsonl").read_text().splitlines()]
        assert len(samples) == record["data"]["sizes"]["test"] == 120
        assert {"id", "label", "weak", "ceiling", "w2s"} <= samples[0].keys()
        # metrics can be recomputed from the stored predictions
        w2s = np.array([s["w2s"] for s in samples])
        labels = np.array([s["label"] for s in samples])
        assert abs((w2s.argmax(1) == labels).mean() - record["metrics"]["w2s_acc"]) < 1e-9
    # the supervisor and the ceiling are fitted once and shared by both methods
    assert saved[0]["metrics"]["weak_acc"] == saved[1]["metrics"]["weak_acc"]
    assert saved[0]["metrics"]["ceiling_acc"] == saved[1]["metrics"]["ceiling_acc"]

    # a rerun with the same output folder resumes instead of training again
    from w2s_bench.models import hf

    def no_training(*_, **__):
        raise AssertionError("a finished run was trained again")

    original = hf.HFEstimator.fit
    hf.HFEstimator.fit = no_training
    try:
        again = w2s_bench.run(**args)
    finally:
        hf.HFEstimator.fit = original
    assert [r.metrics for r in again] == [r.metrics for r in records]


def test_runner_measures_weak_to_strong_when_noise_is_unlearnable(keyword_task, register):
    data_dir, tasks = keyword_task
    register("noisy-oracle", NoisyOracle, "keyword rule with 30% deterministic flips")
    records = w2s_bench.run(tasks=["keywords"], include_paths=[str(tasks)], weak=["noisy-oracle"], strong=["tfidf"],
                            data_dir=str(data_dir), seeds=[0, 1], n_resamples=300)
    for record in records:
        m = record.metrics
        assert 0.62 < m["weak_acc"] < 0.78
        assert m["ceiling_acc"] > 0.95
        assert m["weak_acc"] < m["w2s_acc"] <= m["ceiling_acc"] + 0.02
        assert m["pgr"] is not None and m["pgr"] > 0.2  # measured 0.36 and 0.35 (seeds 0, 1)
        assert m["pgr_ci"][0] > 0


def test_no_gap_gives_flagged_pgr_not_inf(keyword_task):
    data_dir, tasks = keyword_task
    records = w2s_bench.run(tasks=["keywords"], include_paths=[str(tasks)], weak=["tfidf"], strong=["tfidf"],
                            data_dir=str(data_dir), n_resamples=200)
    m = records[0].metrics
    assert m["pgr"] is None and m["pgr_flag"] in {"ceiling_below_weak", "gap_too_small", "gap_not_significant"}


def test_group_members_without_data_are_skipped_but_named_tasks_fail(keyword_task, caplog):
    data_dir, tasks = keyword_task
    (tasks / "no_data.yaml").write_text(
        "task: no_data\ndataset_path: 'generator:does_not_exist'\ntest_split: test\ndoc_to_text: '{{ text }}'\n"
        "doc_to_choice: [a, b]\ndoc_to_target: 0\nmetadata: {version: 1}\n")
    (tasks / "both.yaml").write_text("group: both\ntask: [keywords, no_data]\n")
    args = dict(include_paths=[str(tasks)], weak=["tfidf"], strong=["tfidf"], data_dir=str(data_dir), n_resamples=50, limit=100)
    records = w2s_bench.run(tasks=["both"], **args)
    assert [r.task for r in records] == ["keywords"]
    assert "skipping no_data" in caplog.text
    with pytest.raises(W2SError, match="does_not_exist"):
        w2s_bench.run(tasks=["no_data"], **args)


def test_a_second_sweep_into_the_same_folder_adds_to_results_json(keyword_task, caplog):
    """results.json is the folder's whole results set: an earlier sweep's runs stay in it, a rerun of the same
    key replaces its record, and an unreadable file in runs/ is named and left out, not fatal."""
    data_dir, tasks = keyword_task
    out = tasks.parent / "out"
    args = dict(tasks=["keywords"], include_paths=[str(tasks)], weak=["tfidf"], strong=["tfidf"], data_dir=str(data_dir),
                n_resamples=50, limit=100, all_pairs=True, output_path=str(out))
    w2s_bench.run(seeds=[0], methods=["naive", "naive_hard"], **args)
    w2s_bench.run(seeds=[1], methods=["naive", "naive_hard"], **args)
    saved = json.loads((out / "results.json").read_text())
    assert [(r["method"], r["seed"]) for r in saved] == [("naive", 1), ("naive_hard", 1), ("naive", 0), ("naive_hard", 0)]
    assert {r["key"] for r in saved} == {p.stem for p in (out / "runs").glob("*.json")}
    records = read_results(out)  # comparisons.json compares over the same runs, seed 0's included
    expected = compare_methods(records, {r.key: read_samples(out, r) for r in records}, n_resamples=50)
    assert json.loads((out / "comparisons.json").read_text()) == json.loads(json.dumps(to_json(expected)))
    assert [c["seeds"] for c in json.loads((out / "comparisons.json").read_text())] == [[0, 1]]
    (out / "runs" / "broken.json").write_text("{not json")
    w2s_bench.run(seeds=[0], methods=["naive"], **args)
    saved = json.loads((out / "results.json").read_text())
    assert sorted((r["method"], r["seed"]) for r in saved) == [("naive", 0), ("naive", 1), ("naive_hard", 0), ("naive_hard", 1)]
    assert saved[0]["seed"] == 0  # this sweep's run first
    assert "broken.json is left out of results.json" in caplog.text
