"""Naive weak-to-strong training (Burns et al. 2023): cross-entropy on the supervisor's labels."""

from __future__ import annotations

import numpy as np

from w2s_bench.examples import one_hot
from w2s_bench.methods.base import Method, register


class HardLabels(Method):
    def targets(self, weak_probs: np.ndarray) -> np.ndarray:
        return one_hot(weak_probs.argmax(axis=1), weak_probs.shape[1])


@register("naive")
def naive() -> Method:
    return Method("naive", {"labels": "soft"}, "cross-entropy on the weak model's soft labels")


@register("naive_hard")
def naive_hard() -> Method:
    return HardLabels("naive_hard", {"labels": "hard"}, "cross-entropy on the weak model's argmax labels")
