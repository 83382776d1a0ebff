"""The task YAML schema: a dataclass, and validation with precise errors.

The schema follows lm-evaluation-harness where it fits (``task``, ``tag``, ``dataset_path``,
``dataset_name``, ``dataset_kwargs``, ``training_split``, ``validation_split``, ``test_split``, ``doc_to_text``,
``doc_to_target``, ``doc_to_choice``, ``target_delimiter``, ``process_docs``, ``metric_list``,
``include``, ``metadata.version``, and for ``output_type: generate_until`` ``generation_kwargs``) and adds
what the weak-to-strong protocol needs (``family``, ``binarize_choices``, ``doc_filter``, ``split``, and
for generation tasks the ``judge`` that scores outputs, ``w2s_bench.generation.judges``).

A ``generate_until`` task's ``doc_to_text`` is the prompt and ``doc_to_target`` the gold demonstration
(the continuation the weak model and the ceiling are finetuned on).

``process_docs`` names a Python function (``package.module.function``) that maps a split's rows to
new rows, for the few tasks whose inputs need code (chess move candidates); ``doc_filter`` is a
Jinja expression that keeps the rows for which it is true (e.g. a rating bucket).
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from w2s_bench.errors import W2SError, did_you_mean
from w2s_bench.metrics.registry import METRICS, metrics_of_kind
from w2s_bench.tasks.templates import is_single_expression

CLASSIFICATION_TYPES = ("classification", "multiple_choice", "pairwise_preference")
OUTPUT_TYPES = (*CLASSIFICATION_TYPES, "generate_until")
# the protocol family (a run record's ``kind``) of each output type: it decides which metrics a task can report
# and which protocol runs it (``w2s_bench.families``)
KIND_OF_OUTPUT_TYPE = {**{output_type: "classification" for output_type in CLASSIFICATION_TYPES},
                       "generate_until": "generation"}
JUDGE_FIX = ('e.g. judge: {type: classifier, task: w2s_demo_sentiment, class: positive}, or '
             'judge: {type: rule, regex: "\\bgreat\\b"}')
FAMILIES = ("nlp", "chess", "reward", "safety", "demo", "generation")
# keys a metric_list item may carry besides `metric` (lm-eval's); the registry owns their meaning, so they must agree
_METRIC_ITEM_KEYS = ("metric", "higher_is_better", "aggregation")


@dataclass(frozen=True)
class SplitConfig:
    """How the protocol's parts are drawn from the dataset's splits.

    ``split_seed`` fixes everything that must not change between run seeds (the test set and,
    when a split is missing, the carving of one split out of another). ``carve_fraction`` is the
    share taken for the test set when the source has no test split (or, reversed, the share left
    for training when it has no training split). ``val_fraction`` of each training half is held
    out for early stopping: GT labels for the weak model and the ceiling, weak labels for w2s.
    ``balance_labels`` downsamples every part to equal class counts (for skewed sets such as
    unfair_tos, where a constant "fair" prediction would score 90%). ``limit`` is the task's
    ``--limit`` when the command gives none (a generation task's cost is in its prompts, so its
    default run can be sized to minutes); a ``--limit`` on the command line replaces it.
    """

    split_seed: int = 1234
    carve_fraction: float = 0.3
    val_fraction: float = 0.1
    balance_labels: bool = False
    limit: int | None = None


@dataclass(frozen=True)
class TaskConfig:
    task: str
    dataset_path: str
    test_split: str
    doc_to_text: str
    doc_to_target: str | int
    metadata: dict[str, Any]
    output_type: str = "classification"
    doc_to_choice: str | list[str] | None = None
    doc_to_id: str | None = None
    process_docs: str | None = None
    doc_filter: str | None = None
    dataset_name: str | None = None
    dataset_kwargs: dict[str, Any] = field(default_factory=dict)
    training_split: str | None = None
    validation_split: str | None = None  # labelled, disjoint from test: the training source when training_split is absent
    target_delimiter: str = " "
    binarize_choices: bool = False
    family: str = "nlp"
    tag: list[str] = field(default_factory=list)
    metric_list: list[dict[str, Any]] = field(default_factory=lambda: [{"metric": "acc"}])
    split: SplitConfig = field(default_factory=SplitConfig)
    # generate_until tasks: lm-eval's sampling settings and the judge that scores (prompt, output) pairs
    generation_kwargs: dict[str, Any] = field(default_factory=dict)
    judge: dict[str, Any] | None = None
    description: str = ""
    source_file: str = "<memory>"

    @property
    def version(self) -> str:
        return str(self.metadata["version"])

    @property
    def kind(self) -> str:
        """The protocol family of the task's runs (``classification``)."""
        return KIND_OF_OUTPUT_TYPE[self.output_type]

    def run_limit(self, requested: int | None) -> int | None:
        """The cap on each part a run uses: the command's ``--limit``, else the task's ``split.limit``."""
        return requested if requested is not None else self.split.limit

    @property
    def task_metrics(self) -> list[str]:
        """The metrics ``metric_list`` adds to the protocol's fixed set (which every run reports)."""
        return [item["metric"] for item in self.metric_list if not METRICS[item["metric"]].protocol]


_FIELDS = {f.name for f in fields(TaskConfig)} - {"source_file"}
_REQUIRED = {"task", "dataset_path", "test_split", "doc_to_text", "doc_to_target", "metadata"}
_SPLIT_FIELDS = {f.name for f in fields(SplitConfig)}
_TASK_NAME = re.compile(r"^[\w.\-]+$")  # --tasks splits on commas; names also become file names
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's safe loader, when built: 7x faster
MAX_YAML_VALUES = 100_000
MAX_INCLUDE_DEPTH = 20  # a task file is a few dozen values; YAML aliases can expand to billions


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse one YAML file into a mapping, turning syntax and read errors into W2SError."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        raise W2SError(f"invalid YAML: {_yaml_problem(exc)}", where=str(path), fix="check indentation and quoting") from exc
    except UnicodeDecodeError as exc:
        raise W2SError(f"not a UTF-8 text file ({exc.reason} at byte {exc.start})", where=str(path)) from exc
    except OSError as exc:
        raise W2SError(f"cannot read the task file: {exc.strerror or exc}", where=str(path)) from exc
    if not isinstance(data, dict):
        raise W2SError("a task file must be a mapping of fields", where=str(path))
    if _count_values(data) > MAX_YAML_VALUES:
        raise W2SError(f"the file expands to more than {MAX_YAML_VALUES:,} values", where=str(path),
                       fix="a task file needs no deeply nested YAML aliases (&anchor / *alias)")
    return data


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line: what the parser found and where (PyYAML's own message spans several lines)."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        context = f" ({exc.context})" if exc.context else ""
        return f"{exc.problem}{context} at line {mark.line + 1}, column {mark.column + 1}"
    return " ".join(str(exc).split())


def _count_values(value: Any, budget: int = MAX_YAML_VALUES + 1) -> int:
    """How many values the parsed YAML holds once aliases are expanded, counting at most ``budget``."""
    count, stack = 0, [value]
    while stack and count < budget:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            stack += item
    return count


def resolve_includes(path: Path, data: dict[str, Any], seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Merge ``include: base.yaml`` (relative to the including file); the including file wins."""
    include = data.get("include")
    if include is None:
        return data
    if not isinstance(include, str) or not include.strip():
        raise W2SError(f"include must be a file name, got {include!r}", where=f"{path}: include",
                       fix="e.g. include: _base.yaml (relative to this file)")
    base_path = (path.parent / include).resolve()
    if base_path in seen:
        raise W2SError(f"include cycle through {base_path}", where=f"{path}: include")
    if len(seen) >= MAX_INCLUDE_DEPTH:
        raise W2SError(f"more than {MAX_INCLUDE_DEPTH} nested includes", where=f"{path}: include")
    if not base_path.is_file():
        raise W2SError(f"included file {include!r} not found", where=f"{path}: include",
                       fix=f"the path is relative to {path.parent}")
    base = resolve_includes(base_path, read_yaml(base_path), (*seen, base_path))
    merged = {**base, **{k: v for k, v in data.items() if k != "include"}}
    if isinstance(base.get("metadata"), dict) and isinstance(data.get("metadata"), dict):
        merged["metadata"] = {**base["metadata"], **data["metadata"]}
    return merged


def parse_task_config(data: dict[str, Any], source: str) -> TaskConfig:
    """Validate a merged YAML mapping and build the TaskConfig, naming file and field on error."""
    data = dict(data)
    data.pop("include", None)
    for key in data:
        if key not in _FIELDS:
            raise W2SError(f"unknown field {key!r}", where=f"{source}: {key}",
                           fix=did_you_mean(str(key), _FIELDS))
    missing = sorted(_REQUIRED - data.keys())
    if missing:
        raise W2SError(f"missing required field(s) {', '.join(missing)}", where=source,
                       fix="see tasks/nlp/sst2.yaml for a complete example")
    if isinstance(data.get("tag"), str):
        data["tag"] = [data["tag"]]
    for key, value in data.items():
        if key not in ("metric_list", "split"):  # parsed below, with their own messages
            _check_type(key, value, _HINTS[key], source)
    if not _TASK_NAME.match(data["task"]):
        raise W2SError(f"task name {data['task']!r} may only have letters, digits, '_', '-' and '.'",
                       where=f"{source}: task")
    for key in ("dataset_path", "dataset_name"):
        if isinstance(data.get(key), str) and (Path(data[key]).is_absolute() or ".." in Path(data[key]).parts):
            raise W2SError(f"{key} {data[key]!r} is a path; it names a dataset (a hub id, or a folder of the data dir)",
                           where=f"{source}: {key}", fix="e.g. dataset_path: stanfordnlp/sst2 (no '..', not absolute)")
    if "trust_remote_code" in data.get("dataset_kwargs", {}):
        raise W2SError("a task file cannot turn on trust_remote_code (it would run code from the dataset's repository)",
                       where=f"{source}: dataset_kwargs.trust_remote_code", fix="remove it")
    _check_choice(data.get("output_type", "classification"), OUTPUT_TYPES, "output_type", source)
    _check_choice(data.get("family", "nlp"), FAMILIES, "family", source)
    if not isinstance(data["metadata"], dict) or "version" not in data["metadata"]:
        raise W2SError("metadata must be a mapping with a 'version'", where=f"{source}: metadata",
                       fix="add `metadata: {version: 1.0}` and bump it whenever a template changes")
    kind = KIND_OF_OUTPUT_TYPE[data.get("output_type", "classification")]
    data["metric_list"] = _parse_metrics(data.get("metric_list", [{"metric": "acc"}] if kind == "classification" else []),
                                         kind, source)
    data["split"] = _parse_split(data.get("split", {}), source)
    output_type = data.get("output_type", "classification")
    _check_generation_fields(data, output_type, source)
    choices = data.get("doc_to_choice")
    if output_type == "classification" and not (isinstance(choices, list) and len(set(choices)) == len(choices) >= 2):
        raise W2SError(f"classification tasks need doc_to_choice as a list of at least 2 distinct class names, "
                       f"got {choices!r}", where=f"{source}: doc_to_choice",
                       fix='e.g. doc_to_choice: ["negative", "positive"]')
    if output_type in CLASSIFICATION_TYPES[1:] and data.get("doc_to_choice") is None:
        raise W2SError(f"{output_type} tasks need doc_to_choice (the candidates)",
                       where=f"{source}: doc_to_choice", fix='e.g. doc_to_choice: "{{[chosen, rejected]}}"')
    if data.get("doc_filter") is not None and not is_single_expression(data["doc_filter"]):
        raise W2SError(f"doc_filter must be one Jinja expression, got {data['doc_filter']!r}",
                       where=f"{source}: doc_filter", fix='e.g. doc_filter: "{{ rating < 1200 }}"')
    if data.get("binarize_choices") and output_type != "multiple_choice":
        raise W2SError("binarize_choices only applies to multiple_choice tasks",
                       where=f"{source}: binarize_choices")
    return TaskConfig(**data, source_file=source)


def _check_generation_fields(data: dict[str, Any], output_type: str, source: str) -> None:
    """A generate_until task needs a judge (checked by the judge registry) and valid sampling settings; a
    classification task has neither."""
    if output_type != "generate_until":
        for key in ("judge", "generation_kwargs"):
            if data.get(key) not in (None, {}):
                raise W2SError(f"{key} only applies to generate_until tasks (this one is {output_type})",
                               where=f"{source}: {key}", fix="remove it, or set output_type: generate_until")
        return
    if data.get("judge") is None:
        raise W2SError("a generate_until task needs a judge: what scores the (prompt, output) pairs",
                       where=f"{source}: judge", fix=JUDGE_FIX)
    if data.get("doc_to_choice") is not None:
        raise W2SError("doc_to_choice does not apply to generate_until tasks (the model writes text)",
                       where=f"{source}: doc_to_choice", fix="remove it; the judge says what a good output is")
    from w2s_bench.generation.judges import check_judge_config
    from w2s_bench.generation.settings import settings_from_config

    settings_from_config(data.get("generation_kwargs", {}), f"{source}: generation_kwargs")
    check_judge_config(data["judge"], f"{source}: judge")


_HINTS = typing.get_type_hints(TaskConfig)
_SPLIT_HINTS = typing.get_type_hints(SplitConfig)


def _check_type(key: str, value: Any, hint: Any, source: str) -> None:
    """Check a field's value against the dataclass's type hint: the one place the accepted types are written."""
    if not _matches(value, hint):
        shown = repr(value) if len(repr(value)) < 80 else repr(value)[:77] + "..."
        kind = hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")
        raise W2SError(f"must be {kind}, got {shown}", where=f"{source}: {key}",
                       fix="quote values YAML reads as booleans or numbers, e.g. \"yes\"" if "str" in kind else None)


def _matches(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, h) for h in args)
    if origin is list:
        return isinstance(value, list) and all(_matches(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(_matches(k, args[0]) and _matches(v, args[1]) for k, v in value.items())
    if isinstance(value, bool):  # YAML's yes/no/true: never a number or a string
        return hint is bool
    if hint is float:
        return isinstance(value, int | float)
    return isinstance(value, hint)


def _check_choice(value: Any, allowed: tuple[str, ...], key: str, source: str) -> None:
    if value not in allowed:
        raise W2SError(f"unknown {key} {value!r}", where=f"{source}: {key}",
                       fix=did_you_mean(str(value), allowed))


def _parse_metrics(metric_list: Any, kind: str, source: str) -> list[dict[str, Any]]:
    """``metric_list`` items as ``{"metric": name, ...}``, each a metric registered for the task's kind
    (``w2s_bench.metrics.registry``). lm-eval's ``higher_is_better`` and ``aggregation`` keys are accepted
    when they agree with the registry, which is where a metric's metadata lives."""
    where = f"{source}: metric_list"
    if not isinstance(metric_list, list):
        raise W2SError("metric_list must be a list like [{metric: acc}]", where=where)
    known = [metric.name for metric in metrics_of_kind(kind)]
    parsed = []
    for item in metric_list:
        item = {"metric": item} if isinstance(item, str) else item
        if not isinstance(item, dict) or item.get("metric") not in known:
            name = item.get("metric") if isinstance(item, dict) else item
            raise W2SError(f"unknown metric {name!r} for a {kind} task", where=where, fix=did_you_mean(str(name), known))
        metric = METRICS[item["metric"]]
        for key, value in item.items():
            if key not in _METRIC_ITEM_KEYS:
                raise W2SError(f"unknown field {key!r} of metric {metric.name!r}", where=where,
                               fix=did_you_mean(str(key), _METRIC_ITEM_KEYS))
            if key == "higher_is_better" and value is not metric.higher_is_better:
                raise W2SError(f"higher_is_better: {value!r} contradicts the metric {metric.name!r} "
                               f"(higher_is_better {metric.higher_is_better})", where=where, fix="remove the key")
            if key == "aggregation" and value != "mean":
                raise W2SError(f"aggregation {value!r}: per-example metrics are means over the test set",
                               where=where, fix="remove the key, or write aggregation: mean")
        parsed.append(item)
    return parsed


def _parse_split(split: Any, source: str) -> SplitConfig:
    if not isinstance(split, dict):
        raise W2SError("split must be a mapping", where=f"{source}: split")
    for key in split:
        if key not in _SPLIT_FIELDS:
            raise W2SError(f"unknown field {key!r}", where=f"{source}: split.{key}",
                           fix=did_you_mean(str(key), _SPLIT_FIELDS))
    for key, value in split.items():
        _check_type(f"split.{key}", value, _SPLIT_HINTS[key], source)
    config = SplitConfig(**split)
    for name in ("carve_fraction", "val_fraction"):
        if not 0.0 <= getattr(config, name) < 1.0:
            raise W2SError(f"{name} must be in [0, 1)", where=f"{source}: split.{name}")
    if config.limit is not None and config.limit < 1:
        raise W2SError(f"limit must be a positive number of examples, got {config.limit}", where=f"{source}: split.limit",
                       fix="e.g. limit: 200, or leave it out to use every row")
    return config


def load_task_config(path: Path) -> TaskConfig:
    """Read, merge includes, and validate one task YAML file."""
    path = Path(path)
    return parse_task_config(resolve_includes(path, read_yaml(path)), str(path))
