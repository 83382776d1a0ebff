"""Optional dependencies: a feature that needs a package outside the core install names the extra
that installs it, before it starts, instead of failing with ``ModuleNotFoundError`` midway.

What the defaults need (torch, transformers, peft for LoRA on 3B+ aliases, ...) is in the core
dependencies; only the features below (figures, multi-GPU training, the leaderboard site, Ray sweeps) are
extras (``pyproject.toml``'s optional-dependencies).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from w2s_bench.errors import W2SError

# importable module -> the extra of w2s-bench that installs it
EXTRAS = {"matplotlib": "plots", "accelerate": "multi-gpu", "plotly": "leaderboard", "ray": "ray"}


def require(module: str, feature: str) -> ModuleType:
    """``module`` imported, or a W2SError saying that ``feature`` needs it and how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise W2SError(f"{feature} needs the optional package {module}, which is not installed", where=feature,
                       fix=f'pip install "w2s-bench[{EXTRAS[module]}]"') from exc
