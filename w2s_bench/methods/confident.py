"""Confidence filtering of weak demonstrations (generation): finetune the student only on the demonstrations
the weak LM was most sure of.

The weak model's confidence in a demonstration is the mean log probability per token it gave its own
output (measured right after writing it, ``GenerationProtocol.weak``). Low-confidence samples are where a
small model wandered off (a rare word, a broken sentence); keeping the top ``keep`` fraction trades
training data for cleaner demonstrations, the generative counterpart of training on a supervisor's
confident labels only.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from w2s_bench.errors import W2SError
from w2s_bench.methods.base import Method, register

if TYPE_CHECKING:
    from w2s_bench.generation.protocol import GenerationProtocol


class ConfidentDemonstrations(Method):
    def demonstrations(self, protocol: GenerationProtocol, weak_model: str) -> tuple[list[str], list[str], dict | None]:
        weak = protocol.weak(weak_model)
        prompts = [d.prompt for d in protocol.splits.train_b]
        demos, confidence = weak.outputs["train_b"], weak.info["train_b_confidence"]
        ranked = sorted(range(len(demos)), key=lambda i: -math.inf if confidence[i] is None else confidence[i],
                        reverse=True)
        kept = sorted(ranked[:max(1, round(self.params["keep"] * len(demos)))])
        info: dict[str, Any] = {"kind": "demonstrations", "kept": len(kept), "offered": len(demos),
                                "selection": f"top {self.params['keep']:g} by the weak LM's mean token log probability"}
        return [prompts[i] for i in kept], [demos[i] for i in kept], info


@register("confident")
def confident(keep: float = 0.5) -> Method:
    if isinstance(keep, bool) or not isinstance(keep, int | float) or not 0 < keep <= 1:
        raise W2SError(f"keep={keep!r} must be a fraction in (0, 1]", where="--methods confident",
                       fix='e.g. --methods "confident(keep=0.5)"')
    return ConfidentDemonstrations("confident", {"keep": float(keep)},
                                   "SFT on the weak LM's most confident demonstrations (mean token log probability)",
                                   ("generation",))
