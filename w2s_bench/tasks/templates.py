"""Jinja templates of task YAMLs, rendered against one dataset row, in Jinja's sandbox.

A template that is exactly one expression (``"{{ label }}"``, ``"{{ [a, b, c] }}"``) evaluates
to a native Python value (an int, a list), as in lm-evaluation-harness; any other template renders
to text. Unknown columns raise, so a typo in a template becomes a clear error, not an empty string.

A task file is untrusted input (it may come from a stranger's pull request to a leaderboard), so
templates are rendered by Jinja's immutable sandbox: a template can read the row's columns and
compute with them, but not reach Python internals (``cycler.__init__.__globals__``,
``''.__class__``, ``"{0.__class__}".format(x)``, ``|attr('__class__')``: every attribute that
starts with ``_``), modify a list or dict, or make huge values or endless loops cheaply: one
rendering may make at most :data:`MAX_TEMPLATE_ITEMS` items with ``range`` and ``*`` together (so
nested loops over ranges stop too), ``**`` at most :data:`MAX_POWER_BITS` bits, and a template's
text at most :data:`MAX_TEXT_CHARS` characters. Attribute tricks spelled out in the template are
refused when it is compiled (``validate --schema_only`` catches them); the sandbox refuses everything
else when a row is rendered. Either way the error names the file and field; the trick never runs.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterator
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError, safe_range

from w2s_bench.errors import W2SError, did_you_mean

MAX_TEMPLATE_ITEMS = 10_000_000  # items one rendering may make with range() and `*` (a string's characters, a list's items)
MAX_POWER_BITS = 100_000  # bits of an integer a template may build with `**`
MAX_TEXT_CHARS = 10_000_000  # characters a template may give (real rows are far shorter)
SANDBOX_FIX = ("a template may read the row's columns and compute with them; attributes starting with '_', "
               "changes to lists or dicts and huge values are refused")
_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}\s*$", re.DOTALL)
_items_made = contextvars.ContextVar("template_items_made", default=0)  # in the rendering under way


def _make_items(count: int) -> None:
    """Count items the rendering under way makes; refuse past MAX_TEMPLATE_ITEMS."""
    total = _items_made.get() + max(count, 0)
    if total > MAX_TEMPLATE_ITEMS:
        raise SecurityError(f"the template makes more than the {MAX_TEMPLATE_ITEMS:,} items (range, *) one row may use")
    _items_made.set(total)


def _counted_range(*args: int) -> range:
    try:
        numbers = safe_range(*args)  # the sandbox's range: at most 100,000 items per call
    except OverflowError as exc:
        raise SecurityError(str(exc)) from exc
    _make_items(len(numbers))
    return numbers


class _TaskSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, plus a budget for the operators that turn a short template into a
    huge value (``'a' * 10**10``, ``9 ** (10**10)``) and for ``range`` (loops inside loops)."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = _counted_range
        del self.globals["lipsum"]  # lorem ipsum has no use in a task and makes text of any length

    def call_binop(self, context: jinja2.runtime.Context, op: str, left: Any, right: Any) -> Any:
        if op == "*":
            for sequence, times in ((left, right), (right, left)):
                if isinstance(sequence, str | list | tuple) and _is_int(times):
                    _make_items(len(sequence) * times)
        elif _is_int(left) and _is_int(right) and abs(left) > 1 and right > 0:
            if abs(left).bit_length() * right > MAX_POWER_BITS:
                raise SecurityError(f"{left} ** {right} is larger than the {MAX_POWER_BITS:,} bits a template may build")
        return super().call_binop(context, op, left, right)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_ENV = _TaskSandbox(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)


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
        budget = _items_made.set(0)
        try:
            if self._expression is not None:
                value = self._expression(**row)
                _raise_if_undefined(value)
                if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
                    raise SecurityError(f"the template gives a text longer than {MAX_TEXT_CHARS:,} characters")
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
        finally:
            _items_made.reset(budget)
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
            raise SecurityError(f"the template gives a text longer than {MAX_TEXT_CHARS:,} characters")
        parts.append(chunk)
    return "".join(parts)

