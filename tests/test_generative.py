"""Generative (language-model) finetuning on tiny random-init models, and the `generative` method."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from w2s_bench.errors import W2SError
from w2s_bench.examples import Example, one_hot
from w2s_bench.methods.generative import generative
from w2s_bench.models.hf import HFEstimator
from w2s_bench.models.lm_finetune import mask_positions
from w2s_bench.train import TrainConfig

CORPUS = ["the quick brown fox jumps over the lazy dog", "to be or not to be that is the question",
          "all work and no play makes a dull day"] * 8
CONFIG = TrainConfig(batch_size=8, max_length=32, seed=0)


def causal_lm_loss(path: str, texts: list[str], state: dict[str, torch.Tensor] | None = None) -> float:
    """Mean next-token loss of the LM built on the backbone (pretrained, or with ``state`` loaded)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    lm, tokenizer = AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)
    if state is not None:
        lm.base_model.load_state_dict(state)
    with torch.no_grad():
        return float(np.mean([lm(input_ids=ids, labels=ids).loss for ids in
                              (tokenizer(t, return_tensors="pt")["input_ids"] for t in texts)]))


def test_causal_lm_finetuning_fits_the_corpus_and_the_next_fit_starts_from_it(tiny_gpt2):
    from transformers import AutoModel

    model = HFEstimator(tiny_gpt2, CONFIG)
    before = causal_lm_loss(tiny_gpt2, CORPUS[:3])
    log = model.lm_finetune(CORPUS, epochs=2, lr=3e-2)
    assert log.steps == 6  # 2 epochs of 3 batches
    assert causal_lm_loss(tiny_gpt2, CORPUS[:3], model.lm_state) < before - 2.0  # 10.4 -> 6.5 measured
    pretrained = AutoModel.from_pretrained(tiny_gpt2).state_dict()
    assert not torch.equal(pretrained["h.0.attn.c_attn.weight"], model.lm_state["h.0.attn.c_attn.weight"])
    backbone = model._load(2).backbone.state_dict()
    assert all(torch.equal(backbone[name], value) for name, value in model.lm_state.items())


def test_masked_lm_finetuning_changes_the_encoder(tiny_bert):
    from transformers import AutoModel

    model = HFEstimator(tiny_bert, CONFIG)
    assert model.lm_finetune(CORPUS, epochs=5, lr=1e-3, max_steps=2).steps == 2
    pretrained, backbone = AutoModel.from_pretrained(tiny_bert).state_dict(), model._load(2).backbone.state_dict()
    name = "encoder.layer.0.attention.self.query.weight"
    assert torch.equal(backbone[name], model.lm_state[name]) and not torch.equal(backbone[name], pretrained[name])
    assert torch.equal(backbone["pooler.dense.weight"], pretrained["pooler.dense.weight"])  # not in the MLM: kept


def test_masking_picks_real_tokens_only_and_at_least_one_per_text():
    input_ids = torch.tensor([[101, 7, 8, 9, 102, 0], [101, 5, 102, 0, 0, 0]])
    attention_mask = (input_ids != 0).long()
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        chosen = mask_positions(input_ids, attention_mask, torch.tensor([0, 101, 102]), generator)
        assert chosen.any(dim=1).all() and not chosen[:, [0, 4, 5]].any() and not chosen[1, 2:].any()


def test_models_without_a_language_model_head_are_rejected(tmp_path, tiny_bert):
    from transformers import AutoTokenizer, CLIPTextConfig

    CLIPTextConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64).save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(tmp_path)
    with pytest.raises(W2SError, match="cannot be finetuned generatively"):
        HFEstimator(str(tmp_path), CONFIG, name="clip-text").lm_finetune(CORPUS)


def test_generative_method_finetunes_on_the_weak_half_then_fits_on_weak_labels(tiny_bert, monkeypatch):
    calls: dict[str, object] = {}
    monkeypatch.setattr(HFEstimator, "lm_finetune", lambda self, texts, epochs, lr: calls.update(texts=texts, lr=lr))
    monkeypatch.setattr(HFEstimator, "fit", lambda self, *args, **kwargs: calls.update(fit=(self, args)) or self)
    train = [Example(f"t{i}", (f"train {i}",), 0) for i in range(3)]
    val = [Example("v", ("val a", "val b"), 0)]
    student = generative(lm_lr=1e-4).train_student(lambda: HFEstimator(tiny_bert, CONFIG), train, one_hot([0, 1, 0], 2),
                                                      val, one_hot([1], 2))
    assert calls["texts"] == ["train 0", "train 1", "train 2", "val a", "val b"] and calls["lr"] == 1e-4
    fitted, args = calls["fit"]
    assert fitted is student and args[0] == train and np.array_equal(args[1], one_hot([0, 1, 0], 2))
    with pytest.raises(W2SError, match="positive"):
        generative(lm_epochs=0)
