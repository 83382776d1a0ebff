"""The product-of-experts target: weak labels and the student's own beliefs, geometrically mixed.

``target ∝ weak^alpha * strong^(1 - alpha)``: where the two agree the target sharpens, where they
disagree it softens, so a confident student is not pulled all the way to a supervisor's mistake.
``alpha=1`` is naive soft cross-entropy on the weak labels.
"""

from __future__ import annotations

from w2s_bench.methods.base import Method, register
from w2s_bench.methods.logconf import unit_interval
from w2s_bench.models.base import Loss


class Product(Method):
    def loss(self) -> Loss:
        from w2s_bench.methods.losses import ProductLoss

        return ProductLoss(self.params["alpha"])


@register("product")
def product(alpha: float = 0.5) -> Method:
    alpha = unit_interval(alpha, "alpha", "product")
    return Product("product", {"alpha": alpha},
                   "product-of-experts target: weak^alpha * student^(1-alpha), normalised (alpha=1 is naive)")
