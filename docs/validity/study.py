"""The tables and the figure of docs/validity.md's 110M-student study, from its pinned records.

    python docs/validity/study.py collect RUN_DIR... --into docs/validity/results
    python docs/validity/study.py tables docs/validity/results [--figure docs/validity/pgr_by_size.png]

``collect`` merges the ``--output_path`` folders of several sweeps into one results set (runs/,
samples/ and a results.json that ``w2s_bench.records.read_results`` reads); runs already in the
results set stay, so new sweeps are added to it; a run that several sweeps share (same task, pair,
method and seed, hence the same cached artefacts) is kept once, the last source's. ``tables`` prints, in Markdown, one table
per (task, weak, strong, method) cell with each seed's numbers and the pooled row, the paired method
comparisons, what each student learned from (its labels' accuracy, a chain's links, an ensemble's
members), and misfit against gain per strong model; ``--figure`` draws PGR against the strong
model's parameters (``w2s_bench.report.plots.size_figure``).

Pooled rows: accuracies are means over seeds; "PGR over seeds" is the mean with a Student-t 95% CI
across seeds (what the harness's tables report: it includes the seed-to-seed variation), "PGR
stacked" is the PGR of all seeds' test predictions stacked, with a bootstrap CI over (seed, example)
pairs (seeds held fixed: it measures test-set noise only, so it is narrower).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from w2s_bench.metrics import compare_methods
from w2s_bench.metrics.stats import pgr_with_ci, seed_summary
from w2s_bench.records import SAMPLE_TYPES, RunRecord, read_results, read_samples
from w2s_bench.records.supervision import ChainSupervision, EnsembleSupervision
from w2s_bench.report.paired import comparisons_to_markdown
from w2s_bench.report.table import fmt
from w2s_bench.results import ResultsDir


def collect(sources: list[Path], into: Path) -> None:
    records: dict[str, RunRecord] = {}
    for source in sources:
        for record in read_results(source):
            if isinstance(record, RunRecord):
                records[record.key] = record
                (into / "samples").mkdir(parents=True, exist_ok=True)
                copy, kept = source / "samples" / f"{record.key}.jsonl", into / "samples" / f"{record.key}.jsonl"
                if copy.resolve() != kept.resolve():  # `into` may be one of the sources (adding runs to it)
                    shutil.copyfile(copy, kept)
    out = ResultsDir(into)
    for record in records.values():
        out.write_run(record, read_samples(into, record))
    # the runs already in `into` and not collected again stay, and the whole set is sorted, so that the
    # committed results.json does not depend on the order in which runs were added
    every = [*records.values(), *out.earlier_than(list(records.values()))]
    out.write_summary(sorted(every, key=lambda r: (r.task, r.weak, r.strong, r.method, r.seed)))
    print(f"{len(records)} runs collected; {len(every)} in {into}")


def _interval(ci: list[float] | None) -> str:
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""


def _pgr(value: float | None, ci: list[float] | None, flag: str | None = None) -> str:
    if value is None:
        return f"n/a ({flag})" if flag else "n/a"  # no flag: the pooled row, whose note says how many seeds had one
    return f"{value:.2f} {_interval(ci)}".rstrip()


def _scores(folder: Path, run: RunRecord) -> dict[str, np.ndarray]:
    rows = read_samples(folder, run)
    return {model: SAMPLE_TYPES[run.kind].scores(rows, model) for model in ("weak", "ceiling", "w2s")}


def cell_tables(folder: Path, records: list[RunRecord]) -> str:
    cells: dict[tuple[str, str, str, str], list[RunRecord]] = defaultdict(list)
    for record in records:
        cells[(record.task, record.weak, record.strong, record.method)].append(record)
    out = ["| task | weak | strong | method | seed | weak | ceiling | w2s | PGR [95% CI] | agreement | gain (sq) | misfit (sq) |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (task, weak, strong, method), runs in cells.items():
        runs.sort(key=lambda r: r.seed)
        for r in runs:
            m = r.metrics
            out.append(f"| {task} | {weak} | {strong} | {method} | {r.seed} | {fmt(m['weak_acc'])} | {fmt(m['ceiling_acc'])} | "
                       f"{fmt(m['w2s_acc'])} | {_pgr(m['pgr'], m['pgr_ci'], m['pgr_flag'])} | {fmt(m['agreement'])} | "
                       f"{fmt(m['gain_sq'])} | {fmt(m['misfit_sq'])} |")
        if len(runs) > 1:
            mean = {k: seed_summary([r.metrics[k] for r in runs])["mean"] for k in
                    ("weak_acc", "ceiling_acc", "w2s_acc", "agreement", "gain_sq", "misfit_sq")}
            over_seeds = seed_summary([r.metrics["pgr"] for r in runs])
            stacked = [_scores(folder, r) for r in runs]
            pooled = pgr_with_ci(*(np.concatenate([s[k] for s in stacked]) for k in ("weak", "ceiling", "w2s")),
                                 n_resamples=1000, seed=0)
            ci = over_seeds["ci"].as_list() if over_seeds["ci"] else None
            partial = f" ({over_seeds['n']} of {len(runs)} seeds defined)" if over_seeds["n_missing"] else ""
            out.append(f"| {task} | {weak} | {strong} | {method} | **pooled {len(runs)}** | {fmt(mean['weak_acc'])} | "
                       f"{fmt(mean['ceiling_acc'])} | {fmt(mean['w2s_acc'])} | "
                       f"over seeds **{_pgr(over_seeds['mean'], ci)}**{partial}; "
                       f"stacked {_pgr(pooled['pgr'], pooled['pgr_ci'], pooled['pgr_flag'])} | {fmt(mean['agreement'])} | "
                       f"{fmt(mean['gain_sq'])} | {fmt(mean['misfit_sq'])} |")
    return "\n".join(out)


def supervision_table(records: list[RunRecord]) -> str:
    """What each student learned from: the accuracy of its training labels on train_b and, for a chain or
    an ensemble, each link's or member's test accuracy and the combined supervisor's (questions 4 and 5:
    a method can only beat naive if its labels are better, or differently wrong)."""
    out = ["| task | weak | strong | method | seed | labels' accuracy (train_b) | supervisors' test accuracy |",
           "|---|---|---|---|---|---|---|"]
    for r in sorted(records, key=lambda r: (r.task, r.weak, r.strong, r.method, r.seed)):
        sup = r.supervision
        if isinstance(sup, ChainSupervision):
            supervisors = " -> ".join(f"{link.model} {fmt(link.test_acc)} (its labels {fmt(link.label_acc)})"
                                      for link in sup.chain)
        elif isinstance(sup, EnsembleSupervision):
            supervisors = ", ".join(f"{m.model} {fmt(m.test_acc)}" for m in sup.members)
            supervisors += f"; combined ({sup.combine}) {fmt(sup.supervisor_test_acc)}"
        else:
            supervisors = ""
        out.append(f"| {r.task} | {r.weak} | {r.strong} | {r.method} | {r.seed} | {fmt(sup.label_accuracy)} | {supervisors} |")
    return "\n".join(out)


def misfit_gain_table(records: list[RunRecord]) -> str:
    """Per strong model: how often gain >= misfit (Charikar et al.'s bound for convex classes), and how
    closely gain follows misfit across that student's runs (Pearson r, and the mean of gain - misfit)."""
    by_strong: dict[str, list[RunRecord]] = defaultdict(list)
    for record in records:
        by_strong[record.strong].append(record)
    out = ["| strong | runs | gain >= misfit | mean misfit | mean gain | mean gain - misfit | Pearson r (misfit, gain) |",
           "|---|---|---|---|---|---|---|"]
    for strong, runs in by_strong.items():
        misfit = np.array([r.metrics["misfit_sq"] for r in runs])
        gain = np.array([r.metrics["gain_sq"] for r in runs])
        r = f"{np.corrcoef(misfit, gain)[0, 1]:.2f}" if len(runs) > 2 else "n/a"
        out.append(f"| {strong} | {len(runs)} | {int(np.sum(gain >= misfit))} | {misfit.mean():.3f} | {gain.mean():.3f} | "
                   f"{(gain - misfit).mean():+.3f} | {r} |")
    return "\n".join(out)


def tables(folder: Path, figure: Path | None) -> None:
    records = [r for r in read_results(folder) if isinstance(r, RunRecord)]
    print(cell_tables(folder, records), end="\n\n")
    samples = {r.key: read_samples(folder, r) for r in records}
    comparisons = [c for c in compare_methods(records, samples) if c.method != c.baseline]
    if comparisons:
        print(comparisons_to_markdown(comparisons), end="\n\n")
    print(supervision_table(records), end="\n\n")
    print(misfit_gain_table(records))
    if figure is not None:
        from w2s_bench.report.plots import size_figure
        from w2s_bench.report.table import aggregate

        fig = size_figure([row for row in aggregate(records) if row["method"] == "naive"])  # selects the Agg backend
        fig.savefig(figure, dpi=120)
        import matplotlib.pyplot as plt

        plt.close(fig)
        print(f"\nwrote {figure}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect")
    c.add_argument("sources", nargs="+", type=Path)
    c.add_argument("--into", type=Path, required=True)
    t = sub.add_parser("tables")
    t.add_argument("folder", type=Path)
    t.add_argument("--figure", type=Path)
    args = parser.parse_args(argv)
    if args.command == "collect":
        collect(args.sources, args.into)
    else:
        tables(args.folder, args.figure)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
