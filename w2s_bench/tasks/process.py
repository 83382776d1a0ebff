"""Row-level preparation declared in a task YAML: ``process_docs`` (code) and ``doc_filter`` (Jinja).

``process_docs: module.function`` names a function ``rows -> rows`` applied to every split as it is
loaded, like lm-evaluation-harness's ``process_docs`` (``!function``). It runs code, so what it may
name is narrow:

* a ``.py`` file in the YAML's own folder: ``utils.process_docs`` is ``<yaml folder>/utils.py``,
  ``helpers.chess.rows`` is ``<yaml folder>/helpers/chess.py`` (the file, symlinks resolved, must be
  inside that folder); a name whose first part is a file or folder beside the YAML is always local;
* otherwise a module of an installed package, importable by name (the shipped chess tasks name
  ``w2s_bench.chess.puzzles.lichess_docs``); never the standard library, which has no
  ``rows -> rows`` functions but has ``os.system`` and ``shutil.rmtree``;
* the name must be dotted identifiers (no leading dot, no ``..``, no path), and the object a plain
  Python function defined in that module (not a builtin, a class or a re-exported import).

The value is checked when the task is built, without importing anything, so ``ls tasks`` and
``validate --schema_only`` never run a task's code; the module is imported when rows are first
prepared. Everything the function raises, and a result that is not a list of row mappings, becomes a
W2SError naming the YAML file and ``process_docs``.

``doc_filter`` is a Jinja expression kept visible in the YAML; rows where it is false are dropped.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from w2s_bench.errors import W2SError
from w2s_bench.tasks.data import Rows, SourceData
from w2s_bench.tasks.templates import Template

_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
_FIX = "e.g. process_docs: utils.process_docs (a function in a utils.py beside the YAML)"


class ProcessDocs:
    """A task's ``process_docs`` function: checked on construction (nothing imported), imported on
    first use, and called so that its failures name the file and field."""

    def __init__(self, dotted: Any, yaml_file: str) -> None:
        self.dotted, self.where = dotted, f"{yaml_file}: process_docs"
        if not isinstance(dotted, str) or not _DOTTED.match(dotted):
            raise W2SError(f"process_docs must be module.function (dotted Python names), got {dotted!r}",
                           where=self.where, fix=_FIX + "; no leading dot, '..' or file path")
        self.module_name, _, self.function_name = dotted.rpartition(".")
        self.local_file = self._local_file(Path(yaml_file).parent)
        if self.local_file is None:
            self._check_installed()
        self._function: Callable[[Rows], Any] | None = None

    def _local_file(self, folder: Path) -> Path | None:
        """The module's file in the YAML's folder, or None if the name is not local."""
        parts = self.module_name.split(".")
        if not ((folder / f"{parts[0]}.py").exists() or (folder / parts[0]).is_dir()):
            return None
        path = folder.joinpath(*parts[:-1], f"{parts[-1]}.py")
        if not path.is_file():
            raise W2SError(f"{self.module_name!r} names a file beside the YAML, but {path} does not exist",
                           where=self.where, fix=_FIX)
        if not path.resolve().is_relative_to(folder.resolve()):
            raise W2SError(f"{path} resolves to {path.resolve()}, outside the YAML's folder", where=self.where,
                           fix="process_docs may only load code from the YAML's own folder or an installed package")
        return path

    def _check_installed(self) -> None:
        top = self.module_name.split(".")[0]
        if top in sys.stdlib_module_names:
            raise W2SError(f"{self.dotted!r} is in the standard library, which has no rows -> rows functions",
                           where=self.where, fix=_FIX)
        if importlib.util.find_spec(top) is None:  # finds the top-level package without importing it
            raise W2SError(f"no {top}.py beside the YAML and no installed module {top!r}", where=self.where, fix=_FIX)

    def function(self) -> Callable[[Rows], Any]:
        """Import the module (once) and return the named function."""
        if self._function is None:
            module = self._import()
            function = getattr(module, self.function_name, None)
            if function is None:
                raise W2SError(f"{self.module_name!r} has no function {self.function_name!r}", where=self.where)
            if not inspect.isfunction(function):
                raise W2SError(f"{self.dotted!r} is a {type(function).__name__}, not a Python function "
                               "(process_docs calls a def taking the rows and returning rows)", where=self.where)
            if function.__module__ != module.__name__:
                raise W2SError(f"{self.dotted!r} is imported from {function.__module__}, not defined in "
                               f"{self.module_name}", where=self.where,
                               fix=f"name it where it is defined: {function.__module__}.{function.__name__}")
            self._function = function
        return self._function

    def _import(self) -> ModuleType:
        try:
            if self.local_file is None:
                return importlib.import_module(self.module_name)
            spec = importlib.util.spec_from_file_location(f"w2s_bench_user_{self.module_name}", self.local_file)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
        except Exception as exc:
            source = self.local_file or self.module_name
            raise W2SError(f"importing {source} failed: {type(exc).__name__}: {exc}", where=self.where,
                           fix="fix the module, or name an installed module") from exc

    def __call__(self, rows: Rows, split: str) -> list[Mapping[str, Any]]:
        """The function's rows for one split, as a list; any failure is a W2SError."""
        function = self.function()
        try:
            result = function(rows)
            if isinstance(result, str | bytes | Mapping) or not isinstance(result, Iterable):
                raise W2SError(f"{self.dotted} returned a {type(result).__name__} on split {split!r}, not a list "
                               "of rows", where=self.where, fix="return a list of dicts, one per row")
            result = list(result)
        except W2SError:
            raise
        except Exception as exc:
            raise W2SError(f"{self.dotted} raised {type(exc).__name__} on split {split!r}: {exc}",
                           where=self.where) from exc
        for index, row in enumerate(result):
            if not isinstance(row, Mapping):
                raise W2SError(f"{self.dotted} returned a {type(row).__name__} as row {index + 1} of split {split!r}",
                               where=self.where, fix="return a list of dicts, one per row")
        return result


def prepare_rows(source: SourceData, process: ProcessDocs | None, keep: Template | None) -> SourceData:
    """Apply the task's ``process_docs`` function and ``doc_filter``; the result says which ran."""
    if process:
        source = SourceData({name: process(rows, name) for name, rows in source.splits.items()}, source.origin,
                            prepared_by="process_docs")
    if keep:
        source = SourceData({name: [row for i, row in enumerate(rows) if _kept(keep, row, source, name, i)]
                             for name, rows in source.splits.items()}, source.origin,
                            prepared_by=" and ".join(filter(None, [source.prepared_by, "doc_filter"])))
    return source


def _kept(keep: Template, row: Mapping[str, Any], source: SourceData, split: str, index: int) -> bool:
    try:
        return bool(keep(row))
    except W2SError as exc:
        raise exc.at(source.row_location(split, index)) from exc
