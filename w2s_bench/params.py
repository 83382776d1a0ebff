"""Settings given by name, checked against the one signature that takes them.

``--weak_args Cs=0.5``, ``--strong_args lr=1e-4,lora=true`` and ``--methods "logconf(alpha_max=0.5)"``
name parameters of a constructor or factory: ``TfidfLogReg.__init__``, ``HFEstimator.__init__``
plus the ``TrainConfig`` fields, a method's registered factory, a custom model's factory. The
accepted names and their types are read from that signature (``inspect.signature`` and the type
annotations), never kept in a second list, so nothing can be accepted here that the constructor
then rejects. Each value is converted to the annotated type (text from the command line) or
checked against it (values from Python or a YAML file), before any training starts; a wrong name
gets a did-you-mean, a wrong type says what was expected.
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from collections.abc import Callable
from typing import Any, NamedTuple

from w2s_bench.errors import W2SError, did_you_mean


class Setting(NamedTuple):
    annotation: Any  # Any when there is none
    default: Any = inspect.Parameter.empty


Signature = dict[str, Setting]


def parse_value(value: str) -> Any:
    """A guess for untyped parameters: "true" -> True, "3" -> 3, "1e-4" -> 0.0001, else the text."""
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def source_of(target: Callable[..., Any]) -> str:
    """Where a factory is defined (``module.qualname``), to say who registered a name."""
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', repr(target))}"


def settings_of(target: Callable[..., Any], skip: tuple[str, ...] = ()) -> tuple[Signature, bool]:
    """The keyword parameters ``target`` (a function or a class) takes, with their annotations, and
    whether it also takes any other keyword (``**kwargs``)."""
    try:
        hints = typing.get_type_hints(target.__init__ if inspect.isclass(target) else target)
    except Exception:  # annotations naming what cannot be imported here: check names, not types
        hints = {}
    signature, open_ended = {}, False
    for name, parameter in inspect.signature(target).parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            open_ended = True
        elif parameter.kind is not inspect.Parameter.VAR_POSITIONAL and name not in skip:
            signature[name] = Setting(hints.get(name, Any), parameter.default)
    return signature, open_ended


def check_settings(values: dict[str, Any], signature: Signature, open_ended: bool, owner: str, where: str) -> dict[str, Any]:
    """``values`` with every value converted to its parameter's type; a W2SError for an unknown name
    (``owner`` says whose: "model 'tfidf'") or a value of the wrong type."""
    out = {}
    for name, value in values.items():
        if name not in signature and not open_ended:
            fix = did_you_mean(name, signature) if signature else f"{owner} takes no settings"
            raise W2SError(f"{owner} has no setting {name!r}", where=where, fix=fix)
        out[name] = coerce(value, signature.get(name, Setting(Any)), name, where)
    return out


class _Mismatch(Exception):
    pass


def coerce(value: Any, setting: Setting, name: str, where: str) -> Any:
    """``value`` as the setting's annotation (int, float, bool, str, X | None, unions, tuple[X, ...],
    list[X], dict, a class), converting text; a W2SError naming the setting and the expected type otherwise."""
    try:
        return _coerce(value, setting.annotation)
    except _Mismatch:
        default = setting.default
        example = (f"{name}={_written(default)} (the default)" if default not in (inspect.Parameter.empty, None, "")
                   else f"{name}={_example(setting.annotation)}")
        raise W2SError(f"{name}={value!r} is not {_describe(setting.annotation)}", where=where,
                       fix=f"e.g. {example}") from None


def _coerce(value: Any, annotation: Any) -> Any:
    if annotation is Any or annotation is inspect.Parameter.empty:
        return parse_value(value) if isinstance(value, str) else value
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and (value is None or (isinstance(value, str) and value.lower() in ("none", "null"))):
            return None
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, option)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin in (tuple, list):
        items = value.split("+") if isinstance(value, str) else value if isinstance(value, list | tuple) else [value]
        item_type = args[0] if args else Any
        return origin(_coerce(item.strip() if isinstance(item, str) else item, item_type) for item in items)
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise _Mismatch
        return value
    if annotation is bool:
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise _Mismatch
        return value
    if annotation in (int, float):
        return _number(value, annotation)
    if annotation is str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _Mismatch
        return str(value)
    if inspect.isclass(annotation) and not isinstance(value, annotation):
        raise _Mismatch
    return value


def _number(value: Any, kind: type) -> int | float:
    """A finite int or float; integral floats (``1e3``) are accepted as ints, booleans never."""
    if isinstance(value, bool):
        raise _Mismatch
    if isinstance(value, str):
        try:
            value = float(value) if kind is float or not value.strip().lstrip("+-").isdigit() else int(value)
        except ValueError:
            raise _Mismatch from None
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise _Mismatch
    if kind is int:
        if float(value) != int(value):
            raise _Mismatch
        return int(value)
    return float(value)


def _describe(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args if a is not type(None)) + (" or none" if type(None) in args else "")
    if origin in (tuple, list):
        return f"{_plural(args[0]) if args else 'values'} joined by '+'"
    names = {int: "an integer", float: "a finite number", bool: "true or false", str: "text",
             dict: "a mapping (from Python or a YAML file)"}
    return names.get(origin or annotation, getattr(annotation, "__name__", str(annotation)))


def _plural(annotation: Any) -> str:
    return {int: "integers", float: "finite numbers", bool: "true or false values", str: "names"}.get(annotation, "values")


_EXAMPLES = {int: "2", float: "0.5", bool: "true", str: "name"}


def _example(annotation: Any) -> str:
    """A value of this type as one writes it on the command line."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return next((_example(a) for a in args if (typing.get_origin(a) or a) in (*_EXAMPLES, tuple, list)), "...")
    if origin in (tuple, list):
        return "+".join([_example(args[0] if args else str)] * 2)
    return _EXAMPLES.get(origin or annotation, "...")


def _written(value: Any) -> str:
    """A default as one writes it on the command line (``true``, ``0.1+1.0``)."""
    if isinstance(value, bool):
        return str(value).lower()
    return "+".join(map(str, value)) if isinstance(value, tuple | list) else str(value)
