"""Statistics on per-example scores: PGR with its guard, paired bootstrap intervals, seed summaries, and the
paired difference between two methods.

A score is one number per test example and model: correctness (1 or 0) for a classifier, a judge's score
for a generated text. Everything here takes score vectors, so every protocol family shares one PGR, one
bootstrap and one method comparison; how a family turns predictions into scores is its own business
(``w2s_bench.metrics.classification.correctness``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

# Why a PGR is missing. These strings end up in result files, so keep them stable.
FLAG_CEILING_BELOW_WEAK = "ceiling_below_weak"  # ceiling - weak < 0
FLAG_GAP_TOO_SMALL = "gap_too_small"  # 0 <= ceiling - weak <= min_gap
FLAG_GAP_NOT_SIGNIFICANT = "gap_not_significant"  # bootstrap CI of the gap reaches 0
PGR_FLAGS = (FLAG_CEILING_BELOW_WEAK, FLAG_GAP_TOO_SMALL, FLAG_GAP_NOT_SIGNIFICANT)

# Accuracies are ratios of counts, so 0.61 - 0.60 comes out as 0.010000000000000009. This
# tolerance makes "gap <= min_gap" mean what a reader expects for such values.
_GAP_TOL = 1e-12
# Upper bound on the number of int64 indices held in memory at once by the bootstrap.
_BOOTSTRAP_CHUNK_ELEMENTS = 8_000_000


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


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")


def _check_scores(**named: np.ndarray) -> list[np.ndarray]:
    """Several models' per-example scores as float arrays of one common length n >= 1, all finite."""
    checked = []
    for name, values in named.items():
        x = np.asarray(values, dtype=np.float64)
        if x.ndim != 1 or x.shape[0] == 0:
            raise ValueError(f"{name} must be one score per example, shape [n] with n >= 1, got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{name} contains NaN or inf")
        checked.append(x)
    if len({x.shape for x in checked}) != 1:
        raise ValueError("all scores must cover the same examples, got lengths "
                         + ", ".join(f"{name} {x.shape[0]}" for name, x in zip(named, checked, strict=True)))
    return checked


def _gap_flag(gap: float, min_gap: float) -> str | None:
    """Why a ceiling - weak gap is too small for a meaningful PGR, or None if it is fine."""
    if gap < 0:
        return FLAG_CEILING_BELOW_WEAK
    if gap <= min_gap + _GAP_TOL:
        return FLAG_GAP_TOO_SMALL
    return None


def pgr(weak: float, ceiling: float, w2s: float, min_gap: float = 0.01) -> PGR:
    """PGR = (w2s - weak) / (ceiling - weak): the share of the weak-to-ceiling gap recovered, from the three
    models' mean scores (accuracies for classification).

    Guard: dividing by a gap near zero gives huge or infinite numbers that wreck averages, so
    when ceiling - weak <= ``min_gap`` the value is None and ``flag`` is
    ``"ceiling_below_weak"`` (gap < 0) or ``"gap_too_small"`` (0 <= gap <= min_gap).
    """
    for name, x in (("weak", weak), ("ceiling", ceiling), ("w2s", w2s)):
        if not math.isfinite(x):
            raise ValueError(f"{name} must be a finite number, got {x}")
    gap = ceiling - weak
    flag = _gap_flag(gap, min_gap)
    if flag is not None:
        return PGR(value=None, flag=flag)
    return PGR(value=float((w2s - weak) / gap), flag=None)


def percentile_interval(samples: np.ndarray, level: float) -> Interval:
    """The central ``level`` percentile interval of bootstrap (or any) samples."""
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(samples, [alpha, 1.0 - alpha])
    return Interval(float(low), float(high))


def bootstrap_means(scores: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """Mean score of each model on each bootstrap resample, shape [n_resamples, n_models].

    ``scores`` is [n_models, n]. Every resample draws n example indices with replacement and uses
    the *same* indices for all models (a paired bootstrap), so the noise shared by models on the same
    hard examples cancels in differences like the gap. Indices are drawn in chunks of rows to bound
    memory on large test sets.
    """
    n_models, n = scores.shape
    rng = np.random.default_rng(seed)
    rows_per_chunk = max(1, _BOOTSTRAP_CHUNK_ELEMENTS // n)
    out = np.empty((n_resamples, n_models))
    for start in range(0, n_resamples, rows_per_chunk):
        stop = min(start + rows_per_chunk, n_resamples)
        idx = rng.integers(0, n, size=(stop - start, n))  # [chunk, n]
        for m in range(n_models):
            out[start:stop, m] = scores[m][idx].mean(axis=1)
    return out


def paired_bootstrap(
    weak_scores: np.ndarray,
    ceiling_scores: np.ndarray,
    w2s_scores: np.ndarray,
    n_resamples: int = 1000,
    seed: int = 0,
    min_gap: float = 0.01,
    level: float = 0.95,
) -> dict:
    """Percentile confidence intervals from a paired bootstrap over test examples.

    Returns ``weak_ci``, ``ceiling_ci``, ``w2s_ci`` (of each model's mean score), ``gap_ci`` (ceiling -
    weak) as :class:`Interval`, plus ``pgr_ci`` (Interval or None), ``pgr_flag`` (str or None) and
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
    scores = np.stack(_check_scores(weak_scores=weak_scores, ceiling_scores=ceiling_scores, w2s_scores=w2s_scores))
    means = bootstrap_means(scores, n_resamples, seed)
    weak, ceiling, w2s = means[:, 0], means[:, 1], means[:, 2]
    gap = ceiling - weak

    result: dict = {
        "weak_ci": percentile_interval(weak, level),
        "ceiling_ci": percentile_interval(ceiling, level),
        "w2s_ci": percentile_interval(w2s, level),
        "gap_ci": percentile_interval(gap, level),
        "pgr_ci": None,
        "pgr_flag": None,
        "pgr_resamples_used": 0,
    }

    point_weak, point_ceiling = scores[0].mean(), scores[1].mean()
    flag = _gap_flag(float(point_ceiling - point_weak), min_gap)
    if flag is None and result["gap_ci"].low <= 0:
        flag = FLAG_GAP_NOT_SIGNIFICANT
    if flag is not None:
        result["pgr_flag"] = flag
        return result

    ok = gap > 0
    per_resample_pgr = (w2s[ok] - weak[ok]) / gap[ok]
    result["pgr_ci"] = percentile_interval(per_resample_pgr, level)
    result["pgr_resamples_used"] = int(ok.sum())
    return result


def pgr_with_ci(weak_scores: np.ndarray, ceiling_scores: np.ndarray, w2s_scores: np.ndarray, *, n_resamples: int = 1000,
                seed: int = 0, min_gap: float = 0.01, level: float = 0.95) -> dict:
    """Everything a run record says about PGR, as JSON values: ``gap`` and ``gap_ci``; each model's score
    interval (``weak_ci``, ``ceiling_ci``, ``w2s_ci``); ``pgr``, ``pgr_flag`` and ``pgr_ci``.

    The point ``pgr`` follows :func:`pgr` and is also None (with ``pgr_flag`` = ``"gap_not_significant"``)
    when the bootstrap gap interval reaches 0, so the point estimate and ``pgr_ci`` always agree on
    whether PGR is defined.
    """
    weak, ceiling, w2s = (float(x.mean()) for x in _check_scores(weak=weak_scores, ceiling=ceiling_scores, w2s=w2s_scores))
    boot = paired_bootstrap(weak_scores, ceiling_scores, w2s_scores, n_resamples=n_resamples, seed=seed, min_gap=min_gap,
                            level=level)
    point = pgr(weak, ceiling, w2s, min_gap=min_gap)
    defined = boot["pgr_flag"] is None  # the same guard on the point gap, plus the significance test
    return {"gap": ceiling - weak, "gap_ci": boot["gap_ci"].as_list(),
            **{f"{m}_ci": boot[f"{m}_ci"].as_list() for m in ("weak", "ceiling", "w2s")},
            "pgr": point.value if defined else None, "pgr_flag": point.flag if defined else boot["pgr_flag"],
            "pgr_ci": boot["pgr_ci"].as_list() if defined else None}


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


@dataclass(frozen=True)
class PairedDifference:
    """Mean score difference of method A minus method B, with its interval and what the interval is over
    (``"seeds"``, ``"test bootstrap"``, or None when there is nothing to pair)."""

    mean: float | None
    ci: Interval | None
    ci_kind: str | None


def paired_difference(pairs: Sequence[tuple[np.ndarray, np.ndarray]], bootstrap_seed: int = 0, level: float = 0.95,
                      n_resamples: int = 1000) -> PairedDifference:
    """How much better method A scores than method B, measured on paired data.

    ``pairs`` holds, per seed both methods ran, their per-example scores on the same test examples in the
    same order: same weak labels, same test set, so the noise they share (a lucky seed, hard examples)
    cancels in the difference. With several seeds the interval is a Student-t interval of the per-seed
    differences; with one seed the only noise left to measure is which test examples were drawn, so it is
    a paired bootstrap over them (the same resampled examples for both methods, ``bootstrap_seed``).
    """
    checked = [np.stack(_check_scores(a=a, b=b)) for a, b in pairs]
    summary = seed_summary([float(s[0].mean() - s[1].mean()) for s in checked], level)
    if len(checked) == 1:
        means = bootstrap_means(checked[0], n_resamples, seed=bootstrap_seed)
        return PairedDifference(summary["mean"], percentile_interval(means[:, 0] - means[:, 1], level), "test bootstrap")
    return PairedDifference(summary["mean"], summary["ci"], "seeds" if checked else None)


def verdict(ci: Interval | None) -> str:
    """"better", "worse" or "no difference" from a difference's interval: one that contains 0 cannot tell
    the two apart, whichever side the point estimate is on ("n/a" without an interval)."""
    if ci is None:
        return "n/a"
    if ci.low > 0:
        return "better"
    if ci.high < 0:
        return "worse"
    return "no difference"
