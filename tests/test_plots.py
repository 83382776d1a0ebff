"""Figures: what each one draws for hand-made records, and `w2s-bench plot` writing the PNG files."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from fakes import fake_record  # noqa: E402

from w2s_bench.cli import main  # noqa: E402
from w2s_bench.errors import W2SError  # noqa: E402
from w2s_bench.records import to_json  # noqa: E402
from w2s_bench.report import aggregate  # noqa: E402
from w2s_bench.report.plots import FILES, misfit_gain_figure, pgr_figure, plot_results, size_figure  # noqa: E402


def record(method: str, seed: int, pgr: float | None, misfit: float, gain: float):
    return fake_record(method=method, seed=seed, weak_acc=0.6, ceiling_acc=0.8, w2s_acc=0.6 + 0.2 * (pgr or 0.0), pgr=pgr,
                       pgr_ci=[pgr - 0.2, pgr + 0.3] if pgr is not None else None,
                       pgr_flag=None if pgr is not None else "gap_too_small", agreement=0.9, gain_sq=gain, misfit_sq=misfit,
                       gain_kl=gain, misfit_kl=misfit)


RECORDS = [record("naive", 0, 0.5, 0.10, 0.04), record("logconf", 0, None, 0.20, -0.01), record("logconf", 1, None, 0.30, 0.02)]


def test_pgr_bars_only_for_defined_cells_with_their_interval():
    ax = pgr_figure(aggregate(RECORDS)).axes[0]
    bars = [p for p in ax.patches if p.get_width() != 0]
    assert len(bars) == 1 and bars[0].get_width() == pytest.approx(0.5)
    (error_lines,) = [c for c in ax.collections if len(c.get_segments()) == 1]
    assert np.allclose(sorted(error_lines.get_segments()[0][:, 0]), [0.3, 0.8])  # the CI [0.3, 0.8]
    assert any("n/a (gap_too_small" in t.get_text() for t in ax.texts)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["t: w -> s, naive", "t: w -> s, logconf"]


def test_misfit_gain_has_one_point_per_run_and_the_diagonal():
    ax = misfit_gain_figure(RECORDS).axes[0]
    points = {c.get_label(): c.get_offsets().tolist() for c in ax.collections}
    assert points == {"naive": [[0.10, 0.04]], "logconf": [[0.20, -0.01], [0.30, 0.02]]}
    (diagonal,) = ax.lines
    assert np.allclose(diagonal.get_xdata(), diagonal.get_ydata())


def test_pgr_by_size_has_one_line_per_supervisor_ordered_by_student_parameters():
    ladder = [fake_record(weak=weak, strong=strong, pgr=pgr, pgr_ci=[pgr - 0.1, pgr + 0.1])
              for weak, strong, pgr in (("tfidf", "mpnet-base", 0.9), ("tfidf", "minilm-l2", 0.2), ("tfidf", "minilm-l6", 0.5),
                                        ("minilm-l1", "minilm-l6", 0.0), ("tfidf", "./some-folder", 0.7))]
    ax = size_figure(aggregate(ladder)).axes[0]
    lines = {bars.get_label(): (bars.lines[0].get_xdata().tolist(), bars.lines[0].get_ydata().tolist())
             for bars in ax.containers}
    # the folder of unknown size is left out; points go by size, not by the records' order
    assert lines == {"t: tfidf, naive": ([15.6, 22.7, 109.5], [0.2, 0.5, 0.9]), "t: minilm-l1, naive": ([22.7], [0.0])}
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["minilm-l2\n16M", "minilm-l6\n23M", "mpnet-base\n110M"]
    assert not ax.texts  # every point's PGR is defined on all of its seeds


def test_a_pgr_defined_on_only_some_seeds_is_a_hollow_point_that_says_on_how_many():
    seeds = [fake_record(strong="minilm-l6", seed=seed, pgr=pgr, pgr_ci=None if pgr is None else [pgr - 0.1, pgr + 0.1],
                         pgr_flag=None if pgr is not None else "gap_not_significant")
             for seed, pgr in ((0, 0.4), (1, None), (2, 0.6))]
    row = aggregate(seeds)[0]
    assert row["n_undefined"] == {"pgr": 1} and row["pgr"] == pytest.approx(0.5)  # the mean of the two defined
    ax = size_figure([row]).axes[0]
    assert [t.get_text() for t in ax.texts] == ["2 of 3 seeds"]
    (hollow,) = [line for line in ax.lines if line.get_markerfacecolor() == "white"]
    assert hollow.get_xdata().tolist() == [22.7] and hollow.get_ydata().tolist() == [pytest.approx(0.5)]


def test_plot_command_writes_png_files_beside_the_results(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps(to_json(RECORDS)))
    assert main(["plot", str(tmp_path)]) == 0
    for name in FILES:
        assert (tmp_path / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_records_is_an_error(tmp_path):
    with pytest.raises(W2SError, match="no finished run records"):
        plot_results([], tmp_path)
