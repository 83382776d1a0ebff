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
              "0.82 [0.62, 1.02]", "0.15 [-0.36, 0.66]",  # over seeds
              "stacked 0.82 [0.77, 0.87]", "stacked 0.15 [0.08, 0.21]"]
    for number in quoted:
        assert number in printed, f"study.py no longer prints {number} from {RESULTS}"
        assert number in page, f"docs/validity.md no longer quotes {number}"
    assert "| mpnet-base | 6 | 4 |" in printed  # gain >= misfit in 4 of the 6 runs, as the page says
