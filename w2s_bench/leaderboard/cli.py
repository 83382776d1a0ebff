"""``w2s-bench leaderboard ...``: argument parsing only, the work is done by library calls.

    w2s-bench leaderboard build --output DIR (--board board.json | --results RESULTS ...)
"""

from __future__ import annotations

import argparse

from w2s_bench.leaderboard.board import read_board
from w2s_bench.leaderboard.site import build_site


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="w2s-bench leaderboard", description="the leaderboard: a static site of submissions")
    verbs = p.add_subparsers(dest="verb", required=True, metavar="build")
    build = verbs.add_parser("build", help="write the static site (works from file://, no server, no network)",
                             description="write the static leaderboard site: index.html, one page per submission, "
                                         "board.json and assets/")
    build.add_argument("--output", required=True, metavar="DIR", help="folder of the site (new, or an earlier build)")
    source = build.add_mutually_exclusive_group(required=True)
    source.add_argument("--board", metavar="BOARD_JSON", help="a board.json (e.g. from an earlier build)")
    source.add_argument("--results", nargs="+", metavar="RESULTS", help="results.json files or --output_path folders "
                        "of runs: each (weak, strong, method) becomes one unranked submission")
    build.add_argument("--title", default="w2s-bench results", help="page title with --results (default %(default)s)")
    build.add_argument("--include_path", action="append", default=[], help="folder of your own task YAMLs (their family)")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.board:
        board = read_board(args.board)
    else:
        from w2s_bench.leaderboard.from_results import board_from_results
        from w2s_bench.records import read_results

        records = [record for source in args.results for record in read_results(source)]
        board = board_from_results(records, title=args.title, include_paths=args.include_path)
    print(build_site(board, args.output))
    return 0
