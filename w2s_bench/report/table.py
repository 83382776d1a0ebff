"""One table, three renderings. Rows are (task, weak, strong, method) cells; with several seeds the
numbers are means and the interval is a Student-t CI across seeds, with one seed the interval is
the paired bootstrap over test examples. A PGR that is undefined (ceiling not clearly above weak)
shows as "n/a" with the reason, never as a huge number; a failed run shows its reason.

Which metrics are columns, how they aggregate over seeds and how they are formatted comes from the
metric registry (``w2s_bench.metrics.registry``): the terminal shows ``show="terminal"`` metrics, Markdown
also ``show="table"`` ones, and the per-run CSV every scalar metric; a column no run has is left out.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from w2s_bench.metrics.registry import METRICS, Metric, metric_for_key, metrics_of_kind
from w2s_bench.metrics.stats import seed_summary
from w2s_bench.progress import console as make_console
from w2s_bench.records import ChainSupervision, EnsembleSupervision, FailedRun, Record, RunRecord, SupervisionInfo
from w2s_bench.report.document import ReportTable
from w2s_bench.report.markdown import render_table

CELL = ("task", "weak", "strong", "method")


def aggregate(records: list[Record]) -> list[dict[str, Any]]:
    """One row per (task, weak, strong, method): each aggregated metric's mean over the seeds that finished
    (and, for ``t_interval`` metrics, its interval under the metric's ``ci_key``), ``seeds``, ``n_ok`` (runs that
    finished), ``n_undefined`` (per metric key, how many of those seeds left it undefined and out of the mean,
    e.g. a PGR whose gap was not significant) and a ``note``: why PGR is undefined, how the labels were made,
    and which seeds failed and why."""
    cells: dict[tuple[str, ...], list[Record]] = defaultdict(list)
    for record in records:
        cells[tuple(getattr(record, k) for k in CELL)].append(record)
    rows = []
    for cell, runs in cells.items():
        ok = [r for r in runs if isinstance(r, RunRecord)]
        row: dict[str, Any] = {**dict(zip(CELL, cell, strict=True)), "seeds": ",".join(str(r.seed) for r in ok),
                               "n_ok": len(ok), "n_undefined": {}}
        for metric, key in _aggregated_keys(ok):
            summary = seed_summary([r.metrics.get(key) for r in ok])
            row[key] = summary["mean"]
            if summary["n_missing"]:
                row["n_undefined"][key] = summary["n_missing"]
            if metric.aggregate == "t_interval" and metric.ci_key:
                row[metric.ci_key] = ok[0].metrics.get(metric.ci_key) if len(ok) == 1 else (
                    summary["ci"].as_list() if summary["ci"] is not None else None)
        row["note"] = "; ".join(filter(None, [_floor(ok), _supervision_summary(ok), _flags(ok), _failures(runs)]))
        rows.append(row)
    return rows


def _aggregated_keys(runs: list[RunRecord]) -> list[tuple[Metric, str]]:
    """(metric, record key) of every aggregated metric some run reports, in registry order."""
    present = {key for r in runs for key in r.metrics}
    kinds = dict.fromkeys(r.kind for r in runs)
    metrics = dict.fromkeys(m for kind in kinds for m in metrics_of_kind(kind) if m.aggregate != "none")
    return [(m, key) for m in metrics for key in m.keys() if key in present]


def _floor(runs: list[RunRecord]) -> str:
    """Which model PGR starts from, when it is not the weak model (the record's ``pgr_floor``)."""
    floors = sorted({r.metrics.get("pgr_floor") or "weak" for r in runs} - {"weak"})
    return f"PGR from {', '.join(floors)}" if floors else ""


def _flags(runs: list[RunRecord]) -> str:
    flags = sorted({r.metrics["pgr_flag"] for r in runs if r.metrics.get("pgr_flag")})
    missing = sum(r.metrics.get("pgr") is None for r in runs)
    return "; ".join(flags) + (f" ({missing}/{len(runs)} seeds)" if flags and len(runs) > 1 else "")


def _failures(runs: list[Record]) -> str:
    failed = [r for r in runs if isinstance(r, FailedRun)]
    return "; ".join(f"failed (seed {r.seed}, {r.step}): {r.reason.splitlines()[0]}" for r in failed)


def _chain_summary(infos: list[ChainSupervision]) -> str:
    links = zip(*[i.chain for i in infos], strict=True)
    return "chain " + " -> ".join(f"{link[0].model} {np.mean([x.test_acc for x in link]):.3f}" for link in links)


def _ensemble_summary(infos: list[EnsembleSupervision]) -> str:
    accuracy = np.mean([i.supervisor_test_acc for i in infos])
    return f"{infos[0].combine} of {len(infos[0].members)}: {accuracy:.3f}"


# how the note column describes supervision that is not one plain supervisor, by SupervisionInfo.kind
_SUMMARIES: dict[str, Callable[[list[Any]], str]] = {"chain": _chain_summary, "ensemble": _ensemble_summary}


def _supervision_summary(runs: list[RunRecord]) -> str:
    """How the labels were made, when a method made them differently from one supervisor: each bootstrap
    link's test accuracy, or the ensemble's (seed means)."""
    infos: list[SupervisionInfo] = [r.supervision for r in runs]
    kinds = {info.kind for info in infos}
    summary = _SUMMARIES.get(infos[0].kind) if len(kinds) == 1 else None
    return summary(infos) if summary else ""


def fmt(value: Any, digits: int = 3) -> str:
    """One cell of a report: None as "n/a", floats to ``digits`` places, intervals to two."""
    if value is None:
        return "n/a"
    if isinstance(value, list):
        return f"[{value[0]:.2f}, {value[1]:.2f}]"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _cell(key: str, value: Any) -> str:
    metric = metric_for_key(key)
    return format(value, metric.fmt) if metric and isinstance(value, float) else fmt(value)


def _columns(rows: list[dict[str, Any]], shown: tuple[str, ...]) -> list[tuple[Metric, str]]:
    """(metric, key) of the aggregated metrics to show, in registry order, when some row has the key."""
    present = {key for row in rows for key in row}
    return [(m, key) for m in METRICS.values() if m.show in shown for key in m.keys() if key in present]


# what the terminal table's numbers are, per record kind
_TITLES = {"classification": "accuracy on test; gain and misfit: squared distance",
           "generation": "mean judge score on test; d-2: distinct bigrams; ppl: under the untuned strong LM"}


def render_rich(records: list[Record], console: Console | None = None) -> None:
    rows = aggregate(records)
    kinds = dict.fromkeys(r.kind for r in records)
    table = Table(title="weak-to-strong results (" + "; ".join(_TITLES.get(k, k) for k in kinds) + ")")
    columns = _columns(rows, ("terminal",))
    for header in ["task", "weak", "strong", "method", "seeds", *(m.header(key) for m, key in columns), "note"]:
        table.add_column(header, justify="left" if header in ("task", "weak", "strong", "method", "note") else "right")
    for row in rows:
        cells = [row[k] for k in CELL] + [row["seeds"] or "-"]
        for metric, key in columns:
            value = row.get(key)
            interval = row.get(metric.ci_key) if metric.aggregate == "t_interval" and metric.ci_key else None
            cells.append(f"{_cell(key, value)} {fmt(interval)}" if value is not None and interval else _cell(key, value))
        table.add_row(*map(escape, [*cells, row["note"]]))  # user-given names: no rich markup
    (console or make_console()).print(table)


def results_table(records: list[Record]) -> ReportTable:
    """The aggregated results as a table of display strings: the cell, the seeds, the metrics Markdown shows
    (with each ``t_interval`` metric's interval beside it) and the note."""
    rows = aggregate(records)
    columns = []
    for metric, key in _columns(rows, ("terminal", "table")):
        columns.append(key)
        if metric.aggregate == "t_interval" and metric.ci_key:
            columns.append(metric.ci_key)
    return ReportTable(title="weak-to-strong results (accuracy on test; means over seeds)",
                       headers=[*CELL, "seeds", *columns, "note"],
                       rows=[[*(str(row[k]) for k in (*CELL, "seeds")), *(_cell(c, row.get(c)) for c in columns),
                              row["note"]] for row in rows],
                       numeric=[False] * len(CELL) + [False] + [True] * len(columns) + [False])


def to_markdown(records: list[Record]) -> str:
    return render_table(results_table(records))


def to_csv(records: list[Record]) -> str:
    """Per-run rows (one per seed), all scalar metrics: the format for further analysis. A failed run has
    ``status`` failed, no metrics, and its ``reason``."""
    done = [r for r in records if isinstance(r, RunRecord)]
    scalar_keys = sorted({k for r in done for k, v in r.metrics.items() if not isinstance(v, list)})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*CELL, "seed", "status", *scalar_keys, "reason"])
    for r in records:
        metrics = r.metrics if isinstance(r, RunRecord) else {}
        writer.writerow([*(getattr(r, k) for k in CELL), r.seed, r.status, *[metrics.get(k) for k in scalar_keys],
                         r.reason if isinstance(r, FailedRun) else ""])
    return buffer.getvalue()
