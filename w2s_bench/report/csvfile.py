"""A report as CSV: each table's header row and rows, tables separated by a blank line and introduced
by a ``# title`` line (spreadsheets show it as a cell; ``pandas.read_csv(..., comment="#")`` skips it)."""

from __future__ import annotations

import csv
import io

from w2s_bench.report.document import Report


def render(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for index, table in enumerate(report.tables):
        if index:
            buffer.write("\n")
        buffer.write(f"# {table.title}\n")
        writer.writerow(table.headers)
        writer.writerows(table.rows)
    return buffer.getvalue()
