"""The offline LM ladder's pretraining corpus: text the project generates, plus real sentences from a mirror.

Generated documents (no download) are of two kinds:

* reviews: one to three opinion sentences of one polarity from the sentiment lexicon's generator
  (``w2s_bench.tasks.generators.sentiment_lexicon``: templates, a Zipf-weighted word-polarity lexicon,
  negation and contrast), sometimes a neutral sentence, often a closing remark of the same polarity
  ("I would recommend it." / "Never again.");
* neutral text: one to three sentences about the same subjects with no opinion ("The concert starts
  at nine.", "My sister told me about the hotel.").

So the corpus is narrow: a few hundred sentence shapes over a vocabulary of about 1,000 words. It
is there to give small LMs something to learn in a minute of CPU time, with a clear sentiment
signal for the generation family (SFT on positive continuations must shift the samples).

With a local mirror (``--data_dir`` / ``$W2S_BENCH_DATA_DIR``) holding ``stanfordnlp/sst2/train.jsonl``,
as many SST-2 training sentences as there are generated documents are added (lower-cased and
tokenised as SST-2 ships them). IMDB is not used: its mirror has one split, from which the
generation family draws prompts and gold continuations, and pretraining on those would leak them.

Every sentence is assigned a part by a stable hash of its text (``sentiment_lexicon.split_of``):
"train" sentences make the pretraining documents, "validation" ones the held-out documents the
ladder's perplexity is measured on, "test" ones are never used, so no pretraining text is a test
sentence of the demo task or of SST-2's training split seen through this partition.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SST2_FILE = Path("stanfordnlp") / "sst2" / "train.jsonl"

CLOSINGS = {
    1: ["I would recommend it.", "We will be back.", "Highly recommended.", "I would happily go again.",
        "Five stars from me.", "It was worth every penny.", "I would do it again.", "Do not miss it."],
    0: ["I would not recommend it.", "Never again.", "Avoid it.", "I want my money back.", "One star from me.",
        "It was a waste of money.", "I would not go back.", "Skip it."],
}

NEUTRAL_TEMPLATES = [
    "The {subj} starts at {time}.", "The {subj} is near the {place}.", "We booked the {subj} for {day}.",
    "The {subj} lasted about {n} {unit}.", "My {relative} told me about the {subj}.",
    "There is a {subj} next to the {place}.", "We went to the {subj} on {day} {part}.",
    "We talked about the {subj} on the way home.", "I paid for the {subj} with {payment}.",
    "We took the {transport} to the {subj}.", "The {subj} was my {relative}'s idea.",
    "I had never heard of the {subj} before.", "The {subj} was on {day} {part}.",
    "We left the {subj} at {time}.", "The {subj} is open until {time}.", "My {relative} and I shared the {subj}.",
]
SLOTS = {
    "time": ["nine", "ten", "noon", "six", "seven in the evening", "half past eight", "midnight"],
    "place": ["station", "park", "river", "old town", "market", "library", "harbour", "city hall", "airport"],
    "day": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "part": ["morning", "afternoon", "evening", "night"],
    "relative": ["sister", "brother", "mother", "father", "friend", "cousin", "neighbour", "colleague"],
    "n": ["two", "three", "four", "five", "ten", "twenty"],
    "unit": ["hours", "minutes"],
    "payment": ["cash", "a card", "a voucher", "my phone"],
    "transport": ["bus", "train", "tram", "car", "bike", "ferry"],
}
KIND_WEIGHTS = {"review": 0.65, "neutral": 0.35}


@dataclass(frozen=True)
class CorpusSpec:
    """What determines the corpus, cheap to compute (nothing is generated): the number of generated
    documents and their seed, and the real-text file with its sha256 when a mirror has one."""

    documents: int = 12_000
    held_out_documents: int = 400
    seed: int = 0
    real_text: dict[str, Any] | None = None  # {"dataset", "path", "sha256"}

    def identity(self) -> dict[str, Any]:
        return {"documents": self.documents, "held_out_documents": self.held_out_documents, "seed": self.seed,
                "real_text": None if self.real_text is None else {k: self.real_text[k] for k in ("dataset", "sha256")}}


@dataclass
class Corpus:
    """Pretraining documents, and held-out documents (never trained on) by source ("generated", "sst2")."""

    train: list[str]
    held_out: dict[str, list[str]]
    sources: dict[str, int] = field(default_factory=dict)  # pretraining documents per source

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps([self.train, self.held_out]).encode()).hexdigest()[:16]


def corpus_spec(data_dir: str | Path | None, documents: int = 12_000, seed: int = 0) -> CorpusSpec:
    """The spec for a mirror folder (or none): SST-2's training sentences join when the mirror has them."""
    from w2s_bench.tasks.data import resolve_data_dir

    root = resolve_data_dir(data_dir)
    path = root / SST2_FILE if root is not None else None
    real = None
    if path is not None and path.is_file():
        real = {"dataset": "stanfordnlp/sst2 (train)", "path": str(path),
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    return CorpusSpec(documents=documents, seed=seed, real_text=real)


def _lexicon() -> Any:
    """The sentiment generator module, imported when used (the tasks package imports the model registry,
    which lists the ladder, which reads this module)."""
    from w2s_bench.tasks.generators import sentiment_lexicon

    return sentiment_lexicon


def _neutral_sentence(rng: random.Random) -> str:
    lexicon = _lexicon()
    template = rng.choice(NEUTRAL_TEMPLATES + lexicon.FILLERS)
    return template.format(subj=rng.choice(lexicon.SUBJECTS), **{k: rng.choice(v) for k, v in SLOTS.items()})


def _neutral_in(part: str, rng: random.Random) -> str:
    for _ in range(1000):
        sentence = _neutral_sentence(rng)
        if _lexicon().split_of(sentence) == part:
            return sentence
    raise RuntimeError("no neutral sentence in part " + part)  # the templates have thousands of sentences per part


def generated_documents(part: str, n: int, seed: int) -> list[str]:
    """``n`` generated documents whose every sentence belongs to ``part`` ("train" or "validation")."""
    rng = random.Random(f"ladder-corpus:{part}:{seed}")
    opinions = _lexicon().generate(part, 2 * n, seed)  # balanced labels, distinct sentences, all in ``part``
    pools = {label: [r["text"] for r in opinions if r["label"] == label] for label in (0, 1)}
    cursor = {0: 0, 1: 0}
    documents = []
    for _ in range(n):
        kind = rng.choices(list(KIND_WEIGHTS), weights=list(KIND_WEIGHTS.values()))[0]
        if kind == "neutral":
            sentences = [_neutral_in(part, rng) for _ in range(rng.randint(1, 3))]
        else:
            label = rng.randrange(2)
            sentences = []
            for _ in range(rng.randint(1, 3)):
                pool = pools[label]
                sentences.append(pool[cursor[label] % len(pool)])
                cursor[label] += 1
            if rng.random() < 0.3:
                sentences.insert(rng.randrange(len(sentences) + 1), _neutral_in(part, rng))
            if rng.random() < 0.5:
                sentences.append(rng.choice(CLOSINGS[label]))
        documents.append(" ".join(sentences))
    return documents


def _real_sentences(spec: CorpusSpec, part: str, n: int) -> list[str]:
    if spec.real_text is None or n <= 0:
        return []
    path = Path(spec.real_text["path"])
    if hashlib.sha256(path.read_bytes()).hexdigest() != spec.real_text["sha256"]:
        raise RuntimeError(f"{path} changed while the corpus was being built")
    with path.open() as f:
        sentences = sorted({row["sentence"].strip() for row in map(json.loads, f) if row.get("sentence", "").strip()})
    chosen = [s for s in sentences if _lexicon().split_of(s) == part]
    random.Random(f"ladder-corpus:sst2:{spec.seed}").shuffle(chosen)
    return chosen[:n]


def build_corpus(spec: CorpusSpec) -> Corpus:
    """The documents of ``spec``, in a shuffled, seeded order."""
    train = generated_documents("train", spec.documents, spec.seed)
    held_out = {"generated": generated_documents("validation", spec.held_out_documents, spec.seed)}
    sources = {"generated": len(train)}
    real_train = _real_sentences(spec, "train", spec.documents)
    if real_train:
        train += real_train
        held_out["sst2"] = _real_sentences(spec, "validation", spec.held_out_documents)
        sources["sst2"] = len(real_train)
    random.Random(f"ladder-corpus:order:{spec.seed}").shuffle(train)
    return Corpus(train, held_out, sources)
