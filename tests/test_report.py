"""Tables: seed aggregation, the PGR guard's display, and the three renderings."""

from __future__ import annotations

import csv
import io

from fakes import fake_record
from rich.console import Console

from w2s_bench.report import aggregate, render_rich, to_csv, to_markdown


def record(seed: int, pgr: float | None, weak: float = 0.6, flag: str | None = None):
    return fake_record(seed=seed, weak_acc=weak, ceiling_acc=0.8, w2s_acc=0.7, pgr=pgr,
                       pgr_ci=[0.1, 0.9] if pgr else None, pgr_flag=flag)


def test_seeds_are_averaged_with_a_t_interval():
    rows = aggregate([record(0, 0.4), record(1, 0.5), record(2, 0.6)])
    assert len(rows) == 1
    row = rows[0]
    assert row["seeds"] == "0,1,2" and abs(row["pgr"] - 0.5) < 1e-12
    low, high = row["pgr_ci"]
    assert low < 0.5 < high and abs((high - 0.5) - 4.302652729911275 * 0.1 / 3**0.5) < 1e-9


def test_undefined_pgr_is_shown_as_na_with_reason():
    rows = aggregate([record(0, None, weak=0.8, flag="ceiling_below_weak")])
    assert rows[0]["pgr"] is None and rows[0]["note"] == "ceiling_below_weak"
    console = Console(width=200, record=True)
    render_rich([record(0, None, weak=0.8, flag="ceiling_below_weak")], console)
    text = console.export_text()
    assert "n/a" in text and "ceiling_below_weak" in text and "inf" not in text


def test_markdown_and_csv():
    records = [record(0, 0.4), record(1, 0.6)]
    md = to_markdown(records)
    assert md.count("\n") == 3 and "| t | w | s | naive | 0,1 |" in md
    rows = list(csv.DictReader(io.StringIO(to_csv(records))))
    assert [r["seed"] for r in rows] == ["0", "1"] and rows[0]["pgr"] == "0.4"
