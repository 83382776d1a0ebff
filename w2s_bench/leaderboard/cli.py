"""``w2s-bench leaderboard ...``: argument parsing only, the work is done by library calls.

    w2s-bench leaderboard validate PATH... [--data_dir DIR] [--rerun N]      exit 0 valid, 1 rejected
    w2s-bench leaderboard submit RESULTS... --name NAME --who WHO --command CMD... [--root DIR]
    w2s-bench leaderboard build --output DIR [--submissions DIR | --board board.json | --results RESULTS ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from rich.markup import escape

from w2s_bench.leaderboard.board import read_board
from w2s_bench.leaderboard.site import build_site
from w2s_bench.leaderboard.submission import DEFAULT_ROOT, submit
from w2s_bench.progress import console as make_console


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="w2s-bench leaderboard", description="the leaderboard: submissions and a static site")
    verbs = p.add_subparsers(dest="verb", required=True, metavar="validate|submit|build")

    validate = verbs.add_parser("validate", help="check submission folders (exit 1 if any is rejected)",
                                description="level 1 (always, offline): files, schema, task versions, the test split "
                                            "rebuilt from the data, every metric recomputed from the samples; level 2 "
                                            "(--rerun N): N cells trained again and compared")
    validate.add_argument("paths", nargs="+", metavar="PATH", help="submission folders (leaderboard/submissions/<name>)")
    validate.add_argument("--data_dir", default=os.environ.get("W2S_BENCH_DATA_DIR"),
                          help="local dataset mirror, to rebuild the test splits (default $W2S_BENCH_DATA_DIR)")
    validate.add_argument("--rerun", type=int, default=0, metavar="N", help="also train N random cells again (level 2)")
    validate.add_argument("--rerun_seed", type=int, default=0, help="which cells --rerun picks (default %(default)s)")
    validate.add_argument("--include_path", action="append", default=[], help="folder of your own task YAMLs")

    sub = verbs.add_parser("submit", help="copy a run into leaderboard/submissions/<name>/ and validate it",
                           description="copy a run's results.json, runs/ and samples/ into ROOT/NAME with a "
                                       "submission.yaml, then validate it (a rejected copy is removed)")
    sub.add_argument("results", nargs="+", metavar="RESULTS", help="the run's --output_path folder (or its results.json); "
                     "several when runs split over processes make one submission")
    sub.add_argument("--name", required=True, help="the submission's name (letters, digits, '.', '_', '-')")
    sub.add_argument("--who", required=True, help="who ran it (a name, a lab)")
    sub.add_argument("--command", required=True, action="append",
                     help="the exact command that produced RESULTS (once per RESULTS when there are several)")
    sub.add_argument("--note", default="", help="free text shown on the submission's page")
    sub.add_argument("--root", default=str(DEFAULT_ROOT), help="the submissions folder (default %(default)s)")
    sub.add_argument("--data_dir", default=os.environ.get("W2S_BENCH_DATA_DIR"), help="local dataset mirror")
    for role in ("weak", "strong", "method"):
        sub.add_argument(f"--{role}", default=None, help=f"the {role} of the cell to submit, when the run has several")

    build = verbs.add_parser("build", help="write the static site (works from file://, no server, no network)",
                             description="write the static leaderboard site: index.html, one page per submission, "
                                         "board.json and assets/")
    build.add_argument("--output", required=True, metavar="DIR", help="folder of the site (new, or an earlier build)")
    source = build.add_mutually_exclusive_group()
    source.add_argument("--submissions", default=str(DEFAULT_ROOT), metavar="DIR",
                        help="folder of submission folders, ranked on the w2s_leaderboard suite (default %(default)s)")
    source.add_argument("--board", metavar="BOARD_JSON", help="a board.json (e.g. from an earlier build)")
    source.add_argument("--results", nargs="+", metavar="RESULTS", help="results.json files or --output_path folders "
                        "of runs: each (weak, strong, method) becomes one unranked submission")
    build.add_argument("--title", default=None, help="page title")
    build.add_argument("--include_path", action="append", default=[], help="folder of your own task YAMLs (their family)")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.verb == "validate":
        return _validate(args.paths, args.data_dir, args.include_path, args.rerun, args.rerun_seed)
    if args.verb == "submit":
        return _submit(args)
    return _build(args)


def _validate(paths: list[str], data_dir: str | None, include_paths: list[str], rerun: int = 0, rerun_seed: int = 0) -> int:
    from w2s_bench.leaderboard.validate import rerun_cells, validate_submission
    from w2s_bench.report.regression import render_check

    console = make_console()
    rejected = 0
    for path in paths:
        result = validate_submission(path, data_dir, include_paths)
        for line in result.unchecked:
            console.print(f"[yellow]not checked[/] {escape(line)}", highlight=False, soft_wrap=True)
        if result.ok and rerun:
            chosen, check = rerun_cells(result, rerun, data_dir=data_dir, seed=rerun_seed, include_paths=include_paths)
            console.print(f"rerun of {len(chosen)} cell(s) of {escape(result.name)}: " + ", ".join(r.key for r in chosen))
            render_check(check, console=console)
            if check.failed:
                result.add("--rerun", f"the rerun does not reproduce the claim: {check.summary()}")
        for problem in result.problems:
            console.print(f"[bold red]rejected[/] {escape(str(problem))}", highlight=False, soft_wrap=True)
        if result.ok:
            runs = len(result.records)
            console.print(f"[green]valid[/] {escape(result.name)}: {runs} records, every metric recomputed"
                          + (f" ({len(result.unchecked)} checks not done: no data)" if result.unchecked else ""))
        else:
            rejected += 1
            console.print(f"[bold red]rejected[/] {escape(result.name)}: {len(result.problems)} problem(s)")
    return 1 if rejected else 0


def _submit(args: argparse.Namespace) -> int:
    folder = submit(args.results, args.name, who=args.who, command="\n".join(args.command), note=args.note, root=args.root,
                    weak=args.weak, strong=args.strong, method=args.method)
    code = _validate([str(folder)], args.data_dir, [])
    if code:
        shutil.rmtree(folder)
        make_console().print(f"removed {escape(str(folder))}: fix the problems above and submit again")
    else:
        print(folder)
    return code


def _build(args: argparse.Namespace) -> int:
    if args.board:
        board = read_board(args.board)
    elif args.results:
        from w2s_bench.leaderboard.from_results import board_from_results
        from w2s_bench.records import read_results

        records = [record for source in args.results for record in read_results(source)]
        board = board_from_results(records, title=args.title or "w2s-bench results", include_paths=args.include_path)
    else:
        from w2s_bench.leaderboard.ranking import build_board, read_submissions

        board = build_board(read_submissions(Path(args.submissions)), include_paths=args.include_path,
                            **({"title": args.title} if args.title else {}))
    print(build_site(board, args.output))
    return 0
