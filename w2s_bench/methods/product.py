"""The product-of-experts target: weak labels and the student's own beliefs, geometrically mixed.

``target ∝ weak^alpha * strong^(1 - alpha)``: where the two agree the target sharpens, where they
disagree it softens, so a confident student is not pulled all the way to a supervisor's mistake.
``alpha=1`` is naive soft cross-entropy on the weak labels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from w2s_bench.methods.base import Method, register
from w2s_bench.methods.logconf import unit_interval
from w2s_bench.models.base import Loss
from w2s_bench.train import soft_cross_entropy

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


class Product(Method):
    def loss(self) -> Loss:
        return ProductLoss(self.params["alpha"])


@register("product")
def product(alpha: float = 0.5) -> Method:
    alpha = unit_interval(alpha, "alpha", "product")
    return Product("product", {"alpha": alpha},
                   "product-of-experts target: weak^alpha * student^(1-alpha), normalised (alpha=1 is naive)")
