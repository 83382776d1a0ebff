"""LoRA as a load option of any finetuning method: what trains, what stays bit-identical."""

from __future__ import annotations

import numpy as np
import torch
from test_estimators import keyword_examples  # tests/ is on sys.path (pytest's rootdir-less test modules)

from w2s_bench.examples import one_hot
from w2s_bench.models import features as frozen_features
from w2s_bench.models.hf import HFEstimator
from w2s_bench.models.registry import build_estimator, parse_model_args, resolve
from w2s_bench.train import TrainConfig

FAST = "lr=1e-2,epochs=1,min_steps=0,batch_size=16,max_length=16"


def base_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The wrapped backbone's own weights under their plain names (peft prefixes them)."""
    return {n.removeprefix("base_model.model.").replace(".base_layer", ""): p for n, p in model.named_parameters()
            if "lora_" not in n}


def test_lora_from_the_command_line_trains_adapters_and_head_only(tiny_bert, monkeypatch):
    from transformers import AutoModel

    monkeypatch.setattr(frozen_features, "_EMBED_CACHE", {})
    spec = resolve(tiny_bert).with_params(parse_model_args(f"lora=true,{FAST}"))  # `--strong_args lora=true,...`
    estimator = build_estimator(spec, seed=0)
    train = keyword_examples(32)
    estimator.fit(train, one_hot([e.label for e in train], 2))
    model = estimator.model
    pretrained = AutoModel.from_pretrained(tiny_bert).state_dict()
    backbone = base_weights(model.backbone)
    assert set(backbone) == set(pretrained) and all(torch.equal(backbone[n], pretrained[n]) for n in pretrained)
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or n.startswith("head.") for n in trainable)
    assert any("lora_B" in n and p.abs().sum() > 0 for n, p in trainable.items())  # adapters moved from their zero init
    assert sum(p.numel() for p in trainable.values()) < 0.05 * sum(p.numel() for p in model.parameters())
    features = estimator.embed(train)  # frozen features read the pretrained weights, not the adapters
    monkeypatch.setattr(frozen_features, "_EMBED_CACHE", {})
    assert np.allclose(features, HFEstimator(tiny_bert, TrainConfig(max_length=16)).embed(train), atol=1e-6)


def test_lora_false_and_none_disable_it(tiny_bert):
    assert HFEstimator(tiny_bert, TrainConfig(), lora=False).lora is None
    assert build_estimator(resolve(tiny_bert).with_params({"lora": False}), seed=0).lora is None
    assert HFEstimator(tiny_bert, TrainConfig(), lora=True).lora == {}


def test_lora_language_model_finetuning_is_merged_into_the_backbone(tiny_gpt2):
    from transformers import AutoModel

    estimator = HFEstimator(tiny_gpt2, TrainConfig(batch_size=8, max_length=16), lora={"r": 2})
    estimator.lm_finetune(["a b c d e f", "g h i j k"] * 4, lr=1e-2)
    pretrained = AutoModel.from_pretrained(tiny_gpt2).state_dict()
    assert set(estimator.lm_state) == set(pretrained)  # merged: plain names, no adapters left
    assert not torch.equal(estimator.lm_state["h.0.attn.c_attn.weight"], pretrained["h.0.attn.c_attn.weight"])
    assert torch.equal(estimator.lm_state["wte.weight"], pretrained["wte.weight"])  # embeddings: no adapter
    base = base_weights(estimator._load(2).backbone)  # the next fit: fresh adapters on the merged weights
    assert all(torch.equal(base[n], estimator.lm_state[n]) for n in pretrained)
