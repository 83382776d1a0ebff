"""Metrics of generation runs, from each model's outputs, judge scores and log likelihoods under the base LM.

The judge score is what PGR is computed on (``w2s_bench.metrics.stats``, the same functions as for
classification accuracy). A high judge score can come from degenerate text (one phrase the judge likes,
repeated), so every run also reports the quality guards a careful reader checks beside it:

* distinct-n (Li et al. 2016): distinct word n-grams over all n-grams of a model's test outputs (1.0: no
  n-gram repeats; a model that writes the same phrase everywhere falls toward 0);
* perplexity of the outputs under the untuned strong LM (fluency: how natural the text is to the model
  before any finetuning; very low can also mean repetitive, very high broken text);
* mean length in words.

Words are whitespace-separated tokens, so these do not depend on any model's tokenizer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def mean_score(scores: np.ndarray) -> float:
    return float(np.mean(scores))


def win_rate(scores: np.ndarray, against: np.ndarray) -> float:
    """Share of prompts where ``scores`` beats ``against`` (per prompt, same order), a tie counting half: the
    pairwise win rate search papers report against the untuned model's samples."""
    scores, against = np.asarray(scores, np.float64), np.asarray(against, np.float64)
    return float(np.mean((scores > against) + 0.5 * (scores == against)))


def below_half_rate(scores: np.ndarray) -> float:
    """Share of outputs whose judge score is below 0.5: for a judge scoring 1 - P(toxic), the toxicity rate
    (P(toxic) > 0.5), the number toxicity papers report beside the mean."""
    return float(np.mean(np.asarray(scores) < 0.5))


def distinct_n(texts: Sequence[str], n: int) -> float | None:
    """Distinct word n-grams / all word n-grams over ``texts`` (None when no text has n words)."""
    grams = [tuple(words[i:i + n]) for words in (t.split() for t in texts) for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else None


def distinct_1(texts: Sequence[str]) -> float | None:
    return distinct_n(texts, 1)


def distinct_2(texts: Sequence[str]) -> float | None:
    return distinct_n(texts, 2)


def perplexity(logprob: np.ndarray, tokens: np.ndarray) -> float | None:
    """exp of the mean negative log likelihood per token over all outputs (None when they have no tokens)."""
    total = float(np.sum(tokens))
    return math.exp(-float(np.sum(logprob)) / total) if total > 0 else None


def mean_words(texts: Sequence[str]) -> float:
    return float(np.mean([len(t.split()) for t in texts])) if len(texts) else 0.0
