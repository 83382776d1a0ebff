"""Probes on frozen features (fake featurizers with known geometry) and HFEstimator.embed (tiny models)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_estimators import keyword_examples  # tests/ is on sys.path (pytest's rootdir-less test modules)

from w2s_bench.errors import W2SError
from w2s_bench.examples import Example, one_hot
from w2s_bench.methods.probe import probe, probe_knn
from w2s_bench.models import features as frozen_features
from w2s_bench.models.head import BackboneWithHead
from w2s_bench.models.hf import HFEstimator
from w2s_bench.models.probe import ProbeEstimator
from w2s_bench.models.soft_targets import soft_target_rows
from w2s_bench.models.tfidf import TfidfLogReg
from w2s_bench.train import TrainConfig


class FakeFeaturizer:
    """Features looked up by example id: the geometry of each test is chosen, not learned."""

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors = vectors

    def embed(self, examples):
        return np.stack([self.vectors[ex.id] for ex in examples])


def separable(n: int, seed: int, dim: int = 8) -> tuple[list[Example], dict[str, np.ndarray]]:
    """Label = sign of the first coordinate, which is kept at least 0.5 away from 0; the rest is noise."""
    rng = np.random.default_rng(seed)
    examples, vectors = [], {}
    for i in range(n):
        label = int(rng.integers(2))
        x = rng.normal(size=dim)
        x[0] = (2 * label - 1) * (0.5 + abs(x[0]))
        examples.append(Example(f"s{seed}-{i}", ("text",), label))
        vectors[examples[-1].id] = x
    return examples, vectors


@pytest.mark.parametrize("kind", ["logreg", "knn"])
def test_probe_on_separable_features_is_near_perfect(kind):
    train, train_vectors = separable(200, seed=0)
    test, test_vectors = separable(100, seed=1)
    featurizer = FakeFeaturizer({**train_vectors, **test_vectors})
    probs = ProbeEstimator(featurizer, kind=kind).fit(train, one_hot([e.label for e in train], 2)).predict_proba(test)
    assert probs.shape == (100, 2) and np.allclose(probs.sum(1), 1)
    assert (probs.argmax(1) == [e.label for e in test]).mean() >= 0.95


@pytest.mark.parametrize("kind", ["logreg", "knn"])
def test_probe_respects_soft_targets(kind):
    """Features without signal and every target 0.7/0.3: the fitted probability is the target's, not
    the argmax's (a probe on hard labels would predict ~1.0)."""
    rng = np.random.default_rng(0)
    train = [Example(f"n{i}", ("text",), 0) for i in range(150)]
    featurizer = FakeFeaturizer({e.id: rng.normal(size=4) for e in train})
    targets = np.tile([0.7, 0.3], (len(train), 1))
    probs = ProbeEstimator(featurizer, kind=kind, k=20).fit(train, targets).predict_proba(train)
    assert np.abs(probs[:, 0] - 0.7).max() < 0.05


def test_soft_target_rows_duplicate_each_item_per_class_with_its_probability():
    items, labels, weights = soft_target_rows(np.array([[0.7, 0.3], [1.0, 0.0]]), candidates=False)
    assert items.tolist() == [0, 1, 0] and labels.tolist() == [0, 0, 1] and np.allclose(weights, [0.7, 1.0, 0.3])
    items, labels, weights = soft_target_rows(np.array([[0.2, 0.8, 0.0]]), candidates=True)  # "is the answer" rows
    assert items.tolist() == [0, 1, 0, 1, 2] and labels.tolist() == [1, 1, 0, 0, 0]
    assert np.allclose(weights, [0.2, 0.8, 0.8, 0.2, 1.0])


@pytest.mark.parametrize("kind", ["logreg", "knn"])
def test_probe_scores_candidates(kind):
    """3 candidates per example; the answer's first coordinate is positive, the others' negative."""
    rng = np.random.default_rng(0)
    examples, vectors = [], {}
    for i in range(90):
        answer = int(rng.integers(3))
        x = rng.normal(size=(3, 6))
        x[:, 0] = np.where(np.arange(3) == answer, 1 + abs(x[:, 0]), -1 - abs(x[:, 0]))
        examples.append(Example(f"mc{i}", ("a", "b", "c"), answer))
        vectors[examples[-1].id] = x
    train, test = examples[:60], examples[60:]
    model = ProbeEstimator(FakeFeaturizer(vectors), kind=kind).fit(train, one_hot([e.label for e in train], 3))
    probs = model.predict_proba(test)
    assert probs.shape == (30, 3) and np.allclose(probs.sum(1), 1)
    assert (probs.argmax(1) == [e.label for e in test]).mean() >= 0.95


def test_probe_rejects_a_loss_and_non_transformer_students():
    train, vectors = separable(20, seed=0)
    with pytest.raises(W2SError, match="loss"):
        ProbeEstimator(FakeFeaturizer(vectors)).fit(train, one_hot([e.label for e in train], 2), loss=lambda *a: 0)
    targets = one_hot([e.label for e in train], 2)
    with pytest.raises(W2SError, match="not a transformer"):
        probe().train_student(TfidfLogReg, train, targets, [], np.zeros((0, 2)))
    with pytest.raises(W2SError, match="positive integer"):
        probe_knn(k=0)


@pytest.fixture
def forward_calls(monkeypatch) -> list[int]:
    """An empty embedding cache, and a list that grows by one per backbone forward pass."""
    monkeypatch.setattr(frozen_features, "_EMBED_CACHE", {})
    calls: list[int] = []
    features = BackboneWithHead.features

    def counting(self, input_ids, attention_mask):
        calls.append(input_ids.shape[0])
        return features(self, input_ids, attention_mask)

    monkeypatch.setattr(BackboneWithHead, "features", counting)
    return calls


def test_embed_is_computed_once_per_text(tiny_bert, forward_calls):
    examples = [Example(f"e{i}", (f"text number {i} " * (i + 1),), 0) for i in range(5)]
    first = HFEstimator(tiny_bert, TrainConfig(eval_batch_size=2)).embed(examples)
    assert first.shape == (5, 64) and sum(forward_calls) == 5
    again = HFEstimator(tiny_bert, TrainConfig(eval_batch_size=2)).embed(examples[::-1])  # another estimator, same model
    assert sum(forward_calls) == 5 and np.array_equal(again, first[::-1])
    HFEstimator(tiny_bert, TrainConfig(eval_batch_size=2, max_length=4)).embed(examples)  # truncation: other features
    assert sum(forward_calls) == 10
    candidates = [Example(f"c{i}", ("yes", f"no {i}", "maybe not"), 0) for i in range(4)]
    assert HFEstimator(tiny_bert, TrainConfig()).embed(candidates).shape == (4, 3, 64)


def test_embed_of_a_decoder_is_the_last_real_token_state(tiny_gpt2, forward_calls):
    from transformers import AutoModel, AutoTokenizer

    texts = ["a short one", "a much longer text that needs padding in its batch", "mid length text"]
    vectors = HFEstimator(tiny_gpt2, TrainConfig()).embed([Example(str(i), (t,), 0) for i, t in enumerate(texts)])
    assert forward_calls == [3]  # one padded batch
    backbone, tokenizer = AutoModel.from_pretrained(tiny_gpt2).eval(), AutoTokenizer.from_pretrained(tiny_gpt2)
    for text, vector in zip(texts, vectors, strict=True):
        with torch.no_grad():
            direct = backbone(input_ids=tokenizer(text, return_tensors="pt")["input_ids"]).last_hidden_state[0, -1]
        assert np.allclose(vector, direct.numpy(), atol=1e-5)


@pytest.mark.parametrize("method", [probe(), probe_knn(k=5)], ids=["probe", "probe_knn"])
def test_probe_methods_read_an_untrained_transformer(tiny_bert, forward_calls, method):
    train, test = keyword_examples(80), keyword_examples(40, seed=1)
    strong = HFEstimator(tiny_bert, TrainConfig())
    student = method.train_student(lambda: strong, train, one_hot([e.label for e in train], 2), [], np.zeros((0, 2)))
    assert isinstance(student, ProbeEstimator) and strong.model is None  # the transformer itself is never fitted
    assert (student.predict_proba(test).argmax(1) == [e.label for e in test]).mean() >= 0.9
