"""JSON Schemas of the files a run writes, generated from the record types and the metric registry, so other
tools can check a file without Python. The shipped copies (``w2s_bench/schemas/*.schema.json``) are these
functions' output; a test fails when they drift apart. Regenerate them after changing a record type or
registering a metric:

    python -m w2s_bench.records.schema
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from w2s_bench.metrics.registry import metrics_of_kind
from w2s_bench.records.codec import dataclass_schema, type_schema
from w2s_bench.records.types import SAMPLE_TYPES, SCHEMA_VERSION, FailedRun, MethodComparison, RunRecord

DRAFT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
_NUMBER, _INTERVAL = {"type": "number"}, {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
_VALUES = {"number": _NUMBER, "count": {"type": "integer"}, "interval": _INTERVAL, "flag": {"type": "string"}}
# a metric this schema does not know (registered by a newer w2s-bench)
_ANY_METRIC = {"anyOf": [_NUMBER, _INTERVAL, {"type": "string"}, {"type": "null"}]}


def results_schema() -> dict[str, Any]:
    """``results.json`` (a list of records) and ``runs/<key>.json`` (one record)."""
    defs: dict[str, Any] = {}
    variants = []
    for kind in SAMPLE_TYPES:
        name = f"RunRecord_{kind}"
        defs[name] = dataclass_schema(RunRecord, defs, {"kind": {"const": kind}, "metrics": _metrics_schema(kind),
                                                        "schema_version": {"const": SCHEMA_VERSION}})
        variants.append({"$ref": f"#/$defs/{name}"})
    defs["FailedRun"] = dataclass_schema(FailedRun, defs, {"kind": {"enum": list(SAMPLE_TYPES)},
                                                           "schema_version": {"const": SCHEMA_VERSION}})
    defs["Record"] = {"oneOf": [*variants, {"$ref": "#/$defs/FailedRun"}]}
    return _document("results", "w2s-bench run records: results.json (a list) or runs/<key>.json (one record)",
                     {"oneOf": [{"$ref": "#/$defs/Record"}, {"type": "array", "items": {"$ref": "#/$defs/Record"}}]}, defs)


def samples_schema() -> dict[str, Any]:
    """One line of ``samples/<key>.jsonl``."""
    defs: dict[str, Any] = {}
    rows = [type_schema(sample_type, defs) for sample_type in SAMPLE_TYPES.values()]
    return _document("samples", "one line of a w2s-bench samples/<key>.jsonl file: a test example's id, gold label "
                     "and each model's predictions", {"oneOf": rows} if len(rows) > 1 else rows[0], defs)


def comparisons_schema() -> dict[str, Any]:
    """``comparisons.json``: the paired method comparisons of a sweep."""
    defs: dict[str, Any] = {}
    return _document("comparisons", "w2s-bench comparisons.json: each method against the baseline on paired runs",
                     {"type": "array", "items": type_schema(MethodComparison, defs)}, defs)


SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {"results.schema.json": results_schema,
                                                     "samples.schema.json": samples_schema,
                                                     "comparisons.schema.json": comparisons_schema}


def _metrics_schema(kind: str) -> dict[str, Any]:
    """The metrics of a run of ``kind``: the protocol's are required; every registered one has its type."""
    properties, required = {}, []
    for metric in metrics_of_kind(kind):
        for key in metric.keys():
            value = _VALUES[metric.value]
            properties[key] = {"anyOf": [value, {"type": "null"}]} if metric.nullable else value
            if metric.description:
                properties[key] = {**properties[key], "description": metric.description}
            if metric.protocol:
                required.append(key)
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": _ANY_METRIC}


def _document(name: str, title: str, body: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    return {"$schema": DRAFT, "$id": f"https://w2s-bench.invalid/schemas/{name}.schema.json", "title": title,
            "x-schema-version": SCHEMA_VERSION, **body, "$defs": dict(sorted(defs.items()))}


def schema_text(name: str) -> str:
    """The schema file ``name`` as written: indented JSON with a final newline."""
    return json.dumps(SCHEMAS[name](), indent=2) + "\n"


def write_schemas(folder: Path = SCHEMA_DIR) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in SCHEMAS:
        (folder / name).write_text(schema_text(name))
        paths.append(folder / name)
    return paths


if __name__ == "__main__":
    for path in write_schemas():
        print(path)
