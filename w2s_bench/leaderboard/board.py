"""The board: everything the leaderboard site shows, as plain typed data.

The site (:mod:`w2s_bench.leaderboard.site`) renders a :class:`Board` and nothing else, so whatever
fills it (today :func:`w2s_bench.leaderboard.from_results.board_from_results`, later the reader of
validated submissions and the ranking over the leaderboard suite) only has to produce these
dataclasses. The board is also written as ``board.json`` beside the page, for readers and other
tools; :func:`board_from_json` reads it back and names the field when a file is wrong.

Every text field may come from a submission (a name, a note, a method parameter): untrusted text
that the site escapes, never markup.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from w2s_bench.errors import W2SError

BOARD_VERSION = 1
# the terminal table's reasons for an undefined PGR (w2s_bench.metrics.FLAG_*), as a sentence for tooltips
PGR_FLAG_REASONS = {
    "ceiling_below_weak": "the strong ceiling is below the weak model",
    "gap_too_small": "the ceiling is less than 1 point above the weak model",
    "gap_not_significant": "the gap between ceiling and weak model is not significant (its CI reaches 0)",
}

Interval = tuple[float, float]


@dataclass(frozen=True)
class ModelInfo:
    """A weak or strong model as submitted: its id, the revision or weight fingerprint that pins it,
    and its size in parameters (None when unknown; such a submission is left out of the size plot)."""

    id: str
    revision: str | None = None
    parameters: float | None = None


@dataclass(frozen=True)
class Submission:
    """One weak -> strong pair with one method, run over some tasks by someone."""

    name: str
    who: str
    when: str  # ISO date or time of the run
    weak: ModelInfo
    strong: ModelInfo
    method: str
    method_params: dict[str, Any] = field(default_factory=dict)
    hardware: str = ""
    note: str = ""
    command: str = ""  # the exact command that produced the submission's results

    @property
    def pair(self) -> str:
        return f"{self.weak.id} → {self.strong.id}"

    @property
    def page(self) -> str:
        """The submission's metadata page, relative to the site's index.html (the link target of its rows)."""
        return f"submissions/{page_stem(self.name)}.html"


@dataclass(frozen=True)
class TaskRow:
    """One submission on one task, aggregated over its seeds. ``score`` names what weak / ceiling /
    w2s measure: "accuracy" for classification, a generation task's score otherwise."""

    submission: str
    family: str
    task: str
    seeds: tuple[int, ...]
    weak: float | None
    ceiling: float | None
    w2s: float | None
    pgr: float | None
    pgr_ci: Interval | None = None
    pgr_flag: str | None = None  # why PGR is undefined (a w2s_bench.metrics.FLAG_* string), or a seed note
    gain: float | None = None  # squared-distance gain and misfit (Charikar et al.)
    misfit: float | None = None
    score: str = "accuracy"


@dataclass(frozen=True)
class RankingRow:
    """A submission's line in the overall table: its rank on the suite, or None with the reason it is
    unranked (e.g. "unranked (partial)"), the mean PGR with its CI, and the per-family means."""

    submission: str
    rank: int | None
    status: str
    mean_pgr: float | None
    mean_pgr_ci: Interval | None = None
    family_means: dict[str, float | None] = field(default_factory=dict)
    tasks_covered: int = 0


@dataclass(frozen=True)
class Board:
    title: str
    generated: str  # when the board was built (ISO time)
    suite: tuple[str, ...]  # the tasks the ranking is over
    families: tuple[str, ...]  # column order of the per-family means
    submissions: tuple[Submission, ...]
    rows: tuple[TaskRow, ...]
    ranking: tuple[RankingRow, ...]
    about: str = ""  # how the ranking was computed, shown under the overall table
    version: int = BOARD_VERSION

    def __post_init__(self) -> None:
        names = [s.name for s in self.submissions]
        if len(set(names)) != len(names):
            raise W2SError(f"two submissions share a name: {sorted({n for n in names if names.count(n) > 1})}",
                           where="board.submissions", fix="give every submission its own name")
        stems: dict[str, str] = {}
        for name in names:
            other = stems.setdefault(page_stem(name), name)
            if other != name:
                raise W2SError(f"submissions {other!r} and {name!r} would share the page {page_stem(name)}.html",
                               where="board.submissions", fix="rename one of them (letters, digits, '.', '_', '-')")
        known = set(names)
        for where, rows in (("rows", self.rows), ("ranking", self.ranking)):
            for i, row in enumerate(rows):
                if row.submission not in known:
                    raise W2SError(f"names an unknown submission {row.submission!r}", where=f"board.{where}[{i}]",
                                   fix="list the submission under board.submissions")

    def submission(self, name: str) -> Submission:
        return next(s for s in self.submissions if s.name == name)

    def rows_of(self, name: str) -> list[TaskRow]:
        return [row for row in self.rows if row.submission == name]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, allow_nan=False)


def page_stem(name: str) -> str:
    """A file name for a submission's page: the name's letters, digits, '.', '_' and '-', other runs
    as '-', never starting with a dot (so no name reaches outside submissions/ or hides its file)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).lstrip(".") or "-"


# ------------------------------------------------------------------------------------------
# Reading board.json
# ------------------------------------------------------------------------------------------

_KIND_NAMES = {str: "a string", int: "an integer", float: "a number", list: "a list", dict: "an object"}
_FIX = "write the board with Board.to_json() (w2s-bench leaderboard build writes one beside the page)"


class _Fields:
    """One JSON object's fields, each read with its expected type; errors name file and field."""

    def __init__(self, data: Any, where: str, source: str) -> None:
        if not isinstance(data, dict):
            raise W2SError(f"{where} must be an object, got {type(data).__name__}", where=source, fix=_FIX)
        self.data, self.where, self.source = data, where, source

    def at(self, key: str) -> str:
        return f"{self.where}.{key}"

    def get(self, key: str, kind: type, *, optional: bool = False, default: Any = None) -> Any:
        if key not in self.data:
            if optional:
                return default
            raise W2SError(f"missing field {self.at(key)}", where=self.source, fix=_FIX)
        value = self.data[key]
        if value is None and optional:
            return None
        kinds = (kind, int) if kind is float else (kind,)
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise W2SError(f"{self.at(key)} must be {_KIND_NAMES[kind]}, got {value!r}", where=self.source, fix=_FIX)
        return value

    def interval(self, key: str) -> Interval | None:
        value = self.get(key, list, optional=True)
        if value is None:
            return None
        if len(value) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise W2SError(f"{self.at(key)} must be [low, high], got {value!r}", where=self.source, fix=_FIX)
        return (float(value[0]), float(value[1]))

    def strings(self, key: str) -> tuple[str, ...]:
        values = self.get(key, list)
        if not all(isinstance(v, str) for v in values):
            raise W2SError(f"{self.at(key)} must be a list of strings, got {values!r}", where=self.source, fix=_FIX)
        return tuple(values)

    def objects(self, key: str) -> list[_Fields]:
        return [_Fields(item, f"{self.at(key)}[{i}]", self.source) for i, item in enumerate(self.get(key, list))]


def _number(value: float | int | None) -> float | None:
    return None if value is None else float(value)


def _model(fields: _Fields) -> ModelInfo:
    return ModelInfo(fields.get("id", str), fields.get("revision", str, optional=True),
                     _number(fields.get("parameters", float, optional=True)))


def _submission(f: _Fields) -> Submission:
    return Submission(name=f.get("name", str), who=f.get("who", str), when=f.get("when", str),
                      weak=_model(_Fields(f.get("weak", dict), f.at("weak"), f.source)),
                      strong=_model(_Fields(f.get("strong", dict), f.at("strong"), f.source)),
                      method=f.get("method", str), method_params=f.get("method_params", dict, optional=True, default={}),
                      hardware=f.get("hardware", str, optional=True, default=""),
                      note=f.get("note", str, optional=True, default=""),
                      command=f.get("command", str, optional=True, default=""))


def _task_row(f: _Fields) -> TaskRow:
    seeds = f.get("seeds", list)
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise W2SError(f"{f.at('seeds')} must be a list of integers, got {seeds!r}", where=f.source, fix=_FIX)
    return TaskRow(submission=f.get("submission", str), family=f.get("family", str), task=f.get("task", str),
                   seeds=tuple(seeds), **{k: _number(f.get(k, float, optional=True)) for k in ("weak", "ceiling", "w2s", "pgr")},
                   pgr_ci=f.interval("pgr_ci"), pgr_flag=f.get("pgr_flag", str, optional=True),
                   gain=_number(f.get("gain", float, optional=True)), misfit=_number(f.get("misfit", float, optional=True)),
                   score=f.get("score", str, optional=True, default="accuracy"))


def _ranking_row(f: _Fields) -> RankingRow:
    means = f.get("family_means", dict, optional=True, default={})
    family = _Fields(means, f.at("family_means"), f.source)
    return RankingRow(submission=f.get("submission", str), rank=f.get("rank", int, optional=True),
                      status=f.get("status", str), mean_pgr=_number(f.get("mean_pgr", float, optional=True)),
                      mean_pgr_ci=f.interval("mean_pgr_ci"),
                      family_means={k: _number(family.get(k, float, optional=True)) for k in means},
                      tasks_covered=f.get("tasks_covered", int, optional=True, default=0))


def board_from_json(text: str, source: str = "board.json") -> Board:
    """The board a :meth:`Board.to_json` text describes; a W2SError names the field that is wrong."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise W2SError(f"not valid JSON ({exc})", where=source, fix=_FIX) from exc
    top = _Fields(data, "board", source)
    version = top.get("version", int)
    if version != BOARD_VERSION:
        raise W2SError(f"board version {version} is not the one this w2s-bench reads ({BOARD_VERSION})",
                       where=source, fix="rebuild the board with this version of w2s-bench")
    return Board(title=top.get("title", str), generated=top.get("generated", str),
                 suite=top.strings("suite"), families=top.strings("families"),
                 submissions=tuple(_submission(f) for f in top.objects("submissions")),
                 rows=tuple(_task_row(f) for f in top.objects("rows")),
                 ranking=tuple(_ranking_row(f) for f in top.objects("ranking")),
                 about=top.get("about", str, optional=True, default=""), version=version)


def read_board(path: str | Path) -> Board:
    path = Path(path)
    if not path.is_file():
        raise W2SError("no such board file", where=str(path), fix=_FIX)
    return board_from_json(path.read_text(encoding="utf-8"), source=str(path))
