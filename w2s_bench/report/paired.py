"""The method comparisons (``w2s_bench.metrics.compare_methods``) as a terminal or Markdown table."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from w2s_bench.metrics.registry import metric_for_key
from w2s_bench.progress import console as make_console
from w2s_bench.records import MethodComparison
from w2s_bench.report.document import ReportTable
from w2s_bench.report.markdown import render_table
from w2s_bench.report.table import fmt


def _headers(rows: list[MethodComparison]) -> list[str]:
    return ["task", "weak", "strong", "method", "baseline", "seeds", f"{rows[0].metric} diff [{rows[0].level:.0%} CI]",
            "PGR diff", "disagree", "CI over", "verdict", "note"]


def _cells(row: MethodComparison) -> list[str]:
    """A row as display strings; the interval gets three digits because accuracy differences are often below 0.01."""
    diff = f"{fmt(row.diff)} [{fmt(row.diff_ci[0])}, {fmt(row.diff_ci[1])}]" if row.diff_ci else fmt(row.diff)
    return [row.task, row.weak, row.strong, row.method, row.baseline, ",".join(map(str, row.seeds)), diff,
            fmt(row.pgr_diff), ",".join(map(str, row.n_disagree)), fmt(row.ci_kind), row.verdict, row.note]


def _title(rows: list[MethodComparison]) -> str:
    metric = metric_for_key(rows[0].metric)
    name = metric.header(rows[0].metric) if metric else rows[0].metric
    return f"method vs baseline: {name} difference [{rows[0].level:.0%} CI]"


def render_comparisons(rows: list[MethodComparison], console: Console | None = None) -> None:
    """Print the comparisons as a rich table; nothing when there is nothing to compare."""
    if not rows:
        return
    table = Table(title=_title(rows))
    for header in _headers(rows):
        table.add_column(header, justify="left" if header in ("task", "weak", "strong", "method", "baseline", "note")
                         else "right")
    for row in rows:
        table.add_row(*map(escape, _cells(row)))  # names come from the user: no rich markup
    (console or make_console()).print(table)


def comparison_table(rows: list[MethodComparison]) -> ReportTable:
    """The comparisons (at least one) as a table of display strings (for ``w2s-bench report`` and results.md)."""
    headers = _headers(rows)
    numeric = [h not in ("task", "weak", "strong", "method", "baseline", "CI over", "verdict", "note") for h in headers]
    return ReportTable(title=_title(rows), headers=headers, rows=[_cells(row) for row in rows], numeric=numeric)


def comparisons_to_markdown(rows: list[MethodComparison]) -> str:
    """The comparisons as a Markdown table ("" when there are none)."""
    return render_table(comparison_table(rows)) if rows else ""
