"""User-facing errors.

Every problem a user can cause (a YAML typo, an unknown task or model, a dataset without the
column a template needs) raises :class:`W2SError` with three parts: *where* (file and field),
*what* went wrong and *how to fix it*. The CLI prints these without a stack trace.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class W2SError(Exception):
    """An error caused by user input, reported as ``where: what (fix)``."""

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None) -> None:
        what = " ".join(what.splitlines())  # one line, also when it quotes a multi-line message (user code, a parser)
        self.what, self.where, self.fix = what, where, fix
        message = f"{where}: {what}" if where else what
        if fix:
            message += f"\n  fix: {fix}"
        super().__init__(message)

    def at(self, location: str) -> W2SError:
        """The same error, also saying which input it came from (a data file's line, a row)."""
        return W2SError(f"{self.what} (at {location})", where=self.where, fix=self.fix)


def did_you_mean(name: str, choices: Iterable[str], n: int = 3) -> str:
    """A suggestion sentence naming the closest valid choices, or listing some of them."""
    choices = sorted(set(choices))
    close = difflib.get_close_matches(name, choices, n=n, cutoff=0.5)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    shown = ", ".join(choices[:12]) + (", ..." if len(choices) > 12 else "")
    return f"choose one of: {shown}"
