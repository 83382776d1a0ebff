"""``w2s-bench report RESULTS --format md|csv|latex|html``: the paper-ready tables of a result set.

The report holds the results table and the paired method comparisons. The comparisons are read from the
run's ``comparisons.json`` when it is there, else computed from the per-sample rows (as the run does).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from w2s_bench.errors import W2SError
from w2s_bench.metrics import compare_methods
from w2s_bench.records import FieldError, MethodComparison, Record, RunRecord, from_json, read_samples, results_folder
from w2s_bench.report import csvfile, html, latex, markdown
from w2s_bench.report.document import Report
from w2s_bench.report.paired import comparison_table
from w2s_bench.report.table import results_table

FORMATS: dict[str, Callable[[Report], str]] = {"md": markdown.render, "csv": csvfile.render, "latex": latex.render,
                                               "html": html.render}


def read_comparisons(folder: Path, records: list[Record]) -> list[MethodComparison]:
    """The method comparisons of the run in ``folder``: its comparisons.json, else recomputed from samples/."""
    file = folder / "comparisons.json"
    if file.is_file():
        try:
            return from_json(list[MethodComparison], json.loads(file.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, FieldError) as exc:
            raise W2SError(f"not a comparisons file ({exc})", where=str(file), fix="rerun the run that wrote it") from exc
    samples = {r.key: read_samples(folder, r) for r in records if isinstance(r, RunRecord)}
    return compare_methods(records, samples)


def build_report(records: list[Record], comparisons: list[MethodComparison], title: str = "w2s-bench results") -> Report:
    """The results table, and the method comparisons when the run compared methods."""
    return Report(title=title, tables=[results_table(records), *([comparison_table(comparisons)] if comparisons else [])])


def report_text(results: str | Path, output_format: str, records: list[Record]) -> str:
    """The report of the results at ``results`` (a run's folder or results.json) in ``output_format``."""
    comparisons = read_comparisons(results_folder(results), records)
    return FORMATS[output_format](build_report(records, comparisons))
