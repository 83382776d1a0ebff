"""The offline LM ladder (w2s_bench.generation.ladder / corpus): recipes, keys, deterministic builds, the aliases."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from w2s_bench.cli import main
from w2s_bench.generation import ladder
from w2s_bench.generation.corpus import CorpusSpec, build_corpus, corpus_spec, generated_documents
from w2s_bench.generation.lm import load_causal_lm
from w2s_bench.models import ALIASES
from w2s_bench.models.offline import MARKER
from w2s_bench.tasks.generators.sentiment_lexicon import NEGATIVE, POSITIVE, generate, split_of

TINY = ladder.Recipe("s", n_embd=32, n_layer=1, n_head=2, lr=3e-3, steps=6, batch_size=4, block_size=64, vocab_size=400)
TINY_CORPUS = CorpusSpec(documents=200, held_out_documents=20)


def _weights(folder: str | Path) -> bytes:
    return (Path(folder) / "model.safetensors").read_bytes()


def test_ls_models_lists_the_ladder_smallest_to_largest_without_building(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("W2S_BENCH_CACHE", str(tmp_path))
    assert main(["ls", "models"]) == 0
    out = capsys.readouterr().out
    assert all(f"offline-lm-{s}" in out for s in "sml") and "narrow corpus, not GPT-2" in out
    sizes = [ALIASES[f"offline-lm-{s}"].size for s in "sml"]
    assert sizes == sorted(sizes) and 1 < sizes[0] < 3 and 7 < sizes[1] < 13 and 25 < sizes[2] < 35
    assert not any(tmp_path.iterdir())  # listing builds nothing


def test_recipe_parameter_counts_match_the_architecture():
    from transformers import GPT2LMHeadModel

    for recipe in ladder.RECIPES.values():
        with torch.device("meta"):
            model = GPT2LMHeadModel(recipe.gpt2_config(eos_id=0))
        assert sum(p.numel() for p in model.parameters()) == recipe.num_parameters()


def test_tokenizer_training_is_deterministic_and_round_trips_any_text(tmp_path):
    from transformers import AutoTokenizer

    texts = generated_documents("train", 200, 0)
    first, second = ladder.train_tokenizer(texts, 400), ladder.train_tokenizer(texts, 400)
    assert first.get_vocab() == second.get_vocab()
    first.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    text = "Unseen words: café, naïve, 😀 and <br /> tags."  # byte-level: nothing is unknown
    assert loaded.decode(loaded(text)["input_ids"]) == text
    assert loaded.eos_token == loaded.bos_token == loaded.pad_token == ladder.EOS


def test_the_corpus_keeps_held_out_and_test_sentences_out_of_pretraining():
    train = generated_documents("train", 300, 0)
    held_out = generated_documents("validation", 100, 0)
    assert not set(train) & set(held_out)
    demo_test = [row["text"] for row in generate("test", 300, 0)]
    assert not any(sentence in doc for sentence in demo_test for doc in train)
    words = " ".join(train).lower()
    assert sum(w in words for w in POSITIVE[:20]) >= 15 and sum(w in words for w in NEGATIVE[:20]) >= 15


def test_a_mirror_adds_sst2_training_sentences_and_changes_the_key(tmp_path):
    folder = tmp_path / "stanfordnlp" / "sst2"
    folder.mkdir(parents=True)
    sentences = [f"a {adj} film number {i} ." for i, adj in enumerate(["charming", "dull", "moving", "tedious"] * 50)]
    (folder / "train.jsonl").write_text("".join(json.dumps({"sentence": s, "label": 0}) + "\n" for s in sentences))
    spec = corpus_spec(tmp_path, documents=50)
    assert spec.real_text is not None and corpus_spec("", documents=50).real_text is None
    corpus = build_corpus(replace(spec, held_out_documents=10))
    real = [d for d in corpus.train if d in sentences]
    assert corpus.sources == {"generated": 50, "sst2": len(real)} and real
    assert all(split_of(s) == "train" for s in real) and all(split_of(s) == "validation" for s in corpus.held_out["sst2"])
    assert ladder.build_key(TINY, spec) != ladder.build_key(TINY, corpus_spec("", documents=50))
    (folder / "train.jsonl").write_text("".join(json.dumps({"sentence": s}) + "\n" for s in sentences[1:]))
    assert ladder.build_key(TINY, corpus_spec(tmp_path, documents=50)) != ladder.build_key(TINY, spec)


def test_the_key_covers_recipe_corpus_and_code(monkeypatch):
    key = ladder.build_key(TINY, TINY_CORPUS)
    assert key == ladder.build_key(TINY, TINY_CORPUS)
    assert key != ladder.build_key(replace(TINY, lr=1e-3), TINY_CORPUS)
    assert key != ladder.build_key(replace(TINY, seed=1), TINY_CORPUS)
    assert key != ladder.build_key(TINY, replace(TINY_CORPUS, documents=201))
    monkeypatch.setattr(ladder, "builder_fingerprint", lambda: "edited")
    assert key != ladder.build_key(TINY, TINY_CORPUS)


def test_a_build_is_deterministic_complete_and_loadable(tmp_path):
    first = ladder.build(TINY, TINY_CORPUS, tmp_path / "a")
    second = ladder.build(TINY, TINY_CORPUS, tmp_path / "b")
    assert _weights(first) == _weights(second)
    assert (first / MARKER).is_file() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    info = ladder.read_info(first)
    assert info["parameters"] == TINY.num_parameters() and info["corpus"]["sources"] == {"generated": 200}
    assert info["held_out_perplexity"]["generated"] > 1 and info["training_tokens"] == 6 * 4 * 64
    lm = load_causal_lm(str(first))
    assert lm.context_length == 64 and lm.encode("x")[0] == lm.eos_id


def test_ladder_path_builds_on_first_use_then_reuses_the_folder(tmp_path, monkeypatch):
    monkeypatch.setitem(ladder.RECIPES, "s", TINY)
    monkeypatch.setattr(ladder, "corpus_spec", lambda data_dir, seed=0: TINY_CORPUS)
    path = ladder.ladder_path("s", data_dir="", cache_dir=tmp_path)
    assert Path(path).name.startswith("offline-lm-s-") and Path(path).parent == tmp_path / "models"
    monkeypatch.setattr(ladder, "build", lambda *a: pytest.fail("rebuilt a finished folder"))
    assert ladder.ladder_path("s", data_dir="", cache_dir=tmp_path) == path


# --------------------------------------------------------------------------------------------
# the real offline-lm-s (built once per session by the conftest fixture)


def _words(texts: list[str]) -> list[str]:
    return [w.strip(".,!?;:'").lower() for t in texts for w in t.split() if w.strip(".,!?;:'")]


@pytest.mark.slow
def test_offline_lm_s_builds_with_its_record_and_a_useful_perplexity(offline_lm_s):
    _, folder = offline_lm_s
    info = ladder.read_info(folder)
    recipe = ladder.RECIPES["s"]
    assert info["parameters"] == recipe.num_parameters() and info["recipe"]["steps"] == recipe.steps
    assert info["corpus"]["real_text"] is None and info["held_out_perplexity"]["generated"] < 12


@pytest.mark.slow
def test_offline_lm_s_samples_sentence_like_text(offline_lm_s):
    from w2s_bench.generation.sampling import GenerationSettings, sample

    lm = load_causal_lm(offline_lm_s[1])
    corpus_words = set(_words(generated_documents("train", 3000, 0)))
    prompts = ["The movie was", "I went to the hotel with my sister.", "Honestly, the", "We took the train to the"] * 4
    outputs = [g.text for g in sample(lm, prompts, GenerationSettings(max_new_tokens=24, temperature=0.8), seed=0)]
    words = _words(outputs)
    assert len(words) > 60 and sum(w in corpus_words for w in words) / len(words) > 0.9
    assert sum("." in text for text in outputs) >= 12  # most samples end a sentence within 24 tokens


@pytest.mark.slow
def test_sft_on_positive_continuations_shifts_offline_lm_s_samples(offline_lm_s):
    """The signal the generation family needs: after SFT on positive continuations of some prompts, the
    model continues other prompts positively more often."""
    from w2s_bench.generation.sampling import GenerationSettings, sample
    from w2s_bench.generation.sft import sft
    from w2s_bench.train import TrainConfig

    lm = load_causal_lm(offline_lm_s[1])
    positive, negative = set(POSITIVE), set(NEGATIVE)
    train_subjects, test_subjects = ["movie", "hotel", "meal", "concert", "book", "trip"], ["film", "restaurant", "album"]
    prompts = [f"The {s} was" for s in train_subjects for _ in range(4)]
    continuations = [f" {adj}." for adj in POSITIVE[:24]]
    settings = GenerationSettings(max_new_tokens=8, temperature=1.0, until=("\n",))

    def positive_rate() -> float:
        outputs = sample(lm, [f"The {s} was" for s in test_subjects for _ in range(20)], settings, seed=0)
        polar = [w for w in _words([g.text for g in outputs]) if w in positive | negative]
        return sum(w in positive for w in polar) / max(1, len(polar))

    before = positive_rate()
    sft(lm, prompts, continuations, TrainConfig(lr=1e-3, epochs=0, min_steps=30, batch_size=8, device="cpu"))
    after = positive_rate()
    assert after > before + 0.25 and after > 0.8


@pytest.mark.slow
def test_offline_lm_s_rebuilds_bit_identically(offline_lm_s, tmp_path):
    again = ladder.ladder_path("s", data_dir="", cache_dir=tmp_path)
    assert Path(again).name == Path(offline_lm_s[1]).name and _weights(again) == _weights(offline_lm_s[1])


@pytest.mark.slow
def test_classification_runs_with_offline_lm_s_as_the_strong_model(offline_lm_s, monkeypatch):
    from w2s_bench import run

    monkeypatch.setenv("W2S_BENCH_CACHE", str(offline_lm_s[0]))
    monkeypatch.delenv("W2S_BENCH_DATA_DIR", raising=False)
    records = run(tasks=["w2s_demo_sentiment"], weak=["tfidf"], strong=["offline-lm-s"], limit=60, n_resamples=50,
                  strong_args={"pooling": "last", "epochs": 1, "min_steps": 4})
    (record,) = records
    assert record.config.strong_model["path"] == offline_lm_s[1]
    assert 0 <= record.metrics["ceiling_acc"] <= 1 and 0 <= record.metrics["w2s_acc"] <= 1


def test_a_run_s_data_dir_reaches_providers_that_declare_it(monkeypatch):
    from w2s_bench.evaluator import RunConfig, _Models
    from w2s_bench.models.registry import ModelSpec, fetch

    seen = []

    def provider(data_dir=None):
        seen.append(data_dir)
        return f"/models/{data_dir}"

    spec = ModelSpec("built-from-a-mirror", "hf", provider, offline=True)
    assert fetch(spec, data_dir="mirror") == "/models/mirror" and fetch(spec) == "/models/None"
    assert fetch(ModelSpec("plain", "hf", lambda: "/models/plain", offline=True), data_dir="mirror") == "/models/plain"
    monkeypatch.setitem(ALIASES, spec.name, spec)
    assert _Models._spec(spec.name, {}, RunConfig(data_dir="/data"), "--strong_args").path == "/models//data"
    assert seen[-1] == "/data"
