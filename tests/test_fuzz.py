"""Fuzzing what a careless or hostile user can type: task files and command lines.

Hypothesis generates malformed task files (wrong types for every field, unknown fields, broken YAML,
bad includes, templates with syntax errors or hostile expressions, bad split and metric settings,
``process_docs`` values with their modules) and argument lists for ``validate``, ``ls``, ``compare``,
``plot`` and a ``--dry_run`` run. Each must end in exit code 0 or 2 with a short error on stderr:
never a traceback, never an exception out of ``main``, and a hostile template never runs. Runs use a
tiny local mirror and the TF-IDF model, and ``--dry_run`` trains nothing. The examples are
derandomized, so CI sees the same cases every time.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakes import write_small_keyword_mirror
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from w2s_bench.cli import main

FUZZ = settings(deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

BASE_TASK: dict[str, Any] = {
    "task": "fuzzed", "dataset_path": "local/keywords", "training_split": "train", "test_split": "test",
    "doc_to_text": "{{ text }}", "doc_to_choice": ["bad", "good"], "doc_to_target": "{{ label }}",
    "metadata": {"version": 1},
}
FIELDS = ["doc_to_choice", "doc_to_target", "doc_to_text", "doc_to_id", "doc_filter", "split", "metric_list", "tag",
          "dataset_kwargs", "training_split", "validation_split", "test_split", "output_type", "process_docs",
          "target_delimiter", "binarize_choices", "family", "description", "metadata", "dataset_name", "dataset_path",
          "include", "group", "doc_to_txt", "num_fewshot", "", "task"]
MARKER_NAME = "FUZZ-PWNED"


# ---------------------------------------------------------------- the pieces of a task file

def _templates(marker: Path) -> st.SearchStrategy[str]:
    known = [
        "{{ text }}", "{{ label }}", "{{ label | int }}", "{{ text }} and {{ label }}", "{{ [text, text] }}",
        "{{ ['bad', 'good'] }}", "{{ label > 0 }}", "{{ text.upper() }}", "{{ range(3) | list }}", "{{ 1 / 0 }}",
        "{{ text }", "{% if %}", "{{ }}", "{{ text | no_such_filter }}", "{{ no_such_column }}", "{{ text.x.y }}",
        "{% for x in text %}{{ x }}{% endfor %}", "{{ 'a' * 10**10 }}", "{{ range(10**10) | list }}", "{{ 2 ** (10**9) }}",
        f"{{{{ cycler.__init__.__globals__.os.system('touch {marker}') }}}}",
        f"{{{{ (cycler|attr('_' ~ '_init__')|attr('_' ~ '_globals__')).os.system('touch {marker}') }}}}",
        f"{{{{ self._TemplateReference__context.cycler.__init__.__globals__.os.system('touch {marker}') }}}}",
        "{{ '{0.__class__}'.format(text) }}", "{{ [1].append(2) }}", "{{ lipsum(10**6) }}", "",
    ]
    tokens = ["{{", "}}", "{%", "%}", "text", "label", "|", "(", ")", ".", "'", "__class__", "*", "10", "for", "in",
              "if", "endif", " ", "[", "]", ",", "~", "int", "0"]
    return st.one_of(st.sampled_from(known), st.lists(st.sampled_from(tokens), max_size=12).map("".join))


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(), st.text(max_size=12),
                     st.sampled_from(["", "train", "test", "acc", "nlp", "yes", "0.5", "-1", "[/x]", "[bold]", "a\nb"]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.one_of(st.text(max_size=8), st.sampled_from(["metric", "version", "split_seed", "splits", "seed"])),
    inner, max_size=4), max_leaves=8)

_PROCESS_DOCS = st.sampled_from([
    "utils.rows", "utils", ".utils.rows", "..utils.rows", "/tmp/utils.rows", "os.system", "shutil.rmtree",
    "w2s_bench.chess.puzzles.lichess_docs", "w2s_bench.chess.puzzles.N_CHOICES", "no_such_pkg.rows", "lib.sub.rows",
])
_UTILS_BODIES = st.sampled_from([
    "def rows(docs):\n    return list(docs)\n", "def rows(docs):\n    return None\n",
    "def rows(docs):\n    raise ValueError('x')\n", "def rows(docs):\n    return [1]\n", "rows = 1\n",
    "from os import system as rows\n", "def rows(docs:\n", "raise SystemError('import')\n",
    "def rows(docs):\n    return [dict(d, label='x') for d in docs]\n",
    "def rows(docs):\n    return [{k: v for k, v in d.items() if k != 'label'} for d in docs]\n",
])
_INCLUDES = st.sampled_from(["../bases/base.yaml", "missing.yaml", "fuzzed.yaml", "../bases/broken.yaml",
                             "../bases/list.yaml", ".", "/", "", "../../../../etc/hostname", "../bases/binary.yaml"])


@st.composite
def task_files(draw) -> tuple[dict[str, Any] | None, str, str | None]:
    """(fields, raw YAML text, utils.py body or None): a task file with 1-3 mutations."""
    marker = Path(tempfile.gettempdir()) / MARKER_NAME
    task = json.loads(json.dumps(BASE_TASK))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["value", "value", "template", "template", "template", "delete", "split", "metrics",
                                     "kwargs", "process_docs", "process_docs", "include", "output_type"]))
        if kind == "value":
            task[draw(st.sampled_from(FIELDS))] = draw(_VALUES)
        elif kind == "template":
            task[draw(st.sampled_from(["doc_to_text", "doc_to_target", "doc_to_choice", "doc_to_id", "doc_filter"]))] = \
                draw(_templates(marker))
        elif kind == "delete":
            task.pop(draw(st.sampled_from(sorted(task))), None)
        elif kind == "split":
            task["split"] = draw(st.dictionaries(st.sampled_from(["split_seed", "carve_fraction", "val_fraction",
                                                                  "balance_labels", "seed"]), _SCALARS, max_size=3))
        elif kind == "metrics":
            task["metric_list"] = draw(st.lists(st.one_of(st.sampled_from(["acc", "auroc", "ece", "f1"]), st.fixed_dictionaries(
                {"metric": st.sampled_from(["acc", "auroc", "f1", ""])}), _SCALARS), max_size=3))
        elif kind == "kwargs":
            task["dataset_kwargs"] = draw(st.dictionaries(st.sampled_from(["revision", "splits", "seed", "data_dir",
                                                                           "trust_remote_code"]), _VALUES, max_size=3))
            if draw(st.booleans()):
                task["dataset_path"] = draw(st.sampled_from(["generator:sentiment_lexicon", "generator:nope", "generator:"]))
        elif kind == "process_docs":
            task["process_docs"] = draw(_PROCESS_DOCS)
        elif kind == "include":
            task["include"] = draw(_INCLUDES)
        else:
            task["output_type"] = draw(st.sampled_from(["multiple_choice", "pairwise_preference", "classification", "x"]))
            task["doc_to_choice"] = draw(st.one_of(_templates(marker), _VALUES))
    text = yaml.safe_dump(task, allow_unicode=True)
    corruption = draw(st.sampled_from([None] * 9 + ["truncate", "insert", "binary"]))
    if corruption == "truncate":
        text = text[:draw(st.integers(0, len(text)))]
    elif corruption == "insert":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from([":", "\t", "[", "{", "&a", "*a", "!!python/object:os.system", "\n- x",
                                                 "---\n", "'", "\x00"])) + text[at:]
    elif corruption == "binary":
        text = text + "\udcff"  # not encodable: written as bytes below
    utils = draw(_UTILS_BODIES) if draw(st.booleans()) else None
    return (task if corruption is None else None), text, utils


# ---------------------------------------------------------------- running the CLI in-process

@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A tiny local mirror with the keyword task's columns, base files for includes, and an offline hub."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("W2S_BENCH_DATA_DIR", raising=False)
    monkeypatch.setenv("COLUMNS", "1000")  # one error per line, not wrapped by rich
    write_small_keyword_mirror(tmp_path / "data")
    marker = Path(tempfile.gettempdir()) / MARKER_NAME
    marker.unlink(missing_ok=True)
    yield tmp_path
    assert not marker.exists(), "a hostile template ran"


def _write_task(root: Path, text: str, utils: str | None) -> Path:
    """The task file in a folder of its own (a run's --include_path), beside a folder of include targets."""
    folder = Path(tempfile.mkdtemp(dir=root, prefix="task-")) / "task"
    folder.mkdir()
    bases = folder.parent / "bases"
    bases.mkdir()
    (bases / "base.yaml").write_text(yaml.safe_dump({k: v for k, v in BASE_TASK.items() if k != "task"}))
    (bases / "broken.yaml").write_text("doc_to_text: [unclosed\n")
    (bases / "list.yaml").write_text("- 1\n- 2\n")
    (bases / "binary.yaml").write_bytes(b"\xff\xfe\x00task")
    if utils is not None:
        (folder / "utils.py").write_text(utils)
        (folder / "lib").mkdir()
        (folder / "lib" / "sub.py").write_text(utils)
    path = folder / "fuzzed.yaml"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    return path


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    """Exit code and stderr of ``w2s-bench argv``; argparse's usage errors exit through SystemExit."""
    capsys.readouterr()
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 2
    return code, capsys.readouterr().err


def assert_clean_exit(argv: list[str], code: int, err: str) -> None:
    """Exit 0, or 2 with an error line (and at most its fix line) after any warnings; ``compare`` may
    also exit 1, its documented "regressed" code."""
    assert "Traceback" not in err and '  File "' not in err, f"{argv}\n{err}"
    assert code in ((0, 1, 2) if argv[:1] == ["compare"] else (0, 2)), f"{argv}: exit code {code}\n{err}"
    if code == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        errors = [i for i, line in enumerate(lines) if line.startswith("error ") or ": error: " in line]
        assert errors, f"{argv}: exit code 2 without an error line\n{err}"
        after = lines[errors[-1] + 1:]  # the error line, then at most its "fix:" line
        assert len(after) <= 1 and all(line.startswith("  fix: ") for line in after), f"{argv}\n{err}"


# ---------------------------------------------------------------- task files

@settings(FUZZ, max_examples=150)
@given(case=task_files(), how=st.sampled_from(["validate", "validate", "schema", "ls", "dry_run"]))
def test_malformed_task_files_end_in_a_clear_error(workspace, capsys, case, how):
    _, text, utils = case
    path = _write_task(workspace, text, utils)
    data_dir = str(workspace / "data")
    if how == "validate":
        argv = ["validate", str(path), "--data_dir", data_dir]
    elif how == "schema":
        argv = ["validate", str(path), "--schema_only"]
    elif how == "ls":
        argv = ["ls", "tasks", "--include_path", str(path.parent), "--data_dir", data_dir]
    else:
        argv = ["--tasks", "fuzzed", "--include_path", str(path.parent), "--data_dir", data_dir, "--weak", "tfidf",
                "--strong", "tfidf", "--dry_run", "--quiet", "--no_cache"]
    code, err = run_cli(argv, capsys)
    assert_clean_exit(argv, code, err)


# ---------------------------------------------------------------- command lines

_NUMBERS = st.sampled_from(["0", "-1", "1", "2", "1.5", "abc", "", "nan", "inf", "-0", "1e3", "10000000000", " 3"])
_NAMES = st.sampled_from(["tfidf", "gpt3", "", ",", "tfidf,tfidf", "naive", "a b", "-x", "keywords", "sst3", "[/x]"])


@st.composite
def command_lines(draw, workspace: Path) -> list[str]:
    data_dir, results = str(workspace / "data"), str(workspace / "results" / "results.json")
    paths = st.sampled_from([data_dir, results, str(workspace / "results"), str(workspace / "nope"),
                             str(workspace / "garbage.json"), str(workspace / "empty.json"), str(workspace / "tasks"),
                             str(workspace / "tasks" / "keywords.yaml"), "", "/dev/null"])
    command = draw(st.sampled_from(["run", "run", "run", "validate", "ls", "compare", "compare", "plot"]))
    if command == "run":
        argv = ["--dry_run", "--quiet", *(["--no_cache"] if draw(st.booleans()) else ["--use_cache", draw(paths)])]
        argv += ["--tasks", draw(st.sampled_from(["keywords", "keywords,keywords", "sst3", "", "toxicity"])),
                 "--include_path", str(workspace / "tasks"), "--data_dir", data_dir]
        options = {
            "--weak": _NAMES, "--strong": _NAMES, "--seeds": _NUMBERS | st.sampled_from(["0,1", "0,,1", "a,b"]),
            "--limit": _NUMBERS, "--n_resamples": _NUMBERS, "--device": st.sampled_from(["cpu", "cuda", "mps", "abc", "cuda:9"]),
            "--methods": st.sampled_from(["naive", "nope", "naive(", "logconf(alpha_max=abc)", "naive(temperature=0.5)",
                                          "naive,naive", "bootstrap", str(workspace / "garbage.json"), "product(alpha=2)"]),
            "--via": _NAMES, "--weak_args": st.sampled_from(["C=0.5", "Cs=abc", "=", "a", "lr=abc", "pooling=mean", ""]),
            "--strong_args": st.sampled_from(["C=0.5", "lr=abc", "epochs=-1", "x=1,x=2"]),
            "--baseline": _NAMES, "--format": st.sampled_from(["table", "csv", "xml"]), "--output_path": paths,
            "--include_path": paths,
        }
        for flag in draw(st.lists(st.sampled_from(sorted(options)), max_size=4, unique=True)):
            argv += [flag, draw(options[flag])]
        argv += draw(st.lists(st.sampled_from(["--rerun", "--all_pairs", "--nope", "-x", "positional"]), max_size=2))
        if "--weak" not in argv:
            argv += ["--weak", "tfidf", "--strong", "tfidf"]
        return argv
    if command == "validate":
        return ["validate", *draw(st.lists(paths, min_size=0, max_size=2)),
                *draw(st.lists(st.sampled_from(["--schema_only", "--data_dir", data_dir, "--nope"]), max_size=2))]
    if command == "ls":
        return ["ls", *draw(st.lists(st.sampled_from(["tasks", "models", "methods", "nope", "--include_path", data_dir,
                                                      "--data_dir", str(workspace / "tasks")]), max_size=3))]
    if command == "compare":
        argv = ["compare", *draw(st.lists(paths, min_size=0, max_size=3))]
        for flag in draw(st.lists(st.sampled_from(["--tolerance", "--metrics", "--format"]), max_size=2, unique=True)):
            argv += [flag, draw(st.sampled_from(["0.02", "-1", "abc", "pgr=0.1", "nope=1", "w2s_acc,pgr", "", "markdown",
                                                 "nan", "weak_acc=inf"]))]
        return argv + draw(st.lists(st.sampled_from(["--two_sided", "--verbose"]), max_size=2))
    return ["plot", *draw(st.lists(paths, min_size=0, max_size=2)),
            *draw(st.lists(st.sampled_from(["--output_dir", str(workspace / "plots"), "--nope"]), max_size=2))]


def _results_files(workspace: Path) -> None:
    """The files the command lines name: a task folder, a results.json, a garbage and an empty JSON file."""
    tasks = workspace / "tasks"
    tasks.mkdir(exist_ok=True)
    (tasks / "keywords.yaml").write_text(yaml.safe_dump(dict(BASE_TASK, task="keywords")))
    (workspace / "results").mkdir(exist_ok=True)
    record = {"task": "keywords", "weak": "tfidf", "strong": "tfidf", "method": "naive", "seed": 0,
              "metrics": {"weak_acc": 0.7, "ceiling_acc": 0.9, "w2s_acc": 0.8, "pgr": 0.5, "pgr_ci": [0.2, 0.8]}}
    (workspace / "results" / "results.json").write_text(json.dumps([record]))
    (workspace / "garbage.json").write_text('[{"task": 1, "metrics": {"w2s_acc": "x"}}, 3')
    (workspace / "empty.json").write_text("[]")


@settings(FUZZ, max_examples=120)
@given(data=st.data())
def test_malformed_command_lines_end_in_a_clear_error(workspace, capsys, data):
    _results_files(workspace)
    argv = data.draw(command_lines(workspace))
    code, err = run_cli(argv, capsys)
    assert_clean_exit(argv, code, err)


@settings(FUZZ, max_examples=30)
@given(metrics=st.dictionaries(st.sampled_from(["weak_acc", "ceiling_acc", "w2s_acc", "pgr", "pgr_ci", "misfit_sq"]),
                               _VALUES, max_size=5),
       key=st.dictionaries(st.sampled_from(["task", "weak", "strong", "method", "seed"]), _SCALARS, max_size=5))
@example(metrics={"w2s_acc": 0.8}, key={"task": "[/x]"})  # rich markup in a name once crashed the table
@example(metrics={"w2s_acc": "0.8", "pgr": [1, 2, 3], "pgr_ci": "x"}, key={"seed": None})
def test_compare_survives_records_with_odd_values(workspace, capsys, metrics, key):
    good = {"task": "keywords", "weak": "tfidf", "strong": "tfidf", "method": "naive", "seed": 0,
            "metrics": {"weak_acc": 0.7, "ceiling_acc": 0.9, "w2s_acc": 0.8, "pgr": 0.5}}
    odd = dict(good, **key, metrics=metrics)
    (workspace / "new.json").write_text(json.dumps([odd]))
    (workspace / "base.json").write_text(json.dumps([good]))
    for argv in (["compare", str(workspace / "new.json"), str(workspace / "base.json")],
                 ["compare", str(workspace / "base.json"), str(workspace / "new.json"), "--two_sided"]):
        code, err = run_cli(argv, capsys)
        assert "Traceback" not in err, f"{argv}\n{odd}\n{err}"
        assert code in (0, 1, 2), f"{odd}: exit code {code}\n{err}"


# Inputs the engine must refuse before training (issue 17, items 6 and 7): each once exited 0 in a dry
# run (checked too late) or raised a traceback.
ENGINE_CHECKS = {
    "limit 0": ["--limit", "0"], "negative limit": ["--limit", "-1"], "unavailable device": ["--device", "cuda:99"],
    "baseline not in the run": ["--baseline", "nosuch"], "no resamples": ["--n_resamples", "0"],
    "output path is a file": ["--output_path", "{file}"], "cache dir is a file": ["--use_cache", "{file}"],
    "temperature=abc": ["--methods", "naive(temperature=abc)"], "seeds=abc": ["--methods", "ensemble(seeds=abc)"],
    "tfidf pooling": ["--weak_args", "pooling=mean"],
}


@pytest.mark.parametrize("seeds", ["-1", "0,-5", "4294967296", ",", "1.5"])
def test_seeds_the_models_cannot_take_are_refused_by_the_parser(workspace, capsys, seeds):
    """A negative seed once passed the plan and crashed scikit-learn after the weak model's training."""
    _results_files(workspace)
    argv = ["--tasks", "keywords", "--include_path", str(workspace / "tasks"), "--data_dir", str(workspace / "data"),
            "--weak", "tfidf", "--strong", "tfidf", "--quiet", "--no_cache", "--seeds", seeds]
    code, err = run_cli(argv, capsys)
    assert code == 2 and "--seeds" in err
    assert_clean_exit(argv, code, err)


@pytest.mark.parametrize("options", ENGINE_CHECKS.values(), ids=ENGINE_CHECKS.keys())
def test_engine_inputs_are_refused_by_the_plan(workspace, capsys, options):
    _results_files(workspace)
    argv = ["--tasks", "keywords", "--include_path", str(workspace / "tasks"), "--data_dir", str(workspace / "data"),
            "--weak", "tfidf", "--strong", "tfidf", "--quiet", "--dry_run",
            *[o.format(file=workspace / "garbage.json") for o in options]]
    if "--use_cache" not in options:
        argv.append("--no_cache")
    code, err = run_cli(argv, capsys)
    assert code == 2
    assert_clean_exit(argv, code, err)
