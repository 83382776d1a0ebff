"""Run records: one self-describing JSON per run, per-sample predictions as jsonl.

Layout under ``--output_path DIR``::

    DIR/results.json                    list of all run records (rewritten after each run)
    DIR/runs/<run key>.json             one record per finished run (what resume reads)
    DIR/samples/<run key>.jsonl         per test example: id, label, weak / ceiling / w2s probabilities

Every write goes to a temporary file that is renamed into place, so a crash or Ctrl-C never
leaves a half-written file; a run whose record exists with the same config hash is not redone.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import sys
import tempfile
from collections.abc import Iterable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from w2s_bench.examples import Example

SCHEMA_VERSION = 1


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_key(task: str, weak: str, strong: str, method: str, seed: int) -> str:
    """A file-name-safe name of a run."""
    raw = f"{task}__{weak}__{strong}__{method}__seed{seed}"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", raw)


def config_hash(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def provenance() -> dict[str, Any]:
    """Versions and machine facts that can change a number."""
    versions = {}
    for package in ("w2s-bench", "torch", "transformers", "datasets", "scikit-learn", "numpy", "peft"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    try:
        import torch

        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)"
    except ImportError:  # pragma: no cover - torch is a dependency
        device = "cpu"
    return {"versions": versions, "python": sys.version.split()[0], "platform": platform.platform(),
            "device": device, "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def sample_records(test: Iterable[Example], probs: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """One row per test example, by id, with each model's probabilities."""
    rows = []
    for i, example in enumerate(test):
        row: dict[str, Any] = {"id": example.id, "label": example.label}
        row.update({name: [round(float(p), 6) for p in values[i]] for name, values in probs.items()})
        rows.append(row)
    return rows


class ResultsDir:
    """Reads finished runs and writes new ones under an output folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def finished(self, key: str, hash_: str) -> dict[str, Any] | None:
        path = self.root / "runs" / f"{key}.json"
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError:
            return None
        return record if record.get("config_hash") == hash_ else None

    def write_run(self, record: dict[str, Any], samples: list[dict[str, Any]]) -> None:
        key = record["key"]
        text = "".join(json.dumps(row) + "\n" for row in samples)
        atomic_write_text(self.root / "samples" / f"{key}.jsonl", text)
        atomic_write_text(self.root / "runs" / f"{key}.json", json.dumps(record, indent=2, allow_nan=False))

    def write_summary(self, records: list[dict[str, Any]]) -> None:
        atomic_write_text(self.root / "results.json", json.dumps(records, indent=2, allow_nan=False))
