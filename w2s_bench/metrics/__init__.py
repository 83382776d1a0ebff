"""Metrics and their statistics: pure functions of predictions and gold labels, and one registry of what
each metric is (``registry``), read by the run loop, the tables, ``compare`` and validators.

- ``classification``: per-model metrics from probabilities (accuracy, AUROC, ECE, balanced accuracy, F1,
  MCC), agreement with the supervisor, gain and misfit;
- ``stats``: PGR with its guard, paired bootstrap intervals, seed summaries and the paired difference of
  two methods, all on per-example scores, so every protocol family shares them;
- ``registry`` and ``catalog``: the registered metrics and :func:`run_metrics`;
- ``comparison``: :func:`compare_methods`, each method against a baseline on paired runs.
"""

from w2s_bench.metrics.catalog import classification_inputs, run_metrics
from w2s_bench.metrics.classification import (
    accuracy,
    agreement,
    auroc,
    balanced_accuracy,
    correctness,
    expected_calibration_error,
    f1_macro,
    f1_weighted,
    gain_and_misfit,
    mcc,
)
from w2s_bench.metrics.comparison import compare_methods
from w2s_bench.metrics.registry import METRICS, Metric, compute_metrics, metric_for_key, register_metric, reported_metrics
from w2s_bench.metrics.stats import (
    PGR,
    Interval,
    PairedDifference,
    bootstrap_means,
    paired_bootstrap,
    paired_difference,
    percentile_interval,
    pgr,
    pgr_with_ci,
    seed_summary,
    verdict,
)

__all__ = ["METRICS", "PGR", "Interval", "Metric", "PairedDifference", "accuracy", "agreement", "auroc", "balanced_accuracy",
           "bootstrap_means", "classification_inputs", "compare_methods", "compute_metrics", "correctness",
           "expected_calibration_error", "f1_macro", "f1_weighted", "gain_and_misfit", "mcc", "metric_for_key",
           "paired_bootstrap", "paired_difference", "percentile_interval", "pgr", "pgr_with_ci", "register_metric",
           "reported_metrics", "run_metrics", "seed_summary", "verdict"]
