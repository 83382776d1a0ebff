"""Tests for the generated sentiment task (w2s_bench.tasks.generators.sentiment_lexicon)."""

from __future__ import annotations

import pytest

from w2s_bench.errors import W2SError
from w2s_bench.tasks.generators import sentiment_lexicon as gen

POS, NEG = set(gen.POSITIVE), set(gen.NEGATIVE)
NEGATORS = (" not ", " far from ", " anything but ", " never ", " wasn't ", "Nobody would say")


def _polar_words(text: str) -> list[int]:
    """Polarities (1/0) of the lexicon adjectives in ``text``, in order."""
    words = [w.strip(".,;!") for w in text.split()]
    return [1 if w in POS else 0 for w in words if w in POS or w in NEG]


def test_deterministic():
    assert gen.generate("train", 300, seed=3) == gen.generate("train", 300, seed=3)
    assert gen.generate("test", 300, seed=3) == gen.generate("test", 300, seed=3)
    assert gen.generate("train", 300, seed=3) != gen.generate("train", 300, seed=4)


def test_rows_shape_and_ids():
    rows = gen.generate("test", 50, seed=1)
    assert [r["id"] for r in rows] == [f"test-{i}" for i in range(50)]
    for r in rows:
        assert set(r) == {"id", "text", "label"}
        assert isinstance(r["text"], str) and r["text"].strip()
        assert r["label"] in (0, 1)


def test_balanced():
    for split in ("train", "test"):
        labels = [r["label"] for r in gen.generate(split, 2000, seed=0)]
        assert abs(sum(labels) / len(labels) - 0.5) < 0.05
    odd = [r["label"] for r in gen.generate("train", 11, seed=0)]
    assert sum(odd) in (5, 6)


def test_splits_disjoint_and_distinct():
    train = [r["text"] for r in gen.generate("train", 3000, seed=0)]
    test = [r["text"] for r in gen.generate("test", 1000, seed=0)]
    val = [r["text"] for r in gen.generate("validation", 500, seed=0)]
    assert len(set(train)) == len(train) and len(set(test)) == len(test)
    assert not set(train) & set(test)
    assert not set(val) & (set(train) | set(test))


def test_every_row_has_a_polarity_word():
    for r in gen.generate("train", 1000, seed=2):
        assert _polar_words(r["text"]), r


def test_label_rule():
    rows = gen.generate("train", 2000, seed=0)
    negated = contrast = plain = 0
    for r in rows:
        text, polar = r["text"], _polar_words(r["text"])
        if len(polar) == 2:  # contrast: the final judgement decides, the first word disagrees
            contrast += 1
            assert r["label"] == polar[1] and polar[0] != polar[1], r
        elif any(neg in f" {text}" for neg in NEGATORS):  # negated: label flips the word
            negated += 1
            assert r["label"] == 1 - polar[0], r
        else:
            plain += 1
            assert r["label"] == polar[0], r
    assert negated > 50 and contrast > 20 and plain > 1000


def test_hand_picked_rows():
    rows = {r["text"]: r["label"] for r in gen.generate("train", 3000, seed=0)}
    picked = {
        "not": next(t for t in rows if " was not " in t),
        "far from": next(t for t in rows if " far from " in t),
        "but in the end": next(t for t in rows if "but in the end" in t),
    }
    polar = _polar_words(picked["not"])
    assert rows[picked["not"]] == 1 - polar[0]
    assert rows[picked["far from"]] == 1 - _polar_words(picked["far from"])[0]
    # "X at first, but in the end it was Y": label = polarity of Y
    after = picked["but in the end"].split("but in the end")[1]
    assert rows[picked["but in the end"]] == _polar_words(after)[0]


def test_lexicon_is_clean():
    assert not POS & NEG
    assert len(gen.POSITIVE) == len(POS) >= 150 and len(gen.NEGATIVE) == len(NEG) >= 150


def test_unknown_split_and_bad_n():
    with pytest.raises(W2SError, match="split"):
        gen.generate("tset", 10)
    with pytest.raises(W2SError):
        gen.generate("train", -1)
    assert gen.generate("train", 0) == []


def test_fast():
    import time

    start = time.perf_counter()
    gen.generate("train", 10_000, seed=0)
    assert time.perf_counter() - start < 2.0
