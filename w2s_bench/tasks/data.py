"""Where a task's rows come from: a local mirror, the Hugging Face hub, or a generator.

One resolver serves all three so that a task YAML written for the hub runs unchanged offline:

* ``dataset_path: generator:<name>``: rows made by ``w2s_bench.tasks.generators.<name>``;
  ``dataset_kwargs`` gives ``splits: {split: n_rows}`` and an optional ``seed``.
* a data directory (``--data_dir`` or ``$W2S_BENCH_DATA_DIR``) laid out like the hub:
  ``<data_dir>/<dataset_path>[/<dataset_name or dataset_kwargs.data_dir>]/<split>.jsonl``, same
  column names as the hub.
* otherwise the hub through ``datasets.load_dataset`` with ``dataset_kwargs`` (e.g. a pinned
  ``revision``).
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from w2s_bench.errors import W2SError, did_you_mean
from w2s_bench.tasks.config import TaskConfig

ENV_DATA_DIR = "W2S_BENCH_DATA_DIR"
GENERATOR_PREFIX = "generator:"

Rows = Sequence[dict[str, Any]]


@dataclass(frozen=True)
class SourceData:
    """The splits that exist at the source, and a description of the source for provenance.

    ``files`` are a local mirror's files by split (row ``i`` is line ``i + 1``); ``prepared_by`` says
    what changed the rows since they were read (``process_docs``, ``doc_filter``), so that an error
    on a row points at the line it came from, or says that it cannot."""

    splits: dict[str, Rows]
    origin: str
    files: dict[str, Path] = field(default_factory=dict)
    prepared_by: str = ""

    def row_location(self, split: str, index: int) -> str:
        """Where row ``index`` of ``split`` came from, for error messages."""
        if self.prepared_by:
            return f"row {index + 1} of split {split!r} after {self.prepared_by} ({self.origin})"
        if split in self.files:
            return f"{self.files[split]} line {index + 1} (split {split!r})"
        return f"row {index + 1} of split {split!r} ({self.origin})"


def resolve_data_dir(data_dir: str | Path | None) -> Path | None:
    """The explicit option wins over the environment variable; None means "use the hub"."""
    value = data_dir if data_dir is not None else os.environ.get(ENV_DATA_DIR)
    return Path(value).expanduser() if value else None


def _wanted_splits(config: TaskConfig, available: Collection[str]) -> list[str]:
    """The splits to read from a source that has ``available``: training and test, and the task's
    ``validation_split`` only when the training split is missing (it then takes its place)."""
    wanted = [config.training_split, config.test_split]
    if config.training_split not in available:
        wanted.append(config.validation_split)
    return [s for s in dict.fromkeys(wanted) if s]


def _local_folder(config: TaskConfig, data_dir: str | Path | None) -> Path | None:
    """The task's folder in the local mirror, if there is one."""
    root = resolve_data_dir(data_dir)
    if root is None:
        return None
    folder = root / config.dataset_path / _mirror_subfolder(config)
    return folder if folder.is_dir() else None


def _mirror_subfolder(config: TaskConfig) -> str:
    """A config name, or a relative hub ``data_dir`` (hh-rlhf's "harmless-base"), is a subfolder of
    the mirror; an absolute ``data_dir`` is a user's manual download for the hub loader, not a subfolder."""
    data_dir = str(config.dataset_kwargs.get("data_dir", ""))
    return config.dataset_name or ("" if Path(data_dir).is_absolute() else data_dir)


def load_source(config: TaskConfig, data_dir: str | Path | None = None) -> SourceData:
    """Load the splits the task reads (see :func:`_wanted_splits`) that exist at its source."""
    if config.dataset_path.startswith(GENERATOR_PREFIX):
        return _from_generator(config)
    folder = _local_folder(config, data_dir)
    files = _mirror_files(config, folder) if folder is not None else {}
    if files:
        return SourceData({s: read_jsonl(path) for s, path in files.items()}, f"local:{folder}", files)
    return _from_hub(config, resolve_data_dir(data_dir))


def _mirror_files(config: TaskConfig, folder: Path) -> dict[str, Path]:
    """The wanted splits' files in a mirror folder, by split name."""
    present = {path.stem: path for path in folder.glob("*.jsonl")}
    return {s: present[s] for s in _wanted_splits(config, present) if s in present}


def local_split_sizes(config: TaskConfig, data_dir: str | Path | None = None) -> dict[str, int] | None:
    """Rows per split available without the hub (a generator's configured sizes or the local
    mirror's line counts), or None when the task would come from the hub."""
    if config.dataset_path.startswith(GENERATOR_PREFIX):
        return _generator_settings(config)[0]
    folder = _local_folder(config, data_dir)
    if folder is None:
        return None
    return {s: _count_lines(path) for s, path in _mirror_files(config, folder).items()} or None


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:  # bytes: a listing must not fail on a file that is not UTF-8
        return sum(1 for _ in handle)


def read_jsonl(path: Path) -> tuple[dict[str, Any], ...]:
    """A mirror's split file: one JSON object per line. Anything else (a blank or truncated line,
    bytes that are not UTF-8, a line that is not an object, no rows at all) is a W2SError naming the
    file, the line and the split. Read once per process while the file is unchanged."""
    stat = path.stat()
    return _read_jsonl(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=32)
def _read_jsonl(path: Path, mtime_ns: int, size: int) -> tuple[dict[str, Any], ...]:
    split = f"split {path.stem!r}"
    fix = "each line of a split file must be one JSON object, e.g. {\"text\": \"...\", \"label\": 1}"
    rows = []
    try:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, 1):
                where = f"{path}: line {number}"
                try:
                    row = json.loads(raw.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    raise W2SError(f"not valid UTF-8 ({exc.reason} at byte {exc.start}) in {split}",
                                   where=where, fix="save the file as UTF-8") from exc
                except json.JSONDecodeError as exc:
                    what = "blank line" if not raw.strip() else f"not valid JSON ({exc.msg}; truncated?)"
                    raise W2SError(f"{what} in {split}", where=where, fix=fix) from exc
                if not isinstance(row, dict):
                    raise W2SError(f"a row must be a JSON object, got {type(row).__name__} in {split}",
                                   where=where, fix=fix)
                rows.append(row)
    except OSError as exc:
        raise W2SError(f"cannot read {split}: {exc.strerror or exc}", where=str(path)) from exc
    if not rows:
        raise W2SError(f"the file of {split} is empty", where=str(path), fix=fix)
    return tuple(rows)


def _from_generator(config: TaskConfig) -> SourceData:
    name = config.dataset_path[len(GENERATOR_PREFIX):]
    package = importlib.import_module("w2s_bench.tasks.generators")
    available = [m.name for m in pkgutil.iter_modules(package.__path__)]
    where = f"{config.source_file}: dataset_path"
    if name not in available:
        raise W2SError(f"unknown generator {name!r}", where=where, fix=did_you_mean(name, available))
    generator = importlib.import_module(f"{package.__name__}.{name}")
    sizes, seed = _generator_settings(config)
    wanted = _wanted_splits(config, sizes)
    missing = [s for s in wanted if s not in sizes]
    if missing:
        raise W2SError(f"no size given for split(s) {missing}", where=f"{config.source_file}: dataset_kwargs.splits",
                       fix=_GENERATOR_FIX)
    splits = {s: _generate(generator.__name__, s, sizes[s], seed) for s in wanted}
    return SourceData(splits, f"generator:{name}(seed={seed})")


_GENERATOR_FIX = "e.g. dataset_kwargs: {splits: {train: 4000, test: 1000}, seed: 0}"
MAX_GENERATED_ROWS = 1_000_000


def _generator_settings(config: TaskConfig) -> tuple[dict[str, int], int]:
    """A generated task's ``dataset_kwargs``: rows per split (positive, at most MAX_GENERATED_ROWS) and the seed."""
    sizes, seed = config.dataset_kwargs.get("splits", {}), config.dataset_kwargs.get("seed", 0)
    where = f"{config.source_file}: dataset_kwargs"
    if not isinstance(sizes, dict) or not all(isinstance(n, int) and not isinstance(n, bool)
                                               and 0 < n <= MAX_GENERATED_ROWS for n in sizes.values()):
        raise W2SError(f"splits must map split names to row counts in [1, {MAX_GENERATED_ROWS:,}], got {sizes!r}",
                       where=f"{where}.splits", fix=_GENERATOR_FIX)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise W2SError(f"seed must be an integer, got {seed!r}", where=f"{where}.seed", fix=_GENERATOR_FIX)
    return {str(s): n for s, n in sizes.items()}, seed


@lru_cache(maxsize=32)
def _generate(module: str, split: str, n: int, seed: int) -> tuple[dict[str, Any], ...]:
    """Generated rows, once per process (a run's data check and each seed's load reuse them)."""
    return tuple(importlib.import_module(module).generate(split, n, seed=seed))


_hub_unreachable: list[str] = []
"""The first connection error of this process, once the hub has been found unreachable: later datasets
(of this run, or of any later one in the same Python process) fail at once instead of each spending
~25 s in huggingface_hub's retries (a group run offline, with members missing from the mirror, would
otherwise wait minutes and print pages of retry lines)."""


def _from_hub(config: TaskConfig, root: Path | None) -> SourceData:
    kwargs = dict(config.dataset_kwargs)
    try:
        if _hub_unreachable:
            raise ConnectionError(f"not retried: the hub was unreachable for an earlier dataset in this process "
                                  f"({_hub_unreachable[0]})")
        import datasets  # imported here: it is slow to import and not needed for local data

        names = datasets.get_dataset_split_names(config.dataset_path, config.dataset_name, **kwargs)
        splits = {s: datasets.load_dataset(config.dataset_path, config.dataset_name, split=s, **kwargs)
                  for s in _wanted_splits(config, names) if s in names}
    except Exception as exc:
        first_line = str(exc).splitlines()[0][:200] if str(exc) else ""
        if isinstance(exc, ConnectionError) and not _hub_unreachable:
            _hub_unreachable.append(first_line)
        tried = f"no local copy under {root}; " if root else ""
        sub = _mirror_subfolder(config)
        layout = f"<dir>/{config.dataset_path}/{sub + '/' if sub else ''}<split>.jsonl"
        raise W2SError(f"could not load dataset {config.dataset_path!r} ({tried}hub error: "
                       f"{type(exc).__name__}: {first_line})",
                       where=f"{config.source_file}: dataset_path",
                       fix=f"offline? point --data_dir or ${ENV_DATA_DIR} at a local mirror laid out as {layout}") from exc
    revision = kwargs.get("revision", "main")
    return SourceData(splits, f"hub:{config.dataset_path}@{revision}")
