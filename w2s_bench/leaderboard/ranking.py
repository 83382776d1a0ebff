"""The ranking: submissions that cover the leaderboard suite, ordered by mean PGR over its tasks.

The suite is the task group ``w2s_leaderboard`` (``tasks/groups/w2s_leaderboard.yaml``): its tasks, and
under ``leaderboard:`` the ``--limit`` and the seeds every ranked submission must have run them at. A
submission covers the suite when each suite task has a finished run at each suite seed with that limit.

- A task's PGR is the mean over its seeds where PGR is defined; the mean PGR is the mean over the suite's
  tasks where it is defined (a task whose PGR is undefined on every seed, e.g. the ceiling not clearly above
  the weak model, is left out and named in the status).
- Its 95% CI is a two-level bootstrap: draw the tasks with replacement, then each drawn task's seeds with
  replacement, and take the mean of the seed means; percentiles of :data:`N_RESAMPLES` such draws. It says
  how much the mean would move with other tasks of the same kind and other seeds, which is what a reader
  comparing two rows needs.
- Per-family means (over the suite's tasks of each family) stand beside it.
- Submissions that do not cover the suite are listed unranked, with the mean over what they ran (no CI).

Tasks outside the suite (e.g. the demo) are shown in the per-task tables and never enter the ranking.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from w2s_bench.errors import W2SError
from w2s_bench.leaderboard.board import Board, RankingRow, Submission
from w2s_bench.leaderboard.from_results import families_of, mean_of, model_info, task_rows
from w2s_bench.leaderboard.submission import RESULTS_FILE, SubmissionMeta, read_meta
from w2s_bench.metrics.stats import percentile_interval
from w2s_bench.records import Record, RunRecord, read_results
from w2s_bench.tasks import TaskRegistry
from w2s_bench.tasks.config import read_yaml

SUITE_GROUP = "w2s_leaderboard"
N_RESAMPLES = 2000
LEVEL = 0.95
TITLE = "w2s-bench leaderboard"


@dataclass(frozen=True)
class Suite:
    """The tasks a board ranks on, and the --limit and seeds each must be run at."""

    tasks: tuple[str, ...]
    limit: int | None
    seeds: tuple[int, ...]

    @classmethod
    def load(cls, registry: TaskRegistry) -> Suite:
        path = registry.group_files.get(SUITE_GROUP)
        if path is None:
            raise W2SError(f"no task group {SUITE_GROUP!r}", where="tasks/groups", fix="reinstall w2s-bench")
        settings = read_yaml(path).get("leaderboard")
        if not (isinstance(settings, dict) and isinstance(settings.get("limit"), (int, type(None)))
                and isinstance(settings.get("seeds"), list) and all(isinstance(s, int) for s in settings["seeds"])):
            raise W2SError("needs `leaderboard: {limit: N, seeds: [0, 1, 2]}`", where=f"{path}: leaderboard")
        return cls(tuple(registry.expand([SUITE_GROUP])), settings["limit"], tuple(settings["seeds"]))

    def pgr_by_task(self, records: list[Record]) -> tuple[dict[str, list[float]], list[str]]:
        """The defined PGRs of each suite task on the suite's seeds, and the suite tasks (or seeds) the
        records lack: a submission covers the suite when that list is empty."""
        done = {(r.task, r.seed): r for r in records
                if isinstance(r, RunRecord) and r.task in self.tasks and r.config.limit == self.limit}
        lacking = [f"{task} seed {seed}" for task in self.tasks for seed in self.seeds if (task, seed) not in done]
        pgrs = {task: [done[(task, s)].metrics["pgr"] for s in self.seeds
                       if (task, s) in done and done[(task, s)].metrics["pgr"] is not None] for task in self.tasks}
        return pgrs, lacking


@dataclass(frozen=True)
class SubmittedRun:
    """A submission read from its folder: its metadata and its run records."""

    meta: SubmissionMeta
    records: list[Record]


def read_submissions(root: str | Path) -> list[SubmittedRun]:
    """Every submission folder under ``root`` (a folder per submission; hidden ones are skipped: a
    submit in progress). Reading checks the schema only: ``w2s-bench leaderboard validate`` (run in CI on
    every folder) checks the rest."""
    root = Path(root)
    if not root.is_dir():
        raise W2SError("no submissions folder", where=str(root), fix="pass --submissions DIR, or --results / --board")
    return [SubmittedRun(read_meta(folder), read_results(folder / RESULTS_FILE))
            for folder in sorted(root.iterdir()) if folder.is_dir() and not folder.name.startswith(".")]


def bootstrap_mean_pgr(pgrs: dict[str, list[float]], n_resamples: int = N_RESAMPLES, seed: int = 0,
                       level: float = LEVEL) -> tuple[float, tuple[float, float]]:
    """The mean over tasks of each task's seed-mean PGR, with a two-level bootstrap interval (tasks, then
    seeds within each drawn task, both with replacement). ``pgrs``: each task's defined PGRs (non-empty)."""
    values = [np.asarray(v, dtype=np.float64) for v in pgrs.values()]
    point = float(np.mean([v.mean() for v in values]))
    rng = np.random.default_rng(seed)
    draws = np.empty(n_resamples)
    for b in range(n_resamples):
        tasks = rng.integers(len(values), size=len(values))
        draws[b] = np.mean([values[t][rng.integers(len(values[t]), size=len(values[t]))].mean() for t in tasks])
    interval = percentile_interval(draws, level)
    return point, (interval.low, interval.high)


def _ranking_row(entry: SubmittedRun, suite: Suite, family_of: dict[str, str]) -> RankingRow:
    name = entry.meta.name
    pgrs, lacking = suite.pgr_by_task(entry.records)
    defined = {task: values for task, values in pgrs.items() if values}
    family_means = {}
    for family in dict.fromkeys(family_of[t] for t in suite.tasks):
        family_means[family] = mean_of(float(np.mean(v)) for t, v in defined.items() if family_of[t] == family)
    covered = len({task for task in suite.tasks if not any(item.startswith(f"{task} seed") for item in lacking)})
    if lacking or not defined:
        why = f"partial: lacks {', '.join(lacking[:3])}" + (f" and {len(lacking) - 3} more" if len(lacking) > 3 else "") \
            if lacking else "PGR undefined on every task"
        return RankingRow(submission=name, rank=None, status=f"unranked ({why})",
                          mean_pgr=mean_of(float(np.mean(v)) for v in defined.values()), family_means=family_means,
                          tasks_covered=covered)
    mean, interval = bootstrap_mean_pgr(defined)
    undefined = [task for task in suite.tasks if task not in defined]
    status = "ranked" + (f" (PGR undefined on {', '.join(undefined)}: left out of the mean)" if undefined else "")
    return RankingRow(submission=name, rank=0, status=status, mean_pgr=mean, mean_pgr_ci=interval,
                      family_means=family_means, tasks_covered=covered)


def _submission(entry: SubmittedRun) -> Submission:
    meta = entry.meta
    first = entry.records[0].config
    code = ", ".join(filter(None, [meta.w2s_bench_version and f"w2s-bench {meta.w2s_bench_version}",
                                   meta.w2s_bench_commit and f"commit {meta.w2s_bench_commit}"]))
    note = f"Produced by {meta.produced_by}" + (f" ({code})" if code else "") + "." + (f" {meta.note}" if meta.note else "")
    return Submission(name=meta.name, who=meta.who, when=meta.when, weak=model_info(meta.weak.id, first.weak_model),
                      strong=model_info(meta.strong.id, first.strong_model), method=meta.method,
                      method_params=meta.method_params, hardware=meta.hardware, note=note, command=meta.command)


def build_board(submissions: Iterable[SubmittedRun], *, title: str = TITLE,
                include_paths: Iterable[str | Path] = ()) -> Board:
    """The board of validated submissions, ranked on the suite (see the module docstring)."""
    submissions = list(submissions)
    registry = TaskRegistry.discover(include_paths)
    suite = Suite.load(registry)
    family_of = families_of({*suite.tasks, *(r.task for s in submissions for r in s.records)}, registry)
    rows, ranking = [], []
    for entry in submissions:
        rows += task_rows(entry.meta.name, [r for r in entry.records if isinstance(r, RunRecord)], family_of)
        ranking.append(_ranking_row(entry, suite, family_of))
    ranked = sorted((r for r in ranking if r.rank is not None), key=lambda r: -(r.mean_pgr or 0.0))
    ordered = [replace(r, rank=i) for i, r in enumerate(ranked, start=1)]
    ordered += [r for r in ranking if r.rank is None]
    about = (f"Ranked by mean PGR over the {len(suite.tasks)} suite tasks (each run at --limit {suite.limit} with seeds "
             f"{', '.join(map(str, suite.seeds))}); the 95% CI is a bootstrap over tasks and seeds. Submissions that lack "
             "a suite task or seed are listed unranked with the mean over what they ran. Every submission was checked "
             "by w2s-bench leaderboard validate: each number recomputed from its per-sample predictions.")
    return Board(title=title, generated=datetime.now(timezone.utc).isoformat(timespec="seconds"), suite=suite.tasks,
                 families=tuple(sorted(set(family_of.values()))),
                 submissions=tuple(_submission(s) for s in submissions), rows=tuple(rows), ranking=tuple(ordered),
                 about=about)
