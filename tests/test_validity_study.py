"""docs/validity.md's study tables are printed by docs/validity/study.py from the records committed
beside the page: the script must run on them and give the numbers the page quotes, so a page edited
without a rerun, or records replaced without editing the page, fails here."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "docs" / "validity" / "results"


def _study_script():
    spec = importlib.util.spec_from_file_location("validity_study", REPO / "docs" / "validity" / "study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_records_give_the_numbers_the_page_quotes(capsys):
    _study_script().tables(RESULTS, figure=None)
    printed = capsys.readouterr().out
    page = (REPO / "docs" / "validity.md").read_text()
    quoted = ["0.91 [0.83, 0.99]", "0.81 [0.69, 0.92]", "0.75 [0.66, 0.85]",  # TF-IDF -> mpnet-base, seeds 0-2
              "-0.06 [-0.19, 0.06]", "0.16 [0.03, 0.28]", "0.35 [0.26, 0.44]",  # MiniLM-L1 -> mpnet-base
              "0.82 [0.62, 1.03]", "0.15 [-0.36, 0.66]",  # over seeds
              "stacked 0.83 [0.77, 0.88]", "stacked 0.15 [0.08, 0.22]",
              "0.60 [0.30, 0.91]", "0.27 [-0.19, 0.72]", "0.69 [0.54, 0.83]", "0.63 [0.44, 0.81]",  # question 1, the L6 pair
              "0.94 [0.83, 1.09]", "0.66 [0.45, 0.84]", "0.76 [0.37, 1.15]", "stacked 0.76 [0.67, 0.85]",  # Amazon, 3 seeds
              "-0.20 [-2.61, 0.37]", "0.00 [-2.78, 0.55]", "-0.10 [-1.37, 1.17]",  # IMDB, 3 seeds
              "-0.00 [-0.82, 0.81]", "0.02 [-0.29, 0.34]", "-0.80 [-2.27, 0.67]",  # the ladder
              "0.29 [-2.37, 2.95]", "0.32 [-0.39, 1.03]", "0.72 [0.47, 0.97]",  # questions 3-5
              "0.51 [-0.71, 1.73]", "stacked 0.50 [0.44, 0.57]", "-0.070 [-0.305, 0.166]"]  # naive_hard, 3 seeds
    for number in quoted:
        assert number in printed, f"study.py no longer prints {number} from {RESULTS}"
        assert number in page, f"docs/validity.md no longer quotes {number}"
    assert "| mpnet-base | 36 | 6 |" in printed and "| minilm-l6 | 10 | 2 |" in printed  # question 6, as the page says


def test_collect_adds_a_sweep_to_the_results_set_and_keeps_it_sorted(tmp_path, capsys):
    """Adding a sweep's folder keeps every run already in the set (results.json lists them all, sorted), and a
    run the sweep repeats is kept once."""
    from w2s_bench.records import read_results, read_samples
    from w2s_bench.results import ResultsDir

    study = _study_script()
    into = tmp_path / "results"
    study.collect([RESULTS], into)
    kept = read_results(into)
    sweep = ResultsDir(tmp_path / "sweep")  # a sweep that made one run of the set again
    sweep.write_run(kept[0], read_samples(RESULTS, kept[0]))
    sweep.write_summary([kept[0]])
    study.collect([sweep.root], into)
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"1 runs collected; {len(kept)} in")
    order = [(r.task, r.weak, r.strong, r.method, r.seed) for r in read_results(into)]
    assert len(order) == len(kept) and order == sorted(order)
