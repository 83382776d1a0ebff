"""The metrics w2s-bench reports, registered in one place (see ``w2s_bench.metrics.registry``).

Every family: the test set size and the PGR metrics, from per-example scores. Classification: the
protocol's fixed set (accuracy with its interval, agreement with the supervisor, gain and misfit) and the
metrics a task may add with ``metric_list`` (AUROC, ECE, balanced accuracy, macro / weighted F1, MCC).
Generation: each model's mean judge score with its interval and the quality guards (distinct-1/2,
perplexity under the untuned strong LM, mean length), for the four models (weak, ceiling, w2s and the
untuned strong LM, ``base``), the win rate of w2s against base, and which model PGR starts from
(``pgr_floor``); a task may add the share of outputs scored below 0.5 (``toxicity_rate``).
:func:`run_metrics` computes a classification run's metrics from its probabilities, :func:`generation_metrics`
a generation run's from its outputs and scores.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from w2s_bench.metrics import classification as cls
from w2s_bench.metrics import generation as gen
from w2s_bench.metrics.registry import GENERATION_MODELS, MODELS, compute_metrics, register_metric
from w2s_bench.metrics.stats import pgr_with_ci

SCORES = ("weak_scores", "ceiling_scores", "w2s_scores")
STATS = (*SCORES, "n_resamples", "seed", "min_gap")  # each model's score interval
# PGR's: the floor is the model the gap starts from (``pgr_floor``): the weak model, or for a generation method
# that steers the untuned strong LM, that LM (base). The same bootstrap indices either way (same seed and n).
PGR_STATS = ("floor_scores", "ceiling_scores", "w2s_scores", "n_resamples", "seed", "min_gap")


def _pgr_stats(weak: np.ndarray, ceiling: np.ndarray, w2s: np.ndarray, n_resamples: int, seed: int,
               min_gap: float) -> dict:
    return pgr_with_ci(weak, ceiling, w2s, n_resamples=n_resamples, seed=seed, min_gap=min_gap)


# -- every family: from per-example scores ---------------------------------------------------------------
register_metric("n_test", len, ("weak_scores",), kind=None, protocol=True, value="count", nullable=False,
                higher_is_better=None, aggregate="none", description="test examples")

# -- classification: the protocol's fixed set --------------------------------------------------------------
register_metric("n_classes", lambda probs: int(np.shape(probs)[1]), ("weak_probs",), protocol=True, value="count",
                nullable=False, higher_is_better=None, aggregate="none", description="classes (or candidates)")
register_metric("acc", cls.accuracy, ("{model}_probs", "labels"), per_model=True, protocol=True, nullable=False,
                show="terminal", display="{model} acc", description="test accuracy")
register_metric("acc_ci", _pgr_stats, STATS, output="{model}_ci", per_model=True, protocol=True, value="interval",
                nullable=False, higher_is_better=None, aggregate="none",
                description="95% paired-bootstrap interval of the accuracy")

# -- every family: PGR and the gap it divides by -----------------------------------------------------------
register_metric("pgr", _pgr_stats, PGR_STATS, output="pgr", kind=None, protocol=True, aggregate="t_interval",
                ci_key="pgr_ci", show="terminal", display="PGR [95% CI]",
                description="performance gap recovered, (w2s - floor) / (ceiling - floor), the floor the weak model "
                            "(generation: pgr_floor); None with pgr_flag's reason")
register_metric("pgr_ci", _pgr_stats, PGR_STATS, output="pgr_ci", kind=None, protocol=True, value="interval",
                higher_is_better=None, aggregate="none", description="95% paired-bootstrap interval of PGR")
register_metric("pgr_flag", _pgr_stats, PGR_STATS, output="pgr_flag", kind=None, protocol=True, value="flag",
                higher_is_better=None, aggregate="none", description="why PGR is undefined (None when it is defined)")
register_metric("gap", _pgr_stats, PGR_STATS, output="gap", kind=None, protocol=True, nullable=False,
                higher_is_better=None, description="ceiling - floor (the weak model; generation: pgr_floor)")
register_metric("gap_ci", _pgr_stats, PGR_STATS, output="gap_ci", kind=None, protocol=True, value="interval",
                nullable=False, higher_is_better=None, aggregate="none", description="95% interval of the gap")

# -- classification: the student against its supervisor -------------------------------------------------
_AGREEMENT = ("w2s_probs", "weak_probs", "labels")
register_metric("agreement", cls.agreement, _AGREEMENT, output="agreement", protocol=True, nullable=False,
                higher_is_better=None, show="terminal", display="agree",
                description="share of test examples where w2s predicts the weak supervisor's class")
for _part in ("right", "wrong"):
    register_metric(f"agreement_weak_{_part}", cls.agreement, _AGREEMENT, output=f"agreement_weak_{_part}", protocol=True,
                    higher_is_better=None, description=f"agreement where the weak supervisor is {_part}")
_GAIN = ("weak_probs", "w2s_probs", "labels")
for _name, _better, _show, _display in (("gain_sq", True, "terminal", "gain"), ("misfit_sq", False, "terminal", "misfit"),
                                        ("gain_kl", True, "table", ""), ("misfit_kl", False, "table", ""),
                                        ("misfit_ratio_sq", None, "record", ""), ("misfit_ratio_kl", None, "record", "")):
    register_metric(_name, cls.gain_and_misfit, _GAIN, output=_name, protocol=True, nullable=_name.startswith("misfit_ratio"),
                    higher_is_better=_better, show=_show, display=_display,
                    description="Charikar et al.'s gain and misfit (squared or KL distance)")

# -- classification: what a task's metric_list may add -----------------------------------------------------
_PER_MODEL = ("{model}_probs", "labels")
register_metric("auroc", cls.auroc, _PER_MODEL, per_model=True, description="area under the ROC curve (binary tasks)")
register_metric("ece", cls.expected_calibration_error, _PER_MODEL, per_model=True, higher_is_better=False,
                description="expected calibration error, 10 equal-width bins")
register_metric("balanced_acc", cls.balanced_accuracy, _PER_MODEL, per_model=True, nullable=False, show="table",
                description="mean per-class recall (scikit-learn balanced_accuracy_score)")
register_metric("f1_macro", cls.f1_macro, _PER_MODEL, per_model=True, nullable=False, show="table",
                description="unweighted mean of per-class F1 (scikit-learn f1_score, average='macro')")
register_metric("f1_weighted", cls.f1_weighted, _PER_MODEL, per_model=True, nullable=False,
                description="per-class F1 weighted by class share (scikit-learn f1_score, average='weighted')")
register_metric("mcc", cls.mcc, _PER_MODEL, per_model=True, nullable=False,
                description="Matthews correlation coefficient (scikit-learn matthews_corrcoef)")


# -- generation: judge scores and the quality guards, for the four models -----------------------------------
_GEN = {"kind": "generation", "per_model": True, "models": GENERATION_MODELS}
register_metric("score", gen.mean_score, ("{model}_scores",), protocol=True, nullable=False, show="terminal",
                display="{model} score", description="mean judge score of the test outputs (in [0, 1], higher is better)",
                **_GEN)
register_metric("score_ci", _pgr_stats, STATS, output="{model}_ci", kind="generation", per_model=True, protocol=True,
                value="interval", nullable=False, higher_is_better=None, aggregate="none",
                description="95% paired-bootstrap interval of the mean judge score")
register_metric("distinct_1", gen.distinct_1, ("{model}_outputs",), protocol=True, higher_is_better=None, show="table",
                description="distinct words / words of the test outputs (diversity guard)", **_GEN)
register_metric("distinct_2", gen.distinct_2, ("{model}_outputs",), protocol=True, higher_is_better=None,
                show="terminal", display="{model} d-2",
                description="distinct word bigrams / bigrams of the test outputs (diversity guard)", **_GEN)
register_metric("ppl", gen.perplexity, ("{model}_logprob", "{model}_tokens"), protocol=True, higher_is_better=None,
                show="terminal", display="{model} ppl", fmt=".1f",
                description="perplexity of the test outputs under the untuned strong LM (fluency guard)", **_GEN)
register_metric("length", gen.mean_words, ("{model}_outputs",), protocol=True, nullable=False, higher_is_better=None,
                show="table", fmt=".1f", description="mean length of the test outputs in words", **_GEN)
register_metric("pgr_floor", str, ("pgr_floor",), kind="generation", protocol=True, value="flag", nullable=False,
                higher_is_better=None, aggregate="none",
                description="the model PGR and the gap start from: weak (methods that train the strong LM on weak "
                            "demonstrations) or base (search methods, which steer the untuned strong LM)")
register_metric("win_rate", gen.win_rate, ("w2s_scores", "base_scores"), kind="generation", protocol=True,
                show="terminal", display="win vs base",
                description="share of test prompts where the judge scores w2s above base, ties counting half "
                            "(None in records of schema 4, which did not report it)")
register_metric("toxicity_rate", gen.below_half_rate, ("{model}_scores",), higher_is_better=False, show="table",
                description="share of test outputs with judge score below 0.5 (for a 1 - P(toxic) judge: P(toxic) > 0.5)",
                **_GEN)


def generation_metrics(outputs: dict[str, list[str]], scores: dict[str, np.ndarray], logprob: dict[str, np.ndarray],
                       tokens: dict[str, np.ndarray], *, task_metrics: Iterable[str] = (), n_resamples: int = 1000,
                       seed: int = 0, min_gap: float = 0.01, pgr_floor: str = "weak") -> dict:
    """All test-set metrics of one generation run, by record key, from each model's (``GENERATION_MODELS``)
    outputs, judge scores, and log likelihoods and token counts under the untuned strong LM. ``pgr_floor``
    is the model PGR starts from (the method's ``Method.pgr_floor``: ``weak`` or ``base``)."""
    if pgr_floor not in ("weak", "base"):
        raise ValueError(f"pgr_floor must be 'weak' or 'base', got {pgr_floor!r}")
    inputs: dict = {"n_resamples": n_resamples, "seed": seed, "min_gap": min_gap, "pgr_floor": pgr_floor}
    for model in GENERATION_MODELS:
        inputs.update({f"{model}_outputs": outputs[model], f"{model}_scores": np.asarray(scores[model], np.float64),
                       f"{model}_logprob": np.asarray(logprob[model]), f"{model}_tokens": np.asarray(tokens[model])})
    inputs["floor_scores"] = inputs[f"{pgr_floor}_scores"]
    return compute_metrics("generation", inputs, task_metrics)


def classification_inputs(weak_probs: np.ndarray, ceiling_probs: np.ndarray, w2s_probs: np.ndarray, labels: np.ndarray, *,
                          n_resamples: int, seed: int, min_gap: float) -> dict:
    """The named inputs classification metrics read: each model's probabilities and per-example correctness
    (its scores), the labels, and the settings of the statistics."""
    probs = {"weak": weak_probs, "ceiling": ceiling_probs, "w2s": w2s_probs}
    cls.check_inputs(labels, **{f"{m}_probs": p for m, p in probs.items()})  # one shape for all, before any metric
    scores = {f"{m}_scores": cls.correctness(probs[m], labels) for m in MODELS}
    return {"labels": labels, **{f"{m}_probs": probs[m] for m in MODELS}, **scores, "floor_scores": scores["weak_scores"],
            "n_resamples": n_resamples, "seed": seed, "min_gap": min_gap}


def run_metrics(weak_probs: np.ndarray, ceiling_probs: np.ndarray, w2s_probs: np.ndarray, labels: np.ndarray, *,
                task_metrics: Iterable[str] = (), n_resamples: int = 1000, seed: int = 0, min_gap: float = 0.01) -> dict:
    """All test-set metrics of one classification run as a flat JSON-safe dict: the protocol's metrics plus
    the ``task_metrics`` (names from a task's ``metric_list``). Values are numbers, ``[low, high]`` lists,
    flag strings or None; ``w2s_bench.metrics.registry`` says what each key is."""
    inputs = classification_inputs(weak_probs, ceiling_probs, w2s_probs, labels, n_resamples=n_resamples, seed=seed,
                                   min_gap=min_gap)
    return compute_metrics("classification", inputs, task_metrics)
