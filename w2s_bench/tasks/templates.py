"""Jinja templates of task YAMLs, rendered against one dataset row, in Jinja's sandbox.

A template that is exactly one expression (``"{{ label }}"``, ``"{{ [a, b, c] }}"``) evaluates
to a native Python value (an int, a list), as in lm-evaluation-harness; any other template renders
to text. Unknown columns raise, so a typo in a template becomes a clear error, not an empty string.

A task file is untrusted input (it may come from a stranger's pull request to a leaderboard), so
templates are rendered by Jinja's immutable sandbox: a template can read the row's columns and
compute with them, but not reach Python internals (``cycler.__init__.__globals__``,
``''.__class__``, ``"{0.__class__}".format(x)``, ``|attr('__class__')``: every attribute that
starts with ``_``), modify a list or dict, or build huge values cheaply (the sandbox caps
``range``; :class:`_TaskSandbox` caps ``*`` and ``**``, and a rendered text is capped at
:data:`MAX_TEXT_CHARS`). Attribute tricks spelled out in the template are refused when it is
compiled (``validate --schema_only`` catches them); the sandbox refuses everything else when a row
is rendered. Either way the error names the file and field; the trick never runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from w2s_bench.errors import W2SError, did_you_mean

MAX_VALUE_SIZE = 1_000_000  # items a template may build with `*` (a string's characters, a list's items)
MAX_POWER_BITS = 100_000  # bits of an integer a template may build with `**`
MAX_TEXT_CHARS = 10_000_000  # characters a text template may render (real rows are far shorter)
SANDBOX_FIX = ("a template may read the row's columns and compute with them; attributes starting with '_', "
               "changes to lists or dicts and huge values are refused")
_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}\s*$", re.DOTALL)


class _TaskSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, plus caps on the two operators that turn a short template into a
    huge value (``'a' * 10**10``, ``9 ** 10**10``); the sandbox itself caps ``range``."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: jinja2.runtime.Context, op: str, left: Any, right: Any) -> Any:
        if op == "*":
            _check_repeat(left, right)
            _check_repeat(right, left)
        elif _is_int(left) and _is_int(right) and abs(left) > 1 and right > 0:
            if abs(left).bit_length() * right > MAX_POWER_BITS:
                raise SecurityError(f"{left} ** {right} is larger than the {MAX_POWER_BITS:,} bits a template may build")
        return super().call_binop(context, op, left, right)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_repeat(sequence: Any, times: Any) -> None:
    if isinstance(sequence, str | list | tuple) and _is_int(times) and len(sequence) * times > MAX_VALUE_SIZE:
        raise SecurityError(f"repeating a sequence of {len(sequence)} items {times} times is more than "
                            f"the {MAX_VALUE_SIZE:,} items a template may build")


_ENV = _TaskSandbox(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)
del _ENV.globals["lipsum"]  # lorem ipsum has no use in a task and makes text of any length


def is_single_expression(source: object) -> bool:
    """True for a template that is exactly one ``{{ expression }}`` (it evaluates to a value)."""
    return isinstance(source, str) and _SINGLE_EXPRESSION.match(source) is not None


class Template:
    """A compiled template; ``where`` names the YAML file and field for error messages."""

    def __init__(self, source: str | int | list[str], where: str) -> None:
        self.where = where
        self._static: Any = None
        self._expression = self._text = None
        try:
            if not isinstance(source, str):
                self._static = source
                return
            _refuse_private_names(_ENV.parse(source), where)
            if match := _SINGLE_EXPRESSION.match(source):
                self._expression = _ENV.compile_expression(match["expr"].strip(), undefined_to_none=False)
            else:
                self._text = _ENV.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise W2SError(f"Jinja syntax error: {exc.message}", where=where,
                           fix="templates use {{ column }} for values and {% if %} for logic") from exc

    def __call__(self, row: dict[str, Any]) -> Any:
        try:
            if self._expression is not None:
                value = self._expression(**row)
                _raise_if_undefined(value)
                return value
            if self._text is not None:
                return _render_capped(self._text.generate(**row))
        except SecurityError as exc:
            raise W2SError(f"refused by the template sandbox: {exc}", where=self.where, fix=SANDBOX_FIX) from exc
        except jinja2.UndefinedError as exc:
            missing = re.findall(r"'(\w+)' is undefined", str(exc))
            if "attribute '_" in str(exc):  # a private attribute of something the sandbox already refused
                raise W2SError(f"refused by the template sandbox: {exc}", where=self.where, fix=SANDBOX_FIX) from exc
            if not missing:  # an attribute or key the value lacks, e.g. "'dict object' has no attribute 'b'"
                raise W2SError(f"the template failed on a row: {exc}", where=self.where) from exc
            name = missing[0]
            raise W2SError(f"the template uses column {name!r}, which the dataset does not have "
                           f"(columns: {', '.join(sorted(row))})", where=self.where,
                           fix=did_you_mean(name, row)) from exc
        except MemoryError as exc:
            raise W2SError("the template ran out of memory", where=self.where, fix=SANDBOX_FIX) from exc
        except Exception as exc:  # a template error on a row, e.g. 1 / 0 or a string plus a number
            raise W2SError(f"the template failed on a row: {type(exc).__name__}: {exc}", where=self.where) from exc
        return self._static


def _refuse_private_names(tree: nodes.Template, where: str) -> None:
    """Refuse, at compile time, attribute names the sandbox would refuse on every object: dunders
    (``__class__``) and mangled private names (``_TemplateReference__context``). A column whose name
    starts with one underscore (``row._id``) stays readable."""
    names = [node.attr for node in tree.find_all(nodes.Getattr)]
    names += [node.arg.value for node in tree.find_all(nodes.Getitem) if isinstance(node.arg, nodes.Const)]
    names += [arg.value for node in tree.find_all(nodes.Filter) if node.name == "attr"
              for arg in node.args[:1] if isinstance(arg, nodes.Const)]
    for name in names:
        if isinstance(name, str) and name.startswith("_") and "__" in name:
            raise W2SError(f"the template reads the private attribute {name!r}", where=where, fix=SANDBOX_FIX)


def _raise_if_undefined(value: Any) -> None:
    """A single expression's value may hold undefined parts (``[x.__class__]``, a missing column in a
    list): turning them into text raises the sandbox's or the missing column's error."""
    if isinstance(value, jinja2.Undefined):
        str(value)  # a StrictUndefined raises here
    if isinstance(value, list | tuple):
        for item in value:
            _raise_if_undefined(item)
    elif isinstance(value, dict):
        for item in value.values():
            _raise_if_undefined(item)


def _render_capped(chunks: Iterator[str]) -> str:
    """Join a template's output, stopping at :data:`MAX_TEXT_CHARS` (a loop over loops, say)."""
    parts, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_TEXT_CHARS:
            raise SecurityError(f"the rendered text is longer than {MAX_TEXT_CHARS:,} characters")
        parts.append(chunk)
    return "".join(parts)

