"""Bad task input gets an error that names the file, the field and a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from w2s_bench.errors import W2SError
from w2s_bench.models import resolve
from w2s_bench.tasks import Task, TaskRegistry, load_task_config

GOOD = """\
task: my_sentiment
dataset_path: stanfordnlp/sst2
training_split: train
test_split: validation
doc_to_text: "{{ sentence }}"
doc_to_choice: ["negative", "positive"]
doc_to_target: "{{ label }}"
metadata: {version: 1.0}
"""


def write(tmp_path: Path, text: str, name: str = "my_task.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_task_loads(tmp_path):
    config = load_task_config(write(tmp_path, GOOD))
    assert config.task == "my_sentiment" and config.version == "1.0" and config.output_type == "classification"


def test_typo_in_field_names_file_field_and_suggestion(tmp_path):
    path = write(tmp_path, GOOD.replace("doc_to_text", "doc_to_txt"))
    with pytest.raises(W2SError) as err:
        load_task_config(path)
    message = str(err.value)
    assert str(path) in message and "doc_to_txt" in message and "did you mean 'doc_to_text'" in message


def test_missing_required_field(tmp_path):
    with pytest.raises(W2SError, match="missing required field.*metadata"):
        load_task_config(write(tmp_path, GOOD.replace("metadata: {version: 1.0}\n", "")))


def test_unknown_output_type_and_metric(tmp_path):
    with pytest.raises(W2SError, match="did you mean 'multiple_choice'"):
        load_task_config(write(tmp_path, GOOD + "output_type: multiple_choise\n"))
    with pytest.raises(W2SError, match="did you mean 'auroc'"):
        load_task_config(write(tmp_path, GOOD + "metric_list: [{metric: aurok}]\n"))


def test_yaml_syntax_error_names_file(tmp_path):
    path = write(tmp_path, GOOD + "doc_to_choice: [unclosed\n")
    with pytest.raises(W2SError, match="invalid YAML") as err:
        load_task_config(path)
    assert str(path) in str(err.value)


def test_jinja_syntax_error(tmp_path):
    path = write(tmp_path, GOOD.replace("{{ sentence }}", "{{ sentence }"))
    with pytest.raises(W2SError, match="doc_to_text.*Jinja syntax"):
        Task(load_task_config(path))


def test_missing_column_names_column_and_suggests(tmp_path, shared_data):
    path = write(tmp_path, GOOD.replace("{{ sentence }}", "{{ sentense }}"))
    with pytest.raises(W2SError) as err:
        Task(load_task_config(path)).load(seed=0, limit=20, data_dir=shared_data)
    message = str(err.value)
    assert "doc_to_text" in message and "'sentense'" in message and "did you mean 'sentence'" in message


def test_target_out_of_range(tmp_path, shared_data):
    path = write(tmp_path, GOOD.replace('doc_to_target: "{{ label }}"', 'doc_to_target: "{{ label + 5 }}"'))
    with pytest.raises(W2SError, match="doc_to_target gave"):
        Task(load_task_config(path)).load(seed=0, limit=20, data_dir=shared_data)


def test_include_merges_and_child_wins(tmp_path):
    write(tmp_path, GOOD.replace("task: my_sentiment\n", ""), "_base.yaml")
    config = load_task_config(write(tmp_path, "include: _base.yaml\ntask: child\nmetadata: {version: 2}\n"))
    assert config.task == "child" and config.version == "2" and config.doc_to_text == "{{ sentence }}"


def test_unknown_task_did_you_mean():
    with pytest.raises(W2SError, match="did you mean 'sst2'"):
        TaskRegistry.discover().expand(["sst3"])


def test_unknown_model_lists_offline_choices():
    with pytest.raises(W2SError) as err:
        resolve("minilm-l7")
    assert "did you mean" in str(err.value) and "minilm-l6" in str(err.value) and "tfidf" in str(err.value)


def test_hub_dataset_unreachable_points_at_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = write(tmp_path, GOOD.replace("stanfordnlp/sst2", "nobody/no-such-dataset"))
    with pytest.raises(W2SError, match="--data_dir"):
        Task(load_task_config(path)).load(seed=0, data_dir=tmp_path / "empty")


def test_include_path_adds_user_tasks_and_groups(tmp_path):
    write(tmp_path, GOOD.replace("task: my_sentiment", "task: my_sentiment\ntag: [mine]"))
    registry = TaskRegistry.discover([tmp_path])
    assert registry.expand(["mine"]) == ["my_sentiment"]
    assert "sst2" in registry.names()


def test_doc_filter_must_be_one_expression_and_process_docs_must_resolve(tmp_path, shared_data):
    with pytest.raises(W2SError, match="doc_filter") as info:
        load_task_config(write(tmp_path, GOOD + "doc_filter: 'label == 1'\n"))
    assert "{{" in info.value.fix
    wrong_name = Task(load_task_config(write(tmp_path, GOOD + "process_docs: w2s_bench.chess.puzzles.nope\n")))
    with pytest.raises(W2SError, match="no function 'nope'") as info:  # imported when rows are built, not before
        wrong_name.load(seed=0, limit=20, data_dir=shared_data)
    assert "process_docs" in info.value.where
    (tmp_path / "utils.py").write_text("def positives(rows):\n    return [r for r in rows if r['label'] == 1]\n")
    task = Task(load_task_config(write(tmp_path, GOOD + "process_docs: utils.positives\n")))
    assert task.process_docs is not None  # a utils.py beside the YAML, as in lm-eval
    filtered = Task(load_task_config(write(tmp_path, GOOD + "doc_filter: '{{ label == 1 }}'\n")))
    loaded = filtered.load(seed=0, limit=50, data_dir=shared_data)
    assert {ex.label for ex in loaded.splits.test} == {1}
