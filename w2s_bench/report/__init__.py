"""Tables of run records: the terminal (rich), Markdown and CSV; paired method-vs-baseline comparisons;
regression checks of a new result set against a pinned baseline (``w2s-bench compare``)."""

from w2s_bench.report.paired import comparisons_to_markdown, method_comparisons, render_comparisons
from w2s_bench.report.regression import (
    Comparison,
    compare_records,
    comparison_markdown,
    load_records,
    parse_tolerance,
    render_comparison,
)
from w2s_bench.report.table import aggregate, render_rich, to_csv, to_markdown

__all__ = ["aggregate", "comparisons_to_markdown", "method_comparisons", "render_comparisons", "render_rich", "to_csv",
           "to_markdown", "Comparison", "compare_records", "comparison_markdown", "load_records", "parse_tolerance",
           "render_comparison"]
