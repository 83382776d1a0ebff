"""`w2s-bench report`: the results table and the method comparisons in Markdown, CSV, LaTeX and HTML, with
user-given names escaped in each format."""

from __future__ import annotations

import csv
import io
import json

import pytest
from fakes import fake_record

from w2s_bench.cli import main
from w2s_bench.records import MethodComparison, to_json
from w2s_bench.report.render import FORMATS, build_report

EVIL = "<script>alert(1)</script>&_%$#{}"


def comparison(method: str = "logconf") -> MethodComparison:
    return MethodComparison(task="sst2", weak="tfidf", strong="minilm-l6", method=method, baseline="naive", metric="w2s_acc",
                            seeds=[0, 1, 2], diff=-0.048, diff_ci=[-0.09, -0.01], pgr_diff=-0.4, n_disagree=[30, 28, 31],
                            ci_kind="seeds", verdict="worse", level=0.95)


def records():
    return [fake_record(task="sst2", weak="tfidf", strong="minilm-l6", method=m, seed=s, w2s_acc=0.70 + 0.01 * s)
            for m in ("naive", "logconf") for s in (0, 1, 2)] + [fake_record(task=EVIL, method="naive")]


def test_every_format_has_the_results_and_the_comparisons():
    report = build_report(records(), [comparison()])
    assert [t.title.split(":")[0] for t in report.tables] == ["weak-to-strong results (accuracy on test; means over seeds)",
                                                               "method vs baseline"]
    md = FORMATS["md"](report)
    assert "| sst2 | tfidf | minilm-l6 | logconf | 0,1,2 |" in md and "| worse |" in md and "0.710" in md
    tables = FORMATS["csv"](report).split("\n\n")
    rows = list(csv.reader(io.StringIO(tables[1].split("\n", 1)[1])))
    assert rows[0][:4] == ["task", "weak", "strong", "method"] and rows[1][3] == "logconf" and "worse" in rows[1]
    latex = FORMATS["latex"](report)
    assert latex.count(r"\begin{tabular}") == 2 and r"\toprule" in latex and "logconf & naive" in latex
    page = FORMATS["html"](report)
    assert page.count("<table>") == 2 and "<td>worse</td>" in page


def test_names_are_escaped_in_latex_and_html():
    report = build_report(records(), [])
    assert len(report.tables) == 1  # one method per cell: no comparison table
    page = FORMATS["html"](report)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;&amp;_%$#{}" in page
    latex = FORMATS["latex"](report)
    assert r"\textless{}script\textgreater{}alert(1)\textless{}/script\textgreater{}\&\_\%\$\#\{\}" in latex


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_cli_report_reads_a_run_folder(tmp_path, capsys, fmt):
    (tmp_path / "results.json").write_text(json.dumps(to_json(records()[:6])))
    (tmp_path / "comparisons.json").write_text(json.dumps(to_json([comparison()])))
    assert main(["report", str(tmp_path), "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert "logconf" in out and "worse" in out
