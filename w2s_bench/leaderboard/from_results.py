"""A board from run records (``w2s_bench.records``, read with ``read_results``), so the site can be
built from any run before submissions and the ranking exist.

Each (weak, strong, method) in the records becomes one submission, labelled as produced by a
w2s-bench run; each of its tasks one row, aggregated over seeds exactly as the terminal table
(:func:`w2s_bench.report.table.aggregate`). Nothing is ranked: there is no suite to rank on, so
every ranking row is "unranked" and its mean PGR is the plain mean over the tasks where PGR is
defined, without a CI. The ranking over the leaderboard suite (a bootstrap CI over tasks and seeds)
and the reading of validated submissions replace this module's ranking rows, not the board.

Failed runs have no metrics: a submission's task row aggregates the seeds that finished, and a
(weak, strong, method) whose every run failed is left out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from w2s_bench.leaderboard.board import Board, ModelInfo, RankingRow, Submission, TaskRow
from w2s_bench.models import ALIASES
from w2s_bench.records import Provenance, Record, RunRecord
from w2s_bench.report.table import aggregate
from w2s_bench.tasks import TaskRegistry

UNRANKED = "unranked (no ranking suite)"
ABOUT = ("Built from run records: no ranking suite is defined for them, so nothing is ranked. Mean PGR is the plain "
         "mean over a submission's tasks where PGR is defined (no CI); the per-family means likewise.")


def mean_of(values: Iterable[float | None]) -> float | None:
    """The mean of the values that are defined (None when none is)."""
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def model_info(name: str, identity: dict[str, Any] | None) -> ModelInfo:
    """A model of a run: its name, the weights fingerprint its identity records, and its alias's size."""
    spec = ALIASES.get(name)
    return ModelInfo(id=name, revision=(identity or {}).get("weights"),
                     parameters=spec.size * 1e6 if spec is not None and spec.size else None)


def hardware_text(provenance: Provenance) -> str:
    """The machine of a run in a few words: CPU, cores, memory, GPUs."""
    hw = provenance.hardware
    parts = [hw.cpu] if hw.cpu else []
    if hw.cpu_count:
        parts.append(f"{hw.cpu_count} cores")
    if hw.memory_gb:
        parts.append(f"{hw.memory_gb} GB")
    return ", ".join([*parts, *hw.gpus])


def _code_note(provenance: Provenance) -> str:
    version = provenance.versions.get("w2s-bench")
    git = provenance.git
    text = f"w2s-bench {version}" if version else "w2s-bench"
    if git.commit:
        text += f" at commit {git.commit[:12]}" + (" (uncommitted changes)" if git.dirty else "")
    return text


def families_of(tasks: Iterable[str], registry: TaskRegistry) -> dict[str, str]:
    """Each task's family ("other" for a task this w2s-bench does not ship)."""
    known = set(registry.names())
    return {task: registry.get(task).config.family if task in known else "other" for task in tasks}


def task_rows(name: str, runs: list[RunRecord], family_of: dict[str, str]) -> list[TaskRow]:
    """One board row per task of a submission's finished runs, aggregated over seeds as the terminal table."""
    rows = []
    for cell in aggregate(runs):
        flags = sorted({r.metrics["pgr_flag"] for r in runs if r.task == cell["task"] and r.metrics.get("pgr_flag")})
        rows.append(TaskRow(submission=name, family=family_of[cell["task"]], task=cell["task"],
                            seeds=tuple(int(s) for s in cell["seeds"].split(",")), weak=cell["weak_acc"],
                            ceiling=cell["ceiling_acc"], w2s=cell["w2s_acc"], pgr=cell["pgr"],
                            pgr_ci=tuple(cell["pgr_ci"]) if cell["pgr_ci"] else None,
                            pgr_flag="; ".join(flags) or None, gain=cell["gain_sq"], misfit=cell["misfit_sq"]))
    return rows


def board_from_results(records: list[Record], *, title: str = "w2s-bench results",
                       include_paths: Iterable[str | Path] = ()) -> Board:
    """The board of a list of run records (one results.json, or several concatenated)."""
    records = [r for r in records if isinstance(r, RunRecord)]  # a failed run has nothing to show
    family_of = families_of({r.task for r in records}, TaskRegistry.discover(include_paths))
    by_submission: dict[tuple[str, str, str], list[RunRecord]] = defaultdict(list)
    for record in records:
        by_submission[(record.weak, record.strong, record.method)].append(record)

    submissions, rows, ranking = [], [], []
    for (weak, strong, method), runs in by_submission.items():
        name = f"{weak}->{strong}:{method}"
        config, provenance = runs[0].config, runs[0].provenance
        created = sorted(r.provenance.created for r in runs if r.provenance.created)
        submissions.append(Submission(
            name=name, who="a w2s-bench run", when=created[0] if created else "",
            weak=model_info(weak, config.weak_model), strong=model_info(strong, config.strong_model),
            method=method, method_params=config.method_params, hardware=hardware_text(provenance),
            note=f"Produced by {_code_note(provenance)}; read from its results.json."))
        own = task_rows(name, runs, family_of)
        rows += own
        families = sorted({row.family for row in own})
        ranking.append(RankingRow(submission=name, rank=None, status=UNRANKED, mean_pgr=mean_of(r.pgr for r in own),
                                  family_means={f: mean_of(r.pgr for r in own if r.family == f) for f in families},
                                  tasks_covered=len(own)))
    return Board(title=title, generated=datetime.now(timezone.utc).isoformat(timespec="seconds"), suite=(),
                 families=tuple(sorted(set(family_of.values()))), submissions=tuple(submissions), rows=tuple(rows),
                 ranking=tuple(ranking), about=ABOUT)
