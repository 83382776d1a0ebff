"""Methods that change where the labels come from (ensembles, bootstrap chains) and how methods are
named on the command line: controlled experiments whose right answers are known."""

from __future__ import annotations

import numpy as np
import pytest
from fakes import NoisyOracle

import w2s_bench
from w2s_bench.errors import W2SError
from w2s_bench.examples import one_hot
from w2s_bench.methods import get_method
from w2s_bench.methods.base import split_method_list
from w2s_bench.methods.ensemble import combine_vote, dawid_skene, dawid_skene_posterior


def _noisy_supervisors(labels: np.ndarray, accuracies: list[float], seed: int = 0) -> list[np.ndarray]:
    """Independent supervisors: each right with its own probability, confident either way."""
    rng = np.random.default_rng(seed)
    out = []
    for accuracy in accuracies:
        right = rng.random(len(labels)) < accuracy
        out.append(one_hot(np.where(right, labels, 1 - labels), 2) * 0.8 + 0.1)
    return out


def test_vote_of_independent_noisy_supervisors_beats_each_of_them():
    labels = np.random.default_rng(1).integers(0, 2, 4000)
    members = _noisy_supervisors(labels, [0.7] * 5)
    single = [float((m.argmax(1) == labels).mean()) for m in members]
    combined = float((combine_vote(members).argmax(1) == labels).mean())
    assert max(single) < 0.73 and combined > max(single) + 0.08  # binomial: P(majority of 5 right) = 0.837


def test_dawid_skene_recovers_reliabilities_and_beats_the_vote():
    labels = np.random.default_rng(2).integers(0, 2, 6000)
    truth = [0.92, 0.65, 0.6, 0.58, 0.55]
    members = _noisy_supervisors(labels, truth, seed=3)
    accuracies, prior = dawid_skene(members)
    assert np.allclose(accuracies, truth, atol=0.03)
    assert np.allclose(prior, [0.5, 0.5], atol=0.03)
    posterior = dawid_skene_posterior(members, accuracies, prior)
    ds_acc = float((posterior.argmax(1) == labels).mean())
    vote_acc = float((combine_vote(members).argmax(1) == labels).mean())
    # the vote lets four weak members outvote the good one; reliability weighting follows the good one
    assert ds_acc >= 0.91 and ds_acc > vote_acc + 0.1
    assert np.allclose(posterior.sum(1), 1.0)


def test_vote_ties_share_the_mass():
    a, b = np.array([[0.9, 0.1]]), np.array([[0.2, 0.8]])
    assert np.allclose(combine_vote([a, b]), [[0.5, 0.5]])


@pytest.fixture
def seeded_oracle(register):
    return register("seeded-oracle", lambda seed=0: NoisyOracle(seed, seeded=True), "keyword rule, 30% flips per seed")


def test_ensemble_through_the_runner_gives_better_labels_and_a_better_student(keyword_task, seeded_oracle):
    data_dir, tasks = keyword_task
    records = w2s_bench.run(tasks=["keywords"], include_paths=[str(tasks)], weak=[seeded_oracle], strong=["tfidf"],
                            methods=["naive", "ensemble(seeds=5,combine=vote)"], data_dir=str(data_dir), n_resamples=100)
    naive, ensemble = records
    members = ensemble.supervision.members
    assert len(members) == 5 and len({m.test_acc for m in members}) > 1  # distinct, independent supervisors
    assert all(m.test_acc < 0.75 for m in members)
    assert ensemble.supervision.supervisor_test_acc > max(m.test_acc for m in members) + 0.08
    assert ensemble.supervision.label_accuracy > naive.supervision.label_accuracy + 0.08
    assert ensemble.metrics["weak_acc"] == naive.metrics["weak_acc"]  # same reference supervisor: comparable rows


class LabelRecorder:
    """A student that records what it was fitted on and predicts a fixed function of the text, so the
    labels can be traced along a chain; it fails if asked to label an example it was trained on."""

    fits: list[tuple[list, np.ndarray]] = []

    def __init__(self, seed: int = 0) -> None:
        self.seen: set[str] = set()

    @staticmethod
    def rule(examples) -> np.ndarray:
        return np.array([[0.25, 0.75] if len(ex.texts[0]) % 2 else [0.6, 0.4] for ex in examples])

    def fit(self, train, targets, val=(), val_targets=None, loss=None):
        LabelRecorder.fits.append((list(train), np.asarray(targets)))
        self.seen = {ex.id for ex in train}
        return self

    def predict_proba(self, examples):
        assert not self.seen & {ex.id for ex in examples}, "a link labelled its own training data"
        return self.rule(examples)


def test_bootstrap_passes_labels_link_to_link_without_self_labelling(keyword_task, register):
    data_dir, tasks = keyword_task
    register("oracle", NoisyOracle, "keyword rule with 30% flips")
    register("recorder", LabelRecorder, "records its targets")
    LabelRecorder.fits = []
    [record] = w2s_bench.run(tasks=["keywords"], include_paths=[str(tasks)], weak=["oracle"], strong=["recorder"],
                             methods=["bootstrap(via=recorder)"], data_dir=str(data_dir), n_resamples=100, limit=200)
    (_, _), (fold_0, targets_0), (fold_1, targets_1), (student, student_targets) = LabelRecorder.fits
    assert {ex.id for ex in fold_0}.isdisjoint(ex.id for ex in fold_1)
    # each copy of the link learns the weak supervisor's labels on its fold ...
    assert np.allclose(targets_0, NoisyOracle().predict_proba(fold_0))
    assert np.allclose(targets_1, NoisyOracle().predict_proba(fold_1))
    # ... and the student learns the link's predictions (not the weak labels) on all of train_b
    assert {ex.id for ex in student} == {ex.id for ex in fold_0 + fold_1}
    assert np.allclose(student_targets, LabelRecorder.rule(student))
    chain = record.supervision.chain
    assert [link.model for link in chain] == ["oracle", "recorder"]
    assert 0.62 < chain[0].label_acc < 0.78  # the oracle's 30% flips


def test_bootstrap_without_via_says_how_to_give_the_chain(keyword_task):
    data_dir, tasks = keyword_task
    with pytest.raises(W2SError, match="--via"):
        w2s_bench.run(tasks=["keywords"], include_paths=[str(tasks)], weak=["tfidf"], strong=["tfidf"],
                      methods=["bootstrap"], data_dir=str(data_dir), limit=100)


def test_method_specs_parse_params_and_name_rows():
    assert split_method_list("naive,logconf(alpha_max=0.5,warmup_fraction=0.1),ensemble") == [
        "naive", "logconf(alpha_max=0.5,warmup_fraction=0.1)", "ensemble"]
    method = get_method("logconf(alpha_max=0.5)")
    assert method.name == "logconf(alpha_max=0.5)" and method.params["alpha_max"] == 0.5
    assert get_method("ensemble(members=tfidf+minilm-l1,seeds=1)").models() == {"tfidf": "weak", "minilm-l1": "weak"}
    with pytest.raises(W2SError, match="alpha_max"):
        get_method("logconf(alpha_mx=0.5)")
    with pytest.raises(W2SError, match="naive"):
        get_method("naiv")


def test_method_yaml_file(tmp_path):
    path = tmp_path / "strong_logconf.yaml"
    path.write_text("method: logconf\nparams: {alpha_max: 0.25, warmup_fraction: 0.5}\n")
    method = get_method(str(path))
    assert method.params == {"alpha_max": 0.25, "warmup_fraction": 0.5}
    (tmp_path / "bad.yaml").write_text("params: {}\n")
    with pytest.raises(W2SError, match="method:"):
        get_method(str(tmp_path / "bad.yaml"))


def test_a_bootstrap_link_that_sees_through_the_noise_hands_on_cleaner_labels(keyword_task, register):
    data_dir, tasks = keyword_task
    register("oracle", NoisyOracle, "keyword rule with 30% flips")
    naive, chained = w2s_bench.run(tasks=["keywords"], include_paths=[str(tasks)], weak=["oracle"], strong=["tfidf"],
                                   methods=["naive", "bootstrap(via=tfidf)"], data_dir=str(data_dir), n_resamples=100)
    weak_link, middle_link = chained.supervision.chain
    # the link (trained on half of train_b with 30% flipped labels) learned the rule more than the flips:
    # measured 0.71 -> 0.85
    assert weak_link.label_acc < 0.78 and middle_link.label_acc > weak_link.label_acc + 0.1
    assert chained.supervision.label_accuracy == middle_link.label_acc
    assert chained.metrics["w2s_acc"] >= naive.metrics["w2s_acc"] - 0.01
