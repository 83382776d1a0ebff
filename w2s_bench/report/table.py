"""One table, three renderings. Rows are (task, weak, strong, method) cells; with several seeds the
numbers are means and the interval is a Student-t CI across seeds, with one seed the interval is
the paired bootstrap over test examples. A PGR that is undefined (ceiling not clearly above weak)
shows as "n/a" with the reason, never as a huge number."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from w2s_bench.metrics import seed_summary
from w2s_bench.progress import console as make_console

COLUMNS = ["task", "weak", "strong", "method", "seeds", "weak_acc", "ceiling_acc", "w2s_acc", "pgr", "pgr_ci",
           "agreement", "gain_sq", "misfit_sq", "gain_kl", "misfit_kl", "note"]
# the terminal shows the essentials (header -> row key); Markdown and CSV show everything
TERMINAL = [("task", "task"), ("weak", "weak"), ("strong", "strong"), ("method", "method"), ("seeds", "seeds"),
            ("weak acc", "weak_acc"), ("ceiling", "ceiling_acc"), ("w2s", "w2s_acc"), ("PGR [95% CI]", "pgr_with_ci"),
            ("agree", "agreement"), ("gain", "gain_sq"), ("misfit", "misfit_sq"), ("note", "note")]
_MEANS = ["weak_acc", "ceiling_acc", "w2s_acc", "agreement", "gain_sq", "misfit_sq", "gain_kl", "misfit_kl"]


def aggregate(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (task, weak, strong, method), averaged over seeds."""
    cells: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        cells[(record["task"], record["weak"], record["strong"], record["method"])].append(record)
    rows = []
    for (task, weak, strong, method), runs in cells.items():
        metrics = [r["metrics"] for r in runs]
        row: dict[str, Any] = {"task": task, "weak": weak, "strong": strong, "method": method,
                               "seeds": ",".join(str(r["seed"]) for r in runs)}
        for key in _MEANS:
            row[key] = seed_summary([m.get(key) for m in metrics])["mean"]
        pgr = seed_summary([m.get("pgr") for m in metrics])
        row["pgr"] = pgr["mean"]
        if len(runs) == 1:
            row["pgr_ci"] = metrics[0].get("pgr_ci")
        else:
            row["pgr_ci"] = pgr["ci"].as_list() if pgr["ci"] is not None else None
        flags = sorted({m["pgr_flag"] for m in metrics if m.get("pgr_flag")})
        row["pgr_with_ci"] = f"{fmt(row['pgr'])} {fmt(row['pgr_ci'])}" if row["pgr"] is not None else "n/a"
        row["note"] = "; ".join(flags) + (f" ({pgr['n_missing']}/{len(runs)} seeds)" if flags and len(runs) > 1 else "")
        row["note"] = "; ".join(filter(None, [_supervision_summary(runs), row["note"]]))
        rows.append(row)
    return rows


def _supervision_summary(runs: list[dict[str, Any]]) -> str:
    """How the labels were made, when a method made them differently from one supervisor: each
    bootstrap link's test accuracy, or the ensemble's (seed means)."""
    infos = [r.get("supervision") or {} for r in runs]
    if all("chain" in i for i in infos):
        links = zip(*[i["chain"] for i in infos], strict=True)
        return "chain " + " -> ".join(f"{link[0]['model']} {np.mean([x['test_acc'] for x in link]):.3f}" for link in links)
    if all("supervisor_test_acc" in i for i in infos):
        members = len(infos[0].get("members", []))
        return f"{infos[0].get('combine', 'ensemble')} of {members}: {np.mean([i['supervisor_test_acc'] for i in infos]):.3f}"
    return ""


def fmt(value: Any, digits: int = 3) -> str:
    """One cell of a report: None as "n/a", floats to ``digits`` places, intervals to two."""
    if value is None:
        return "n/a"
    if isinstance(value, list):
        return f"[{value[0]:.2f}, {value[1]:.2f}]"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def render_rich(records: list[dict[str, Any]], console: Console | None = None) -> None:
    table = Table(title="weak-to-strong results (accuracy on test; gain and misfit: squared distance)")
    for header, _ in TERMINAL:
        table.add_column(header, justify="left" if header in ("task", "weak", "strong", "method", "note") else "right")
    for row in aggregate(records):
        table.add_row(*[escape(fmt(row[key])) for _, key in TERMINAL])  # user-given names: no rich markup
    (console or make_console()).print(table)


def to_markdown(records: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in aggregate(records):
        lines.append("| " + " | ".join(fmt(row[c]) for c in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def to_csv(records: list[dict[str, Any]]) -> str:
    """Per-run rows (one per seed), all scalar metrics: the format for further analysis."""
    scalar_keys = sorted({k for r in records for k, v in r["metrics"].items() if not isinstance(v, list)})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["task", "weak", "strong", "method", "seed", *scalar_keys])
    for r in records:
        writer.writerow([r["task"], r["weak"], r["strong"], r["method"], r["seed"],
                         *[r["metrics"].get(k) for k in scalar_keys]])
    return buffer.getvalue()
