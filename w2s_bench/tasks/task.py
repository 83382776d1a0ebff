"""A Task: a validated config plus what it takes to turn its dataset into protocol splits."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from w2s_bench.cache import hash_json
from w2s_bench.errors import W2SError
from w2s_bench.tasks.build import ExampleBuilder
from w2s_bench.tasks.config import TaskConfig
from w2s_bench.tasks.data import SourceData, load_source
from w2s_bench.tasks.process import prepare_rows, resolve_function
from w2s_bench.tasks.splits import ProtocolSplits, make_splits


class Task:
    def __init__(self, config: TaskConfig) -> None:
        self.config = config
        self.builder = ExampleBuilder(config)
        # resolved now, so that `w2s-bench validate --schema_only` catches a wrong function name
        self.process_docs = resolve_function(config.process_docs, config.source_file) if config.process_docs else None

    @property
    def name(self) -> str:
        return self.config.task

    def config_hash(self) -> str:
        """A short hash of everything in the config that determines the examples."""
        return hash_json({k: v for k, v in asdict(self.config).items() if k != "source_file"})[:16]

    def load(self, seed: int, limit: int | None = None, data_dir: str | Path | None = None) -> LoadedTask:
        source = prepare_rows(self.config, load_source(self.config, data_dir), self.process_docs)
        if not source.splits:
            raise W2SError(f"no split of {self.config.dataset_path!r} found at {source.origin}",
                           where=f"{self.config.source_file}: training_split/test_split")
        first_rows = next(iter(source.splits.values()))
        if len(first_rows) == 0:
            raise W2SError(f"{source.origin} has an empty split (after process_docs / doc_filter)",
                           where=self.config.source_file)
        class_names = self.builder.class_names(first_rows[0])
        splits = make_splits(self.config, source, self.builder.build, seed=seed, limit=limit)
        return LoadedTask(self, source, splits, class_names)


class LoadedTask:
    """A task's splits for one run seed, with the label space and where the data came from."""

    def __init__(self, task: Task, source: SourceData, splits: ProtocolSplits, class_names: list[str]) -> None:
        self.task, self.source, self.splits, self.class_names = task, source, splits, class_names

    @property
    def num_classes(self) -> int:
        return len(self.class_names)
