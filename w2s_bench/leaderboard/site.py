"""The static leaderboard site: a :class:`~w2s_bench.leaderboard.board.Board` rendered to HTML files
that work from ``file://`` with no network and no server.

    DIR/index.html                  overall table, figures, one table per family and per task
    DIR/submissions/<name>.html     one page per submission: its metadata and its task rows
    DIR/board.json                  the board itself, for readers and other tools
    DIR/assets/                     plotly.min.js (from the plotly package), style.css, leaderboard.js

Templates are Jinja with autoescaping on: every text of the board is untrusted submission input and
shows as text. The figures' data reach the page as JSON inside ``<script type="application/json">``
(Jinja's ``tojson`` escapes ``<``, ``>`` and ``&`` there), never as code.
"""

from __future__ import annotations

import filecmp
import importlib.resources
import json
import shutil
from pathlib import Path
from typing import Any

import jinja2

from w2s_bench.errors import W2SError
from w2s_bench.leaderboard.board import PGR_FLAG_REASONS, Board, TaskRow, page_stem
from w2s_bench.leaderboard.figures import figures, format_parameters
from w2s_bench.optional import EXTRAS, require
from w2s_bench.report.table import fmt
from w2s_bench.results import atomic_write_text

STATIC_FILES = ("style.css", "leaderboard.js")


def plotly_js() -> Path:
    """plotly.js as the PyPI ``plotly`` package ships it (bundled into the site, so no CDN is needed)."""
    plotly = require("plotly", "the leaderboard site's figures")
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise W2SError(f"the plotly package has no {path.name} at {path}", where="plotly",
                       fix=f'pip install --force-reinstall "w2s-bench[{EXTRAS["plotly"]}]"')
    return path


def _na_reason(row: TaskRow) -> str:
    flag = row.pgr_flag or ""
    return f"{flag}: {PGR_FLAG_REASONS[flag]}" if flag in PGR_FLAG_REASONS else (flag or "undefined")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("w2s_bench.leaderboard", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    # tojson_text: a parameter value as JSON text, escaped like any other text (Jinja's tojson is for <script>)
    env.filters.update(fmt=fmt, parameters=format_parameters, na_reason=_na_reason, page_stem=page_stem,
                       tojson_text=lambda value: json.dumps(value, sort_keys=True))
    return env


def _prepare(out: Path) -> None:
    """Refuse to write into a folder that holds something other than a site built here, and drop the
    pages of submissions that are no longer on the board."""
    if out.exists() and not out.is_dir():
        raise W2SError("is a file, not a folder", where=str(out), fix="give --output a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "board.json").is_file():
        raise W2SError("folder is not empty and holds no leaderboard site (no board.json)", where=str(out),
                       fix="give --output an empty or new folder, or the folder of an earlier build")
    for page in (out / "submissions").glob("*.html"):
        page.unlink()


def _write(path: Path, text: str) -> None:
    """Pages as ASCII (other characters as HTML character references), so they read the same whatever
    the machine's locale; the JSON blocks are ASCII already (``tojson`` writes \\u escapes)."""
    atomic_write_text(path, text.encode("ascii", "xmlcharrefreplace").decode("ascii"))


def _copy_if_changed(source: Path, target: Path) -> None:
    if not target.is_file() or not filecmp.cmp(source, target, shallow=False):
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def _context(board: Board) -> dict[str, Any]:
    by_family: dict[str, list[TaskRow]] = {}
    by_task: dict[str, list[TaskRow]] = {}
    for row in sorted(board.rows, key=lambda r: (r.family, r.task, r.submission)):
        by_family.setdefault(row.family, []).append(row)
        by_task.setdefault(row.task, []).append(row)
    submissions = {s.name: s for s in board.submissions}
    return {"board": board, "submissions": submissions, "by_family": by_family, "by_task": by_task,
            "ranking": {r.submission: r for r in board.ranking},
            "methods": sorted({s.method for s in board.submissions}), "families": sorted(by_family)}


def build_site(board: Board, output_dir: str | Path) -> Path:
    """Write the site of ``board`` into ``output_dir`` and return the path of its index.html."""
    source_js = plotly_js()
    out = Path(output_dir)
    _prepare(out)
    env = _environment()
    context = _context(board)
    _copy_if_changed(source_js, out / "assets" / "plotly.min.js")
    static = Path(str(importlib.resources.files("w2s_bench.leaderboard"))) / "static"
    for name in STATIC_FILES:
        _copy_if_changed(static / name, out / "assets" / name)
    index = out / "index.html"
    _write(index, env.get_template("index.html").render(root="", figures=figures(board), **context))
    page = env.get_template("submission.html")
    for submission in board.submissions:
        html = page.render(root="../", submission=submission, rows=board.rows_of(submission.name),
                           rank=context["ranking"].get(submission.name), **context)
        _write(out / submission.page, html)
    atomic_write_text(out / "board.json", board.to_json())
    return index
