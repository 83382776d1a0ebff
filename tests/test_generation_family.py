"""The generation family: task schema, judges, the generative protocol in the run loop, records, caching."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from w2s_bench.errors import W2SError
from w2s_bench.evaluator import plan_sweep, run_sweep
from w2s_bench.generation.judges import JudgeContext, make_judge
from w2s_bench.records import GenerationSample, RunRecord, read_results, read_samples
from w2s_bench.tasks import TaskRegistry
from w2s_bench.tasks.config import parse_task_config

POSITIVE = "good|great|excellent|nice|wonderful|amazing|fantastic|lovely|perfect|awesome|beautiful|brilliant"
BASE = {"task": "t", "dataset_path": "generator:sentiment_prompts", "dataset_kwargs": {"splits": {"train": 200, "test": 40}},
        "training_split": "train", "test_split": "test", "output_type": "generate_until", "doc_to_text": "{{ prompt }}",
        "doc_to_target": "{{ continuation }}", "doc_to_id": "{{ id }}", "metadata": {"version": 1},
        "generation_kwargs": {"max_new_tokens": 8}, "judge": {"type": "rule", "regex": rf"\b({POSITIVE})\b"}}


def _write_task(folder: Path, name: str, **fields) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(json.dumps({**BASE, "task": name, **fields}))  # JSON is YAML
    return path


# -- bad input: each a clear error before any training --------------------------------------------------
def test_a_generation_task_without_a_judge_is_an_error():
    with pytest.raises(W2SError, match="needs a judge") as error:
        parse_task_config({k: v for k, v in BASE.items() if k != "judge"}, "t.yaml")
    assert error.value.where == "t.yaml: judge"


@pytest.mark.parametrize(("judge", "message"), [
    ({"type": "oracle"}, "unknown judge type"),
    ({"type": "rule"}, "exactly one of regex and expression"),
    ({"type": "rule", "regex": "a", "expression": "{{ 1 }}"}, "exactly one of regex and expression"),
    ({"type": "rule", "regex": "("}, "invalid regular expression"),
    ({"type": "classifier", "task": "sst2"}, "needs class"),
    ({"type": "classifier", "task": "sst2", "class": "positive", "modle": "tfidf"}, "unknown key 'modle'"),
])
def test_bad_judge_blocks_are_errors_when_the_task_file_is_read(judge, message):
    with pytest.raises(W2SError, match=message):
        parse_task_config({**BASE, "judge": judge}, "t.yaml")


def test_a_judge_or_generation_kwargs_on_a_classification_task_is_an_error():
    config = {**BASE, "output_type": "classification", "doc_to_choice": ["a", "b"]}
    with pytest.raises(W2SError, match="only applies to generate_until"):
        parse_task_config(config, "t.yaml")
    with pytest.raises(W2SError, match="unknown generation setting 'max_tokens'"):
        parse_task_config({**BASE, "generation_kwargs": {"max_tokens": 3}}, "t.yaml")


def test_a_judge_task_that_is_not_a_classification_task_is_an_error():
    judge = make_judge({"type": "classifier", "task": "hh_rlhf_harmless", "class": "chosen"}, "t.yaml: judge")
    with pytest.raises(W2SError, match="is a pairwise_preference task, not a classification task"):
        judge.check(JudgeContext())


def test_a_judge_class_the_task_lacks_is_an_error():
    judge = make_judge({"type": "classifier", "task": "w2s_demo_sentiment", "class": "positve"}, "t.yaml: judge")
    with pytest.raises(W2SError, match="has no class 'positve'") as error:
        judge.check(JudgeContext())
    assert "positive" in error.value.fix


def test_the_judge_model_is_never_a_judged_model():
    judge = make_judge({"type": "classifier", "task": "w2s_demo_sentiment", "class": "positive", "model": "x"}, "j")
    with pytest.raises(W2SError, match="is also a model it judges"):
        judge.check(JudgeContext(judged_models=("x", "y")))


def test_a_non_causal_model_as_generator_is_an_error_before_training(tmp_path, tiny_bert, tiny_lm_factory):
    task = _write_task(tmp_path, "gen_bad_model")
    for weak, strong, culprit in ((tiny_lm_factory(), tiny_bert, "--strong"), ("tfidf", tiny_lm_factory(), "--weak")):
        with pytest.raises(W2SError, match="cannot generate text") as error:
            plan_sweep(tasks=["gen_bad_model"], weak=[weak], strong=[strong], include_paths=[str(task)], limit=8,
                       cache_dir=str(tmp_path / "cache"))
        assert error.value.where.startswith(culprit)


def test_a_method_for_another_family_is_an_error_and_ls_says_which(tmp_path, tiny_lm_factory, capsys):
    task = _write_task(tmp_path, "gen_bad_method")
    lm = tiny_lm_factory()
    with pytest.raises(W2SError, match="supports classification tasks, and 'gen_bad_method' is a generation task"):
        plan_sweep(tasks=["gen_bad_method"], weak=[lm], strong=[lm], methods=["logconf"], include_paths=[str(task)],
                   limit=8, cache_dir=str(tmp_path / "cache"))
    from w2s_bench.cli import main

    assert main(["ls", "methods"]) == 0
    listing = capsys.readouterr().out
    assert "generation" in listing and "classification" in listing


# -- judges ------------------------------------------------------------------------------------------------
def test_rule_judges_score_regex_matches_and_sandboxed_expressions():
    regex = make_judge({"type": "rule", "regex": r"\bgood\b"})
    assert list(regex.score(["p", "p"], ["a good day", "goodness"], JudgeContext())) == [1.0, 0.0]
    expression = make_judge({"type": "rule", "expression": "{{ output | length > prompt | length }}"})
    assert list(expression.score(["ab", "abc"], ["abc", "a"], JudgeContext())) == [1.0, 0.0]
    with pytest.raises(W2SError, match="refused by the template sandbox|private"):
        make_judge({"type": "rule", "expression": "{{ output.__class__ }}"})


def test_a_classifier_judge_is_trained_on_ground_truth_and_reports_its_test_accuracy(tmp_path):
    from w2s_bench.cache import ArtefactStore

    judge = make_judge({"type": "classifier", "task": "w2s_demo_sentiment", "class": "positive", "limit": 300})
    context = JudgeContext(store=ArtefactStore(tmp_path))
    info = judge.describe(context)
    assert info["identity"]["task"] == "w2s_demo_sentiment" and info["identity"]["model"]["name"] == "tfidf"
    assert 0.55 < info["test_acc"] <= 1.0
    scores = judge.score(["", ""], ["The meal was wonderful and lovely.", "The meal was awful and dreadful."], context)
    assert scores[0] > 0.5 > scores[1]


# -- the protocol in the run loop -------------------------------------------------------------------------
def _tiny_run(tmp_path: Path, lm: str, cache: Path, **overrides):
    task = _write_task(tmp_path, "gen_tiny", judge={"type": "classifier", "task": "w2s_demo_sentiment",
                                                   "class": "positive", "limit": 200})
    settings = {"epochs": 1, "min_steps": 4, "batch_size": 8, "lr": 1e-3}
    return run_sweep(tasks=["gen_tiny"], weak=[lm], strong=[lm], include_paths=[str(task)], limit=12,
                     cache_dir=str(cache), weak_args=settings, strong_args=settings, n_resamples=50, **overrides)


@pytest.mark.slow  # three protocol runs of a tiny LM: about 30 s on 2 idle cores, minutes on a busy machine
def test_a_generation_run_is_deterministic_records_and_samples_and_a_rerun_reuses_every_lm_and_the_judge(
        tmp_path, tiny_lm_factory, monkeypatch):
    lm = tiny_lm_factory()
    first = _tiny_run(tmp_path, lm, tmp_path / "cache", output_path=str(tmp_path / "out"))
    record = first.records[0]
    assert isinstance(record, RunRecord) and record.kind == "generation", record
    for key in ("weak_score", "ceiling_score", "w2s_score", "base_score", "pgr", "pgr_ci", "pgr_flag",
                "w2s_distinct_1", "w2s_distinct_2", "base_ppl", "ceiling_length"):
        assert key in record.metrics
    assert record.config.judge.identity["task"] == "w2s_demo_sentiment" and record.config.judge.test_acc > 0.5
    for step in ("weak", "ceiling", "w2s"):  # the fits' logs carry what classification records carry
        log = record.training[step]
        assert log.steps >= 4 and log.micro_batch_size == 8 and log.precision == "float32", (step, log)
    assert {"gen_weak computed", "gen_ceiling computed", "gen_w2s computed", "gen_base computed", "judge computed",
            "gen_judged computed"} <= set(first.store_counts)

    # the written records read back, and the metrics recompute from the sample rows
    records = read_results(tmp_path / "out")
    rows = read_samples(tmp_path / "out", records[0])
    assert len(rows) == record.metrics["n_test"] and all(isinstance(r, GenerationSample) for r in rows)
    for model in ("weak", "ceiling", "w2s", "base"):
        assert record.metrics[f"{model}_score"] == pytest.approx(np.mean(GenerationSample.scores(rows, model)))

    # a second run: nothing trained (no LM, no judge), identical numbers
    from w2s_bench.generation import judges

    monkeypatch.setattr(judges.ClassifierJudge, "_trained", lambda *a: pytest.fail("the judge was trained again"))
    second = _tiny_run(tmp_path, lm, tmp_path / "cache")
    assert not [k for k in second.store_counts if k.endswith("computed")], second.store_counts
    assert second.records[0].metrics == record.metrics
    assert second.samples[record.key] == first.samples[record.key]

    # another cache: everything computed again, to the same texts and scores (deterministic for a seed)
    monkeypatch.undo()
    third = _tiny_run(tmp_path, lm, tmp_path / "elsewhere")
    assert third.samples[record.key] == first.samples[record.key]


@pytest.fixture(scope="module")
def signal_run(tmp_path_factory, offline_lm_s):
    """The controlled check's run, built to have a signal. The judge is a rule: "contains a word of the
    sentiment lexicon's positive list", the words the gold continuations are written with. Weak and strong
    start from the same pretrained LM (offline-lm-s, which barely writes such words: base ~0.08); the weak
    supervisor is weak by its training budget (one epoch at lr 6e-5 on train_a's gold), the ceiling and the
    student get three epochs at lr 1e-3 (on train_b's gold, and on the weak demonstrations)."""
    from w2s_bench.tasks.generators.sentiment_lexicon import POSITIVE as POSITIVE_WORDS

    root, strong = offline_lm_s
    folder = tmp_path_factory.mktemp("gen_signal")
    task = _write_task(folder, "gen_signal", generation_kwargs={"max_new_tokens": 12, "temperature": 0.7},
                       judge={"type": "rule", "regex": rf"\b({'|'.join(POSITIVE_WORDS)})\b"})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("W2S_BENCH_CACHE", str(root))
        sweep = run_sweep(tasks=["gen_signal"], weak=[strong], strong=[strong], include_paths=[str(task)], limit=60,
                          cache_dir=str(folder / "cache"), weak_args={"lr": 6e-5, "epochs": 1, "batch_size": 8, "min_steps": 60},
                          strong_args={"lr": 1e-3, "epochs": 3, "batch_size": 8, "min_steps": 60}, n_resamples=200,
                          all_pairs=True)
    return sweep.records[0].metrics


@pytest.mark.slow
def test_sft_on_gold_and_on_weak_demonstrations_raises_the_judged_score(signal_run):
    """Measured (2026-12-01): base 0.075, weak 0.425, ceiling 0.675, w2s 0.500 on 40 test prompts."""
    m = signal_run
    assert m["weak_score"] > m["base_score"] + 0.2, m  # SFT on gold lifts the weak LM
    assert m["ceiling_score"] > m["weak_score"] + 0.1, m  # the stronger training budget shows
    assert m["w2s_score"] > m["base_score"] + 0.2, m  # the weak demonstrations carry the behaviour to the student


@pytest.mark.slow
@pytest.mark.xfail(reason="not robust at this size (issue 15): w2s lands between weak and ceiling with the weak LM's "
                          "lr 6e-5 (weak 0.425, w2s 0.500, ceiling 0.675), above the ceiling with lr 2e-4 (0.65, 0.80, "
                          "0.675) and below the weak LM with lr 1e-4 (0.525, 0.45, 0.675): on 40 test prompts the "
                          "student's gain over its supervisor is within the noise (s.e. ~0.08)", strict=False)
def test_w2s_lands_between_weak_and_ceiling(signal_run):
    m = signal_run
    assert m["weak_score"] < m["w2s_score"] < m["ceiling_score"], m


def test_the_shipped_generation_tasks_parse_and_name_their_judges():
    registry = TaskRegistry.discover()
    for name, judge_task in (("sentiment_continuation", "w2s_demo_sentiment"), ("imdb_continuation", "sst2"),
                             ("nontoxic_continuation", "jigsaw_toxicity")):
        task = registry.get(name)
        assert task.config.kind == "generation" and judge_task in task.judge.tasks
    loaded = registry.get("sentiment_continuation").load(seed=0, limit=20)
    assert loaded.splits.sizes() == {"train_a": 20, "val_a": 0, "train_b": 20, "val_b": 0, "test": 20}
    test_prompts = {d.prompt for d in loaded.splits.test}
    assert not test_prompts & {d.prompt for d in (*loaded.splits.train_a, *loaded.splits.train_b)}
    assert loaded.splits.test[0].gold.startswith(" ")  # a continuation: it follows the prompt after a space


def test_a_tasks_split_limit_is_its_default_limit_and_the_command_line_replaces_it(tmp_path):
    from w2s_bench.generation.task import GenerationTask
    from w2s_bench.tasks.config import load_task_config

    task = GenerationTask(load_task_config(_write_task(tmp_path, "gen_sized", split={"limit": 15})))
    assert task.load(seed=0).splits.sizes() == {"train_a": 15, "val_a": 0, "train_b": 15, "val_b": 0, "test": 15}
    assert task.load(seed=0, limit=25).splits.sizes()["test"] == 25  # --limit replaces it, also upwards
    unsized = GenerationTask(load_task_config(_write_task(tmp_path, "gen_unsized")))
    assert unsized.load(seed=0).splits.sizes()["test"] == 40  # no split.limit: every test row
    other = tmp_path / "other"
    other.mkdir()
    same_name = GenerationTask(load_task_config(_write_task(other, "gen_sized")))
    assert same_name.config_hash() != task.config_hash()  # the default size is part of the task's identity


def test_confident_keeps_the_demonstrations_the_weak_model_was_most_sure_of():
    from types import SimpleNamespace

    from w2s_bench.generation.protocol import Written
    from w2s_bench.generation.task import Demo
    from w2s_bench.methods import get_method

    written = Written({"train_b": ["a", "b", "c", "d"], "test": []}, 0.0,
                      info={"train_b_confidence": [-1.0, -3.0, None, -0.5]})
    protocol = SimpleNamespace(weak=lambda model: written,
                               splits=SimpleNamespace(train_b=[Demo(str(i), f"p{i}", "") for i in range(4)]))
    method = get_method("confident(keep=0.5)")
    prompts, demos, info = method.demonstrations(protocol, "weak")
    assert (prompts, demos) == (["p0", "p3"], ["a", "d"]) and (info["kept"], info["offered"]) == (2, 4)
    assert method.families == ("generation",)
    with pytest.raises(W2SError, match="must be a fraction"):
        get_method("confident(keep=0)")


def test_quality_guards_on_hand_made_outputs():
    from w2s_bench.metrics import generation as gen

    assert gen.distinct_n(["a b a b", "a b"], 1) == pytest.approx(2 / 6)
    assert gen.distinct_n(["a b a b", "a b"], 2) == pytest.approx(2 / 4)  # "a b", "b a", "a b" | "a b"
    assert gen.distinct_n(["a", ""], 2) is None
    assert gen.perplexity(np.array([-2.0, -4.0]), np.array([1, 2])) == pytest.approx(np.exp(2.0))
    assert gen.mean_words(["one two", "three"]) == 1.5
    assert gen.below_half_rate(np.array([0.2, 0.5, 0.9, 0.4])) == 0.5
