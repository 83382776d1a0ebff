"""w2s-bench: a benchmark harness for weak-to-strong generalization.

``w2s_bench.run(tasks=[...], weak=[...], strong=[...])`` runs the protocol and returns run records;
the ``w2s-bench`` command is a thin layer over it.
"""

from w2s_bench.evaluator import RunConfig, run

__all__ = ["RunConfig", "run"]
