"""Tables of run records: the terminal (rich), Markdown and CSV."""

from w2s_bench.report.table import aggregate, render_rich, to_csv, to_markdown

__all__ = ["aggregate", "render_rich", "to_csv", "to_markdown"]
