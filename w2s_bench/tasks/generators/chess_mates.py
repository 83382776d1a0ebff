"""Generated chess mates in 1 and 2 (``dataset_path: generator:chess_mates``); the puzzles and how
they are found are described in ``w2s_bench.chess.mates``.

Generation is CPU-bound (10-17 puzzles per second: the 3,000 + 1,000 rows of ``chess_generated``
take about 4.5 minutes), so rows are cached as JSONL under ``$W2S_BENCH_CACHE`` (default
``~/.cache/w2s_bench``) ``/chess_mates/``, one file per (``GENERATOR_VERSION``, split, n, seed),
written atomically (``w2s_bench.files``) so that an interrupted or concurrent run never leaves a
partial file.

``W2S_BENCH_VERIFY_CHESS=1`` checks every row with Stockfish (``stockfish`` on the PATH or Debian's
``/usr/games/stockfish``; ``apt-get install stockfish``), about 0.1-0.15 s per row; by default no engine
is needed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from w2s_bench.chess.mates import GENERATOR_VERSION, generate_mates, verify_with_engine
from w2s_bench.errors import W2SError
from w2s_bench.files import atomic_write_text
from w2s_bench.models.offline import cache_root
from w2s_bench.progress import progress_bar
from w2s_bench.tasks.data import read_jsonl

log = logging.getLogger(__name__)

ENV_VERIFY = "W2S_BENCH_VERIFY_CHESS"


def cache_path(split: str, n: int, seed: int) -> Path:
    return cache_root() / "chess_mates" / f"v{GENERATOR_VERSION}-{split}-n{n}-seed{seed}.jsonl"


def _cached_rows(path: Path, n: int) -> list[dict[str, Any]] | None:
    """The cached rows, or None when the file is missing, unreadable or has the wrong number of rows
    (a damaged cache file is regenerated, never used)."""
    if not path.is_file():
        return None
    try:
        rows = list(read_jsonl(path))
    except W2SError as exc:
        log.warning("regenerating %s: %s", path, exc)
        return None
    return rows if len(rows) == n else None


def engine_path() -> str | None:
    """Stockfish on the PATH, or where Debian's package puts it (/usr/games is not on every PATH)."""
    return shutil.which("stockfish") or shutil.which("stockfish", path="/usr/games")


def generate(split: str, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` rows of ``split``, from the cache when present (see the module docstring)."""
    path = cache_path(split, n, seed)
    rows = _cached_rows(path, n)
    if rows is None:
        with progress_bar(f"generating chess mates ({split})", n) as advance:
            rows = generate_mates(split, n, seed, advance=advance)
        atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in rows))
    if os.environ.get(ENV_VERIFY):
        engine = engine_path()
        if engine is None:
            raise W2SError(f"{ENV_VERIFY} is set but no stockfish engine was found", where="generator:chess_mates",
                           fix=f"apt-get install stockfish, or unset {ENV_VERIFY}")
        verify_with_engine(rows, engine)
    return rows
