"""Submissions: one folder per submission under ``leaderboard/submissions/``, as a run wrote it.

    leaderboard/submissions/<name>/
        submission.yaml        who ran it, the exact command, what ran it (SubmissionMeta)
        results.json           the run's records, as the run wrote them
        runs/<key>.json        one record per file
        samples/<key>.jsonl    every test example's id, gold label and each model's probabilities

JSON and YAML only, never pickle: any other file in the folder is refused by the validator. One
submission is one (weak, strong, method) over some tasks and seeds, as one row of the board.

Most of the metadata can be checked against the records (the models, the method, the hardware, the
w2s-bench version and commit, "produced by w2s-bench on CPU"): :func:`expected_meta` derives those
fields and the validator requires them to agree. Who ran it, the command and the note are the
submitter's word.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from w2s_bench.errors import W2SError
from w2s_bench.leaderboard.from_results import hardware_text
from w2s_bench.records import FieldError, Record, RunRecord, from_json, read_results, results_folder, to_json
from w2s_bench.tasks.config import read_yaml

META_FILE = "submission.yaml"
RESULTS_FILE = "results.json"
# folder -> the suffix its files must have; the top level holds only META_FILE and RESULTS_FILE
FOLDERS = {"runs": ".json", "samples": ".jsonl"}
NAME_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
DEFAULT_ROOT = Path("leaderboard") / "submissions"


@dataclass(kw_only=True)
class ModelMeta:
    """A model as the run identified it: its name and the fingerprint of its weights (None for TF-IDF,
    which is trained from scratch)."""

    id: str
    revision: str | None = None


@dataclass(kw_only=True)
class SubmissionMeta:
    """``submission.yaml``. ``who``, ``command`` and ``note`` are the submitter's; the rest must equal
    what the records say (:func:`expected_meta`)."""

    name: str
    who: str
    when: str  # the earliest record's creation time
    command: str  # the exact command that produced results.json (one per line when several runs make it)
    produced_by: str  # e.g. "w2s-bench on CPU"
    hardware: str
    w2s_bench_version: str | None
    w2s_bench_commit: str | None  # with " (dirty)" when the tree had uncommitted changes
    weak: ModelMeta
    strong: ModelMeta
    method: str
    method_params: dict[str, Any] = field(default_factory=dict)
    note: str = ""


def check_name(name: str, where: str = "--name") -> str:
    """``name`` if it can be a submission folder's name: letters, digits, '.', '_', '-', starting with a
    letter or digit, no '..', at most 100 characters; so no name reaches outside the submissions folder."""
    if not NAME_RULE.fullmatch(name) or ".." in name:
        raise W2SError(f"{name!r} cannot be a submission name", where=where,
                       fix="use letters, digits, '.', '_' and '-' (starting with a letter or digit, no '..'), "
                           "e.g. tfidf-minilm-l6-naive")
    return name


def _model(identity: dict[str, Any]) -> ModelMeta:
    return ModelMeta(id=str(identity.get("name")), revision=identity.get("weights"))


def _commit(record: Record) -> str | None:
    git = record.provenance.git
    return None if git.commit is None else git.commit + (" (dirty)" if git.dirty else "")


def derived_fields(records: list[Record]) -> dict[str, Any]:
    """The metadata fields that follow from the records (those of the first record; the validator checks
    that every record agrees on the cell), by field name."""
    first = records[0]
    created = sorted(r.provenance.created for r in records)
    gpus = sorted({g for r in records for g in r.provenance.hardware.gpus})
    return {"when": created[0], "produced_by": "w2s-bench on " + (f"GPU ({', '.join(gpus)})" if gpus else "CPU"),
            "hardware": hardware_text(first.provenance), "w2s_bench_version": first.provenance.versions.get("w2s-bench"),
            "w2s_bench_commit": _commit(first), "weak": _model(first.config.weak_model),
            "strong": _model(first.config.strong_model), "method": first.method,
            "method_params": first.config.method_params}


def expected_meta(name: str, records: list[Record], *, who: str, command: str, note: str = "") -> SubmissionMeta:
    return SubmissionMeta(name=name, who=who, command=command, note=note, **derived_fields(records))


def read_meta(folder: Path) -> SubmissionMeta:
    path = folder / META_FILE
    if not path.is_file():
        raise W2SError(f"no {META_FILE}", where=str(folder), fix=f"add {META_FILE} (w2s-bench leaderboard submit writes it)")
    try:
        return from_json(SubmissionMeta, read_yaml(path))
    except FieldError as exc:
        raise W2SError(exc.what, where=f"{path}: {exc.path}",
                       fix="write it with w2s-bench leaderboard submit, or compare with a seeded submission") from exc


class _MetaDumper(yaml.SafeDumper):
    """Multi-line strings (several commands) as YAML literal blocks, one command per line as written."""


_MetaDumper.add_representer(str, lambda dumper, text: dumper.represent_scalar(
    "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None))


def write_meta(folder: Path, meta: SubmissionMeta) -> None:
    text = yaml.dump(to_json(meta), Dumper=_MetaDumper, sort_keys=False, allow_unicode=True, width=1000)
    (folder / META_FILE).write_text(text, encoding="utf-8")


def cells(records: list[Record]) -> list[tuple[str, str, str]]:
    """The (weak, strong, method) cells of ``records``, in order."""
    return list(dict.fromkeys((r.weak, r.strong, r.method) for r in records))


def submit(results: str | Path | list[str | Path], name: str, *, who: str, command: str, note: str = "",
           root: str | Path = DEFAULT_ROOT, weak: str | None = None, strong: str | None = None,
           method: str | None = None) -> Path:
    """Copy a run's output (``results``: its --output_path folder or results.json, or several runs' that
    together make one submission, e.g. a sweep split over processes) into ``root/<name>/`` with a
    submission.yaml, and return the folder. A run with several (weak, strong, method) cells needs ``weak`` /
    ``strong`` / ``method`` to choose one. Records are written in the current schema (a run made by an
    older w2s-bench is migrated by ``read_results``); samples are copied. The folder is written under a
    temporary name and renamed into place, so a failure leaves nothing behind. Validation is the caller's
    next step."""
    check_name(name)
    if not command.strip():
        raise W2SError("the exact command that produced the results is required", where="--command",
                       fix='e.g. --command "w2s-bench --tasks w2s_leaderboard --weak tfidf ..."')
    root = Path(root)
    target = root / name
    if target.exists():
        raise W2SError("a submission of this name exists", where=str(target), fix="choose another --name")
    chosen: list[tuple[Path, Record]] = []
    for source in results if isinstance(results, list) else [results]:
        chosen += [(results_folder(source), r) for r in read_results(source)
                   if (weak or r.weak) == r.weak and (strong or r.strong) == r.strong and (method or r.method) == r.method]
    records = [record for _, record in chosen]
    found = cells(records)
    if len(found) != 1:
        listed = ", ".join("/".join(c) for c in found) or "none"
        raise W2SError(f"a submission is one (weak, strong, method); the selection has {len(found)}: {listed}",
                       where=str(results), fix="choose one with --weak, --strong and --method")
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    try:
        for folder in FOLDERS:
            (staging / folder).mkdir()
        (staging / RESULTS_FILE).write_text(json.dumps(to_json(records), indent=2, allow_nan=False) + "\n", encoding="utf-8")
        for source, record in chosen:  # records in the current schema (read_results migrates older runs)
            (staging / "runs" / f"{record.key}.json").write_text(json.dumps(to_json(record), indent=2, allow_nan=False)
                                                                + "\n", encoding="utf-8")
            if isinstance(record, RunRecord):
                shutil.copyfile(source / "samples" / f"{record.key}.jsonl", staging / "samples" / f"{record.key}.jsonl")
        write_meta(staging, expected_meta(name, records, who=who, command=command, note=note))
        staging.rename(target)
    except OSError as exc:
        raise W2SError(f"cannot copy the run: {exc}", where=str(results),
                       fix="pass the --output_path folder of a finished run (with runs/ and samples/)") from exc
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target
