"""Determinism: predictions must not depend on the inference batch size, and a seed must fix a run.

A known complaint about other harnesses is that results move with ``eval_batch_size``: that is
always a bug (pooling that reads padding, an attention mask that is dropped, dropout left on at
inference), never a feature, because the inference batch size is a memory setting, not a modelling
choice. The training batch size, by contrast, changes the optimisation and is not tested here.

Tolerances, measured on this CPU (torch 2.13, float32, tiny random-init models below):

* ``predict_proba`` with eval_batch_size 1 vs 7 vs 32: at most 6e-8 apart (float32 round-off:
  padded batches have other matrix shapes, so BLAS sums in another order). Injected bugs give
  much larger differences: pooling that reads the padding 6e-3 (BERT, mean) / 0.45 (GPT-2, last
  token), BERT's backbone without its attention mask 6e-4, dropout on at inference 2e-2 / 4e-2.
  ``atol=1e-5`` leaves >100x headroom over round-off and is >50x below the smallest of those bugs.
  (GPT-2 without its attention mask is *not* a bug with right padding: causal attention never lets a
  real token see the pads after it.)
* ``embed`` features (values up to ~4): at most 1e-6 apart; ``atol=1e-5``.
* the same seed twice: bit-identical predictions (0.0 difference) for tiny BERT (dropout in
  training included) and TF-IDF; another seed moves the HF model's predictions by 0.03 to 0.37.

Everything runs on CPU in float32 (``device``/``dtype`` pinned), so a GPU or bf16 on the test
machine cannot change what is measured.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from w2s_bench.examples import Example, one_hot
from w2s_bench.models import features as frozen_features
from w2s_bench.models.registry import build_estimator, resolve

ATOL_PROBS = 1e-5
ATOL_FEATURES = 1e-5
EVAL_BATCH_SIZES = (1, 7, 32)  # 1: no padding at all (the reference); 7: odd, batches mix lengths; 32: one batch
FAST = {"epochs": 1, "min_steps": 4, "batch_size": 8, "max_length": 64, "lr": 1e-3, "device": "cpu", "dtype": "float32"}
WORDS = "the a film plot actor scene was great awful long short music ending story".split()


def varied_text(rng: np.random.Generator, words: int) -> str:
    return " ".join(rng.choice(WORDS, words))


def classification_examples(n: int = 24) -> list[Example]:
    """One text each, from 1 to 40 words: batches of several examples are heavily padded."""
    rng = np.random.default_rng(0)
    return [Example(f"c{i}", (varied_text(rng, 1 + (i * 17) % 40),), i % 2) for i in range(n)]


def candidate_examples(n: int = 16) -> list[Example]:
    """Three candidates each, of different lengths (1 to 30 words): padding varies within one example too."""
    rng = np.random.default_rng(1)
    return [Example(f"m{i}", tuple(varied_text(rng, int(k)) for k in rng.integers(1, 31, 3)), i % 3) for i in range(n)]


EXAMPLES = {"classification": (classification_examples, 2), "candidates": (candidate_examples, 3)}


def estimator(path: str, seed: int = 0, **params):
    """Built as a run builds it: the registry's spec for the name, with fast settings for the tests."""
    return build_estimator(resolve(path).with_params({**FAST, **params}), seed)


def fitted(path: str, examples: list[Example], num_classes: int, seed: int = 0):
    return estimator(path, seed).fit(examples, one_hot([e.label for e in examples], num_classes))


def predictions_by_batch_size(model, examples: list[Example]) -> dict[int, np.ndarray]:
    """The fitted model's probabilities for each inference batch size (the weights stay the same)."""
    out = {}
    for size in EVAL_BATCH_SIZES:
        model.config = replace(model.config, eval_batch_size=size)
        out[size] = model.predict_proba(examples)
    return out


def test_examples_really_vary_in_length(tiny_bert):
    """Guards the tests below: with texts of equal length no padding happens and invariance is trivial."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)  # the tiny GPT-2 has the same tokenizer (conftest)
    for make, _ in EXAMPLES.values():
        lengths = [len(tokenizer(text)["input_ids"]) for ex in make() for text in ex.texts]
        assert max(lengths) >= 5 * min(lengths), lengths


@pytest.mark.parametrize("kind", list(EXAMPLES))
@pytest.mark.parametrize(("fixture", "pooling"), [("tiny_bert", "mean"), ("tiny_gpt2", "last")])
def test_predict_proba_does_not_depend_on_eval_batch_size(request, fixture, pooling, kind):
    """An encoder (mean over the real tokens) and a decoder (last real token, right padding), on
    one text per example and on scored candidates (all candidates of a batch padded together).

    Fails if pooling reads a pad token, if the attention mask is not passed to the backbone, if
    dropout stays on at inference, or if predictions are written back to the wrong rows after the
    length-sorted batching: each of these makes results depend on which examples share a batch.
    """
    make, num_classes = EXAMPLES[kind]
    examples = make()
    model = fitted(request.getfixturevalue(fixture), examples, num_classes)
    assert model.model.pooling == pooling
    probs = predictions_by_batch_size(model, examples)
    reference = probs[1]
    assert reference.shape == (len(examples), num_classes)
    assert np.ptp(reference) > 1e-2, "predictions nearly constant: the comparison would be vacuous"
    for size in EVAL_BATCH_SIZES[1:]:
        np.testing.assert_allclose(probs[size], reference, rtol=0, atol=ATOL_PROBS, err_msg=f"eval_batch_size={size}")


@pytest.mark.parametrize("kind", list(EXAMPLES))
@pytest.mark.parametrize("fixture", ["tiny_bert", "tiny_gpt2"])
def test_embed_does_not_depend_on_eval_batch_size(request, monkeypatch, fixture, kind):
    """Frozen features (what the probes read) pooled the same whatever the batch.

    The process-level feature cache is keyed without the batch size, which is only right if this
    holds; the cache is emptied before each call so every call really runs the backbone.
    """
    make, _ = EXAMPLES[kind]
    examples = make()
    features = {}
    for size in EVAL_BATCH_SIZES:
        monkeypatch.setattr(frozen_features, "_EMBED_CACHE", {})
        features[size] = estimator(request.getfixturevalue(fixture), eval_batch_size=size).embed(examples)
    reference = features[1]
    assert reference.shape[:-1] == ((len(examples), 3) if kind == "candidates" else (len(examples),))
    for size in EVAL_BATCH_SIZES[1:]:
        np.testing.assert_allclose(features[size], reference, rtol=0, atol=ATOL_FEATURES, err_msg=f"eval_batch_size={size}")


def test_hf_same_seed_same_predictions_other_seed_different(tiny_bert):
    """Two fits with one seed give bit-identical predictions; this covers the head's initialisation,
    the training batch order and training dropout (BERT's default 0.1), all of which draw random numbers.
    Fails if any of them is not seeded. Another seed must change the predictions: otherwise
    the seed is ignored and "mean over seeds" in a report would be one run repeated.
    """
    examples, num_classes = classification_examples(), 2
    first = fitted(tiny_bert, examples, num_classes, seed=0).predict_proba(examples)
    again = fitted(tiny_bert, examples, num_classes, seed=0).predict_proba(examples)
    other = fitted(tiny_bert, examples, num_classes, seed=1).predict_proba(examples)
    np.testing.assert_array_equal(again, first)
    assert np.abs(other - first).max() > 1e-3


def test_tfidf_same_seed_same_predictions():
    """The TF-IDF weak model (cross-validated logistic regression) is a pure function of data and seed."""
    examples = classification_examples(40)
    targets = one_hot([e.label for e in examples], 2)
    first = build_estimator(resolve("tfidf"), seed=0).fit(examples, targets).predict_proba(examples)
    again = build_estimator(resolve("tfidf"), seed=0).fit(examples, targets).predict_proba(examples)
    np.testing.assert_array_equal(again, first)
