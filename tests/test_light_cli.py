"""The light command-line verbs start without torch or transformers: each runs in a fresh interpreter
that reports, after the verb, which of the heavy libraries ended up in ``sys.modules``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import fake_record

from w2s_bench.records import to_json

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers")
PROBE = f"""
import runpy, sys
sys.argv = ["w2s-bench", *sys.argv[1:]]
try:
    runpy.run_module("w2s_bench", run_name="__main__")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print("RESULT", code, ",".join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)
"""


def run_verb(*args: str) -> tuple[int, list[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=REPO, timeout=120)
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("RESULT"), done.stderr
    _, code, heavy = (line.split(" ", 2) + [""])[:3]
    return int(code or 0), [m for m in heavy.split(",") if m]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("results")
    (folder / "results.json").write_text(json.dumps(to_json([fake_record(task="sst2", weak="tfidf", strong="minilm-l6")])))
    return folder


@pytest.mark.parametrize("verb", [["--help"], ["ls", "models"], ["ls", "tasks"], ["ls", "methods"],
                                  ["validate", "tasks/nlp/sst2.yaml", "--schema_only"], ["compare", "RESULTS", "RESULTS"]])
def test_light_verbs_do_not_import_torch_or_transformers(verb: list[str], results: Path) -> None:
    code, heavy = run_verb(*[str(results) if a == "RESULTS" else a for a in verb])
    assert code == 0
    assert heavy == [], f"w2s-bench {' '.join(verb)} imported {heavy}"


def test_the_probe_sees_torch_when_a_verb_loads_it() -> None:
    """The check can fail: a dry run builds estimators, which loads torch."""
    code, heavy = run_verb("--dry_run", "--no_cache", "--limit", "50", "--quiet")
    assert code == 0
    assert "torch" in heavy
