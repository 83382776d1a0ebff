"""Linear and kNN probes on the strong model's frozen features, trained on the weak labels.

A cheap baseline from later weak-to-strong work (e.g. EleutherAI's w2s): the strong model's
pretrained representation is read, never changed, so the question is only whether the weak labels
are linearly (or locally) consistent with what the strong model already knows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from w2s_bench.errors import W2SError
from w2s_bench.examples import Example
from w2s_bench.methods.base import Fit, Method, register
from w2s_bench.models.base import Estimator
from w2s_bench.models.probe import MIN_EXAMPLES_PER_CLASS, ProbeEstimator

if TYPE_CHECKING:
    from w2s_bench.protocol import Protocol


class Probe(Method):
    def student_fits(self, protocol: Protocol, strong_model: str) -> list[Fit]:
        return [Fit(f"probe on {strong_model}'s features", strong_model, "strong", "train_b", protocol.splits.train_b,
                    MIN_EXAMPLES_PER_CLASS[self.params["kind"]])]

    def train_student(self, make_student: Callable[[], Estimator], train: Sequence[Example], weak_probs: np.ndarray,
                      val: Sequence[Example], weak_val_probs: np.ndarray) -> Estimator:
        """A probe on the features of a fresh strong model (which is never trained)."""
        from w2s_bench.models.hf import require_transformer

        strong = require_transformer(make_student(), self.name, "reads a transformer's hidden states")
        probe = ProbeEstimator(strong, kind=self.params["kind"], k=self.params.get("k", 10), seed=strong.config.seed)
        val_targets = self.targets(weak_val_probs) if len(val) else None
        return probe.fit(train, self.targets(weak_probs), val, val_targets)


@register("probe")
def probe() -> Method:
    return Probe("probe", {"kind": "logreg"},
                 "logistic regression on the strong model's frozen features (soft weak labels, C by cross-validation)")


@register("probe_knn")
def probe_knn(k: int = 10) -> Method:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise W2SError(f"k={k!r} is not a positive integer", where="--methods probe_knn", fix='e.g. --methods "probe_knn(k=20)"')
    return Probe("probe_knn", {"kind": "knn", "k": k},
                 "kNN on the strong model's frozen features: mean soft weak label of the k nearest (cosine)")
