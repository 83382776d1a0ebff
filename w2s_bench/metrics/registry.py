"""The metric registry: one place for what each metric is, read by everyone who touches a metric.

A :class:`Metric` says how a run's value is computed (a function and the named inputs it needs), which
record keys it fills, its JSON type, whether higher is better, how tables aggregate it over seeds and
where it is shown. The run loop computes a run's metrics from it (:func:`compute_metrics`), the tables
choose and format their columns from it, ``w2s-bench compare`` takes the direction of "worse" from it,
and a validator can recompute every metric of a record from its per-sample rows with the same calls.

Each protocol family (a record's ``kind``) has its own metrics; the PGR metrics (kind None) serve every
family, because they need only per-example scores (``{model}_scores``). A family's **protocol** metrics
are always reported; the others are reported when a task's ``metric_list`` names them.

Inputs are names looked up in the run's inputs mapping (``w2s_bench.metrics.catalog``): e.g. ``labels``,
``weak_probs``, ``w2s_scores``, ``n_resamples``. A per-model metric (``per_model=True``) fills one key
per model, ``weak_<name>``, ``ceiling_<name>`` and ``w2s_<name>`` (generation ones also ``base_<name>``, the
untuned strong LM: ``models``), and its inputs may say ``{model}``.
A function that returns a dict (one computation, several keys) names the key it fills with ``output``;
the run computes such a function once.

Adding a metric: write the function (``w2s_bench.metrics.classification``), register it in
``w2s_bench.metrics.catalog`` with :func:`register_metric`, and name it in a task's ``metric_list``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from w2s_bench.metrics.stats import Interval

MODELS = ("weak", "ceiling", "w2s")
GENERATION_MODELS = (*MODELS, "base")  # generation runs also report the untuned strong LM
ValueType = Literal["number", "count", "interval", "flag"]
Aggregate = Literal["mean", "t_interval", "none"]
Show = Literal["terminal", "table", "record"]


@dataclass(frozen=True)
class Metric:
    """One registered metric.

    - ``name``: the record key, or for a per-model metric the suffix of its keys (and the ``metric_list`` name);
    - ``function`` and ``inputs``: the value is ``function(*inputs)`` (``[output]`` when it returns a dict);
    - ``kind``: the protocol family it belongs to (None: every family);
    - ``protocol``: always reported for its kind (else only when a task's ``metric_list`` names it);
    - ``value``: its JSON type: a number, a count (integer), a ``[low, high]`` interval or a flag (string);
      ``nullable``: whether None (undefined, e.g. AUROC with one class) is a valid value;
    - ``higher_is_better``: True, False, or None when neither direction is better (a ratio, an interval);
    - ``aggregate``: over seeds in tables: ``mean``, ``t_interval`` (mean with a Student-t interval; with one
      seed the run's own ``ci_key`` interval), or ``none`` (not aggregated: per-run only);
    - ``show``: the terminal table shows ``terminal`` metrics, Markdown also ``table`` ones; ``record`` ones
      are in the run records and the per-run CSV only;
    - ``display`` (terminal header; ``{model}`` for per-model ones) and ``fmt`` (number format).
    """

    name: str
    function: Callable[..., Any]
    inputs: tuple[str, ...]
    kind: str | None = "classification"
    output: str | None = None
    per_model: bool = False
    protocol: bool = False
    value: ValueType = "number"
    nullable: bool = True
    higher_is_better: bool | None = True
    aggregate: Aggregate = "mean"
    ci_key: str | None = None
    show: Show = "record"
    display: str = ""
    fmt: str = ".3f"
    description: str = ""
    models: tuple[str, ...] = MODELS  # a per-model metric's models

    def keys(self) -> list[str]:
        """The record keys this metric fills."""
        return [f"{model}_{self.name}" for model in self.models] if self.per_model else [self.name]

    def header(self, key: str) -> str:
        """The terminal column header of one of its keys."""
        model = key[: -len(self.name) - 1] if self.per_model else ""
        return (self.display or key).format(model=model)

    def compute(self, inputs: Mapping[str, Any], memo: dict[tuple[Any, ...], Any]) -> dict[str, Any]:
        """Its value(s) for one run, by record key. ``memo`` holds results of functions several metrics share."""
        out = {}
        for key, model in zip(self.keys(), self.models if self.per_model else (None,), strict=True):
            names = tuple(name.format(model=model) for name in self.inputs)
            missing = [n for n in names if n not in inputs]
            if missing:
                raise KeyError(f"metric {self.name!r} needs the input(s) {', '.join(missing)}")
            call = (self.function, names)
            if call not in memo:
                memo[call] = self.function(*(inputs[n] for n in names))
            result = memo[call]
            out[key] = json_value(result[self.output.format(model=model)] if self.output else result)
        return out


METRICS: dict[str, Metric] = {}  # by name


def register_metric(name: str, function: Callable[..., Any], inputs: Iterable[str], **options: Any) -> Metric:
    """Register a metric (see :class:`Metric` for the options); a name registered twice is an error,
    because two definitions of one number would make records ambiguous."""
    if name in METRICS:
        raise ValueError(f"metric {name!r} is already registered")
    metric = Metric(name, function, tuple(inputs), **options)
    METRICS[name] = metric
    return metric


def metrics_of_kind(kind: str) -> list[Metric]:
    """Every metric a run of ``kind`` can report, protocol ones first, in registration order."""
    of_kind = [m for m in METRICS.values() if m.kind in (kind, None)]
    return [m for m in of_kind if m.protocol] + [m for m in of_kind if not m.protocol]


def task_metric_names(kind: str) -> list[str]:
    """The names a task's ``metric_list`` may add for ``kind`` (the protocol's metrics are always reported)."""
    return [m.name for m in metrics_of_kind(kind) if not m.protocol]


def reported_metrics(kind: str, task_metrics: Iterable[str] = ()) -> list[Metric]:
    """The metrics a run reports: its kind's protocol metrics plus those the task names."""
    wanted = set(task_metrics)
    return [m for m in metrics_of_kind(kind) if m.protocol or m.name in wanted]


def compute_metrics(kind: str, inputs: Mapping[str, Any], task_metrics: Iterable[str] = ()) -> dict[str, Any]:
    """All reported metrics of one run as a flat, JSON-safe dict by record key."""
    memo: dict[tuple[Any, ...], Any] = {}
    out: dict[str, Any] = {}
    for metric in reported_metrics(kind, task_metrics):
        out.update(metric.compute(inputs, memo))
    return out


def metric_for_key(key: str) -> Metric | None:
    """The metric that fills record key ``key`` (None: not a registered key)."""
    for metric in METRICS.values():
        if key in metric.keys():
            return metric
    return None


def json_value(value: Any) -> Any:
    """A metric value as JSON: intervals as ``[low, high]``, numpy scalars as Python numbers."""
    if isinstance(value, Interval):
        return value.as_list()
    if hasattr(value, "item"):
        return value.item()
    return value


def value_problem(key: str, value: Any) -> str | None:
    """Why ``value`` cannot be the value of metric key ``key`` (None: it can). Unregistered keys (a metric
    of a newer w2s-bench) only have to be a number, an interval, a string or null."""
    metric = metric_for_key(key)
    if value is None:
        return None if metric is None or metric.nullable else "must not be null"
    kind = metric.value if metric else _value_type(value)
    if kind == "count" and not (isinstance(value, int) and not isinstance(value, bool)):
        return f"expected an integer, got {value!r}"
    if kind == "number" and not _is_number(value):
        return f"expected a number, got {value!r}"
    if kind == "interval" and not (isinstance(value, list) and len(value) == 2 and all(map(_is_number, value))):
        return f"expected an interval [low, high], got {value!r}"
    if kind == "flag" and not isinstance(value, str):
        return f"expected a string, got {value!r}"
    if kind is None:
        return f"expected a number, an interval [low, high], a string or null, got {value!r}"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value and abs(value) != float("inf")


def _value_type(value: Any) -> ValueType | None:
    if isinstance(value, list):
        return "interval"
    if isinstance(value, str):
        return "flag"
    return "number" if _is_number(value) else None
