"""Writing files so that a crash, Ctrl-C or a second process never leaves a broken one.

Every file w2s-bench writes (results, tables, figures, cache entries, indexes) goes through
:func:`atomic_write`: the content is written to a temporary file in the same folder, flushed to
disk, given the mode an ordinary ``open()`` would have given it (``0o666`` minus the umask;
``mkstemp`` alone makes ``0o600``, which a group-shared cache or results folder could not read),
and renamed over the target in one ``os.replace``. Readers see the old file or the new one, never
half of one.

A process killed between creating its temporary file and the rename leaves ``.<name>.*.tmp``
behind; :func:`remove_stale_temp_files` deletes those when a store or results folder is opened.
It only deletes temporary files older than ``STALE_TEMP_SECONDS``, so the live temporary file of a
concurrent writer (written and renamed within seconds) is never touched.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

TEMP_SUFFIX = ".tmp"
STALE_TEMP_SECONDS = 30 * 60
_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where the OS allows (Linux: /proc), else by
    setting and restoring it under a lock (``os.umask`` can only be read by setting it)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Create or replace ``path`` atomically; ``write(temp_path)`` writes the content to the
    temporary path (e.g. ``safetensors.numpy.save_file``, ``figure.savefig``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)

    atomic_write(path, write)


def remove_stale_temp_files(*folders: str | os.PathLike, older_than: float = STALE_TEMP_SECONDS) -> list[Path]:
    """Delete the temporary files killed writers left in ``folders`` (not recursive); returns them."""
    removed = []
    cutoff = time.time() - older_than
    for folder in map(Path, folders):
        if not folder.is_dir():
            continue
        for candidate in folder.glob(f".*{TEMP_SUFFIX}"):
            with contextlib.suppress(OSError):  # gone already (another process cleaned it), or not ours to delete
                if candidate.is_file() and candidate.stat().st_mtime < cutoff:
                    candidate.unlink()
                    removed.append(candidate)
    return removed


def writable_folder_problem(folder: str | os.PathLike) -> str | None:
    """Why ``folder`` cannot hold w2s-bench's output (it is a file, or it cannot be written or
    created), or None. Nothing is created: a dry run leaves no folders behind."""
    path = Path(folder).expanduser().absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if existing == path and not path.is_dir():
        return "is a file, not a folder"
    if not existing.is_dir():
        return f"cannot be created: {existing} is a file"
    if not os.access(existing, os.W_OK | os.X_OK):
        return "is not writable" if existing == path else f"cannot be created: {existing} is not writable"
    return None


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created if missing) for the enclosed block.

    Processes sharing a folder (Ray or Slurm workers on a shared filesystem) use it so that one of
    them computes an artefact while the others wait and then read it, instead of all computing it.
    POSIX ``fcntl`` locks; on a system without them (Windows) the block runs unlocked, which is still
    safe (writes are atomic), only possibly duplicated.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
