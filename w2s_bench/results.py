"""Writing results: one self-describing JSON per run, per-sample predictions as jsonl (the format is
``w2s_bench.records``; reading is ``w2s_bench.records.read_results``).

Layout under ``--output_path DIR``::

    DIR/results.json                    list of every run record in DIR: this sweep's and, after them,
                                        earlier sweeps' into the same folder (rewritten after each run)
    DIR/runs/<run key>.json             one record per run (finished or failed)
    DIR/samples/<run key>.jsonl         per test example: id, label, weak / ceiling / w2s probabilities
    DIR/comparisons.json                the paired method comparisons, over results.json's runs

Every write goes to a temporary file that is renamed into place (``w2s_bench.files``), so a crash
or Ctrl-C never leaves a half-written file. A second sweep into the same folder adds to it: results.json
lists the runs already in ``runs/`` too (a run of the same key is replaced), so readers of results.json
(tables, ``compare``, ``report``, leaderboard submissions) see the folder's whole results set. Resuming is
the artefact store's job (``w2s_bench.cache``): a rerun rebuilds finished runs' records from stored
predictions without training.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import subprocess
import sys
from collections.abc import Iterable
from datetime import datetime, timezone
from functools import cache, lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from w2s_bench.errors import W2SError
from w2s_bench.examples import Example
from w2s_bench.files import atomic_write_text, remove_stale_temp_files
from w2s_bench.records import (
    ClassificationSample,
    GitState,
    Hardware,
    MethodComparison,
    Provenance,
    Record,
    RunRecord,
    Sample,
    read_results,
    read_samples,
    to_json,
)

log = logging.getLogger("w2s_bench")


def run_key(task: str, weak: str, strong: str, method: str, seed: int) -> str:
    """A file-name-safe name of a run."""
    raw = f"{task}__{weak}__{strong}__{method}__seed{seed}"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", raw)


@lru_cache(maxsize=1)
def _git_state() -> GitState:
    """The commit of the w2s-bench checkout that ran, and whether it had uncommitted changes
    (None outside a git checkout, e.g. after ``pip install w2s-bench``)."""
    package = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=package, capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return GitState(commit=None, dirty=None)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=package,
                                capture_output=True, text=True, timeout=10)
        return GitState(commit=commit.stdout.strip(), dirty=bool(status.stdout.strip()))
    except (OSError, subprocess.SubprocessError):
        return GitState(commit=None, dirty=None)


@lru_cache(maxsize=1)
def _hardware() -> Hardware:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
        cpu = names[0] if names else cpu
    try:
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        memory_gb = None
    import torch

    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    return Hardware(cpu=cpu, cpu_count=os.cpu_count(), memory_gb=memory_gb, gpus=gpus, torch_threads=torch.get_num_threads())


@cache
def package_versions(packages: tuple[str, ...]) -> dict[str, str | None]:
    """Installed versions (None: not installed), looked up once per process."""
    versions: dict[str, str | None] = {}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def provenance() -> Provenance:
    """Versions, code state and machine facts that can change a number."""
    versions = package_versions(("w2s-bench", "torch", "transformers", "tokenizers", "datasets", "scikit-learn", "numpy",
                                 "peft", "accelerate", "safetensors"))
    return Provenance(versions=dict(versions), python=sys.version.split()[0], platform=platform.platform(), git=_git_state(),
                      hardware=_hardware(), created=datetime.now(timezone.utc).isoformat(timespec="seconds"))


def classification_samples(test: Iterable[Example], probs: dict[str, np.ndarray]) -> list[ClassificationSample]:
    """One row per test example, by id, with each model's probabilities at full precision (a float64 written
    by json reads back bit for bit), so metrics recomputed from the rows equal the record's."""
    return [ClassificationSample(id=example.id, label=example.label, **{name: [float(p) for p in values[i]]
                                                                         for name, values in probs.items()})
            for i, example in enumerate(test)]


class ResultsDir:
    """Writes run records, their samples and the summary under an output folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        remove_stale_temp_files(self.root, self.root / "runs", self.root / "samples")  # left by a killed run
        self.earlier = self._earlier_runs()

    def _earlier_runs(self) -> dict[str, Record]:
        """The records already in ``runs/`` (earlier sweeps into this folder), by key. A file that cannot be
        read stays where it is and out of results.json, with a warning naming it."""
        earlier: dict[str, Record] = {}
        for file in sorted((self.root / "runs").glob("*.json")):
            try:
                earlier.update((record.key, record) for record in read_results(file))
            except W2SError as exc:
                log.warning("%s is left out of results.json: %s", file, exc)
        return earlier

    def write_run(self, record: Record, samples: list[Sample]) -> None:
        """A run's record and its samples; a failed run has none, and an older run's samples file of the
        same key is removed so that no stale rows sit beside the failure."""
        samples_file = self.root / "samples" / f"{record.key}.jsonl"
        if isinstance(record, RunRecord):
            atomic_write_text(samples_file, "".join(json.dumps(to_json(row), allow_nan=False) + "\n" for row in samples))
        else:
            samples_file.unlink(missing_ok=True)
        atomic_write_text(self.root / "runs" / f"{record.key}.json", _json(record))

    def earlier_than(self, records: list[Record]) -> list[Record]:
        """The folder's earlier runs that ``records`` (this sweep's) did not redo."""
        done = {record.key for record in records}
        return [record for key, record in self.earlier.items() if key not in done]

    def earlier_samples(self, records: list[Record]) -> dict[str, list[Sample]]:
        """The per-sample rows of the finished runs among ``records`` (earlier runs of this folder), by key; a
        run whose rows cannot be read is left out of the comparisons, with a warning."""
        samples: dict[str, list[Sample]] = {}
        for record in records:
            if isinstance(record, RunRecord):
                try:
                    samples[record.key] = read_samples(self.root, record)
                except W2SError as exc:
                    log.warning("run %s is left out of comparisons.json: %s", record.key, exc)
        return samples

    def write_summary(self, records: list[Record]) -> None:
        """results.json: ``records`` (this sweep's), then the earlier runs of the folder that this sweep did not redo."""
        atomic_write_text(self.root / "results.json", _json([*records, *self.earlier_than(records)]))

    def write_comparisons(self, comparisons: list[MethodComparison]) -> None:
        atomic_write_text(self.root / "comparisons.json", _json(comparisons))


def _json(value: Any) -> str:
    return json.dumps(to_json(value), indent=2, allow_nan=False)
