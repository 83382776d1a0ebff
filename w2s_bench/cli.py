"""Command line: argument parsing only; the work is done by library calls.

    w2s-bench [run options]          run a sweep (no options: the offline embedded demo)
    w2s-bench ls tasks|models|methods
    w2s-bench validate FILE.yaml ...
    w2s-bench compare NEW BASELINE [--tolerance T] [--metrics M1,M2] [--two_sided]   exit 1 on a regression
    w2s-bench plot RESULTS [--output_dir DIR]       accuracy, PGR, misfit-vs-gain and PGR-by-size figures (PNG)
    w2s-bench report RESULTS --format md|csv|latex|html   paper-ready tables, method comparisons included
    w2s-bench leaderboard validate|submit|build ... submissions and the static site (w2s_bench.leaderboard.cli)

Exit codes: 0 done; 1 ``compare`` found a regression; 2 bad input (a clear error, nothing trained
after it); 3 a sweep finished but some runs failed for a data reason (recorded, with the reason, in
results.json and the table); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import inspect
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from w2s_bench.defaults import DEFAULT_STRONG, DEFAULT_TASKS, DEFAULT_WEAK, STEPS
from w2s_bench.errors import W2SError
from w2s_bench.files import atomic_write_text
from w2s_bench.progress import console as make_console
from w2s_bench.progress import set_quiet
from w2s_bench.records import read_results

if TYPE_CHECKING:  # the sweep imports torch: only `run` loads it (see run_parser)
    from w2s_bench.evaluator import Plan, RunConfig
    from w2s_bench.models.memory import MemoryEstimate

SUBCOMMANDS = ("run", "ls", "validate", "compare", "plot", "report", "leaderboard")
EXIT_SOME_RUNS_FAILED = 3


def _list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in _list(text)]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--seeds takes integers like 0,1,2, got {text!r}") from exc
    if not seeds or not all(0 <= s < 2**32 for s in seeds):  # what numpy and scikit-learn accept as a seed
        raise argparse.ArgumentTypeError(f"--seeds takes integers in [0, 2**32) like 0,1,2, got {text!r}")
    return seeds


def run_parser() -> argparse.ArgumentParser:
    """The run options. Nothing here imports torch (``--help`` starts in well under a second): the
    sweep itself (``w2s_bench.evaluator``) is imported by :func:`_run` only."""
    from w2s_bench.methods.base import split_method_list
    from w2s_bench.models.registry import parse_model_args

    p = argparse.ArgumentParser(prog="w2s-bench", description="Weak-to-strong generalization benchmark. "
                                "Subcommands: run (default), ls tasks|models|methods, validate FILE.")
    p.add_argument("--tasks", type=_list, default=DEFAULT_TASKS, help="task, group or tag names, comma separated")
    p.add_argument("--weak", type=_list, default=DEFAULT_WEAK, help="weak model(s): alias, local folder or hub id")
    p.add_argument("--strong", type=_list, default=DEFAULT_STRONG, help="strong model(s)")
    p.add_argument("--methods", type=split_method_list, default=["naive"],
                   help='w2s methods, comma separated, each name or name(key=value,...) or a method YAML file, '
                        'e.g. "naive,logconf(alpha_max=0.5)"')
    p.add_argument("--via", type=_list, default=None,
                   help="intermediate models of the bootstrap chain, weak to strong (sets bootstrap(via=...))")
    p.add_argument("--seeds", type=_seeds, default=[0], help="run seeds, e.g. 0,1,2")
    p.add_argument("--limit", type=int, default=None, help="cap on examples per split (train_a, train_b, test)")
    p.add_argument("--data_dir", default=None, help="local dataset mirror (<dir>/<hub id>[/<config>]/<split>.jsonl); "
                   "default $W2S_BENCH_DATA_DIR, else the Hugging Face hub")
    p.add_argument("--include_path", action="append", default=[], help="extra folder (or file) of task YAMLs")
    p.add_argument("--weak_args", type=parse_model_args, default={}, help="e.g. Cs=0.5 (TF-IDF) or lr=1e-4,epochs=3")
    p.add_argument("--strong_args", type=parse_model_args, default={}, help="e.g. lr=1e-5,epochs=2,lora=true")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: best available)")
    p.add_argument("--output_path", default=None, help="folder for results.json, comparisons.json, per-run records "
                   "and samples")
    p.add_argument("--use_cache", default=None, metavar="DIR", help="artefact cache (weak labels, ceilings, "
                   "predictions), shared by sweeps and reruns; default $W2S_BENCH_CACHE/artefacts")
    p.add_argument("--no_cache", action="store_true", help="neither read nor write the artefact cache")
    p.add_argument("--rerun", action="store_true", help="recompute every artefact, overwriting the cached ones")
    p.add_argument("--dry_run", action="store_true", help="print the plan (runs, trainings after the cache, each "
                   "model's folder and settings, the strong models' training memory estimate) and stop")
    p.add_argument("--all_pairs", action="store_true", help="also run (weak, strong) pairs whose weak model is not "
                   "smaller than the strong one")
    p.add_argument("--baseline", default=None, help="method the others are compared with (paired, same seeds); "
                   "default naive")
    p.add_argument("--backend", choices=["local", "ray"], default="local", help="where the cells run: this process "
                   "(default) or Ray tasks (ray.init(): a local cluster, or the one RAY_ADDRESS names)")
    p.add_argument("--n_resamples", type=int, default=1000, help="bootstrap resamples for CIs")
    p.add_argument("--format", choices=["table", "markdown", "csv"], default="table", help="what to print")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    console = make_console(stderr=True)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        command = argv.pop(0) if argv and argv[0] in SUBCOMMANDS else "run"
        if command == "ls":
            return _ls(argv)
        if command == "validate":
            return _validate(argv)
        if command == "compare":
            return _compare(argv)
        if command == "plot":
            return _plot(argv)
        if command == "report":
            return _report(argv)
        if command == "leaderboard":
            return _leaderboard(argv)
        return _run(argv)
    except W2SError as exc:
        # escaped: a message quotes user input, which may hold rich markup ("[/x]"); soft-wrapped: one line
        console.print(f"[bold red]error[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: finished runs are saved; rerun the same command to resume")
        return 130


def _run(argv: list[str]) -> int:
    args = run_parser().parse_args(argv)  # before importing the sweep: --help and bad options stay light
    from w2s_bench.evaluator import RunConfig, plan_sweep, run_sweep
    from w2s_bench.report import render_comparisons, render_rich, to_csv, to_markdown

    set_quiet(args.quiet)
    methods = args.methods
    if args.via:
        if "bootstrap" not in methods:
            raise W2SError("--via gives the chain of the bootstrap method", where="--via", fix="add --methods bootstrap")
        methods = [f"bootstrap(via={'+'.join(args.via)})" if m == "bootstrap" else m for m in methods]
    if args.no_cache and args.use_cache:
        raise W2SError("--use_cache and --no_cache contradict each other", where="--use_cache/--no_cache",
                       fix="give one of them")
    config = RunConfig(tasks=args.tasks, weak=args.weak, strong=args.strong, methods=methods, seeds=args.seeds,
                       limit=args.limit, data_dir=args.data_dir, include_paths=args.include_path,
                       weak_args=args.weak_args, strong_args=args.strong_args, device=args.device,
                       output_path=args.output_path, n_resamples=args.n_resamples, all_pairs=args.all_pairs,
                       rerun=args.rerun, baseline=args.baseline, backend=args.backend)
    if args.no_cache or args.use_cache:
        config.cache_dir = None if args.no_cache else args.use_cache
    if args.dry_run:
        _print_plan(plan_sweep(config), config)
        return 0
    sweep = run_sweep(config)
    records = sweep.records
    if args.format == "markdown":
        print(to_markdown(records), end="")
    elif args.format == "csv":
        print(to_csv(records), end="")
    else:
        render_rich(records)
        render_comparisons(sweep.comparisons)
    err = make_console(stderr=True)
    counts = sweep.store_counts
    steps = list(dict.fromkeys([*STEPS, *(key.rsplit(" ", 1)[0] for key in counts)]))  # a generation run has its own steps
    err.print("computed: " + ", ".join(f"{counts.get(f'{s} computed', 0)} {s}" for s in steps)
              + "; reused from the cache: " + ", ".join(f"{counts.get(f'{s} reused', 0)} {s}" for s in steps))
    if args.output_path:
        out = Path(args.output_path)
        atomic_write_text(out / "results.md", to_markdown(records))
        atomic_write_text(out / "results.csv", to_csv(records))
        err.print(f"results in {out}/ (results.json, comparisons.json, results.md, results.csv, runs/, samples/)")
    if sweep.failed:
        err.print(f"[bold red]{len(sweep.failed)} of {len(records)} runs failed[/] (the note column and results.json "
                  f"say why): {', '.join(r.key for r in sweep.failed)}", highlight=False)
        return EXIT_SOME_RUNS_FAILED
    return 0


def _print_plan(plan: Plan, config: RunConfig) -> None:
    table = Table(title=f"plan: {len(plan.cells)} runs; cache: {config.cache_dir or 'off'}")
    for column in ("step", "to train", "in the cache"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for step in dict.fromkeys([*STEPS, *plan.to_train, *plan.cached]):  # a generation run has its own steps
        table.add_row(step, str(plan.to_train[step]), str(plan.cached[step]))
    table.add_row("[bold]total", f"[bold]{plan.trainings}", str(sum(plan.cached.values())))
    console = make_console()
    console.print(table)
    for weak, strong in plan.skipped_pairs:
        console.print(escape(f"skipped pair: weak {weak} is not smaller than strong {strong} (--all_pairs runs it)"))
    for role, specs in plan.models.items():
        for name, spec in specs.items():
            source = f" = {spec.name}" if spec.name != name else ""
            where = f" -> {spec.path}" if spec.kind == "hf" else ""
            settings = ", ".join(f"{k}={v}" for k, v in spec.params.items()) or "defaults"
            console.print(escape(f"{role} {name}{source}{where}: {settings}"), highlight=False, soft_wrap=True)
    if plan.memory:
        console.print(_memory_table(plan.memory))


def _memory_table(estimates: dict[str, MemoryEstimate]) -> Table:
    """The strong models' training memory (``w2s_bench.models.memory``), in GB per process."""
    from w2s_bench.models.memory import GB

    def gb(value: float | None) -> str:
        return "?" if value is None else f"{value / GB:.2f}"

    table = Table(title="training memory estimate per process (GB; rough: no CUDA context or fragmentation)")
    for column in ("strong", "params (M)", "trainable (M)", "weights", "grads", "AdamW", "activations ckpt on / off",
                   "total", "dtype (weights / compute)", "micro-batch tokens"):
        table.add_column(column, justify="left" if column in ("strong", "dtype (weights / compute)") else "right")
    for name, e in estimates.items():
        on, off = gb(e.activations_checkpointed), gb(e.activations_stored)
        activations = f"[bold]{on}[/] / {off}" if e.gradient_checkpointing else f"{on} / [bold]{off}[/]"
        table.add_row(escape(name), f"{e.parameters / 1e6:,.1f}" + ("" if e.counted_from == "config" else " (nominal)"),
                      f"{e.trainable / 1e6:,.2f} ({'LoRA' if e.lora else 'full'})", gb(e.weights), gb(e.gradients),
                      gb(e.optimizer), activations, f"[bold]{gb(e.total)}", f"{e.weights_dtype} / {e.compute_dtype}",
                      f"{e.micro_batch_tokens:,}")
    table.caption = ("activations: the setting in bold is the model's gradient_checkpointing; one micro-batch of texts at "
                     "max_length tokens (--strong_args micro_batch_size=..., gradient_checkpointing=..., max_length=...)")
    return table


def _ls(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="w2s-bench ls")
    p.add_argument("what", choices=["tasks", "models", "methods"])
    p.add_argument("--include_path", action="append", default=[])
    p.add_argument("--data_dir", default=None, help="count the rows of local mirrors (default $W2S_BENCH_DATA_DIR)")
    args = p.parse_args(argv)
    table = Table()
    if args.what == "tasks":
        from w2s_bench.tasks import TaskRegistry
        from w2s_bench.tasks.data import local_split_sizes, resolve_data_dir

        registry = TaskRegistry.discover(args.include_path)
        data_root = resolve_data_dir(args.data_dir)
        for column in ("task", "family", "output type", "rows (local)", "version", "tags", "dataset"):
            table.add_column(column)
        hub_only = []
        for name in registry.names():
            config = registry.get(name).config
            sizes = local_split_sizes(config, args.data_dir)
            if sizes is None and data_root is not None:
                hub_only.append(name)
            rows = " / ".join(f"{s} {n:,}" for s, n in sizes.items()) if sizes is not None else "hub"
            cells = (name, config.family, config.output_type + (" (binarized)" if config.binarize_choices else ""),
                     "none here (hub only)" if name in hub_only else rows, config.version, ",".join(config.tag),
                     config.dataset_path + (f" ({config.dataset_name})" if config.dataset_name else ""))
            table.add_row(*map(escape, cells))  # a user's task file may hold rich markup
        groups = ", ".join(f"{g} ({len(m)})" for g, m in sorted(registry.groups.items()))
        table.caption = escape(f"groups and tags: {groups}")
        if hub_only:
            table.caption += escape(f"\n{len(hub_only)} tasks have no local data under {data_root}: they load from the hub "
                                    f"({', '.join(hub_only)})")
    elif args.what == "models":
        from w2s_bench.models import ALIASES

        for column in ("alias", "kind", "size (M)", "offline", "source"):
            table.add_column(column)
        for name, spec in ALIASES.items():
            table.add_row(name, spec.kind, f"{spec.size:g}", "yes" if spec.offline else "", spec.description)
        table.caption = "also accepted: any local model folder or Hugging Face model id"
    else:
        from w2s_bench.methods import METHODS

        for column in ("method", "families", "parameters (defaults)", "description"):
            table.add_column(column)
        for name, factory in METHODS.items():
            params = ", ".join(f"{p.name}={p.default}" for p in inspect.signature(factory).parameters.values())
            method = factory()
            table.add_row(name, ", ".join(method.families), params, method.description)
        table.caption = 'set parameters with --methods "name(key=value,...)" or a method YAML (method: name, params: {...})'

    make_console().print(table)
    return 0


def _validate(argv: list[str]) -> int:
    from w2s_bench.families import make_task
    from w2s_bench.tasks import load_task_config

    p = argparse.ArgumentParser(prog="w2s-bench validate", description="check task YAMLs; with data available, "
                                "also render the first examples")
    p.add_argument("files", nargs="+")
    p.add_argument("--data_dir", default=None)
    p.add_argument("--schema_only", action="store_true", help="do not load the dataset")
    args = p.parse_args(argv)
    console = make_console()
    for file in args.files:
        if not Path(file).is_file():
            raise W2SError(f"{'is a folder' if Path(file).is_dir() else 'no such file'}", where=file,
                           fix="give task YAML files (`w2s-bench ls tasks` lists the shipped ones)")
        task = make_task(load_task_config(Path(file)))
        if args.schema_only:
            console.print(f"[green]ok[/] {escape(file)}: task {task.name!r} (schema)")
            continue
        loaded = task.load(seed=0, limit=50, data_dir=args.data_dir)
        what, first = loaded.describe()
        console.print("[green]ok[/] " + escape(f"{file}: task {task.name!r}, {what}, data "
                                                 f"{loaded.source.origin}, sizes with --limit 50 {loaded.splits.sizes()}"))
        console.print(escape(f"  first test example: {first}"), highlight=False)
    return 0


def _compare(argv: list[str]) -> int:
    from w2s_bench.report import regression

    p = argparse.ArgumentParser(prog="w2s-bench compare", description="check NEW results against a pinned BASELINE, run by "
                                "run (task, weak, strong, method, seed). Exit code 1 when a metric regressed beyond "
                                "tolerance, became undefined, or a baseline run is missing; 0 otherwise.")
    p.add_argument("new", help="results.json, or the --output_path folder holding it")
    p.add_argument("baseline", help="results.json, or the --output_path folder holding it")
    p.add_argument("--tolerance", default=str(regression.DEFAULT_TOLERANCE),
                   help="absolute tolerance for every metric and/or per metric, e.g. 0.02 or w2s_acc=0.01,pgr=0.1 "
                        "(default %(default)s)")
    p.add_argument("--metrics", type=_list, default=regression.DEFAULT_METRICS, help="metrics to compare, comma separated "
                   f"(default {','.join(regression.DEFAULT_METRICS)})")
    p.add_argument("--two_sided", action="store_true", help="an improvement beyond tolerance fails too: pinned results "
                   "must not shift silently")
    p.add_argument("--verbose", action="store_true", help="show every compared value, not only the differences")
    p.add_argument("--format", choices=["table", "markdown"], default="table",
                   help="markdown: for a pull-request comment or a CI job summary")
    args = p.parse_args(argv)
    new, baseline = read_results(args.new), read_results(args.baseline)
    tolerance = regression.parse_tolerance(args.tolerance, args.metrics)
    check = regression.check_against_baseline(new, baseline, tolerance, args.metrics, args.two_sided)
    if args.format == "markdown":
        print(regression.check_markdown(check, verbose=args.verbose), end="")
    else:
        regression.render_check(check, verbose=args.verbose)
    return 1 if check.failed else 0


def _plot(argv: list[str]) -> int:
    from w2s_bench.optional import require
    from w2s_bench.report.plots import FILES, plot_results

    p = argparse.ArgumentParser(prog="w2s-bench plot", description=f"draw {', '.join(FILES)} from a run's results")
    p.add_argument("results", help="results.json, or the --output_path folder holding it")
    p.add_argument("--output_dir", help="where the PNG files go (default: a 'plots' folder beside results.json)")
    args = p.parse_args(argv)
    require("matplotlib", "w2s-bench plot")  # before reading: a missing extra is the first thing to fix
    source = Path(args.results)
    out_dir = Path(args.output_dir) if args.output_dir else (source if source.is_dir() else source.parent) / "plots"
    for path in plot_results(read_results(source), out_dir):
        print(path)
    return 0


def _report(argv: list[str]) -> int:
    from w2s_bench.report.render import FORMATS, report_text

    p = argparse.ArgumentParser(prog="w2s-bench report", description="the paper-ready tables of a run: results and "
                                "the paired method comparisons")
    p.add_argument("results", help="results.json, or the --output_path folder holding it")
    p.add_argument("--format", choices=list(FORMATS), default="md", help="md, csv, latex (booktabs) or html")
    p.add_argument("--output", default=None, help="write to this file (default: print)")
    args = p.parse_args(argv)
    text = report_text(args.results, args.format, read_results(args.results))
    if args.output:
        atomic_write_text(args.output, text)
    else:
        print(text, end="")
    return 0


def _leaderboard(argv: list[str]) -> int:
    from w2s_bench.leaderboard.cli import main as leaderboard_main

    return leaderboard_main(argv)


if __name__ == "__main__":
    sys.exit(main())
