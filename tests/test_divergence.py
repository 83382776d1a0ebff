"""Diverged training stops at once with an error naming the model, the task and the settings to
change; non-finite predictions are never stored, and a rerun with a sane setting works."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from w2s_bench.cli import main
from w2s_bench.evaluator import RunConfig, run_sweep
from w2s_bench.train import TrainConfig, TrainingDiverged, train_loop


def _config(keyword_task, strong, **strong_args) -> RunConfig:
    data_dir, tasks = keyword_task
    return RunConfig(tasks=["keywords"], include_paths=[str(tasks)], data_dir=str(data_dir), weak=["tfidf"],
                     strong=[strong], limit=60, n_resamples=50,
                     strong_args={"epochs": 1, "min_steps": 0, "max_length": 16, **strong_args})


def test_a_diverging_ceiling_stops_with_a_clear_error_and_stores_nothing(keyword_task, tiny_bert, artefact_cache):
    with pytest.raises(TrainingDiverged) as info:
        run_sweep(_config(keyword_task, tiny_bert, lr=1e6, grad_clip=0.0))
    message = str(info.value)
    assert f"ceiling {tiny_bert}" in message and "task keywords, seed 0" in message  # the model and the task
    assert "lr=1e+06 now" in message and "dtype=float32" in message and "grad_clip" in message  # what to change
    assert info.value.step <= 2
    assert not list((artefact_cache / "ceiling").glob("*.safetensors"))  # nothing stored for the diverged step
    assert len(list((artefact_cache / "weak").glob("*.safetensors"))) == 1  # the TF-IDF supervisor finished

    fixed = run_sweep(_config(keyword_task, tiny_bert, lr=1e-3))
    assert fixed.store_counts["ceiling computed"] == 1 and fixed.store_counts["weak reused"] == 1
    assert math.isfinite(fixed.records[0]["metrics"]["ceiling_acc"])


def test_the_cli_reports_divergence_without_a_traceback(keyword_task, tiny_bert, capsys):
    data_dir, tasks = keyword_task
    code = main(["--tasks", "keywords", "--include_path", str(tasks), "--data_dir", str(data_dir), "--strong", tiny_bert,
                 "--limit", "60", "--strong_args", "lr=1e6,grad_clip=0,epochs=1,min_steps=0,max_length=16", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "diverged" in err and "Traceback" not in err


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
    with pytest.raises(Exception, match="non-finite") as info:
        run_sweep(config)
    assert "weak supervisor nan-model (task keywords, seed 0)" in str(info.value)
    assert not list(artefact_cache.rglob("*.safetensors"))
