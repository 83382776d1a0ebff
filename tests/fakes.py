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


def fake_record(*, task: str = "t", weak: str = "w", strong: str = "s", method: str = "naive", seed: int = 0,
                supervision=None, task_metrics: tuple[str, ...] = (), **metrics):
    """A complete, valid run record with hand-set metrics (the rest of the protocol's metrics get plausible
    values), for tests of what reads records: tables, plots, comparisons, ``compare``."""
    from w2s_bench.records import (
        ArtefactRef,
        CellConfig,
        DataInfo,
        GitState,
        Hardware,
        Provenance,
        RunRecord,
        SingleSupervision,
        SplitSizes,
    )
    from w2s_bench.results import run_key

    defaults = {"n_test": 100, "n_classes": 2, "weak_acc": 0.6, "ceiling_acc": 0.8, "w2s_acc": 0.7,
                **{f"{m}_acc_ci": [0.5, 0.9] for m in ("weak", "ceiling", "w2s")}, "pgr": 0.5, "pgr_ci": [0.2, 0.8],
                "pgr_flag": None, "gap": 0.2, "gap_ci": [0.1, 0.3], "agreement": 0.9, "agreement_weak_right": 0.95,
                "agreement_weak_wrong": 0.8, "gain_sq": 0.02, "misfit_sq": 0.01, "gain_kl": 0.05, "misfit_kl": 0.03,
                "misfit_ratio_sq": 2.0, "misfit_ratio_kl": 1.7}
    config = CellConfig(task=task, task_version="1", task_hash="0" * 16, weak_model={"name": weak},
                        strong_model={"name": strong}, method=method, method_params={}, seed=seed, limit=None,
                        n_resamples=100, min_gap=0.01, task_metrics=list(task_metrics))
    data = DataInfo(origin="memory", fingerprint="0" * 32,
                    sizes=SplitSizes(train_a=90, val_a=10, train_b=90, val_b=10, test=100), class_names=["a", "b"])
    provenance = Provenance(versions={}, python="3", platform="test", git=GitState(commit=None, dirty=None),
                            hardware=Hardware(cpu="cpu", cpu_count=1, memory_gb=None, gpus=[], torch_threads=1),
                            created="2025-01-01T00:00:00+00:00")
    return RunRecord(kind="classification", key=run_key(task, weak, strong, method, seed), task=task, weak=weak,
                     strong=strong, method=method, seed=seed, metrics={**defaults, **metrics}, config=config, data=data,
                     supervision=supervision or SingleSupervision(label_accuracy=0.7),
                     training={"weak": None, "ceiling": None, "w2s": None},
                     artefacts={s: ArtefactRef(key=s, reused=False) for s in ("weak", "ceiling", "w2s")},
                     seconds={"cell": 0.0}, provenance=provenance)
