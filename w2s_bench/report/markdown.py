"""A report as Markdown: a heading per table and a pipe table (what results.md holds)."""

from __future__ import annotations

from w2s_bench.report.document import Report, ReportTable


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_table(table: ReportTable) -> str:
    lines = ["| " + " | ".join(map(_cell, table.headers)) + " |",
             "|" + "".join("---:|" if numeric else "---|" for numeric in table.numeric)]
    lines += ["| " + " | ".join(map(_cell, row)) + " |" for row in table.rows]
    return "\n".join(lines) + "\n"


def render(report: Report) -> str:
    parts = [f"# {report.title}\n"]
    for table in report.tables:
        parts.append(f"\n## {table.title}\n\n{render_table(table)}")
    return "".join(parts)
