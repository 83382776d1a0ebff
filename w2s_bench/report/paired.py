"""Paired comparisons of each method with a baseline: "is logconf better than naive here, and how sure are we?"

Two methods in the same (task, weak, strong) cell that share a seed learned from the same weak labels and were tested on
the same examples, so their difference is measured on paired data and the noise they share (a lucky seed, hard examples)
cancels. Setting each method's own interval side by side, as the results table does, ignores that pairing and calls
real differences noise. With several shared seeds the interval is a Student-t interval of the per-seed differences;
with one seed it is a paired bootstrap over test examples (the same resampled examples for both models).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from w2s_bench.metrics import Interval, _bootstrap_accuracies, _correct, _percentile_interval, seed_summary
from w2s_bench.progress import console as make_console
from w2s_bench.report.table import fmt

Record = dict[str, Any]
Samples = dict[str, list[dict[str, Any]]]


def method_comparisons(records: list[Record], samples: Samples, baseline: str = "naive", level: float = 0.95,
                       n_resamples: int = 1000) -> list[dict[str, Any]]:
    """One row per (task, weak, strong) cell and method other than the baseline: the method's w2s accuracy minus the
    baseline's on the seeds both have, with a ``level`` interval and a verdict ("better", "worse", "no difference").

    ``samples`` maps a run's ``key`` to its per-sample rows (:func:`w2s_bench.results.sample_records`). A cell without
    the baseline is compared with its first method in record order instead, and the row's ``note`` says so: a
    comparison with something beats silently dropping the cell. Rows are JSON-safe.
    """
    cells: dict[tuple[str, str, str], dict[str, dict[int, Record]]] = {}
    for record in records:
        methods = cells.setdefault((record["task"], record["weak"], record["strong"]), {})
        methods.setdefault(record["method"], {})[record["seed"]] = record
    rows = []
    for (task, weak, strong), methods in cells.items():
        base = baseline if baseline in methods else next(iter(methods))
        fallback = "" if base == baseline else f"no {baseline} runs in this cell: baseline is its first method, {base}"
        for method, runs in methods.items():
            if method == base:
                continue
            row: dict[str, Any] = {"task": task, "weak": weak, "strong": strong, "method": method, "baseline": base}
            row.update(_compare(runs, methods[base], samples, level, n_resamples))
            row["note"] = "; ".join(filter(None, [fallback, "" if row["seeds"] else "no seeds in common"]))
            rows.append(row)
    return rows


def _compare(runs: dict[int, Record], base_runs: dict[int, Record], samples: Samples, level: float,
             n_resamples: int) -> dict[str, Any]:
    """The statistics of one row. Only seeds both methods have count: another seed means other weak labels, so an
    unpaired seed would add the seed-to-seed noise that pairing is there to remove."""
    seeds = sorted(set(runs) & set(base_runs))
    corrects, disagree, pgr_diffs = [], [], []
    for seed in seeds:
        run, base = runs[seed], base_runs[seed]
        probs, base_probs, labels = _paired_predictions(run, base, samples)
        corrects.append(np.stack([_correct(probs, labels), _correct(base_probs, labels)]).astype(np.float64))
        disagree.append(int((probs.argmax(axis=1) != base_probs.argmax(axis=1)).sum()))
        pgr, base_pgr = run["metrics"].get("pgr"), base["metrics"].get("pgr")
        pgr_diffs.append(None if pgr is None or base_pgr is None else pgr - base_pgr)
    summary = seed_summary([float(c[0].mean() - c[1].mean()) for c in corrects], level)
    if len(seeds) == 1:  # one seed: the only noise left to measure is which test examples were drawn
        accuracies = _bootstrap_accuracies(corrects[0], n_resamples, seed=seeds[0])
        ci, kind = _percentile_interval(accuracies[:, 0] - accuracies[:, 1], level), "test bootstrap"
    else:
        ci, kind = summary["ci"], "seeds" if seeds else None
    return {"seeds": seeds, "w2s_acc_diff": summary["mean"], "w2s_acc_diff_ci": ci.as_list() if ci else None,
            "pgr_diff": seed_summary(pgr_diffs)["mean"], "n_disagree": disagree, "ci_kind": kind,
            "verdict": _verdict(ci), "level": level}


def _verdict(ci: Interval | None) -> str:
    """An interval that contains 0 cannot tell the two methods apart, whichever side the point estimate is on."""
    if ci is None:
        return "n/a"
    if ci.low > 0:
        return "better"
    if ci.high < 0:
        return "worse"
    return "no difference"


def _paired_predictions(run: Record, base: Record, samples: Samples) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both runs' w2s probabilities and the labels, aligned by sample id. Different test examples make a paired
    difference meaningless, so that is an error rather than a comparison of whatever overlaps."""
    rows, base_rows = (_samples_of(r, samples) for r in (run, base))
    base_by_id = {row["id"]: row for row in base_rows}
    ids = [row["id"] for row in rows]
    if len(set(ids)) != len(ids) or len(base_by_id) != len(base_rows) or set(ids) != set(base_by_id):
        raise ValueError(f"runs {run['key']} and {base['key']} were not tested on the same examples "
                         f"({len(set(ids) ^ set(base_by_id))} sample ids in only one of them, or repeated ids), "
                         "so they cannot be compared example by example")
    pairs = [(row, base_by_id[row["id"]]) for row in rows]
    if any(row["label"] != base_row["label"] for row, base_row in pairs):
        raise ValueError(f"runs {run['key']} and {base['key']} give different labels to the same sample ids")
    return (np.array([row["w2s"] for row, _ in pairs]), np.array([b["w2s"] for _, b in pairs]),
            np.array([row["label"] for row, _ in pairs]))


def _samples_of(record: Record, samples: Samples) -> list[dict[str, Any]]:
    if record["key"] not in samples:
        raise ValueError(f"no per-sample predictions for run {record['key']}: a paired comparison needs them")
    return samples[record["key"]]


def _headers(level: float) -> list[str]:
    return ["task", "weak", "strong", "method", "baseline", "seeds", f"w2s acc diff [{level:.0%} CI]", "PGR diff",
            "disagree", "CI over", "verdict", "note"]


def _cells(row: dict[str, Any]) -> list[str]:
    """A row as display strings; the interval gets three digits because accuracy differences are often below 0.01."""
    ci = row["w2s_acc_diff_ci"]
    diff = f"{fmt(row['w2s_acc_diff'])} [{fmt(ci[0])}, {fmt(ci[1])}]" if ci else fmt(row["w2s_acc_diff"])
    return [row["task"], row["weak"], row["strong"], row["method"], row["baseline"], ",".join(map(str, row["seeds"])),
            diff, fmt(row["pgr_diff"]), ",".join(map(str, row["n_disagree"])), fmt(row["ci_kind"]), row["verdict"],
            row["note"]]


def render_comparisons(rows: list[dict[str, Any]], console: Console | None = None) -> None:
    """Print the comparisons as a rich table; nothing when there is nothing to compare."""
    if not rows:
        return
    level = rows[0]["level"]
    table = Table(title=f"method vs baseline: w2s accuracy difference [{level:.0%} CI]")
    for header in _headers(level):
        table.add_column(header, justify="left" if header in ("task", "weak", "strong", "method", "baseline", "note")
                         else "right")
    for row in rows:
        table.add_row(*map(escape, _cells(row)))  # names come from the user: no rich markup
    (console or make_console()).print(table)


def comparisons_to_markdown(rows: list[dict[str, Any]]) -> str:
    """The comparisons as a Markdown table ("" when there are none)."""
    if not rows:
        return ""
    headers = _headers(rows[0]["level"])
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"
