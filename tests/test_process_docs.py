"""``process_docs`` runs code, so what it may name is narrow (tasks/process.py): a .py file inside the
YAML's folder or an installed package's function, never the standard library; it is imported only
when rows are built (not by ``ls tasks`` or ``validate --schema_only``), and all it raises becomes
an error naming the file and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes import keyword_task_yaml

from w2s_bench.cli import main
from w2s_bench.errors import W2SError
from w2s_bench.tasks import Task, load_task_config

TASK = keyword_task_yaml("processed")


@pytest.fixture
def data_dir(small_mirror) -> Path:
    return small_mirror


def task_file(folder: Path, process_docs: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "processed.yaml"
    path.write_text(TASK + f"process_docs: {json.dumps(process_docs)}\n")
    return path


def marker_module(path: Path, marker: Path, body: str = "def rows(docs):\n    return list(docs)\n") -> None:
    """A module that creates ``marker`` when it is imported."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"from pathlib import Path\nPath({str(marker)!r}).touch()\n{body}")


@pytest.mark.parametrize("value, message", [
    ("utils", "module.function"),
    (".utils.rows", "module.function"),
    ("..utils.rows", "module.function"),
    ("utils..rows", "module.function"),
    ("utils/sub.rows", "module.function"),
    ("/tmp/utils.rows", "module.function"),
    ("os.system", "standard library"),
    ("subprocess.run", "standard library"),
    ("shutil.rmtree", "standard library"),
    ("builtins.eval", "standard library"),
    ("no_such_package_xyz.rows", "no no_such_package_xyz.py beside the YAML"),
    ("helpers.rows", "does not exist"),  # helpers/ is a folder beside the YAML, helpers.py is not
])
def test_a_name_outside_the_rule_is_refused_before_any_import(tmp_path, value, message):
    (tmp_path / "task" / "helpers").mkdir(parents=True)
    with pytest.raises(W2SError, match=message) as info:
        Task(load_task_config(task_file(tmp_path / "task", value)))
    assert info.value.where.endswith("processed.yaml: process_docs")


def test_a_leading_dot_no_longer_loads_a_file_far_from_the_yaml(tmp_path, data_dir, capsys):
    """``.tmp.x.evil.rows`` once became the absolute path /tmp/x/evil.py and ran it."""
    marker = tmp_path / "PWNED"
    evil = tmp_path / "elsewhere" / "evil.py"
    marker_module(evil, marker)
    dotted = "." + ".".join(evil.with_suffix("").parts[1:]) + ".rows"
    path = task_file(tmp_path / "task", dotted)
    assert main(["validate", str(path), "--data_dir", str(data_dir)]) == 2
    err = capsys.readouterr().err
    assert "process_docs" in err and "Traceback" not in err and not marker.exists()


def test_a_symlink_out_of_the_yaml_folder_is_refused(tmp_path):
    marker = tmp_path / "PWNED"
    marker_module(tmp_path / "outside" / "evil.py", marker)
    folder = tmp_path / "task"
    folder.mkdir()
    (folder / "utils.py").symlink_to(tmp_path / "outside" / "evil.py")
    with pytest.raises(W2SError, match="outside the YAML's folder"):
        Task(load_task_config(task_file(folder, "utils.rows")))
    assert not marker.exists()


def test_listing_and_schema_checks_do_not_import_the_module(tmp_path, data_dir, capsys):
    marker = tmp_path / "IMPORTED"
    folder = tmp_path / "task"
    marker_module(folder / "utils.py", marker)
    path = task_file(folder, "utils.rows")
    assert main(["ls", "tasks", "--include_path", str(folder)]) == 0
    assert main(["validate", str(path), "--schema_only"]) == 0
    assert "processed" in capsys.readouterr().out and not marker.exists()
    assert main(["validate", str(path), "--data_dir", str(data_dir)]) == 0  # building rows imports it
    assert marker.exists()


def test_a_module_in_a_subfolder_and_an_installed_package(tmp_path, data_dir):
    folder = tmp_path / "task"
    marker_module(folder / "lib" / "prep.py", tmp_path / "imported",
                  "def positives(docs):\n    return [d for d in docs if d['label'] == 1]\n")
    loaded = Task(load_task_config(task_file(folder, "lib.prep.positives"))).load(seed=0, limit=10, data_dir=data_dir)
    assert {ex.label for ex in loaded.splits.test} == {1}
    shipped = Task(load_task_config(task_file(tmp_path / "other", "w2s_bench.chess.puzzles.lichess_docs")))
    assert shipped.process_docs.function().__name__ == "lichess_docs"


@pytest.mark.parametrize("body, message", [
    ("from os import system as rows\n", "not a Python function"),
    ("rows = 3\n", "not a Python function"),
    ("class rows:\n    pass\n", "not a Python function"),
    ("from json import loads as rows\n", "imported from json"),
    ("def other(docs):\n    return docs\n", "has no function 'rows'"),
    ("def rows(docs:\n", "importing .*utils.py failed: SyntaxError"),
    ("raise RuntimeError('boom at import')\n", "importing .*utils.py failed: RuntimeError: boom at import"),
    ("def rows(docs):\n    raise ValueError('bad row')\n", "raised ValueError on split 'train': bad row"),
    ("def rows(docs):\n    return None\n", "returned a NoneType on split 'train', not a list of rows"),
    ("def rows(docs):\n    return {'a': 1}\n", "returned a dict on split 'train'"),
    ("def rows(docs):\n    return 'text'\n", "returned a str on split 'train'"),
    ("def rows(docs):\n    return [1, 2]\n", "returned a int as row 1 of split 'train'"),
    ("def rows(docs):\n    yield from docs\n    raise KeyError('late')\n", "raised KeyError on split 'train'"),
])
def test_whatever_the_function_does_wrong_is_an_error_naming_file_and_field(tmp_path, data_dir, capsys, body, message):
    folder = tmp_path / "task"
    folder.mkdir()
    (folder / "utils.py").write_text(body)
    path = task_file(folder, "utils.rows")
    with pytest.raises(W2SError, match=message) as info:
        Task(load_task_config(path)).load(seed=0, limit=10, data_dir=data_dir)
    assert info.value.where == f"{path}: process_docs"
    assert main(["validate", str(path), "--data_dir", str(data_dir)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_a_generator_of_rows_is_fine_and_the_module_is_imported_once(tmp_path, data_dir):
    folder = tmp_path / "task"
    folder.mkdir()
    (folder / "utils.py").write_text("IMPORTS = []\nIMPORTS.append(1)\n"
                                     "def rows(docs):\n    yield from (dict(d, n=len(IMPORTS)) for d in docs)\n")
    task = Task(load_task_config(task_file(folder, "utils.rows")))
    for seed in (0, 1):
        task.load(seed=seed, limit=10, data_dir=data_dir)
    assert task.process_docs.function().__globals__["IMPORTS"] == [1]
