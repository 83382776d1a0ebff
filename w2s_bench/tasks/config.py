"""The task YAML schema: a dataclass, and validation with precise errors.

The schema follows lm-evaluation-harness where it fits (``task``, ``tag``, ``dataset_path``,
``dataset_name``, ``dataset_kwargs``, ``training_split``, ``validation_split``, ``test_split``, ``doc_to_text``,
``doc_to_target``, ``doc_to_choice``, ``target_delimiter``, ``process_docs``, ``metric_list``,
``include``, ``metadata.version``) and adds what the weak-to-strong protocol needs (``family``,
``binarize_choices``, ``doc_filter``, ``split``).

``process_docs`` names a Python function (``package.module.function``) that maps a split's rows to
new rows, for the few tasks whose inputs need code (chess move candidates); ``doc_filter`` is a
Jinja expression that keeps the rows for which it is true (e.g. a rating bucket).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from w2s_bench.errors import W2SError, did_you_mean
from w2s_bench.tasks.templates import is_single_expression

OUTPUT_TYPES = ("classification", "multiple_choice", "pairwise_preference")
FAMILIES = ("nlp", "chess", "reward", "safety", "demo")
KNOWN_METRICS = ("acc", "auroc", "ece")


@dataclass(frozen=True)
class SplitConfig:
    """How the protocol's parts are drawn from the dataset's splits.

    ``split_seed`` fixes everything that must not change between run seeds (the test set and,
    when a split is missing, the carving of one split out of another). ``carve_fraction`` is the
    share taken for the test set when the source has no test split (or, reversed, the share left
    for training when it has no training split). ``val_fraction`` of each training half is held
    out for early stopping: GT labels for the weak model and the ceiling, weak labels for w2s.
    ``balance_labels`` downsamples every part to equal class counts (for skewed sets such as
    unfair_tos, where a constant "fair" prediction would score 90%).
    """

    split_seed: int = 1234
    carve_fraction: float = 0.3
    val_fraction: float = 0.1
    balance_labels: bool = False


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
    description: str = ""
    source_file: str = "<memory>"

    @property
    def version(self) -> str:
        return str(self.metadata["version"])


_FIELDS = {f.name for f in fields(TaskConfig)} - {"source_file"}
_REQUIRED = {"task", "dataset_path", "test_split", "doc_to_text", "doc_to_target", "metadata"}
_SPLIT_FIELDS = {f.name for f in fields(SplitConfig)}


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse one YAML file into a mapping, turning syntax errors into W2SError."""
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise W2SError(f"invalid YAML: {exc}", where=str(path), fix="check indentation and quoting") from exc
    if not isinstance(data, dict):
        raise W2SError("a task file must be a mapping of fields", where=str(path))
    return data


def resolve_includes(path: Path, data: dict[str, Any], seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Merge ``include: base.yaml`` (relative to the including file); the including file wins."""
    include = data.get("include")
    if include is None:
        return data
    base_path = (path.parent / include).resolve()
    if base_path in seen:
        raise W2SError(f"include cycle through {base_path}", where=f"{path}: include")
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
                           fix=did_you_mean(key, _FIELDS))
    missing = sorted(_REQUIRED - data.keys())
    if missing:
        raise W2SError(f"missing required field(s) {', '.join(missing)}", where=source,
                       fix="see tasks/nlp/sst2.yaml for a complete example")
    _check_type(data, "task", str, source)
    _check_choice(data.get("output_type", "classification"), OUTPUT_TYPES, "output_type", source)
    _check_choice(data.get("family", "nlp"), FAMILIES, "family", source)
    if not isinstance(data["metadata"], dict) or "version" not in data["metadata"]:
        raise W2SError("metadata must be a mapping with a 'version'", where=f"{source}: metadata",
                       fix="add `metadata: {version: 1.0}` and bump it whenever a template changes")
    if isinstance(data.get("tag"), str):
        data["tag"] = [data["tag"]]
    data["metric_list"] = _parse_metrics(data.get("metric_list", [{"metric": "acc"}]), source)
    data["split"] = _parse_split(data.get("split", {}), source)
    output_type = data.get("output_type", "classification")
    if output_type == "classification" and not isinstance(data.get("doc_to_choice"), list):
        raise W2SError("classification tasks need doc_to_choice as a list of class names",
                       where=f"{source}: doc_to_choice", fix='e.g. doc_to_choice: ["negative", "positive"]')
    if output_type != "classification" and data.get("doc_to_choice") is None:
        raise W2SError(f"{output_type} tasks need doc_to_choice (the candidates)",
                       where=f"{source}: doc_to_choice", fix='e.g. doc_to_choice: "{{[chosen, rejected]}}"')
    if data.get("doc_filter") is not None and not is_single_expression(data["doc_filter"]):
        raise W2SError(f"doc_filter must be one Jinja expression, got {data['doc_filter']!r}",
                       where=f"{source}: doc_filter", fix='e.g. doc_filter: "{{ rating < 1200 }}"')
    if data.get("binarize_choices") and output_type != "multiple_choice":
        raise W2SError("binarize_choices only applies to multiple_choice tasks",
                       where=f"{source}: binarize_choices")
    return TaskConfig(**data, source_file=source)


def _check_type(data: dict[str, Any], key: str, kind: type, source: str) -> None:
    if not isinstance(data[key], kind):
        raise W2SError(f"{key} must be a {kind.__name__}, got {data[key]!r}", where=f"{source}: {key}")


def _check_choice(value: Any, allowed: tuple[str, ...], key: str, source: str) -> None:
    if value not in allowed:
        raise W2SError(f"unknown {key} {value!r}", where=f"{source}: {key}",
                       fix=did_you_mean(str(value), allowed))


def _parse_metrics(metric_list: Any, source: str) -> list[dict[str, Any]]:
    if not isinstance(metric_list, list):
        raise W2SError("metric_list must be a list like [{metric: acc}]", where=f"{source}: metric_list")
    parsed = []
    for item in metric_list:
        item = {"metric": item} if isinstance(item, str) else item
        if not isinstance(item, dict) or item.get("metric") not in KNOWN_METRICS:
            name = item.get("metric") if isinstance(item, dict) else item
            raise W2SError(f"unknown metric {name!r}", where=f"{source}: metric_list",
                           fix=did_you_mean(str(name), KNOWN_METRICS))
        parsed.append(item)
    return parsed


def _parse_split(split: Any, source: str) -> SplitConfig:
    if not isinstance(split, dict):
        raise W2SError("split must be a mapping", where=f"{source}: split")
    for key in split:
        if key not in _SPLIT_FIELDS:
            raise W2SError(f"unknown field {key!r}", where=f"{source}: split.{key}",
                           fix=did_you_mean(key, _SPLIT_FIELDS))
    config = SplitConfig(**split)
    for name in ("carve_fraction", "val_fraction"):
        if not 0.0 <= getattr(config, name) < 1.0:
            raise W2SError(f"{name} must be in [0, 1)", where=f"{source}: split.{name}")
    return config


def load_task_config(path: Path) -> TaskConfig:
    """Read, merge includes, and validate one task YAML file."""
    path = Path(path)
    return parse_task_config(resolve_includes(path, read_yaml(path)), str(path))
