"""The run engine: artefacts computed once per sweep, reruns that resume, invalidation when what
made an artefact changes, sweep grids and plans. Fast models (a rule-based weak supervisor and
TF-IDF) make each training cheap, so the tests count trainings rather than time them."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import numpy as np
import pytest
from fakes import NoisyOracle

import w2s_bench
from w2s_bench.cache import Artefact, ArtefactStore
from w2s_bench.cli import main
from w2s_bench.evaluator import RunConfig, plan_sweep, run_sweep
from w2s_bench.models.tfidf import TfidfLogReg
from w2s_bench.records import to_json


class CountingTfidf(TfidfLogReg):
    """TF-IDF that counts its fits and can be told to fail (a crash or Ctrl-C) at the n-th one."""

    fits = 0
    interrupt_at: int | None = None

    def fit(self, *args, **kwargs):
        CountingTfidf.fits += 1
        if CountingTfidf.fits == CountingTfidf.interrupt_at:
            raise KeyboardInterrupt
        return super().fit(*args, **kwargs)


@pytest.fixture
def models(register):
    CountingTfidf.fits, CountingTfidf.interrupt_at = 0, None
    register("oracle", NoisyOracle, "keyword rule with 30% flips", size=1)
    register("counting-tfidf", lambda seed, **kw: CountingTfidf(seed=seed, **kw), "TF-IDF that counts fits", size=2)
    register("counting-tfidf-b", lambda seed: CountingTfidf(seed=seed, ngram_max=1), "another student", size=3)


def _config(keyword_task, **overrides) -> RunConfig:
    data_dir, tasks = keyword_task
    settings = dict(tasks=["keywords"], include_paths=[str(tasks)], data_dir=str(data_dir), weak=["oracle"],
                    strong=["counting-tfidf"], n_resamples=100)
    return RunConfig(**{**settings, **overrides})


def _metrics(records):
    return [(r.key, r.metrics) for r in records]


def test_second_sweep_reuses_weak_labels_and_ceilings(keyword_task, models):
    """A sweep fits each supervisor and ceiling once; a second sweep with one more method trains only
    that method's students, and its shared numbers are identical to the first sweep's."""
    first = run_sweep(_config(keyword_task, strong=["counting-tfidf", "counting-tfidf-b"], methods=["naive"], seeds=[0, 1]))
    c = first.store_counts
    assert (c["weak computed"], c["ceiling computed"], c["w2s computed"]) == (2, 4, 4)  # seeds x (1 weak, 2 strong, 2 runs)
    assert CountingTfidf.fits == 8  # 4 ceilings + 4 students: nothing fitted twice

    second = run_sweep(_config(keyword_task, strong=["counting-tfidf", "counting-tfidf-b"], methods=["naive", "naive_hard"],
                               seeds=[0, 1]))
    c = second.store_counts
    assert c["weak computed"] == 0 and c["ceiling computed"] == 0 and c["w2s computed"] == 4  # only naive_hard
    assert (c["weak reused"], c["ceiling reused"], c["w2s reused"]) == (2, 4, 4)
    assert CountingTfidf.fits == 8 + 4
    naive_again = [r for r in second.records if r.method == "naive"]
    assert _metrics(naive_again) == _metrics(first.records)
    assert all(r.artefacts["w2s"].reused for r in naive_again)


def test_killed_sweep_resumes_without_recomputing_finished_runs(keyword_task, models, tmp_path):
    out = tmp_path / "out"
    config = _config(keyword_task, methods=["naive", "naive_hard"], seeds=[0, 1], output_path=str(out))
    CountingTfidf.interrupt_at = 3  # seed 0: ceiling (fit 1), naive student (fit 2), Ctrl-C in naive_hard's fit
    with pytest.raises(KeyboardInterrupt):
        run_sweep(config)
    finished = list((out / "runs").glob("*.json"))
    assert [p.stem for p in finished] == ["keywords__oracle__counting-tfidf__naive__seed0"]
    assert not list(out.rglob("*.tmp"))  # no half-written file left behind

    CountingTfidf.fits, CountingTfidf.interrupt_at = 0, None
    resumed = run_sweep(config)
    c = resumed.store_counts
    assert (c["weak reused"], c["ceiling reused"], c["w2s reused"]) == (1, 1, 1)  # what finished before the crash
    assert (c["weak computed"], c["ceiling computed"], c["w2s computed"]) == (1, 1, 3)
    assert CountingTfidf.fits == 4
    assert len(json.loads((out / "results.json").read_text())) == 4

    # and the resumed numbers are the numbers of an uninterrupted sweep
    fresh = run_sweep(_config(keyword_task, methods=["naive", "naive_hard"], seeds=[0, 1], cache_dir=None))
    assert _metrics(resumed.records) == _metrics(fresh.records)


def test_changed_task_config_invalidates_its_cache_entries(keyword_task, models):
    _, tasks = keyword_task
    run_sweep(_config(keyword_task))
    assert run_sweep(_config(keyword_task)).store_counts["w2s reused"] == 1  # unchanged: reused

    yaml_file = tasks / "keywords.yaml"
    yaml_file.write_text(yaml_file.read_text().replace("doc_to_text: '{{ text }}'", "doc_to_text: 'Review: {{ text }}'"))
    c = run_sweep(_config(keyword_task)).store_counts
    assert c["weak reused"] == c["ceiling reused"] == c["w2s reused"] == 0
    assert (c["weak computed"], c["ceiling computed"], c["w2s computed"]) == (1, 1, 1)

    # a version bump alone (same examples) also makes new entries: the task hash is part of the key
    yaml_file.write_text(yaml_file.read_text().replace("metadata: {version: 1}", "metadata: {version: 2}"))
    assert run_sweep(_config(keyword_task)).store_counts["w2s computed"] == 1


def test_limit_seed_and_model_settings_are_part_of_the_key(keyword_task, models):
    run_sweep(_config(keyword_task))
    for change in ({"limit": 300}, {"seeds": [5]}, {"strong_args": {"ngram_max": 1}}, {"methods": ["naive_hard"]}):
        c = run_sweep(_config(keyword_task, **change)).store_counts
        assert c["w2s computed"] == 1, change


def test_rerun_recomputes_and_no_cache_stores_nothing(keyword_task, models, artefact_cache):
    run_sweep(_config(keyword_task))
    c = run_sweep(_config(keyword_task, rerun=True)).store_counts
    assert c["ceiling computed"] == 1 and c["ceiling reused"] == 0
    stored = sorted(artefact_cache.rglob("*.safetensors"))
    assert len(stored) == 3  # weak, ceiling, w2s: overwritten in place, not duplicated

    empty = artefact_cache.parent / "unused"
    c = run_sweep(_config(keyword_task, cache_dir=None)).store_counts
    assert c["w2s computed"] == 1 and not empty.exists()
    assert sorted(artefact_cache.rglob("*.safetensors")) == stored


def test_dry_run_plan_counts_trainings_after_the_cache(keyword_task, models, capsys):
    config = _config(keyword_task, strong=["counting-tfidf", "counting-tfidf-b"], methods=["naive", "ensemble(seeds=2)"],
                     seeds=[0, 1])
    plan = plan_sweep(config)
    assert len(plan.cells) == 2 * 2 * 2
    # per seed: 2 supervisors (the ensemble's member 0 is the plain supervisor), 2 ceilings, 4 students
    assert dict(plan.to_train) == {"weak": 4, "ceiling": 4, "w2s": 8}
    assert CountingTfidf.fits == 0  # planning trains nothing

    run_sweep(_config(keyword_task, strong=["counting-tfidf"], methods=["naive"], seeds=[0, 1]))
    plan = plan_sweep(config)
    assert dict(plan.cached) == {"weak": 2, "ceiling": 2, "w2s": 2}
    assert plan.trainings == (4 + 4 + 8) - 6

    data_dir, tasks = keyword_task
    assert main(["--tasks", "keywords", "--include_path", str(tasks), "--data_dir", str(data_dir), "--weak", "oracle",
                 "--strong", "counting-tfidf,counting-tfidf-b", "--seeds", "0,1", "--dry_run"]) == 0
    out = capsys.readouterr().out
    assert "plan: 4 runs" in out and CountingTfidf.fits == 4


def test_grid_skips_pairs_whose_weak_model_is_not_smaller(keyword_task, models):
    config = _config(keyword_task, weak=["oracle", "counting-tfidf-b"], strong=["counting-tfidf", "counting-tfidf-b"])
    plan = plan_sweep(config)
    assert [(c.weak, c.strong) for c in plan.cells] == [("oracle", "counting-tfidf"), ("oracle", "counting-tfidf-b")]
    assert plan.skipped_pairs == [("counting-tfidf-b", "counting-tfidf"), ("counting-tfidf-b", "counting-tfidf-b")]
    config.all_pairs = True
    assert len(plan_sweep(config).cells) == 4
    # a single pair is run as asked, even when the weak model is the larger one
    assert len(plan_sweep(_config(keyword_task, weak=["counting-tfidf-b"], strong=["counting-tfidf"])).cells) == 1


def test_same_seed_same_numbers_through_the_whole_run(keyword_task, tiny_bert):
    """Two uncached runs of a real (tiny) transformer give identical records; another seed differs."""
    config = dict(weak=["tfidf"], strong=[tiny_bert], strong_args={"epochs": 1, "min_steps": 0, "max_length": 32},
                  limit=150, cache_dir=None)
    first, again = run_sweep(_config(keyword_task, **config)), run_sweep(_config(keyword_task, **config))
    assert _metrics(first.records) == _metrics(again.records)
    assert first.samples == again.samples
    other = run_sweep(_config(keyword_task, **config, seeds=[1]))
    assert other.records[0].metrics["w2s_acc"] != first.records[0].metrics["w2s_acc"] or \
        other.samples != first.samples


def test_records_carry_provenance(keyword_task, models):
    [record] = w2s_bench.run(_config(keyword_task))
    p = to_json(record.provenance)
    assert {"versions", "git", "hardware", "created"} <= p.keys()
    assert {"commit", "dirty"} <= p["git"].keys() and p["hardware"]["cpu_count"] >= 1
    assert len(record.data.fingerprint) == 32 and record.config.task_hash
    assert record.config.strong_model["name"] == "counting-tfidf"
    assert set(record.artefacts) == {"weak", "ceiling", "w2s"}


# -- the store itself ------------------------------------------------------------------------------
def _artefact(value: float) -> Artefact:
    """Four rows of probabilities (value, 1 - value) and an empty part."""
    return Artefact({"test": np.tile([value, 1 - value], (4, 1)), "val_b": np.zeros((0, 2))},
                    {"seconds": 1.0, "info": {"x": value}})


def test_store_round_trips_arrays_and_records_without_pickle(tmp_path):
    store = ArtefactStore(tmp_path)
    computed, key, reused = store.get_or_compute("weak", {"a": 1}, lambda: _artefact(0.25))
    loaded, key2, reused2 = store.get_or_compute("weak", {"a": 1}, lambda: pytest.fail("recomputed"))
    assert (key, reused, reused2) == (key2, False, True)
    assert np.array_equal(loaded.arrays["test"], computed.arrays["test"]) and loaded.arrays["val_b"].shape == (0, 2)
    assert loaded.record == computed.record == {"seconds": 1.0, "info": {"x": 0.25}}
    assert (tmp_path / "weak" / f"{key}.safetensors").read_bytes()[:8] != b"\x80\x04\x95"  # not a pickle


def test_damaged_entry_is_recomputed_not_trusted(tmp_path):
    store = ArtefactStore(tmp_path)
    _, key, _ = store.get_or_compute("ceiling", {"a": 1}, lambda: _artefact(0.5))
    (tmp_path / "ceiling" / f"{key}.safetensors").write_bytes(b"garbage")
    artefact, _, reused = store.get_or_compute("ceiling", {"a": 1}, lambda: _artefact(0.5))
    assert not reused and artefact.arrays["test"][0, 0] == 0.5


def _write_many(root: str, value: float) -> None:
    store = ArtefactStore(root)
    for _ in range(20):
        store._write(store.path("w2s", "shared"), _artefact(value), {"writer": value})


def test_two_processes_writing_one_entry_leave_a_valid_file(tmp_path):
    """Both processes write the same key at once; the rename makes the file one writer's whole
    content, never a mix or a truncated file."""
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_write_many, args=(str(tmp_path), v)) for v in (0.25, 0.75)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert all(w.exitcode == 0 for w in workers)
    writers = [{"writer": 0.25}, {"writer": 0.75}]
    artefacts = [ArtefactStore._read(Path(tmp_path) / "w2s" / "shared.safetensors", parts) for parts in writers]
    [artefact] = [a for a in artefacts if a is not None]  # whole: it passes its checks under one writer's key parts
    assert artefact is not None and artefact.arrays["test"][0, 0] in (0.25, 0.75)
    assert artefact.record["info"]["x"] == artefact.arrays["test"][0, 0]
    assert not list(Path(tmp_path).rglob("*.tmp"))
