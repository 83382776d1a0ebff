"""Turn dataset rows into Examples according to a task's output type.

* ``classification``: ``doc_to_text`` is the text, ``doc_to_choice`` the class names,
  ``doc_to_target`` the class (an index or a class name).
* ``multiple_choice``: ``doc_to_text`` is the context, ``doc_to_choice`` the answers; each
  candidate text is ``context + target_delimiter + answer``. With ``binarize_choices`` each
  row instead becomes one balanced binary "is this answer correct" example (Burns et al.): the
  correct answer or one wrong answer, chosen by a generator seeded from the example id.
* ``pairwise_preference``: ``doc_to_choice`` gives the responses (e.g. ``[chosen, rejected]``)
  and ``doc_to_target`` the preferred one. A scalar score per candidate and softmax over the two
  is the Bradley-Terry model.

Candidates are put in an order drawn from the example id, so the correct position is balanced
and labels carry no position shortcut.
"""

from __future__ import annotations

import random
import re
import zlib
from typing import Any

from w2s_bench.errors import W2SError
from w2s_bench.examples import Example
from w2s_bench.tasks.config import TaskConfig
from w2s_bench.tasks.templates import Template

BINARY_CLASS_NAMES = ["incorrect", "correct"]


def _rng_for(example_id: str, salt: str) -> random.Random:
    return random.Random(zlib.crc32(f"{salt}:{example_id}".encode()))


class ExampleBuilder:
    """Renders one task's templates on rows; knows the task's label space."""

    def __init__(self, config: TaskConfig) -> None:
        self.config = config
        src = config.source_file
        self.text = Template(config.doc_to_text, f"{src}: doc_to_text")
        self.target = Template(config.doc_to_target, f"{src}: doc_to_target")
        self.choices = Template(config.doc_to_choice, f"{src}: doc_to_choice")
        self.doc_id = Template(config.doc_to_id, f"{src}: doc_to_id") if config.doc_to_id else None
        self._num_candidates: int | None = None

    def class_names(self, first_row: dict[str, Any]) -> list[str]:
        """Names of the K classes (for candidates: positions, since answers vary per row)."""
        if self.config.output_type == "classification":
            return [str(c) for c in self.config.doc_to_choice]
        if self.config.binarize_choices:
            return list(BINARY_CLASS_NAMES)
        return [f"candidate {i}" for i in range(len(self._choices(first_row)))]

    def build(self, row: dict[str, Any], fallback_id: str) -> Example:
        example_id = str(self.doc_id(row)) if self.doc_id else fallback_id
        text = str(self.text(row))
        if self.config.output_type == "classification":
            names = self.config.doc_to_choice
            return Example(example_id, (text,), self._target_index(row, names))
        choices = self._choices(row)
        correct = self._target_index(row, choices)
        joined = [f"{text}{self.config.target_delimiter}{c}" if text else c for c in choices]
        rng = _rng_for(example_id, self.config.task)
        if self.config.binarize_choices:
            if rng.random() < 0.5:
                return Example(example_id, (joined[correct],), 1)
            wrong = rng.choice([i for i in range(len(joined)) if i != correct])
            return Example(example_id, (joined[wrong],), 0)
        order = list(range(len(joined)))
        rng.shuffle(order)
        return Example(example_id, tuple(joined[i] for i in order), order.index(correct))

    def _choices(self, row: dict[str, Any]) -> list[str]:
        choices = self.choices(row)
        where = self.choices.where
        if not isinstance(choices, list | tuple) or len(choices) < 2:
            raise W2SError(f"doc_to_choice must give a list of at least 2 answers, got {choices!r}", where=where)
        if self._num_candidates is None:
            self._num_candidates = len(choices)
        if len(choices) != self._num_candidates:
            raise W2SError(f"rows have different numbers of answers ({self._num_candidates} vs {len(choices)})",
                           where=where, fix="every row of a task must have the same number of candidates")
        if self.config.output_type == "pairwise_preference" and len(choices) != 2:
            raise W2SError(f"pairwise_preference needs exactly 2 responses, got {len(choices)}", where=where)
        return [str(c) for c in choices]

    def _target_index(self, row: dict[str, Any], choices: list[str]) -> int:
        target = self.target(row)
        if isinstance(target, bool):
            target = int(target)
        if isinstance(target, str):
            stripped = target.strip()
            if re.fullmatch(r"-?[0-9]{1,18}", stripped):  # ASCII digits only: int("²") raises
                target = int(stripped)
            elif stripped in choices:
                target = choices.index(stripped)
        if not isinstance(target, int) or not 0 <= target < len(choices):
            raise W2SError(f"doc_to_target gave {target!r}, which is neither a class index in "
                           f"[0, {len(choices)}) nor one of {choices[:6]}", where=self.target.where,
                           fix="map the dataset's label to an index, e.g. \"{{ label | int }}\"")
        return target
