"""Settings for GPU and large models, tested on CPU: gradient accumulation, halving the batch on out-of-memory,
gradient checkpointing, torch.compile, SDPA attention, bitsandbytes' 8-/4-bit loading, and the memory estimate."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from w2s_bench.errors import W2SError
from w2s_bench.examples import Example, one_hot
from w2s_bench.models import loading
from w2s_bench.models.hf import HFEstimator
from w2s_bench.models.memory import estimate_training_memory
from w2s_bench.models.registry import ALIASES, resolve
from w2s_bench.train import TrainConfig, train_loop

WORDS = ["great", "awful", "fine", "poor", "superb", "dull"]


def texts(n: int, seed: int = 0) -> tuple[list[Example], np.ndarray]:
    """Texts of varied lengths (so micro-batches pad differently from the whole batch) and soft targets."""
    rng = np.random.default_rng(seed)
    examples = [Example(f"t{i}", (" ".join(rng.choice(WORDS, size=int(rng.integers(2, 12)))),), int(rng.integers(2)))
                for i in range(n)]
    return examples, one_hot([e.label for e in examples], 2)


@pytest.fixture(scope="module")
def no_dropout_bert(tmp_path_factory) -> str:
    """A tiny random-init BERT without dropout, so that two ways of computing the same step give the same weights."""
    from transformers import AutoModel, AutoTokenizer, BertConfig

    from w2s_bench.models.offline import minilm_l6_path

    folder = tmp_path_factory.mktemp("bert_no_dropout")
    tokenizer = AutoTokenizer.from_pretrained(minilm_l6_path())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    torch.manual_seed(0)
    AutoModel.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory) -> str:
    """A 2-layer Llama (random weights, float32) with a small trained BPE tokenizer."""
    from transformers import LlamaConfig, LlamaModel

    from w2s_bench.generation.corpus import generated_documents
    from w2s_bench.generation.ladder import train_tokenizer

    folder = tmp_path_factory.mktemp("tiny_llama")
    tokenizer = train_tokenizer(generated_documents("train", 100, 0), 200)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128, dtype="float32",
                         bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    LlamaModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def fit(folder: str, **settings) -> HFEstimator:
    loading_settings = {k: settings.pop(k) for k in ("lora", "attn_implementation") if k in settings}
    train, targets = texts(24)
    config = TrainConfig(**{"lr": 1e-3, "epochs": 2, "batch_size": 8, "max_length": 16, "early_stopping": False, **settings})
    return HFEstimator(folder, config, **loading_settings).fit(train, targets)


# -- gradient accumulation and out-of-memory ---------------------------------------------------------------
def test_micro_batches_accumulate_to_the_full_batch_result(no_dropout_bert):
    test, _ = texts(16, seed=1)
    whole = fit(no_dropout_bert)
    for micro in (4, 3):  # 3 does not divide the batch of 8: micro-batches of 3, 3, 2 weigh by their share
        split = fit(no_dropout_bert, micro_batch_size=micro)
        assert split.training_log.micro_batch_size == micro
        assert np.allclose(split.predict_proba(test), whole.predict_proba(test), atol=1e-5)
    assert whole.training_log.micro_batch_size == 8
    # the check has power: another step size moves the predictions far more than the tolerance
    assert not np.allclose(fit(no_dropout_bert, lr=2e-3).predict_proba(test), whole.predict_proba(test), atol=1e-4)


def linear_training(monkeypatch_forward=None, **settings) -> tuple[torch.nn.Module, object]:
    """train_loop on a linear model over fixed features: forward(module, indices) -> logits."""
    torch.manual_seed(0)
    features = torch.randn(32, 5)
    targets = one_hot(list(np.random.default_rng(0).integers(0, 2, 32)), 2)
    model = torch.nn.Linear(5, 2)

    def forward(module, indices):
        if monkeypatch_forward is not None:
            monkeypatch_forward(indices)
        return module(features[indices])

    config = TrainConfig(lr=0.1, epochs=3, batch_size=16, warmup_fraction=0.0, **settings)
    log = train_loop(model, forward, [1] * 32, targets, config, None, None, torch.device("cpu"), label="linear")
    return model, log


def test_out_of_memory_halves_the_micro_batch_and_redoes_the_step():
    calls = {"n": 0}

    def oom_once(indices):
        calls["n"] += 1
        if calls["n"] == 4:  # step 2's second micro-batch, after its first one's backward
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

    reference, reference_log = linear_training(micro_batch_size=8)
    model, log = linear_training(oom_once, micro_batch_size=8)
    assert log.micro_batch_size == 4 and reference_log.micro_batch_size == 8
    assert log.steps == reference_log.steps == 6
    # the failed attempt's gradients were dropped: the step redone in halves is the same step
    assert torch.allclose(model.weight, reference.weight, atol=1e-6)


def test_out_of_memory_at_batch_one_or_with_halving_off_is_a_clear_error():
    def always(indices):
        raise torch.OutOfMemoryError("out of memory (simulated)")

    with pytest.raises(W2SError, match="ran out of memory at batch size 1") as error:
        linear_training(always)
    assert "lora=true" in error.value.fix and "gradient_checkpointing=true" in error.value.fix
    with pytest.raises(W2SError, match="at batch size 16 .auto_batch_size=false.") as error:
        linear_training(always, auto_batch_size=False)
    assert "auto_batch_size=true" in error.value.fix


def test_inference_halves_its_batch_on_out_of_memory(no_dropout_bert):
    model = fit(no_dropout_bert, epochs=0.5)
    test, _ = texts(16, seed=1)
    expected = model.predict_proba(test)
    forward, sizes = model.model.forward, []

    def fits_four(input_ids, attention_mask):
        sizes.append(len(input_ids))
        if len(input_ids) > 4:
            raise torch.OutOfMemoryError("out of memory (simulated)")
        return forward(input_ids, attention_mask)

    model.model.forward = fits_four
    assert np.allclose(model.predict_proba(test), expected, atol=1e-6)
    assert sizes == [16, 8, 4, 4, 4, 4]  # the default eval batch (64) holds all 16 at first


# -- gradient checkpointing and torch.compile ----------------------------------------------------------------
def test_gradient_checkpointing_recomputes_layers_and_changes_no_result(tiny_llama):
    calls = {"n": 0}
    test, _ = texts(16, seed=1)

    def counting(checkpointing: bool) -> tuple[int, np.ndarray]:
        calls["n"] = 0
        original = HFEstimator._load

        def load_and_count(self, num_outputs, base=False):
            model = original(self, num_outputs, base)
            # peft model -> Llama model -> first block's MLP, whose forward runs again when the backward pass
            # recomputes the block (module hooks would not tell: they stay outside the checkpoint)
            mlp = model.backbone.base_model.model.layers[0].mlp
            forward = mlp.forward

            def counted(*args, **kwargs):
                calls["n"] += 1
                return forward(*args, **kwargs)

            mlp.forward = counted
            return model

        HFEstimator._load = load_and_count
        try:
            model = fit(tiny_llama, lora={"r": 4}, gradient_checkpointing=checkpointing)
        finally:
            HFEstimator._load = original
        trained = calls["n"]
        return trained, model.predict_proba(test)

    stored, probs = counting(False)
    recomputed, probs_checkpointed = counting(True)
    assert stored == 6 and recomputed == 12  # 6 steps; each layer's forward runs again in the backward pass
    assert np.allclose(probs, probs_checkpointed, atol=1e-6)


def test_gradient_checkpointing_on_a_model_without_it_is_a_clear_error():
    with pytest.raises(W2SError, match="does not support gradient checkpointing") as error:
        linear_training(gradient_checkpointing=True)
    assert "gradient_checkpointing=false" in error.value.fix


def test_compile_switch_runs_the_model_through_torch_compile(no_dropout_bert, monkeypatch):
    from torch._dynamo.utils import counters

    monkeypatch.setattr("w2s_bench.train.COMPILE_BACKEND", "eager")  # dynamo's tracing, no C++ code generation
    torch._dynamo.reset()
    counters.clear()
    train, targets = texts(8)
    config = TrainConfig(lr=1e-3, epochs=1, batch_size=8, max_length=16, early_stopping=False, compile=True)
    compiled = HFEstimator(no_dropout_bert, config).fit(train, targets)
    assert compiled.model._compiled_call_impl is not None and counters["stats"]["unique_graphs"] >= 1
    plain = HFEstimator(no_dropout_bert, replace(config, compile=False)).fit(train, targets)
    assert np.allclose(compiled.predict_proba(train), plain.predict_proba(train), atol=1e-5)


# -- attention and quantization --------------------------------------------------------------------------------
def test_sdpa_where_the_architecture_has_it_eager_otherwise(no_dropout_bert, tmp_path):
    from transformers import AutoModel, MPNetConfig

    bert = HFEstimator(no_dropout_bert, TrainConfig())
    assert bert._load(2).backbone.config._attn_implementation == "sdpa"
    mpnet_config = MPNetConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=64)
    model = loading.load_model(AutoModel, str(tmp_path), mpnet_config, {}, name="tiny-mpnet", random_init=True)
    assert model.config._attn_implementation == "eager"  # transformers has no SDPA path for MPNet: clean fallback
    with pytest.raises(W2SError, match="attn_implementation='sdpa' does not work for model 'tiny-mpnet'"):
        loading.load_model(AutoModel, str(tmp_path), mpnet_config, {}, name="tiny-mpnet", random_init=True,
                           attn_implementation="sdpa")
    eager = HFEstimator(no_dropout_bert, TrainConfig(), attn_implementation="eager")
    assert eager._load(2).backbone.config._attn_implementation == "eager"


def test_generation_lms_load_through_the_same_attention_and_quantization_checks(tiny_gpt2):
    from w2s_bench.generation.lm import load_causal_lm

    assert load_causal_lm(tiny_gpt2, device="cpu").model.config._attn_implementation == "sdpa"
    assert load_causal_lm(tiny_gpt2, device="cpu", attn_implementation="eager").model.config._attn_implementation == "eager"
    with pytest.raises(W2SError, match="load_in_8bit needs"):
        load_causal_lm(tiny_gpt2, device="cpu", load_in_8bit=True, lora=True)


def test_bitsandbytes_settings_fail_clearly_before_loading(no_dropout_bert, monkeypatch):
    real_find_spec = loading.importlib.util.find_spec

    def bnb(installed: bool):
        return lambda name, *args: (object() if installed else None) if name == "bitsandbytes" else real_find_spec(name, *args)

    monkeypatch.setattr(loading.importlib.util, "find_spec", bnb(installed=False))
    with pytest.raises(W2SError, match="needs the bitsandbytes package") as error:
        HFEstimator(no_dropout_bert, TrainConfig(), load_in_4bit=True, lora=True)
    assert "pip install bitsandbytes" in error.value.fix
    monkeypatch.setattr(loading.importlib.util, "find_spec", bnb(installed=True))
    with pytest.raises(W2SError, match="needs a CUDA GPU"):
        HFEstimator(no_dropout_bert, TrainConfig(device="cpu"), load_in_8bit=True, lora=True)
    with pytest.raises(W2SError, match="only LoRA adapters can be trained"):
        loading.check_quantization(False, True, torch.device("cuda"), lora=False, random_init=False, name="m")
    with pytest.raises(W2SError, match="both set"):
        loading.check_quantization(True, True, torch.device("cuda"), lora=True, random_init=False, name="m")
    loading.check_quantization(False, True, torch.device("cuda"), lora=True, random_init=False, name="m")  # accepted
    four_bit = loading.quantization_config(False, True)
    assert four_bit.load_in_4bit and four_bit.bnb_4bit_quant_type == "nf4" and not four_bit.load_in_8bit
    assert loading.quantization_config(True, False).load_in_8bit and loading.quantization_config(False, False) is None


def test_new_settings_are_read_from_the_signatures():
    spec = resolve("gpt2")
    checked = spec.with_params({"micro_batch_size": "4", "gradient_checkpointing": "true", "compile": "false",
                                "load_in_4bit": "true", "attn_implementation": "eager", "auto_batch_size": "false"}).params
    assert checked["micro_batch_size"] == 4 and checked["gradient_checkpointing"] is True
    assert checked["load_in_4bit"] is True and checked["auto_batch_size"] is False
    with pytest.raises(W2SError, match="no setting 'gradient_checkpoint'") as error:
        spec.with_params({"gradient_checkpoint": "true"})
    assert "gradient_checkpointing" in error.value.fix
    with pytest.raises(W2SError, match="load_in_8bit='yes' is not true or false"):
        spec.with_params({"load_in_8bit": "yes"})
    with pytest.raises(W2SError, match="micro_batch_size=0 must be >= 1"):
        TrainConfig(micro_batch_size=0)
    assert ALIASES["llama3-8b"].params["gradient_checkpointing"] is True
    assert ALIASES["qwen2.5-3b"].params["gradient_checkpointing"] is True
    assert not any("gradient_checkpointing" in ALIASES[name].params for name in ("gpt2", "pythia-2.8b", "minilm-l6"))


# -- the memory estimate -----------------------------------------------------------------------------------------
def test_memory_estimate_counts_the_model_from_its_config(tiny_llama):
    from transformers import AutoModel

    n_backbone = sum(p.numel() for p in AutoModel.from_pretrained(tiny_llama).parameters())
    full = estimate_training_memory(HFEstimator(tiny_llama, TrainConfig(batch_size=4, max_length=16)))
    assert full.counted_from == "config" and full.parameters == n_backbone + 32 * 2 + 2
    assert full.trainable == full.parameters and full.weights == full.gradients == 4 * full.parameters
    assert full.optimizer == 2 * full.gradients and full.weights_dtype == "float32"
    assert full.micro_batch_tokens == 64
    # per token: checkpointed 2 layers x 32 + (9 x 32 + 2 x 64); stored 2 x (9 x 32 + 2 x 64); float32
    assert full.activations_checkpointed == (2 * 32 + 416) * 64 * 4 and full.activations_stored == 2 * 416 * 64 * 4
    assert full.activations == full.activations_stored and full.total == full.weights * 4 + full.activations_stored
    lora = estimate_training_memory(HFEstimator(tiny_llama, TrainConfig(batch_size=4, max_length=16,
                                                                         gradient_checkpointing=True), lora={"r": 4}))
    assert lora.lora and lora.activations == lora.activations_checkpointed
    # LoRA r=4 on every linear layer: 2 layers x (q, k, v, o, gate, up, down) x 4 x (in + out), plus the head
    adapters = 2 * 4 * ((32 + 32) + (32 + 16) + (32 + 16) + (32 + 32) + 2 * (32 + 64) + (64 + 32))
    assert lora.trainable == adapters + 66 and lora.parameters == full.parameters + adapters
    bf16 = estimate_training_memory(HFEstimator(tiny_llama, TrainConfig(batch_size=4, max_length=16, dtype="bf16")))
    assert bf16.compute_dtype == "bfloat16" and bf16.activations_stored == full.activations_stored / 2
    half = estimate_training_memory(HFEstimator(tiny_llama, TrainConfig(batch_size=4, max_length=16, micro_batch_size=2)))
    assert half.activations_stored == full.activations_stored / 2


def test_memory_estimate_falls_back_to_the_nominal_size(tmp_path):
    (tmp_path / "config.json").write_text("{}")  # no model_type: no config transformers can build
    estimate = estimate_training_memory(HFEstimator(str(tmp_path), TrainConfig()), nominal_size=124)
    assert estimate.counted_from == "nominal size" and estimate.parameters == 124_000_000
    assert estimate.activations is None and estimate.total == 4 * 4 * 124e6


def test_dry_run_prints_each_models_settings_and_the_memory_estimate(tiny_llama, capsys, monkeypatch):
    from w2s_bench.cli import main

    monkeypatch.setenv("COLUMNS", "250")  # rich's width: the memory table on one line per model

    base = ["--tasks", "w2s_demo_sentiment", "--weak", "tfidf", "--strong", tiny_llama, "--limit", "40", "--no_cache"]
    assert main([*base, "--strong_args", "lora=true,gradient_checkpointing=true,max_length=64", "--dry_run"]) == 0
    out = capsys.readouterr().out.replace("\n", " ")
    assert f"strong {tiny_llama} -> {tiny_llama}: " in out and "lora=True" in out and "gradient_checkpointing=True" in out
    assert "training memory estimate" in out and "(LoRA)" in out and "float32 / float32" in out
    # bitsandbytes on this CPU machine: a clear error when the plan is made (exit 2), before any training
    assert main([*base, "--strong_args", "lora=true,load_in_4bit=true", "--dry_run"]) == 2
    assert "load_in_4bit needs" in capsys.readouterr().err
