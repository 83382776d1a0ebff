"""Cache keys that survive unrelated edits: only the code and task fields that change numbers are in an
artefact's key. Editing a task's description or a report module keeps the cache warm; editing a
template or a loss makes new keys."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from fakes import NoisyOracle

from w2s_bench import cache
from w2s_bench.cache import NON_NUMBER_MODULES, NUMBER_MODULES, PACKAGE, code_fingerprint, modules_in, source_fingerprint
from w2s_bench.evaluator import RunConfig, run_sweep
from w2s_bench.tasks import TaskRegistry
from w2s_bench.tasks.config import TaskConfig
from w2s_bench.tasks.task import DESCRIPTIVE_FIELDS, EXAMPLE_FIELDS


def test_every_module_is_in_exactly_one_list():
    """A new module must be declared as computing numbers (in every key) or not: it cannot be left out of
    the key by accident."""
    numbers, others = set(modules_in(NUMBER_MODULES)), set(modules_in(NON_NUMBER_MODULES))
    every = set(PACKAGE.rglob("*.py"))
    assert not numbers & others, sorted(p.relative_to(PACKAGE).as_posix() for p in numbers & others)
    unlisted = sorted(p.relative_to(PACKAGE).as_posix() for p in every - numbers - others)
    assert not unlisted, f"add these to cache.NUMBER_MODULES or cache.NON_NUMBER_MODULES: {unlisted}"


def test_every_task_field_is_hashed_or_declared_descriptive():
    fields = {f.name for f in dataclasses.fields(TaskConfig)}
    assert fields == set(EXAMPLE_FIELDS) | set(DESCRIPTIVE_FIELDS) and not set(EXAMPLE_FIELDS) & set(DESCRIPTIVE_FIELDS)


def test_source_fingerprint_ignores_docstrings_comments_and_layout_only():
    code = 'def f(x):\n    """Doc."""\n    return x * 2  # twice\n'
    assert source_fingerprint(code) == source_fingerprint('def f(x):\n    "Another doc."\n\n    return x*2\n')
    assert source_fingerprint(code) != source_fingerprint('def f(x):\n    """Doc."""\n    return x * 3\n')
    assert source_fingerprint(code) != source_fingerprint('def f(x):\n    return "x" * 2\n')  # a string that is used


def edited_copy(tmp_path: Path, name: str, file: str, old: str, new: str) -> Path:
    """A copy of the w2s_bench package with one replacement in one file."""
    copy = tmp_path / name / "w2s_bench"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    path = copy / file
    text = path.read_text()
    assert old in text, (file, old)
    path.write_text(text.replace(old, new, 1))
    return copy


def test_code_fingerprint_covers_number_code_only(tmp_path):
    original = code_fingerprint(edited_copy(tmp_path, "same", "cli.py", "", ""))
    assert original == code_fingerprint()
    report = edited_copy(tmp_path, "report", "report/table.py", 'title="weak-to-strong results', 'title="W2S results')
    doc = edited_copy(tmp_path, "doc", "train.py", '"""', '"""An edited docstring. ')
    loss = edited_copy(tmp_path, "loss", "train.py", ".sum(dim=-1).mean()", ".sum(dim=-1).mean() * 2")
    splits = edited_copy(tmp_path, "splits", "tasks/splits.py", "import", "import os\nimport")
    assert code_fingerprint(report) == code_fingerprint(doc) == original
    assert code_fingerprint(loss) != original and code_fingerprint(splits) != original


@pytest.fixture
def oracle(register):
    return register("oracle", NoisyOracle, "keyword rule with 30% flips", size=1)


def sweep(keyword_task, oracle):
    data_dir, tasks = keyword_task
    return run_sweep(RunConfig(tasks=["keywords"], include_paths=[str(tasks)], data_dir=str(data_dir), weak=[oracle],
                               strong=["tfidf"], limit=200, n_resamples=50))


def test_descriptive_task_edits_keep_the_cache_warm_and_template_edits_do_not(keyword_task, oracle):
    _, tasks = keyword_task
    yaml_file = tasks / "keywords.yaml"
    first = sweep(keyword_task, oracle)
    assert "w2s_balanced_acc" not in first.records[0].metrics  # the task does not ask for it yet
    yaml_file.write_text(yaml_file.read_text().replace(
        "metadata: {version: 1}\n", "description: a keyword task\ntag: [mine]\nfamily: demo\n"
        "metric_list: [{metric: acc}, {metric: balanced_acc}]\nmetadata: {version: 1, citation: 'someone 2025'}\n"))
    warm = sweep(keyword_task, oracle)
    assert warm.store_counts["w2s reused"] == warm.store_counts["ceiling reused"] == warm.store_counts["weak reused"] == 1
    assert warm.records[0].metrics["w2s_acc"] == first.records[0].metrics["w2s_acc"]
    assert "w2s_balanced_acc" in warm.records[0].metrics  # the new metric, computed from the cached predictions

    yaml_file.write_text(yaml_file.read_text().replace("doc_to_text: '{{ text }}'", "doc_to_text: 'Text: {{ text }}'"))
    cold = sweep(keyword_task, oracle)
    assert cold.store_counts["w2s computed"] == cold.store_counts["ceiling computed"] == 1


def test_report_edits_keep_the_cache_warm_in_a_run_and_loss_edits_do_not(keyword_task, oracle, tmp_path, monkeypatch):
    sweep(keyword_task, oracle)
    report = edited_copy(tmp_path, "report", "report/table.py", 'title="weak-to-strong results', 'title="W2S results')
    monkeypatch.setattr(cache, "code_fingerprint", lambda: code_fingerprint(report))
    assert sweep(keyword_task, oracle).store_counts["w2s reused"] == 1
    loss = edited_copy(tmp_path, "loss", "train.py", ".sum(dim=-1).mean()", ".sum(dim=-1).mean() * 2")
    monkeypatch.setattr(cache, "code_fingerprint", lambda: code_fingerprint(loss))
    counts = sweep(keyword_task, oracle).store_counts
    assert counts["w2s computed"] == counts["ceiling computed"] == counts["weak computed"] == 1


def test_a_local_process_docs_module_is_part_of_the_task_hash(tmp_path):
    (tmp_path / "utils.py").write_text("def process(rows):\n    return [dict(r, text=r['text'].lower()) for r in rows]\n")
    (tmp_path / "lower.yaml").write_text(
        "task: lower\ndataset_path: local/x\ntest_split: test\nprocess_docs: utils.process\ndoc_to_text: '{{ text }}'\n"
        "doc_to_choice: [a, b]\ndoc_to_target: '{{ label }}'\nmetadata: {version: 1}\n")

    def task_hash() -> str:
        return TaskRegistry.discover([str(tmp_path)]).get("lower").config_hash()

    before = task_hash()
    (tmp_path / "utils.py").write_text("# a comment\n" + (tmp_path / "utils.py").read_text())
    assert task_hash() == before  # a comment changes nothing
    (tmp_path / "utils.py").write_text((tmp_path / "utils.py").read_text().replace("lower()", "upper()"))
    assert task_hash() != before
