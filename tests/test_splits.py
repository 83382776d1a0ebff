"""Protocol splits on the real local mirrors: disjoint, deterministic, stratified; carving noted."""

from __future__ import annotations

import numpy as np
import pytest

from w2s_bench.tasks import TaskRegistry
from w2s_bench.tasks.data import load_source, local_split_sizes

PARTS = ("train_a", "val_a", "train_b", "val_b", "test")


@pytest.fixture(scope="module")
def registry() -> TaskRegistry:
    return TaskRegistry.discover()


def ids(splits, part):
    return {ex.id for ex in getattr(splits, part)}


@pytest.mark.parametrize("task", ["sst2", "boolq", "sciq", "sciq_mc", "amazon_polarity", "w2s_demo_sentiment"])
def test_parts_disjoint_nonempty_and_balanced(registry, shared_data, task):
    loaded = registry.get(task).load(seed=0, limit=300, data_dir=shared_data)
    splits = loaded.splits
    for i, a in enumerate(PARTS):
        assert len(getattr(splits, a)) > 0
        for b in PARTS[i + 1:]:
            assert not ids(splits, a) & ids(splits, b), f"{a} and {b} overlap"
    texts_train = {t for ex in splits.train_a + splits.train_b for t in ex.texts}
    assert all(t.strip() for t in texts_train)
    labels = np.array([ex.label for ex in splits.train_a + splits.train_b])
    # no class has more than 80% of the training examples (label balance, or balanced binarisation)
    assert np.bincount(labels, minlength=loaded.num_classes).max() / len(labels) < 0.8


def test_limit_caps_every_part(registry, shared_data):
    splits = registry.get("sst2").load(seed=0, limit=100, data_dir=shared_data).splits
    assert len(splits.train_a) + len(splits.val_a) == 100
    assert len(splits.train_b) + len(splits.val_b) == 100
    assert len(splits.test) == 100


def test_test_set_fixed_across_seeds_halves_vary(registry, shared_data):
    a = registry.get("sst2").load(seed=0, limit=200, data_dir=shared_data).splits
    b = registry.get("sst2").load(seed=1, limit=200, data_dir=shared_data).splits
    again = registry.get("sst2").load(seed=0, limit=200, data_dir=shared_data).splits
    assert [e.id for e in a.test] == [e.id for e in b.test]
    assert ids(a, "train_a") != ids(b, "train_a")
    assert [e.id for e in a.train_a] == [e.id for e in again.train_a]


def test_missing_training_split_is_carved_with_a_note(registry, shared_data):
    loaded = registry.get("boolq").load(seed=0, data_dir=shared_data)
    assert loaded.splits.notes and "no 'train' split" in loaded.splits.notes[0]
    sizes = loaded.splits.sizes()
    assert sizes["test"] == round(3270 * 0.3)
    assert sum(sizes.values()) == 3270


def test_missing_training_split_falls_back_to_the_validation_split(registry, shared_data):
    loaded = registry.get("sciq").load(seed=0, data_dir=shared_data)
    assert loaded.splits.notes and "training examples drawn from 'validation'" in loaded.splits.notes[0]
    sizes = loaded.splits.sizes()
    assert sizes["test"] == 1000  # the whole test split, as on the hub
    assert sizes["train_a"] + sizes["val_a"] + sizes["train_b"] + sizes["val_b"] <= 1000
    assert all(ex.id.startswith("validation") for ex in loaded.splits.train_a)


def test_validation_split_is_not_read_when_the_training_split_exists(registry, shared_data, tmp_path):
    mirror = tmp_path / "allenai" / "sciq"
    mirror.mkdir(parents=True)
    rows = (shared_data / "allenai" / "sciq" / "test.jsonl").read_text().splitlines(keepends=True)
    for split, part in (("train", rows[:400]), ("validation", rows[400:500]), ("test", rows[500:700])):
        (mirror / f"{split}.jsonl").write_text("".join(part))
    config = registry.get("sciq").config
    assert sorted(load_source(config, tmp_path).splits) == ["test", "train"]
    assert local_split_sizes(config, tmp_path) == {"train": 400, "test": 200}


def test_binarized_sciq_is_balanced_and_multiple_choice_positions_vary(registry, shared_data):
    binary = registry.get("sciq").load(seed=0, data_dir=shared_data)
    labels = np.array([e.label for e in binary.splits.test])
    assert binary.class_names == ["incorrect", "correct"] and abs(labels.mean() - 0.5) < 0.08
    mc = registry.get("sciq_mc").load(seed=0, data_dir=shared_data)
    positions = np.bincount([e.label for e in mc.splits.test], minlength=4)
    assert mc.num_classes == 4 and positions.min() > 0.15 * positions.sum()
    assert all(len(e.texts) == 4 and e.texts[0].startswith("Q: ") for e in mc.splits.test[:5])
