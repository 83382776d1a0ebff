"""Discovery of task YAMLs: the shipped ``tasks/`` folder plus any ``--include_path``.

Discovery is lazy in the lm-eval sense: it reads only the names (``task``, ``tag``, ``group``)
of each YAML; a task's full config is validated when it is used. A YAML with ``group`` and a
``task`` list defines a group; a task's ``tag`` list adds it to tags. ``--tasks`` accepts task,
group and tag names, and unknown names get a "did you mean".

A name means one thing: a task or group defined in two files (two include paths, two files of one
folder, or a user's file reusing a shipped task's name) is an error naming both files, never a silent
override, so a results table's ``sst2`` is always the shipped task, not someone's edited copy. A tag
may not reuse a task's name either. The same file reached twice (an include path inside another)
counts once.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from w2s_bench.errors import W2SError, did_you_mean
from w2s_bench.tasks.config import load_task_config, read_yaml, resolve_includes
from w2s_bench.tasks.task import Task


def shipped_tasks_dir() -> Path:
    """The top-level ``tasks/`` folder, installed as the ``w2s_bench.task_files`` package."""
    return Path(str(importlib.resources.files("w2s_bench.task_files")))


@dataclass
class TaskRegistry:
    tasks: dict[str, Path] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    group_files: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def discover(cls, include_paths: Iterable[str | Path] = ()) -> TaskRegistry:
        registry, seen = cls(), set()
        for root in [shipped_tasks_dir(), *map(Path, include_paths)]:
            if not root.exists():
                raise W2SError(f"include path {root} does not exist", where="--include_path")
            for path in [root] if root.is_file() else sorted(root.rglob("*.yaml")):
                if path.resolve() not in seen:
                    seen.add(path.resolve())
                    registry._index(path)
        registry._check_tags()
        return registry

    def _index(self, path: Path) -> None:
        data = read_yaml(path)
        if "group" in data:
            members = data.get("task")
            if not isinstance(members, list):
                raise W2SError("a group file needs `task:` as a list of task names", where=f"{path}: task")
            name = str(data["group"])
            self._claim(name, path, "group")
            self.group_files[name] = path
            self.groups.setdefault(name, []).extend(map(str, members))
        elif isinstance(data.get("task"), str):  # files without `task` are bases for `include`
            name = data["task"]
            self._claim(name, path, "task")
            self.tasks[name] = path
            tags = resolve_includes(path, data).get("tag", [])  # a base file's tags count too
            tags = [tags] if isinstance(tags, str) else tags
            if not isinstance(tags, list):
                raise W2SError(f"tag must be a name or a list of names, got {tags!r}", where=f"{path}: tag")
            for tag in tags:
                self.groups.setdefault(str(tag), []).append(name)

    def _claim(self, name: str, path: Path, kind: str) -> None:
        """Refuse a task or group name that another file already defines."""
        other = self.tasks.get(name) or self.group_files.get(name)
        if other is not None:
            raise W2SError(f"{kind} {name!r} is also defined in {other}", where=str(path),
                           fix=f"rename one of them (e.g. {kind}: my_{name}); a shipped task cannot be overridden, "
                               "so its name in a results table always means the shipped task")

    def _check_tags(self) -> None:
        for name in sorted(self.groups.keys() & self.tasks.keys()):
            raise W2SError(f"{name!r} is both a task and a tag or group", where=str(self.tasks[name]),
                           fix="rename the tag or the task")

    def names(self) -> list[str]:
        return sorted(self.tasks)

    def expand(self, names: Iterable[str], within: tuple[str, ...] = ()) -> list[str]:
        """Task names for a list of task, group and tag names, in order, without repeats (``within``:
        the groups being expanded, so that a group naming itself is an error, not endless recursion)."""
        out: list[str] = []
        for name in names:
            if name in self.tasks:
                out.append(name)
            elif name in within:
                raise W2SError(f"group {name!r} contains itself ({' -> '.join((*within, name))})",
                               where=str(self.group_files.get(name, "--tasks")), fix="remove the cycle")
            elif name in self.groups:
                out += self.expand(self.groups[name], (*within, name))
            else:
                where = str(self.group_files[within[-1]]) if within and within[-1] in self.group_files else "--tasks"
                raise W2SError(f"unknown task {name!r}", where=where,
                               fix=did_you_mean(name, [*self.tasks, *self.groups]) +
                               " (`w2s-bench ls tasks` lists them; add your own with --include_path)")
        return list(dict.fromkeys(out))

    def get(self, name: str) -> Task:
        self.expand([name])  # raises the "did you mean" error for unknown names
        if name not in self.tasks:
            raise W2SError(f"{name!r} is a group or tag, not a task", where="task name",
                           fix=f"its tasks: {', '.join(self.expand([name]))}")
        from w2s_bench.families import make_task

        return make_task(load_task_config(self.tasks[name]))
