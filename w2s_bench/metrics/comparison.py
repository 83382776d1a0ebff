"""Each method against a baseline method on paired runs: "is logconf better than naive here, and how sure
are we?" (the second table of a sweep, and ``comparisons.json``).

Two methods in the same (task, weak, strong) cell that share a seed learned from the same weak labels and
were tested on the same examples, so their difference is measured on paired data
(:func:`w2s_bench.metrics.stats.paired_difference`). Setting each method's own interval side by side, as
the results table does, ignores that pairing and calls real differences noise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from w2s_bench.metrics.stats import paired_difference, seed_summary, verdict
from w2s_bench.records.types import SAMPLE_TYPES, MethodComparison, Record, RunRecord, Sample

DEFAULT_BASELINE = "naive"


def compare_methods(records: Sequence[Record], samples: Mapping[str, list[Sample]], baseline: str | None = None,
                    level: float = 0.95, n_resamples: int = 1000) -> list[MethodComparison]:
    """One comparison per (task, weak, strong) cell and method other than the baseline: the method's w2s
    score (accuracy, for classification) minus the baseline's on the seeds both have, with a ``level``
    interval and a verdict ("better", "worse", "no difference"). ``baseline`` None is ``naive`` (a run's
    ``--baseline`` when not given).

    ``samples`` maps a run's ``key`` to its per-sample rows. A cell without the baseline is compared with
    its first method in record order instead, and the row's ``note`` says so: a comparison with something
    beats silently dropping the cell. Failed runs have no predictions and are left out.
    """
    baseline = baseline or DEFAULT_BASELINE
    cells: dict[tuple[str, str, str], dict[str, dict[int, RunRecord]]] = {}
    for record in records:
        if isinstance(record, RunRecord):
            methods = cells.setdefault((record.task, record.weak, record.strong), {})
            methods.setdefault(record.method, {})[record.seed] = record
    rows = []
    for (task, weak, strong), methods in cells.items():
        base = baseline if baseline in methods else next(iter(methods))
        fallback = "" if base == baseline else f"no {baseline} runs in this cell: baseline is its first method, {base}"
        for method, runs in methods.items():
            if method != base:
                rows.append(_compare(task, weak, strong, method, base, runs, methods[base], samples, level, n_resamples,
                                     fallback))
    return rows


def _compare(task: str, weak: str, strong: str, method: str, base: str, runs: dict[int, RunRecord],
             base_runs: dict[int, RunRecord], samples: Mapping[str, list[Sample]], level: float, n_resamples: int,
             fallback: str) -> MethodComparison:
    """One comparison. Only seeds both methods have count: another seed means other weak labels, so an
    unpaired seed would add the seed-to-seed noise that pairing is there to remove."""
    seeds = sorted(set(runs) & set(base_runs))
    sample_type = SAMPLE_TYPES[next(iter(runs.values())).kind]
    pairs, disagree, pgr_diffs = [], [], []
    for seed in seeds:
        run, base_run = runs[seed], base_runs[seed]
        rows, base_rows = _paired_rows(run, base_run, samples)
        pairs.append((sample_type.scores(rows, "w2s"), sample_type.scores(base_rows, "w2s")))
        disagree.append(int(np.sum(sample_type.predictions(rows, "w2s") != sample_type.predictions(base_rows, "w2s"))))
        pgr, base_pgr = run.metrics.get("pgr"), base_run.metrics.get("pgr")
        same_floor = run.metrics.get("pgr_floor") == base_run.metrics.get("pgr_floor")  # else two different gaps
        pgr_diffs.append(None if pgr is None or base_pgr is None or not same_floor else pgr - base_pgr)
    difference = paired_difference(pairs, bootstrap_seed=seeds[0] if seeds else 0, level=level, n_resamples=n_resamples)
    note = "; ".join(filter(None, [fallback, "" if seeds else "no seeds in common"]))
    return MethodComparison(task=task, weak=weak, strong=strong, method=method, baseline=base,
                            metric=f"w2s_{sample_type.score_metric}", seeds=seeds, diff=difference.mean,
                            diff_ci=difference.ci.as_list() if difference.ci else None,
                            pgr_diff=seed_summary(pgr_diffs)["mean"], n_disagree=disagree, ci_kind=difference.ci_kind,
                            verdict=verdict(difference.ci), level=level, note=note)


def _paired_rows(run: RunRecord, base: RunRecord, samples: Mapping[str, list[Sample]]) -> tuple[list[Sample], list[Sample]]:
    """Both runs' sample rows in the same example order, matched by id. Different test examples make a paired
    difference meaningless, so that is an error rather than a comparison of whatever overlaps."""
    rows, base_rows = (_samples_of(r, samples) for r in (run, base))
    base_by_id = {row.id: row for row in base_rows}
    ids = [row.id for row in rows]
    if len(set(ids)) != len(ids) or len(base_by_id) != len(base_rows) or set(ids) != set(base_by_id):
        raise ValueError(f"runs {run.key} and {base.key} were not tested on the same examples "
                         f"({len(set(ids) ^ set(base_by_id))} sample ids in only one of them, or repeated ids), "
                         "so they cannot be compared example by example")
    matched = [base_by_id[i] for i in ids]
    if any(getattr(a, "label", None) != getattr(b, "label", None) for a, b in zip(rows, matched, strict=True)):
        raise ValueError(f"runs {run.key} and {base.key} give different labels to the same sample ids")
    return rows, matched


def _samples_of(record: RunRecord, samples: Mapping[str, list[Sample]]) -> list[Sample]:
    if record.key not in samples:
        raise ValueError(f"no per-sample predictions for run {record.key}: a paired comparison needs them")
    return samples[record.key]
