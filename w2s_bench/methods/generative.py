"""Generative finetuning: adapt the strong model to the task's text before weak-to-strong training.

Burns et al. 2023 report that finetuning the strong model with a language-modelling objective on
the task's unlabeled text helps reward modelling: the student's representation of the task
becomes more salient before it sees any (weak) label. Only the weak-labelled half (train_b and its
validation part) is used, never test text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from w2s_bench.errors import W2SError
from w2s_bench.examples import Example
from w2s_bench.methods.base import Method, register
from w2s_bench.models.base import Estimator


class Generative(Method):
    def train_student(self, make_student: Callable[[], Estimator], train: Sequence[Example], weak_probs: np.ndarray,
                      val: Sequence[Example], weak_val_probs: np.ndarray) -> Estimator:
        """LM-finetune a fresh strong model on the texts of train and val, then fit it as naive does."""
        from w2s_bench.models.hf import require_transformer

        student = require_transformer(make_student(), self.name, "finetunes a transformer language model")
        student.lm_finetune([t for ex in (*train, *val) for t in ex.texts], epochs=self.params["lm_epochs"],
                            lr=self.params["lm_lr"])
        return super().train_student(lambda: student, train, weak_probs, val, weak_val_probs)


def _positive(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise W2SError(f"{name}={value!r} is not a positive number", where="--methods generative",
                       fix=f'e.g. --methods "generative({name}=1)"')
    return float(value)


@register("generative")
def generative(lm_epochs: float = 1.0, lm_lr: float = 5e-5) -> Method:
    return Generative("generative", {"lm_epochs": _positive(lm_epochs, "lm_epochs"), "lm_lr": _positive(lm_lr, "lm_lr")},
                      "language-model finetuning on the weak-labelled half's text, then cross-entropy on the soft weak labels")
