"""Packed candidates (w2s_bench.models.candidates): the shared context encoded once per example."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from w2s_bench.errors import W2SError
from w2s_bench.examples import Example, one_hot
from w2s_bench.models.backbone import is_decoder
from w2s_bench.models.candidates import (
    PACKABLE_ATTENTION,
    pack_candidates,
    packed_length,
    packing_applies,
    shared_prefix,
)
from w2s_bench.models.hf import HFEstimator
from w2s_bench.train import TrainConfig, soft_cross_entropy


def mc_examples(n: int = 12) -> list[Example]:
    """4 candidates of different token lengths, one answer the start of another ("carbon" / "carbon dioxide")."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        answers = ["carbon", "carbon dioxide", "water vapour and heat", "x"]
        rng.shuffle(answers)
        context = f"question {i} about {'long ' * (i % 5)}things:"
        out.append(Example(f"mc-{i}", tuple(f"{context} {a}" for a in answers), int(rng.integers(4))))
    return out


def fitted(path: str, shared_context: str, examples: list[Example], **kwargs) -> HFEstimator:
    config = TrainConfig(epochs=1, batch_size=4, eval_batch_size=5, max_length=64, early_stopping=False, seed=0)
    estimator = HFEstimator(path, config, shared_context=shared_context, **kwargs)
    return estimator.fit(examples, one_hot([e.label for e in examples], 4))


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory) -> str:
    """A 2-layer Llama (rotary positions, grouped-query attention) with random weights and MiniLM's tokenizer."""
    from transformers import AutoModel, AutoTokenizer, LlamaConfig

    from w2s_bench.models.offline import minilm_l6_path

    tokenizer = AutoTokenizer.from_pretrained(minilm_l6_path())
    config = LlamaConfig(vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, intermediate_size=128, max_position_embeddings=256)
    folder = tmp_path_factory.mktemp("tiny_llama")
    torch.manual_seed(0)
    AutoModel.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def test_shared_prefix_leaves_every_candidate_a_token():
    assert shared_prefix([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 6]]) == 2
    assert shared_prefix([[1, 2, 3], [1, 2, 3, 4]]) == 2  # the first is the second's start: it keeps its 3
    assert shared_prefix([[7, 1], [8, 1]]) == 0
    assert packed_length([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 6]]) == 2 + 2 + 2 + 1


def test_pack_layout_positions_mask_and_pooling():
    packed = pack_candidates([[[5, 6, 7], [5, 6, 8, 9]], [[5, 1], [5, 2]]], pad_id=0, pooling="mean", causal=False)
    assert packed.input_ids.tolist() == [[5, 6, 7, 8, 9], [5, 1, 2, 0, 0]]
    assert packed.position_ids.tolist() == [[0, 1, 2, 2, 3], [0, 1, 1, 0, 0]]
    mask = packed.attention_mask[0, 0].int().tolist()
    assert mask == [[1, 1, 0, 0, 0],  # the prefix sees the prefix only
                    [1, 1, 0, 0, 0],
                    [1, 1, 1, 0, 0],  # candidate 1: the prefix and itself
                    [1, 1, 0, 1, 1],  # candidate 2: the prefix and itself
                    [1, 1, 0, 1, 1]]
    padding = packed.attention_mask[1, 0, 3:].int().tolist()
    assert padding == [[0, 0, 0, 1, 0], [0, 0, 0, 0, 1]]  # padding sees only itself (no all-masked rows: no NaN)
    assert torch.allclose(packed.pool_weights[0], torch.tensor([[1 / 3, 1 / 3, 1 / 3, 0, 0], [0.25, 0.25, 0, 0.25, 0.25]]))
    causal = pack_candidates([[[5, 6, 7], [5, 6, 8, 9]]], pad_id=0, pooling="last", causal=True)
    assert causal.attention_mask[0, 0, 4].int().tolist() == [1, 1, 0, 1, 1]
    assert causal.attention_mask[0, 0, 3].int().tolist() == [1, 1, 0, 1, 0]  # causal within the candidate
    assert causal.pool_weights[0].argmax(-1).tolist() == [2, 4]  # each candidate's last token


def test_packing_applies_where_it_can(tiny_bert, tiny_gpt2):
    from transformers import AutoConfig, MPNetConfig

    bert, gpt2 = AutoConfig.from_pretrained(tiny_bert), AutoConfig.from_pretrained(tiny_gpt2)
    bert._attn_implementation = gpt2._attn_implementation = "sdpa"
    assert packing_applies("auto", gpt2, "last", True, "m") and not packing_applies("auto", bert, "mean", False, "m")
    assert packing_applies("on", bert, "mean", False, "m") and not packing_applies("off", gpt2, "last", True, "m")
    with pytest.raises(W2SError, match="first token"):
        packing_applies("on", bert, "first", False, "m")
    mpnet = MPNetConfig()
    assert not packing_applies("auto", mpnet, "mean", False, "m")
    with pytest.raises(W2SError, match="'mpnet'"):
        packing_applies("on", mpnet, "mean", False, "m")
    with pytest.raises(W2SError, match="unknown shared_context"):
        HFEstimator(tiny_gpt2, TrainConfig(), shared_context="sometimes")


@pytest.mark.parametrize(("model", "attention", "pooling"),
                         [("tiny_gpt2", "sdpa", "last"), ("tiny_gpt2", "eager", "mean"), ("tiny_llama", "sdpa", "last")])
def test_decoder_packing_is_the_separate_texts_computation(model, attention, pooling, request):
    """Causal attention: packed rows and separate texts give the same probabilities and, in training, the same
    gradients (dropout off: packed rows draw other dropout masks, so trained weights differ by those draws)."""
    path, examples = request.getfixturevalue(model), mc_examples()
    estimator = fitted(path, "auto", examples, attn_implementation=attention, pooling=pooling)
    assert estimator._packed
    packed = estimator.predict_proba(examples)
    estimator._packed = False
    assert np.allclose(estimator.predict_proba(examples), packed, atol=1e-5)
    batch = estimator._encode_examples([ex.texts for ex in examples[:5]])
    targets = torch.as_tensor(one_hot([ex.label for ex in examples[:5]], 4), dtype=torch.float32)
    gradients = []
    for estimator._packed in (True, False):
        estimator.model.zero_grad()
        soft_cross_entropy(estimator._logits(estimator.model, batch), targets).backward()
        gradients.append([p.grad.clone() for p in estimator.model.parameters() if p.grad is not None])
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in zip(*gradients, strict=True))


def test_auto_leaves_encoders_as_separate_texts(tiny_bert):
    """The default never packs an encoder (MiniLM is a BERT): its candidates are scored as separate texts, bit for
    bit the computation of shared_context=off, so encoder multiple-choice results do not change (packing them
    would: the next test shows the packed scores differ)."""
    from transformers import AutoConfig

    from w2s_bench.models.offline import minilm_l6_path

    minilm = AutoConfig.from_pretrained(minilm_l6_path())
    for attention in PACKABLE_ATTENTION:
        minilm._attn_implementation = attention
        assert not packing_applies("auto", minilm, "mean", is_decoder(minilm), "minilm-l6")
    examples = mc_examples(6)
    auto, off = (fitted(tiny_bert, setting, examples) for setting in ("auto", "off"))
    assert not auto._packed
    assert np.array_equal(auto.predict_proba(examples), off.predict_proba(examples))
    assert all(torch.equal(a, b) for a, b in zip(auto.model.parameters(), off.model.parameters(), strict=True))


def test_encoder_packing_is_each_text_with_a_context_only_mask(tiny_bert):
    """shared_context=on for an encoder: the packed row scores each candidate as its own text would be scored
    with the context's tokens attending only to the context (the approximation), and that differs from the
    separate texts' full attention."""
    examples = mc_examples(6)
    estimator = fitted(tiny_bert, "on", examples)
    assert estimator._packed
    model = estimator.model
    rows = []
    with torch.no_grad():
        for texts in estimator._encode_examples([ex.texts for ex in examples]):
            prefix, scores = shared_prefix(texts), []
            for ids in texts:
                mask = torch.ones(len(ids), len(ids), dtype=torch.bool)
                mask[:prefix, prefix:] = False
                states = model.backbone(input_ids=torch.tensor([ids]), attention_mask=mask[None, None],
                                        position_ids=torch.arange(len(ids))[None]).last_hidden_state
                scores.append(model.head(states.mean(1)).squeeze())
            rows.append(torch.stack(scores))
    reference = torch.softmax(torch.stack(rows), -1).numpy()
    assert np.abs(estimator.predict_proba(examples) - reference).max() < 2e-6
    estimator._packed = False  # the separate texts, full attention: other numbers (a random tiny model's are near 1/4)
    assert np.abs(estimator.predict_proba(examples) - reference).max() > 2e-5


def test_encoder_packing_refused_for_first_token_pooling(tiny_bert):
    with pytest.raises(W2SError, match="shared_context=on"):
        fitted(tiny_bert, "on", mc_examples(4), pooling="first")
    assert not fitted(tiny_bert, "auto", mc_examples(4), pooling="first")._packed
