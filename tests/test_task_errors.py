"""Bad task input gets an error that names the file, the field and a fix."""

from __future__ import annotations

import re
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


def test_metric_list_is_checked_against_the_metric_registry(tmp_path):
    config = load_task_config(write(tmp_path, GOOD + "metric_list: [acc, {metric: f1_macro, higher_is_better: true, "
                                                      "aggregation: mean}, {metric: ece}]\n"))
    assert config.task_metrics == ["f1_macro", "ece"]  # acc is in the protocol's set, always reported
    for bad, message in (("[{metric: f1_macro, higher_is_better: false}]", "contradicts the metric 'f1_macro'"),
                         ("[{metric: acc, aggregation: max}]", "aggregation 'max'"),
                         ("[{metric: acc, weight: 2}]", "unknown field 'weight'"),
                         ("[{metric: f1_macr}]", "did you mean 'f1_macro'")):
        with pytest.raises(W2SError, match=message) as err:
            load_task_config(write(tmp_path, GOOD + f"metric_list: {bad}\n"))
        assert "metric_list" in str(err.value)


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


@pytest.mark.parametrize("line, message", [
    ("dataset_path: 7", "dataset_path: must be str, got 7"),
    ("doc_to_text: [a, b]", "doc_to_text: must be str"),
    ("doc_to_target: [1]", "doc_to_target: must be str | int"),
    ("doc_to_target: true", "doc_to_target: must be str | int, got True"),
    ("doc_to_choice: [no, yes]", "doc_to_choice: must be str | list[str] | None, got [False, True]"),  # YAML booleans
    ("doc_to_choice: [negative]", "at least 2 distinct class names"),
    ("doc_to_choice: [a, a]", "at least 2 distinct class names"),
    ("doc_to_id: 3", "doc_to_id: must be str | None"),
    ("dataset_kwargs: [revision]", "dataset_kwargs: must be dict[str, Any]"),
    ("dataset_kwargs: {trust_remote_code: true}", "cannot turn on trust_remote_code"),
    ("tag: {a: 1}", "tag: must be list[str]"),
    ("binarize_choices: 'yes'", "binarize_choices: must be bool"),
    ("metadata: [1]", "metadata: must be dict[str, Any]"),
    ("metadata: {citation: x}", "metadata must be a mapping with a 'version'"),
    ("task: 'a,b'", "task name 'a,b' may only have"),
    ("task: 12", "task: must be str, got 12"),
    ("split: {carve_fraction: abc}", "split.carve_fraction: must be float, got 'abc'"),
    ("split: {split_seed: 1.5}", "split.split_seed: must be int, got 1.5"),
    ("split: {balance_labels: 1}", "split.balance_labels: must be bool, got 1"),
    ("split: {val_fraction: 1.5}", "val_fraction must be in [0, 1)"),
    ("split: {limit: 0}", "split.limit"),
    ("split: {limit: 2.5}", "split.limit: must be int | None, got 2.5"),
    ("split: {7: 1}", "unknown field 7"),
    ("split: [1]", "split must be a mapping"),
    ("metric_list: acc", "metric_list must be a list"),
    ("metric_list: [{metric: [acc]}]", "unknown metric"),
    ("7: x", "unknown field 7"),
    ("include: [a.yaml]", "include must be a file name"),
    ("include: ''", "include must be a file name"),
    ("include: .", "included file '.' not found"),
])
def test_a_field_of_the_wrong_type_names_the_field(tmp_path, line, message):
    key = line.split(":")[0]
    text = "\n".join(row for row in GOOD.splitlines() if not row.startswith(f"{key}:")) + f"\n{line}\n"
    with pytest.raises(W2SError, match=re.escape(message)):
        Task(load_task_config(write(tmp_path, text)))


def test_unreadable_task_files_are_errors_not_tracebacks(tmp_path):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"task: x\n\xff\xfe\x00")
    with pytest.raises(W2SError, match="not a UTF-8 text file"):
        load_task_config(binary)
    with pytest.raises(W2SError, match="cannot read the task file"):
        load_task_config(tmp_path)  # a folder
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join(['*' + p] * 10)}]\n" for p, n in zip("abcdefg", "bcdefgh", strict=True))
    with pytest.raises(W2SError, match="expands to more than"):
        load_task_config(write(tmp_path, GOOD + bomb.replace("a: &a", "metadata_x: &a")))


def test_a_user_task_cannot_override_a_shipped_one(tmp_path):
    path = write(tmp_path, GOOD.replace("task: my_sentiment", "task: sst2"))
    with pytest.raises(W2SError, match="task 'sst2' is also defined in .*sst2.yaml") as info:
        TaskRegistry.discover([tmp_path])
    assert info.value.where == str(path) and "rename" in info.value.fix


def test_two_files_defining_one_task_name_both_two_folders_and_one(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    write(first, GOOD)
    write(second, GOOD, "copy.yaml")
    with pytest.raises(W2SError, match=f"also defined in {first / 'my_task.yaml'}"):
        TaskRegistry.discover([first, second])
    write(first, GOOD, "copy.yaml")
    with pytest.raises(W2SError, match="task 'my_sentiment' is also defined in"):
        TaskRegistry.discover([first])
    # the same file reached twice (the same folder twice, or a file and its folder) is one definition
    registry = TaskRegistry.discover([second, second, second / "copy.yaml"])
    assert registry.expand(["my_sentiment"]) == ["my_sentiment"]


def test_groups_refuse_cycles_duplicates_and_task_names(tmp_path):
    write(tmp_path, "group: loop_a\ntask: [loop_b]\n", "a.yaml")
    write(tmp_path, "group: loop_b\ntask: [loop_a]\n", "b.yaml")
    registry = TaskRegistry.discover([tmp_path])
    with pytest.raises(W2SError, match="group 'loop_a' contains itself"):
        registry.expand(["loop_a"])
    write(tmp_path, "group: loop_a\ntask: [sst2]\n", "c.yaml")
    with pytest.raises(W2SError, match="group 'loop_a' is also defined in"):
        TaskRegistry.discover([tmp_path])
    other = tmp_path / "other"
    other.mkdir()
    write(other, GOOD.replace("task: my_sentiment", "task: my_sentiment\ntag: [sst2]"))
    with pytest.raises(W2SError, match="'sst2' is both a task and a tag"):
        TaskRegistry.discover([other])
    write(other, "group: mine\ntask: [no_such_task]\n", "group.yaml")
    write(other, GOOD)
    with pytest.raises(W2SError, match="unknown task 'no_such_task'") as info:
        TaskRegistry.discover([other]).expand(["mine"])
    assert info.value.where.endswith("group.yaml")


def test_deeply_nested_includes_are_an_error(tmp_path):
    write(tmp_path, GOOD.replace("task: my_sentiment\n", ""), "base0.yaml")
    for depth in range(1, 25):
        write(tmp_path, f"include: base{depth - 1}.yaml\n", f"base{depth}.yaml")
    with pytest.raises(W2SError, match="nested includes"):
        load_task_config(write(tmp_path, "include: base24.yaml\ntask: deep\n"))
    assert load_task_config(write(tmp_path, "include: base10.yaml\ntask: fine\n")).task == "fine"


@pytest.mark.parametrize("line", ["dataset_path: ../../secrets", "dataset_path: /etc", "dataset_name: ../x"])
def test_a_dataset_name_cannot_walk_out_of_the_data_dir(tmp_path, line):
    key = line.split(":")[0]
    text = "".join(row + "\n" for row in GOOD.splitlines() if not row.startswith(key)) + line + "\n"
    with pytest.raises(W2SError, match=f"{key}: {key} .* is a path"):
        load_task_config(write(tmp_path, text))
