"""Rendering results: tables of run records (the terminal, Markdown and CSV), the method comparisons as
tables, the regression check of a result set against a pinned baseline (``w2s-bench compare``), and
figures (``w2s-bench plot``). The statistics they show are computed in ``w2s_bench.metrics``."""

from w2s_bench.report.paired import comparisons_to_markdown, render_comparisons
from w2s_bench.report.regression import (
    RegressionCheck,
    check_against_baseline,
    check_markdown,
    parse_tolerance,
    render_check,
)
from w2s_bench.report.table import aggregate, render_rich, to_csv, to_markdown

__all__ = ["RegressionCheck", "aggregate", "check_against_baseline", "check_markdown", "comparisons_to_markdown",
           "parse_tolerance", "render_check", "render_comparisons", "render_rich", "to_csv", "to_markdown"]
