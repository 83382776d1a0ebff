"""A local mirror's files are read defensively: each malformed file is a clear error naming the file,
the line (or row) and the split, never a traceback and never "use a larger --limit" for an empty split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes import keyword_task_yaml

from w2s_bench.cli import main
from w2s_bench.errors import W2SError
from w2s_bench.tasks import Task, load_task_config
from w2s_bench.tasks.data import local_split_sizes

TASK = keyword_task_yaml("careless", "local/careless")


def good_lines(split: str, n: int) -> list[bytes]:
    return [json.dumps({"text": f"w{i} {split}", "label": i % 2}).encode() for i in range(n)]


def mirror(tmp_path: Path, test: list[bytes], train: list[bytes] | None = None, task: str = TASK) -> tuple[Path, Path]:
    """(task file, data dir) with the given lines in test.jsonl (train.jsonl is 40 good rows)."""
    folder = tmp_path / "data" / "local" / "careless"
    folder.mkdir(parents=True, exist_ok=True)
    for split, lines in (("train", good_lines("train", 40) if train is None else train), ("test", test)):
        (folder / f"{split}.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))
    path = tmp_path / "careless.yaml"
    path.write_text(task)
    return path, tmp_path / "data"


def load_error(path: Path, data_dir: Path) -> W2SError:
    with pytest.raises(W2SError) as info:
        Task(load_task_config(path)).load(seed=0, limit=20, data_dir=data_dir)
    return info.value


GOOD = good_lines("test", 20)
MALFORMED = {
    "truncated line": (GOOD[:4] + [GOOD[4][:9]] + GOOD[5:], "line 5: not valid JSON"),
    "blank line": (GOOD[:6] + [b""] + GOOD[6:], "line 7: blank line"),
    "whitespace line": (GOOD[:6] + [b"   \t"] + GOOD[6:], "line 7: blank line"),
    "invalid UTF-8": (GOOD[:2] + [b'{"text": "caf\xe9", "label": 1}'] + GOOD[2:], "line 3: not valid UTF-8"),
    "a list, not an object": (GOOD[:3] + [b"[1, 2]"] + GOOD[3:], "line 4: a row must be a JSON object, got list"),
    "a number, not an object": (GOOD[:3] + [b"7"] + GOOD[3:], "line 4: a row must be a JSON object, got int"),
    "empty split file": ([], "the file of split 'test' is empty"),
}


@pytest.mark.parametrize("lines, message", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_split_file_names_file_line_and_split(tmp_path, capsys, lines, message):
    path, data_dir = mirror(tmp_path, lines)
    error = load_error(path, data_dir)
    assert str(data_dir / "local" / "careless" / "test.jsonl") in str(error) and message in str(error)
    assert "split 'test'" in str(error) and "--limit" not in str(error)
    assert main(["validate", str(path), "--data_dir", str(data_dir)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and message in " ".join(err.split())
    assert main(["ls", "tasks", "--include_path", str(path), "--data_dir", str(data_dir)]) == 0  # listing still works


@pytest.mark.parametrize("row, column", [({"text": "no label"}, "label"), ({"label": 1}, "text"),
                                         ({"txt": "typo", "label": 0}, "text")])
def test_a_row_lacking_a_column_names_the_column_the_file_and_the_line(tmp_path, row, column):
    path, data_dir = mirror(tmp_path, GOOD[:9] + [json.dumps(row).encode()] + GOOD[9:])
    message = str(load_error(path, data_dir))
    assert f"uses column {column!r}" in message and f"{path}: doc_to_" in message
    assert f"{data_dir / 'local' / 'careless' / 'test.jsonl'} line 10 (split 'test')" in message


def test_a_bad_label_value_names_its_line(tmp_path):
    path, data_dir = mirror(tmp_path, GOOD[:2] + [b'{"text": "x", "label": "maybe"}'] + GOOD[2:])
    message = str(load_error(path, data_dir))
    assert "doc_to_target gave 'maybe'" in message and "test.jsonl line 3" in message


def test_an_empty_training_split_is_not_a_limit_problem(tmp_path):
    path, data_dir = mirror(tmp_path, GOOD, train=[])
    message = str(load_error(path, data_dir))
    assert "train.jsonl" in message and "split 'train' is empty" in message and "--limit" not in message


def test_a_filter_that_keeps_nothing_says_so(tmp_path):
    path, data_dir = mirror(tmp_path, GOOD, task=TASK + "doc_filter: '{{ label > 5 }}'\n")
    message = str(load_error(path, data_dir))
    assert "has no rows after doc_filter" in message and "--limit" not in message


def test_a_filter_error_names_the_line_it_failed_on(tmp_path):
    path, data_dir = mirror(tmp_path, GOOD[:4] + [b'{"text": "x"}'] + GOOD[4:],
                            task=TASK + "doc_filter: '{{ label >= 0 }}'\n")
    message = str(load_error(path, data_dir))
    assert f"{path}: doc_filter" in message and "test.jsonl line 5" in message and "'label'" in message


def test_too_few_rows_asks_for_data_and_a_small_limit_asks_for_a_larger_limit(tmp_path):
    path, data_dir = mirror(tmp_path, GOOD[:1], train=good_lines("train", 1))
    message = str(load_error(path, data_dir))
    assert "part is empty" in message and "more rows" in message and "--limit" not in message
    repeated = [json.dumps({"text": f"w{i} test", "label": i % 2}).encode() for i in range(20)]  # = the test texts
    path, data_dir = mirror(tmp_path / "repeats", GOOD, train=repeated)
    message = str(load_error(path, data_dir))
    assert "the train_a part is empty" in message and "20 dropped as repeats" in message and "more rows" in message
    path, data_dir = mirror(tmp_path / "balanced", GOOD, task=TASK + "split: {balance_labels: true}\n")
    with pytest.raises(W2SError, match="the test part is empty") as info:  # 1 example cannot hold 2 classes equally
        Task(load_task_config(path)).load(seed=0, limit=1, data_dir=data_dir)
    assert info.value.fix == "use a larger --limit"


def test_a_fixed_file_is_read_again(tmp_path):
    """The reader's in-process cache is keyed by the file's size and time, so a repaired file is used."""
    path, data_dir = mirror(tmp_path, GOOD[:3] + [b"{"] + GOOD[3:])
    load_error(path, data_dir)
    mirror(tmp_path, GOOD)
    assert Task(load_task_config(path)).load(seed=0, limit=20, data_dir=data_dir).splits.test


def test_listing_counts_lines_of_a_file_that_is_not_utf8(tmp_path):
    path, data_dir = mirror(tmp_path, GOOD + [b"\xff\xfe"])
    assert local_split_sizes(load_task_config(path), data_dir) == {"train": 40, "test": 21}


def test_a_label_that_only_looks_like_a_number_is_an_error_not_a_crash(tmp_path):
    """'²'.isdigit() is true, but int('²') raises: the target check takes ASCII digits only."""
    path, data_dir = mirror(tmp_path, GOOD[:1] + [json.dumps({"text": "x", "label": "\u00b2"}).encode()] + GOOD[1:])
    message = str(load_error(path, data_dir))
    assert "doc_to_target gave '\u00b2'" in message and "test.jsonl line 2" in message


def test_repeated_example_ids_name_both_lines(tmp_path):
    path, data_dir = mirror(tmp_path, GOOD, task=TASK + "doc_to_id: '{{ label }}'\n")
    error = load_error(path, data_dir)
    assert error.where == f"{path}: doc_to_id" and "example id" in error.what and "repeats" in error.what
    assert error.what.count(".jsonl line") == 2


def test_balancing_a_part_with_no_rows_is_an_error_not_a_crash(tmp_path):
    """One row and no training split: the carved test part is empty (the balancer once crashed on it)."""
    folder = tmp_path / "data" / "local" / "careless"
    folder.mkdir(parents=True)
    (folder / "test.jsonl").write_bytes(GOOD[0] + b"\n")
    path = tmp_path / "careless.yaml"
    path.write_text(TASK + "split: {balance_labels: true}\n")
    assert "part is empty" in str(load_error(path, tmp_path / "data"))


def test_once_the_hub_is_unreachable_later_datasets_fail_at_once(tmp_path, monkeypatch):
    import datasets

    from w2s_bench.tasks import data

    calls = []

    def unreachable(path, *args, **kwargs):
        calls.append(path)
        raise ConnectionError(f"Couldn't reach {path!r} on the Hub")

    monkeypatch.setattr(data, "_hub_unreachable", [])
    monkeypatch.setattr(datasets, "get_dataset_split_names", unreachable)
    messages = []
    for name in ("first", "second"):
        path = tmp_path / f"{name}.yaml"
        path.write_text(keyword_task_yaml(name, f"nobody/{name}"))
        messages.append(str(load_error(path, tmp_path / "empty_mirror")))
    assert calls == ["nobody/first"]  # the second dataset does not wait through the hub's retries again
    assert "Couldn't reach 'nobody/first'" in messages[0] and "not retried" not in messages[0]
    assert "could not load dataset 'nobody/second'" in messages[1] and "not retried" in messages[1]
    assert all("--data_dir" in m for m in messages)
