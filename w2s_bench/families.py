"""Protocol families: which protocol runs a task, chosen by the task's kind (its ``output_type``).

The run loop (``w2s_bench.evaluator``) never asks what kind of task it has: it asks the task's family,
from this registry, to build the task, make the protocol for a (task, seed), plan a cell (checks and
artefact keys, before any training) and run it into a record and its sample rows. Two families ship:

* ``classification`` (``w2s_bench.evaluator.ClassificationFamily``): the strong model learns labels;
* ``generation`` (``w2s_bench.generation.family.GenerationFamily``): the strong LM learns to write, from
  demonstrations, and a judge scores what it writes.

A new family subclasses :class:`Family` (declaring its ``task_class``), registers it with
``@register_family("kind")``, maps its output type to the kind in ``w2s_bench.tasks.config.KIND_OF_OUTPUT_TYPE``
and adds its record metrics and sample row type (``w2s_bench.metrics.catalog``, ``w2s_bench.records.types.SAMPLE_TYPES``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from w2s_bench.errors import W2SError, did_you_mean

if TYPE_CHECKING:
    from w2s_bench.tasks.config import TaskConfig
    from w2s_bench.tasks.task import Task

FAMILIES: dict[str, Family] = {}
# where the shipped families are registered, imported on first use (the evaluator imports the task registry)
_BUILT_IN = {"classification": "w2s_bench.evaluator", "generation": "w2s_bench.generation.family"}
# their task classes, importable alone: listing and validating tasks must not load a run loop (and torch)
_BUILT_IN_TASKS = {"classification": ("w2s_bench.tasks.task", "Task"),
                   "generation": ("w2s_bench.generation.task", "GenerationTask")}


class Family:
    """One protocol family. ``sweep`` arguments are the run loop's resolved inputs (``evaluator._Sweep``),
    ``cell`` an ``evaluator.Cell``."""

    kind: ClassVar[str] = ""
    task_class: ClassVar[type[Task]]  # what a task config of this kind is built into (see :func:`make_task`)

    def protocol(self, sweep: Any, loaded: Any, seed: int) -> Any:
        """The protocol object that runs (and caches) this task and seed's steps."""
        raise NotImplementedError

    def plan_cell(self, sweep: Any, protocol: Any, cell: Any) -> list[tuple[str, str]]:
        """Check the cell can run (a W2SError if not) and return the (step, key) of every artefact it needs."""
        raise NotImplementedError

    def run_cell(self, sweep: Any, protocol: Any, cell: Any) -> tuple[Any, list[Any]]:
        """The cell's record (a RunRecord, or a FailedRun for a data reason) and its sample rows."""
        raise NotImplementedError


def register_family(kind: str) -> Callable[[type[Family]], type[Family]]:
    """``@register_family("kind")`` on a :class:`Family` subclass; one family per kind."""

    def wrap(cls: type[Family]) -> type[Family]:
        if kind in FAMILIES and type(FAMILIES[kind]) is not cls:
            raise W2SError(f"family {kind!r} is already registered by {type(FAMILIES[kind]).__qualname__}",
                           where=f"@register_family({kind!r})", fix="choose another kind")
        cls.kind = kind
        FAMILIES[kind] = cls()
        return cls

    return wrap


def family_of(kind: str) -> Family:
    """The family that runs tasks of ``kind``."""
    if kind not in FAMILIES and kind in _BUILT_IN:
        importlib.import_module(_BUILT_IN[kind])
    if kind not in FAMILIES:
        raise W2SError(f"no protocol family runs {kind!r} tasks", where="task output_type",
                       fix=did_you_mean(kind, [*FAMILIES, *_BUILT_IN]))
    return FAMILIES[kind]


def make_task(config: TaskConfig) -> Task:
    """The task for ``config``, by its kind: its family's :attr:`Family.task_class`; for a shipped family not
    imported yet, the class named in ``_BUILT_IN_TASKS``, imported alone (light)."""
    if config.kind not in FAMILIES and config.kind in _BUILT_IN_TASKS:
        module, name = _BUILT_IN_TASKS[config.kind]
        return getattr(importlib.import_module(module), name)(config)
    return family_of(config.kind).task_class(config)
