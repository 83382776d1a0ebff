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
import os
import pkgutil
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonlines

from w2s_bench.errors import W2SError, did_you_mean
from w2s_bench.tasks.config import TaskConfig

ENV_DATA_DIR = "W2S_BENCH_DATA_DIR"
GENERATOR_PREFIX = "generator:"

Rows = Sequence[dict[str, Any]]


@dataclass(frozen=True)
class SourceData:
    """The splits that exist at the source, and a description of the source for provenance."""

    splits: dict[str, Rows]
    origin: str


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
        return SourceData({s: _read_jsonl(path) for s, path in files.items()}, f"local:{folder}")
    return _from_hub(config, resolve_data_dir(data_dir))


def _mirror_files(config: TaskConfig, folder: Path) -> dict[str, Path]:
    """The wanted splits' files in a mirror folder, by split name."""
    present = {path.stem: path for path in folder.glob("*.jsonl")}
    return {s: present[s] for s in _wanted_splits(config, present) if s in present}


def local_split_sizes(config: TaskConfig, data_dir: str | Path | None = None) -> dict[str, int] | None:
    """Rows per split available without the hub (a generator's configured sizes or the local
    mirror's line counts), or None when the task would come from the hub."""
    if config.dataset_path.startswith(GENERATOR_PREFIX):
        return {s: int(n) for s, n in config.dataset_kwargs.get("splits", {}).items()}
    folder = _local_folder(config, data_dir)
    if folder is None:
        return None
    return {s: sum(1 for _ in path.open()) for s, path in _mirror_files(config, folder).items()} or None


@lru_cache(maxsize=32)
def _read_jsonl(path: Path) -> tuple[dict[str, Any], ...]:
    with jsonlines.open(path) as reader:
        return tuple(reader)


def _from_generator(config: TaskConfig) -> SourceData:
    name = config.dataset_path[len(GENERATOR_PREFIX):]
    package = importlib.import_module("w2s_bench.tasks.generators")
    available = [m.name for m in pkgutil.iter_modules(package.__path__)]
    where = f"{config.source_file}: dataset_path"
    if name not in available:
        raise W2SError(f"unknown generator {name!r}", where=where, fix=did_you_mean(name, available))
    generator = importlib.import_module(f"{package.__name__}.{name}")
    sizes = config.dataset_kwargs.get("splits", {})
    seed = int(config.dataset_kwargs.get("seed", 0))
    wanted = _wanted_splits(config, sizes)
    missing = [s for s in wanted if s not in sizes]
    if missing:
        raise W2SError(f"no size given for split(s) {missing}", where=f"{config.source_file}: dataset_kwargs.splits",
                       fix="e.g. dataset_kwargs: {splits: {train: 4000, test: 1000}}")
    splits = {s: _generate(generator.__name__, s, int(sizes[s]), seed) for s in wanted}
    return SourceData(splits, f"generator:{name}(seed={seed})")


@lru_cache(maxsize=32)
def _generate(module: str, split: str, n: int, seed: int) -> tuple[dict[str, Any], ...]:
    """Generated rows, once per process (a run's data check and each seed's load reuse them)."""
    return tuple(importlib.import_module(module).generate(split, n, seed=seed))


def _from_hub(config: TaskConfig, root: Path | None) -> SourceData:
    import datasets  # imported here: it is slow to import and not needed for local data

    kwargs = dict(config.dataset_kwargs)
    try:
        names = datasets.get_dataset_split_names(config.dataset_path, config.dataset_name, **kwargs)
        splits = {s: datasets.load_dataset(config.dataset_path, config.dataset_name, split=s, **kwargs)
                  for s in _wanted_splits(config, names) if s in names}
    except Exception as exc:
        tried = f"no local copy under {root}; " if root else ""
        sub = _mirror_subfolder(config)
        layout = f"<dir>/{config.dataset_path}/{sub + '/' if sub else ''}<split>.jsonl"
        raise W2SError(f"could not load dataset {config.dataset_path!r} ({tried}hub error: "
                       f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''})",
                       where=f"{config.source_file}: dataset_path",
                       fix=f"offline? point --data_dir or ${ENV_DATA_DIR} at a local mirror laid out as {layout}") from exc
    revision = kwargs.get("revision", "main")
    return SourceData(splits, f"hub:{config.dataset_path}@{revision}")
