"""A report as LaTeX: one ``table`` with a booktabs ``tabular`` per table (``\\usepackage{booktabs}``).
Every cell is escaped, so a task or model name is text, never a command."""

from __future__ import annotations

from w2s_bench.report.document import Report, ReportTable

_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
            "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}"}


def escape(text: str) -> str:
    """``text`` as LaTeX text: the special characters escaped, "->" as an arrow, a newline as a space."""
    out = "".join(_SPECIAL.get(char, char) for char in text.replace("\n", " "))
    return out.replace(r"-\textgreater{}", r"$\rightarrow$")


def render_table(table: ReportTable) -> str:
    columns = "".join("r" if numeric else "l" for numeric in table.numeric)
    lines = [r"\begin{table}[t]", r"\centering", r"\small", f"\\caption{{{escape(table.title)}}}",
             f"\\begin{{tabular}}{{{columns}}}", r"\toprule", " & ".join(map(escape, table.headers)) + r" \\", r"\midrule"]
    lines += [" & ".join(map(escape, row)) + r" \\" for row in table.rows]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def render(report: Report) -> str:
    return f"% {escape(report.title)} (w2s-bench report; needs \\usepackage{{booktabs}})\n" + \
        "\n".join(render_table(table) for table in report.tables)
