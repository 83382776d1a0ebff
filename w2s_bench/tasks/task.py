"""A Task: a validated config plus what it takes to turn its dataset into protocol splits."""

from __future__ import annotations

import inspect
from dataclasses import asdict
from pathlib import Path

from w2s_bench.cache import hash_json, source_fingerprint
from w2s_bench.errors import W2SError
from w2s_bench.tasks.build import ExampleBuilder
from w2s_bench.tasks.config import TaskConfig
from w2s_bench.tasks.data import SourceData, load_source
from w2s_bench.tasks.process import ProcessDocs, prepare_rows
from w2s_bench.tasks.splits import ProtocolSplits, make_splits
from w2s_bench.tasks.templates import Template

# TaskConfig fields that can change a task's examples or labels (tests/test_cache_keys.py checks that every
# field is here or in DESCRIPTIVE_FIELDS, so a new field cannot be left out of the hash by accident)
EXAMPLE_FIELDS = ("task", "dataset_path", "dataset_name", "dataset_kwargs", "training_split", "validation_split", "test_split",
                  "output_type", "doc_to_text", "doc_to_target", "doc_to_choice", "doc_to_id", "process_docs", "doc_filter",
                  "target_delimiter", "binarize_choices", "split", "generation_kwargs", "judge")
DESCRIPTIVE_FIELDS = ("description", "tag", "family", "metric_list", "metadata", "source_file")  # metadata: its version is hashed
# example fields added after tasks were published (for generation tasks): hashed only when a task sets them,
# so that every classification task, its cached artefacts and its leaderboard submissions keep their hash
FIELDS_HASHED_WHEN_SET = ("generation_kwargs", "judge")


def _process_docs_fingerprint(process: ProcessDocs) -> str:
    """The fingerprint of the module a ``process_docs`` function is defined in (its whole source, since the
    function may call helpers there): the file beside the YAML, or the installed module's."""
    path = process.local_file or inspect.getsourcefile(process.function())
    return source_fingerprint(Path(path).read_text(encoding="utf-8"))


class Task:
    def __init__(self, config: TaskConfig) -> None:
        self.config = config
        self.builder = ExampleBuilder(config)
        # checked now without importing anything (`ls tasks`, `validate --schema_only`); imported by load()
        self.process_docs = ProcessDocs(config.process_docs, config.source_file) if config.process_docs else None
        self.doc_filter = Template(config.doc_filter, f"{config.source_file}: doc_filter") if config.doc_filter else None

    @property
    def name(self) -> str:
        return self.config.task

    def config_hash(self) -> str:
        """A short hash of what in the config can change the examples or their labels (:data:`EXAMPLE_FIELDS`,
        the version, and the source of a ``process_docs`` function's module); not the description, tags,
        family, citation or ``metric_list``, which change what is said or reported, not what is computed."""
        fields = {name: getattr(self.config, name) for name in EXAMPLE_FIELDS
                  if name not in FIELDS_HASHED_WHEN_SET or getattr(self.config, name)}
        # ``split.limit`` came after results were published: hashed only when set, so other tasks keep their hash
        fields["split"] = {k: v for k, v in asdict(self.config.split).items() if k != "limit" or v is not None}
        fields["version"] = self.config.version
        if self.process_docs is not None:
            fields["process_docs_source"] = _process_docs_fingerprint(self.process_docs)
        return hash_json(fields)[:16]

    def load(self, seed: int, limit: int | None = None, data_dir: str | Path | None = None) -> LoadedTask:
        """The protocol's parts for run seed ``seed``; ``limit`` caps each part (None: the task's ``split.limit``)."""
        source = prepare_rows(load_source(self.config, data_dir), self.process_docs, self.doc_filter)
        if not source.splits:
            raise W2SError(f"no split of {self.config.dataset_path!r} found at {source.origin}",
                           where=f"{self.config.source_file}: training_split/test_split")
        for split, rows in source.splits.items():
            if len(rows) == 0:
                raise W2SError(f"split {split!r} of {source.origin} has no rows"
                               + (f" after {source.prepared_by}" if source.prepared_by else ""),
                               where=self.config.source_file, fix="check the data, process_docs and doc_filter")
        first_split, first_rows = next(iter(source.splits.items()))
        try:
            class_names = self.builder.class_names(first_rows[0])
        except W2SError as exc:
            raise exc.at(source.row_location(first_split, 0)) from exc
        splits = make_splits(self.config, source, self.builder.build, seed=seed, limit=self.config.run_limit(limit))
        return LoadedTask(self, source, splits, class_names)


class LoadedTask:
    """A task's splits for one run seed, with the label space and where the data came from."""

    def __init__(self, task: Task, source: SourceData, splits: ProtocolSplits, class_names: list[str]) -> None:
        self.task, self.source, self.splits, self.class_names = task, source, splits, class_names

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def describe(self) -> tuple[str, str]:
        """What ``w2s-bench validate`` prints: the label space, and the first test example."""
        first = self.splits.test[0]
        return (f"{self.num_classes} classes",
                f"{first.texts[0][:200]!r} -> label {first.label} ({self.class_names[first.label]})")
