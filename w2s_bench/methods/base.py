"""Methods: how the weak-to-strong step is supervised and trained.

A method answers three questions, each a small overridable hook:

* ``supervision``: which labels the student sees for train_b (default: the weak supervisor's soft
  labels; ensembles combine several supervisors, bootstrapping passes labels along a chain);
* ``targets`` / ``loss``: how those labels become training targets and which loss the one training
  loop uses (hard labels, the auxiliary confidence loss, ...);
* ``train_student``: how the strong model is fitted (default: finetuning; probes fit a classifier
  on frozen features).

None re-implements the training loop. On the command line a method is ``name`` or
``name(key=value,...)``, e.g. ``logconf(alpha_max=0.5)``; parameters are the keyword arguments of
the registered factory, so a typo gets a "did you mean".
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from w2s_bench.errors import W2SError, did_you_mean
from w2s_bench.examples import Example
from w2s_bench.models.base import Estimator, Loss
from w2s_bench.models.registry import parse_value
from w2s_bench.records.supervision import SingleSupervision, SupervisionInfo

if TYPE_CHECKING:
    from w2s_bench.protocol import Protocol


@dataclass
class Supervision:
    """The labels a student is trained on (``[n, K]`` probabilities for train_b and val_b) and a
    description of how they were made (per-member or per-link accuracies, for the run record)."""

    train: np.ndarray
    val: np.ndarray
    info: SupervisionInfo = field(default_factory=SingleSupervision)


@dataclass
class Method:
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    description: str = ""

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


METHODS: dict[str, Callable[..., Method]] = {}


def register(name: str) -> Callable[[Callable[..., Method]], Callable[..., Method]]:
    def wrap(factory: Callable[..., Method]) -> Callable[..., Method]:
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

    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or "method" not in data:
        raise W2SError("a method file needs `method: <registered name>` and optional `params: {...}`", where=str(path))
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise W2SError("params must be a mapping", where=f"{path}: params")
    return str(data["method"]), params


def parse_method_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``name``, ``name(k=v,...)`` or a method YAML file -> (registered name, parameters)."""
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
        params[key.strip()] = parse_value(value.strip())
    return match["name"], params


def get_method(spec: str) -> Method:
    """A configured method from its command-line spec; its ``name`` is the spec as written in the
    table (``logconf`` or ``logconf(alpha_max=0.5)``), so variants are separate rows."""
    name, params = parse_method_spec(spec)
    if name not in METHODS:
        raise W2SError(f"unknown method {name!r}", where="--methods",
                       fix=did_you_mean(name, METHODS) + " (`w2s-bench ls methods` lists them)")
    factory = METHODS[name]
    accepted = [p for p in inspect.signature(factory).parameters if p != "self"]
    for key in params:
        if key not in accepted:
            raise W2SError(f"method {name!r} has no parameter {key!r}", where=f"--methods {spec}",
                           fix=did_you_mean(key, accepted) if accepted else f"{name} takes no parameters")
    method = factory(**params)
    method.name = name + (f"({','.join(f'{k}={v}' for k, v in params.items())})" if params else "")
    return method
