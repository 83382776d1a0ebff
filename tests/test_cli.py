"""The command line: listing, validation and error reporting (exit code 2, no stack trace)."""

from __future__ import annotations

import dataclasses
import json

from w2s_bench.cli import main
from w2s_bench.tasks import TaskRegistry
from w2s_bench.tasks.data import local_split_sizes


def test_ls_tasks_models_methods(capsys):
    assert main(["ls", "tasks"]) == 0
    out = capsys.readouterr().out
    assert "sst2" in out and "w2s_demo_sentiment" in out
    assert main(["ls", "models"]) == 0
    assert "minilm-l6" in capsys.readouterr().out
    assert main(["ls", "methods"]) == 0
    assert "naive_hard" in capsys.readouterr().out


def test_every_shipped_task_passes_validate(shared_data, capsys):
    registry = TaskRegistry.discover()
    offline = [n for n in registry.names() if local_split_sizes(registry.get(n).config, shared_data)]
    assert len(offline) >= 20
    files = [str(registry.tasks[name]) for name in offline]
    assert main(["validate", *files, "--data_dir", str(shared_data)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("ok ") for line in lines) == len(files)  # rendered examples may say "look "


def test_validate_reports_typo_with_exit_code_2(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("task: x\ndataset_path: a/b\ntest_split: test\ndoc_to_txt: '{{ t }}'\n"
                    "doc_to_target: 0\nmetadata: {version: 1}\n")
    assert main(["validate", str(path), "--schema_only"]) == 2
    err = capsys.readouterr().err
    assert "doc_to_txt" in err and "did you mean 'doc_to_text'" in err and "Traceback" not in err


def test_unknown_task_and_model_on_the_command_line(capsys):
    assert main(["--tasks", "sst3", "--quiet"]) == 2
    assert "did you mean 'sst2'" in capsys.readouterr().err
    assert main(["--tasks", "sst2", "--strong", "gpt3", "--quiet"]) == 2
    assert "did you mean" in capsys.readouterr().err


def test_rich_markup_in_user_input_is_printed_verbatim(tmp_path, capsys):
    """Class names, texts and errors quote the user's input; "[/x]" in them once crashed rich's markup parser."""
    folder = tmp_path / "data" / "local" / "markup"
    folder.mkdir(parents=True)
    for split in ("train", "test"):
        rows = (json.dumps({"text": f"[bold]{split}{i} [/x]", "label": i % 2}) for i in range(40))
        (folder / f"{split}.jsonl").write_text("\n".join(rows) + "\n")
    path = tmp_path / "markup.yaml"
    path.write_text("task: markup\ndataset_path: local/markup\ntraining_split: train\ntest_split: test\n"
                    "doc_to_text: '{{ text }}'\ndoc_to_choice: ['[/x]', '[red]']\ndoc_to_target: '{{ label }}'\n"
                    "metadata: {version: 1}\ntag: ['[/tag]']\n")
    assert main(["validate", str(path), "--data_dir", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out
    assert "[/x]" in out and "[bold]test" in out and "([red])" in out
    assert main(["ls", "tasks", "--include_path", str(path)]) == 0
    assert "[/tag]" in capsys.readouterr().out
    assert main(["--tasks", "markup", "--include_path", str(path), "--data_dir", str(tmp_path / "data"),
                 "--weak", "[/weak]", "--quiet"]) == 2
    assert "model '[/weak]'" in capsys.readouterr().err


def test_result_tables_print_markup_in_names_verbatim(tmp_path, capsys):
    """Result tables show names from the user and from results files: "[/t]" is printed, not parsed."""
    from rich.console import Console
    from test_paired import baseline_right, collect, fixed, run
    from test_report import record

    from w2s_bench.metrics import compare_methods
    from w2s_bench.records import to_json
    from w2s_bench.report import render_comparisons, render_rich

    named = dataclasses.replace(record(0, 0.5), task="[/t]", weak="[bold]w")
    console = Console(width=200, record=True)
    render_rich([named], console)
    rows = compare_methods(*collect(run("naive", 0, baseline_right(0)), run("logconf", 0, fixed(baseline_right(0), 30))))
    render_comparisons([dataclasses.replace(row, task="[/t]") for row in rows], console)
    text = console.export_text()
    assert text.count("[/t]") == 2 and "[bold]w" in text
    (tmp_path / "new.json").write_text(json.dumps(to_json([named])))
    (tmp_path / "base.json").write_text(json.dumps(to_json([record(0, 0.5)])))
    assert main(["compare", str(tmp_path / "new.json"), str(tmp_path / "base.json")]) == 1  # the baseline run is missing
    assert "[/t]" in capsys.readouterr().out
