"""Regression checks: does a new result set still reproduce a pinned baseline?

Users keep a baseline results.json in their repository and run ``w2s-bench compare NEW BASELINE``
in CI; our pinned regression tests do the same (:func:`check_against_baseline`; not to be confused
with ``w2s_bench.metrics.compare_methods``, which compares methods within one result set). Runs are
matched by (task, weak, strong, method, seed), so each seed is checked on its own rather than
through a mean that could hide a bad seed. Each compared metric of a matched run gets a status:

- ``ok``: within tolerance (a change of exactly the tolerance is still ok);
- ``regressed``: worse by more than the tolerance (a failure); which direction is worse comes from
  the metric registry's ``higher_is_better``;
- ``improved``: better by more than the tolerance; with ``two_sided`` it is ``changed`` instead, a
  failure, because a pinned result must not shift silently in either direction. A metric with no
  better direction (agreement, a misfit ratio, the gap) is ``changed`` whenever it moves beyond tolerance;
- ``undefined``: a number on one side and None on the other, e.g. PGR became undefined (a failure).

Unmatched runs get one row each: ``missing`` (in the baseline only, a failure) or ``new`` (in the
new results only, not a failure: adding runs must not break CI). A run that failed in the new results
is ``failed`` (a failure); a run that failed in the baseline has nothing to check and counts as absent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from w2s_bench.errors import W2SError, did_you_mean
from w2s_bench.metrics.registry import METRICS, metric_for_key
from w2s_bench.progress import console as make_console
from w2s_bench.records import Record, RunRecord

RUN_FIELDS = ("task", "weak", "strong", "method", "seed")
DEFAULT_METRICS = ["weak_acc", "ceiling_acc", "w2s_acc", "pgr"]
DEFAULT_TOLERANCE = 0.02
FAILURES = ("regressed", "changed", "undefined", "missing", "failed")
# Float noise: 0.78 - 0.80 is -0.020000000000000018, which must not count as beyond a tolerance of 0.02.
_EPS = 1e-9
_TOLERANCE_FIX = "e.g. --tolerance 0.02 (all metrics) or --tolerance 0.02,w2s_acc=0.01,pgr=0.1"

RunId = tuple[Any, ...]  # the values of RUN_FIELDS
RunMetrics = Mapping[RunId, Mapping[str, Any] | None]  # a run's metrics; None: the run failed


@dataclass(frozen=True)
class CheckRow:
    """One metric of one matched run, or (``metric`` None) a whole run present on one side only or failed."""

    run: RunId
    metric: str | None
    baseline: float | None
    new: float | None
    tolerance: float | None
    status: str

    @property
    def diff(self) -> float | None:
        return None if self.baseline is None or self.new is None else self.new - self.baseline

    @property
    def failed(self) -> bool:
        return self.status in FAILURES


@dataclass(frozen=True)
class RegressionCheck:
    """The outcome of checking new results against a baseline, row by row."""

    rows: list[CheckRow]
    metrics: list[str]
    tolerance: dict[str, float]  # per compared metric
    two_sided: bool

    @property
    def failed(self) -> bool:
        return any(row.failed for row in self.rows)

    def counts(self) -> dict[str, int]:
        """Rows per status, in a stable order (failures first)."""
        order = [*FAILURES, "improved", "new", "ok"]
        return {s: n for s in order if (n := sum(row.status == s for row in self.rows))}

    def summary(self) -> str:
        n_runs = len({row.run for row in self.rows})
        counts = ", ".join(f"{n} {status}" for status, n in self.counts().items())
        tolerances = ", ".join(f"{m} {self.tolerance[m]:g}" for m in self.metrics)
        verdict = "FAILED" if self.failed else "passed"
        mode = "two-sided" if self.two_sided else "one-sided"
        return f"compare {verdict}: {counts} ({n_runs} runs; {mode} tolerance: {tolerances})"


def parse_tolerance(text: str, metrics: list[str]) -> dict[str, float]:
    """``0.05`` sets every metric's tolerance, ``w2s_acc=0.01,pgr=0.1`` overrides single metrics
    (the rest keep the default); both can be combined. Naming a metric that is not compared is an
    error, since a typo would otherwise leave the intended metric at the default silently."""
    default, overrides = DEFAULT_TOLERANCE, {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, _, value = item.rpartition("=")
        name = name.strip()
        try:
            number = float(value)
        except ValueError:
            raise W2SError(f"{item!r} is not a tolerance", where="--tolerance", fix=_TOLERANCE_FIX) from None
        if not math.isfinite(number) or number < 0:
            raise W2SError(f"tolerance must be a finite number >= 0, got {item!r}", where="--tolerance", fix=_TOLERANCE_FIX)
        if not name:
            default = number
        elif name in metrics:
            overrides[name] = number
        else:
            raise W2SError(f"{name!r} is not a compared metric", where="--tolerance",
                           fix=f"{did_you_mean(name, metrics)} (or add it to --metrics)")
    return {m: overrides.get(m, default) for m in metrics}


def runs_by_id(records: Sequence[Record], side: str) -> dict[RunId, dict[str, Any] | None]:
    """Each run's metrics by its (task, weak, strong, method, seed); None for a failed run."""
    runs: dict[RunId, dict[str, Any] | None] = {}
    for record in records:
        run = tuple(getattr(record, k) for k in RUN_FIELDS)
        if run in runs:  # matching would be ambiguous
            raise W2SError(f"run {_run_name(run)} appears twice", where=side, fix="keep one record per run and seed")
        runs[run] = record.metrics if isinstance(record, RunRecord) else None
    return runs


def check_against_baseline(new: Sequence[Record], baseline: Sequence[Record], tolerance: dict[str, float] | None = None,
                           metrics: list[str] | None = None, two_sided: bool = False) -> RegressionCheck:
    """Check ``new`` against ``baseline`` run by run; tolerances are absolute, per metric
    (``DEFAULT_TOLERANCE`` for metrics without one)."""
    return check_runs(runs_by_id(new, "new results"), runs_by_id(baseline, "baseline"), tolerance, metrics, two_sided)


def check_runs(new_runs: RunMetrics, base_runs: RunMetrics, tolerance: dict[str, float] | None = None,
               metrics: list[str] | None = None, two_sided: bool = False) -> RegressionCheck:
    """:func:`check_against_baseline` on runs' metrics by run id (e.g. a pinned baseline that keeps only
    the metrics it checks)."""
    metrics = list(metrics or DEFAULT_METRICS)
    tolerances = {m: (tolerance or {}).get(m, DEFAULT_TOLERANCE) for m in metrics}
    base_runs = {run: m for run, m in base_runs.items() if m is not None}  # a failed baseline run has nothing to check
    if not base_runs:
        raise W2SError("the baseline has no finished runs, so nothing would be checked", where="baseline",
                       fix="compare against the results.json of a finished run")
    known = {key for m in METRICS.values() for key in m.keys()} | {k for m in (*new_runs.values(), *base_runs.values())
                                                                 for k in (m or {})}
    for metric in metrics:
        if metric not in known:
            raise W2SError(f"no run has a metric {metric!r}", where="--metrics", fix=did_you_mean(metric, known))
    rows = []
    for run, base in base_runs.items():
        if run not in new_runs or new_runs[run] is None:
            rows.append(CheckRow(run, None, None, None, None, "missing" if run not in new_runs else "failed"))
            continue
        for metric, tol in tolerances.items():
            before, after = _value(base, run, metric, "baseline"), _value(new_runs[run], run, metric, "new results")
            rows.append(CheckRow(run, metric, before, after, tol, _status(metric, before, after, tol, two_sided)))
    rows += [CheckRow(run, None, None, None, None, "new" if m is not None else "failed")
             for run, m in new_runs.items() if run not in base_runs]
    return RegressionCheck(rows, metrics, tolerances, two_sided)


def _value(metrics: Mapping[str, Any], run: RunId, metric: str, side: str) -> float | None:
    """A metric as a float; an absent key counts as None (undefined), like a PGR that was not reported."""
    value = metrics.get(metric)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise W2SError(f"metric {metric!r} of run {_run_name(run)} is {value!r}, not a finite number", where=side,
                       fix="compare scalar metrics only (not *_ci, *_flag)")
    return float(value)


def _status(metric: str, before: float | None, after: float | None, tol: float, two_sided: bool) -> str:
    if before is None or after is None:
        return "ok" if before is after else "undefined"
    spec = metric_for_key(metric)
    direction = spec.higher_is_better if spec else True  # an unregistered metric (from a newer w2s-bench): higher
    if direction is None:
        return "changed" if abs(after - before) > tol + _EPS else "ok"
    better = (after - before) if direction else (before - after)
    if better < -(tol + _EPS):
        return "regressed"
    if better > tol + _EPS:
        return "changed" if two_sided else "improved"
    return "ok"


def _run_name(run: RunId) -> str:
    task, weak, strong, method, seed = run
    return f"{task} {weak}->{strong} {method} seed {seed}"


_COLUMNS = ["task", "weak", "strong", "method", "seed", "metric", "baseline", "new", "diff", "tolerance", "status"]


def _cells(row: CheckRow) -> list[str]:
    def number(value: float | None, fmt: str = ".4f") -> str:
        return "n/a" if value is None else format(value, fmt)

    if row.metric is None:  # a whole run present on one side only
        return [*map(str, row.run), "(all)", "-", "-", "-", "-", row.status]
    return [*map(str, row.run), row.metric, number(row.baseline), number(row.new), number(row.diff, "+.4f"),
            f"{row.tolerance:g}", row.status]


def _shown(check: RegressionCheck, verbose: bool) -> list[CheckRow]:
    return check.rows if verbose else [row for row in check.rows if row.status != "ok"]


def render_check(check: RegressionCheck, console: Console | None = None, verbose: bool = False) -> None:
    """The rows that differ (all rows with ``verbose``) as a rich table, then a one-line summary."""
    console = console or make_console()
    rows = _shown(check, verbose)
    if rows:
        table = Table(title="new vs baseline")
        for column in _COLUMNS:
            table.add_column(column, justify="right" if column in ("seed", "baseline", "new", "diff", "tolerance") else "left")
        for row in rows:
            style = "red" if row.failed else ("green" if row.status == "improved" else None)
            table.add_row(*map(escape, _cells(row)), style=style)  # names come from results files: no markup
        console.print(table)
    console.print(escape(check.summary()), style="bold red" if check.failed else "green", highlight=False)


def check_markdown(check: RegressionCheck, verbose: bool = False) -> str:
    """The same as :func:`render_check`, for a pull-request comment or a CI job summary."""
    rows = _shown(check, verbose)
    if not rows:
        return check.summary() + "\n"
    lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in rows]
    return "\n".join(lines) + "\n\n" + check.summary() + "\n"
