"""Diverged training stops at once with an error naming the model, the task and the settings to
change; the sweep records the cell as failed (exit 3) and goes on; non-finite predictions are never
stored, and a rerun with a sane setting works."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from w2s_bench.cli import main
from w2s_bench.evaluator import RunConfig, run_sweep
from w2s_bench.records import FailedRun, RunRecord
from w2s_bench.train import TrainConfig, TrainingDiverged, train_loop


def _config(keyword_task, strong, **strong_args) -> RunConfig:
    data_dir, tasks = keyword_task
    return RunConfig(tasks=["keywords"], include_paths=[str(tasks)], data_dir=str(data_dir), weak=["tfidf"],
                     strong=[strong], limit=60, n_resamples=50,
                     strong_args={"epochs": 1, "min_steps": 0, "max_length": 16, **strong_args})


def test_a_diverging_ceiling_fails_its_cell_with_a_clear_reason_and_stores_nothing(keyword_task, tiny_bert, artefact_cache):
    [failed] = run_sweep(_config(keyword_task, tiny_bert, lr=1e6, grad_clip=0.0)).records
    assert isinstance(failed, FailedRun) and failed.step == "ceiling" and failed.error == "TrainingDiverged"
    message = failed.reason
    assert f"ceiling {tiny_bert}" in message and "task keywords, seed 0" in message  # the model and the task
    assert "lr=1e+06 now" in message and "dtype=float32" in message and "grad_clip" in message  # what to change
    assert "at step 1 of" in message or "at step 2 of" in message
    assert not list((artefact_cache / "ceiling").glob("*.safetensors"))  # nothing stored for the diverged step
    assert len(list((artefact_cache / "weak").glob("*.safetensors"))) == 1  # the TF-IDF supervisor finished

    fixed = run_sweep(_config(keyword_task, tiny_bert, lr=1e-3))
    assert fixed.store_counts["ceiling computed"] == 1 and fixed.store_counts["weak reused"] == 1
    assert isinstance(fixed.records[0], RunRecord) and math.isfinite(fixed.records[0].metrics["ceiling_acc"])


def test_the_cli_reports_divergence_without_a_traceback(keyword_task, tiny_bert, capsys):
    data_dir, tasks = keyword_task
    code = main(["--tasks", "keywords", "--include_path", str(tasks), "--data_dir", str(data_dir), "--strong", tiny_bert,
                 "--limit", "60", "--strong_args", "lr=1e6,grad_clip=0,epochs=1,min_steps=0,max_length=16", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 3 and "1 of 1 runs failed" in err and "Traceback" not in out + err  # 3: the sweep ran, a cell failed
    assert "diverged" in out  # the table's note says why


def test_a_nan_loss_stops_the_loop_at_that_step():
    model = torch.nn.Linear(2, 2)
    features = torch.randn(8, 2)
    calls = []

    def loss(logits, targets, progress):
        calls.append(progress)
        return logits.sum() * (math.nan if len(calls) == 3 else 1.0)

    with pytest.raises(TrainingDiverged, match="the loss was nan at step 3 of 8") as info:
        train_loop(model, lambda module, idx: module(features[idx]), [1] * 8, np.zeros((8, 2)),
                   TrainConfig(epochs=8, batch_size=8, lr=0.1), loss, None, torch.device("cpu"), label="toy")
    assert len(calls) == 3 and "model toy" in str(info.value)
    assert all(torch.isfinite(p).all() for p in model.parameters())  # no step was taken on the NaN loss


class NaNModel:
    """A custom model whose predictions are NaN (an overflow at inference)."""

    def __init__(self, seed: int = 0) -> None:
        pass

    def fit(self, train, targets, val=(), val_targets=None, loss=None):
        return self

    def predict_proba(self, examples):
        return np.full((len(examples), 2), np.nan)


def test_non_finite_predictions_are_an_error_and_never_stored(keyword_task, register, artefact_cache):
    register("nan-model", NaNModel, "predicts NaN", size=1)
    data_dir, tasks = keyword_task
    config = RunConfig(tasks=["keywords"], include_paths=[str(tasks)], data_dir=str(data_dir), weak=["nan-model"],
                       strong=["tfidf"], limit=60, n_resamples=50, all_pairs=True)
    [failed] = run_sweep(config).records
    assert isinstance(failed, FailedRun) and failed.step == "weak" and "non-finite" in failed.reason
    assert "weak supervisor nan-model (task keywords, seed 0)" in failed.reason
    assert not list(artefact_cache.rglob("*.safetensors"))
