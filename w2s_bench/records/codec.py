"""Typed records to JSON and back, and their JSON Schema, from the dataclasses' type hints alone.

One walk over a type hint serves three jobs, so the reader, the writer and the shipped schema cannot
disagree about a field:

* :func:`to_json` turns a record into plain JSON values;
* :func:`from_json` builds the record from JSON and names the exact field that is wrong
  (``supervision.members[2].test_acc: expected a number, got 'high'``);
* :func:`type_schema` gives the JSON Schema of a type hint.

Supported hints: ``str``, ``int``, ``float`` (an int is accepted), ``bool``, ``None``, ``X | None``,
``list[X]``, ``dict[str, X]``, ``Literal[...]``, ``Any`` (any JSON value), dataclasses, and unions of
dataclasses told apart by a single-valued ``Literal`` field (a tagged union, e.g. ``kind: Literal["chain"]``).
A dataclass rejects fields it does not declare, so a typo in a file is an error rather than ignored.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin


class FieldError(ValueError):
    """A value that does not fit its type; ``path`` names the field (``a.b[3].c``)."""

    def __init__(self, path: str, what: str) -> None:
        self.path, self.what = path, what
        super().__init__(f"{path}: {what}" if path else what)


def to_json(value: Any) -> Any:
    """Plain JSON values (dicts, lists, str, int, float, bool, None) for a record or anything in one."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return value.item()
    return value


def from_json(hint: Any, value: Any, path: str = "") -> Any:
    """``value`` (parsed JSON) as the type ``hint``, or a :class:`FieldError` naming the field."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return value
    if hint is None or hint is type(None):
        if value is not None:
            raise FieldError(path, f"expected null, got {_show(value)}")
        return None
    if origin is Literal:
        if value not in args:
            raise FieldError(path, f"expected one of {', '.join(map(repr, args))}, got {_show(value)}")
        return value
    if _is_union(hint):
        return _union_from_json(args, value, path)
    if origin is list:
        if not isinstance(value, list):
            raise FieldError(path, f"expected a list, got {_show(value)}")
        return [from_json(args[0], item, f"{path}[{i}]") for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise FieldError(path, f"expected an object, got {_show(value)}")
        return {key: from_json(args[1], item, _join(path, key)) for key, item in value.items()}
    if dataclasses.is_dataclass(hint):
        return _dataclass_from_json(hint, value, path)
    return _scalar_from_json(hint, value, path)


def _scalar_from_json(hint: type, value: Any, path: str) -> Any:
    if hint is bool:
        if not isinstance(value, bool):
            raise FieldError(path, f"expected true or false, got {_show(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise FieldError(path, f"expected an integer, got {_show(value)}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise FieldError(path, f"expected a finite number, got {_show(value)}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise FieldError(path, f"expected a string, got {_show(value)}")
        return value
    raise TypeError(f"unsupported type hint {hint!r} at {path or 'the top level'}")


def _union_from_json(options: tuple[Any, ...], value: Any, path: str) -> Any:
    if value is None and type(None) in options:
        return None
    rest = [o for o in options if o is not type(None)]
    if len(rest) == 1:
        return from_json(rest[0], value, path)
    if not all(dataclasses.is_dataclass(o) for o in rest):  # e.g. int | str: the first that fits
        for option in rest:
            try:
                return from_json(option, value, path)
            except FieldError:
                continue
        raise FieldError(path, f"expected {' or '.join(_name(o) for o in options)}, got {_show(value)}")
    tagged = {tag_of(o): o for o in rest}  # a tagged union of dataclasses
    field = next(iter(tagged))[0]
    if not isinstance(value, dict) or field not in value:
        raise FieldError(path, f"expected an object with a {field!r} field ({' / '.join(t for _, t in tagged)})")
    chosen = tagged.get((field, value[field]))
    if chosen is None:
        raise FieldError(_join(path, field), f"expected one of {', '.join(repr(t) for _, t in tagged)}, "
                                             f"got {_show(value[field])}")
    return from_json(chosen, value, path)


def _dataclass_from_json(cls: type, value: Any, path: str) -> Any:
    if not isinstance(value, dict):
        raise FieldError(path, f"expected an object ({cls.__name__}), got {_show(value)}")
    hints = field_hints(cls)
    unknown = [key for key in value if key not in hints]
    if unknown:
        raise FieldError(_join(path, unknown[0]), f"unknown field (a {cls.__name__} has {', '.join(hints)})")
    kwargs = {}
    for field in dataclasses.fields(cls):
        if field.name in value:
            kwargs[field.name] = from_json(hints[field.name], value[field.name], _join(path, field.name))
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise FieldError(_join(path, field.name), "missing")
    return cls(**kwargs)


def type_schema(hint: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of ``hint``; dataclasses go into ``defs`` (``$defs``) once and are referenced."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return {}
    if hint is None or hint is type(None):
        return {"type": "null"}
    if origin is Literal:
        return {"const": args[0]} if len(args) == 1 else {"enum": list(args)}
    if _is_union(hint):
        return {"anyOf": [type_schema(a, defs) for a in args]}
    if origin is list:
        return {"type": "array", "items": type_schema(args[0], defs)}
    if origin is dict:
        return {"type": "object", "additionalProperties": type_schema(args[1], defs)}
    if dataclasses.is_dataclass(hint):
        if hint.__name__ not in defs:
            defs[hint.__name__] = {}  # placeholder: a recursive type refers to itself
            defs[hint.__name__] = dataclass_schema(hint, defs)
        return {"$ref": f"#/$defs/{hint.__name__}"}
    return {bool: {"type": "boolean"}, int: {"type": "integer"}, float: {"type": "number"},
            str: {"type": "string"}}[hint]


def dataclass_schema(cls: type, defs: dict[str, Any], overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The object schema of a dataclass; ``overrides`` replaces the schema of some fields."""
    hints = field_hints(cls)
    properties = {name: (overrides or {}).get(name) or type_schema(hint, defs) for name, hint in hints.items()}
    required = [f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required,
                              "additionalProperties": False}
    if cls.__doc__:
        schema["description"] = " ".join(cls.__doc__.split())
    return schema


@cache
def field_hints(cls: type) -> dict[str, Any]:
    """A dataclass's fields and their resolved type hints, in declaration order."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


@cache
def tag_of(cls: type) -> tuple[str, str]:
    """(field, value) of the single-valued Literal field that tells a dataclass apart in a tagged union."""
    for name, hint in field_hints(cls).items():
        if get_origin(hint) is Literal and len(get_args(hint)) == 1:
            return name, get_args(hint)[0]
    raise TypeError(f"{cls.__name__} has no Literal tag field, so it cannot be part of a tagged union")


def _is_union(hint: Any) -> bool:
    return get_origin(hint) in (Union, types.UnionType)


def _name(hint: Any) -> str:
    return "null" if hint is type(None) else getattr(hint, "__name__", str(hint))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
