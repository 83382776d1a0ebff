"""Weak-to-strong search, best-of-n and EFT (w2s_bench.generation.search) on tiny random-init GPT-2s.

The strong model and the small pair have different BPE tokenizers (scoring crosses them through text).
The tuned small model is built as an exact likelihood tilt of the untuned one toward a rule: every
next-token logit gets ``BETA`` times the number of letters "e" in the token's string, so the pair's log
ratio rewards text with many e's and the rule judge counts them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from w2s_bench.errors import W2SError
from w2s_bench.generation.lm import CausalLM, load_causal_lm
from w2s_bench.generation.sampling import GenerationSettings, row_seeds, sample
from w2s_bench.generation.search import (
    LogRatioScorer,
    SearchParams,
    best_of_n,
    chunk_beam_search,
    emulated_finetuning,
    slot_seeds,
)

PROMPTS = ["The movie was", "I went to the restaurant with my sister. The food", "Honestly,", "We took the train",
           "The hotel", "Our guide said"]
SETTINGS = GenerationSettings(max_new_tokens=12, temperature=1.0)
BETA = 1.5


def _tiny_folder(tmp_path_factory, name: str, vocab_size: int, corpus_seed: int, weight_seed: int) -> str:
    from transformers import GPT2LMHeadModel

    from w2s_bench.generation.corpus import generated_documents
    from w2s_bench.generation.ladder import Recipe, train_tokenizer

    folder = tmp_path_factory.mktemp(name)
    tokenizer = train_tokenizer(generated_documents("train", 300, corpus_seed), vocab_size)
    recipe = Recipe(name, n_embd=32, n_layer=2, n_head=2, lr=1e-3, steps=0, vocab_size=len(tokenizer), block_size=64)
    torch.manual_seed(weight_seed)
    GPT2LMHeadModel(recipe.gpt2_config(tokenizer.eos_token_id)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models gain nothing from a second thread, and on a busy machine it makes every step several times
    slower (threads spin at each small operation): one thread, restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def strong_folder(tmp_path_factory) -> str:
    return _tiny_folder(tmp_path_factory, "strong", 300, corpus_seed=0, weight_seed=0)


@pytest.fixture(scope="module")
def small_folder(tmp_path_factory) -> str:
    return _tiny_folder(tmp_path_factory, "small", 260, corpus_seed=1, weight_seed=1)


class _Tilted(torch.nn.Module):
    """A causal LM whose next-token logits are another's plus a fixed bonus per token."""

    def __init__(self, base: torch.nn.Module, bonus: torch.Tensor) -> None:
        super().__init__()
        self.base = base
        self.register_buffer("bonus", bonus)

    def forward(self, **kwargs):
        out = self.base(**kwargs)
        out.logits = out.logits + self.bonus
        return out


def e_count(text: str) -> int:
    return text.count("e")


def tilted(lm: CausalLM) -> CausalLM:
    """``lm`` tilted toward the rule: p(token) proportional to p_lm(token) * exp(BETA * e's in the token)."""
    tokens = lm.tokenizer.convert_ids_to_tokens(list(range(lm.model.config.vocab_size)))
    bonus = BETA * torch.tensor([float(e_count(t or "")) for t in tokens])
    return CausalLM(_Tilted(lm.model, bonus).eval(), lm.tokenizer, lm.device, None, f"{lm.name}+e", lm.context_length,
                    lm.cache_keyword)


@pytest.fixture
def strong(strong_folder) -> CausalLM:
    return load_causal_lm(strong_folder)


@pytest.fixture
def untuned(small_folder) -> CausalLM:
    return load_causal_lm(small_folder)


@pytest.fixture
def scorer(untuned) -> LogRatioScorer:
    return LogRatioScorer(tilted(untuned), untuned)


def _ids(generations) -> list[tuple[int, ...]]:
    return [g.token_ids for g in generations]


@pytest.mark.parametrize("settings", [SETTINGS, GenerationSettings(max_new_tokens=14, temperature=0.8, top_p=0.9,
                                                                   until=("e",))], ids=["plain", "stop"])
def test_kv_cached_search_equals_the_uncached_reference(strong, scorer, settings):
    params = SearchParams(w=2, k=3, l=4)
    cached = chunk_beam_search(strong, PROMPTS, settings, scorer, params, seed=3, batch_size=12)
    uncached = chunk_beam_search(strong, PROMPTS, settings, scorer, params, seed=3, use_cache=False)
    assert _ids(cached) == _ids(uncached)
    assert [g.text for g in cached] == [g.text for g in uncached]
    if settings.until:
        assert any(g.finish_reason == "stop" for g in cached) and all("e" not in g.text for g in cached)


def test_a_prompts_search_does_not_depend_on_its_batch(strong, scorer):
    params = SearchParams(w=2, k=2, l=5)
    together = chunk_beam_search(strong, PROMPTS, SETTINGS, scorer, params, seed=1, batch_size=64)
    seeds = row_seeds(1, len(PROMPTS))
    alone = [chunk_beam_search(strong, [p], SETTINGS, scorer, params, seed=[s])[0]
             for p, s in zip(PROMPTS, seeds, strict=True)]
    assert _ids(together) == _ids(alone)


def test_w1_k1_is_the_strong_models_own_sampling(strong, scorer):
    for settings in (SETTINGS, GenerationSettings(max_new_tokens=12, temperature=0.7, until=("a",))):
        base = sample(strong, PROMPTS, settings, seed=5)
        search = chunk_beam_search(strong, PROMPTS, settings, scorer, SearchParams(w=1, k=1, l=5), seed=5)
        assert _ids(search) == _ids(base) and [g.finish_reason for g in search] == [g.finish_reason for g in base]


@pytest.mark.parametrize(("w", "k"), [(1, 4), (2, 2)])
def test_one_chunk_as_long_as_the_output_is_best_of_the_w_times_k_samples(strong, scorer, w, k):
    prompt_seeds = row_seeds(2, len(PROMPTS))
    search = chunk_beam_search(strong, PROMPTS, SETTINGS, scorer, SearchParams(w=w, k=k, l=SETTINGS.max_new_tokens),
                               seed=2)
    for prompt, seed, found in zip(PROMPTS, prompt_seeds, search, strict=True):
        samples = sample(strong, [prompt] * (w * k), SETTINGS, seed=slot_seeds(seed, w * k))
        scores = scorer([prompt] * len(samples), [g.text for g in samples])
        assert found.token_ids == samples[int(np.argmax(scores))].token_ids
    assert _ids(best_of_n(strong, PROMPTS, SETTINGS, scorer, n=w * k, seed=2)) == _ids(search)


def test_search_raises_the_rule_score_over_base_sampling(strong, scorer):
    """The controlled check: with a tuned model that is an exact tilt toward the rule, steering raises the
    judged score (e's per character) well above the strong model's own samples; search beats best-of-n at
    the same number of samples per chunk (measured: base 0.016, best-of-8 0.079, search 0.136 e's per character)."""
    settings = GenerationSettings(max_new_tokens=16, temperature=1.0)

    def rate(generations) -> float:
        return float(np.mean([e_count(g.text) / max(1, len(g.text)) for g in generations]))

    base = rate(sample(strong, PROMPTS, settings, seed=0))
    search = rate(chunk_beam_search(strong, PROMPTS, settings, scorer, SearchParams(w=2, k=4, l=4), seed=0))
    bon = rate(best_of_n(strong, PROMPTS, settings, scorer, n=8, seed=0))
    assert search > base + 0.05 and bon > base + 0.02, (base, bon, search)
    assert search > bon


def test_the_search_never_re_encodes_a_prefix_and_holds_w_times_k_rows(strong, scorer):
    fed: list[tuple[int, int]] = []
    forward = strong.forward

    def counting_forward(input_ids, *args, **kwargs):
        fed.append(tuple(input_ids.shape))
        return forward(input_ids, *args, **kwargs)

    strong.forward = counting_forward
    params = SearchParams(w=2, k=3, l=4)
    chunk_beam_search(strong, PROMPTS[:2], SETTINGS, scorer, params, batch_size=12)
    prefill, steps = fed[0], fed[1:]
    assert prefill[0] == 2  # the two prompts, once
    assert all(n == 1 for _, n in steps) and max(rows for rows, _ in steps) <= 2 * params.width
    assert len(steps) <= SETTINGS.max_new_tokens


@pytest.mark.parametrize("method", ["search", "best_of_n", "sample"])
def test_rows_that_end_leave_the_batch_and_change_no_output(strong, scorer, method, monkeypatch):
    """Stop strings end most rows early: they leave the batch at once (the strong model is fed fewer rows), and
    every output is what the batch gives when ended rows stay in it (to the end of the search's chunk, of the
    sampling's batch); real runs on the offline ladder gave the same texts before and after rows could leave."""
    settings = GenerationSettings(max_new_tokens=14, temperature=0.8, top_p=0.9, until=("e", "a"))
    run = {"search": lambda: chunk_beam_search(strong, PROMPTS, settings, scorer, SearchParams(w=2, k=3, l=7), seed=3),
           "best_of_n": lambda: best_of_n(strong, PROMPTS, settings, scorer, n=6, seed=3),
           "sample": lambda: sample(strong, PROMPTS * 4, settings, seed=3)}[method]
    rows: list[int] = []
    forward = strong.forward

    def counting_forward(input_ids, *args, **kwargs):
        rows.append(int(input_ids.shape[0]))
        return forward(input_ids, *args, **kwargs)

    strong.forward = counting_forward
    compacted = run()
    fed_rows, rows[:] = list(rows), []
    fed_compacted = sum(fed_rows)
    monkeypatch.setattr("w2s_bench.generation.sampling.time_to_compact", lambda ended, held: False)
    kept = run()
    assert _ids(compacted) == _ids(kept)
    assert fed_compacted < sum(rows), (fed_rows, rows)


def test_eft_adds_the_pairs_log_ratio_to_the_strong_models_log_probabilities(untuned):
    tuned = tilted(untuned)
    # strong = untuned: log p_u + (log p_t - log p_u) is the tuned model, so EFT samples exactly as it does
    eft = emulated_finetuning(untuned, tuned, untuned, PROMPTS, SETTINGS, seed=4)
    assert _ids(eft) == _ids(sample(tuned, PROMPTS, SETTINGS, seed=4))
    # beta = 0 is the strong model's own sampling; the cached path equals the uncached reference
    assert _ids(emulated_finetuning(untuned, tuned, untuned, PROMPTS, SETTINGS, beta=0.0, seed=4)) == \
        _ids(sample(untuned, PROMPTS, SETTINGS, seed=4))
    reference = emulated_finetuning(untuned, tuned, untuned, PROMPTS, SETTINGS, beta=2.0, seed=4, use_cache=False)
    assert _ids(emulated_finetuning(untuned, tuned, untuned, PROMPTS, SETTINGS, beta=2.0, seed=4)) == _ids(reference)


def test_eft_refuses_models_with_different_vocabularies(strong, untuned):
    with pytest.raises(W2SError, match="does not share the vocabulary") as error:
        emulated_finetuning(strong, tilted(untuned), untuned, PROMPTS, SETTINGS)
    assert "w2s_search" in str(error.value)


@pytest.mark.parametrize("bad", [{"k": 0}, {"w": 0}, {"l": 0}, {"k": -2}, {"w": 1.5}, {"l": "5"}, {"k": True}])
def test_bad_search_parameters_are_clear_errors(bad):
    with pytest.raises(W2SError, match=f"{next(iter(bad))}=.* must be a positive integer"):
        SearchParams(**bad)


def test_bad_inputs_to_the_methods_are_clear_errors(strong, scorer, tiny_bert):
    with pytest.raises(W2SError, match="n=0"):
        best_of_n(strong, PROMPTS, SETTINGS, scorer, n=0)
    with pytest.raises(W2SError, match="not a causal LM"):
        chunk_beam_search(strong.model, PROMPTS, SETTINGS, scorer)
    with pytest.raises(W2SError, match="no scorer"):
        chunk_beam_search(strong, PROMPTS, SETTINGS, None)
    with pytest.raises(W2SError, match="2 seeds for 6 prompts"):
        chunk_beam_search(strong, PROMPTS, SETTINGS, scorer, seed=[1, 2])
    with pytest.raises(W2SError, match="beta"):
        emulated_finetuning(strong, strong, strong, PROMPTS, SETTINGS, beta=float("nan"))
    with pytest.raises(W2SError, match="not a causal language model"):
        load_causal_lm(tiny_bert)  # a non-causal strong model never reaches the search
