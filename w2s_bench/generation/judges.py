"""Judges: what scores a generation task's (prompt, output) pairs, from a registry, never from a web API.

A task's ``judge`` block names a registered judge type and its settings::

    judge: {type: classifier, task: [sst2, w2s_demo_sentiment], class: positive, model: tfidf}
    judge: {type: rule, regex: "\\b(great|wonderful)\\b"}
    judge: {type: rule, expression: "{{ 'great' in output }}"}

A score is a number in [0, 1], higher is better; a run's ``{model}_score`` is its mean over the test
prompts. The block is checked when the task file is parsed (:func:`check_judge_config`: the type, the
keys, the template), and against the other tasks and the run's models when a sweep is planned
(:meth:`Judge.check`: the judge task exists, is a classification task with the class named, has data
here, and the judge model is not one of the models it judges), so a bad judge fails before any training.

* ``classifier``: a classifier the harness trains on a classification task with ground truth (its
  training parts, seed 0: the same yardstick for every run seed), scoring ``P(class | text)``, where the
  text is the ``text`` template rendered with ``prompt`` and ``output`` (default: the output alone). Its
  test accuracy on that task is measured and recorded with every run, so a reader can weigh its verdicts.
  It is trained only when some output needs a score the artefact store does not have: a rerun reuses the
  stored scores and trains nothing.
* ``rule``: a regular expression (1 when it matches the output) or one Jinja expression over ``prompt`` and
  ``output`` rendered in the task template sandbox (``w2s_bench.tasks.templates``), giving a boolean or a
  number in [0, 1]. For tests and for properties a rule can decide.

Adding a judge: subclass :class:`Judge`, declare its ``settings`` and decorate it with
``@register_judge("name")``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from w2s_bench.errors import W2SError, did_you_mean
from w2s_bench.tasks.templates import Template, is_single_expression

JUDGES: dict[str, type[Judge]] = {}


def register_judge(name: str) -> Callable[[type[Judge]], type[Judge]]:
    """``@register_judge("name")`` on a :class:`Judge` subclass; a name taken by another class is refused."""

    def wrap(cls: type[Judge]) -> type[Judge]:
        if JUDGES.get(name, cls) is not cls:
            raise W2SError(f"judge type {name!r} is already registered by {JUDGES[name].__qualname__}",
                           where=f"@register_judge({name!r})", fix="choose another name")
        cls.type_name = name
        JUDGES[name] = cls
        return cls

    return wrap


@dataclass
class JudgeContext:
    """What a judge may use in a run: the run's data folder and task include paths, the artefact store
    (a classifier judge caches its test predictions there) and the names of the models it judges."""

    data_dir: str | None = None
    include_paths: list[str] = field(default_factory=list)
    store: Any = None
    judged_models: tuple[str, ...] = ()


class Judge:
    """Scores (prompt, output) pairs in [0, 1]. ``settings`` maps each accepted key of the judge block to
    (its type, whether it is required); ``__init__`` stores them and checks what needs nothing else."""

    type_name: ClassVar[str] = ""
    settings: ClassVar[dict[str, tuple[type | tuple[type, ...], bool]]] = {}

    def __init__(self, config: dict[str, Any], where: str) -> None:
        self.config, self.where = dict(config), where

    def check(self, context: JudgeContext) -> None:
        """Raise a W2SError if the judge cannot run in this sweep (checked while the sweep is planned)."""

    def identity(self, context: JudgeContext) -> dict[str, Any]:
        """Everything that determines its scores, for artefact keys."""
        return {"type": self.type_name, **self.config}

    def describe(self, context: JudgeContext) -> dict[str, Any]:
        """What the run record says about the judge: its identity and, for a trained judge, its test accuracy."""
        return {"identity": self.identity(context), "test_acc": None}

    def score(self, prompts: Sequence[str], outputs: Sequence[str], context: JudgeContext) -> np.ndarray:
        raise NotImplementedError


def make_judge(config: Any, where: str = "judge") -> Judge:
    """The judge a task's block describes, with its keys and types checked."""
    if not isinstance(config, dict) or "type" not in config:
        from w2s_bench.tasks.config import JUDGE_FIX

        raise W2SError(f"a judge is a mapping with a type, got {config!r}", where=where, fix=JUDGE_FIX)
    kind = config["type"]
    if kind not in JUDGES:
        raise W2SError(f"unknown judge type {kind!r}", where=f"{where}.type", fix=did_you_mean(str(kind), JUDGES))
    cls = JUDGES[kind]
    settings = {k: v for k, v in config.items() if k != "type"}
    for key, value in settings.items():
        if key not in cls.settings:
            raise W2SError(f"unknown key {key!r} of a {kind} judge", where=f"{where}.{key}",
                           fix=did_you_mean(str(key), cls.settings))
        wanted = cls.settings[key][0]
        if isinstance(value, bool) and wanted is not bool or not isinstance(value, wanted):
            names = " or ".join(t.__name__ for t in (wanted if isinstance(wanted, tuple) else (wanted,)))
            raise W2SError(f"must be {names}, got {value!r}", where=f"{where}.{key}")
    missing = [k for k, (_, required) in cls.settings.items() if required and k not in settings]
    if missing:
        raise W2SError(f"a {kind} judge needs {', '.join(missing)}", where=where, fix=_FIXES.get(kind))
    return cls(settings, where)


def check_judge_config(config: Any, where: str) -> None:
    """The checks a task file's judge block can have without other tasks or models (see :func:`make_judge`)."""
    make_judge(config, where)


_FIXES = {"classifier": "e.g. {type: classifier, task: w2s_demo_sentiment, class: positive}",
          "rule": 'e.g. {type: rule, regex: "\\\\bgreat\\\\b"} or {type: rule, expression: "{{ \'great\' in output }}"}'}


@register_judge("rule")
class RuleJudge(Judge):
    """1 when ``regex`` matches the output (re.search), else 0; or the value of a Jinja ``expression``."""

    settings = {"regex": (str, False), "expression": (str, False)}

    def __init__(self, config: dict[str, Any], where: str) -> None:
        super().__init__(config, where)
        if ("regex" in config) == ("expression" in config):
            raise W2SError("a rule judge needs exactly one of regex and expression", where=where, fix=_FIXES["rule"])
        self.pattern = self.expression = None
        if "regex" in config:
            try:
                self.pattern = re.compile(config["regex"])
            except re.error as exc:
                raise W2SError(f"invalid regular expression: {exc}", where=f"{where}.regex") from None
        else:
            if not is_single_expression(config["expression"]):
                raise W2SError(f"expression must be one Jinja expression, got {config['expression']!r}",
                               where=f"{where}.expression", fix=_FIXES["rule"])
            self.expression = Template(config["expression"], f"{where}.expression")

    def score(self, prompts: Sequence[str], outputs: Sequence[str], context: JudgeContext) -> np.ndarray:
        if self.pattern is not None:
            return np.array([float(self.pattern.search(o) is not None) for o in outputs])
        values = []
        for prompt, output in zip(prompts, outputs, strict=True):
            value = self.expression({"prompt": prompt, "output": output})
            if isinstance(value, bool):
                value = float(value)
            if not isinstance(value, int | float) or not 0 <= value <= 1:
                raise W2SError(f"the expression gave {value!r}, not a boolean or a number in [0, 1]",
                               where=f"{self.where}.expression", fix=_FIXES["rule"])
            values.append(float(value))
        return np.array(values)


def _is_local(config: Any, data_dir: str | None) -> bool:
    """Whether a task's rows are generated or in a local mirror (no download needed)."""
    from w2s_bench.tasks.data import local_split_sizes

    return local_split_sizes(config, data_dir) is not None


@register_judge("classifier")
class ClassifierJudge(Judge):
    """``P(class | text)`` from a model the harness trains on a classification task with ground truth.

    ``task`` is a task name, or a list tried in order (the first with local or generated data, the last one
    also from the hub: ``[sst2, w2s_demo_sentiment]`` is SST-2 with a mirror, the generated task without);
    ``model`` any classifier alias (default ``tfidf``: seconds on a CPU); ``model_args`` its settings; ``limit`` caps each
    protocol part of the judge task; ``text`` is what the classifier reads (default ``{{ output }}``)."""

    settings = {"task": ((str, list), True), "class": (str, True), "model": (str, False), "model_args": (dict, False),
                "limit": (int, False), "text": (str, False)}
    SEED = 0  # the judge task's split seed and training seed: one yardstick for every run seed

    def __init__(self, config: dict[str, Any], where: str) -> None:
        super().__init__(config, where)
        self.tasks = [config["task"]] if isinstance(config["task"], str) else list(config["task"])
        if not self.tasks or not all(isinstance(t, str) for t in self.tasks):
            raise W2SError(f"task must be a task name or a list of names, got {config['task']!r}", where=f"{where}.task")
        self.class_name = config["class"]
        self.model = config.get("model", "tfidf")
        self.text = Template(config.get("text", "{{ output }}"), f"{where}.text")
        self._loaded: Any = None  # (task, loaded task, model spec), once per process
        self._estimator: Any = None

    def _resolve(self, context: JudgeContext) -> tuple[Any, Any, Any]:
        """(task, loaded task, model spec): the first listed task with data here, its splits for seed 0."""
        if self._loaded is not None:
            return self._loaded
        from w2s_bench.models.registry import fetch, resolve
        from w2s_bench.tasks.data import load_source
        from w2s_bench.tasks.registry import TaskRegistry

        registry = TaskRegistry.discover(context.include_paths)
        chosen, reasons = None, []
        for name in self.tasks:
            if name not in registry.tasks:
                raise W2SError(f"unknown judge task {name!r}", where=f"{self.where}.task",
                               fix=did_you_mean(name, registry.tasks))
            task = registry.get(name)
            if task.config.output_type != "classification":
                raise W2SError(f"judge task {name!r} is a {task.config.output_type} task, not a classification task "
                               "(a judge reads one text and gives a class probability)", where=f"{self.where}.task",
                               fix="name a classification task with ground-truth labels, e.g. w2s_demo_sentiment")
            if self.class_name not in task.config.doc_to_choice:
                raise W2SError(f"judge task {name!r} has no class {self.class_name!r} (its classes: "
                               f"{', '.join(map(str, task.config.doc_to_choice))})", where=f"{self.where}.class",
                               fix=did_you_mean(self.class_name, map(str, task.config.doc_to_choice)))
            if chosen is None and (_is_local(task.config, context.data_dir) or name == self.tasks[-1]):
                try:  # the hub only for the last one: a listed task with local data wins over a download attempt
                    load_source(task.config, context.data_dir)
                    chosen = task
                except W2SError as exc:
                    reasons.append(f"{name}: {exc.what}")
            elif chosen is None:
                reasons.append(f"{name}: no local mirror")
        if chosen is None:
            raise W2SError(f"no judge task has data here ({'; '.join(reasons)})", where=f"{self.where}.task",
                           fix="point --data_dir at a mirror that has one, or list a generated task")
        if self.model in context.judged_models:
            raise W2SError(f"the judge model {self.model!r} is also a model it judges", where=f"{self.where}.model",
                           fix="a judge must be independent of the models it scores: choose another judge model")
        spec = resolve(self.model).with_params(self.config.get("model_args", {}), where=f"{self.where}.model_args")
        if spec.kind == "hf":
            from dataclasses import replace

            spec = replace(spec, path=fetch(spec, data_dir=context.data_dir))
        loaded = chosen.load(seed=self.SEED, limit=self.config.get("limit"), data_dir=context.data_dir)
        self._loaded = (chosen, loaded, spec)
        return self._loaded

    def check(self, context: JudgeContext) -> None:
        self._resolve(context)

    def identity(self, context: JudgeContext) -> dict[str, Any]:
        task, loaded, spec = self._resolve(context)
        return {"type": self.type_name, "task": task.name, "task_hash": task.config_hash(),
                "data": loaded.splits.fingerprint(), "class": self.class_name, "model": spec.identity(),
                "text": self.config.get("text", "{{ output }}"), "seed": self.SEED}

    def _class_index(self, context: JudgeContext) -> int:
        return [str(c) for c in self._resolve(context)[0].config.doc_to_choice].index(self.class_name)

    def _test_probs(self, context: JudgeContext) -> np.ndarray:
        """The judge's probabilities on its task's test part, through the artefact store."""
        from w2s_bench.cache import Artefact, ArtefactStore, Expected

        _, loaded, _ = self._resolve(context)
        store = context.store or ArtefactStore(None)
        expected = Expected({"test": (len(loaded.splits.test), loaded.num_classes)})
        artefact, _, _ = store.get_or_compute(
            "judge", {"judge": self.identity(context)},
            lambda: Artefact({"test": self._trained(context).predict_proba(loaded.splits.test)}), expected,
            f"judge {self.model} on {loaded.task.name}")
        return artefact.arrays["test"]

    def _trained(self, context: JudgeContext) -> Any:
        """The judge's estimator, fitted once per process on the judge task's training parts with ground truth."""
        if self._estimator is None:
            from w2s_bench.examples import labels_of, one_hot
            from w2s_bench.models.registry import build_estimator

            _, loaded, spec = self._resolve(context)
            s, k = loaded.splits, loaded.num_classes
            train = [*s.train_a, *s.train_b]
            self._estimator = build_estimator(spec, self.SEED).fit(
                train, one_hot(labels_of(train), k), s.val_a, one_hot(labels_of(s.val_a), k) if s.val_a else None)
        return self._estimator

    def describe(self, context: JudgeContext) -> dict[str, Any]:
        from w2s_bench.examples import accuracy_of

        _, loaded, _ = self._resolve(context)
        return {"identity": self.identity(context), "test_acc": accuracy_of(self._test_probs(context), loaded.splits.test)}

    def score(self, prompts: Sequence[str], outputs: Sequence[str], context: JudgeContext) -> np.ndarray:
        from w2s_bench.examples import Example

        texts = [str(self.text({"prompt": p, "output": o})) for p, o in zip(prompts, outputs, strict=True)]
        examples = [Example(str(i), (text,), 0) for i, text in enumerate(texts)]
        return self._trained(context).predict_proba(examples)[:, self._class_index(context)].astype(np.float64)
