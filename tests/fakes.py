"""Fake estimators and a keyword task whose right answers are known: the controlled experiments."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np

from w2s_bench.examples import one_hot


class NoisyOracle:
    """Knows the rule (the keyword) but flips 30% of its answers, deterministically per text:
    noise that no model of the text can learn, so a good student should see through it. With
    ``seeded`` the flips also depend on the seed: independent supervisors for ensembles."""

    def __init__(self, seed: int = 0, flip: float = 0.3, seeded: bool = False) -> None:
        self.flip, self.salt = flip, f"{seed}:" if seeded else ""

    def fit(self, train, targets, val=(), val_targets=None, loss=None):
        return self

    def predict_proba(self, examples):
        labels = []
        for ex in examples:
            truth = int("good" in ex.texts[0].split())
            flipped = zlib.crc32((self.salt + ex.texts[0]).encode()) % 1000 < self.flip * 1000
            labels.append(1 - truth if flipped else truth)
        return one_hot(labels, 2) * 0.8 + 0.1


def write_keyword_task(tmp_path: Path) -> tuple[Path, Path]:
    """A task where the label is the keyword good/bad among random filler words: (data dir, tasks dir)."""
    rng = np.random.default_rng(0)
    data = tmp_path / "data" / "local" / "keywords"
    data.mkdir(parents=True)
    fillers = [f"w{i}" for i in range(300)]
    for split, n in (("train", 1600), ("test", 600)):
        with open(data / f"{split}.jsonl", "w") as handle:
            for i in range(n):
                label = int(rng.integers(2))
                words = list(rng.choice(fillers, 6)) + ["good" if label else "bad"]
                rng.shuffle(words)
                handle.write(json.dumps({"text": " ".join(words) + f" {split}{i}", "label": label}) + "\n")
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "keywords.yaml").write_text(keyword_task_yaml())
    return tmp_path / "data", tasks


def keyword_task_yaml(task: str = "keywords", dataset_path: str = "local/keywords") -> str:
    """The keyword task's YAML, optionally under another name or dataset folder."""
    return (f"task: {task}\ndataset_path: {dataset_path}\ntraining_split: train\ntest_split: test\n"
            "doc_to_text: '{{ text }}'\ndoc_to_choice: [bad, good]\ndoc_to_target: '{{ label }}'\nmetadata: {version: 1}\n")


def write_small_keyword_mirror(root: Path) -> Path:
    """A data dir with a 60 + 30 row ``local/keywords`` (the keyword task's columns), for tests that need
    data to reach the templates but not to train well; returns ``root``."""
    folder = root / "local" / "keywords"
    folder.mkdir(parents=True)
    for split, n in (("train", 60), ("test", 30)):
        rows = [json.dumps({"text": f"w{i} {'good' if i % 2 else 'bad'} {split}", "label": i % 2}) for i in range(n)]
        (folder / f"{split}.jsonl").write_text("\n".join(rows) + "\n")
    return root


