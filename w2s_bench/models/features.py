"""Frozen features: a pretrained backbone's pooled states, computed once per process and text.

Probes on frozen features (``w2s_bench.models.probe``) read them through ``HFEstimator.embed``. They
are always the pretrained backbone's (no LoRA adapters, no LM-finetuned weights), which is what lets
one cache serve every probe method and every estimator of the same model: the key is the backbone's
configuration, and each distinct example's texts go through the backbone once per process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from w2s_bench.examples import Example

EMBED_CACHE_MODELS = 4
# frozen features: backbone configuration (HFEstimator._embed_key) -> {example texts: [C, hidden] float32}
_EMBED_CACHE: dict[tuple[Any, ...], dict[tuple[str, ...], np.ndarray]] = {}


def _embedding_cache(key: tuple[Any, ...]) -> dict[tuple[str, ...], np.ndarray]:
    """The cached vectors of one backbone configuration.

    Memory is 4 bytes x hidden size per distinct text (10,000 texts of a 4,096-wide model: 164 MB);
    at most ``EMBED_CACHE_MODELS`` configurations are kept, the oldest is dropped first.
    """
    if key not in _EMBED_CACHE and len(_EMBED_CACHE) >= EMBED_CACHE_MODELS:
        del _EMBED_CACHE[next(iter(_EMBED_CACHE))]
    return _EMBED_CACHE.setdefault(key, {})


def cached_features(key: tuple[Any, ...], examples: Sequence[Example],
                    compute: Callable[[list[tuple[str, ...]]], list[np.ndarray]]) -> np.ndarray:
    """``[n, hidden]`` (one text per example) or ``[n, C, hidden]`` (candidates): the features cached under
    ``key``. ``compute`` gets the distinct example texts not cached yet and returns a ``[C, hidden]`` array for
    each."""
    cache = _embedding_cache(key)
    missing = list(dict.fromkeys(ex.texts for ex in examples if ex.texts not in cache))
    if missing:
        cache.update(zip(missing, compute(missing), strict=True))
    stacked = np.stack([cache[ex.texts] for ex in examples])
    return stacked if examples[0].is_candidates else stacked[:, 0]
