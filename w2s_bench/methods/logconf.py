"""The auxiliary confidence loss of Burns et al. 2023 ("logconf").

The student is trained towards a mix of the weak labels and its own hardened predictions,
``target = (1 - a_t) * weak + a_t * hard(strong)``, so it can disagree with the supervisor where
it is confident instead of imitating the supervisor's errors and its under-confidence.
"""

from __future__ import annotations

import math

from w2s_bench.errors import W2SError
from w2s_bench.methods.base import Method, register
from w2s_bench.models.base import Loss


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


class LogConf(Method):
    def loss(self) -> Loss:
        from w2s_bench.methods.losses import ConfidenceLoss

        return ConfidenceLoss(self.params["alpha_max"], self.params["warmup_fraction"])


@register("logconf")
def logconf(alpha_max: float = 0.75, warmup_fraction: float = 0.2) -> Method:
    alpha_max = unit_interval(alpha_max, "alpha_max", "logconf")
    warmup_fraction = unit_interval(warmup_fraction, "warmup_fraction", "logconf")
    return LogConf("logconf", {"alpha_max": alpha_max, "warmup_fraction": warmup_fraction},
                   "auxiliary confidence loss (Burns et al. 2023): weak labels mixed with the student's "
                   "own balance-matched hard predictions, weight ramped linearly to alpha_max")
