"""Weak ensembles (WeakS-to-Strong, Cui et al. 2024): several supervisors, one set of labels.

Members are weak models (``members=tfidf+minilm-l1``; default: the ``--weak`` model) times
``seeds`` each; a member beyond the first of a model gets another seed and a bootstrap resample
of train_a (see ``Protocol.weak``). Their labels on train_b are combined by

* ``mean``: the average of the members' probabilities;
* ``vote``: the majority of their argmax labels (ties share the mass);
* ``dawid_skene``: a Bayesian estimate of each member's reliability without ground truth (the
  one-coin Dawid-Skene model fitted by EM on the members' votes): members that agree with the
  consensus get more weight, and the labels are the posterior class probabilities.

The table's weak column stays the ``--weak`` model, so rows of different methods are comparable;
the run record's ``supervision`` holds each member's and the combination's test accuracy.

On generation tasks the members are tuned weak LMs (each SFT on train_a's gold, as the weak step's), and
member k of a model is the same tuned LM sampled again with another seed; for each train_b prompt one of
the members' demonstrations is kept (``w2s_bench.generation.combine``): ``mean`` the one with the highest
mean log likelihood under the members' LMs, ``vote`` the one that agrees most with the others.
``dawid_skene`` needs discrete votes, so it is classification only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from w2s_bench.errors import W2SError, did_you_mean
from w2s_bench.examples import accuracy_of
from w2s_bench.methods.base import Method, Supervision, register
from w2s_bench.records.supervision import EnsembleMember, EnsembleSupervision

if TYPE_CHECKING:
    from w2s_bench.generation.protocol import GenerationProtocol
    from w2s_bench.protocol import Protocol

COMBINERS = ("mean", "vote", "dawid_skene")


def _votes(predictions: list[np.ndarray]) -> np.ndarray:
    """Each member's argmax label: ``[n, members]``."""
    return np.stack([p.argmax(1) for p in predictions], axis=1)


def combine_vote(predictions: list[np.ndarray]) -> np.ndarray:
    votes = _votes(predictions)
    k = predictions[0].shape[1]
    counts = np.stack([(votes == c).sum(1) for c in range(k)], axis=1).astype(float)
    winners = (counts == counts.max(1, keepdims=True)).astype(float)
    return winners / winners.sum(1, keepdims=True)


def dawid_skene(predictions: list[np.ndarray], iterations: int = 100, tol: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """Fit the one-coin Dawid-Skene model: member j is right with probability ``a_j`` and otherwise
    picks a wrong class uniformly. Returns (member accuracies, class prior), estimated by EM from
    the votes alone, starting from the majority vote."""
    k = predictions[0].shape[1]
    votes = _votes(predictions)
    posterior = combine_vote(predictions)
    accuracies, prior = np.full(votes.shape[1], 0.7), np.full(k, 1.0 / k)
    for _ in range(iterations):
        chosen = np.take_along_axis(posterior[:, None, :].repeat(votes.shape[1], 1), votes[..., None], 2)[..., 0]
        new_accuracies = np.clip(chosen.mean(0), 1e-3, 1 - 1e-3)
        prior = np.clip(posterior.mean(0), 1e-6, None)
        posterior = dawid_skene_posterior(predictions, new_accuracies, prior)
        converged = np.abs(new_accuracies - accuracies).max() < tol
        accuracies = new_accuracies
        if converged:
            break
    return accuracies, prior


def dawid_skene_posterior(predictions: list[np.ndarray], accuracies: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """P(true class | votes) under the one-coin model."""
    k = predictions[0].shape[1]
    votes = _votes(predictions)
    log_right, log_wrong = np.log(accuracies), np.log((1 - accuracies) / max(1, k - 1))
    scores = np.tile(np.log(prior), (len(votes), 1))
    for c in range(k):
        scores[:, c] += np.where(votes == c, log_right, log_wrong).sum(1)
    scores -= scores.max(1, keepdims=True)
    posterior = np.exp(scores)
    return posterior / posterior.sum(1, keepdims=True)


class Ensemble(Method):
    def __init__(self, members: list[str], seeds: int, combine: str) -> None:
        super().__init__("ensemble", {"members": "+".join(members), "seeds": seeds, "combine": combine},
                         "several weak supervisors: labels combined by mean, vote or Dawid-Skene reliability; "
                         "demonstrations chosen per prompt by mean likelihood or agreement",
                         ("classification", "generation"))
        self.members, self.seeds, self.combine = members, seeds, combine

    def models(self) -> dict[str, str]:
        return {m: "weak" for m in self.members}

    def supervisors(self, weak_model: str) -> list[tuple[str, int]]:
        return [(m, k) for m in (self.members or [weak_model]) for k in range(self.seeds)]

    def check(self, weak_model: str) -> None:
        if len(self.supervisors(weak_model)) < 2:
            raise W2SError("an ensemble needs at least two members", where="--methods ensemble",
                           fix="give members=a+b or seeds >= 2")

    def supervision(self, protocol: Protocol, weak_model: str) -> Supervision:
        fitted = [(m, k, protocol.weak(m, member=k)) for m, k in self.supervisors(weak_model)]
        parts = {part: [f.extra[part] for _, _, f in fitted] for part in ("train_b", "val_b")}
        parts["test"] = [f.test_probs for _, _, f in fitted]
        info_members = [EnsembleMember(model=m, member=k, test_acc=accuracy_of(f.test_probs, protocol.splits.test))
                        for m, k, f in fitted]
        if self.combine == "dawid_skene":
            # reliabilities from the unlabelled train_b and val_b votes; then applied to every part
            both = [np.concatenate([a, b]) for a, b in zip(parts["train_b"], parts["val_b"], strict=True)]
            accuracies, prior = dawid_skene(both)
            combined = {name: dawid_skene_posterior(p, accuracies, prior) for name, p in parts.items()}
            for member, accuracy in zip(info_members, accuracies, strict=True):
                member.estimated_reliability = float(accuracy)
        else:
            combine = combine_vote if self.combine == "vote" else (lambda p: np.mean(p, axis=0))
            combined = {name: combine(p) for name, p in parts.items()}
        info = EnsembleSupervision(members=info_members, combine=self.combine,
                                   supervisor_test_acc=accuracy_of(combined["test"], protocol.splits.test))
        return Supervision(combined["train_b"], combined["val_b"], info)

    # -- generation ------------------------------------------------------------------------------------
    def check_generation(self, protocol: GenerationProtocol, weak_model: str, strong_model: str) -> None:
        from w2s_bench.generation.family import check_causal

        if self.combine == "dawid_skene":
            raise W2SError("combine=dawid_skene weighs discrete votes, and a generation ensemble's members write text",
                           where="--methods ensemble", fix='on generation tasks use combine=mean or combine=vote')
        for model in dict.fromkeys(m for m, _ in self.supervisors(weak_model)):
            check_causal(protocol.specs["weak"][model], f"--methods {self.name} (member {model})")

    def demonstrations(self, protocol: GenerationProtocol, weak_model: str) -> tuple[list[str], list[str], dict | None]:
        from w2s_bench.generation.combine import choose_by_agreement, choose_by_likelihood
        from w2s_bench.generation.scoring import mean_token_logprobs

        supervisors = self.supervisors(weak_model)
        prompts = [d.prompt for d in protocol.splits.train_b]
        candidates = [protocol.member_demonstrations(m, k) for m, k in supervisors]
        if self.combine == "vote":
            chosen, rule = choose_by_agreement(candidates), "the most agreement (mean unigram F1) with the others"
        else:
            scorers = list(dict.fromkeys(m for m, _ in supervisors))
            mean_logprobs = np.array([[mean_token_logprobs(protocol.tuned(s).lm, prompts, texts) for texts in candidates]
                                      for s in scorers])
            chosen = choose_by_likelihood(mean_logprobs)
            rule = f"the highest mean token log probability under {'+'.join(scorers)}"
        shares = ", ".join(f"{m}#{k} {chosen.count(j)}" for j, (m, k) in enumerate(supervisors))
        info = {"kind": "demonstrations", "kept": len(prompts), "offered": len(prompts) * len(supervisors),
                "selection": f"per prompt, of {len(supervisors)} members' demonstrations, the one with {rule} "
                             f"(chosen per member: {shares})"}
        return prompts, [candidates[j][i] for i, j in enumerate(chosen)], info


@register("ensemble")
def ensemble(members: str = "", seeds: int = 3, combine: str = "mean") -> Method:
    names = [m.strip() for m in str(members).split("+") if m.strip()]
    if combine not in COMBINERS:
        raise W2SError(f"unknown combine {combine!r}", where="--methods ensemble", fix=did_you_mean(combine, COMBINERS))
    if int(seeds) < 1:
        raise W2SError("seeds must be >= 1", where="--methods ensemble")
    return Ensemble(names, int(seeds), combine)
