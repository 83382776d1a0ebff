"""Steering a frozen strong LM at test time with the weak LM, tuned and untuned (generation): weak-to-strong
search and its two baselines as methods of the run loop (Zhou et al., "Weak-to-Strong Search", NeurIPS 2024).

``--weak`` names the untuned small LM; the tuned one is the same LM finetuned by the harness on train_a's
gold demonstrations, the generation protocol's tuned weak LM (``GenerationProtocol.tuned``, a stored
artefact: trained once, reused by the weak step and every search method), or a model the user names
with ``tuned=PATH`` (a local folder, a hub id or an alias; e.g. a DPO-tuned checkpoint as in the paper).
A named tuned model is one of the method's ``models()``: resolved, checked to be a causal LM and, for EFT,
checked for the strong model's vocabulary while the sweep is planned, and its identity (the weights'
fingerprint for a folder) is in the w2s step's key. The ``weak`` row stays the harness's tuned LM (the
protocol's weak step, shared by every method of the cell), so it is not PATH alone. The strong LM is never
trained: ``train_generator`` returns the untuned strong LM, and ``generate_test`` samples it steered by
the pair (``w2s_bench.generation.search``) with the protocol's sampling seed, so with one candidate per
prompt a method writes exactly what the base step writes.

* ``w2s_search(w, k, l)``: chunk-level beam search, each partial output scored by
  ``log p_tuned(y|x) - log p_untuned(y|x)``;
* ``best_of_n(n)``: n samples of the strong LM ranked by the same score (N = W*K = 16 by default);
* ``eft(beta)``: emulated fine-tuning, ``log p_strong + beta (log p_tuned - log p_untuned)`` per token, which
  needs one vocabulary for the three models (checked while the sweep is planned).

Their rows read against the untuned strong LM: ``pgr_floor = "base"``, so PGR is (w2s - base) /
(ceiling - base), and the ``weak`` row is the tuned small LM alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from w2s_bench.errors import W2SError
from w2s_bench.methods.base import Method, register

if TYPE_CHECKING:
    from w2s_bench.generation.lm import CausalLM
    from w2s_bench.generation.protocol import GenerationProtocol
    from w2s_bench.generation.sampling import Generation


class Steering(Method):
    """A search method: no demonstrations, no training, the untuned strong LM steered at test time by
    :meth:`steer`."""

    def __init__(self, name: str, params: dict[str, Any], description: str, tuned: str | None) -> None:
        # a named tuned model is a parameter only when given, so the keys of runs without one do not change
        super().__init__(name, {**params, **({"tuned": tuned} if tuned else {})}, description, ("generation",),
                         pgr_floor="base")
        self.tuned = tuned

    def models(self) -> dict[str, str]:
        """The named tuned model, configured like the weak LM (``--weak_args``)."""
        return {self.tuned: "weak"} if self.tuned else {}

    def check_generation(self, protocol: GenerationProtocol, weak_model: str, strong_model: str) -> None:
        if self.tuned:
            from w2s_bench.generation.family import check_causal

            check_causal(protocol.specs["weak"][self.tuned], f"--methods {self.name} (tuned={self.tuned})")

    def demonstrations(self, protocol: GenerationProtocol, weak_model: str) -> tuple[list[str], list[str], dict | None]:
        return [], [], {"kind": "demonstrations", "kept": 0, "offered": len(protocol.splits.train_b),
                        "selection": f"none: the frozen strong LM is steered at test time by {weak_model} tuned / untuned"}

    def train_generator(self, protocol: GenerationProtocol, strong_model: str, prompts: list[str],
                        continuations: list[str]) -> tuple[CausalLM, None]:
        return protocol.load("strong", strong_model), None

    def generate_test(self, protocol: GenerationProtocol, student: CausalLM, weak_model: str) -> list[str]:
        tuned = protocol.load("weak", self.tuned) if self.tuned else protocol.tuned(weak_model).lm
        untuned = protocol.load("weak", weak_model)
        generations = self.steer(student, tuned, untuned, protocol.test_prompts(), protocol.settings,
                                 protocol.sampling_seed())
        return [g.text for g in generations]

    def steer(self, strong: CausalLM, tuned: CausalLM, untuned: CausalLM, prompts: list[str], settings: Any,
              seed: int) -> list[Generation]:
        raise NotImplementedError


class W2SSearch(Steering):
    def steer(self, strong: CausalLM, tuned: CausalLM, untuned: CausalLM, prompts: list[str], settings: Any,
              seed: int) -> list[Generation]:
        from w2s_bench.generation.search import LogRatioScorer, SearchParams, chunk_beam_search

        params = SearchParams(**{name: self.params[name] for name in ("w", "k", "l")})
        return chunk_beam_search(strong, prompts, settings, LogRatioScorer(tuned, untuned), params, seed=seed)


class BestOfN(Steering):
    def steer(self, strong: CausalLM, tuned: CausalLM, untuned: CausalLM, prompts: list[str], settings: Any,
              seed: int) -> list[Generation]:
        from w2s_bench.generation.search import LogRatioScorer, best_of_n

        return best_of_n(strong, prompts, settings, LogRatioScorer(tuned, untuned), n=self.params["n"], seed=seed)


class EmulatedFinetuning(Steering):
    def check_generation(self, protocol: GenerationProtocol, weak_model: str, strong_model: str) -> None:
        """The vocabularies, from the tokenizers alone (nothing is loaded or trained)."""
        from w2s_bench.generation.search import check_same_vocabularies
        from w2s_bench.models.backbone import Backbone

        super().check_generation(protocol, weak_model, strong_model)
        small = [weak_model, *([self.tuned] if self.tuned else [])]
        vocabularies = {}
        for role, name in (("strong", strong_model), *(("weak", name) for name in small)):
            spec = protocol.specs[role][name]
            backbone = Backbone(str(spec.path), name, revision=spec.params.get("revision") or None,
                                trust_remote_code=bool(spec.params.get("trust_remote_code")))
            vocabularies[name] = backbone.tokenizer().get_vocab()
        check_same_vocabularies(strong_model, vocabularies[strong_model], {name: vocabularies[name] for name in small},
                                where=f"--methods {self.name} (--weak {weak_model}, --strong {strong_model})")

    def steer(self, strong: CausalLM, tuned: CausalLM, untuned: CausalLM, prompts: list[str], settings: Any,
              seed: int) -> list[Generation]:
        from w2s_bench.generation.search import emulated_finetuning

        return emulated_finetuning(strong, tuned, untuned, prompts, settings, beta=self.params["beta"], seed=seed)


def _positive(name: str, value: Any, method: str, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise W2SError(f"{name}={value!r} must be a positive integer ({what})", where=f"--methods {method}",
                       fix=f'e.g. --methods "{method}({name}=4)"')
    return value


@register("w2s_search")
def w2s_search(w: int = 4, k: int = 4, l: int = 5, tuned: str | None = None) -> Method:  # noqa: E741 (the paper's name)
    """Defaults: ``SearchParams``' (Zhou et al.'s controlled-sentiment W, K, L); ``tuned``: see the module."""
    meaning = {"w": "beams kept per prompt", "k": "continuations sampled per beam", "l": "tokens per chunk"}
    params = {name: _positive(name, value, "w2s_search", meaning[name]) for name, value in (("w", w), ("k", k), ("l", l))}
    return W2SSearch("w2s_search", params, "weak-to-strong search (Zhou et al. 2024): chunk-level beam search over the "
                     "frozen strong LM, scored by log p_tuned - log p_untuned of the weak LM", tuned)


@register("best_of_n")
def best_of_n(n: int = 16, tuned: str | None = None) -> Method:
    return BestOfN("best_of_n", {"n": _positive("n", n, "best_of_n", "samples per prompt")},
                   "best of n samples of the frozen strong LM, ranked by log p_tuned - log p_untuned of the weak LM",
                   tuned)


@register("eft")
def eft(beta: float = 1.0, tuned: str | None = None) -> Method:
    if isinstance(beta, bool) or not isinstance(beta, int | float) or beta != beta or abs(beta) == float("inf"):
        raise W2SError(f"beta={beta!r} must be a finite number", where="--methods eft", fix='e.g. --methods "eft(beta=1.0)"')
    return EmulatedFinetuning("eft", {"beta": float(beta)}, "emulated fine-tuning (Mitchell et al. 2023): strong log "
                              "probabilities + beta (tuned - untuned weak LM's), one vocabulary for all three", tuned)
