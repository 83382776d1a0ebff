"""Metrics for weak-to-strong runs: accuracy, PGR with its guard, confidence intervals,
agreement with the weak supervisor, and the misfit/gain quantities of Charikar et al.

Everything here is pure numpy (plus scipy/sklearn for one call each) so it can be tested on
hand-made numbers and reused outside any training code. The conventions are fixed:

* a model's predictions are ``probs``: an ``[n, K]`` array whose rows are class probabilities;
* ground truth is ``labels``: an ``[n]`` integer array with values in ``0..K-1``;
* a predicted class is ``np.argmax(probs, axis=1)`` (ties go to the lowest class index).

See ``/work/shared/docs/protocol.md`` sections 1 and 3 for the definitions this module implements.
The one call the runner needs is :func:`run_metrics`, which returns a flat, JSON-safe dict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats
from sklearn.metrics import roc_auc_score

# Why a PGR is missing. These strings end up in result files, so keep them stable.
FLAG_CEILING_BELOW_WEAK = "ceiling_below_weak"  # ceiling - weak < 0
FLAG_GAP_TOO_SMALL = "gap_too_small"  # 0 <= ceiling - weak <= min_gap
FLAG_GAP_NOT_SIGNIFICANT = "gap_not_significant"  # bootstrap CI of the gap reaches 0

# Accuracies are ratios of counts, so 0.61 - 0.60 comes out as 0.010000000000000009. This
# tolerance makes "gap <= min_gap" mean what a reader expects for such values.
_GAP_TOL = 1e-12
# Below this a misfit is treated as zero and the gain/misfit ratio is not reported.
_MISFIT_ZERO = 1e-12
# Upper bound on the number of int64 indices held in memory at once by the bootstrap.
_BOOTSTRAP_CHUNK_ELEMENTS = 8_000_000


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _check_probs(probs: np.ndarray, name: str = "probs") -> np.ndarray:
    """Return ``probs`` as a float array after checking it is [n, K] rows of probabilities.

    Catching NaNs or logits passed by mistake here is much cheaper than debugging a PGR later.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] < 2:
        raise ValueError(f"{name} must have shape [n, K] with n >= 1 and K >= 2, got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{name} contains NaN or inf")
    if p.min() < -1e-6 or p.max() > 1 + 1e-6:
        raise ValueError(f"{name} must be probabilities in [0, 1] (did you pass logits?)")
    row_sums = p.sum(axis=1)
    if not np.allclose(row_sums, 1.0, atol=1e-3):
        worst = float(row_sums[np.argmax(np.abs(row_sums - 1.0))])
        raise ValueError(f"{name} rows must sum to 1 (found a row summing to {worst:.6g})")
    return p


def _check_labels(labels: np.ndarray, n: int, k: int) -> np.ndarray:
    """Return ``labels`` as an int array after checking its length and range against probs."""
    y = np.asarray(labels)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"labels must have shape [{n}] to match probs, got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {y.dtype}")
    if y.min() < 0 or y.max() >= k:
        raise ValueError(f"labels must be in 0..{k - 1}, got values in {y.min()}..{y.max()}")
    return y.astype(np.int64)


def _check_inputs(
    labels: np.ndarray, **named_probs: np.ndarray
) -> tuple[list[np.ndarray], np.ndarray]:
    """Check several models' probs against the same labels (same n and K for all)."""
    checked = [_check_probs(p, name) for name, p in named_probs.items()]
    shapes = {p.shape for p in checked}
    if len(shapes) != 1:
        detail = ", ".join(f"{name}{p.shape}" for name, p in zip(named_probs, checked, strict=True))
        raise ValueError(f"all probs must have the same shape, got {detail}")
    n, k = checked[0].shape
    return checked, _check_labels(labels, n, k)


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")


# --------------------------------------------------------------------------------------------
# Per-model metrics
# --------------------------------------------------------------------------------------------


def _correct(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Boolean [n]: is the argmax prediction right? (np.argmax breaks ties to the lowest index.)"""
    return np.argmax(probs, axis=1) == labels


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of examples whose argmax class equals the label: the headline number of a run."""
    (p,), y = _check_inputs(labels, probs=probs)
    return float(_correct(p, y).mean())


def auroc(probs: np.ndarray, labels: np.ndarray) -> float | None:
    """Area under the ROC curve of ``probs[:, 1]`` for binary tasks.

    Accuracy hides how well a model ranks examples; AUROC shows it. Returns None when it is not
    defined: more than two classes, or only one class present in ``labels``.
    """
    (p,), y = _check_inputs(labels, probs=probs)
    if p.shape[1] != 2 or np.unique(y).size < 2:
        return None
    return float(roc_auc_score(y, p[:, 1]))


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error with equal-width confidence bins.

    Confidence is the max probability. Bin ``b`` holds confidences in ``(b/n_bins, (b+1)/n_bins]``
    (the first bin also holds 0). ECE = sum over bins of (bin size / n) * |accuracy - mean
    confidence|. It tells whether a model (e.g. a w2s student trained on soft weak labels) is
    over- or under-confident, which accuracy cannot show.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    (p,), y = _check_inputs(labels, probs=probs)
    confidence = p.max(axis=1)
    correct = _correct(p, y).astype(np.float64)
    inner_edges = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
    bin_of = np.searchsorted(inner_edges, confidence, side="left")  # right-closed bins
    sum_conf = np.bincount(bin_of, weights=confidence, minlength=n_bins)
    sum_correct = np.bincount(bin_of, weights=correct, minlength=n_bins)
    # |sum_correct - sum_conf| / n == (count / n) * |acc_bin - conf_bin|; empty bins add 0.
    return float(np.abs(sum_correct - sum_conf).sum() / p.shape[0])


# --------------------------------------------------------------------------------------------
# Student vs supervisor
# --------------------------------------------------------------------------------------------


def agreement(probs_a: np.ndarray, probs_b: np.ndarray, labels: np.ndarray) -> dict:
    """How often model A (the w2s student) predicts the same class as model B (its weak supervisor).

    The split by whether B is right tells imitation of B's *errors* (high
    ``agreement_weak_wrong``) apart from simply being right where B was right.

    Returns ``agreement``, ``agreement_weak_right`` and ``agreement_weak_wrong`` (the last two
    are None when B is never right / never wrong).
    """
    (pa, pb), y = _check_inputs(labels, probs_a=probs_a, probs_b=probs_b)
    same = np.argmax(pa, axis=1) == np.argmax(pb, axis=1)
    b_right = _correct(pb, y)

    def _mean_or_none(mask: np.ndarray) -> float | None:
        return float(same[mask].mean()) if mask.any() else None

    return {
        "agreement": float(same.mean()),
        "agreement_weak_right": _mean_or_none(b_right),
        "agreement_weak_wrong": _mean_or_none(~b_right),
    }


def _ratio_or_none(gain: float, misfit: float) -> float | None:
    return None if abs(misfit) < _MISFIT_ZERO else gain / misfit


def gain_and_misfit(
    weak_probs: np.ndarray, w2s_probs: np.ndarray, labels: np.ndarray, eps: float = 1e-7
) -> dict:
    """Gain and misfit of the w2s model (Charikar, Pabbaraju, Shiragur 2024), on test examples.

    With f* the ground truth (one-hot labels), f_w the weak model and f_sw the w2s model:
    gain = d(f*, f_w) - d(f*, f_sw) and misfit = d(f_sw, f_w). For a convex strong model class
    the theory says gain >= misfit, so reporting both shows how well it predicts the real gain.

    Two choices of d, both averaged over examples:

    * squared: d(a, b) = ||p_a - p_b||^2 (sum over classes) -> ``gain_sq``, ``misfit_sq``;
    * KL: d(a, b) = KL(p_a || p_b). With one-hot f*, KL(f* || p) is the cross-entropy
      -log p[label], so ``gain_kl`` = CE(GT, weak) - CE(GT, w2s) and ``misfit_kl`` =
      KL(w2s || weak). Probabilities are clipped to [eps, 1] and renormalized first, so a zero
      probability gives a large finite value instead of inf.

    Also returns ``misfit_ratio_sq`` and ``misfit_ratio_kl`` = gain / misfit (None when the
    misfit is below 1e-12, i.e. the student copied the supervisor exactly).
    """
    (pw, ps), y = _check_inputs(labels, weak_probs=weak_probs, w2s_probs=w2s_probs)
    n, k = pw.shape
    onehot = np.eye(k)[y]

    def sq(a: np.ndarray, b: np.ndarray) -> float:
        return float(((a - b) ** 2).sum(axis=1).mean())

    gain_sq = sq(onehot, pw) - sq(onehot, ps)
    misfit_sq = sq(ps, pw)

    def clip(p: np.ndarray) -> np.ndarray:
        c = np.clip(p, eps, 1.0)
        return c / c.sum(axis=1, keepdims=True)

    cw, cs = clip(pw), clip(ps)
    rows = np.arange(n)
    ce_weak = float(-np.log(cw[rows, y]).mean())
    ce_w2s = float(-np.log(cs[rows, y]).mean())
    gain_kl = ce_weak - ce_w2s
    misfit_kl = float((cs * (np.log(cs) - np.log(cw))).sum(axis=1).mean())

    return {
        "gain_sq": gain_sq,
        "misfit_sq": misfit_sq,
        "gain_kl": gain_kl,
        "misfit_kl": misfit_kl,
        "misfit_ratio_sq": _ratio_or_none(gain_sq, misfit_sq),
        "misfit_ratio_kl": _ratio_or_none(gain_kl, misfit_kl),
    }


# --------------------------------------------------------------------------------------------
# PGR and confidence intervals
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PGR:
    """Performance gap recovered. ``value`` is None exactly when ``flag`` says why."""

    value: float | None
    flag: str | None


@dataclass(frozen=True)
class Interval:
    """A confidence interval [low, high]."""

    low: float
    high: float

    def as_list(self) -> list[float]:
        """``[low, high]`` as plain floats, for JSON."""
        return [float(self.low), float(self.high)]

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high


def _gap_flag(gap: float, min_gap: float) -> str | None:
    """Why a ceiling - weak gap is too small for a meaningful PGR, or None if it is fine."""
    if gap < 0:
        return FLAG_CEILING_BELOW_WEAK
    if gap <= min_gap + _GAP_TOL:
        return FLAG_GAP_TOO_SMALL
    return None


def pgr(weak_acc: float, ceiling_acc: float, w2s_acc: float, min_gap: float = 0.01) -> PGR:
    """PGR = (w2s - weak) / (ceiling - weak): the share of the weak-to-ceiling gap recovered.

    Guard: dividing by a gap near zero gives huge or infinite numbers that wreck averages, so
    when ceiling - weak <= ``min_gap`` the value is None and ``flag`` is
    ``"ceiling_below_weak"`` (gap < 0) or ``"gap_too_small"`` (0 <= gap <= min_gap).
    """
    for name, x in (("weak_acc", weak_acc), ("ceiling_acc", ceiling_acc), ("w2s_acc", w2s_acc)):
        if not math.isfinite(x):
            raise ValueError(f"{name} must be a finite number, got {x}")
    gap = ceiling_acc - weak_acc
    flag = _gap_flag(gap, min_gap)
    if flag is not None:
        return PGR(value=None, flag=flag)
    return PGR(value=float((w2s_acc - weak_acc) / gap), flag=None)


def _percentile_interval(samples: np.ndarray, level: float) -> Interval:
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(samples, [alpha, 1.0 - alpha])
    return Interval(float(low), float(high))


def _bootstrap_accuracies(correct: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """Accuracy of each model on each bootstrap resample, shape [n_resamples, n_models].

    ``correct`` is [n_models, n] (1.0 where a model is right). Every resample draws n example
    indices with replacement and uses the *same* indices for all models (a paired bootstrap),
    so the noise shared by models on the same hard examples cancels in differences like the gap.
    Indices are drawn in chunks of rows to bound memory on large test sets.
    """
    n_models, n = correct.shape
    rng = np.random.default_rng(seed)
    rows_per_chunk = max(1, _BOOTSTRAP_CHUNK_ELEMENTS // n)
    out = np.empty((n_resamples, n_models))
    for start in range(0, n_resamples, rows_per_chunk):
        stop = min(start + rows_per_chunk, n_resamples)
        idx = rng.integers(0, n, size=(stop - start, n))  # [chunk, n]
        for m in range(n_models):
            out[start:stop, m] = correct[m][idx].mean(axis=1)
    return out


def paired_bootstrap(
    weak_probs: np.ndarray,
    ceiling_probs: np.ndarray,
    w2s_probs: np.ndarray,
    labels: np.ndarray,
    n_resamples: int = 1000,
    seed: int = 0,
    min_gap: float = 0.01,
    level: float = 0.95,
) -> dict:
    """Percentile confidence intervals from a paired bootstrap over test examples.

    Returns ``weak_acc_ci``, ``ceiling_acc_ci``, ``w2s_acc_ci``, ``gap_ci`` (ceiling - weak) as
    :class:`Interval`, plus ``pgr_ci`` (Interval or None), ``pgr_flag`` (str or None) and
    ``pgr_resamples_used`` (how many resamples the PGR interval is built from).

    PGR guard: PGR is not defined, so ``pgr_ci`` is None, when the point gap on the full test
    set is <= ``min_gap`` (flag ``"ceiling_below_weak"`` / ``"gap_too_small"``) or when the gap's
    interval reaches 0 or below (flag ``"gap_not_significant"``: the data cannot tell the
    ceiling is better than the weak model, so any PGR would be a ratio of noise).

    Otherwise ``pgr_ci`` is the percentile interval of the per-resample PGR computed only over
    resamples whose own gap is > 0 (the rest would divide by zero or flip the sign). Because the
    gap interval is above 0 at this point, at most about (1 - level) / 2 of the resamples are
    dropped.
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    _check_level(level)
    (pw, pc, ps), y = _check_inputs(
        labels, weak_probs=weak_probs, ceiling_probs=ceiling_probs, w2s_probs=w2s_probs
    )
    correct = np.stack([_correct(p, y) for p in (pw, pc, ps)]).astype(np.float64)
    accs = _bootstrap_accuracies(correct, n_resamples, seed)
    weak, ceiling, w2s = accs[:, 0], accs[:, 1], accs[:, 2]
    gap = ceiling - weak

    result: dict = {
        "weak_acc_ci": _percentile_interval(weak, level),
        "ceiling_acc_ci": _percentile_interval(ceiling, level),
        "w2s_acc_ci": _percentile_interval(w2s, level),
        "gap_ci": _percentile_interval(gap, level),
        "pgr_ci": None,
        "pgr_flag": None,
        "pgr_resamples_used": 0,
    }

    point_weak, point_ceiling = correct[0].mean(), correct[1].mean()
    flag = _gap_flag(float(point_ceiling - point_weak), min_gap)
    if flag is None and result["gap_ci"].low <= 0:
        flag = FLAG_GAP_NOT_SIGNIFICANT
    if flag is not None:
        result["pgr_flag"] = flag
        return result

    ok = gap > 0
    per_resample_pgr = (w2s[ok] - weak[ok]) / gap[ok]
    result["pgr_ci"] = _percentile_interval(per_resample_pgr, level)
    result["pgr_resamples_used"] = int(ok.sum())
    return result


def seed_summary(values: Sequence[float | None], level: float = 0.95) -> dict:
    """Mean, sample std and Student-t confidence interval of one metric across seeds.

    A few seeds is the usual case, so the interval uses the t distribution with n - 1 degrees
    of freedom: mean +/- t_{(1+level)/2, n-1} * std / sqrt(n). None (and NaN) values, e.g. an
    undefined PGR, are skipped and counted in ``n_missing`` rather than silently averaged in.

    Returns ``mean`` (None if no values), ``std`` (ddof=1; None if fewer than 2 values), ``n``,
    ``n_missing`` and ``ci`` (:class:`Interval`; None if fewer than 2 values).
    """
    _check_level(level)
    present = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    n = len(present)
    out: dict = {"mean": None, "std": None, "n": n, "n_missing": len(values) - n, "ci": None}
    if n == 0:
        return out
    x = np.asarray(present)
    out["mean"] = float(x.mean())
    if n >= 2:
        std = float(x.std(ddof=1))
        half = float(stats.t.ppf((1.0 + level) / 2.0, df=n - 1)) * std / math.sqrt(n)
        out["std"] = std
        out["ci"] = Interval(out["mean"] - half, out["mean"] + half)
    return out


# --------------------------------------------------------------------------------------------
# Everything for one run
# --------------------------------------------------------------------------------------------


def run_metrics(
    weak_probs: np.ndarray,
    ceiling_probs: np.ndarray,
    w2s_probs: np.ndarray,
    labels: np.ndarray,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    min_gap: float = 0.01,
) -> dict:
    """All test-set metrics of one (task, weak, strong, method, seed) run as a flat JSON-safe dict.

    Values are floats, ints, strings or None; intervals are ``[low, high]`` lists. Keys:
    ``n_test``, ``n_classes``; ``{weak,ceiling,w2s}_acc``, ``_acc_ci``, ``_auroc``, ``_ece``;
    ``gap``, ``gap_ci``; ``pgr``, ``pgr_flag``, ``pgr_ci``; ``agreement``,
    ``agreement_weak_right``, ``agreement_weak_wrong`` (w2s vs weak); ``gain_sq``,
    ``misfit_sq``, ``gain_kl``, ``misfit_kl``, ``misfit_ratio_sq``, ``misfit_ratio_kl``.

    The point ``pgr`` follows :func:`pgr` and is also None (with ``pgr_flag`` =
    ``"gap_not_significant"``) when the bootstrap gap interval reaches 0, so the point estimate
    and ``pgr_ci`` always agree on whether PGR is defined.
    """
    (pw, pc, ps), y = _check_inputs(
        labels, weak_probs=weak_probs, ceiling_probs=ceiling_probs, w2s_probs=w2s_probs
    )
    models = {"weak": pw, "ceiling": pc, "w2s": ps}
    out: dict = {"n_test": int(y.shape[0]), "n_classes": int(pw.shape[1])}
    for name, p in models.items():
        out[f"{name}_acc"] = accuracy(p, y)
        out[f"{name}_auroc"] = auroc(p, y)
        out[f"{name}_ece"] = expected_calibration_error(p, y)

    boot = paired_bootstrap(pw, pc, ps, y, n_resamples=n_resamples, seed=seed, min_gap=min_gap)
    for name in models:
        out[f"{name}_acc_ci"] = boot[f"{name}_acc_ci"].as_list()
    out["gap"] = out["ceiling_acc"] - out["weak_acc"]
    out["gap_ci"] = boot["gap_ci"].as_list()

    point = pgr(out["weak_acc"], out["ceiling_acc"], out["w2s_acc"], min_gap=min_gap)
    out["pgr"] = point.value
    out["pgr_flag"] = point.flag
    if boot["pgr_flag"] is not None:  # same guard on the point gap, plus the significance test
        out["pgr"] = None
        out["pgr_flag"] = boot["pgr_flag"]
    out["pgr_ci"] = boot["pgr_ci"].as_list() if boot["pgr_ci"] is not None else None

    out.update(agreement(ps, pw, y))
    out.update(gain_and_misfit(pw, ps, y))
    return out
