"""Everything that can be checked before training is checked when the plan is made (``--dry_run``
too): limits, minimum examples per class, folders, devices, settings' names and types, the
baseline, file arguments. Each case is a clear W2SError (exit code 2 from the CLI), never a
traceback and never a training started on bad input."""

from __future__ import annotations

import inspect
import os
import re

import pytest
import torch
from fakes import NoisyOracle

from w2s_bench.cli import main, run_parser
from w2s_bench.errors import W2SError
from w2s_bench.evaluator import RunConfig, plan_sweep, run_sweep
from w2s_bench.models import build_estimator, resolve
from w2s_bench.params import Setting


@pytest.fixture
def oracles(register):
    register("oracle", NoisyOracle, "keyword rule with 30% flips", size=1)
    register("oracle-b", NoisyOracle, "the same rule, as a strong model", size=2)


def _config(keyword_task, **overrides) -> RunConfig:
    data_dir, tasks = keyword_task
    settings = dict(tasks=["keywords"], include_paths=[str(tasks)], data_dir=str(data_dir), weak=["oracle"],
                    strong=["oracle-b"], n_resamples=50, limit=100)
    return RunConfig(**{**settings, **overrides})


def _cli(keyword_task, *args: str) -> list[str]:
    data_dir, tasks = keyword_task
    return ["--tasks", "keywords", "--include_path", str(tasks), "--data_dir", str(data_dir), "--quiet", *args]


def _fails(capsys, argv: list[str], *needles: str) -> str:
    """Run the CLI: exit code 2, each needle in the error, no traceback."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error" in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


# -- item 6: limits ---------------------------------------------------------------------------------
@pytest.mark.parametrize("limit", [0, -1, -1000])
def test_zero_and_negative_limits_are_refused(keyword_task, oracles, capsys, limit):
    with pytest.raises(W2SError, match="--limit"):
        plan_sweep(_config(keyword_task, limit=limit))
    _fails(capsys, _cli(keyword_task, "--weak", "oracle", "--strong", "oracle-b", "--limit", str(limit), "--dry_run"),
           "--limit", "positive")


def test_a_limit_too_small_for_tfidf_is_caught_by_the_plan(keyword_task, oracles, capsys):
    with pytest.raises(W2SError) as info:
        plan_sweep(_config(keyword_task, weak=["tfidf"], limit=8))
    message = str(info.value)
    assert "task keywords" in message and "weak supervisor tfidf" in message and "train_a" in message
    assert "needs at least 5 of each class" in message and re.search(r"\d+ of class 'good'", message)
    assert "--limit" in message
    err = _fails(capsys, _cli(keyword_task, "--weak", "tfidf", "--strong", "oracle-b", "--limit", "8", "--dry_run"),
                 "train_a", "needs at least 5")
    assert "ValueError" not in err and "n_splits" not in err  # not scikit-learn's message
    assert plan_sweep(_config(keyword_task, weak=["tfidf"], limit=40)).cells  # enough: planned


def test_tfidf_as_the_student_is_checked_on_train_b(keyword_task, oracles):
    with pytest.raises(W2SError, match="ceiling tfidf"):
        plan_sweep(_config(keyword_task, strong=["tfidf"], limit=8))


def test_bootstrap_links_are_checked_on_their_half_of_train_b(keyword_task, oracles):
    plan_sweep(_config(keyword_task, limit=14))  # naive: enough
    with pytest.raises(W2SError, match=r"bootstrap link tfidf \(fold 1 of 2\)"):
        plan_sweep(_config(keyword_task, limit=14, methods=["bootstrap(via=tfidf)"]))


def test_ensemble_members_are_checked_on_their_bootstrap_resamples(keyword_task, oracles):
    """Some small limit leaves train_a enough of each class for TF-IDF while a member's resample of it
    has too few: the plan must catch that, naming the member."""
    caught = []
    for limit in range(12, 40):
        try:
            plan_sweep(_config(keyword_task, weak=["tfidf"], limit=limit))
        except W2SError:
            continue  # train_a itself too small
        try:
            plan_sweep(_config(keyword_task, weak=["tfidf"], limit=limit, methods=["ensemble(seeds=4)"]))
        except W2SError as exc:
            assert "ensemble member" in str(exc)
            caught.append(limit)
    assert caught


def test_a_probe_student_needs_five_per_class(keyword_task, oracles, tiny_bert):
    with pytest.raises(W2SError, match="probe on .* needs at least 5"):
        plan_sweep(_config(keyword_task, strong=[tiny_bert], limit=8, methods=["probe"]))
    assert plan_sweep(_config(keyword_task, strong=[tiny_bert], limit=8, methods=["probe_knn"])).cells  # kNN: any count


# -- item 7: folders, devices, settings, baseline, files -----------------------------------------------
def test_output_and_cache_folders_are_checked(keyword_task, oracles, tmp_path, capsys):
    a_file = tmp_path / "results.txt"
    a_file.write_text("not a folder")
    for option, field in (("--output_path", "output_path"), ("--use_cache", "cache_dir")):
        with pytest.raises(W2SError, match=f"{option}.*is a file"):
            plan_sweep(_config(keyword_task, **{field: str(a_file)}))
        with pytest.raises(W2SError, match="cannot be created"):
            plan_sweep(_config(keyword_task, **{field: str(a_file / "sub")}))
        _fails(capsys, _cli(keyword_task, "--weak", "oracle", "--strong", "oracle-b", option, str(a_file)), "is a file")
    assert plan_sweep(_config(keyword_task, output_path=str(tmp_path / "new" / "folder"))).cells
    assert not (tmp_path / "new").exists()  # checked, not created


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only folders, so the check cannot be tested as root")
def test_an_unwritable_output_folder_is_refused(keyword_task, oracles, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(W2SError, match="not writable"):
        plan_sweep(_config(keyword_task, output_path=str(locked)))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_unavailable_or_unknown_devices_are_refused(keyword_task, oracles, capsys):
    for device, needle in (("cuda", "not available"), ("cuda:1", "not available"), ("gpu", "unknown device")):
        with pytest.raises(W2SError, match=needle):
            plan_sweep(_config(keyword_task, device=device))
        _fails(capsys, _cli(keyword_task, "--weak", "oracle", "--strong", "oracle-b", "--device", device, "--dry_run"), needle)


def test_device_in_strong_args_is_checked_too(keyword_task, tiny_bert):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(W2SError, match="not available"):
        plan_sweep(_config(keyword_task, weak=["tfidf"], strong=[tiny_bert], strong_args={"device": "cuda"}))


@pytest.mark.parametrize("args, needles", [
    (["--strong_args", "lr=abc"], ["lr='abc' is not a finite number"]),
    (["--strong_args", "epochs=-1"], ["epochs=-1", ">= 0"]),
    (["--strong_args", "batch_size=0"], ["batch_size=0", ">= 1"]),
    (["--strong_args", "lora=maybe"], ["lora='maybe'"]),
    (["--strong_args", "seed=3"], ["has no setting 'seed'"]),
    (["--strong_args", "lrr=1e-4"], ["has no setting 'lrr'", "did you mean 'lr'"]),
    (["--strong_args", "pooling=middle"], ["unknown pooling 'middle'"]),
    (["--strong_args", "dtype=fp8"], ["dtype='fp8'"]),
    (["--weak_args", "C=0.5"], ["has no setting 'C'", "did you mean 'Cs'"]),
    (["--weak_args", "pooling=last"], ["model 'tfidf' has no setting 'pooling'"]),
    (["--weak_args", "Cs=abc"], ["Cs='abc'"]),
    (["--weak_args", "ngram_max=two"], ["ngram_max='two' is not an integer"]),
    (["--weak_args", "noequals"], ["expected key=value"]),
    (["--methods", "naive(temperature=abc)"], ["temperature='abc' is not a finite number"]),
    (["--methods", "ensemble(seeds=abc)"], ["seeds='abc' is not an integer"]),
    (["--methods", "ensemble(seeds=0)"], ["seeds must be >= 1"]),
    (["--methods", "logconf(alpha_max=abc)"], ["alpha_max"]),
    (["--methods", "probe_knn(k=2.5)"], ["k='2.5' is not an integer"]),
    (["--methods", "naive(temp=0.5)"], ["did you mean 'temperature'"]),
    (["--methods", "naive", "--baseline", "logconf"], ["--baseline 'logconf' is not a method of this run"]),
    (["--n_resamples", "0"], ["--n_resamples"]),
])
def test_bad_settings_fail_the_plan_with_a_clear_error(keyword_task, tiny_bert, capsys, args, needles):
    _fails(capsys, _cli(keyword_task, "--weak", "tfidf", "--strong", tiny_bert, "--limit", "60", *args, "--dry_run"), *needles)


def test_the_help_examples_are_accepted(keyword_task, tiny_bert):
    help_text = run_parser().format_help()
    weak_example = re.search(r"--weak_args WEAK_ARGS\s+e\.g\. (\S+)", help_text)[1]
    strong_example = re.search(r"--strong_args STRONG_ARGS\s+e\.g\. (\S+)", help_text)[1]
    from w2s_bench.models.registry import parse_model_args

    weak_args, strong_args = parse_model_args(weak_example), parse_model_args(strong_example)
    assert plan_sweep(_config(keyword_task, weak=["tfidf"], strong=[tiny_bert], weak_args=weak_args,
                              strong_args=strong_args)).cells
    build_estimator(resolve("tfidf").with_params(weak_args), seed=0)  # what training will build
    build_estimator(resolve(tiny_bert).with_params(strong_args), seed=0)


def test_cli_values_are_converted_to_the_constructor_types(keyword_task, tiny_bert):
    spec = resolve("tfidf").with_params({"Cs": "0.1+1+10", "ngram_max": "1"})
    assert spec.params == {"Cs": (0.1, 1.0, 10.0), "ngram_max": 1}
    assert build_estimator(spec, 0).model.Cs == [0.1, 1.0, 10.0]
    spec = resolve(tiny_bert).with_params({"lr": "1e-4", "epochs": "3", "lora": "true", "num_hidden_layers": "none"})
    assert spec.params["lr"] == 1e-4 and spec.params["epochs"] == 3.0 and spec.params["lora"] is True
    assert spec.params["num_hidden_layers"] is None


@pytest.mark.parametrize("model", ["tfidf", "tiny_bert"])
def test_every_accepted_setting_is_one_the_constructor_takes(model, request):
    """Settings come from the constructor's signature: each accepted name, at its default, builds."""
    name = request.getfixturevalue(model) if model == "tiny_bert" else model
    spec = resolve(name)
    signature, open_ended = spec.settings()
    assert not open_ended and signature
    for setting, info in signature.items():
        assert isinstance(info, Setting) and info.default is not inspect.Parameter.empty, setting
        build_estimator(spec.with_params({setting: info.default}), seed=0)


def test_baseline_must_be_in_the_run_but_defaults_quietly(keyword_task, oracles):
    with pytest.raises(W2SError, match="did you mean 'naive_hard'"):
        plan_sweep(_config(keyword_task, methods=["naive", "naive_hard"], baseline="naive_hrd"))
    assert plan_sweep(_config(keyword_task, methods=["naive", "naive_hard"], baseline="naive_hard")).cells
    sweep = run_sweep(_config(keyword_task, methods=["naive_hard", "product"], cache_dir=None))  # no naive: no error
    assert sweep.comparisons and sweep.comparisons[0].baseline == "naive_hard"


def test_validate_and_method_files_must_exist(tmp_path, keyword_task, oracles, capsys):
    _fails(capsys, ["validate", str(tmp_path / "missing.yaml")], "no such file")
    _fails(capsys, ["validate", str(tmp_path)], "is a folder")
    (tmp_path / "m.yaml").mkdir()
    _fails(capsys, _cli(keyword_task, "--methods", str(tmp_path / "absent.yaml"), "--dry_run"), "does not exist")
    _fails(capsys, _cli(keyword_task, "--methods", str(tmp_path / "m.yaml"), "--dry_run"), "is a folder")
    (tmp_path / "bad.yaml").write_text("method: [unclosed")
    _fails(capsys, _cli(keyword_task, "--methods", str(tmp_path / "bad.yaml"), "--dry_run"), "not a readable YAML file")
