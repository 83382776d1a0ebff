"""A report as plain tables of display strings, which each format module renders (``w2s-bench report``).

The tables are the ones the run prints: the results table (one row per task, weak, strong and method,
with the columns Markdown shows, from the metric registry; :func:`w2s_bench.report.table.results_table`)
and the paired method comparisons (:func:`w2s_bench.report.paired.comparison_table`). A format module
(``markdown``, ``csvfile``, ``latex``, ``html``) has one function, ``render(report) -> str``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReportTable:
    """One table: a title, column headers, rows of display strings, and which columns hold numbers
    (right-aligned where a format aligns)."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    numeric: list[bool]


@dataclass(frozen=True)
class Report:
    title: str
    tables: list[ReportTable]
