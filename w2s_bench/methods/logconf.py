"""The auxiliary confidence loss of Burns et al. 2023 ("logconf").

The student is trained towards a mix of the weak labels and its own hardened predictions,
``target = (1 - a_t) * weak + a_t * hard(strong)``, so it can disagree with the supervisor where
it is confident instead of imitating the supervisor's errors and its under-confidence.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from w2s_bench.errors import W2SError
from w2s_bench.methods.base import Method, register
from w2s_bench.models.base import Loss
from w2s_bench.train import soft_cross_entropy


def unit_interval(value: object, name: str, method: str) -> float:
    """``value`` as a float in [0, 1], or a W2SError that names the CLI option (NaN is rejected too)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if not 0.0 <= number <= 1.0:
        raise W2SError(f"{name}={value!r} is not a number in [0, 1]", where=f"--methods {method}",
                       fix=f'e.g. --methods "{method}({name}=0.5)"')
    return number


def hard_predictions(logits: torch.Tensor, weak: torch.Tensor) -> torch.Tensor:
    """The student's own predictions as one-hot targets, detached from the graph.

    With two outputs the ``k = round(n * mean weak p(class 1))`` rows
    with the highest student p(class 1) become class 1: thresholding at a batch quantile, as Burns
    et al.'s code does with ``torch.quantile``, so the hard labels keep the weak labels' class
    balance however (mis)calibrated the student is. Ranking instead of ``torch.quantile`` makes the
    count exact (no interpolation, ties cannot move it). Two scored candidates (pairwise
    preference) are matched the same way: their order is shuffled per example, so the weak labels'
    position balance is about even and matching it is harmless. With K > 2 outputs there is no
    single threshold to pick, so the argmax is used.
    """
    logits = logits.detach()
    n, k = logits.shape
    if k != 2:
        return F.one_hot(logits.argmax(dim=-1), k).to(logits.dtype)
    positives = min(n, math.floor(n * weak[:, 1].float().mean().item() + 0.5))
    hard = torch.zeros_like(logits)
    hard[:, 0] = 1.0
    top = torch.argsort(logits[:, 1] - logits[:, 0], descending=True)[:positives]  # monotone in p(class 1)
    hard[top] = torch.tensor([0.0, 1.0], dtype=logits.dtype, device=logits.device)
    return hard


class ConfidenceLoss:
    """Soft cross-entropy against ``(1 - a_t) * weak + a_t * hard(strong)`` (see :func:`hard_predictions`).

    ``a_t = alpha_max * min(1, progress / warmup_fraction)`` ramps linearly from 0 so the student
    first learns from the supervisor before trusting itself; ``warmup_fraction=0`` means full
    weight from the first step. A published implementation used ``a_t = progress`` during warm-up
    and then jumped to ``alpha_max`` (a discontinuity, and a ramp that never reaches alpha_max);
    this one ramps continuously to exactly ``alpha_max`` at the end of warm-up.
    """

    def __init__(self, alpha_max: float, warmup_fraction: float) -> None:
        self.alpha_max, self.warmup_fraction = alpha_max, warmup_fraction

    def coefficient(self, progress: float) -> float:
        if self.warmup_fraction <= 0:
            return self.alpha_max
        return self.alpha_max * min(1.0, max(0.0, progress) / self.warmup_fraction)

    def __call__(self, logits: torch.Tensor, targets: torch.Tensor, progress: float) -> torch.Tensor:
        logits, targets = logits.float(), targets.float()
        alpha = self.coefficient(progress)
        target = (1 - alpha) * targets + alpha * hard_predictions(logits, targets)
        return soft_cross_entropy(logits, target)


class LogConf(Method):
    def loss(self) -> Loss:
        return ConfidenceLoss(self.params["alpha_max"], self.params["warmup_fraction"])


@register("logconf")
def logconf(alpha_max: float = 0.75, warmup_fraction: float = 0.2) -> Method:
    alpha_max = unit_interval(alpha_max, "alpha_max", "logconf")
    warmup_fraction = unit_interval(warmup_fraction, "warmup_fraction", "logconf")
    return LogConf("logconf", {"alpha_max": alpha_max, "warmup_fraction": warmup_fraction},
                   "auxiliary confidence loss (Burns et al. 2023): weak labels mixed with the student's "
                   "own balance-matched hard predictions, weight ramped linearly to alpha_max")
