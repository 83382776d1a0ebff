"""The estimators: soft-label fitting, pooling, candidates, decoders and LoRA on tiny models."""

from __future__ import annotations

import numpy as np
import torch

from w2s_bench.examples import Example, one_hot
from w2s_bench.models.head import BackboneWithHead
from w2s_bench.models.hf import HFEstimator
from w2s_bench.models.tfidf import TfidfLogReg
from w2s_bench.train import TrainConfig

POS = ["great", "wonderful", "superb", "lovely"]
NEG = ["awful", "dreadful", "terrible", "poor"]


def keyword_examples(n: int, seed: int = 0) -> list[Example]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        label = int(rng.integers(2))
        word = rng.choice(POS if label else NEG)
        out.append(Example(f"ex-{seed}-{i}", (f"the film was {word} in the end",), label))
    return out


def test_tfidf_soft_targets_match_duplicated_hard_fit():
    train = keyword_examples(200)
    labels = np.array([e.label for e in train])
    probs = TfidfLogReg().fit(train, one_hot(labels, 2)).predict_proba(keyword_examples(50, seed=1))
    assert probs.shape == (50, 2) and np.allclose(probs.sum(1), 1)
    assert (probs.argmax(1) == [e.label for e in keyword_examples(50, seed=1)]).mean() == 1.0
    # soft targets of 0.5 everywhere carry no signal: the model stays near 0.5
    flat = TfidfLogReg().fit(train + train, np.vstack([one_hot(labels, 2), one_hot(1 - labels, 2)])).predict_proba(train)
    assert np.abs(flat[:, 1] - 0.5).max() < 0.1


def test_hf_classifier_learns_keyword_task(tiny_bert):
    config = TrainConfig(lr=1e-3, epochs=6, batch_size=16, max_length=32, seed=0)
    train, test = keyword_examples(160), keyword_examples(80, seed=1)
    model = HFEstimator(tiny_bert, config).fit(train, one_hot([e.label for e in train], 2))
    probs = model.predict_proba(test)
    assert probs.shape == (80, 2)
    assert (probs.argmax(1) == [e.label for e in test]).mean() > 0.9
    assert model.training_log.steps == 60


def test_predictions_do_not_depend_on_batch_size(tiny_bert):
    train = keyword_examples(32)
    model = HFEstimator(tiny_bert, TrainConfig(epochs=1, batch_size=16)).fit(train, one_hot([e.label for e in train], 2))
    a = model.predict_proba(train)
    model.config = TrainConfig(eval_batch_size=1)
    assert np.allclose(a, model.predict_proba(train), atol=1e-5)


def test_early_stopping_restores_best_checkpoint(tiny_bert):
    train = keyword_examples(64)
    # validation targets are the opposite of the truth: the best checkpoint is the least trained one
    val = keyword_examples(32, seed=2)
    config = TrainConfig(lr=1e-3, epochs=4, batch_size=16, evals_per_epoch=1, seed=0)
    model = HFEstimator(tiny_bert, config).fit(train, one_hot([e.label for e in train], 2), val,
                                               one_hot([1 - e.label for e in val], 2))
    log = model.training_log
    best = max(log.evals, key=lambda e: (e["val_acc"], -e["val_loss"]))
    assert log.best_step == best["step"]
    val_acc_now = (model.predict_proba(val).argmax(1) == [1 - e.label for e in val]).mean()
    assert abs(val_acc_now - best["val_acc"]) < 1e-6


def test_last_token_pooling_ignores_padding():
    class Echo(torch.nn.Module):  # hidden state = position index, so pooling picks a visible position
        def forward(self, input_ids, attention_mask):
            positions = torch.arange(input_ids.shape[1], dtype=torch.float32).expand(input_ids.shape[0], -1)
            return type("Out", (), {"last_hidden_state": positions.unsqueeze(-1)})()

    model = BackboneWithHead(Echo(), 1, 1, "last")
    torch.nn.init.ones_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 1, 1, 1]])
    out = model(torch.zeros_like(mask), mask).squeeze(-1)
    assert out.tolist() == [2.0, 4.0, 4.0]


def test_decoder_candidates_and_lora(tiny_gpt2):
    rng = np.random.default_rng(0)
    examples = []
    for i in range(24):  # 3 candidates; the correct one contains "right"
        words = ["right", "wrong", "wrong"]
        rng.shuffle(words)
        examples.append(Example(f"mc-{i}", tuple(f"answer: {w}" for w in words), words.index("right")))
    targets = one_hot([e.label for e in examples], 3)
    model = HFEstimator(tiny_gpt2, TrainConfig(epochs=1, batch_size=8), lora={"r": 4})
    model.fit(examples, targets)
    probs = model.predict_proba(examples)
    assert probs.shape == (24, 3) and np.allclose(probs.sum(1), 1)
    assert model.model.pooling == "last"
    trainable = {n for n, p in model.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or n.startswith("head.") for n in trainable)
