"""The weak-to-strong protocol for one task and seed (Burns et al. 2023, protocol.md section 1).

1. weak supervisor: the weak model fitted on train_a with ground truth (GT);
2. weak labels: its probabilities on train_b (and on train_b's validation part);
3. ceiling: the strong model fitted on train_a with GT (the same GT the weak model had);
4. w2s: a fresh strong model fitted on train_b with the weak labels, through the method.

The supervisor and ceiling do not depend on the method, so :class:`Protocol` fits each of them
once per (task, seed, model) and every method reuses them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from w2s_bench.examples import labels_of, one_hot
from w2s_bench.methods.base import Method
from w2s_bench.models.base import Estimator
from w2s_bench.tasks.task import LoadedTask


@dataclass
class Fitted:
    """Test-set probabilities of a fitted model, plus how its training went."""

    test_probs: np.ndarray
    seconds: float
    training: dict[str, Any] | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)


def _training_log(estimator: Estimator) -> dict[str, Any] | None:
    log = getattr(estimator, "training_log", None)
    return None if log is None else {"steps": log.steps, "best_step": log.best_step, "evals": log.evals}


class Protocol:
    """Runs the protocol's steps on one loaded task and seed, caching supervisor and ceiling."""

    def __init__(self, loaded: LoadedTask, make_weak: Callable[[str], Estimator],
                 make_strong: Callable[[str], Estimator]) -> None:
        self.loaded, self.make_weak, self.make_strong = loaded, make_weak, make_strong
        self._weak: dict[str, Fitted] = {}
        self._ceiling: dict[str, Fitted] = {}

    def _fit_gt(self, estimator: Estimator) -> tuple[Estimator, Fitted]:
        s, k = self.loaded.splits, self.loaded.num_classes
        start = time.perf_counter()
        estimator = estimator.fit(s.train_a, one_hot(labels_of(s.train_a), k), s.val_a,
                                               one_hot(labels_of(s.val_a), k) if s.val_a else None)
        test_probs = estimator.predict_proba(s.test)
        return estimator, Fitted(test_probs, time.perf_counter() - start, _training_log(estimator))

    def weak(self, model: str) -> Fitted:
        """The supervisor's test predictions and its labels for train_b (``extra``)."""
        if model not in self._weak:
            estimator, fitted = self._fit_gt(self.make_weak(model))
            s = self.loaded.splits
            fitted.extra["train_b"] = estimator.predict_proba(s.train_b)
            fitted.extra["val_b"] = estimator.predict_proba(s.val_b) if s.val_b else np.zeros((0, self.loaded.num_classes))
            self._weak[model] = fitted
        return self._weak[model]

    def ceiling(self, model: str) -> Fitted:
        if model not in self._ceiling:
            self._ceiling[model] = self._fit_gt(self.make_strong(model))[1]
        return self._ceiling[model]

    def w2s(self, weak_model: str, strong_model: str, method: Method) -> Fitted:
        s = self.loaded.splits
        weak = self.weak(weak_model)
        start = time.perf_counter()
        student = method.train_student(lambda: self.make_strong(strong_model), s.train_b, weak.extra["train_b"],
                                       s.val_b, weak.extra["val_b"])
        test_probs = student.predict_proba(s.test)
        return Fitted(test_probs, time.perf_counter() - start, _training_log(student))
