"""w2s-bench: a benchmark harness for weak-to-strong generalization.

``w2s_bench.run(tasks=[...], weak=[...], strong=[...])`` runs the protocol and returns run records;
the ``w2s-bench`` command is a thin layer over it.

``run`` and ``RunConfig`` are imported on first use (PEP 562), so that importing any part of the
package, e.g. for ``w2s-bench ls`` or ``validate``, does not load torch and transformers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from w2s_bench.evaluator import RunConfig, run

__all__ = ["RunConfig", "run"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from w2s_bench import evaluator

        return getattr(evaluator, name)
    raise AttributeError(f"module 'w2s_bench' has no attribute {name!r}")
