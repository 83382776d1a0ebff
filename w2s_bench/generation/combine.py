"""Combining several weak LMs' demonstrations into one per prompt (the generative weak ensemble).

Classification ensembles average probabilities; texts cannot be averaged, so for each prompt one of the
members' candidate demonstrations is chosen (Cui et al.'s Bayesian WeakS-to-Strong carries ensembles of
weak supervisors to generation the same way: the supervisors' outputs are weighed, one is trained on):

* by likelihood (``mean``): the candidate with the highest mean, over the member LMs, of its mean token
  log probability under each, i.e. the text the ensemble as a whole finds most plausible;
* by agreement (``vote``): the candidate that agrees most with the other candidates (the mean unigram F1
  between it and each other one), a minimum-Bayes-risk choice: the consensus text, not an outlier.

Ties go to the earlier member, so a choice is deterministic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np


def unigram_f1(a: str, b: str) -> float:
    """The F1 of the two texts' lower-cased whitespace tokens as multisets (1.0 for two empty texts)."""
    left, right = Counter(a.lower().split()), Counter(b.lower().split())
    if not left or not right:
        return float(not left and not right)
    overlap = sum((left & right).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / sum(left.values()), overlap / sum(right.values())
    return 2 * precision * recall / (precision + recall)


def choose_by_agreement(candidates: Sequence[Sequence[str]]) -> list[int]:
    """Per prompt, the member whose candidate has the highest mean unigram F1 with the other members'.

    ``candidates[m][i]`` is member m's demonstration for prompt i; at least two members."""
    members = len(candidates)
    chosen = []
    for texts in zip(*candidates, strict=True):
        agreement = [np.mean([unigram_f1(texts[m], texts[o]) for o in range(members) if o != m]) for m in range(members)]
        chosen.append(int(np.argmax(agreement)))
    return chosen


def choose_by_likelihood(mean_logprobs: np.ndarray) -> list[int]:
    """Per prompt, the member whose candidate has the highest log probability averaged over the scoring LMs.

    ``mean_logprobs[s, m, i]``: scoring LM s's mean token log probability of member m's candidate for prompt
    i (``-inf`` for an empty candidate, which is chosen only when every candidate is empty)."""
    return [int(i) for i in np.argmax(mean_logprobs.mean(axis=0), axis=0)]
