"""The weak-to-strong protocol for one task and seed (Burns et al. 2023, protocol.md section 1).

1. weak supervisor: the weak model fitted on train_a with ground truth (GT);
2. weak labels: its probabilities on train_b (and on train_b's validation part);
3. ceiling: the strong model fitted on train_a with GT (the same GT the weak model had);
4. w2s: a fresh strong model fitted on train_b with the weak labels, through the method.

The supervisor and ceiling do not depend on the method, so :class:`Protocol` fits each of them
once per (task, seed, model) and every method reuses them; with an artefact store, once per sweep
and across reruns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from w2s_bench.cache import Artefact, ArtefactStore, Expected
from w2s_bench.errors import W2SError
from w2s_bench.examples import Example, accuracy_of, labels_of, one_hot
from w2s_bench.methods.base import Fit, Method
from w2s_bench.models.base import Estimator
from w2s_bench.records.codec import to_json
from w2s_bench.tasks.splits import ProtocolSplits
from w2s_bench.tasks.task import LoadedTask
from w2s_bench.train import TrainingDiverged


@dataclass
class Fitted:
    """Test-set probabilities of a fitted model, plus how its training went. ``key`` names its entry
    in the artefact store; ``reused`` says it came from there rather than from training now."""

    test_probs: np.ndarray
    seconds: float
    training: dict[str, Any] | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    key: str = ""
    reused: bool = False

    RECORD_FIELDS = ("seconds", "training", "info")

    def to_artefact(self) -> Artefact:
        return Artefact({"test": self.test_probs, **self.extra},
                        {"seconds": self.seconds, "training": self.training, "info": self.info})

    @classmethod
    def from_artefact(cls, artefact: Artefact, key: str, reused: bool) -> Fitted:
        arrays = dict(artefact.arrays)
        record = artefact.record
        return cls(arrays.pop("test"), record["seconds"], record["training"], arrays, record["info"], key, reused)


def _training_log(estimator: Estimator) -> dict[str, Any] | None:
    log = getattr(estimator, "training_log", None)
    return None if log is None else asdict(log)


def _supervisor_name(model: str, member: int) -> str:
    return f"weak supervisor {model}" + (f" (ensemble member {member})" if member else "")


Builder = Callable[[str, int], Estimator]
Identity = Callable[[str, str], Any]  # (role, model name) -> what determines that model's numbers


class Protocol:
    """Runs the protocol's steps on one loaded task and seed, caching supervisors and ceilings.

    ``build_weak(name, seed)`` / ``build_strong(name, seed)`` return fresh unfitted estimators.
    Methods reach the protocol through :meth:`weak` (any supervisor, also extra ensemble members)
    and :meth:`make_strong` (a fresh student, also intermediate models of a bootstrap chain).

    Each step's result is kept for the protocol's lifetime and, with a ``store``, on disk under a key
    made of the task, the exact examples, the seed, and ``identity(role, name)`` of the models
    involved (see ``w2s_bench.cache``), so later sweeps and reruns reuse it.
    """

    def __init__(self, loaded: LoadedTask, build_weak: Builder, build_strong: Builder, seed: int,
                 store: ArtefactStore | None = None, identity: Identity = lambda role, name: name) -> None:
        self.loaded, self.seed = loaded, seed
        self._build_weak, self._build_strong = build_weak, build_strong
        self.store, self.identity = store or ArtefactStore(None), identity
        self.data_fingerprint = loaded.splits.fingerprint()  # hashes every example: once per task and seed
        self._parts = {"task": loaded.task.config_hash(), "data": self.data_fingerprint, "seed": seed}
        self._memo: dict[str, Fitted] = {}
        self._failures: dict[str, W2SError] = {}

    @property
    def splits(self) -> ProtocolSplits:
        return self.loaded.splits

    def make_strong(self, model: str) -> Estimator:
        return self._build_strong(model, self.seed)

    # -- artefact keys: one definition, used by the steps below and by sweep plans ---------------------
    def weak_key(self, model: str, member: int = 0) -> tuple[str, dict[str, Any]]:
        return "weak", {**self._parts, "model": self.identity("weak", model), "member": member}

    def ceiling_key(self, model: str) -> tuple[str, dict[str, Any]]:
        return "ceiling", {**self._parts, "model": self.identity("strong", model)}

    def w2s_key(self, weak_model: str, strong_model: str, method: Method) -> tuple[str, dict[str, Any]]:
        models = {name: self.identity(role, name) for name, role in method.models().items()}
        return "w2s", {**self._parts, "weak": self.identity("weak", weak_model),
                       "strong": self.identity("strong", strong_model),
                       "method": method.name, "method_params": method.params, "method_models": models}

    def cell_keys(self, weak_model: str, strong_model: str, method: Method) -> list[tuple[str, str]]:
        """(step, key) of every artefact one (weak, strong, method) cell needs."""
        wanted = [self.weak_key(m, k) for m, k in method.supervisors(weak_model)]
        wanted += [self.ceiling_key(strong_model), self.w2s_key(weak_model, strong_model, method)]
        return [(step, self.store.key(step, parts)) for step, parts in wanted]

    def fits(self, weak_model: str, strong_model: str, method: Method) -> list[Fit]:
        """Every model fitted for one (weak, strong, method) cell, with the examples it is fitted on."""
        supervisors = [Fit(_supervisor_name(m, k), m, "weak", "train_a", self.weak_train(k))
                       for m, k in method.supervisors(weak_model)]
        ceiling = Fit(f"ceiling {strong_model}", strong_model, "strong", "train_a", self.splits.train_a)
        return [*supervisors, ceiling, *method.student_fits(self, strong_model)]

    def weak_train(self, member: int = 0) -> list[Example]:
        """What a supervisor is fitted on: train_a, or for ``member`` > 0 a bootstrap resample of it."""
        train = self.splits.train_a
        if not member:
            return train
        rng = np.random.default_rng([self.seed, member])
        return [train[i] for i in rng.integers(0, len(train), len(train))]

    def _expected(self, step: str) -> Expected:
        """The arrays a step's artefact holds (``[n, K]`` probabilities) and its record's fields."""
        s, k = self.splits, self.loaded.num_classes
        parts = {"test": s.test, **({"train_b": s.train_b, "val_b": s.val_b} if step == "weak" else {})}
        return Expected({name: (len(examples), k) for name, examples in parts.items()}, Fitted.RECORD_FIELDS)

    def _step(self, step_and_parts: tuple[str, dict[str, Any]], compute: Callable[[], Fitted], what: str) -> Fitted:
        """One step's result, from the memo, the store, or ``compute``; ``what`` names it in errors. A step
        that failed for a data reason (W2SError) fails again at once for the next cell that needs it, instead
        of training again to the same failure."""
        step, parts = step_and_parts
        memo_key = self.store.key(step, parts)
        if memo_key in self._failures:
            raise self._failures[memo_key]
        if memo_key not in self._memo:
            label = f"{what} (task {self.loaded.task.name}, seed {self.seed})"
            try:
                stored = self.store.get_or_compute(step, parts, lambda: compute().to_artefact(), self._expected(step), label)
            except W2SError as exc:
                failure = exc.during(label) if isinstance(exc, TrainingDiverged) else exc
                self._failures[memo_key] = failure
                raise failure from None
            self._memo[memo_key] = Fitted.from_artefact(*stored)
        return self._memo[memo_key]

    # -- the protocol's steps ------------------------------------------------------------------------
    def _fit_gt(self, estimator: Estimator, train: Sequence[Example]) -> tuple[Estimator, Fitted]:
        s, k = self.splits, self.loaded.num_classes
        start = time.perf_counter()
        estimator = estimator.fit(train, one_hot(labels_of(train), k), s.val_a,
                                  one_hot(labels_of(s.val_a), k) if s.val_a else None)
        test_probs = estimator.predict_proba(s.test)
        return estimator, Fitted(test_probs, time.perf_counter() - start, _training_log(estimator))

    def weak(self, model: str, member: int = 0) -> Fitted:
        """A supervisor's test predictions and its labels for train_b and val_b (``extra``).

        ``member`` > 0 makes another ensemble member of the same model: a different seed and a
        bootstrap resample of train_a, because a different seed alone does not diversify
        deterministic learners such as TF-IDF + logistic regression."""

        def compute() -> Fitted:
            estimator, fitted = self._fit_gt(self._build_weak(model, self.seed + 1000 * member), self.weak_train(member))
            s = self.splits
            fitted.extra["train_b"] = estimator.predict_proba(s.train_b)
            fitted.extra["val_b"] = estimator.predict_proba(s.val_b) if s.val_b else np.zeros((0, self.loaded.num_classes))
            return fitted

        return self._step(self.weak_key(model, member), compute, _supervisor_name(model, member))

    def ceiling(self, model: str) -> Fitted:
        return self._step(self.ceiling_key(model), lambda: self._fit_gt(self.make_strong(model), self.splits.train_a)[1],
                          f"ceiling {model}")

    def w2s(self, weak_model: str, strong_model: str, method: Method) -> Fitted:
        """Train a fresh strong model on the method's supervision; ``info`` says how the labels
        were made and how accurate they were on train_b (measured with GT, never trained on)."""

        def compute() -> Fitted:
            s = self.splits
            start = time.perf_counter()
            supervision = method.supervision(self, weak_model)
            student = method.train_student(lambda: self.make_strong(strong_model), s.train_b, supervision.train,
                                           s.val_b, supervision.val)
            test_probs = student.predict_proba(s.test)
            info = replace(supervision.info, label_accuracy=accuracy_of(supervision.train, s.train_b))
            return Fitted(test_probs, time.perf_counter() - start, _training_log(student), info=to_json(info))

        return self._step(self.w2s_key(weak_model, strong_model, method), compute,
                          f"w2s student {strong_model} ({method.name}, weak {weak_model})")
