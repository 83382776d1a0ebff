"""Tests for w2s_bench.metrics on small hand-made numbers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from w2s_bench.metrics import (
    PGR,
    Interval,
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
    paired_bootstrap,
    pgr,
    register_metric,
    reported_metrics,
    run_metrics,
    seed_summary,
)
from w2s_bench.metrics.registry import METRICS, metric_for_key


def probs_from_preds(preds, k: int = 2, conf: float = 0.9) -> np.ndarray:
    """Probabilities that put ``conf`` on each predicted class and share the rest."""
    preds = np.asarray(preds)
    p = np.full((preds.size, k), (1.0 - conf) / (k - 1))
    p[np.arange(preds.size), preds] = conf
    return p


def probs_with_correct(labels, correct, k: int = 2) -> np.ndarray:
    """Probabilities of a model that is right exactly where ``correct`` is True."""
    labels = np.asarray(labels)
    preds = np.where(correct, labels, (labels + 1) % k)
    return probs_from_preds(preds, k)


# ---------------------------------------------------------------- accuracy, AUROC, ECE


def test_accuracy_counts_argmax_and_breaks_ties_to_lowest_index():
    probs = np.array([[0.5, 0.5], [0.2, 0.8], [0.7, 0.3], [0.5, 0.5]])
    labels = np.array([0, 1, 1, 1])
    # right, right, wrong, wrong (tie -> class 0)
    assert accuracy(probs, labels) == pytest.approx(0.5)


def test_accuracy_rejects_logits_and_bad_shapes():
    with pytest.raises(ValueError):
        accuracy(np.array([[2.0, -1.0]]), np.array([0]))
    with pytest.raises(ValueError):
        accuracy(np.array([[0.5, 0.5]]), np.array([0, 1]))
    with pytest.raises(ValueError):
        accuracy(np.array([[0.5, 0.5]]), np.array([2]))
    with pytest.raises(ValueError):
        accuracy(np.array([[np.nan, 0.5]]), np.array([0]))


def test_auroc_hand_computed():
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    probs = np.stack([1 - scores, scores], axis=1)
    labels = np.array([0, 0, 1, 1])
    # positive/negative pairs ranked correctly: (0.35>0.1), (0.8>0.1), (0.8>0.4); not (0.35>0.4)
    assert auroc(probs, labels) == pytest.approx(3 / 4)


def test_auroc_none_for_one_class_or_multiclass():
    probs = np.array([[0.3, 0.7], [0.6, 0.4]])
    assert auroc(probs, np.array([1, 1])) is None
    probs3 = np.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]])
    assert auroc(probs3, np.array([2, 0])) is None


def test_ece_hand_computed():
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]])
    labels = np.array([0, 1, 0, 1])
    # bin (0.8, 0.9]: conf 0.9, acc 0.5 -> weight 1/2 * 0.4
    # bin (0.5, 0.6]: conf 0.6, acc 1.0 -> weight 1/2 * 0.4
    assert expected_calibration_error(probs, labels) == pytest.approx(0.4)


def test_ece_zero_when_calibrated():
    probs = np.array([[0.75, 0.25]] * 4)
    labels = np.array([0, 0, 0, 1])
    assert expected_calibration_error(probs, labels) == pytest.approx(0.0)


# ---------------------------------------------------------------- agreement


def test_agreement_split_by_weak_correctness():
    labels = np.array([0, 0, 1, 1, 0])
    weak = probs_from_preds([0, 1, 1, 0, 0])  # right on 0, 2, 4; wrong on 1, 3
    w2s = probs_from_preds([0, 1, 0, 1, 0])  # same as weak on 0, 1, 4
    a = agreement(w2s, weak, labels)
    assert a["agreement"] == pytest.approx(3 / 5)
    assert a["agreement_weak_right"] == pytest.approx(2 / 3)
    assert a["agreement_weak_wrong"] == pytest.approx(1 / 2)


def test_agreement_empty_subset_is_none():
    labels = np.array([0, 1, 1])
    weak = probs_from_preds([0, 1, 1])  # always right
    a = agreement(probs_from_preds([1, 1, 1]), weak, labels)
    assert a["agreement_weak_wrong"] is None
    assert a["agreement_weak_right"] == pytest.approx(2 / 3)


# ---------------------------------------------------------------- gain and misfit


def test_gain_and_misfit_hand_computed():
    labels = np.array([0, 1])
    weak = np.array([[0.6, 0.4], [0.7, 0.3]])
    w2s = np.array([[0.8, 0.2], [0.4, 0.6]])
    r = gain_and_misfit(weak, w2s, labels)

    # squared: d(f*, weak) = (0.32 + 0.98) / 2, d(f*, w2s) = (0.08 + 0.32) / 2
    assert r["gain_sq"] == pytest.approx(0.65 - 0.20)
    # d(w2s, weak) = (0.08 + 0.18) / 2
    assert r["misfit_sq"] == pytest.approx(0.13)
    assert r["misfit_ratio_sq"] == pytest.approx(0.45 / 0.13)

    # KL: CE(GT, weak) - CE(GT, w2s) = (-ln .6 - ln .3 + ln .8 + ln .6) / 2
    assert r["gain_kl"] == pytest.approx(math.log(0.8 / 0.3) / 2, rel=1e-6)
    misfit_kl = (
        0.8 * math.log(0.8 / 0.6)
        + 0.2 * math.log(0.2 / 0.4)
        + 0.4 * math.log(0.4 / 0.7)
        + 0.6 * math.log(0.6 / 0.3)
    ) / 2
    assert r["misfit_kl"] == pytest.approx(misfit_kl, rel=1e-6)
    assert r["misfit_ratio_kl"] == pytest.approx(r["gain_kl"] / misfit_kl)


def test_misfit_zero_gives_no_ratio_and_zero_probs_stay_finite():
    labels = np.array([0, 1])
    weak = np.array([[1.0, 0.0], [1.0, 0.0]])  # certain and wrong on example 2
    r = gain_and_misfit(weak, weak, labels)
    assert r["misfit_sq"] == 0.0 and r["misfit_ratio_sq"] is None
    assert r["misfit_ratio_kl"] is None
    r2 = gain_and_misfit(weak, np.array([[0.9, 0.1], [0.2, 0.8]]), labels)
    assert all(v is None or math.isfinite(v) for v in r2.values())
    assert r2["gain_kl"] > 0


def test_gain_equals_misfit_for_projection_onto_subspace_containing_truth():
    """Charikar et al.: for a class that is a linear subspace containing f*, the w2s model that
    is the projection of the weak labels satisfies gain == misfit (Pythagoras), squared loss."""
    labels = np.array([0, 1, 1, 0, 1, 0])
    extra = np.array([0.3, -0.2, 0.5, 0.1, -0.4, 0.2])
    features = np.stack([np.ones(6), labels.astype(float), extra], axis=1)  # f* = column 2
    q_weak = np.array([0.3, 0.6, 0.45, 0.4, 0.7, 0.55])  # P(class 1)
    beta, *_ = np.linalg.lstsq(features, q_weak, rcond=None)
    q_w2s = features @ beta
    assert np.all((q_w2s >= 0) & (q_w2s <= 1))  # still valid probabilities

    def to_probs(q):
        return np.stack([1 - q, q], axis=1)

    r = gain_and_misfit(to_probs(q_weak), to_probs(q_w2s), labels)
    assert r["misfit_sq"] > 0.005
    assert r["gain_sq"] == pytest.approx(r["misfit_sq"], rel=1e-9)
    assert r["misfit_ratio_sq"] == pytest.approx(1.0)


# ---------------------------------------------------------------- PGR


def test_pgr_arithmetic():
    r = pgr(0.6, 0.8, 0.7)
    assert isinstance(r, PGR)
    assert r.value == pytest.approx(0.5)
    assert r.flag is None
    assert pgr(0.6, 0.8, 0.9).value == pytest.approx(1.5)  # above the ceiling is allowed
    assert pgr(0.6, 0.8, 0.5).value == pytest.approx(-0.5)  # worse than weak is allowed


@pytest.mark.parametrize(
    ("weak", "ceiling", "flag"),
    [
        (0.7, 0.6, "ceiling_below_weak"),
        (0.7, 0.7, "gap_too_small"),
        (0.60, 0.61, "gap_too_small"),  # exactly one point, despite float rounding
        (0.600, 0.605, "gap_too_small"),
    ],
)
def test_pgr_guard_returns_none_with_flag(weak, ceiling, flag):
    r = pgr(weak, ceiling, 0.65)
    assert r.value is None
    assert r.flag == flag


def test_pgr_just_above_min_gap_is_defined():
    r = pgr(0.60, 0.62, 0.61)
    assert r.flag is None and r.value == pytest.approx(0.5)


def test_pgr_rejects_nan():
    with pytest.raises(ValueError):
        pgr(float("nan"), 0.8, 0.7)


# ---------------------------------------------------------------- bootstrap


def nested_run(n: int, weak_frac=0.6, ceiling_frac=0.8, w2s_frac=0.7):
    """Labels and probs where the weak model is right on the first weak_frac of examples, the
    w2s model on the first w2s_frac and the ceiling on the first ceiling_frac."""
    labels = np.arange(n) % 2
    idx = np.arange(n)
    weak = probs_with_correct(labels, idx < weak_frac * n)
    ceiling = probs_with_correct(labels, idx < ceiling_frac * n)
    w2s = probs_with_correct(labels, idx < w2s_frac * n)
    return weak, ceiling, w2s, labels


def scores(weak, ceiling, w2s, labels):
    """Per-example correctness of each model: the scores PGR and its bootstrap work on."""
    return [correctness(p, labels) for p in (weak, ceiling, w2s)]


def test_bootstrap_intervals_contain_point_estimates():
    b = paired_bootstrap(*scores(*nested_run(1000)), n_resamples=500, seed=1)
    assert isinstance(b["pgr_ci"], Interval)
    assert b["pgr_flag"] is None
    assert b["weak_ci"].low <= 0.6 <= b["weak_ci"].high
    assert b["ceiling_ci"].low <= 0.8 <= b["ceiling_ci"].high
    assert b["w2s_ci"].low <= 0.7 <= b["w2s_ci"].high
    assert b["gap_ci"].low <= 0.2 <= b["gap_ci"].high
    assert b["pgr_ci"].low <= 0.5 <= b["pgr_ci"].high
    assert b["pgr_ci"].high - b["pgr_ci"].low < 0.3


def test_bootstrap_is_reproducible_and_seed_dependent():
    weak, ceiling, w2s, labels = nested_run(200)
    a = paired_bootstrap(*scores(weak, ceiling, w2s, labels), n_resamples=200, seed=3)
    b = paired_bootstrap(*scores(weak, ceiling, w2s, labels), n_resamples=200, seed=3)
    c = paired_bootstrap(*scores(weak, ceiling, w2s, labels), n_resamples=200, seed=4)
    assert a == b
    assert a != c


def test_bootstrap_ci_shrinks_with_more_examples():
    small = paired_bootstrap(*scores(*nested_run(200)), n_resamples=1000, seed=0)
    large = paired_bootstrap(*scores(*nested_run(5000)), n_resamples=1000, seed=0)
    for key in ("weak_ci", "gap_ci", "pgr_ci"):
        w_small = small[key].high - small[key].low
        w_large = large[key].high - large[key].low
        # width ~ 1/sqrt(n): 25x the data should give about 1/5 the width
        assert w_large < 0.4 * w_small, key


def test_paired_bootstrap_uses_the_same_indices_for_all_models():
    # The ceiling is right wherever the weak model is, plus 30 more examples out of 1000. Paired,
    # the gap is never negative; resampling each model separately would give a gap CI with a
    # standard error of ~0.022 that reaches below 0.
    weak, ceiling, w2s, labels = nested_run(1000, weak_frac=0.5, ceiling_frac=0.53, w2s_frac=0.52)
    b = paired_bootstrap(*scores(weak, ceiling, w2s, labels), n_resamples=1000)
    assert b["gap_ci"].low > 0.015
    assert b["pgr_flag"] is None


def test_non_significant_gap_gives_no_pgr():
    # 100 examples, weak right on 60, ceiling right on 62 but on mostly different examples:
    # the point gap 0.02 is above min_gap, yet far inside the bootstrap noise.
    n = 100
    labels = np.arange(n) % 2
    idx = np.arange(n)
    weak = probs_with_correct(labels, idx < 60)
    ceiling = probs_with_correct(labels, idx >= 38)
    w2s = probs_with_correct(labels, idx < 61)
    assert pgr(0.60, 0.62, 0.61).value is not None
    b = paired_bootstrap(*scores(weak, ceiling, w2s, labels))
    assert b["gap_ci"].low <= 0
    assert b["pgr_ci"] is None
    assert b["pgr_flag"] == "gap_not_significant"
    m = run_metrics(weak, ceiling, w2s, labels)
    assert m["ceiling_acc"] - m["weak_acc"] == pytest.approx(0.02)
    assert m["pgr"] is None
    assert m["pgr_ci"] is None
    assert m["pgr_flag"] == "gap_not_significant"


def test_bootstrap_guard_when_ceiling_below_weak():
    weak, ceiling, w2s, labels = nested_run(500, weak_frac=0.8, ceiling_frac=0.6, w2s_frac=0.7)
    b = paired_bootstrap(*scores(weak, ceiling, w2s, labels), n_resamples=200)
    assert b["pgr_ci"] is None
    assert b["pgr_flag"] == "ceiling_below_weak"
    m = run_metrics(weak, ceiling, w2s, labels, n_resamples=200)
    assert m["pgr"] is None and m["pgr_flag"] == "ceiling_below_weak"


# ---------------------------------------------------------------- seeds


def test_seed_summary_t_interval():
    s = seed_summary([1.0, 2.0, 3.0])
    assert s["mean"] == pytest.approx(2.0)
    assert s["std"] == pytest.approx(1.0)
    assert s["n"] == 3 and s["n_missing"] == 0
    half = 4.302652729911275 / math.sqrt(3)  # t_{0.975, df=2} * std / sqrt(n)
    assert s["ci"].low == pytest.approx(2.0 - half)
    assert s["ci"].high == pytest.approx(2.0 + half)
    assert s["ci"].as_list() == pytest.approx([2.0 - half, 2.0 + half])


def test_seed_summary_skips_none():
    s = seed_summary([1.0, None, 3.0, None])
    assert s["n"] == 2 and s["n_missing"] == 2
    assert s["mean"] == pytest.approx(2.0)
    half = 12.706204736174698 * math.sqrt(2) / math.sqrt(2)  # t_{0.975, 1} * std / sqrt(2)
    assert s["ci"].high - s["mean"] == pytest.approx(half)


def test_seed_summary_too_few_values():
    one = seed_summary([0.4, None])
    assert one["mean"] == pytest.approx(0.4)
    assert one["std"] is None and one["ci"] is None and one["n_missing"] == 1
    none = seed_summary([None, None])
    assert none["mean"] is None and none["ci"] is None and none["n"] == 0


# ---------------------------------------------------------------- run_metrics


REQUIRED_KEYS = {
    "weak_acc", "ceiling_acc", "w2s_acc", "pgr", "pgr_flag", "pgr_ci",
    "weak_acc_ci", "ceiling_acc_ci", "w2s_acc_ci", "weak_auroc", "ceiling_auroc", "w2s_auroc",
    "weak_ece", "ceiling_ece", "w2s_ece", "agreement", "agreement_weak_right",
    "agreement_weak_wrong", "gain_sq", "misfit_sq", "gain_kl", "misfit_kl",
    "misfit_ratio_sq", "misfit_ratio_kl", "n_test",
}  # fmt: skip


def test_run_metrics_binary_values_and_json():
    weak, ceiling, w2s, labels = nested_run(1000)
    m = run_metrics(weak, ceiling, w2s, labels, task_metrics=["auroc", "ece"], n_resamples=300)
    assert REQUIRED_KEYS <= m.keys()
    assert m["weak_acc"] == pytest.approx(0.6)
    assert m["ceiling_acc"] == pytest.approx(0.8)
    assert m["w2s_acc"] == pytest.approx(0.7)
    assert m["pgr"] == pytest.approx(0.5)
    assert m["pgr_flag"] is None
    assert m["pgr_ci"][0] <= 0.5 <= m["pgr_ci"][1]
    assert m["n_test"] == 1000
    # Weak is right on the first 60%, w2s on the first 70%. Where weak is right, so is w2s.
    # Where weak is wrong (60%-100%), w2s disagrees on 60%-70% (it is right there) and agrees
    # on 70%-100% (both wrong; binary, so the same wrong class): 300 of 400.
    assert m["agreement_weak_right"] == pytest.approx(1.0)
    assert m["agreement_weak_wrong"] == pytest.approx(0.75)
    text = json.dumps(m, allow_nan=False)
    assert json.loads(text)["pgr_ci"] == m["pgr_ci"]


def test_run_metrics_multiclass_with_undefined_pgr_is_json_safe():
    labels = np.array([0, 1, 2, 0, 1, 2])
    same = probs_from_preds([0, 1, 2, 0, 1, 0], k=3)
    m = run_metrics(same, same, same, labels, task_metrics=["auroc"], n_resamples=50)
    assert m["weak_auroc"] is None
    assert m["pgr"] is None and m["pgr_flag"] == "gap_too_small" and m["pgr_ci"] is None
    assert m["misfit_ratio_sq"] is None
    json.dumps(m, allow_nan=False)


# ---------------------------------------------------------------- skewed-label metrics and the registry


def test_balanced_accuracy_and_f1_hand_computed_on_a_majority_class_predictor():
    labels = np.array([0, 0, 0, 1])
    constant = probs_from_preds([0, 0, 0, 0])
    assert accuracy(constant, labels) == pytest.approx(0.75)
    assert balanced_accuracy(constant, labels) == pytest.approx(0.5)  # recall 1 on class 0, 0 on class 1
    assert f1_macro(constant, labels) == pytest.approx((6 / 7 + 0) / 2)  # class 0: precision 3/4, recall 1
    assert f1_weighted(constant, labels) == pytest.approx((3 * 6 / 7 + 1 * 0) / 4)
    assert mcc(constant, labels) == 0.0
    perfect = probs_from_preds(labels)
    assert balanced_accuracy(perfect, labels) == f1_macro(perfect, labels) == mcc(perfect, labels) == 1.0


def test_metric_list_decides_what_a_run_reports_beyond_the_protocol():
    weak, ceiling, w2s, labels = nested_run(200)
    plain = run_metrics(weak, ceiling, w2s, labels, n_resamples=50)
    extra = run_metrics(weak, ceiling, w2s, labels, task_metrics=["balanced_acc", "f1_macro"], n_resamples=50)
    assert not {"weak_auroc", "w2s_balanced_acc"} & plain.keys()
    added = {f"{m}_{name}" for m in ("weak", "ceiling", "w2s") for name in ("balanced_acc", "f1_macro")}
    assert extra.keys() - plain.keys() == added
    assert {k: v for k, v in extra.items() if k in plain} == plain  # adding a metric changes no other number
    # the record holds exactly the registered keys of what it reports
    assert set(extra) == {key for m in reported_metrics("classification", ["balanced_acc", "f1_macro"]) for key in m.keys()}
    assert extra["w2s_balanced_acc"] == pytest.approx(0.7)  # balanced labels: equal to the accuracy


def test_registry_metadata_says_direction_and_aggregation():
    assert metric_for_key("w2s_ece").higher_is_better is False and metric_for_key("misfit_sq").higher_is_better is False
    assert metric_for_key("gain_sq").higher_is_better is True and metric_for_key("misfit_ratio_kl").higher_is_better is None
    assert metric_for_key("pgr").aggregate == "t_interval" and metric_for_key("pgr").ci_key == "pgr_ci"
    assert metric_for_key("pgr_flag").aggregate == "none" and metric_for_key("nonexistent") is None
    assert {m.name for m in METRICS.values() if m.protocol and m.kind is None} >= {"pgr", "pgr_ci", "pgr_flag", "gap"}
    with pytest.raises(ValueError, match="already registered"):
        register_metric("pgr", len, ("weak_scores",))
