"""The search methods (w2s_search, best_of_n, eft) in the run loop: CLI to records, the tuned weak LM as a
stored artefact, PGR from the untuned strong LM, the win rate, and bad input as one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from w2s_bench.cli import main
from w2s_bench.evaluator import run_sweep
from w2s_bench.methods import get_method
from w2s_bench.methods.base import split_method_list
from w2s_bench.records import GenerationSample, RunRecord, read_results, read_samples

# the judge: the share of e's in the output (graded, so the scores are not all 0 or 1 on random-init LMs)
E_RATE = "{{ output.count('e') / ((output | length) + 1) }}"
TASK = {"task": "gen_search", "dataset_path": "generator:sentiment_prompts",
        "dataset_kwargs": {"splits": {"train": 100, "test": 20}}, "training_split": "train", "test_split": "test",
        "output_type": "generate_until", "doc_to_text": "{{ prompt }}", "doc_to_target": "{{ continuation }}",
        "doc_to_id": "{{ id }}", "metadata": {"version": 1}, "generation_kwargs": {"max_new_tokens": 8},
        "judge": {"type": "rule", "expression": E_RATE}}
TRAIN = "epochs=1,min_steps=4,batch_size=8,lr=1e-3"
METHODS = "naive,w2s_search(w=2,k=2,l=4),w2s_search(w=1,k=1,l=4),best_of_n(n=4),eft"


@pytest.fixture
def task_file(tmp_path: Path) -> Path:
    path = tmp_path / "gen_search.yaml"
    path.write_text(json.dumps(TASK))  # JSON is YAML
    return path


def _cli(task_file: Path, weak: str, strong: str, methods: str, cache: Path, *extra: str) -> int:
    return main(["--tasks", "gen_search", "--include_path", str(task_file), "--weak", weak, "--strong", strong,
                 "--methods", methods, "--limit", "8", "--weak_args", TRAIN, "--strong_args", TRAIN,
                 "--n_resamples", "50", "--use_cache", str(cache), "--quiet", *extra])


def test_the_methods_parse_with_the_papers_defaults_and_declare_generation_and_the_base_floor():
    search = get_method("w2s_search(w=4,k=4,l=10)")
    assert search.params == {"w": 4, "k": 4, "l": 10} and search.name == "w2s_search(w=4,k=4,l=10)"
    assert get_method("w2s_search").params == {"w": 4, "k": 4, "l": 5}  # SearchParams' defaults
    assert get_method("best_of_n").params == {"n": 16} and get_method("eft").params == {"beta": 1.0}
    for name in ("w2s_search", "best_of_n", "eft"):
        method = get_method(name)
        assert method.families == ("generation",) and method.pgr_floor == "base"
    assert get_method("naive").pgr_floor == "weak"


def test_ls_methods_lists_them_with_their_family(capsys):
    assert main(["ls", "methods"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in ("w2s_search", "best_of_n", "eft"):
        assert any(name in line and "generation" in line for line in lines), name


@pytest.mark.slow  # five cells on two tiny LMs, two runs: about 40 s on a busy 2-core machine
def test_search_methods_run_through_the_cli_into_records_and_a_rerun_trains_nothing(tmp_path, task_file,
                                                                                     tiny_lm_factory, monkeypatch):
    weak, strong = tiny_lm_factory(32, 1), tiny_lm_factory(32, 2)
    cache, out = tmp_path / "cache", tmp_path / "out"
    assert _cli(task_file, weak, strong, METHODS, cache, "--output_path", str(out)) == 0
    records = {r.method: r for r in read_results(out)}
    assert all(isinstance(r, RunRecord) for r in records.values()), records
    naive, search = records["naive"], records["w2s_search(w=2,k=2,l=4)"]
    for method, record in records.items():
        m, rows = record.metrics, read_samples(out, record)
        scores = {model: GenerationSample.scores(rows, model) for model in ("weak", "ceiling", "w2s", "base")}
        floor = "weak" if method == "naive" else "base"
        assert m["pgr_floor"] == floor, method
        # PGR's gap starts from the method's floor; the win rate is w2s against base, ties half
        assert m["gap"] == pytest.approx(scores["ceiling"].mean() - scores[floor].mean())
        if m["pgr"] is not None:
            assert m["pgr"] == pytest.approx((scores["w2s"].mean() - scores[floor].mean()) / m["gap"])
        else:
            assert m["pgr_flag"]
        wins = np.mean([1.0 if w > b else 0.5 if w == b else 0.0 for w, b in zip(scores["w2s"], scores["base"], strict=True)])
        assert m["win_rate"] == pytest.approx(wins)
        for model, values in scores.items():
            assert m[f"{model}_score"] == pytest.approx(values.mean())
        # every method's weak row is the tuned small LM alone, base and ceiling are shared: the same artefacts
        for step in ("weak", "base", "ceiling"):
            assert record.artefacts[step].key == naive.artefacts[step].key
    assert search.training["w2s"] is None and search.supervision.kept == 0  # the strong LM is frozen
    assert naive.training["w2s"] is not None
    # one candidate per prompt is the strong LM's own sampling: exactly the base row, prompt by prompt
    rows = read_samples(out, records["w2s_search(w=1,k=1,l=4)"])
    assert [r.outputs["w2s"] for r in rows] == [r.outputs["base"] for r in rows]
    assert records["w2s_search(w=1,k=1,l=4)"].metrics["win_rate"] == 0.5
    # the search steered the strong LM: its outputs are not the base ones everywhere
    assert any(r.outputs["w2s"] != r.outputs["base"] for r in read_samples(out, search))

    # a rerun, with the search's texts removed from the store and a new search variant: nothing is trained
    # again, the tuned weak LM is read from the store, and the search writes what it wrote with it in memory
    from w2s_bench.generation import protocol

    (cache / "gen_w2s" / f"{search.artefacts['w2s'].key}.safetensors").unlink()
    monkeypatch.setattr(protocol, "sft", lambda *a, **k: pytest.fail("an LM was trained again"))
    again = run_sweep(tasks=["gen_search"], include_paths=[str(task_file)], weak=[weak], strong=[strong],
                      methods=[*split_method_list(METHODS)[:2], "w2s_search(w=2,k=2,l=3)"], limit=8, n_resamples=50,
                      cache_dir=str(cache), weak_args={"epochs": 1, "min_steps": 4, "batch_size": 8, "lr": 1e-3},
                      strong_args={"epochs": 1, "min_steps": 4, "batch_size": 8, "lr": 1e-3})
    computed = {k for k in again.store_counts if k.endswith("computed")}
    assert computed <= {"gen_w2s computed", "gen_judged computed"}, again.store_counts
    assert again.store_counts["gen_w2s computed"] == 2 and again.store_counts["gen_tuned reused"] == 1
    metrics = {r.method: r.metrics for r in again.records}
    assert metrics["naive"] == naive.metrics and metrics[search.method] == search.metrics
    assert again.samples[search.key] == read_samples(out, search)


def _other_vocabulary_lm(folder: Path) -> str:
    """A tiny GPT-2 whose BPE vocabulary differs from tiny_lm_factory's (another corpus seed and size)."""
    import torch
    from transformers import GPT2LMHeadModel

    from w2s_bench.generation.corpus import generated_documents
    from w2s_bench.generation.ladder import Recipe, train_tokenizer

    tokenizer = train_tokenizer(generated_documents("train", 300, 1), 260)
    recipe = Recipe("other", n_embd=32, n_layer=1, n_head=2, lr=1e-3, steps=0, vocab_size=len(tokenizer), block_size=96)
    torch.manual_seed(0)
    GPT2LMHeadModel(recipe.gpt2_config(tokenizer.eos_token_id)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def _one_line_error(capsys, *expected: str) -> None:
    """One ``error ...`` line (with its fix below it) holding each expected text, and no traceback."""
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error ")]
    assert "Traceback" not in err and len(errors) == 1, err
    for text in expected:
        assert text in errors[0], err


@pytest.mark.parametrize(("spec", "message"), [("w2s_search(k=0)", "k=0 must be a positive integer"),
                                               ("best_of_n(n=0)", "n=0 must be a positive integer"),
                                               ("w2s_search(w=two)", "w='two' is not an integer"),
                                               ("eft(beta=nan)", "beta='nan' is not a finite number")])
def test_bad_search_parameters_are_one_line_errors(tmp_path, task_file, tiny_lm_factory, capsys, spec, message):
    lm = tiny_lm_factory()
    assert _cli(task_file, lm, lm, spec, tmp_path / "cache") == 2
    _one_line_error(capsys, message)


def test_eft_with_mismatched_vocabularies_fails_at_planning_before_any_training(tmp_path, task_file, tiny_lm_factory,
                                                                                 capsys, monkeypatch):
    from w2s_bench.generation import protocol

    monkeypatch.setattr(protocol, "sft", lambda *a, **k: pytest.fail("trained before the check"))
    other = _other_vocabulary_lm(tmp_path / "other")
    strong = tiny_lm_factory()
    capsys.readouterr()
    assert _cli(task_file, other, strong, "eft", tmp_path / "cache") == 2
    err = capsys.readouterr().err
    assert "fix: use a small pair of the strong model's family" in err and "w2s_search" in err
    assert "error --methods eft (--weak" in err and "does not share the vocabulary" in err and "Traceback" not in err
    # the same pair is fine for the methods that score text (planned without error: --dry_run)
    assert _cli(task_file, other, strong, "w2s_search,best_of_n", tmp_path / "cache", "--dry_run") == 0
    plan = capsys.readouterr().out
    assert "gen_tuned" in plan and "gen_w2s" in plan  # the plan counts the generation steps, the tuned LM too


def test_a_search_method_on_a_classification_task_is_a_one_line_error(tmp_path, keyword_task, capsys):
    data, task = keyword_task
    code = main(["--tasks", "keywords", "--include_path", str(task), "--data_dir", str(data), "--weak", "tfidf",
                 "--strong", "tfidf", "--all_pairs", "--methods", "w2s_search", "--use_cache", str(tmp_path / "c"),
                 "--quiet"])
    assert code == 2
    _one_line_error(capsys, "supports generation tasks", "is a classification task")


def test_a_non_causal_strong_model_is_a_one_line_error(tmp_path, task_file, tiny_lm_factory, tiny_bert, capsys):
    assert _cli(task_file, tiny_lm_factory(), tiny_bert, "w2s_search", tmp_path / "cache") == 2
    _one_line_error(capsys, "cannot generate text", "--strong")


def test_a_schema_4_generation_record_reads_with_the_weak_floor_and_no_win_rate(tmp_path):
    """Version 4 had no search methods (PGR always from the weak model) and no win rate."""
    from w2s_bench.records import SCHEMA_VERSION
    from w2s_bench.records.reader import parse_record

    metrics = {f"{m}_{name}": 0.5 for m in ("weak", "ceiling", "w2s", "base") for name in ("score", "distinct_1",
                                                                                            "distinct_2", "ppl", "length")}
    metrics.update({f"{m}_score_ci": [0.4, 0.6] for m in ("weak", "ceiling", "w2s")})
    metrics.update({"n_test": 8, "pgr": None, "pgr_ci": None, "pgr_flag": "gap_too_small", "gap": 0.0, "gap_ci": [0.0, 0.0]})
    v4 = {"schema_version": 4, "kind": "generation", "key": "k", "task": "t", "weak": "a", "strong": "b",
          "method": "naive", "seed": 0, "status": "ok", "metrics": metrics,
          "config": {"task": "t", "task_version": "1", "task_hash": "h", "weak_model": {}, "strong_model": {},
                     "method": "naive", "method_params": {}, "seed": 0, "limit": 8, "n_resamples": 50, "min_gap": 0.01,
                     "task_metrics": [], "judge": {"identity": {"type": "rule"}, "test_acc": None}},
          "data": {"origin": "generated", "fingerprint": "f",
                   "sizes": {"train_a": 8, "val_a": 0, "train_b": 8, "val_b": 0, "test": 8}},
          "supervision": {"kind": "demonstrations", "kept": 8, "offered": 8}, "training": {}, "artefacts": {},
          "seconds": {}, "provenance": {"versions": {}, "python": "3", "platform": "p",
                                        "git": {"commit": None, "dirty": None},
                                        "hardware": {"cpu": "c", "cpu_count": 2, "memory_gb": None, "gpus": [],
                                                     "torch_threads": 1}, "created": "now"}}
    record = parse_record(v4)
    assert record.schema_version == SCHEMA_VERSION == 5
    assert record.metrics["pgr_floor"] == "weak" and record.metrics["win_rate"] is None
    with pytest.raises(Exception, match="metrics.pgr_floor"):
        parse_record({**v4, "schema_version": 5})  # a version 5 record must say its floor


@pytest.mark.slow  # two search cells on tiny LMs: about 20 s on 2 idle cores
def test_a_named_tuned_model_steers_the_search_in_place_of_the_harness_tuned_one(tmp_path, task_file, tiny_lm_factory):
    from w2s_bench.generation.lm import load_causal_lm
    from w2s_bench.generation.search import LogRatioScorer, SearchParams, chunk_beam_search
    from w2s_bench.generation.settings import GenerationSettings

    weak, strong, tuned = tiny_lm_factory(32, 1), tiny_lm_factory(32, 2), tiny_lm_factory(48, 1)
    named = f"w2s_search(w=2,k=2,l=4,tuned={tuned})"
    out = tmp_path / "out"
    assert _cli(task_file, weak, strong, f"w2s_search(w=2,k=2,l=4),{named}", tmp_path / "cache",
                "--output_path", str(out)) == 0
    records = {r.method: r for r in read_results(out)}
    own, steered = records["w2s_search(w=2,k=2,l=4)"], records[named]
    assert steered.artefacts["w2s"].key != own.artefacts["w2s"].key
    assert steered.artefacts["weak"].key == own.artefacts["weak"].key  # the weak row stays the harness's tuned LM
    # the search with the named pair, called directly with the run's seed, writes what the run wrote
    rows = read_samples(out, steered)
    expected = chunk_beam_search(load_causal_lm(strong), [r.prompt for r in rows], GenerationSettings(max_new_tokens=8),
                                 LogRatioScorer(load_causal_lm(tuned), load_causal_lm(weak)), SearchParams(2, 2, 4), seed=0)
    assert [r.outputs["w2s"] for r in rows] == [g.text for g in expected]
    assert [r.outputs["w2s"] for r in rows] != [r.outputs["w2s"] for r in read_samples(out, own)]


def test_a_named_tuned_model_is_checked_while_the_sweep_is_planned(tmp_path, task_file, tiny_lm_factory, tiny_bert,
                                                                   capsys, monkeypatch):
    from w2s_bench.generation import protocol

    monkeypatch.setattr(protocol, "sft", lambda *a, **k: pytest.fail("trained before the check"))
    lm = tiny_lm_factory()
    assert _cli(task_file, lm, lm, f"best_of_n(n=2,tuned={tiny_bert})", tmp_path / "cache") == 2
    _one_line_error(capsys, "cannot generate text", f"tuned={tiny_bert}")
    other = _other_vocabulary_lm(tmp_path / "other")
    assert _cli(task_file, lm, lm, f"eft(tuned={other})", tmp_path / "cache") == 2
    _one_line_error(capsys, "does not share the vocabulary", repr(other))
