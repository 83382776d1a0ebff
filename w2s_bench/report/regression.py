"""Regression checks: does a new result set still reproduce a pinned baseline?

Users keep a baseline results.json in their repository and run ``w2s-bench compare NEW BASELINE``
in CI; our pinned regression tests do the same. Runs are matched by (task, weak, strong, method,
seed), so each seed is checked on its own rather than through a mean that could hide a bad seed.
Each compared metric of a matched run gets a status:

- ``ok``: within tolerance (a change of exactly the tolerance is still ok);
- ``regressed``: worse by more than the tolerance (a failure);
- ``improved``: better by more than the tolerance; with ``two_sided`` it is ``changed`` instead, a
  failure, because a pinned result must not shift silently in either direction;
- ``undefined``: a number on one side and None on the other, e.g. PGR became undefined (a failure).

Unmatched runs get one row each: ``missing`` (in the baseline only, a failure) or ``new`` (in the
new results only, not a failure: adding runs must not break CI).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from w2s_bench.errors import W2SError, did_you_mean
from w2s_bench.progress import console as make_console

KEY_FIELDS = ("task", "weak", "strong", "method", "seed")
DEFAULT_METRICS = ["weak_acc", "ceiling_acc", "w2s_acc", "pgr"]
DEFAULT_TOLERANCE = 0.02
# Explicit, not a pattern: misfit_ratio_* is gain / misfit, where smaller is not better.
LOWER_IS_BETTER = frozenset({"misfit_sq", "misfit_kl", "weak_ece", "ceiling_ece", "w2s_ece"})
FAILURES = ("regressed", "changed", "undefined", "missing")
# Float noise: 0.78 - 0.80 is -0.020000000000000018, which must not count as beyond a tolerance of 0.02.
_EPS = 1e-9
_TOLERANCE_FIX = "e.g. --tolerance 0.02 (all metrics) or --tolerance 0.02,w2s_acc=0.01,pgr=0.1"

RunKey = tuple[Any, ...]


@dataclass(frozen=True)
class Row:
    """One metric of one matched run, or (``metric`` None) a whole run present on one side only."""

    run: RunKey
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
class Comparison:
    rows: list[Row]
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


def load_records(path: str | Path) -> list[dict[str, Any]]:
    """Run records from a results.json, or from the ``--output_path`` folder of a run."""
    path = Path(path)
    file = path / "results.json" if path.is_dir() else path
    fix = "pass a run's --output_path folder or the results.json in it"
    if not file.is_file():
        raise W2SError("no such results file" if file == path else "folder has no results.json", where=str(path), fix=fix)
    try:
        records = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise W2SError(f"not valid JSON ({exc})", where=str(file), fix=fix) from exc
    if not isinstance(records, list):
        raise W2SError(f"expected a list of run records, got a JSON {type(records).__name__}", where=str(file), fix=fix)
    for i, record in enumerate(records):
        lacking = [k for k in (*KEY_FIELDS, "metrics") if not isinstance(record, dict) or k not in record]
        if lacking or not isinstance(record["metrics"], dict):
            what = f"record {i} is not a run record (lacks {', '.join(lacking) or 'a metrics object'})"
            raise W2SError(what, where=str(file), fix=fix)
    return records


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


def compare_records(new: list[dict[str, Any]], baseline: list[dict[str, Any]], tolerance: dict[str, float] | None = None,
                    metrics: list[str] | None = None, two_sided: bool = False) -> Comparison:
    """Compare ``new`` against ``baseline`` run by run; tolerances are absolute, per metric
    (``DEFAULT_TOLERANCE`` for metrics without one)."""
    metrics = list(metrics or DEFAULT_METRICS)
    tolerances = {m: (tolerance or {}).get(m, DEFAULT_TOLERANCE) for m in metrics}
    new_runs, base_runs = _by_run(new, "new results"), _by_run(baseline, "baseline")
    if not base_runs:
        raise W2SError("the baseline has no runs, so nothing would be checked", where="baseline",
                       fix="compare against the results.json of a finished run")
    known = {k for record in [*new, *baseline] for k in record["metrics"]}
    for metric in metrics:
        if metric not in known:
            raise W2SError(f"no run has a metric {metric!r}", where="--metrics", fix=did_you_mean(metric, known))
    rows = []
    for run, base in base_runs.items():
        if run not in new_runs:
            rows.append(Row(run, None, None, None, None, "missing"))
            continue
        for metric, tol in tolerances.items():
            before, after = _value(base, metric, "baseline"), _value(new_runs[run], metric, "new results")
            rows.append(Row(run, metric, before, after, tol, _status(metric, before, after, tol, two_sided)))
    rows += [Row(run, None, None, None, None, "new") for run in new_runs if run not in base_runs]
    return Comparison(rows, metrics, tolerances, two_sided)


def _by_run(records: list[dict[str, Any]], side: str) -> dict[RunKey, dict[str, Any]]:
    runs: dict[RunKey, dict[str, Any]] = {}
    for record in records:
        run = tuple(record[k] for k in KEY_FIELDS)
        if run in runs:  # matching would be ambiguous
            raise W2SError(f"run {_run_name(run)} appears twice", where=side, fix="keep one record per run and seed")
        runs[run] = record
    return runs


def _value(record: dict[str, Any], metric: str, side: str) -> float | None:
    """A metric as a float; an absent key counts as None (undefined), like a PGR that was not reported."""
    value = record["metrics"].get(metric)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise W2SError(f"metric {metric!r} of run {_run_name(tuple(record[k] for k in KEY_FIELDS))} is {value!r}, "
                       "not a finite number", where=side, fix="compare scalar metrics only (not *_ci, *_flag)")
    return float(value)


def _status(metric: str, before: float | None, after: float | None, tol: float, two_sided: bool) -> str:
    if before is None or after is None:
        return "ok" if before is after else "undefined"
    better = (before - after) if metric in LOWER_IS_BETTER else (after - before)
    if better < -(tol + _EPS):
        return "regressed"
    if better > tol + _EPS:
        return "changed" if two_sided else "improved"
    return "ok"


def _run_name(run: RunKey) -> str:
    task, weak, strong, method, seed = run
    return f"{task} {weak}->{strong} {method} seed {seed}"


_COLUMNS = ["task", "weak", "strong", "method", "seed", "metric", "baseline", "new", "diff", "tolerance", "status"]


def _cells(row: Row) -> list[str]:
    def number(value: float | None, fmt: str = ".4f") -> str:
        return "n/a" if value is None else format(value, fmt)

    if row.metric is None:  # a whole run present on one side only
        return [*map(str, row.run), "(all)", "-", "-", "-", "-", row.status]
    return [*map(str, row.run), row.metric, number(row.baseline), number(row.new), number(row.diff, "+.4f"),
            f"{row.tolerance:g}", row.status]


def _shown(comparison: Comparison, verbose: bool) -> list[Row]:
    return comparison.rows if verbose else [row for row in comparison.rows if row.status != "ok"]


def render_comparison(comparison: Comparison, console: Console | None = None, verbose: bool = False) -> None:
    """The rows that differ (all rows with ``verbose``) as a rich table, then a one-line summary."""
    console = console or make_console()
    rows = _shown(comparison, verbose)
    if rows:
        table = Table(title="new vs baseline")
        for column in _COLUMNS:
            table.add_column(column, justify="right" if column in ("seed", "baseline", "new", "diff", "tolerance") else "left")
        for row in rows:
            style = "red" if row.failed else ("green" if row.status == "improved" else None)
            table.add_row(*map(escape, _cells(row)), style=style)  # names come from results files: no markup
        console.print(table)
    console.print(escape(comparison.summary()), style="bold red" if comparison.failed else "green", highlight=False)


def comparison_markdown(comparison: Comparison, verbose: bool = False) -> str:
    """The same as :func:`render_comparison`, for a pull-request comment or a CI job summary."""
    rows = _shown(comparison, verbose)
    if not rows:
        return comparison.summary() + "\n"
    lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in rows]
    return "\n".join(lines) + "\n\n" + comparison.summary() + "\n"
