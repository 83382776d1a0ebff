"""The torch side of the methods that change the training loss: logconf's confidence loss and the
product-of-experts target (their methods, with parameters and docs, are in ``logconf.py`` and
``product.py``). Kept apart so that listing and checking methods does not import torch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from w2s_bench.train import soft_cross_entropy


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


# log(0) guard: the smallest normal float32, so a zero weak probability stays (numerically) zero.
_TINY = torch.finfo(torch.float32).tiny


def product_targets(logits: torch.Tensor, weak: torch.Tensor, alpha: float) -> torch.Tensor:
    """Rows of ``weak^alpha * softmax(logits)^(1-alpha)``, normalised, detached from the graph.

    Computed in log space (a softmax of the weighted log-probabilities) so small probabilities
    neither underflow nor divide by zero.
    """
    log_strong = F.log_softmax(logits.detach().float(), dim=-1)
    log_weak = weak.float().clamp_min(_TINY).log()
    return torch.softmax(alpha * log_weak + (1 - alpha) * log_strong, dim=-1)


class ProductLoss:
    """Soft cross-entropy against :func:`product_targets`; the target is a constant for the gradient,
    so the student is not rewarded for changing its beliefs to move its own target."""

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha

    def __call__(self, logits: torch.Tensor, targets: torch.Tensor, progress: float = 0.0) -> torch.Tensor:
        logits = logits.float()
        target = product_targets(logits, targets, self.alpha)
        return soft_cross_entropy(logits, target)
