"""A model folder's fingerprint: what its files contain, for cache keys.

A cached prediction may be reused only while the model that made it is unchanged. Names and sizes
of weight files are not enough: a fine-tune re-saved in place has the same names and the same
sizes. So every file of the folder (weights, config, tokenizer; not subfolders, which
``from_pretrained`` does not read, nor hidden files) is hashed in full with sha256.

Hashing is not sampled: a change to any byte changes the fingerprint, whichever byte it is
(sampled blocks would miss a change between the samples, e.g. one fine-tuned tensor). To keep it
cheap, each file's digest is remembered in a small JSON index (``$W2S_BENCH_CACHE/weights-index.json``)
under its absolute path with its size, mtime_ns, ctime_ns and inode; a file is rehashed only when
one of these changes. Rewriting a file changes its mtime and ctime (and setting the mtime back with
``touch -d`` or ``cp -p`` still changes the ctime, which only the kernel sets), so a stale digest
is never used; a file touched without a change is rehashed once and keeps its fingerprint. Measured
on 2 CPU cores (``benchmarks/weights_fingerprint.py``, warm page cache): all-mpnet-base-v2's 439 MB
hash in 0.6 s on an idle machine, 6 s on loaded cores, once; afterwards the index answers in under
a millisecond.

A Hugging Face hub snapshot (``.../models--org--name/snapshots/<commit>/``) is fingerprinted by its
commit: the hub names the snapshot by the commit its files come from, and the files are links into
a store named by their own content hashes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from w2s_bench.files import atomic_write_text
from w2s_bench.models.offline import cache_root

_CHUNK = 1 << 20
_COMMIT = re.compile(r"[0-9a-f]{40}")


def index_path() -> Path:
    return cache_root() / "weights-index.json"


def hub_commit(folder: Path) -> str | None:
    """The commit of a hub snapshot folder, or None for any other folder."""
    if folder.parent.name == "snapshots" and folder.parent.parent.name.startswith("models--") and _COMMIT.fullmatch(folder.name):
        return folder.name
    return None


def _stat_key(stat: os.stat_result) -> dict[str, int]:
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "ctime_ns": stat.st_ctime_ns, "inode": stat.st_ino}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


class HashIndex:
    """File digests remembered by (absolute path, size, mtime_ns, ctime_ns, inode)."""

    def __init__(self, path: Path) -> None:
        self.path, self.changed = path, False
        try:
            entries = json.loads(path.read_text())
        except (OSError, ValueError):  # none yet, or damaged: start afresh (digests are recomputed, never trusted)
            entries = {}
        self.entries: dict[str, dict[str, Any]] = entries if isinstance(entries, dict) else {}

    def file_hash(self, path: Path) -> str:
        name = os.path.abspath(path)
        before = _stat_key(path.stat())
        entry = self.entries.get(name)
        if isinstance(entry, dict) and {k: entry.get(k) for k in before} == before and isinstance(entry.get("sha256"), str):
            return entry["sha256"]
        digest = _sha256(path)
        if _stat_key(path.stat()) == before:  # not remembered if the file changed while it was read
            self.entries[name] = {**before, "sha256": digest}
            self.changed = True
        return digest

    def save(self) -> None:
        """Write the index back (atomically), dropping entries of files that no longer exist."""
        if not self.changed:
            return
        entries = {name: entry for name, entry in self.entries.items() if os.path.exists(name)}
        with contextlib.suppress(OSError):  # a read-only cache only costs rehashing next time
            atomic_write_text(self.path, json.dumps(entries, indent=0, sort_keys=True))
        self.changed = False


def folder_fingerprint(folder: Path) -> str | None:
    """A hash of the contents of ``folder``'s files (see the module docstring); None if it is not a folder."""
    if not folder.is_dir():
        return None
    commit = hub_commit(folder)
    if commit is not None:
        return f"hub:{commit}"
    index = HashIndex(index_path())
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.startswith("."):
            digest.update(f"{path.name}:{index.file_hash(path)}\n".encode())
    index.save()
    return digest.hexdigest()[:16]
