"""The offline embedded default behind a bare `w2s-bench`, end to end (about a minute on 2 cores)."""

from __future__ import annotations

import pytest
from pinned import TRANSFORMER_TOLERANCE, check_pinned

import w2s_bench
from w2s_bench.cli import main


@pytest.mark.slow
def test_demo_shows_a_real_gap_and_a_defined_pgr(tmp_path, capsys):
    assert main(["--quiet", "--output_path", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert "w2s_demo_sentiment" in table and "minilm-l6" in table
    records = w2s_bench.run(output_path=str(tmp_path))  # rebuilt from the artefact cache: no training
    assert all(a.reused for a in records[0].artefacts.values())
    m = records[0].metrics
    assert m["ceiling_acc"] - m["weak_acc"] >= 0.05
    assert m["pgr"] is not None and m["pgr_ci"][0] <= m["pgr"] <= m["pgr_ci"][1]
    assert m["w2s_acc"] > m["weak_acc"]  # measured: weak 0.771, w2s 0.821, ceiling 0.942 (seed 0)
    check_pinned("demo", records, TRANSFORMER_TOLERANCE)  # the README's numbers
