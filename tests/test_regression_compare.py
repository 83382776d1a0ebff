"""`w2s-bench compare NEW BASELINE`: exit codes and statuses on hand-made results.json files."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from fakes import fake_record

from w2s_bench.cli import main
from w2s_bench.errors import W2SError
from w2s_bench.records import parse_record, to_json
from w2s_bench.report import check_against_baseline, check_markdown, parse_tolerance

RUN = {"task": "sst2", "weak": "tfidf", "strong": "minilm-l6", "seed": 0}
BASELINE = to_json([
    fake_record(**RUN, method="naive", weak_acc=0.677, ceiling_acc=0.796, w2s_acc=0.759, pgr=0.69, pgr_ci=[0.47, 0.89],
                misfit_sq=0.10, w2s_ece=0.05),
    fake_record(**RUN, method="logconf", weak_acc=0.677, ceiling_acc=0.796, w2s_acc=0.711, pgr=0.29, pgr_ci=[-0.03, 0.53],
                misfit_sq=0.12, w2s_ece=0.07),
])


def typed(records: list[dict]) -> list:
    return [parse_record(r) for r in records]


def write(folder: Path, records: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(records))
    return folder


def changed(method: str, **metrics: float | None) -> list[dict]:
    """The baseline with some metrics of one method's run replaced."""
    records = copy.deepcopy(BASELINE)
    next(r for r in records if r["method"] == method)["metrics"].update(metrics)
    return records


def compare(tmp_path: Path, new: list[dict], *options: str) -> int:
    baseline = write(tmp_path / "baseline", BASELINE)
    return main(["compare", str(write(tmp_path / "new", new)), str(baseline), *options])


def test_identical_results_pass(tmp_path, capsys):
    assert compare(tmp_path, BASELINE) == 0
    assert "compare passed" in capsys.readouterr().out


def test_drop_beyond_tolerance_fails_and_names_the_row(tmp_path, capsys):
    assert compare(tmp_path, changed("logconf", w2s_acc=0.661), "--tolerance", "0.02") == 1
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "regressed" in line and "logconf" in line)
    assert "w2s_acc" in row and "0.7110" in row and "0.6610" in row and "-0.0500" in row
    assert "naive " not in out  # unchanged rows are not shown
    assert "compare FAILED: 1 regressed" in out


def test_change_within_tolerance_passes(tmp_path, capsys):
    assert compare(tmp_path, changed("naive", w2s_acc=0.745, pgr=0.70)) == 0
    # a change of exactly the tolerance is within it, despite float rounding of the difference
    assert compare(tmp_path, changed("naive", w2s_acc=0.739), "--tolerance", "0.02") == 0


def test_improvement_passes_unless_two_sided(tmp_path, capsys):
    improved = changed("naive", w2s_acc=0.80)
    assert compare(tmp_path, improved) == 0
    assert "improved" in capsys.readouterr().out
    assert compare(tmp_path, improved, "--two_sided") == 1
    assert "1 changed" in capsys.readouterr().out


def test_missing_run_fails_but_a_new_run_does_not(tmp_path, capsys):
    assert compare(tmp_path, BASELINE[:1]) == 1
    out = capsys.readouterr().out
    assert "missing" in out and "logconf" in out
    extra = {**copy.deepcopy(BASELINE[0]), "seed": 1}
    assert compare(tmp_path, [*BASELINE, extra]) == 0
    assert "1 new" in capsys.readouterr().out


def test_pgr_becoming_undefined_fails(tmp_path, capsys):
    assert compare(tmp_path, changed("naive", pgr=None)) == 1
    assert "undefined" in capsys.readouterr().out
    both_undefined = check_against_baseline(typed(changed("naive", pgr=None)), typed(changed("naive", pgr=None)))
    assert not both_undefined.failed


def test_lower_is_better_metrics_flip_direction(tmp_path, capsys):
    metrics = ("--metrics", "misfit_sq,w2s_ece")
    assert compare(tmp_path, changed("naive", misfit_sq=0.20), *metrics) == 1  # misfit grew: worse
    assert "regressed" in capsys.readouterr().out
    assert compare(tmp_path, changed("naive", misfit_sq=0.02, w2s_ece=0.01), *metrics) == 0  # smaller: better
    assert "2 improved" in capsys.readouterr().out


def test_a_metric_without_a_better_direction_fails_on_any_change_beyond_tolerance(tmp_path, capsys):
    """agreement is neither better high nor low (imitating the supervisor's errors raises it): the registry says
    so (higher_is_better None), and compare fails when it moves either way, even one-sided."""
    for value in (0.99, 0.80):
        assert compare(tmp_path, changed("naive", agreement=value), "--metrics", "agreement") == 1
        assert "1 changed" in capsys.readouterr().out
    assert compare(tmp_path, changed("naive", agreement=0.91), "--metrics", "agreement") == 0


def test_a_failed_run_in_the_new_results_fails_the_check(tmp_path, capsys):
    new = copy.deepcopy(BASELINE)
    new[1] = {k: v for k, v in new[1].items() if k not in ("metrics", "supervision", "training", "artefacts", "seconds")}
    new[1].update(status="failed", step="w2s", error="W2SError", reason="the targets contain a single class")
    assert compare(tmp_path, new) == 1
    assert "1 failed" in capsys.readouterr().out


def test_per_metric_tolerance(tmp_path, capsys):
    metrics = ["weak_acc", "w2s_acc", "pgr"]
    assert parse_tolerance("0.02", metrics) == {"weak_acc": 0.02, "w2s_acc": 0.02, "pgr": 0.02}
    assert parse_tolerance("w2s_acc=0.01, pgr=0.1", metrics) == {"weak_acc": 0.02, "w2s_acc": 0.01, "pgr": 0.1}
    assert parse_tolerance("pgr=0.1,0.05", metrics) == {"weak_acc": 0.05, "w2s_acc": 0.05, "pgr": 0.1}
    for bad in ("w2s_ac=0.01", "pgr=x", "-0.1"):
        with pytest.raises(W2SError, match="--tolerance"):
            parse_tolerance(bad, metrics)
    # pgr moves by 0.08: beyond the default 0.02, within an override of 0.1
    assert compare(tmp_path, changed("naive", pgr=0.61)) == 1
    assert compare(tmp_path, changed("naive", pgr=0.61), "--tolerance", "w2s_acc=0.01,pgr=0.1") == 0
    assert compare(tmp_path, changed("naive", w2s_acc=0.744), "--tolerance", "w2s_acc=0.01,pgr=0.1") == 1


def test_bad_files_exit_2_naming_the_file(tmp_path, capsys):
    baseline = write(tmp_path / "baseline", BASELINE)
    not_json = tmp_path / "broken.json"
    not_json.write_text("{not json")
    not_records = tmp_path / "dict.json"
    not_records.write_text('{"task": "sst2"}')
    not_run_records = tmp_path / "list.json"
    not_run_records.write_text('[{"task": "sst2", "metrics": {}}]')
    (tmp_path / "empty_dir").mkdir()
    for path in (not_json, not_records, not_run_records, tmp_path / "absent", tmp_path / "empty_dir"):
        assert main(["compare", str(path), str(baseline)]) == 2
        err = capsys.readouterr().err
        assert path.name in err and "fix:" in err and "Traceback" not in err


def test_unknown_metric_exits_2(tmp_path, capsys):
    assert compare(tmp_path, BASELINE, "--metrics", "w2s_ac") == 2
    assert "did you mean 'w2s_acc'" in capsys.readouterr().err


def test_verbose_and_markdown(tmp_path, capsys):
    assert compare(tmp_path, BASELINE, "--verbose") == 0
    out = capsys.readouterr().out
    assert out.count("│ ok ") == 8 and "8 ok" in out  # 2 runs x 4 default metrics, each a table row
    markdown = check_markdown(check_against_baseline(typed(changed("naive", w2s_acc=0.70)), typed(BASELINE)))
    assert "| sst2 | tfidf | minilm-l6 | naive | 0 | w2s_acc | 0.7590 | 0.7000 | -0.0590 | 0.02 | regressed |" in markdown
    assert markdown.rstrip().endswith(")") and "compare FAILED" in markdown
