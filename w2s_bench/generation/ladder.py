"""The offline LM ladder: GPT-2-style causal LMs of three sizes that w2s-bench pretrains itself.

No decoder weights can be downloaded here, yet the generation family must run for real in CI and on
a laptop. So ``offline-lm-s``, ``offline-lm-m`` and ``offline-lm-l`` are built on first use: a
byte-level BPE tokenizer trained with ``tokenizers`` and a GPT-2 architecture pretrained from
scratch on the corpus of ``w2s_bench.generation.corpus`` (generated review-like and neutral text;
plus SST-2 training sentences when a local mirror has them). They are small LMs trained for minutes
on a narrow corpus, there to make the protocol runnable offline, not stand-ins for GPT-2.

All three sizes share the corpus, the tokenizer (the same vocabulary, so logits can be combined
across sizes) and the data order; the width, depth, learning rate and number of steps differ (the
larger ones train longer, see ``RECIPES``). Held-out perplexity is measured at the end of every
build and kept in the folder's ``ladder.json``.

A build is deterministic: the same recipe and corpus give bit-identical weights on the same machine
and library versions (seeded initialisation, data order and dropout-free training on CPU). The
folder is ``<cache>/models/offline-lm-<size>-<key>`` (``<cache>`` is ``$W2S_BENCH_CACHE``, default
``~/.cache/w2s_bench``), where ``key`` hashes everything that determines the weights: the recipe,
the corpus spec (with the mirror file's sha256) and the source of the code that builds it. Change
any of them and a new folder is built, so the model's identity in artefact keys changes too. The
folder is written by ``models.offline.install_folder`` (atomic, with a marker file), like MPNet's.

Which mirror: the run's ``--data_dir`` when the model is resolved inside a run (the evaluator passes
it to ``fetch``), else ``$W2S_BENCH_DATA_DIR``, else none (generated text only).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from w2s_bench.generation.corpus import Corpus, CorpusSpec, build_corpus, corpus_spec
from w2s_bench.models.offline import MARKER, cache_root, install_folder, staging_folder

if TYPE_CHECKING:  # torch is imported where a model is built: the alias table (w2s-bench ls models) stays light
    import torch

log = logging.getLogger("w2s_bench")

EOS = "<|endoftext|>"
INFO_FILE = "ladder.json"
# the code that determines a build: its source is part of the folder's key
_BUILDER_SOURCES = ("generation/ladder.py", "generation/corpus.py", "tasks/generators/sentiment_lexicon.py", "train.py")


@dataclass(frozen=True)
class Recipe:
    """Everything about one ladder model except the corpus: architecture, tokenizer, optimisation."""

    size: str
    n_embd: int
    n_layer: int
    n_head: int
    lr: float
    steps: int
    batch_size: int = 8  # small batches, many steps: what a few minutes of CPU learn most from
    block_size: int = 128  # tokens per training sequence; also the model's context length
    vocab_size: int = 2048  # the generated corpus alone fills about 1,950 of them
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    seed: int = 0
    # CPU threads while pretraining. The thread count changes float summation order, hence the weights, so it is
    # fixed. One: on 2 cores shared with other jobs (load average 13) a second thread made a training step 5-10x
    # slower, not faster (spinning at every small operation), and one thread builds the same weights on any machine.
    threads: int = 1

    @property
    def name(self) -> str:
        return f"offline-lm-{self.size}"

    def num_parameters(self) -> int:
        """GPT-2's count with tied input and output embeddings: token and position embeddings, per layer
        two layer norms, attention (qkv and output projections) and the 4x MLP, and the final layer norm."""
        d = self.n_embd
        per_layer = 2 * 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d)
        return self.vocab_size * d + self.block_size * d + self.n_layer * per_layer + 2 * d

    def gpt2_config(self, eos_id: int) -> Any:
        from transformers import GPT2Config

        return GPT2Config(vocab_size=self.vocab_size, n_positions=self.block_size, n_embd=self.n_embd,
                          n_layer=self.n_layer, n_head=self.n_head, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                          bos_token_id=eos_id, eos_token_id=eos_id, pad_token_id=eos_id,
                          architectures=["GPT2LMHeadModel"])


# Measured on the generated corpus (2 CPU cores shared with other jobs): the smallest reaches a held-out
# perplexity of about 8 in 150 steps of 8 x 128 tokens and must build in under a minute, so it stops there;
# at 25-50 steps all three sizes are within a few points of each other (the number of updates limits them, not
# their size), so the larger ones get more steps, and a larger model is then better for both reasons.
RECIPES = {
    "s": Recipe("s", n_embd=128, n_layer=6, n_head=4, lr=3e-3, steps=150),
    "m": Recipe("m", n_embd=256, n_layer=10, n_head=4, lr=2e-3, steps=250),
    "l": Recipe("l", n_embd=512, n_layer=9, n_head=8, lr=1e-3, steps=250),
}


@lru_cache(maxsize=1)
def builder_fingerprint() -> str:
    """A hash of the source files that determine a build (any edit rebuilds: conservative, never stale)."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for relative in _BUILDER_SOURCES:
        digest.update(relative.encode())
        digest.update((package / relative).read_bytes())
    return digest.hexdigest()[:16]


def build_key(recipe: Recipe, spec: CorpusSpec) -> str:
    identity = {"recipe": asdict(recipe), "corpus": spec.identity(), "code": builder_fingerprint()}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]


def train_tokenizer(texts: list[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer (GPT-2's scheme: any text encodes, no unknown token) trained on ``texts``,
    with ``<|endoftext|>`` as BOS, EOS and padding, wrapped for transformers. Deterministic."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token=EOS, eos_token=EOS, pad_token=EOS,
                                   unk_token=EOS, model_max_length=10**6)


def pack(texts: list[str], tokenizer: Any, block_size: int) -> torch.Tensor:
    """Documents as one stream ``EOS doc EOS doc ...`` cut into ``[n, block_size]`` training sequences, so a
    document starts after EOS, as prompts do (``CausalLM.encode`` adds it as BOS)."""
    import torch

    eos = tokenizer.eos_token_id
    stream: list[int] = []
    for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        stream.append(eos)
        stream.extend(ids)
    n = len(stream) // block_size
    return torch.tensor(stream[:n * block_size], dtype=torch.long).view(n, block_size)


@contextmanager
def cpu_threads(n: int) -> Iterator[None]:
    """torch's intra-op thread count set to ``n`` inside the block, restored after."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def pretrain(recipe: Recipe, corpus: Corpus, device: str = "cpu") -> tuple[Any, Any, dict[str, Any]]:
    """``(model, tokenizer, info)``: the tokenizer trained on the corpus, then the model trained for
    ``recipe.steps`` steps by the shared training loop (AdamW, warm-up then linear decay, clipping).
    :func:`build` runs it on ``recipe.threads`` threads."""
    import torch
    from transformers import GPT2LMHeadModel
    from transformers.utils import logging as hf_logging

    from w2s_bench.train import TrainConfig, train_loop

    hf_logging.set_verbosity_error()
    start = time.perf_counter()
    tokenizer = train_tokenizer(corpus.train, recipe.vocab_size)
    blocks = pack(corpus.train, tokenizer, recipe.block_size)
    torch.manual_seed(recipe.seed)
    model = GPT2LMHeadModel(recipe.gpt2_config(tokenizer.eos_token_id)).to(device)
    config = TrainConfig(lr=recipe.lr, epochs=0.0, min_steps=recipe.steps, batch_size=recipe.batch_size,
                         warmup_fraction=recipe.warmup_fraction, weight_decay=recipe.weight_decay,
                         early_stopping=False, device=device, dtype="float32", seed=recipe.seed)

    def forward(module: torch.nn.Module, indices: list[int]) -> torch.Tensor:
        batch = blocks[indices].to(device)
        return module(input_ids=batch, labels=batch).loss

    train_loop(model, forward, [recipe.block_size] * len(blocks), np.zeros((len(blocks), 0)), config,
               lambda loss, _targets, _progress: loss, None, torch.device(device), label=f"{recipe.name} (pretraining)")
    info = {"parameters": sum(p.numel() for p in model.parameters()), "tokenizer_vocabulary": len(tokenizer),
            "training_tokens": recipe.steps * recipe.batch_size * recipe.block_size,
            "corpus_tokens": int(blocks.numel()), "train_seconds": round(time.perf_counter() - start, 1)}
    return model.eval(), tokenizer, info


def held_out_perplexity(model: Any, tokenizer: Any, corpus: Corpus, name: str) -> dict[str, float]:
    """Perplexity per token of each held-out source, scored as ``w2s_bench.generation.scoring`` scores text."""
    from w2s_bench.generation.lm import CausalLM
    from w2s_bench.generation.scoring import perplexity

    lm = CausalLM(model, tokenizer, next(model.parameters()).device, None, name, model.config.n_positions)
    return {source: round(perplexity(lm, texts), 3) for source, texts in corpus.held_out.items()}


def build(recipe: Recipe, spec: CorpusSpec, target: Path) -> Path:
    """Build ``recipe`` on ``spec``'s corpus into ``target`` (atomically); returns ``target``."""
    from w2s_bench.progress import console

    mirror = f" + {spec.real_text['dataset']} sentences" if spec.real_text else ""
    message = (f"building {recipe.name}: a {recipe.num_parameters() / 1e6:.1f}M-parameter GPT-2-style LM pretrained by "
               f"w2s-bench on generated review text{mirror} (a narrow corpus; not GPT-2), once, into {target}")
    log.info(message)
    if not logging.getLogger().handlers:  # no logging set up (library use): still say what takes the time
        console(stderr=True).print(message, highlight=False)
    start = time.perf_counter()
    with cpu_threads(recipe.threads):
        corpus = build_corpus(spec)
        model, tokenizer, info = pretrain(recipe, corpus)
        perplexities = held_out_perplexity(model, tokenizer, corpus, recipe.name)
    info = {"alias": recipe.name, "recipe": asdict(recipe), "corpus": {**spec.identity(), "sources": corpus.sources,
                                                                       "fingerprint": corpus.fingerprint()},
            "code": builder_fingerprint(), **info, "held_out_perplexity": perplexities}
    with staging_folder(target.parent, target.name) as staging:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        from w2s_bench.results import package_versions

        info.update(build_seconds=round(time.perf_counter() - start, 1),
                    versions=package_versions(("torch", "transformers", "tokenizers")))
        (staging / INFO_FILE).write_text(json.dumps(info, indent=1) + "\n")
        install_folder(staging, target, {"alias": recipe.name, "key": target.name})
    return target


def ladder_path(size: str, data_dir: str | Path | None = None, cache_dir: str | Path | None = None) -> str:
    """The folder of ``offline-lm-<size>``, built on first use (see the module docstring for the key)."""
    recipe = RECIPES[size]
    spec = corpus_spec(data_dir, seed=recipe.seed)
    target = cache_root(cache_dir) / "models" / f"{recipe.name}-{build_key(recipe, spec)}"
    if not (target / MARKER).is_file():
        build(recipe, spec, target)
    return str(target)


def provider(size: str) -> partial[str]:
    """The registry's path provider for ``offline-lm-<size>`` (it takes the run's ``data_dir``)."""
    return partial(ladder_path, size)


def read_info(folder: str | Path) -> dict[str, Any]:
    """The build record of a ladder folder (recipe, corpus, parameters, held-out perplexity, timings)."""
    return json.loads((Path(folder) / INFO_FILE).read_text())

