"""Tests for the chess tasks: Lichess rows (w2s_bench.chess.puzzles), generated mates
(w2s_bench.chess.mates and its generator) and the YAML tasks under tasks/chess/."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import chess
import pytest

from w2s_bench.chess import mates, puzzles
from w2s_bench.errors import W2SError
from w2s_bench.tasks import Task, TaskRegistry
from w2s_bench.tasks.generators import chess_mates

SCHOLAR = {"PuzzleId": "scholar", "FEN": "r1bqkbnr/pppp1ppp/2n5/4p2Q/2B1P3/8/PPPP1PPP/RNB1K1NR b KQkq - 3 3",
           "Moves": "g8f6 h5f7", "Rating": 600, "Themes": "mate mateIn1"}  # 3...Nf6?? 4.Qxf7#
BACK_RANK = {"PuzzleId": None, "FEN": "6Qk/p1p3pp/4N3/1p6/2q1r1n1/2B5/PP4PP/3R1R1K b - - 0 28",
             "Moves": "h8g8 f1f8 g8f8 d1d8", "Rating": 588, "Themes": None}  # Lichess 001KR, Kxg8 Rf8#
ONE_REPLY = {"PuzzleId": "forced", "FEN": "r6k/8/8/8/8/8/3R2PP/7K b - - 0 1", "Moves": "a8a1 d2d1", "Rating": 700}


def _mates_in_1(board: chess.Board) -> list[chess.Move]:
    """All mating moves, by brute force (independent of the generator's move filter)."""
    return [m for m in board.legal_moves if puzzles.gives_mate(board, m)]


def _forces_mate_in_2(board: chess.Board, move: chess.Move) -> bool:
    board.push(move)
    replies = list(board.legal_moves)
    ok = bool(replies)
    for reply in replies:
        board.push(reply)
        ok = ok and bool(_mates_in_1(board))
        board.pop()
    board.pop()
    return ok


def _check_row(row: dict) -> chess.Board:
    """Shared invariants of a chess row; returns the puzzle position."""
    board = chess.Board(row["fen"])
    moves = [board.parse_san(san) for san in row["choices"]]  # raises if a choice is illegal or ambiguous
    assert len(row["choices"]) == puzzles.N_CHOICES and len(set(moves)) == puzzles.N_CHOICES
    assert row["choices"][0] == row["solution"]
    assert not any(san.endswith(("+", "#")) for san in row["choices"])
    assert not any(puzzles.gives_mate(board, m) for m in moves[1:])
    assert row["to_move"] == ("White" if board.turn else "Black")
    assert isinstance(row["rating"], int) and isinstance(row["themes"], str)
    return board


# --- Lichess rows -------------------------------------------------------------------------------

def test_lichess_row_plays_the_first_move_and_targets_the_second():
    row = puzzles.lichess_row(SCHOLAR)
    board = _check_row(row)
    assert row["fen"] == "r1bqkb1r/pppp1ppp/2n2n2/4p2Q/2B1P3/8/PPPP1PPP/RNB1K1NR w KQkq - 4 4"  # after 3...Nf6
    assert row["last_move"] == "Nf6" and row["solution"] == "Qxf7" and row["to_move"] == "White"
    assert puzzles.gives_mate(board, board.parse_san("Qxf7"))
    # pinned: distractors are seeded by the puzzle id with crc32, the same in every process
    assert row["choices"] == ["Qxf7", "Na3", "a4", "Bb3"]
    assert row["pieces"].startswith("White: Ke1 Qh5 Ra1 Rh1 Bc1 Bc4 Nb1 Ng1 Pa2") and "; Black: Ke8 Qd8" in row["pieces"]

    other = puzzles.lichess_row(BACK_RANK)
    _check_row(other)
    assert other["solution"] == "Rf8" and other["last_move"] == "Kxg8" and other["themes"] == ""
    assert other["id"].startswith("fen-") and other["id"] == puzzles.lichess_row(dict(BACK_RANK))["id"]


def test_lichess_docs_skips_malformed_and_forced_positions():
    bad = [{**SCHOLAR, "Moves": "g8f5 h5f7"},       # illegal first move
           {**SCHOLAR, "Moves": "g8f6 h5f8"},       # illegal solution
           {**SCHOLAR, "Moves": "g8f6"},            # no solution move
           {**SCHOLAR, "FEN": "not a fen"}, {**SCHOLAR, "FEN": None}, {**SCHOLAR, "Moves": None},
           {**SCHOLAR, "Rating": None},
           ONE_REPLY]                                # only Rd1 answers the check: no distractors
    docs = puzzles.lichess_docs([SCHOLAR, *bad, BACK_RANK])
    assert [d["solution"] for d in docs] == ["Qxf7", "Rf8"]


def test_lichess_mirror_rows_are_legal(shared_data):
    with (shared_data / "Lichess/chess-puzzles/train.jsonl").open() as f:
        rows = [json.loads(line) for line in f]
    docs = puzzles.lichess_docs(rows)
    skipped = len(rows) - len(docs)
    assert skipped == 253  # positions with 2-3 legal moves, see w2s_bench/chess/puzzles.py
    assert skipped / len(rows) < 0.03
    assert len({d["id"] for d in docs}) == len(docs)
    for doc in docs:
        _check_row(doc)
    source = {r["PuzzleId"]: r for r in rows if r["PuzzleId"]}
    for doc in random.Random(0).sample([d for d in docs if d["id"] in source], 200):
        board = chess.Board(source[doc["id"]]["FEN"])
        first, solution = source[doc["id"]]["Moves"].split()[:2]
        board.push_uci(first)
        assert board.fen() == doc["fen"] and puzzles.san(board, chess.Move.from_uci(solution)) == doc["solution"]


# --- generated mates ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def generated() -> dict[str, list[dict]]:
    return {split: mates.generate_mates(split, 12, seed=0) for split in mates.SPLITS}


def test_mates_in_1_are_unique_mates(generated):
    rows = [r for split in generated.values() for r in split if r["mate_in"] == 1]
    assert len(rows) == 3 * 6
    for row in rows:
        board = _check_row(row)
        assert [puzzles.san(board, m) for m in _mates_in_1(board)] == [row["solution"]]
        assert row["themes"] == "mateIn1" and row["rating"] == mates.RATINGS[1]


def test_mates_in_2_are_forced_and_unique(generated):
    rows = [r for split in generated.values() for r in split if r["mate_in"] == 2]
    assert len(rows) == 3 * 6
    for row in rows:
        board = _check_row(row)
        assert not _mates_in_1(board)
        forcing = [m for m in board.legal_moves if _forces_mate_in_2(board, m)]
        assert [puzzles.san(board, m) for m in forcing] == [row["solution"]]
        assert row["themes"] == "mateIn2" and row["rating"] == mates.RATINGS[2]


def test_mates_deterministic_and_splits_disjoint(generated):
    assert mates.generate_mates("train", 12, seed=0) == generated["train"]
    assert mates.generate_mates("train", 12, seed=1) != generated["train"]
    positions = {split: {chess.Board(r["fen"]).epd() for r in rows} for split, rows in generated.items()}
    assert all(len(positions[s]) == len(generated[s]) for s in mates.SPLITS)
    assert not positions["train"] & positions["test"]
    assert not positions["validation"] & (positions["train"] | positions["test"])
    assert [r["mate_in"] for r in generated["test"][:4]] == [1, 2, 1, 2]
    with pytest.raises(W2SError, match="unknown split"):
        mates.generate_mates("dev", 2)


def test_check_candidates_contain_every_check():
    boards = [chess.Board("8/8/8/R1pP3k/8/8/8/K7 w - c6 0 1"),  # en passant discovers the rook
              chess.Board("8/5P2/8/8/8/8/8/K4k2 w - - 0 1"),  # promotion opens the file for itself
              chess.Board("5k2/8/8/8/8/8/8/4K2R w K - 0 1")]  # castling checks
    positions = mates.attacking_positions(random.Random(0))
    boards += [next(positions).copy() for _ in range(300)]
    rng = random.Random(1)
    board = chess.Board()
    while len(boards) < 600:
        board.push(rng.choice(list(board.legal_moves)))
        boards.append(board.copy())
        if board.is_game_over():
            board = chess.Board()
    for board in boards:
        candidates = mates.check_candidates(board)
        assert len(candidates) == len(set(candidates)) and all(board.is_legal(m) for m in candidates)
        assert {m for m in board.legal_moves if board.gives_check(m)} <= set(candidates), board.fen()


def test_generator_caches_rows(tmp_path, monkeypatch):
    monkeypatch.setenv("W2S_BENCH_CACHE", str(tmp_path))
    monkeypatch.delenv(chess_mates.ENV_VERIFY, raising=False)
    rows = chess_mates.generate("test", 4, seed=3)
    path = chess_mates.cache_path("test", 4, 3)
    assert path.is_file() and path.parent == tmp_path / "chess_mates"
    assert f"v{mates.GENERATOR_VERSION}-" in path.name
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind

    def fail(*args, **kwargs):
        raise AssertionError("regenerated instead of reading the cache")

    monkeypatch.setattr(chess_mates, "generate_mates", fail)
    assert chess_mates.generate("test", 4, seed=3) == rows


@pytest.mark.parametrize("damage", ["truncate", "drop a row", "not utf-8"])
def test_a_damaged_generator_cache_file_is_regenerated(tmp_path, monkeypatch, damage):
    monkeypatch.setenv("W2S_BENCH_CACHE", str(tmp_path))
    monkeypatch.delenv(chess_mates.ENV_VERIFY, raising=False)
    rows = chess_mates.generate("test", 3, seed=5)
    path = chess_mates.cache_path("test", 3, 5)
    text = path.read_bytes()
    damaged = {"truncate": text[:-20], "drop a row": b"\n".join(text.splitlines()[:2]) + b"\n",
               "not utf-8": text.replace(b"{", b"\xff{", 1)}[damage]
    path.write_bytes(damaged)
    assert chess_mates.generate("test", 3, seed=5) == rows
    assert path.read_bytes() == text


@pytest.mark.skipif(chess_mates.engine_path() is None, reason="stockfish not installed (apt-get install stockfish)")
def test_engine_agrees(generated):
    rows = generated["validation"][:6]
    mates.verify_with_engine(rows, chess_mates.engine_path())
    wrong = {**rows[1], "solution": rows[1]["choices"][1]}
    with pytest.raises(W2SError, match="disagree"):
        mates.verify_with_engine([wrong], chess_mates.engine_path())


# --- YAML tasks ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def registry() -> TaskRegistry:
    return TaskRegistry.discover()


def test_tags(registry):
    assert set(registry.expand(["w2s_chess"])) == {"chess", "chess_binary", "chess_easy", "chess_medium", "chess_hard",
                                                   "chess_generated", "chess_generated_binary"}
    assert set(registry.expand(["chess_ratings"])) == {"chess_easy", "chess_medium", "chess_hard"}
    assert set(registry.expand(["chess_offline"])) == {"chess_generated", "chess_generated_binary"}


def test_lichess_tasks_load(registry, shared_data):
    loaded = registry.get("chess").load(seed=0, limit=100, data_dir=shared_data)
    assert loaded.num_classes == 4 and len(loaded.splits.test) == 100
    assert any("carved from 'train'" in note for note in loaded.splits.notes)
    example = loaded.splits.test[0]
    assert example.texts[0].startswith("Chess puzzle. ") and "\nBest move: " in example.texts[0]
    assert len({text.rsplit("Best move: ", 1)[1] for text in example.texts}) == 4

    binary = registry.get("chess_binary").load(seed=0, limit=1000, data_dir=shared_data)
    assert binary.class_names == ["incorrect", "correct"]
    labels = [ex.label for ex in binary.splits.test]
    assert 0.45 < sum(labels) / len(labels) < 0.55


@pytest.mark.parametrize("name, low, high", [("chess_easy", 0, 1100), ("chess_medium", 1100, 1600),
                                             ("chess_hard", 1600, 10_000)])
def test_rating_buckets(registry, shared_data, name, low, high):
    loaded = registry.get(name).load(seed=0, limit=50, data_dir=shared_data)
    rows = loaded.source.splits["train"]
    assert len(rows) >= 2000 and all(low <= r["rating"] < high for r in rows)


@pytest.mark.parametrize("name", ["chess_generated", "chess_generated_binary"])
def test_generated_tasks_load_without_data(registry, tmp_path, monkeypatch, name):
    monkeypatch.setenv("W2S_BENCH_CACHE", str(tmp_path))
    config = registry.get(name).config
    assert config.dataset_kwargs["splits"] == {"train": 3000, "test": 1000} and config.process_docs is None
    small = replace(config, dataset_kwargs={**config.dataset_kwargs, "splits": {"train": 24, "test": 8}})
    loaded = Task(small).load(seed=0, data_dir=tmp_path / "no_data_here")
    assert loaded.source.origin.startswith("generator:chess_mates") and len(loaded.splits.test) == 8
    assert loaded.num_classes == (2 if config.binarize_choices else 4)
