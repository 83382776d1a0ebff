"""Deterministic protocol splits: train_a (weak supervisor and ceiling, GT), train_b (weak
labels, w2s), test (never trained on), each with a held-out validation part for early stopping.

The test set depends only on the task's ``split_seed`` (it is the same for every run seed, so runs
are paired on the same examples); the halves depend on the run seed. Halves are stratified by label.
When the source lacks the training or test split, one is carved out of the other and a note says so.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from w2s_bench.errors import W2SError
from w2s_bench.examples import Example
from w2s_bench.tasks.config import TaskConfig
from w2s_bench.tasks.data import Rows, SourceData

PARTS = ("train_a", "val_a", "train_b", "val_b", "test")


@dataclass(frozen=True)
class ProtocolSplits:
    train_a: list[Example]
    val_a: list[Example]
    train_b: list[Example]
    val_b: list[Example]
    test: list[Example]
    notes: list[str] = field(default_factory=list)

    def sizes(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in PARTS}

    def fingerprint(self) -> str:
        """A hash of the exact examples in each part, in order: what cached artefacts are keyed by, so a
        new data revision, a changed template, split rule, seed or --limit never reuses a stale one."""
        digest = hashlib.sha256()
        for name in PARTS:
            for ex in getattr(self, name):
                digest.update(json.dumps([name, ex.id, ex.texts, ex.label]).encode())
        return digest.hexdigest()[:32]


@dataclass(frozen=True)
class _Pool:
    source: SourceData
    indices: list[int]
    split: str
    task_file: str

    @property
    def rows(self) -> Rows:
        return self.source.splits[self.split]


def _source_pools(config: TaskConfig, source: SourceData) -> tuple[_Pool, _Pool, list[str]]:
    """The (training pool, test pool) of row indices. A missing training split is replaced by the
    task's ``validation_split`` when the source has it, else carved out of the test split (and a
    missing test split out of the training split)."""
    train_name, test_name, val_name = config.training_split, config.test_split, config.validation_split
    has_train = train_name in source.splits and train_name != test_name
    has_test = test_name in source.splits
    where = f"{config.source_file}: training_split/test_split"
    if not has_train and not has_test:
        raise W2SError(f"the source ({source.origin}) has neither split {train_name!r} nor {test_name!r}",
                       where=where, fix="name splits the dataset has")
    if has_test and not has_train and val_name in source.splits and val_name != test_name:
        note = f"{source.origin} has no {train_name!r} split: training examples drawn from {val_name!r} (validation_split)"
        return _whole(config, source, val_name), _whole(config, source, test_name), [note]
    if has_train and has_test:
        return _whole(config, source, train_name), _whole(config, source, test_name), []
    rng = random.Random(config.split.split_seed)
    name = test_name if has_test else train_name
    rows = source.splits[name]
    order = list(range(len(rows)))
    rng.shuffle(order)
    n_test = round(len(rows) * config.split.carve_fraction)
    if train_name == test_name:
        reason = f"training_split and test_split are both {name!r}"
    else:
        reason = f"{source.origin} has no {train_name if has_test else test_name!r} split"
    note = (f"{reason}: carved from {name!r} ({len(rows) - n_test} for training, "
            f"{n_test} for test, split_seed={config.split.split_seed})")
    pools = (_Pool(source, order[n_test:], name, config.source_file), _Pool(source, order[:n_test], name, config.source_file))
    return *pools, [note]


def _whole(config: TaskConfig, source: SourceData, split: str) -> _Pool:
    return _Pool(source, list(range(len(source.splits[split]))), split, config.source_file)


def make_splits(config: TaskConfig, source: SourceData, build: Callable[[dict[str, Any], str], Example],
                seed: int, limit: int | None = None) -> ProtocolSplits:
    """Draw the protocol's parts; ``limit`` caps train_a, train_b and test at ``limit`` each."""
    train_pool, test_pool, notes = _source_pools(config, source)
    balance = config.split.balance_labels
    test_indices = list(test_pool.indices)
    random.Random(config.split.split_seed).shuffle(test_indices)
    test = _draw(test_pool, test_indices, limit, balance, build)

    train_indices = list(train_pool.indices)
    random.Random(seed).shuffle(train_indices)
    drawn = _draw(train_pool, train_indices, 2 * limit if limit else None, balance, build)
    train = _without_repeats(drawn, test, notes)
    if balance:
        notes.append(f"balance_labels: classes downsampled to equal counts (test {len(test)}, training {len(train)})")
    half_a, half_b = _stratified_halves(train, seed)
    n_val_a = round(len(half_a) * config.split.val_fraction)
    n_val_b = round(len(half_b) * config.split.val_fraction)
    splits = ProtocolSplits(half_a[n_val_a:], half_a[:n_val_a], half_b[n_val_b:], half_b[:n_val_b], test, notes)
    for name, size in splits.sizes().items():
        if size == 0 and not name.startswith("val"):
            pool = test_pool if name == "test" else train_pool
            capped = limit is not None and len(pool.indices) > (limit if name == "test" else 2 * limit)
            repeats = f", {len(drawn) - len(train)} dropped as repeats of other texts" if len(train) < len(drawn) else ""
            raise W2SError(f"the {name} part is empty (sizes: {splits.sizes()}; the {'test' if name == 'test' else 'training'} "
                           f"pool has {len(pool.indices)} rows of split {pool.split!r}{repeats})", where=config.source_file,
                           fix="use a larger --limit" if capped else "use a dataset with more rows")
    return splits


def _draw(pool: _Pool, indices: list[int], cap: int | None, balance: bool,
          build: Callable[[dict[str, Any], str], Example]) -> list[Example]:
    """At most ``cap`` examples in the given order; balanced ones need every row's label first."""
    if balance:
        return _balanced(_examples(pool, indices, build), cap)
    return _examples(pool, indices[:cap] if cap else indices, build)


def _examples(pool: _Pool, indices: Sequence[int], build: Callable[[dict[str, Any], str], Example]) -> list[Example]:
    examples = [_build(pool, i, build) for i in indices]
    first: dict[str, int] = {}
    for i, ex in zip(indices, examples, strict=True):
        if ex.id in first:
            raise W2SError(f"example id {ex.id!r} repeats: {pool.source.row_location(pool.split, first[ex.id])} and "
                           f"{pool.source.row_location(pool.split, i)}", where=f"{pool.task_file}: doc_to_id",
                           fix="make doc_to_id unique per row (or remove it to use row positions)")
        first[ex.id] = i
    return examples


def _build(pool: _Pool, index: int, build: Callable[[dict[str, Any], str], Example]) -> Example:
    try:
        return build(pool.rows[index], f"{pool.split}-{index}")
    except W2SError as exc:
        raise exc.at(pool.source.row_location(pool.split, index)) from exc


def _text_key(example: Example) -> str | frozenset[str]:
    """What makes two examples the same input (candidates: their set, since their order is drawn per id)."""
    return example.texts[0] if len(example.texts) == 1 else frozenset(example.texts)


def _without_repeats(train: list[Example], test: list[Example], notes: list[str]) -> list[Example]:
    """Drop training examples whose input is in the test set or repeats an earlier training example:
    datasets with repeated rows (LegalBench overruling repeats 37% of its sentences) would otherwise
    leak test inputs, and share inputs between the weak model's half and the student's half."""
    seen = {_text_key(ex) for ex in test}
    kept = []
    for ex in train:
        key = _text_key(ex)
        if key not in seen:
            seen.add(key)
            kept.append(ex)
    if len(kept) < len(train):
        notes.append(f"dropped {len(train) - len(kept)} training examples whose text repeats a test or training example")
    return kept


def _balanced(examples: list[Example], cap: int | None) -> list[Example]:
    """The first examples of each class (in the given shuffled order), as many per class as the rarest
    class has (at most ``cap`` in total), keeping the order."""
    by_label: dict[int, list[Example]] = {}
    for ex in examples:
        by_label.setdefault(ex.label, []).append(ex)
    if not by_label:
        return []
    per_class = min(map(len, by_label.values()))
    if cap:
        per_class = min(per_class, cap // len(by_label))
    kept = {ex.id for group in by_label.values() for ex in group[:per_class]}
    return [ex for ex in examples if ex.id in kept]


def _stratified_halves(examples: list[Example], seed: int) -> tuple[list[Example], list[Example]]:
    """Deal examples, grouped by label, alternately to two halves: both get each label's share and
    their sizes differ by at most one."""
    ordered = sorted(examples, key=lambda ex: ex.label)  # stable: keeps the shuffled order within a label
    half_a, half_b = ordered[0::2], ordered[1::2]
    rng = random.Random(seed + 1)
    rng.shuffle(half_a)
    rng.shuffle(half_b)
    return half_a, half_b
