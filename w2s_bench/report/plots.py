"""Figures of a results set (``w2s-bench plot``): what the tables say, for papers and slides.

- ``accuracy.png``: weak, w2s and ceiling accuracy per (task, weak, strong, method) cell, so that a
  student below its supervisor is as visible as one near its ceiling;
- ``pgr.png``: PGR per cell with its 95% CI; an undefined PGR gets no bar but its reason;
- ``misfit_gain.png``: gain against misfit per run (squared distance). Charikar et al. (2024) prove
  gain >= misfit for convex strong classes: points under the diagonal are runs where that bound
  does not hold;
- ``pgr_by_size.png``: PGR against the strong model's parameter count, one line per (task, weak,
  method), Burns et al.'s (2023) central plot: does a fixed supervisor's gap recovery grow with the
  student? Strong models of unknown size (a hub id or folder outside the aliases) are left out.

Cells are aggregated over seeds exactly as in the tables (:func:`w2s_bench.report.table.aggregate`);
cells whose every run failed have nothing to draw and are left out. matplotlib is an optional
dependency (``pip install "w2s-bench[plots]"``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from w2s_bench.errors import W2SError
from w2s_bench.files import atomic_write
from w2s_bench.models.registry import resolve
from w2s_bench.optional import require
from w2s_bench.records import Record, RunRecord
from w2s_bench.report.table import aggregate

FILES = ("accuracy.png", "pgr.png", "misfit_gain.png", "pgr_by_size.png")


def _pyplot() -> Any:
    matplotlib = require("matplotlib", "w2s-bench plot")
    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


def _label(row: dict[str, Any]) -> str:
    return f"{row['task']}: {row['weak']} -> {row['strong']}, {row['method']}"


def _cell_figure(plt: Any, n_rows: int) -> tuple[Any, Any]:
    """A figure with one horizontal band per cell, first cell on top."""
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.45 * n_rows))
    ax.set_ylim(n_rows - 0.5, -0.5)
    return fig, ax


def accuracy_figure(rows: list[dict[str, Any]]) -> Any:
    """One line per cell from the weak to the ceiling accuracy, with the w2s student marked on it."""
    plt = _pyplot()
    fig, ax = _cell_figure(plt, len(rows))
    ys = range(len(rows))
    ax.hlines(ys, [row["weak_acc"] for row in rows], [row["ceiling_acc"] for row in rows], color="lightgray", linewidth=3)
    for key, name, marker in (("weak_acc", "weak", "o"), ("w2s_acc", "w2s", "D"), ("ceiling_acc", "ceiling", "s")):
        ax.scatter([row[key] for row in rows], ys, marker=marker, label=name, zorder=3)
    ax.set_yticks(ys, [_label(row) for row in rows])
    ax.set_xlabel("test accuracy")
    ax.legend(ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def pgr_figure(rows: list[dict[str, Any]]) -> Any:
    plt = _pyplot()
    fig, ax = _cell_figure(plt, len(rows))
    for i, row in enumerate(rows):
        if row["pgr"] is None:
            ax.text(0.0, i, f"  n/a ({row['note'] or 'undefined'})", va="center", fontsize=8, color="gray")
            continue
        low, high = row["pgr_ci"] if row["pgr_ci"] else (row["pgr"], row["pgr"])
        ax.barh(i, row["pgr"], color="tab:blue", xerr=[[row["pgr"] - low], [high - row["pgr"]]], capsize=3)
    for x in (0.0, 1.0):
        ax.axvline(x, color="black", linewidth=0.8, linestyle="-" if x == 0 else "--")
    ax.set_yticks(range(len(rows)), [_label(row) for row in rows])
    ax.set_xlabel("performance gap recovered (95% CI)")
    fig.tight_layout()
    return fig


def misfit_gain_figure(records: list[Record]) -> Any:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    by_method: dict[str, list[tuple[float, float]]] = {}
    for record in records:
        if not isinstance(record, RunRecord):
            continue
        misfit, gain = record.metrics.get("misfit_sq"), record.metrics.get("gain_sq")
        if misfit is not None and gain is not None:
            by_method.setdefault(record.method, []).append((misfit, gain))
    for method, points in by_method.items():
        ax.scatter([p[0] for p in points], [p[1] for p in points], label=method)
    values = [v for points in by_method.values() for p in points for v in p] or [0.0, 1.0]
    low, high = min(0.0, *values), max(values)
    ax.plot([low, high], [low, high], color="black", linewidth=0.8, label="gain = misfit")
    ax.set_xlabel("misfit: d(w2s, weak)")
    ax.set_ylabel("gain: d(truth, weak) - d(truth, w2s)")
    ax.set_title("squared distances on test, one point per run", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _parameters(model: str) -> float | None:
    """A model's parameter count in millions, from its alias; None when it is not known."""
    try:
        size = resolve(model).size
    except W2SError:  # a name registered in another session
        return None
    return size or None


def size_figure(rows: list[dict[str, Any]]) -> Any:
    """PGR (95% CI as error bars) against the strong model's parameters, log scale, one line per
    (task, weak, method), points in order of size, each named by its strong model. A point whose PGR is
    defined on only some of its seeds (the others' gaps not significant) is hollow and says on how many:
    its mean is not comparable with a full point's."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5))
    lines: dict[tuple[str, str, str], list[tuple[float, dict[str, Any]]]] = {}
    for row in rows:
        size = _parameters(row["strong"])
        if size is not None and row["pgr"] is not None:
            lines.setdefault((row["task"], row["weak"], row["method"]), []).append((size, row))
    for (task, weak, method), points in lines.items():
        points.sort(key=lambda point: point[0])
        pgrs = [row["pgr"] for _, row in points]
        cis = [row["pgr_ci"] or (row["pgr"], row["pgr"]) for _, row in points]
        errors = [[p - ci[0] for p, ci in zip(pgrs, cis, strict=True)], [ci[1] - p for p, ci in zip(pgrs, cis, strict=True)]]
        bars = ax.errorbar([size for size, _ in points], pgrs, yerr=errors, marker="o", capsize=3,
                           label=f"{task}: {weak}, {method}")
        for size, row in points:
            if row["n_undefined"].get("pgr"):
                defined = row["n_ok"] - row["n_undefined"]["pgr"]
                ax.plot([size], [row["pgr"]], marker="o", color=bars.lines[0].get_color(), markerfacecolor="white",
                        zorder=3)
                ax.annotate(f"{defined} of {row['n_ok']} seeds", (size, row["pgr"]), textcoords="offset points",
                            xytext=(6, -12), fontsize=7)
    for y in (0.0, 1.0):
        ax.axhline(y, color="black", linewidth=0.8, linestyle="-" if y == 0 else "--")
    ax.set_xscale("log")
    sizes = {size: row["strong"] for points in lines.values() for size, row in points}
    ax.set_xticks(sorted(sizes), [f"{sizes[size]}\n{size:.0f}M" for size in sorted(sizes)], fontsize=8)
    ax.minorticks_off()
    ax.set_xlabel("strong model (parameters, log scale)")
    ax.set_ylabel("performance gap recovered (95% CI)")
    if lines:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no defined PGR for a strong model of known size", transform=ax.transAxes, ha="center")
    fig.tight_layout()
    return fig


def plot_results(records: list[Record], out_dir: str | Path) -> list[Path]:
    """Write the four figures into ``out_dir`` and return their paths."""
    rows = [row for row in aggregate(records) if row["n_ok"]]
    if not rows:
        raise W2SError("no finished run records to plot", where=str(out_dir))
    plt = _pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    figures = (accuracy_figure(rows), pgr_figure(rows), misfit_gain_figure(records), size_figure(rows))
    for name, fig in zip(FILES, figures, strict=True):
        atomic_write(out / name, lambda tmp, fig=fig: fig.savefig(tmp, dpi=120, format="png"))
        plt.close(fig)
        paths.append(out / name)
    return paths
