"""Methods: how the weak-to-strong step is supervised and trained.

A method answers three questions, each a small overridable hook:

* ``supervision``: which labels the student sees for train_b (default: the weak supervisor's soft
  labels; ensembles combine several supervisors, bootstrapping passes labels along a chain);
* ``targets`` / ``loss``: how those labels become training targets and which loss the one training
  loop uses (hard labels, the auxiliary confidence loss, ...);
* ``train_student``: how the strong model is fitted (default: finetuning; probes fit a classifier
  on frozen features).

A method declares the protocol families it supports (``families``, shown by ``w2s-bench ls methods``);
asking for a method on a task of another family is an error before anything is trained. Generation
methods (``w2s_bench.generation.protocol``) answer three more questions, with the same defaults in
spirit (naive SFT on the weak model's demonstrations):

* ``demonstrations``: which (prompt, continuation) pairs the student is finetuned on (default: train_b's
  prompts with the weak LM's outputs; a filter keeps the ones the weak model is most confident in);
* ``train_generator``: how the strong LM is trained on them (default: SFT);
* ``generate_test``: how the trained student's test outputs are produced (default: one sample per test
  prompt with the task's settings). This is the hook for inference-time methods such as weak-to-strong
  search (``w2s_bench.methods.search``), which steer the frozen strong model's sampling with the tuned and
  untuned weak LM instead of training it: they train nothing (no demonstrations, ``train_generator``
  returns the untuned strong LM) and declare ``pgr_floor = "base"``, so their PGR is measured from the
  untuned strong LM, (w2s - base) / (ceiling - base), rather than from the weak model.

None re-implements the training loop. On the command line a method is ``name`` or
``name(key=value,...)``, e.g. ``logconf(alpha_max=0.5)``; parameters are the keyword arguments of
the registered factory, so a typo gets a "did you mean".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from w2s_bench.errors import W2SError, did_you_mean
from w2s_bench.examples import Example
from w2s_bench.models.base import Estimator, Loss
from w2s_bench.params import check_settings, parse_value, settings_of, source_of
from w2s_bench.records.supervision import SingleSupervision, SupervisionInfo

if TYPE_CHECKING:
    from w2s_bench.generation.lm import CausalLM
    from w2s_bench.generation.protocol import GenerationProtocol
    from w2s_bench.protocol import Protocol


@dataclass
class Supervision:
    """The labels a student is trained on (``[n, K]`` probabilities for train_b and val_b) and a
    description of how they were made (per-member or per-link accuracies, for the run record)."""

    train: np.ndarray
    val: np.ndarray
    info: SupervisionInfo = field(default_factory=SingleSupervision)


@dataclass(frozen=True)
class Fit:
    """One model fitted on a set of training examples, as a sweep plan checks it: the part holds
    enough examples of each class for the estimator (``min_per_class`` overrides the estimator's own
    ``min_examples_per_class``, e.g. a probe fitted on a transformer's features)."""

    what: str  # "weak supervisor tfidf", "bootstrap link minilm-l2 (fold 1 of train_b)", ...
    model: str
    role: str  # "weak" or "strong": whose settings build the model
    part: str  # the protocol part the examples come from
    examples: Sequence[Example]
    min_per_class: int | None = None


@dataclass
class Method:
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    families: tuple[str, ...] = ("classification",)  # the protocol families (task kinds) it can run
    # the model PGR's gap starts from: the weak supervisor, or for generation methods that steer the untuned
    # strong LM instead of training it, that LM ("base"); the record carries it (metric pgr_floor)
    pgr_floor: str = "weak"

    def check_family(self, family: str, task: str) -> None:
        """A W2SError when the method cannot run a task of ``family`` (checked while a sweep is planned)."""
        if family not in self.families:
            raise W2SError(f"method {self.name!r} supports {' and '.join(self.families)} tasks, and {task!r} is a "
                           f"{family} task", where="--methods",
                           fix=f"`w2s-bench ls methods` says which family each method supports; for {family} tasks "
                               f"e.g. --methods naive")

    def models(self) -> dict[str, str]:
        """Models this method needs besides --weak and --strong: name -> role ("weak" or "strong"),
        so they are resolved (and downloaded) before any training starts."""
        return {}

    def supervisors(self, weak_model: str) -> list[tuple[str, int]]:
        """The weak supervisors (model, ensemble member) :meth:`supervision` fits, for sweep plans."""
        return [(weak_model, 0)]

    def check(self, weak_model: str) -> None:
        """Raise a W2SError when the method cannot run as configured with this weak model; the sweep calls
        it for every cell while planning, before anything is trained."""

    def student_fits(self, protocol: Protocol, strong_model: str) -> list[Fit]:
        """The models this method fits on train_b, for the plan's check that each has enough examples
        per class (the ground-truth counts: the weak labels are not known before training)."""
        return [Fit(f"w2s student {strong_model}", strong_model, "strong", "train_b", protocol.splits.train_b)]

    def supervision(self, protocol: Protocol, weak_model: str) -> Supervision:
        """The weak supervisor's labels for train_b and its validation part."""
        weak = protocol.weak(weak_model)
        return Supervision(weak.extra["train_b"], weak.extra["val_b"])

    def targets(self, weak_probs: np.ndarray) -> np.ndarray:
        """The student's training targets, from the supervisor's probabilities."""
        return weak_probs

    def loss(self) -> Loss | None:
        """A training loss for the student, or None for soft cross-entropy."""
        return None

    def train_student(self, make_student: Callable[[], Estimator], train: Sequence[Example], weak_probs: np.ndarray,
                      val: Sequence[Example], weak_val_probs: np.ndarray) -> Estimator:
        """Fit a fresh strong model on weak labels; early stopping sees weak labels only, never GT."""
        student = make_student()
        val_targets = self.targets(weak_val_probs) if len(val) else None
        return student.fit(train, self.targets(weak_probs), val, val_targets, loss=self.loss())


    # -- the generation family's hooks (see the module docstring) ------------------------------------
    def check_generation(self, protocol: GenerationProtocol, weak_model: str, strong_model: str) -> None:
        """Raise a W2SError when the method cannot run with these resolved models (e.g. EFT's shared
        vocabulary); called while the sweep is planned, before anything is trained."""

    def demonstrations(self, protocol: GenerationProtocol, weak_model: str) -> tuple[list[str], list[str], dict | None]:
        """``(prompts, continuations, info)`` the student is finetuned on: train_b's prompts and the weak
        LM's demonstrations for them; ``info`` (JSON, or None) goes into the run record's supervision."""
        return [d.prompt for d in protocol.splits.train_b], list(protocol.weak(weak_model).outputs["train_b"]), None

    def train_generator(self, protocol: GenerationProtocol, strong_model: str, prompts: list[str],
                        continuations: list[str]) -> tuple[CausalLM, dict[str, Any] | None]:
        """A fresh strong LM finetuned on the demonstrations, with its training log."""
        if not prompts:
            raise W2SError(f"method {self.name} kept no weak demonstration", where=f"--methods {self.name}",
                           fix="keep more of them (a larger fraction), or use --methods naive")
        return protocol.finetuned("strong", strong_model, prompts, continuations, f"w2s student {strong_model}")

    def generate_test(self, protocol: GenerationProtocol, student: CausalLM, weak_model: str) -> list[str]:
        """The student's output for each test prompt, in order (default: one sample with the task's settings).
        ``weak_model`` names the weak LM, for methods that steer the student with it."""
        return protocol.write(student, protocol.test_prompts())


METHODS: dict[str, Callable[..., Method]] = {}


def register(name: str) -> Callable[[Callable[..., Method]], Callable[..., Method]]:
    """``@register("name")`` on a factory whose keyword arguments are the method's parameters. A name
    already taken by another factory is refused, naming both."""

    def wrap(factory: Callable[..., Method]) -> Callable[..., Method]:
        taken = METHODS.get(name)
        if taken is not None and taken is not factory:
            raise W2SError(f"method name {name!r} is already registered by {source_of(taken)}",
                           where=f"@register({name!r}) on {source_of(factory)}", fix="choose another name")
        METHODS[name] = factory
        return factory

    return wrap


_SPEC = re.compile(r"^\s*(?P<name>[\w.-]+)\s*(?:\((?P<args>.*)\))?\s*$", re.DOTALL)


def split_method_list(text: str) -> list[str]:
    """``"naive,logconf(alpha_max=0.5,warmup_fraction=0.1)"`` -> two specs (commas inside
    parentheses belong to the method)."""
    specs, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            specs.append(current)
            current = ""
        else:
            current += char
    specs.append(current)
    return [s.strip() for s in specs if s.strip()]


def _from_yaml(path: Path) -> tuple[str, dict[str, Any]]:
    """A method file: ``method: logconf`` and ``params: {alpha_max: 0.5}``."""
    import yaml

    if not path.is_file():
        raise W2SError(f"method file {str(path)!r} {'is a folder' if path.is_dir() else 'does not exist'}",
                       where="--methods", fix="give a method YAML file (method: name, params: {...}) or a method name")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise W2SError(f"not a readable YAML file ({type(exc).__name__})", where=str(path),
                       fix="write `method: <registered name>` and optional `params: {...}`") from None
    if not isinstance(data, dict) or "method" not in data:
        raise W2SError("a method file needs `method: <registered name>` and optional `params: {...}`", where=str(path))
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise W2SError("params must be a mapping", where=f"{path}: params")
    return str(data["method"]), params


def parse_method_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``name``, ``name(k=v,...)`` or a method YAML file -> (registered name, parameters: text from
    the command line, values from YAML; :func:`get_method` converts them to the factory's types)."""
    if spec.endswith((".yaml", ".yml")):
        return _from_yaml(Path(spec))
    match = _SPEC.match(spec)
    if not match:
        raise W2SError(f"cannot read method {spec!r}", where="--methods", fix='write name or name(key=value,...)')
    params: dict[str, Any] = {}
    for item in split_method_list(match["args"] or ""):
        key, sep, value = item.partition("=")
        if not sep:
            raise W2SError(f"expected key=value in {spec!r}, got {item!r}", where="--methods",
                           fix='e.g. --methods "logconf(alpha_max=0.5)"')
        params[key.strip()] = value.strip()
    return match["name"], params


def get_method(spec: str) -> Method:
    """A configured method from its command-line spec; its ``name`` is the spec as written in the
    table (``logconf`` or ``logconf(alpha_max=0.5)``), so variants are separate rows."""
    name, params = parse_method_spec(spec)
    if name not in METHODS:
        raise W2SError(f"unknown method {name!r}", where="--methods",
                       fix=did_you_mean(name, METHODS) + " (`w2s-bench ls methods` lists them)")
    factory = METHODS[name]
    signature, open_ended = settings_of(factory)
    method = factory(**check_settings(params, signature, open_ended, f"method {name!r}", f"--methods {spec}"))
    written = {k: parse_value(v) if isinstance(v, str) else v for k, v in params.items()}  # "0.50" reads 0.5, as ever
    method.name = name + (f"({','.join(f'{k}={v}' for k, v in written.items())})" if written else "")
    return method
