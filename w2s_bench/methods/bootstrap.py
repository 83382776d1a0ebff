"""Bootstrapping (Burns et al. 2023, section 4.3.1): a chain W -> M1 -> ... -> S of growing models.

Each intermediate model learns from the previous link's labels and labels train_b for the next.
Labels come from *cross-fitting*: train_b is split into two folds, a copy of the intermediate
model is trained on each fold and labels the other, so no example is labelled by a model that
was trained on it (a model relabelling its own training set mostly hands its supervisor's labels
back unchanged). The two copies together cost about one training on train_b. Every link trains
with the same objective as the final student (soft cross-entropy) and early-stops on the previous
link's labels for val_b, never on GT.

The run record's ``supervision.chain`` lists each link's test accuracy and the accuracy of the
labels it handed on (measured with GT, never trained on); the table's PGR is end to end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from w2s_bench.errors import W2SError
from w2s_bench.examples import accuracy_of
from w2s_bench.methods.base import Fit, Method, Supervision, register
from w2s_bench.records.supervision import ChainLink, ChainSupervision

if TYPE_CHECKING:
    from w2s_bench.protocol import Protocol


def cross_fit_folds(n: int) -> list[np.ndarray]:
    """The two folds of train_b's positions each link is trained on (and labels the other)."""
    return [np.arange(n)[f::2] for f in (0, 1)]


class Bootstrap(Method):
    def __init__(self, via: list[str]) -> None:
        super().__init__("bootstrap", {"via": "+".join(via)},
                         "a chain weak -> via... -> strong; each link trained on the previous link's labels")
        self.via = via

    def models(self) -> dict[str, str]:
        return {m: "strong" for m in self.via}

    def check(self, weak_model: str) -> None:
        if not self.via:
            raise W2SError("bootstrap needs intermediate models", where="--methods bootstrap",
                           fix="give them with --via a,b or --methods \"bootstrap(via=a+b)\"")

    def student_fits(self, protocol: Protocol, strong_model: str) -> list[Fit]:
        train_b = protocol.splits.train_b
        links = [Fit(f"bootstrap link {model} (fold {f + 1} of 2)", model, "strong", "train_b", [train_b[i] for i in fold])
                 for model in self.via for f, fold in enumerate(cross_fit_folds(len(train_b)))]
        return links + super().student_fits(protocol, strong_model)

    def supervision(self, protocol: Protocol, weak_model: str) -> Supervision:
        s = protocol.splits
        labels = super().supervision(protocol, weak_model)
        weak_test = protocol.weak(weak_model).test_probs
        chain = [ChainLink(model=weak_model, test_acc=accuracy_of(weak_test, s.test),
                           label_acc=accuracy_of(labels.train, s.train_b))]
        for model in self.via:
            labels, test_probs = self._relabel(protocol, model, labels)
            chain.append(ChainLink(model=model, test_acc=accuracy_of(test_probs, s.test),
                                   label_acc=accuracy_of(labels.train, s.train_b)))
        return Supervision(labels.train, labels.val, ChainSupervision(chain=chain))

    def _relabel(self, protocol: Protocol, model: str, labels: Supervision) -> tuple[Supervision, np.ndarray]:
        """Cross-fitted labels of ``model`` for train_b, and its (fold-averaged) val_b and test predictions."""
        s = protocol.splits
        folds = cross_fit_folds(len(s.train_b))
        new_train = np.zeros_like(labels.train)
        val, test = [], []
        for fold, other in (folds, folds[::-1]):
            link = self.train_student(lambda: protocol.make_strong(model), [s.train_b[i] for i in fold],
                                      labels.train[fold], s.val_b, labels.val)
            new_train[other] = link.predict_proba([s.train_b[i] for i in other])
            val.append(link.predict_proba(s.val_b) if s.val_b else labels.val[:0])
            test.append(link.predict_proba(s.test))
        return Supervision(new_train, np.mean(val, axis=0)), np.mean(test, axis=0)


@register("bootstrap")
def bootstrap(via: str = "") -> Method:
    return Bootstrap([m.strip() for m in str(via).split("+") if m.strip()])
