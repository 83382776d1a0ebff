"""A generation task (``output_type: generate_until``): prompts, gold demonstrations and the protocol's parts.

A row becomes a :class:`Demo`: ``doc_to_text`` is the prompt, ``doc_to_target`` the gold continuation
(what the weak model and the ceiling are finetuned on), ``doc_to_id`` its id. The parts follow the
classification protocol's rules (``w2s_bench.tasks.splits``) without labels:

* the test prompts depend only on the task's ``split_seed`` (the same for every run seed, so runs are
  paired on the same prompts): the source's test split, or when the source has one split, a
  ``carve_fraction`` of it carved out with ``split_seed`` (a note says so);
* the rest is shuffled with the run seed and halved into train_a (the weak model's gold) and train_b
  (the prompts the weak model writes demonstrations for; also the ceiling's gold, see
  ``w2s_bench.generation.protocol``);
* ``--limit`` (when none is given, the task's ``split.limit``) caps each part; rows whose prompt or
  gold renders empty are dropped, and so are training rows whose prompt is also a test prompt (notes
  count both).

There are no validation parts: SFT runs a fixed number of steps (the model's ``epochs`` / ``min_steps``).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from w2s_bench.errors import W2SError
from w2s_bench.generation.judges import Judge, make_judge
from w2s_bench.generation.settings import GenerationSettings, settings_from_config
from w2s_bench.tasks.config import TaskConfig
from w2s_bench.tasks.data import SourceData, load_source
from w2s_bench.tasks.process import prepare_rows
from w2s_bench.tasks.task import Task
from w2s_bench.tasks.templates import Template

PARTS = ("train_a", "train_b", "test")


@dataclass(frozen=True)
class Demo:
    """One prompt and its gold demonstration (the continuation a good model would write)."""

    id: str
    prompt: str
    gold: str


@dataclass(frozen=True)
class GenerationSplits:
    train_a: list[Demo]
    train_b: list[Demo]
    test: list[Demo]
    notes: list[str] = field(default_factory=list)

    def sizes(self) -> dict[str, int]:
        """Examples per protocol part, in the classification record's layout (no validation parts here)."""
        return {"train_a": len(self.train_a), "val_a": 0, "train_b": len(self.train_b), "val_b": 0,
                "test": len(self.test)}

    def fingerprint(self) -> str:
        """A hash of every demo of every part, in order (what the artefact keys are made of)."""
        digest = hashlib.sha256()
        for name in PARTS:
            for demo in getattr(self, name):
                digest.update(json.dumps([name, demo.id, demo.prompt, demo.gold]).encode())
        return digest.hexdigest()[:32]


class GenerationTask(Task):
    """A validated ``generate_until`` config: its sampling settings, its judge, and :meth:`load`."""

    def __init__(self, config: TaskConfig) -> None:
        super().__init__(config)
        src = config.source_file
        self.settings: GenerationSettings = settings_from_config(config.generation_kwargs, f"{src}: generation_kwargs")
        self.judge: Judge = make_judge(config.judge, f"{src}: judge")
        self.prompt = Template(config.doc_to_text, f"{src}: doc_to_text")
        self.gold = Template(config.doc_to_target, f"{src}: doc_to_target")
        self.demo_id = Template(config.doc_to_id, f"{src}: doc_to_id") if config.doc_to_id else None

    def load(self, seed: int, limit: int | None = None, data_dir: str | Path | None = None) -> LoadedGeneration:
        source = prepare_rows(load_source(self.config, data_dir), self.process_docs, self.doc_filter)
        return LoadedGeneration(self, source, self._splits(source, seed, self.config.run_limit(limit)))

    def _demos(self, source: SourceData, split: str) -> tuple[list[Demo], int]:
        demos, empty = [], 0
        for i, row in enumerate(source.splits[split]):
            try:
                prompt, gold = str(self.prompt(row)), str(self.gold(row))
                demo_id = str(self.demo_id(row)) if self.demo_id else f"{split}-{i}"
            except W2SError as exc:
                raise exc.at(source.row_location(split, i)) from exc
            if prompt.strip() and gold.strip():
                demos.append(Demo(demo_id, prompt, gold))
            else:
                empty += 1
        return demos, empty

    def _splits(self, source: SourceData, seed: int, limit: int | None) -> GenerationSplits:
        config, notes = self.config, []
        train_split = config.training_split if config.training_split in source.splits else config.validation_split
        have_train, have_test = train_split in source.splits, config.test_split in source.splits
        if not have_train and not have_test:
            raise W2SError(f"no split {config.test_split!r} or {config.training_split!r} at {source.origin}",
                           where=f"{config.source_file}: training_split/test_split")
        dropped = 0
        if have_train and have_test and train_split != config.test_split:
            train, n = self._demos(source, train_split)
            test, m = self._demos(source, config.test_split)
            dropped = n + m
        else:
            split = config.test_split if have_test else train_split
            pool, dropped = self._demos(source, split)
            random.Random(f"carve:{config.split.split_seed}").shuffle(pool)
            n_test = max(1, round(len(pool) * config.split.carve_fraction))
            test, train = pool[:n_test], pool[n_test:]
            notes.append(f"the test prompts are {config.split.carve_fraction:.0%} of split {split!r} "
                         f"(split_seed {config.split.split_seed}): the source has no other split")
        if dropped:
            notes.append(f"{dropped} rows with an empty prompt or gold continuation were dropped")
        random.Random(f"test:{config.split.split_seed}").shuffle(test)
        test = test[:limit] if limit else test
        test_prompts = {d.prompt for d in test}
        kept = [d for d in train if d.prompt not in test_prompts]
        if len(kept) < len(train):
            notes.append(f"{len(train) - len(kept)} training rows whose prompt is a test prompt were dropped")
        random.Random(f"halves:{seed}").shuffle(kept)
        half = len(kept) // 2
        train_a, train_b = kept[:half], kept[half:2 * half]
        if limit:
            train_a, train_b = train_a[:limit], train_b[:limit]
        if not train_a or not test:
            raise W2SError(f"too few rows for the protocol ({len(kept)} training, {len(test)} test prompts)",
                           where=config.source_file, fix="use a larger --limit or a dataset with more rows")
        return GenerationSplits(train_a, train_b, test, notes)


class LoadedGeneration:
    """A generation task's parts for one run seed, with where the data came from."""

    def __init__(self, task: GenerationTask, source: SourceData, splits: GenerationSplits) -> None:
        self.task, self.source, self.splits = task, source, splits
        self.class_names = None

    def describe(self) -> tuple[str, str]:
        """What ``w2s-bench validate`` prints: the judge, and the first test prompt with its gold continuation."""
        first = self.splits.test[0]
        judge = self.task.config.judge or {}
        return f"generation judged by a {judge.get('type', '?')} judge", f"{first.prompt[:200]!r} -> gold {first.gold[:80]!r}"
