"""Generated controlled-sentiment continuation rows: a neutral opening and a positive gold continuation.

Used by ``sentiment_continuation`` (``dataset_path: generator:sentiment_prompts``); nothing is downloaded.
Each row is ``{"id", "prompt", "continuation"}``: the prompt is one or two neutral sentences about a
subject ("We booked the hotel for Friday."), the continuation a positive review of one or two opinion
sentences from the sentiment lexicon's generator (``sentiment_lexicon``: templates, a Zipf-weighted
polarity lexicon, negation and contrast), sometimes with a positive closing remark ("I would recommend
it."). The task asks a model to continue the prompt positively; the judge scores P(positive).

Every sentence of a row belongs to the row's split by the lexicon's stable text hash
(``sentiment_lexicon.split_of``), the partition the offline LM ladder's pretraining corpus uses too: no
test prompt or gold continuation was pretrained on.
"""

from __future__ import annotations

import random

from w2s_bench.errors import W2SError, did_you_mean
from w2s_bench.tasks.generators import sentiment_lexicon

SPLITS = sentiment_lexicon.SPLITS


def generate(split: str, n: int, seed: int = 0) -> list[dict]:
    """``n`` rows of ``split``, deterministic for (split, n, seed), with distinct prompts."""
    from w2s_bench.generation.corpus import CLOSINGS, _neutral_in

    if split not in SPLITS:
        raise W2SError(f"unknown split {split!r} for generator 'sentiment_prompts'",
                       where="dataset_path: generator:sentiment_prompts", fix=did_you_mean(split, SPLITS))
    rng = random.Random(f"sentiment-prompts:{split}:{seed}")
    opinions = [r["text"] for r in sentiment_lexicon.generate(split, 4 * n, seed) if r["label"] == 1]
    closings = [c for c in CLOSINGS[1] if sentiment_lexicon.split_of(c) == split] or CLOSINGS[1]
    rows, seen = [], set()
    for _ in range(100 * n):
        if len(rows) == n:
            break
        prompt = " ".join(_neutral_in(split, rng) for _ in range(rng.randint(1, 2)))
        if prompt in seen:
            continue
        seen.add(prompt)
        sentences = [opinions[(2 * len(rows) + k) % len(opinions)] for k in range(rng.randint(1, 2))]
        if rng.random() < 0.4:
            sentences.append(rng.choice(closings))
        rows.append({"id": f"{split}-{len(rows)}", "prompt": prompt, "continuation": " " + " ".join(sentences)})
    return rows
