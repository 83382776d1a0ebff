"""The generative weak-to-strong protocol for one task and seed: text in place of labels.

0. tuned: the weak LM finetuned (SFT) on train_a's gold demonstrations; its weights are an artefact, so
   every step and method that needs the tuned small LM (the weak step; weak-to-strong search, which
   scores the strong LM's samples with it) loads it instead of training it again;
1. weak: the tuned weak LM; its outputs on train_b's prompts are the **weak demonstrations**, and it
   also writes on the test prompts;
2. ceiling: the strong LM finetuned on **train_b's** gold demonstrations. The same amount of gold as the
   weak model had (train_a and train_b have the same size), and on the very prompts the w2s student is
   trained on, so the ceiling and the student differ only in who wrote the demonstrations (gold or the
   weak model), not in which prompts they saw;
3. w2s: the method's strong LM writing on the test prompts, through the method's hooks
   (``Method.demonstrations`` / ``train_generator`` / ``generate_test``): by default a fresh strong LM
   finetuned on the weak demonstrations; for the search methods (``w2s_bench.methods.search``) the
   frozen untuned strong LM steered by the tuned / untuned weak pair;
4. base: the untuned strong LM, a floor: what the strong model writes before any finetuning;
5. every model writes one continuation per test prompt (the same per-prompt seeds for all, so the
   comparison is paired), the task's judge scores each (prompt, output), and the untuned strong LM
   scores each output's log likelihood (the fluency guard).

Every step goes through the artefact store (``w2s_bench.cache``): a step's texts are an artefact
(no arrays; the texts and training log in its record), the tuned weak LM's weights are one (float arrays
by ``state_dict`` name, with its training log), and so are its judge scores (a ``[n, 2]`` array of
(1 - score, score)) with the fluency numbers. A rerun with nothing changed reuses every text, weight and
score and trains no LM and no judge.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch

from w2s_bench.cache import Artefact, ArtefactStore, Expected
from w2s_bench.generation.judges import JudgeContext
from w2s_bench.generation.lm import CausalLM, load_causal_lm
from w2s_bench.generation.sampling import sample
from w2s_bench.generation.scoring import mean_token_logprobs, token_logprobs
from w2s_bench.generation.sft import sft
from w2s_bench.generation.task import LoadedGeneration
from w2s_bench.train import TrainConfig, TrainingDiverged

STEPS = ("weak", "ceiling", "w2s", "base")  # the models a generation run reports on (the tuned LM writes as "weak")
_LOADING = ("device", "dtype", "lora", "trust_remote_code", "revision", "attn_implementation", "load_in_8bit", "load_in_4bit")
_TRAINING = tuple(f.name for f in fields(TrainConfig))


@dataclass
class Written:
    """A step's outputs by part (``test``; for the weak model also ``train_b``, its demonstrations), with
    how long it took, its training log and what the method says about it. ``key`` names its store entry."""

    outputs: dict[str, list[str]]
    seconds: float
    training: dict[str, Any] | None = None
    info: dict[str, Any] | None = None
    key: str = ""
    reused: bool = False

    RECORD_FIELDS = ("outputs", "seconds", "training", "info")

    def to_artefact(self) -> Artefact:
        return Artefact({}, {name: getattr(self, name) for name in self.RECORD_FIELDS})

    @classmethod
    def from_artefact(cls, artefact: Artefact, key: str, reused: bool) -> Written:
        return cls(**{name: artefact.record[name] for name in cls.RECORD_FIELDS}, key=key, reused=reused)


@dataclass
class Tuned:
    """The tuned weak LM (SFT on train_a's gold), its training log and seconds, and its store entry."""

    lm: CausalLM
    training: dict[str, Any]
    seconds: float
    key: str
    reused: bool


@dataclass
class Judged:
    """Per test prompt: the judge's score, and the untuned strong LM's log likelihood of the output
    (summed) with its token count (for the perplexity guard)."""

    scores: np.ndarray
    logprob: np.ndarray
    tokens: np.ndarray
    key: str = ""
    reused: bool = False


class GenerationProtocol:
    """Runs the generative protocol's steps on one loaded generation task and seed.

    ``specs[role][name]`` are the resolved model specs (their ``path`` a local folder), ``identity(role,
    name)`` what determines each model's numbers; ``judge_context`` what the task's judge may use."""

    def __init__(self, loaded: LoadedGeneration, specs: dict[str, dict[str, Any]], seed: int, store: ArtefactStore,
                 identity: Callable[[str, str], Any], judge_context: JudgeContext) -> None:
        self.loaded, self.seed, self.specs, self.identity = loaded, seed, specs, identity
        self.store = store
        self.judge, self.judge_context = loaded.task.judge, judge_context
        self.settings = loaded.task.settings
        self.data_fingerprint = loaded.splits.fingerprint()
        self._parts = {"task": loaded.task.config_hash(), "data": self.data_fingerprint, "seed": seed}
        self._memo: dict[str, Any] = {}

    @property
    def splits(self) -> Any:
        return self.loaded.splits

    # -- models ----------------------------------------------------------------------------------------
    def load(self, role: str, name: str) -> CausalLM:
        """A fresh copy of the pretrained LM ``name`` as ``role`` ("weak" or "strong") has it configured."""
        spec = self.specs[role][name]
        loading = {k: v for k, v in spec.params.items() if k in _LOADING}
        lm = load_causal_lm(str(spec.path), **loading)
        lm.name = name
        return lm

    def train_config(self, role: str, name: str) -> TrainConfig:
        """SFT settings: the model's training settings (its alias defaults and --weak_args / --strong_args)."""
        params = self.specs[role][name].params
        return TrainConfig(**{k: v for k, v in params.items() if k in _TRAINING and k != "seed"}, seed=self.seed)

    def finetuned(self, role: str, name: str, prompts: list[str], continuations: list[str],
                  label: str) -> tuple[CausalLM, dict[str, Any]]:
        """``name`` finetuned on the pairs, with its training log."""
        lm = self.load(role, name)
        return lm, asdict(sft(lm, prompts, continuations, self.train_config(role, name), label=label))

    def sampling_seed(self, salt: int = 0) -> int:
        """The seed every model samples with (``salt`` 0: on the test prompts); prompt i's own seed is derived
        from it and i (``sampling.row_seeds``), so a method that samples through ``generation.search`` with
        it draws the very samples ``write`` would."""
        return self.seed * 1000 + salt

    def write(self, lm: CausalLM, prompts: list[str], salt: int = 0) -> list[str]:
        """One continuation per prompt with the task's settings; a prompt's seed depends on the run seed,
        ``salt`` and its index only, so every model writes on the test prompts with the same randomness."""
        return [g.text for g in sample(lm, prompts, self.settings, seed=self.sampling_seed(salt))]

    def test_prompts(self) -> list[str]:
        return [d.prompt for d in self.splits.test]

    # -- artefact keys ---------------------------------------------------------------------------------
    def tuned_key(self, model: str) -> tuple[str, dict[str, Any]]:
        """The tuned weak LM: its training does not depend on the generation settings, so they are not in its key."""
        return "gen_tuned", {**self._parts, "model": self.identity("weak", model)}

    def weak_key(self, model: str) -> tuple[str, dict[str, Any]]:
        return "gen_weak", {**self._parts, "model": self.identity("weak", model), "settings": self._settings()}

    def demonstrations_key(self, model: str, member: int) -> tuple[str, dict[str, Any]]:
        """Member 0's demonstrations are the weak step's; member k's another sample of the same tuned LM."""
        if member == 0:
            return self.weak_key(model)
        return "gen_demos", {**self.weak_key(model)[1], "member": member}

    def ceiling_key(self, model: str) -> tuple[str, dict[str, Any]]:
        return "gen_ceiling", {**self._parts, "model": self.identity("strong", model), "settings": self._settings()}

    def base_key(self, model: str) -> tuple[str, dict[str, Any]]:
        return "gen_base", {**self._parts, "model": self.identity("strong", model), "settings": self._settings()}

    def w2s_key(self, weak_model: str, strong_model: str, method: Any) -> tuple[str, dict[str, Any]]:
        models = {name: self.identity(role, name) for name, role in method.models().items()}
        return "gen_w2s", {**self._parts, "weak": self.identity("weak", weak_model),
                           "strong": self.identity("strong", strong_model), "settings": self._settings(),
                           "method": method.name, "method_params": method.params, "method_models": models}

    def judged_key(self, written_key: str, strong_model: str) -> tuple[str, dict[str, Any]]:
        return "gen_judged", {"outputs": written_key, "judge": self.judge.identity(self.judge_context),
                              "fluency": self.identity("strong", strong_model)}

    def _settings(self) -> dict[str, Any]:
        s = self.settings
        return {"max_new_tokens": s.max_new_tokens, "temperature": s.temperature, "top_p": s.top_p, "until": list(s.until)}

    def cell_keys(self, weak_model: str, strong_model: str, method: Any) -> list[tuple[str, str]]:
        """(step, key) of the texts one cell needs (judge scores are keyed by these, so counted with them)."""
        members = [part for m, k in method.supervisors(weak_model) for part in (self.tuned_key(m), self.demonstrations_key(m, k))]
        wanted = [self.tuned_key(weak_model), self.weak_key(weak_model), *members, self.ceiling_key(strong_model),
                  self.base_key(strong_model), self.w2s_key(weak_model, strong_model, method)]
        return list(dict.fromkeys((step, self.store.key(step, parts)) for step, parts in wanted))  # members repeat

    # -- steps -----------------------------------------------------------------------------------------
    def _step(self, step_and_parts: tuple[str, dict[str, Any]], compute: Callable[[], Written], what: str) -> Written:
        step, parts = step_and_parts
        memo_key = self.store.key(step, parts)
        if memo_key not in self._memo:
            label = f"{what} (task {self.loaded.task.name}, seed {self.seed})"
            try:
                stored = self.store.get_or_compute(step, parts, lambda: compute().to_artefact(),
                                                   Expected({}, Written.RECORD_FIELDS), label)
            except TrainingDiverged as exc:
                raise exc.during(label) from None
            self._memo[memo_key] = Written.from_artefact(*stored)
        return self._memo[memo_key]

    def tuned(self, model: str) -> Tuned:
        """The weak LM after SFT on train_a's gold, trained once: its weights are stored (float32 arrays by
        ``state_dict`` name; integer buffers come from the pretrained folder) and loaded into a fresh copy
        of the pretrained LM on every later use."""
        if ("tuned", model) in self._memo:
            return self._memo[("tuned", model)]
        lm = self.load("weak", model)
        weights = {name: tensor for name, tensor in lm.model.state_dict().items() if tensor.is_floating_point()}

        def compute() -> Artefact:
            start = time.perf_counter()
            a = self.splits.train_a
            log = sft(lm, [d.prompt for d in a], [d.gold for d in a], self.train_config("weak", model),
                      label=f"weak {model}")
            arrays = {name: tensor.detach().float().cpu().numpy() for name, tensor in lm.model.state_dict().items()
                      if name in weights}
            return Artefact(arrays, {"training": asdict(log), "seconds": time.perf_counter() - start})

        step, parts = self.tuned_key(model)
        label = f"tuned weak LM {model} (task {self.loaded.task.name}, seed {self.seed})"
        expected = Expected({name: tuple(t.shape) for name, t in weights.items()}, ("training", "seconds"),
                            probabilities=False)
        try:
            artefact, key, reused = self.store.get_or_compute(step, parts, compute, expected, label)
        except TrainingDiverged as exc:
            raise exc.during(label) from None
        if reused:
            lm.model.load_state_dict({name: torch.from_numpy(array) for name, array in artefact.arrays.items()},
                                     strict=False)
        lm.model.eval()
        self._memo[("tuned", model)] = Tuned(lm, artefact.record["training"], artefact.record["seconds"], key, reused)
        return self._memo[("tuned", model)]

    def weak(self, model: str) -> Written:
        """The tuned weak LM's demonstrations for train_b, and its test outputs."""

        def compute() -> Written:
            start = time.perf_counter()
            tuned = self.tuned(model)
            lm, training = tuned.lm, tuned.training
            prompts_b = [d.prompt for d in self.splits.train_b]
            demos = self.write(lm, prompts_b, salt=1)
            # the weak model's own confidence in each demonstration (mean token log probability), for methods that filter
            confidence = mean_token_logprobs(lm, prompts_b, demos)
            return Written({"train_b": demos, "test": self.write(lm, self.test_prompts())}, time.perf_counter() - start,
                           training, {"train_b_confidence": [c if np.isfinite(c) else None for c in confidence]})

        return self._step(self.weak_key(model), compute, f"weak supervisor {model}")

    def member_demonstrations(self, model: str, member: int) -> list[str]:
        """train_b's demonstrations from weak ensemble member ``member`` of the tuned weak LM ``model``: member 0's
        are the weak step's, member k's are the same tuned LM sampled with another seed (salt 1 + k)."""
        if member == 0:
            return list(self.weak(model).outputs["train_b"])

        def compute() -> Written:
            start = time.perf_counter()
            demos = self.write(self.tuned(model).lm, [d.prompt for d in self.splits.train_b], salt=1 + member)
            return Written({"train_b": demos}, time.perf_counter() - start)

        written = self._step(self.demonstrations_key(model, member), compute,
                             f"weak supervisor {model} (ensemble member {member})")
        return list(written.outputs["train_b"])

    def ceiling(self, model: str) -> Written:
        """The strong LM after SFT on train_b's gold demonstrations."""

        def compute() -> Written:
            start = time.perf_counter()
            b = self.splits.train_b
            lm, training = self.finetuned("strong", model, [d.prompt for d in b], [d.gold for d in b], f"ceiling {model}")
            return Written({"test": self.write(lm, self.test_prompts())}, time.perf_counter() - start, training)

        return self._step(self.ceiling_key(model), compute, f"ceiling {model}")

    def base(self, model: str) -> Written:
        """The untuned strong LM's test outputs (the floor)."""

        def compute() -> Written:
            start = time.perf_counter()
            return Written({"test": self.write(self.load("strong", model), self.test_prompts())}, time.perf_counter() - start)

        return self._step(self.base_key(model), compute, f"untuned {model}")

    def w2s(self, weak_model: str, strong_model: str, method: Any) -> Written:
        """The method's strong LM (by default a fresh one trained on its demonstrations; the frozen untuned one
        for search methods) writing on the test prompts through the method's ``generate_test`` hook."""

        def compute() -> Written:
            start = time.perf_counter()
            prompts, demos, info = method.demonstrations(self, weak_model)
            student, training = method.train_generator(self, strong_model, prompts, demos)
            outputs = method.generate_test(self, student, weak_model)
            return Written({"test": outputs}, time.perf_counter() - start, training, info)

        return self._step(self.w2s_key(weak_model, strong_model, method), compute,
                          f"w2s student {strong_model} ({method.name}, weak {weak_model})")

    def judged(self, written: Written, strong_model: str) -> Judged:
        """The judge's scores of ``written``'s test outputs and their log likelihood under the untuned strong LM."""
        step, parts = self.judged_key(written.key, strong_model)
        prompts, outputs = self.test_prompts(), written.outputs["test"]

        def compute() -> Artefact:
            scores = np.clip(self.judge.score(prompts, outputs, self.judge_context), 0.0, 1.0)
            values = token_logprobs(self._fluency_lm(strong_model), prompts, outputs, truncate=True)
            return Artefact({"scores": np.stack([1 - scores, scores], axis=1)},
                            {"logprob": [float(v.sum()) for v in values], "tokens": [len(v) for v in values]})

        label = f"judging {written.key[:8]} (task {self.loaded.task.name}, seed {self.seed})"
        artefact, key, reused = self.store.get_or_compute(step, parts, compute,
                                                          Expected({"scores": (len(prompts), 2)}, ("logprob", "tokens")),
                                                          label)
        return Judged(artefact.arrays["scores"][:, 1].astype(np.float64), np.array(artefact.record["logprob"], float),
                      np.array(artefact.record["tokens"], float), key, reused)

    def _fluency_lm(self, model: str) -> CausalLM:
        if ("fluency", model) not in self._memo:
            self._memo[("fluency", model)] = self.load("strong", model)
        return self._memo[("fluency", model)]

    def judge_info(self) -> dict[str, Any]:
        """The judge's identity and test accuracy, for the run record (once per protocol)."""
        if "judge" not in self._memo:
            self._memo["judge"] = self.judge.describe(self.judge_context)
        return self._memo["judge"]

