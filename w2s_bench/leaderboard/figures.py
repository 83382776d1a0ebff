"""The site's figures as plotly.js specifications (plain ``{"data": [...], "layout": {...}}`` dicts):
built here, where they can be tested without a browser, and drawn in the page by ``Plotly.newPlot``.

- PGR against strong-model size, one line per weak model and method (log x): does a bigger
  student recover more of the gap?
- weak / w2s / ceiling per task and submission: where the student lands between its supervisor and
  its ceiling (below the supervisor is as visible as near the ceiling);
- PGR of the methods side by side: per task, one bar per submission, ordered by weak -> strong pair;
- gain against misfit per task row, with the line gain = misfit (Charikar et al. 2024: convex strong
  classes lie above it).

plotly.js reads a few HTML tags and entities in every text it draws, so each text taken from the
board (names, tasks, model ids) is HTML-escaped here and shows literally.
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from typing import Any

from w2s_bench.leaderboard.board import PGR_FLAG_REASONS, Board, Interval, TaskRow

Figure = dict[str, Any]
_FONT = {"family": "system-ui, -apple-system, 'Segoe UI', sans-serif", "size": 12}


def _text(value: Any) -> str:
    return html.escape(str(value), quote=True)


# plotly's default colours, assigned to methods in name order so a method has one colour in every figure
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def _method_colours(board: Board) -> dict[str, str]:
    methods = sorted({s.method for s in board.submissions})
    return {method: _PALETTE[i % len(_PALETTE)] for i, method in enumerate(methods)}


def _layout(rows: int = 0, **extra: Any) -> dict[str, Any]:
    """The figures' common look: the legend at the bottom of the figure, below the axis title (placed
    in the figure's own coordinates, so it never overlaps, whatever the height), and for figures with
    one line per row a height that grows with the rows."""
    sized = {"height": max(360, 200 + 28 * rows)} if rows else {"height": 480}
    return {"font": _FONT, "margin": {"l": 60, "r": 20, "t": 30, "b": 130}, "hovermode": "closest",
            "legend": {"orientation": "h", "x": 0, "y": 0, "xref": "container", "yref": "container", "yanchor": "bottom"},
            "paper_bgcolor": "white",
            "plot_bgcolor": "#fafafa", **sized, **extra}


def _error_bars(points: list[tuple[float, Interval | None]]) -> dict[str, Any]:
    """Asymmetric error bars from (value, [low, high]) pairs; a missing interval draws none."""
    return {"type": "data", "symmetric": False, "thickness": 1.2, "width": 4,
            "array": [ci[1] - v if ci else 0.0 for v, ci in points],
            "arrayminus": [v - ci[0] if ci else 0.0 for v, ci in points]}


def _pgr_lines(axis: str = "y") -> list[dict[str, Any]]:
    """Reference lines at PGR 0 (the student only matches its supervisor) and 1 (it matches its ceiling),
    across the plot, on the ``axis`` that carries PGR."""
    across = "x" if axis == "y" else "y"
    return [{"type": "line", f"{across}ref": "paper", f"{across}0": 0, f"{across}1": 1, f"{axis}ref": axis,
             f"{axis}0": value, f"{axis}1": value, "line": {"color": "#888", "width": 1, "dash": "dash" if value else "solid"}}
            for value in (0, 1)]


def format_parameters(count: float | None) -> str:
    """A parameter count the way papers write it: 110M, 1.5B, 100k."""
    if count is None:
        return "n/a"
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if count >= scale:
            return f"{count / scale:.3g}{unit}"
    return f"{count:g}"


def _size_ticks(sizes: list[float]) -> dict[str, Any]:
    """The log axis of model sizes: ticks at 1, 2 and 5 times each power of ten, labelled like 20M
    (plotly's own log ticks label the in-between ones by a bare digit); the range in log10 units."""
    span = (math.log10(min(sizes)) - 0.15, math.log10(max(sizes)) + 0.15)  # a margin so end points are not on the edge
    values = [m * 10.0**e for e in range(math.floor(span[0]), math.ceil(span[1]) + 1) for m in (1, 2, 5)]
    return {"range": list(span), "tickvals": values, "ticktext": [format_parameters(v) for v in values]}


def _nothing(caption: str = "") -> Figure:
    """A figure with nothing to draw: the page shows a sentence instead of an empty plot."""
    return {"data": [], "layout": {}, "caption": caption}


def _na_reason(row: TaskRow) -> str:
    return PGR_FLAG_REASONS.get(row.pgr_flag or "", row.pgr_flag or "undefined")


def pgr_vs_size(board: Board) -> Figure:
    """Mean PGR of each submission against its strong model's size, one line per (weak model, method)
    through the ranked submissions; unranked ones (partial, or no suite) as open markers beside it."""
    points: dict[tuple[str, str, bool], list[tuple[float, float, Interval | None, str]]] = defaultdict(list)
    left_out = []
    for row in board.ranking:
        sub = board.submission(row.submission)
        if sub.strong.parameters is None or row.mean_pgr is None:
            left_out.append(sub.name)
            continue
        points[(sub.weak.id, sub.method, row.rank is not None)].append(
            (sub.strong.parameters, row.mean_pgr, row.mean_pgr_ci, sub.name))
    data = []
    for (weak, method, ranked), line in sorted(points.items(), key=lambda item: (item[0][0], item[0][1], not item[0][2])):
        line.sort()
        name = f"weak {weak} · {method}" + ("" if ranked else " (unranked)")
        data.append({"type": "scatter", "mode": "lines+markers" if ranked else "markers", "name": _text(name),
                     "legendgroup": _text(f"{weak} · {method}"),
                     "marker": {"size": 9, "symbol": "circle" if ranked else "circle-open"},
                     "x": [p[0] for p in line], "y": [p[1] for p in line],
                     "error_y": _error_bars([(p[1], p[2]) for p in line]),
                     "text": [_text(p[3]) for p in line],
                     "hovertemplate": "%{text}<br>strong: %{x:.3s} parameters<br>mean PGR %{y:.3f}<extra></extra>"})
    caption = "Left out (no model size or no mean PGR): " + ", ".join(left_out) if left_out else ""
    if not data:
        return _nothing(caption)
    ticks = _size_ticks([x for trace in data for x in trace["x"]])
    return {"data": data, "caption": caption,
            "layout": _layout(xaxis={"type": "log", **ticks, "title": {"text": "strong model size (parameters, log scale)"}},
                              yaxis={"title": {"text": "mean PGR (95% CI)"}, "zeroline": False}, shapes=_pgr_lines())}


def accuracy_per_task(board: Board) -> Figure:
    """Weak, w2s and ceiling score of every task row, on one line from the weak score to the ceiling."""
    rows = sorted(board.rows, key=lambda r: (r.family, r.task, r.submission))
    if not rows:
        return _nothing()
    labels = [_text(f"{r.task} · {r.submission}") for r in rows]
    segments_x: list[float | None] = []
    segments_y: list[str | None] = []
    for row, label in zip(rows, labels, strict=True):
        if row.weak is not None and row.ceiling is not None:
            segments_x += [row.weak, row.ceiling, None]
            segments_y += [label, label, None]
    data: list[dict[str, Any]] = [{"type": "scatter", "mode": "lines", "x": segments_x, "y": segments_y,
                                   "line": {"color": "#d0d0d0", "width": 6}, "hoverinfo": "skip", "showlegend": False}]
    for key, name, symbol in (("weak", "weak", "circle"), ("w2s", "w2s", "diamond"), ("ceiling", "ceiling", "square")):
        data.append({"type": "scatter", "mode": "markers", "name": name, "marker": {"symbol": symbol, "size": 9},
                     "x": [getattr(r, key) for r in rows], "y": labels,
                     "hovertemplate": f"%{{y}}<br>{name} %{{x:.3f}}<extra></extra>"})
    scores = sorted({r.score for r in rows})
    return {"data": data, "caption": "",
            "layout": _layout(len(rows), margin={"l": 20, "r": 20, "t": 30, "b": 130},
                              xaxis={"title": {"text": "test " + " / ".join(scores)}},
                              yaxis={"autorange": "reversed", "automargin": True, "type": "category"})}


def methods_side_by_side(board: Board) -> Figure:
    """PGR of every task row as a horizontal bar, coloured by method; within a task the submissions are
    ordered by weak -> strong pair, so the methods run on one pair sit side by side. An undefined PGR
    draws no bar but "n/a" (its hover says why)."""
    subs = {s.name: s for s in board.submissions}
    rows = sorted(board.rows, key=lambda r: (r.family, r.task, subs[r.submission].pair, subs[r.submission].method,
                                             r.submission))
    if not rows:
        return _nothing()

    def categories(own: list[TaskRow]) -> list[list[str]]:
        return [[_text(r.task) for r in own], [_text(f"{r.submission} ({subs[r.submission].pair})") for r in own]]

    # first, every row's category (which fixes their order) with "n/a" written where PGR is undefined
    data: list[dict[str, Any]] = [{"type": "scatter", "mode": "text", "orientation": "h", "showlegend": False,
                                   "y": categories(rows), "x": [0.0] * len(rows), "textposition": "middle right",
                                   "text": ["  n/a" if r.pgr is None else "" for r in rows],
                                   "hovertext": [_text(f"PGR n/a ({_na_reason(r)})") if r.pgr is None else "" for r in rows],
                                   "hoverinfo": "text", "textfont": {"color": "#667085"}}]
    colours = _method_colours(board)
    by_method: dict[str, list[TaskRow]] = defaultdict(list)
    for row in rows:
        by_method[subs[row.submission].method].append(row)
    for method, own in sorted(by_method.items()):
        data.append({"type": "bar", "orientation": "h", "name": _text(method), "marker": {"color": colours[method]},
                     "y": categories(own),
                     "x": [r.pgr for r in own], "error_x": _error_bars([(r.pgr or 0.0, r.pgr_ci) for r in own]),
                     "text": [_text(f"{r.submission}, {method}: " + (f"PGR {r.pgr:.3f}" if r.pgr is not None
                                                                    else f"PGR n/a ({_na_reason(r)})")) for r in own],
                     "textposition": "none", "hovertemplate": "%{text}<extra></extra>"})
    return {"data": data, "caption": "n/a: PGR is undefined (hover it, or the table's n/a, for why).",
            "layout": _layout(len(rows), barmode="overlay", margin={"l": 20, "r": 20, "t": 30, "b": 130},
                              yaxis={"type": "multicategory", "autorange": "reversed", "automargin": True},
                              xaxis={"title": {"text": "PGR (95% CI)"}, "zeroline": False}, shapes=_pgr_lines("x"))}


def misfit_vs_gain(board: Board) -> Figure:
    """Gain against misfit (squared distances on test) per task row, one colour per method."""
    method_of = {s.name: s.method for s in board.submissions}
    by_method: dict[str, list[TaskRow]] = defaultdict(list)
    for row in board.rows:
        if row.gain is not None and row.misfit is not None:
            by_method[method_of[row.submission]].append(row)
    if not by_method:
        return _nothing()
    colours = _method_colours(board)
    data: list[dict[str, Any]] = []
    for method, rows in sorted(by_method.items()):
        data.append({"type": "scatter", "mode": "markers", "name": _text(method),
                     "marker": {"size": 9, "color": colours[method]},
                     "x": [r.misfit for r in rows], "y": [r.gain for r in rows],
                     "text": [_text(f"{r.task} · {r.submission}") for r in rows],
                     "hovertemplate": "%{text}<br>misfit %{x:.4f}, gain %{y:.4f}<extra></extra>"})
    values = [v for trace in data for v in (*trace["x"], *trace["y"])]
    low, high = min(0.0, *values), max(values)
    data.append({"type": "scatter", "mode": "lines", "name": "gain = misfit", "x": [low, high], "y": [low, high],
                 "line": {"color": "black", "width": 1, "dash": "dot"}, "hoverinfo": "skip"})
    return {"data": data, "caption": "Points above the dotted line gained more than they misfit their supervisor.",
            "layout": _layout(xaxis={"title": {"text": "misfit: d(w2s, weak)"}},
                              yaxis={"title": {"text": "gain: d(truth, weak) − d(truth, w2s)"}})}


FIGURES = {"pgr-size": ("PGR against strong-model size", pgr_vs_size),
           "accuracy": ("Weak, w2s and ceiling per task", accuracy_per_task),
           "methods": ("Methods side by side", methods_side_by_side),
           "misfit-gain": ("Misfit against gain", misfit_vs_gain)}


def figures(board: Board) -> dict[str, Figure]:
    """Every figure of the index page by its id, each with a ``title`` for its heading."""
    return {key: {"title": title, **build(board)} for key, (title, build) in FIGURES.items()}
