"""Pinned results: a run's metrics are compared with a stored baseline (``tests/pinned/<name>.json``)
by the same check users run in their CI (``w2s-bench compare --two_sided``), so a change that shifts
numbers, such as a training default, fails a test instead of passing silently.

After an intended change, regenerate the pins and commit them with the change that explains them:

    W2S_BENCH_UPDATE_PINS=1 python -m pytest tests/test_pinned.py tests/test_demo.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from w2s_bench.records import Record
from w2s_bench.report.regression import RUN_FIELDS, check_markdown, check_runs, runs_by_id

PINS = Path(__file__).parent / "pinned"
METRICS = ["weak_acc", "ceiling_acc", "w2s_acc", "pgr"]
# What differs between machines for a finetuned transformer (BLAS kernels and thread counts flip a few
# predictions: about 0.01 in accuracy on a few hundred test examples) and nothing more; PGR, a ratio
# over a gap of 0.1-0.2, gets a proportionally wider one.
TRANSFORMER_TOLERANCE = {"weak_acc": 0.02, "ceiling_acc": 0.02, "w2s_acc": 0.02, "pgr": 0.15}


def check_pinned(name: str, records: list[Record], tolerance: dict[str, float]) -> None:
    """Assert that ``records`` reproduce the pin ``name`` within ``tolerance`` (absolute, per metric,
    both directions); with ``W2S_BENCH_UPDATE_PINS=1``, write them as the new pin instead. A pin keeps
    only the run's identity and the pinned metrics."""
    path = PINS / f"{name}.json"
    if os.environ.get("W2S_BENCH_UPDATE_PINS"):
        slim = [{**{k: getattr(r, k) for k in RUN_FIELDS}, "metrics": {m: r.metrics[m] for m in METRICS}} for r in records]
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(slim, indent=2) + "\n")
        return
    assert path.is_file(), f"no pin {path}: create it with W2S_BENCH_UPDATE_PINS=1 (see tests/pinned.py)"
    pins: dict[Any, Any] = {tuple(p[k] for k in RUN_FIELDS): p["metrics"] for p in json.loads(path.read_text())}
    check = check_runs(runs_by_id(records, "new results"), pins, tolerance, METRICS, two_sided=True)
    assert not check.failed, f"results moved away from the pin {path.name}:\n{check_markdown(check)}"
