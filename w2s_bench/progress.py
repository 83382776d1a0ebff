"""Terminal output: progress bars (rich) that a quiet mode turns off, and consoles that keep tables
readable when the output is a log file or a pipe rather than a terminal."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

_QUIET_ENV = "W2S_BENCH_QUIET"


def console(stderr: bool = False) -> Console:
    """A rich console; off a terminal it is 200 columns wide so tables are not squeezed."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 200)


def set_quiet(quiet: bool) -> None:
    os.environ[_QUIET_ENV] = "1" if quiet else ""


def is_quiet() -> bool:
    return bool(os.environ.get(_QUIET_ENV))


_live: Progress | None = None  # the display bars share while one is open (rich shows one live display at a time)


@contextmanager
def progress_bar(description: str, total: int) -> Iterator[Callable[..., None]]:
    """Yield ``advance(n, **fields)``; shows a bar with ETA unless quiet. Bars opened inside another
    (a model's training inside the sweep) appear below it in the same display and vanish when done."""
    global _live
    if is_quiet():
        yield lambda n=1, **_: None
        return
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[info]}"))
    outer = _live is None
    progress = Progress(*columns, transient=True) if outer else _live
    with progress if outer else nullcontext():
        _live = progress
        task = progress.add_task(description, total=total, info="")

        def advance(n: int = 1, **fields: float) -> None:
            info = " ".join(f"{k}={v:.3f}" for k, v in fields.items())
            progress.update(task, advance=n, info=info)

        try:
            yield advance
        finally:
            progress.remove_task(task)
            if outer:
                _live = None
