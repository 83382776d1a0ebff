"""Metrics of classification runs, computed from predicted probabilities and gold labels.

Pure numpy (plus one scikit-learn call for AUROC, balanced accuracy, F1 and MCC) so each can be
tested on hand-made numbers. The conventions are fixed:

* a model's predictions are ``probs``: an ``[n, K]`` array whose rows are class probabilities;
* ground truth is ``labels``: an ``[n]`` integer array with values in ``0..K-1``;
* a predicted class is ``np.argmax(probs, axis=1)`` (ties go to the lowest class index).

PGR, its bootstrap and the seed summaries do not live here: they work on per-example scores of any
family (``w2s_bench.metrics.stats``); for classification the score is :func:`correctness`. See
``/work/shared/docs/protocol.md`` sections 1 and 3 for the definitions.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from sklearn.metrics import balanced_accuracy_score, f1_score, matthews_corrcoef, roc_auc_score

# Below this a misfit is treated as zero and the gain/misfit ratio is not reported.
_MISFIT_ZERO = 1e-12


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


def check_inputs(
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


# --------------------------------------------------------------------------------------------
# Per-model metrics
# --------------------------------------------------------------------------------------------


def _correct(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Boolean [n]: is the argmax prediction right? (np.argmax breaks ties to the lowest index.)"""
    return np.argmax(probs, axis=1) == labels


def correctness(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-example scores of a classifier: 1.0 where its argmax class is the label, else 0.0. Their mean is
    the accuracy, and PGR, its bootstrap and method comparisons are computed from them."""
    (p,), y = check_inputs(labels, probs=probs)
    return _correct(p, y).astype(np.float64)


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of examples whose argmax class equals the label: the headline number of a run."""
    (p,), y = check_inputs(labels, probs=probs)
    return float(_correct(p, y).mean())


def _on_predictions(score: Callable[[np.ndarray, np.ndarray], float], probs: np.ndarray, labels: np.ndarray) -> float:
    """A scikit-learn score of the argmax predictions; its warnings about classes that were never
    predicted are expected here (a weak model may predict one class) and the score handles them."""
    (p,), y = check_inputs(labels, probs=probs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return float(score(y, np.argmax(p, axis=1)))


def balanced_accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean recall over the classes present in ``labels`` (scikit-learn's ``balanced_accuracy_score``). On a
    skewed test set a constant prediction of the majority class scores 1 / K here, not the majority share."""
    return _on_predictions(balanced_accuracy_score, probs, labels)


def f1_macro(probs: np.ndarray, labels: np.ndarray) -> float:
    """Unweighted mean of the per-class F1 scores (scikit-learn, ``average="macro"``; a class never predicted
    has F1 0): every class counts equally, so missing the rare class shows."""
    return _on_predictions(lambda y, pred: f1_score(y, pred, average="macro", zero_division=0.0), probs, labels)


def f1_weighted(probs: np.ndarray, labels: np.ndarray) -> float:
    """Per-class F1 scores weighted by each class's share of ``labels`` (scikit-learn, ``average="weighted"``)."""
    return _on_predictions(lambda y, pred: f1_score(y, pred, average="weighted", zero_division=0.0), probs, labels)


def mcc(probs: np.ndarray, labels: np.ndarray) -> float:
    """Matthews correlation coefficient of the argmax predictions (scikit-learn): 0 for a constant or random
    prediction, 1 for a perfect one, whatever the class balance."""
    return _on_predictions(matthews_corrcoef, probs, labels)


def auroc(probs: np.ndarray, labels: np.ndarray) -> float | None:
    """Area under the ROC curve of ``probs[:, 1]`` for binary tasks.

    Accuracy hides how well a model ranks examples; AUROC shows it. Returns None when it is not
    defined: more than two classes, or only one class present in ``labels``.
    """
    (p,), y = check_inputs(labels, probs=probs)
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
    (p,), y = check_inputs(labels, probs=probs)
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
    (pa, pb), y = check_inputs(labels, probs_a=probs_a, probs_b=probs_b)
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
    (pw, ps), y = check_inputs(labels, weak_probs=weak_probs, w2s_probs=w2s_probs)
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
