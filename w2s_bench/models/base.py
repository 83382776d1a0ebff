"""The one interface every model implements, in the spirit of scikit-learn.

An estimator fits on examples with *soft targets* (``[n, K]`` class probabilities: one-hot for
ground truth, the supervisor's probabilities for weak labels) and predicts probabilities. A W2S
protocol is then a composition of estimators, and a weak model can be anything with this shape.

``loss`` lets a method change the training objective of trainable (torch) estimators, e.g. the
auxiliary confidence loss; ``None`` means soft cross-entropy. It is called as
``loss(logits, targets, progress)`` with ``progress`` in [0, 1] (the fraction of training done)
and returns a scalar tensor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from w2s_bench.examples import Example

Loss = Callable[[Any, Any, float], Any]


class Estimator(Protocol):
    def fit(self, train: Sequence[Example], targets: np.ndarray, val: Sequence[Example] = (),
            val_targets: np.ndarray | None = None, loss: Loss | None = None) -> Estimator: ...

    def predict_proba(self, examples: Sequence[Example]) -> np.ndarray: ...
