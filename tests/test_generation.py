"""Sampling with a KV cache, scoring text and SFT on a tiny random-init GPT-2 (w2s_bench.generation)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from w2s_bench.errors import W2SError
from w2s_bench.generation.lm import load_causal_lm
from w2s_bench.generation.sampling import (
    GenerationSettings,
    choose_tokens,
    feed,
    left_pad,
    prefill,
    row_generators,
    row_seeds,
    sample,
)
from w2s_bench.generation.scoring import perplexity, score_continuations, token_logprobs
from w2s_bench.generation.sft import IGNORE, continuation_labels, sft
from w2s_bench.train import TrainConfig

PROMPTS = ["The movie was", "I went to the restaurant with my sister. The food", "Honestly,", "We took the train"]
SETTINGS = {
    "greedy": GenerationSettings(max_new_tokens=12, temperature=0),
    "tempered": GenerationSettings(max_new_tokens=12, temperature=0.8),
    "nucleus": GenerationSettings(max_new_tokens=12, temperature=1.2, top_p=0.7),
}


@pytest.fixture(scope="module")
def tiny_lm_folder(tiny_lm_factory) -> str:
    return tiny_lm_factory(n_embd=32, n_layer=2)


@pytest.fixture
def tiny_lm(tiny_lm_folder):
    return load_causal_lm(tiny_lm_folder)


def _ids(generations) -> list[tuple[int, ...]]:
    return [g.token_ids for g in generations]


@pytest.mark.parametrize("kind", list(SETTINGS))
def test_kv_cached_sampling_equals_uncached_token_for_token(tiny_lm, kind):
    cached = sample(tiny_lm, PROMPTS, SETTINGS[kind], seed=3)
    uncached = sample(tiny_lm, PROMPTS, SETTINGS[kind], seed=3, use_cache=False)
    assert _ids(cached) == _ids(uncached)
    assert all(len(g.token_ids) == 12 for g in cached if g.finish_reason == "length")


def test_sampling_is_deterministic_for_a_seed_and_differs_across_seeds(tiny_lm):
    settings = SETTINGS["tempered"]
    first = sample(tiny_lm, PROMPTS, settings, seed=0)
    assert _ids(first) == _ids(sample(tiny_lm, PROMPTS, settings, seed=0))
    assert _ids(first) != _ids(sample(tiny_lm, PROMPTS, settings, seed=1))
    same_prompt = sample(tiny_lm, [PROMPTS[0]] * 4, settings, seed=0)
    assert len(set(_ids(same_prompt))) > 1  # each row draws from its own generator


def test_left_padded_batches_give_the_same_tokens_as_one_by_one(tiny_lm):
    seeds = row_seeds(7, len(PROMPTS))
    for settings in SETTINGS.values():
        batched = sample(tiny_lm, PROMPTS, settings, seed=seeds, batch_size=len(PROMPTS))
        alone = [sample(tiny_lm, [p], settings, seed=[s])[0] for p, s in zip(PROMPTS, seeds, strict=True)]
        assert _ids(batched) == _ids(alone)


def test_greedy_sampling_matches_transformers_generate_on_a_left_padded_batch(tiny_lm):
    ours = sample(tiny_lm, PROMPTS, GenerationSettings(max_new_tokens=10, temperature=0), batch_size=len(PROMPTS))
    input_ids, attention_mask, _ = left_pad([tiny_lm.encode(p) for p in PROMPTS], tiny_lm.pad_id)
    theirs = tiny_lm.model.generate(input_ids=input_ids, attention_mask=attention_mask, do_sample=False,
                                    max_new_tokens=10, pad_token_id=tiny_lm.pad_id, eos_token_id=None)
    assert [list(g.token_ids) for g in ours] == theirs[:, input_ids.shape[1]:].tolist()


def test_stop_strings_end_the_text_before_the_first_occurrence(tiny_lm):
    settings = GenerationSettings(max_new_tokens=40, temperature=1.0)
    full = sample(tiny_lm, PROMPTS, settings, seed=5)
    stop = next(ch for ch in "etaoins" if all(ch in g.text for g in full))  # a character every output contains
    stopped = sample(tiny_lm, PROMPTS, GenerationSettings(max_new_tokens=40, temperature=1.0, until=(stop, "zzz")), seed=5)
    for whole, cut in zip(full, stopped, strict=True):
        assert cut.finish_reason == "stop" and stop not in cut.text
        assert cut.text == whole.text[:whole.text.index(stop)]
        assert whole.token_ids[:len(cut.token_ids)] == cut.token_ids  # the same draws up to the stop


def test_generation_settings_reject_bad_values():
    for bad in ({"max_new_tokens": 0}, {"temperature": -1}, {"top_p": 0}, {"top_p": 1.5}, {"until": [""]}):
        with pytest.raises(W2SError):
            GenerationSettings(**bad)
    assert GenerationSettings(until="\n").until == ("\n",)


def test_chunked_sampling_with_reordered_and_repeated_rows_keeps_a_valid_cache(tiny_lm):
    """The search pattern: W beams, K continuations of L tokens each, the best W kept, twice; after every
    step the cached logits equal a fresh forward over each row's whole sequence."""
    settings = SETTINGS["tempered"]
    prompts = [tiny_lm.encode(p) for p in PROMPTS[:2]]
    state, sequences = prefill(tiny_lm, prompts), [list(p) for p in prompts]
    for chunk in range(2):
        state = state.repeat(3)
        sequences = [list(s) for s in sequences for _ in range(3)]
        generators = row_generators(range(chunk * 10, chunk * 10 + 6))
        for _ in range(4):
            tokens = choose_tokens(state.next_logits, settings, generators)
            state = feed(tiny_lm, state, tokens[:, None])
            sequences = [s + [t] for s, t in zip(sequences, tokens.tolist(), strict=True)]
        keep = [5, 0]  # "the best two", in a new order
        state, sequences = state.select(keep), [sequences[i] for i in keep]
        input_ids, attention_mask, position_ids = left_pad(sequences, tiny_lm.pad_id)
        logits, _ = tiny_lm.forward(input_ids, attention_mask, position_ids)
        assert torch.allclose(state.next_logits, logits[:, -1], atol=1e-4)
    assert state.cache.get_seq_length() == max(len(p) for p in prompts) + 8  # prefix plus 2 chunks, never re-encoded


def test_a_row_that_draws_eos_ends_there_and_its_text_leaves_it_out(tiny_lm, monkeypatch):
    """EOS made likely (not certain): rows end at different steps, leave the batch, and every other row goes on
    drawing exactly as the uncached reference, which keeps no cache to compact."""
    forward = tiny_lm.forward

    def eos_likely(*args, **kwargs):
        logits, cache = forward(*args, **kwargs)
        logits[..., tiny_lm.eos_id] += 2.0
        return logits, cache

    monkeypatch.setattr(tiny_lm, "forward", eos_likely)
    cached = sample(tiny_lm, PROMPTS * 3, SETTINGS["tempered"], seed=2)
    assert _ids(cached) == _ids(sample(tiny_lm, PROMPTS * 3, SETTINGS["tempered"], seed=2, use_cache=False))
    ended = [g for g in cached if g.finish_reason == "eos"]
    assert 0 < len(ended) < len(cached) and len({len(g.token_ids) for g in ended}) > 1
    for g in ended:
        assert g.token_ids[-1] == tiny_lm.eos_id and tiny_lm.eos_id not in g.token_ids[:-1]
        assert g.text == tiny_lm.decode(list(g.token_ids[:-1]))


def test_log_p_of_a_continuation_is_the_sum_of_its_token_log_softmax(tiny_lm):
    prompt, continuation = "The movie was", " truly wonderful. I would recommend it."
    ids, n_prompt = tiny_lm.encode_pair(prompt, continuation)
    assert ids[:n_prompt] == tiny_lm.encode(prompt) and ids[n_prompt:] == tiny_lm.encode(continuation, bos=False)
    with torch.no_grad():
        logits = tiny_lm.model(input_ids=torch.tensor([ids])).logits[0].double()
    by_hand = sum(torch.log_softmax(logits[t - 1], dim=-1)[ids[t]].item() for t in range(n_prompt, len(ids)))
    prompts, continuations = [prompt, "Honestly,", ""], [continuation, " bad.", "The hotel starts at nine."]
    scores = score_continuations(tiny_lm, prompts, continuations, batch_size=3)
    assert scores[0] == pytest.approx(by_hand, abs=1e-4)
    alone = [score_continuations(tiny_lm, [p], [c])[0] for p, c in zip(prompts, continuations, strict=True)]
    assert np.allclose(scores, alone, atol=1e-4)  # right padding changes nothing
    per_token = token_logprobs(tiny_lm, [""], [continuations[2]])[0]
    assert perplexity(tiny_lm, [continuations[2]]) == pytest.approx(math.exp(-per_token.mean()))


def test_long_prompts_are_cut_on_the_left_and_long_continuations_are_an_error(tiny_lm):
    long_prompt = "The movie was good. " * 40
    ids, n_prompt = tiny_lm.encode_pair(long_prompt, " Bad.")
    assert len(ids) == tiny_lm.context_length and ids[n_prompt:] == tiny_lm.encode(" Bad.", bos=False)
    assert len(sample(tiny_lm, [long_prompt], SETTINGS["greedy"])[0].token_ids) == 12
    with pytest.raises(W2SError, match="does not fit"):
        score_continuations(tiny_lm, [""], [long_prompt])


def test_sft_trains_on_continuation_tokens_only_and_raises_their_likelihood(tiny_lm):
    pairs = [tiny_lm.encode_pair("The movie was", " wonderful."), tiny_lm.encode_pair("Honestly, the hotel", " was bad.")]
    input_ids, _, labels = continuation_labels(pairs, tiny_lm.pad_id)
    for row, (ids, n_prompt) in enumerate(pairs):
        assert (labels[row, :n_prompt] == IGNORE).all() and labels[row, n_prompt:len(ids)].tolist() == ids[n_prompt:]
        assert (labels[row, len(ids):] == IGNORE).all()
    prompts = ["The movie was", "The hotel was", "Our dinner turned out to be", "I thought the concert was"] * 4
    continuations = [" wonderful. I would recommend it."] * len(prompts)
    before = score_continuations(tiny_lm, prompts, continuations)
    config = TrainConfig(lr=3e-3, epochs=0, min_steps=30, batch_size=8, device="cpu")
    log = sft(tiny_lm, prompts, continuations, config)
    after = score_continuations(tiny_lm, prompts, continuations)
    assert log.steps == 30 and (after > before + 5).all()
    untouched = score_continuations(tiny_lm, ["The movie was"], [" horrible."])  # still a valid distribution
    assert np.isfinite(untouched).all()


def test_sft_with_validation_pairs_keeps_the_best_checkpoint(tiny_lm):
    prompts, continuations = ["The movie was"] * 8, [" wonderful."] * 8
    config = TrainConfig(lr=3e-3, epochs=0, min_steps=8, batch_size=4, evals_per_epoch=2, device="cpu")
    log = sft(tiny_lm, prompts, continuations, config, val_prompts=prompts[:2], val_continuations=continuations[:2])
    assert log.evals and log.best_step == min(log.evals, key=lambda e: e["val_loss"])["step"]


def test_lora_finetunes_adapters_only(tiny_lm_folder):
    lm = load_causal_lm(tiny_lm_folder, lora={"r": 4})
    base = {n: p.detach().clone() for n, p in lm.model.named_parameters() if "lora_" not in n}
    sft(lm, ["The movie was"] * 8, [" wonderful."] * 8, TrainConfig(lr=1e-2, epochs=0, min_steps=5, batch_size=4))
    assert all(torch.equal(p, base[n]) for n, p in lm.model.named_parameters() if "lora_" not in n)
    assert any("lora_B" in n and p.abs().sum() > 0 for n, p in lm.model.named_parameters())
    assert len(sample(lm, PROMPTS[:2], SETTINGS["greedy"])) == 2  # the wrapped model samples through the cache


def test_non_causal_models_cannot_generate(tiny_bert):
    with pytest.raises(W2SError, match="not a causal language model"):
        load_causal_lm(tiny_bert)
    with pytest.raises(W2SError, match="not a transformer"):
        load_causal_lm("tfidf")
