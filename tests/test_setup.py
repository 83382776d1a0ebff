"""Setup as the README says: CI runs exactly the README's commands; what the defaults need is a core
dependency; an optional feature without its extra says which `pip install` fixes it, before it starts."""

from __future__ import annotations

import json
import re
import sys

import pytest
from conftest import REPO

from w2s_bench.cli import main
from w2s_bench.errors import W2SError
from w2s_bench.optional import EXTRAS, require

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _ci_commands() -> list[str]:
    lines = (REPO / ".ci" / "run").read_text().splitlines()
    plumbing = {"#!/usr/bin/env bash", "set -euo pipefail", 'cd "$(dirname "$0")/.."'}
    return [line for line in lines if line.strip() and not line.startswith("#") and line not in plumbing]


def test_ci_runs_exactly_the_readme_commands():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Two commands", 1)[1].split("\n#", 1)[0]  # up to the next heading
    readme_commands = [line[4:] for line in section.splitlines() if line.startswith("    ")]
    setup, test = readme_commands[0], readme_commands[1]
    assert setup.startswith("python3 -m venv .venv") and "pip install -e" in setup
    assert test == ". .venv/bin/activate && python -m pytest -q"
    ci = _ci_commands()
    for command in ci:  # nothing the README does not say
        assert command in readme_commands or f"`{command}`" in readme, command
    assert ci[0] == setup and ci[-1] == test  # set up the README's way, then the README's test command
    assert all(command in ci for command in readme_commands)  # the full setup too


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=\[ ;]", r, maxsplit=1)[0].lower() for r in requirements}


def test_every_python_package_is_installed():
    """A package missing from pyproject's list works in an editable install and is absent from a wheel."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {".".join(path.parent.relative_to(REPO).parts) for path in (REPO / "w2s_bench").rglob("*.py")}
    assert on_disk <= listed, f"add to [tool.setuptools] packages: {sorted(on_disk - listed)}"


@pytest.mark.slow
def test_every_module_imports_first():
    """Each module imports in a fresh interpreter state (no other w2s_bench module loaded first): an import
    cycle that the usual order hides (the offline LM ladder <-> the model registry) fails here."""
    import importlib

    modules = sorted(".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
                     for path in (REPO / "w2s_bench").rglob("*.py") if path.name != "__main__.py")
    saved = {name: module for name, module in sys.modules.items() if name.startswith("w2s_bench")}
    failures = {}
    try:
        for name in modules:
            for loaded in [m for m in sys.modules if m.startswith("w2s_bench")]:
                del sys.modules[loaded]
            try:
                importlib.import_module(name)
            except ImportError as exc:
                failures[name] = f"{type(exc).__name__}: {exc}"
            except AttributeError as exc:  # a partially initialised module
                failures[name] = f"{type(exc).__name__}: {exc}"
    finally:
        for loaded in [m for m in sys.modules if m.startswith("w2s_bench")]:
            del sys.modules[loaded]
        sys.modules.update(saved)
    assert not failures, failures


def test_what_the_defaults_need_is_a_core_dependency():
    """LoRA is on by default for the 3B+ aliases, so peft must come with a plain `pip install w2s-bench`."""
    project = _pyproject()["project"]
    assert "peft" in _names(project["dependencies"])
    assert "lora" not in project["optional-dependencies"]


def test_every_optional_import_names_an_extra_that_installs_it():
    extras = _pyproject()["project"]["optional-dependencies"]
    for module, extra in EXTRAS.items():
        assert module in _names(extras[extra]), (module, extra)


def test_a_missing_optional_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes the import fail
    with pytest.raises(W2SError, match=re.escape('pip install "w2s-bench[plots]"')):
        require("matplotlib", "w2s-bench plot")


def test_plot_without_matplotlib_is_a_clear_error(tmp_path, monkeypatch, capsys):
    record = {"task": "t", "weak": "w", "strong": "s", "method": "naive", "seed": 0, "metrics": {}}
    (tmp_path / "results.json").write_text(json.dumps([record]))
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["plot", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert 'pip install "w2s-bench[plots]"' in err and "Traceback" not in err


def test_multi_process_runs_check_accelerate_before_training(monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setitem(sys.modules, "accelerate", None)
    assert main(["--quiet", "--dry_run"]) == 2
    err = capsys.readouterr().err
    assert 'pip install "w2s-bench[multi-gpu]"' in err and "Traceback" not in err
