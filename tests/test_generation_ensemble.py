"""The weak ensemble on generation tasks: per prompt, one of several tuned weak LMs' demonstrations, chosen by
agreement or by mean likelihood; members as stored steps; bad combinations as errors before training."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from w2s_bench.errors import W2SError
from w2s_bench.evaluator import plan_sweep, run_sweep
from w2s_bench.generation.combine import choose_by_agreement, choose_by_likelihood, unigram_f1
from w2s_bench.generation.task import Demo
from w2s_bench.methods import get_method

TASK = {"task": "gen_ens", "dataset_path": "generator:sentiment_prompts",
        "dataset_kwargs": {"splits": {"train": 100, "test": 20}}, "training_split": "train", "test_split": "test",
        "output_type": "generate_until", "doc_to_text": "{{ prompt }}", "doc_to_target": "{{ continuation }}",
        "doc_to_id": "{{ id }}", "metadata": {"version": 1}, "generation_kwargs": {"max_new_tokens": 8},
        "judge": {"type": "rule", "expression": "{{ output.count('e') / ((output | length) + 1) }}"}}
SETTINGS = {"epochs": 1, "min_steps": 4, "batch_size": 8, "lr": 1e-3}


@pytest.fixture
def task_file(tmp_path: Path) -> Path:
    path = tmp_path / "gen_ens.yaml"
    path.write_text(json.dumps(TASK))
    return path


def test_unigram_f1_and_the_two_choices_on_hand_made_candidates():
    assert unigram_f1("The food was great", "the food was great indeed") == pytest.approx(2 * 1 * 0.8 / 1.8)
    assert unigram_f1("", "") == 1.0 and unigram_f1("a", "") == 0.0 and unigram_f1("a b", "c") == 0.0
    # prompt 0: two members agree and the third is an outlier; prompt 1: the third agrees with the first
    candidates = [["the food was great", "x"], ["the food was great indeed", "y y"], ["terrible service", "x"]]
    assert choose_by_agreement(candidates) == [0, 0]
    candidates = [["terrible service", "y"], ["the food was great", "x"], ["the food was great indeed", "x"]]
    assert choose_by_agreement(candidates) == [1, 1]  # ties go to the earlier member
    # mean over two scoring LMs of each member's candidate (shape: scorers x members x prompts)
    logprobs = np.array([[[-1.0, -5.0], [-2.0, -1.0], [-np.inf, -3.0]],
                         [[-3.0, -5.0], [-1.5, -2.0], [-0.1, -3.0]]])
    assert choose_by_likelihood(logprobs) == [1, 1]


def _protocol(candidates: dict[tuple[str, int], list[str]]) -> SimpleNamespace:
    prompts = [f"p{i}" for i in range(len(next(iter(candidates.values()))))]
    return SimpleNamespace(splits=SimpleNamespace(train_b=[Demo(str(i), p, "") for i, p in enumerate(prompts)]),
                           member_demonstrations=lambda model, member: candidates[(model, member)],
                           tuned=lambda model: SimpleNamespace(lm=model))


def test_the_ensemble_keeps_one_members_demonstration_per_prompt(monkeypatch):
    candidates = {("a", 0): ["good food", "bad"], ("a", 1): ["good food here", "awful"], ("a", 2): ["rain", "bad"]}
    method = get_method("ensemble(seeds=3,combine=vote)")
    assert "generation" in method.families and "classification" in method.families
    prompts, demos, info = method.demonstrations(_protocol(candidates), "a")
    assert (prompts, demos) == (["p0", "p1"], ["good food", "bad"])
    assert (info["kept"], info["offered"]) == (2, 6) and "chosen per member: a#0 2, a#1 0, a#2 0" in info["selection"]

    # by likelihood: each member LM scores every candidate; the best mean over the two LMs wins
    candidates = {("a", 0): ["x", "y"], ("b", 0): ["z", "w"]}
    table = {("a", "x"): -1.0, ("a", "z"): -3.0, ("b", "x"): -2.0, ("b", "z"): -0.5,
             ("a", "y"): -4.0, ("a", "w"): -1.0, ("b", "y"): -1.0, ("b", "w"): -1.0}

    def token_logprobs(lm, prompts, texts, truncate=False):
        return [np.array([table[(lm, t)], table[(lm, t)]]) for t in texts]

    monkeypatch.setattr("w2s_bench.generation.scoring.token_logprobs", token_logprobs)
    _, demos, info = get_method("ensemble(members=a+b,seeds=1)").demonstrations(_protocol(candidates), "a")
    assert demos == ["x", "w"] and "under a+b" in info["selection"]  # x: -1.5 vs z: -1.75; y: -2.5 vs w: -1.0


@pytest.mark.slow  # three ensemble cells and naive on tiny LMs: about 40 s on 2 idle cores
def test_ensemble_cells_run_with_stored_member_samples_and_train_on_the_chosen_demonstrations(
        tmp_path, task_file, tiny_lm_factory, monkeypatch):
    from w2s_bench.generation import protocol

    a, b = tiny_lm_factory(32, 1), tiny_lm_factory(32, 2)
    students: list[list[str]] = []  # the demonstrations of every w2s student's SFT, in call order
    members: dict[tuple[str, int], list[str]] = {}
    sft, member_demonstrations = protocol.sft, protocol.GenerationProtocol.member_demonstrations

    def recording_sft(lm, prompts, continuations, config, label=None, **kwargs):
        if label.startswith("w2s student"):
            students.append(list(continuations))
        return sft(lm, prompts, continuations, config, label=label, **kwargs)

    def recording_members(self, model, member):
        members[(model, member)] = member_demonstrations(self, model, member)
        return members[(model, member)]

    monkeypatch.setattr(protocol, "sft", recording_sft)
    monkeypatch.setattr(protocol.GenerationProtocol, "member_demonstrations", recording_members)
    vote, likely = "ensemble(seeds=3,combine=vote)", f"ensemble(members={a}+{b},seeds=1)"
    kwargs = {"tasks": ["gen_ens"], "weak": [a], "strong": [a], "include_paths": [str(task_file)], "limit": 8,
              "cache_dir": str(tmp_path / "cache"), "weak_args": SETTINGS, "strong_args": SETTINGS, "n_resamples": 50,
              "methods": ["naive", vote, likely]}
    # seeds=3 of one model: the weak step's demonstrations and two more samples, each a stored step; the second
    # member model's tuned LM is trained once, for the likelihood ensemble; the plan counts them
    plan = plan_sweep(**kwargs)
    assert plan.to_train["gen_demos"] == 2 and plan.to_train["gen_tuned"] == 2, plan.to_train
    result = run_sweep(**kwargs)
    assert result.store_counts["gen_demos computed"] == 2 and result.store_counts["gen_tuned computed"] == 2
    records = {r.method: r for r in result.records}
    assert all(r.kind == "generation" for r in records.values()), records
    assert len(students) == 3 and students[0] == members[(a, 0)]  # naive trains on the weak step's demonstrations
    # the vote ensemble's student trained on each prompt's most agreed-on sample of the three
    samples = [members[(a, k)] for k in range(3)]
    chosen = choose_by_agreement(samples)
    assert [samples[j][i] for i, j in enumerate(chosen)] in students
    assert samples[0] != samples[1] != samples[2]  # the members are different samples of one tuned LM
    selection = records[vote].supervision.selection
    assert "of 3 members' demonstrations" in selection and "chosen per member" in selection
    assert f"under {a}+{b}" in records[likely].supervision.selection
    assert all(text in (x, y) for text, x, y in zip(students[-1], members[(a, 0)], members[(b, 0)], strict=True))


def test_a_generation_ensemble_with_dawid_skene_or_a_non_causal_member_fails_at_planning(tmp_path, task_file,
                                                                                       tiny_lm_factory, tiny_bert):
    lm = tiny_lm_factory()
    kwargs = {"tasks": ["gen_ens"], "weak": [lm], "strong": [lm], "include_paths": [str(task_file)], "limit": 8,
              "cache_dir": str(tmp_path / "cache")}
    with pytest.raises(W2SError, match="dawid_skene weighs discrete votes"):
        plan_sweep(methods=["ensemble(combine=dawid_skene)"], **kwargs)
    with pytest.raises(W2SError, match="cannot generate text"):
        plan_sweep(methods=[f"ensemble(members={lm}+{tiny_bert},seeds=1)"], **kwargs)
