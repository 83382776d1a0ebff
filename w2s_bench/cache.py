"""A content-addressed store of the protocol's artefacts: a weak supervisor's predictions and labels,
a ceiling's predictions, a w2s student's predictions.

An artefact's key is the hash of everything that determines it: the step, the task config hash and
a fingerprint of the exact examples (which covers data revision, split rules, seed and --limit),
the model's identity (name, resolved folder, weights fingerprint, settings), the method and its
parameters, the seed, the library versions that change numbers, and a fingerprint of the part of
w2s-bench's source that computes numbers (:data:`NUMBER_MODULES`). Change any of them and the key
changes, so a stale entry is never reused; it is simply not found. Edits that cannot change an
artefact (reports, the command line, the record format, metrics, which are recomputed from cached
predictions; docstrings and comments anywhere) keep the keys, so the cache stays warm. Weak labels
and ceilings are shared by every strong model and method of a sweep, so a sweep fits each of them
once, and a killed sweep resumes from what it finished.

Layout: ``ROOT/<step>/<key>.safetensors``: arrays (probabilities; a tuned small LM's weights) in safetensors
(no pickle), the record's JSON (seconds, training log, supervision info), the key's parts and a checksum of
the arrays in its metadata. Writes go to a temporary file renamed into place (``w2s_bench.files``), so readers,
a crash or a second process sharing the cache never see half a file; processes sharing a store (Ray
or Slurm workers on one filesystem) take a lock per key, so one computes an entry while the others
wait and then read it. Entries are checked on read (key parts,
checksum, shapes, finite normalised probabilities: see :class:`ArtefactStore`), so an entry altered
or damaged outside w2s-bench is recomputed rather than trusted, and a non-finite result is never
stored.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from w2s_bench.errors import W2SError
from w2s_bench.files import atomic_write, exclusive_lock, remove_stale_temp_files
from w2s_bench.models.offline import cache_root
from w2s_bench.results import package_versions

log = logging.getLogger("w2s_bench")

# libraries whose versions can change a number (tokenizers, kernels, solvers, random streams)
_VERSIONED = ("torch", "transformers", "tokenizers", "scikit-learn", "numpy", "peft")


def default_dir() -> Path:
    """``$W2S_BENCH_CACHE/artefacts`` (default ``~/.cache/w2s_bench/artefacts``)."""
    return cache_root() / "artefacts"


# Paths under w2s_bench/ (a folder: every module in it) whose code can change a cached artefact: models,
# training, methods, the protocol and the sweep that wires them, the examples, the store itself, and the
# supervision info stored with students. Their source, without docstrings and comments, is in every key.
NUMBER_MODULES = ("cache.py", "chess", "distributed.py", "evaluator.py", "examples.py", "families.py", "generation", "methods",
                  "models", "params.py", "protocol.py", "records/supervision.py", "tasks/build.py", "tasks/config.py",
                  "tasks/data.py", "tasks/generators", "tasks/process.py", "tasks/splits.py", "tasks/task.py",
                  "tasks/templates.py", "train.py", "train_config.py")
# Modules that cannot change an artefact: reports, the command line, the record format and its reader,
# metrics (computed from the cached predictions, after the store), task discovery, progress bars, errors.
# Every module is in exactly one of the two lists (tests/test_cache_keys.py), so none is left out by accident.
NON_NUMBER_MODULES = ("__init__.py", "__main__.py", "backends", "cli.py", "defaults.py", "errors.py", "files.py",
                      "leaderboard", "metrics", "optional.py", "progress.py", "records/__init__.py", "records/codec.py",
                      "records/reader.py", "records/schema.py", "records/types.py", "report", "results.py", "tasks/__init__.py",
                      "tasks/registry.py")
PACKAGE = Path(__file__).resolve().parent


def modules_in(entries: tuple[str, ...], package: Path = PACKAGE) -> list[Path]:
    """The Python files ``entries`` name under ``package``, sorted."""
    files = set()
    for entry in entries:
        path = package / entry
        files.update(path.rglob("*.py") if path.is_dir() else [path] if path.is_file() else [])
    return sorted(files)


def source_fingerprint(source: str) -> str:
    """A hash of Python source that ignores what cannot change what it computes: docstrings, other bare
    string statements, comments and layout (it hashes the syntax tree, without line numbers)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            kept = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                                            and isinstance(s.value.value, str))]
            node.body = kept or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()[:16]


@lru_cache(maxsize=4)
def code_fingerprint(package: Path = PACKAGE) -> str:
    """A hash of the modules that compute numbers (:data:`NUMBER_MODULES`), by path and syntax tree; once
    per process and package folder."""
    digest = hashlib.sha256()
    for path in modules_in(NUMBER_MODULES, package):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(source_fingerprint(path.read_text(encoding="utf-8")).encode())
    return digest.hexdigest()[:16]


def _plain(value: Any) -> Any:
    """JSON for numpy scalars (accuracies computed with numpy), a string for anything else."""
    return value.item() if isinstance(value, np.generic) else str(value)


def hash_json(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Artefact:
    """What a protocol step leaves: named arrays and a JSON-able record of how they were made."""

    arrays: dict[str, np.ndarray]
    record: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Expected:
    """What a caller knows an artefact must hold, checked on every read and before every write:
    the shape of each array (``[n, K]``: n examples, K classes) and the record's fields. ``probabilities``
    says the arrays are rows of class probabilities (predictions); a model's weights (the generation
    family's tuned small LM) are finite float arrays of any shape instead."""

    shapes: dict[str, tuple[int, ...]]
    fields: tuple[str, ...] = ()
    probabilities: bool = True


def array_checksum(arrays: dict[str, np.ndarray]) -> str:
    """sha256 of the arrays' names, dtypes, shapes and bytes, stored with an entry and verified on read."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(json.dumps([name, array.dtype.str, list(array.shape)]).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def artefact_problem(artefact: Artefact, expected: Expected | None) -> str | None:
    """Why ``artefact`` cannot be a valid protocol artefact, or None. Every array is finite floats and, unless
    ``expected`` says it holds weights, rows of class probabilities: in [0, 1], each row summing to 1 (within 1e-5)."""
    if expected is not None:
        if set(artefact.arrays) != set(expected.shapes):
            return f"arrays {sorted(artefact.arrays)}, expected {sorted(expected.shapes)}"
        missing = [f for f in expected.fields if f not in artefact.record]
        if missing:
            return f"the record lacks the field(s) {', '.join(missing)}"
    for name, array in artefact.arrays.items():
        want = expected.shapes[name] if expected is not None else None
        if want is not None and tuple(array.shape) != tuple(want):
            return f"array {name!r} has shape {tuple(array.shape)}, expected {tuple(want)}"
        weights = expected is not None and not expected.probabilities
        if not np.issubdtype(array.dtype, np.floating) or (array.ndim != 2 and not weights):
            return f"array {name!r} is not a 2-d float array of probabilities ({array.dtype}, {array.ndim}-d)"
        if not np.isfinite(array).all():
            return f"array {name!r} has {int((~np.isfinite(array)).sum())} non-finite value(s) (NaN or inf)"
        if weights:
            continue
        if array.size and (array.min() < 0 or array.max() > 1):
            return f"array {name!r} has values outside [0, 1] (min {array.min():.3g}, max {array.max():.3g})"
        sums = array.sum(axis=1)
        if array.size and np.abs(sums - 1).max() > 1e-5:
            return f"array {name!r} has rows that do not sum to 1 (worst {sums[np.abs(sums - 1).argmax()]:.6g})"
    return None


class ArtefactStore:
    """Get-or-compute for artefacts. ``root=None`` keeps nothing (``--no_cache``); ``rerun=True``
    recomputes every artefact and overwrites the stored one (``--rerun``).

    An entry is trusted only after checks on read: its stored key parts equal the requested ones,
    the checksum of its arrays matches the one stored with it, and the arrays pass
    :func:`artefact_problem` (shapes the caller expects, finite normalised probabilities). Any
    failure is logged with the file and the reason, and the artefact is recomputed and overwritten.
    A computed artefact that fails :func:`artefact_problem` (a diverged model's NaN predictions) is
    an error and is never stored.

    ``counts`` tallies, per step, how many artefacts were ``computed`` and how many ``reused``: the
    evidence that a sweep trained each weak model and ceiling once. ``on_computed(step)`` is called
    after each computation (progress bars).
    """

    def __init__(self, root: str | Path | None, rerun: bool = False, writable: bool = True) -> None:
        self.root = Path(root).expanduser() if root is not None else None
        self.rerun, self.writable = rerun, writable
        self.counts: Counter[str] = Counter()
        self.on_computed: Callable[[str], None] = lambda step: None
        if self.root is not None and self.root.is_dir():  # temporary files of writers killed mid-write
            remove_stale_temp_files(self.root, *(p for p in self.root.iterdir() if p.is_dir()))

    def key(self, step: str, parts: dict[str, Any]) -> str:
        return hash_json({"step": step, **parts, "code": code_fingerprint(), "versions": package_versions(_VERSIONED)})[:32]

    def path(self, step: str, key: str) -> Path | None:
        return self.root / step / f"{key}.safetensors" if self.root is not None else None

    def has(self, step: str, key: str) -> bool:
        """Whether :meth:`get_or_compute` would reuse the artefact (for ``--dry_run`` plans; an entry
        that fails its checks on read is recomputed then)."""
        path = self.path(step, key)
        return path is not None and not self.rerun and path.is_file()

    def get_or_compute(self, step: str, parts: dict[str, Any], compute: Callable[[], Artefact],
                       expected: Expected | None = None, label: str = "") -> tuple[Artefact, str, bool]:
        """The artefact for ``(step, parts)``, its key, and whether it was reused from the store
        (else it was computed now, and stored). ``label`` names what is computed in errors."""
        key = self.key(step, parts)
        path = self.path(step, key)
        if path is None or not self.writable:
            return self._get_or_compute(step, key, parts, compute, expected, label, rerun=self.rerun)
        # one process computes a key at a time: a second worker (another Ray task, a Slurm job on the same
        # filesystem) waits, then reads what the first one stored
        with exclusive_lock(path.with_suffix(".lock")):
            return self._get_or_compute(step, key, parts, compute, expected, label, rerun=self.rerun)

    def _get_or_compute(self, step: str, key: str, parts: dict[str, Any], compute: Callable[[], Artefact],
                        expected: Expected | None, label: str, rerun: bool) -> tuple[Artefact, str, bool]:
        path = self.path(step, key)
        if path is not None and not rerun and path.is_file():
            artefact = self._read(path, parts, expected)
            if artefact is not None:
                self.counts[f"{step} reused"] += 1
                return artefact, key, True
        computed = compute()
        # the record as it will read back from disk, so a fresh and a reused artefact are the same
        artefact = Artefact(computed.arrays, json.loads(json.dumps(computed.record, default=_plain)))
        problem = artefact_problem(artefact, expected)
        if problem:
            raise W2SError(f"invalid result, not stored: {problem}",
                           where=label or step,
                           fix="if training diverged, lower lr, use dtype=float32 or set grad_clip=1.0 (--weak_args / "
                               "--strong_args); a custom model's predict_proba must return one row of class "
                               "probabilities per example")
        self.counts[f"{step} computed"] += 1
        self.on_computed(step)
        if path is not None and self.writable:
            self._write(path, artefact, parts)
        return artefact, key, False

    @staticmethod
    def _read(path: Path, parts: dict[str, Any], expected: Expected | None = None) -> Artefact | None:
        """The entry at ``path`` if it passes every check, else None (with a warning naming the reason)."""
        from safetensors import SafetensorError, safe_open
        from safetensors.numpy import load_file

        try:
            with safe_open(str(path), framework="np") as handle:
                metadata = handle.metadata() or {}
            arrays = load_file(str(path))
            missing = [f for f in ("record", "key_parts", "checksum") if f not in metadata]
            if missing:
                reason = f"its metadata lacks {', '.join(missing)}"
            elif json.loads(metadata["key_parts"]) != _as_stored(parts):
                reason = "its stored key parts differ from the requested ones"
            elif metadata["checksum"] != array_checksum(arrays):
                reason = "the checksum of its arrays does not match the stored one (the arrays were changed)"
            else:
                record = json.loads(metadata["record"])
                artefact = Artefact(arrays, record) if isinstance(record, dict) else None
                reason = "its record is not a JSON object" if artefact is None else artefact_problem(artefact, expected)
                if reason is None:
                    return artefact
        except (OSError, KeyError, ValueError, SafetensorError) as exc:  # damaged by something outside w2s-bench
            reason = f"unreadable ({exc})"
        log.warning("ignoring cache entry %s: %s; recomputing and overwriting it", path, reason)
        return None

    @staticmethod
    def _write(path: Path, artefact: Artefact, parts: dict[str, Any]) -> None:
        from safetensors.numpy import save_file

        arrays = {name: np.ascontiguousarray(value) for name, value in artefact.arrays.items()}
        metadata = {"record": json.dumps(artefact.record), "key_parts": json.dumps(parts, default=str),
                    "checksum": array_checksum(arrays)}
        atomic_write(path, lambda tmp: save_file(arrays, tmp, metadata=metadata))


def _as_stored(parts: dict[str, Any]) -> Any:
    """Key parts as they read back from an entry's metadata (tuples become lists, objects strings)."""
    return json.loads(json.dumps(parts, default=str))
