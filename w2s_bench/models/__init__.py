"""Models: the Estimator interface, adapters (transformers, TF-IDF) and the name registry.

The names below are loaded on first use (PEP 562), so importing a submodule (``w2s_bench.models.offline``,
as the offline LM ladder does) does not import the registry, which itself imports the ladder.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"Estimator": "w2s_bench.models.base", **{name: "w2s_bench.models.registry" for name in (
    "ALIASES", "ModelSpec", "build_estimator", "parse_model_args", "register_model", "resolve")}}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'w2s_bench.models' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
