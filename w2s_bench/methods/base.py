"""Methods: how the weak-to-strong step is trained.

A method decides which targets the student sees (from the weak supervisor's soft labels) and,
optionally, which loss the one training loop uses. Methods that change the protocol's shape
(bootstrapping chains, ensembles of supervisors) override ``train_student``; none re-implements
the training loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from w2s_bench.errors import W2SError, did_you_mean
from w2s_bench.examples import Example
from w2s_bench.models.base import Estimator, Loss


@dataclass
class Method:
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def targets(self, weak_probs: np.ndarray) -> np.ndarray:
        """The student's training targets, from the supervisor's probabilities."""
        return weak_probs

    def loss(self) -> Loss | None:
        """A training loss for the student, or None for soft cross-entropy."""
        return None

    def train_student(self, make_student: Callable[[], Estimator], train: Sequence[Example], weak_probs: np.ndarray,
                      val: Sequence[Example], weak_val_probs: np.ndarray) -> Estimator:
        """Fit a fresh strong model on weak labels; early stopping sees weak labels only, never GT."""
        student = make_student()
        val_targets = self.targets(weak_val_probs) if len(val) else None
        return student.fit(train, self.targets(weak_probs), val, val_targets, loss=self.loss())


METHODS: dict[str, Callable[[], Method]] = {}


def register(name: str) -> Callable[[Callable[[], Method]], Callable[[], Method]]:
    def wrap(factory: Callable[[], Method]) -> Callable[[], Method]:
        METHODS[name] = factory
        return factory

    return wrap


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise W2SError(f"unknown method {name!r}", where="--methods",
                       fix=did_you_mean(name, METHODS) + " (`w2s-bench ls methods` lists them)")
    return METHODS[name]()
