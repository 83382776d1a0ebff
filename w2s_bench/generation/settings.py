"""A generation task's sampling settings (lm-eval's ``generation_kwargs``), checked when the task is built.

Apart from ``sampling`` (which imports torch) so that listing and validating tasks stays light.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from w2s_bench.errors import W2SError, did_you_mean


@dataclass(frozen=True)
class GenerationSettings:
    """lm-eval's ``generation_kwargs``: ``temperature`` 0 is greedy; ``until`` are stop strings, cut from
    the output (the text ends just before the first one); generation also stops at the EOS token."""

    max_new_tokens: int = 32
    temperature: float = 1.0
    top_p: float = 1.0
    until: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        where = "generation_kwargs"
        if isinstance(self.max_new_tokens, bool) or not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise W2SError(f"max_new_tokens={self.max_new_tokens!r} must be a positive integer", where=where,
                           fix="e.g. max_new_tokens: 32")
        if not isinstance(self.temperature, int | float) or self.temperature < 0:
            raise W2SError(f"temperature={self.temperature!r} must be a number >= 0 (0 is greedy)", where=where,
                           fix="e.g. temperature: 1.0")
        if not isinstance(self.top_p, int | float) or not 0 < self.top_p <= 1:
            raise W2SError(f"top_p={self.top_p!r} must be in (0, 1]", where=where, fix="e.g. top_p: 0.95")
        until = (self.until,) if isinstance(self.until, str) else tuple(self.until)
        if any(not isinstance(s, str) or not s for s in until):
            raise W2SError(f"until={self.until!r} must be a list of non-empty strings", where=where,
                           fix='e.g. until: ["\\n"]')
        object.__setattr__(self, "until", until)


def settings_from_config(kwargs: Any, where: str = "generation_kwargs") -> GenerationSettings:
    """A task's ``generation_kwargs`` mapping as settings; an unknown key or a bad value is a W2SError at ``where``."""
    known = [f.name for f in fields(GenerationSettings)]
    if not isinstance(kwargs, dict):
        raise W2SError(f"must be a mapping, got {kwargs!r}", where=where, fix="e.g. {max_new_tokens: 24, temperature: 0.7}")
    for key in kwargs:
        if key not in known:
            raise W2SError(f"unknown generation setting {key!r}", where=f"{where}.{key}", fix=did_you_mean(str(key), known))
    try:
        return GenerationSettings(**kwargs)
    except W2SError as exc:
        raise W2SError(exc.what, where=where, fix=exc.fix) from None
