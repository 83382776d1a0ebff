"""Naive weak-to-strong training (Burns et al. 2023): cross-entropy on the supervisor's labels; for the
generation family, SFT on the weak LM's demonstrations (Ye et al. 2024), through the hooks' defaults.

The labels can be sharpened with a temperature: ``naive(temperature=0.5)`` trains on weak_p^(1/T),
renormalised; ``temperature=0`` is the supervisor's argmax (hard labels, registered as
``naive_hard``). Sharpening matters when a weak supervisor's probabilities sit close to 0.5 (a
TF-IDF model trained on a thousand examples): soft targets near uniform give small gradients.
"""

from __future__ import annotations

import numpy as np
from scipy.special import softmax

from w2s_bench.errors import W2SError
from w2s_bench.examples import one_hot
from w2s_bench.methods.base import Method, register


class Naive(Method):
    def __init__(self, name: str, temperature: float, description: str) -> None:
        if temperature < 0:
            raise W2SError(f"temperature must be >= 0, got {temperature}", where=f"--methods {name}",
                           fix="0 for hard labels, 1 for the supervisor's probabilities, in between to sharpen")
        labels = "hard" if temperature == 0 else "soft" if temperature == 1 else f"soft, temperature {temperature:g}"
        # for text, naive is SFT on the weak demonstrations; a temperature has no meaning there
        families = ("classification", "generation") if temperature == 1 else ("classification",)
        super().__init__(name, {"labels": labels}, description, families)
        self.temperature = temperature

    def targets(self, weak_probs: np.ndarray) -> np.ndarray:
        if self.temperature == 0:
            return one_hot(weak_probs.argmax(axis=1), weak_probs.shape[1])
        if self.temperature == 1:
            return weak_probs
        return softmax(np.log(np.clip(weak_probs, 1e-12, 1.0)) / self.temperature, axis=1)


@register("naive")
def naive(temperature: float = 1.0) -> Method:
    return Naive("naive", float(temperature), "cross-entropy on the weak model's labels (temperature 0: hard); "
                 "for generation: SFT on the weak LM's demonstrations")


@register("naive_hard")
def naive_hard() -> Method:
    return Naive("naive_hard", 0.0, "cross-entropy on the weak model's argmax labels (= naive(temperature=0))")
