"""Paired method-vs-baseline comparisons on hand-made runs whose right answer is known."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from fakes import fake_record
from rich.console import Console

from w2s_bench.metrics import compare_methods
from w2s_bench.records import ClassificationSample, to_json
from w2s_bench.report import comparisons_to_markdown, render_comparisons

N = 300
LABELS = np.arange(N) % 2


def run(method: str, seed: int, right: np.ndarray, pgr: float | None = 0.5, ids: list[str] | None = None,
        task: str = "t"):
    """A run record and its sample rows for a w2s model that is right exactly where ``right`` is True."""
    preds = np.where(right, LABELS, 1 - LABELS)
    rows = [ClassificationSample(id=(ids or [f"ex{i}" for i in range(N)])[i], label=int(LABELS[i]), weak=[0.5, 0.5],
                                 ceiling=[0.5, 0.5], w2s=[0.9, 0.1] if p == 0 else [0.1, 0.9]) for i, p in enumerate(preds)]
    return fake_record(task=task, method=method, seed=seed, w2s_acc=float(right.mean()), pgr=pgr), rows


def baseline_right(seed: int) -> np.ndarray:
    """Right on 180 of 300 examples; which ones depends on the seed (other weak labels)."""
    right = np.zeros(N, dtype=bool)
    right[np.random.default_rng(seed).permutation(N)[:180]] = True
    return right


def fixed(right: np.ndarray, k: int) -> np.ndarray:
    """``right`` plus the first ``k`` of its errors fixed."""
    out = right.copy()
    out[np.flatnonzero(~right)[:k]] = True
    return out


def broken(right: np.ndarray, k: int) -> np.ndarray:
    """``right`` with the first ``k`` of its right answers made wrong."""
    out = right.copy()
    out[np.flatnonzero(right)[:k]] = False
    return out


def collect(*runs):
    return [r for r, _ in runs], {r.key: rows for r, rows in runs}


def by_method(rows):
    return {row.method: row for row in rows}


def test_fixing_30_of_the_errors_on_every_seed_is_better_by_a_tenth():
    runs = []
    for seed in range(3):
        base = baseline_right(seed)
        runs += [run("naive", seed, base, pgr=0.4), run("logconf", seed, fixed(base, 30), pgr=0.6),
                 run("same", seed, base, pgr=0.4), run("bad", seed, broken(base, 30))]
    records, samples = collect(*runs)
    for record in records:  # pairing is by sample id, not by position
        if record.method == "logconf":
            samples[record.key] = samples[record.key][::-1]
    rows = by_method(compare_methods(records, samples, n_resamples=200))
    assert set(rows) == {"logconf", "same", "bad"}

    better = rows["logconf"]
    assert better.baseline == "naive" and better.seeds == [0, 1, 2] and better.ci_kind == "seeds"
    assert better.diff == pytest.approx(0.1)
    assert better.diff_ci[0] > 0 and better.verdict == "better"
    assert better.pgr_diff == pytest.approx(0.2) and better.n_disagree == [30, 30, 30] and better.note == ""

    same = rows["same"]
    assert same.diff == 0 and same.diff_ci == [0, 0] and same.verdict == "no difference"
    assert same.n_disagree == [0, 0, 0] and same.pgr_diff == pytest.approx(0.0)
    assert rows["bad"].diff == pytest.approx(-0.1) and rows["bad"].verdict == "worse"
    assert better.metric == "w2s_acc"
    json.dumps(to_json(list(rows.values())), allow_nan=False)


def test_interval_across_seeds_is_the_t_interval_of_the_per_seed_differences():
    runs = []
    for seed, k in enumerate([15, 30, 45]):  # differences 0.05, 0.10, 0.15
        base = baseline_right(seed)
        runs += [run("naive", seed, base), run("logconf", seed, fixed(base, k))]
    (row,) = compare_methods(*collect(*runs))
    half = 4.302652729911275 * 0.05 / math.sqrt(3)  # t_{0.975, df=2} * std / sqrt(n)
    assert row.diff == pytest.approx(0.1)
    assert row.diff_ci == pytest.approx([0.1 - half, 0.1 + half])
    assert row.verdict == "no difference"  # three noisy seeds: half = 0.124 > 0.1, so 0 is inside


def test_one_seed_uses_a_paired_bootstrap_centered_on_the_difference():
    base = baseline_right(0)
    (row,) = compare_methods(*collect(run("naive", 0, base), run("logconf", 0, fixed(base, 30))))
    low, high = row.diff_ci
    assert row.ci_kind == "test bootstrap" and row.seeds == [0] and row.diff == pytest.approx(0.1)
    assert abs((low + high) / 2 - 0.1) < 0.01 and row.verdict == "better"
    # paired, the per-example differences are 1 on 30 examples and 0 elsewhere: width ~ 2 * 1.96 * sqrt(.1 * .9 / 300)
    # = 0.068; resampling the two models separately would give about twice that
    assert 0.05 < high - low < 0.09


def test_seeds_only_one_method_has_are_left_out():
    runs = []
    for seed in (0, 1, 2):
        runs.append(run("naive", seed, baseline_right(seed)))
    for seed in (1, 2, 3):
        # seed 3 would be a huge gain if it were (wrongly) used: there is no naive run to pair it with
        runs.append(run("logconf", seed, fixed(baseline_right(seed), 100 if seed == 3 else 30)))
    (row,) = compare_methods(*collect(*runs))
    assert row.seeds == [1, 2] and row.diff == pytest.approx(0.1) and row.n_disagree == [30, 30]


def test_different_test_examples_are_an_error():
    base = baseline_right(0)
    other_ids = [f"other{i}" for i in range(N)]
    records, samples = collect(run("naive", 0, base), run("logconf", 0, base, ids=other_ids))
    with pytest.raises(ValueError, match="not tested on the same examples"):
        compare_methods(records, samples)


def test_without_the_baseline_the_first_method_is_compared_against_and_the_row_says_so():
    runs = []
    for seed in (0, 1):
        base = baseline_right(seed)
        runs += [run("weak_to_weak", seed, base), run("logconf", seed, fixed(base, 30)),
                 run("naive", seed, base, task="other"), run("logconf", seed, base, task="other")]
    rows = compare_methods(*collect(*runs))
    assert [(r.task, r.method, r.baseline) for r in rows] == [("t", "logconf", "weak_to_weak"),
                                                                       ("other", "logconf", "naive")]
    assert "no naive runs" in rows[0].note and rows[1].note == ""
    assert rows[0].verdict == "better" and rows[1].verdict == "no difference"


def test_rendering():
    base = baseline_right(0)
    rows = compare_methods(*collect(run("naive", 0, base), run("logconf", 0, fixed(base, 30))))
    console = Console(width=200, record=True)
    render_comparisons(rows, console)
    text = console.export_text()
    assert "method vs baseline: w2s acc difference [95% CI]" in text and "better" in text and "0.100" in text
    md = comparisons_to_markdown(rows)
    assert md.count("\n") == 3 and "| t | w | s | logconf | naive | 0 | 0.100 [" in md

    empty = Console(width=200, record=True)
    render_comparisons([], empty)
    assert empty.export_text() == "" and comparisons_to_markdown([]) == ""


def test_no_baseline_given_means_naive_without_a_fallback_note():
    """A run without --baseline passes None: the comparison is with naive and says nothing about a fallback
    (it once printed "no None runs in this cell")."""
    base = baseline_right(0)
    (row,) = compare_methods(*collect(run("naive", 0, base), run("logconf", 0, fixed(base, 30))), baseline=None)
    assert row.baseline == "naive" and not row.note
