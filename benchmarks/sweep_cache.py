"""Time a small sweep with a cold, then a warm artefact cache, and one more method added.

Prints wall time and what each step trained or reused, e.g.

    python benchmarks/sweep_cache.py                  # demo task, offline models, about 3.5 minutes on 2 CPU cores
    python benchmarks/sweep_cache.py --limit 200 --strong minilm-l2

The cache is a fresh temporary folder, so the numbers do not depend on earlier runs. The warm run
must train nothing and give the same metrics: the script exits non-zero if it does not.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time

from w2s_bench.evaluator import STEPS, RunConfig, run_sweep
from w2s_bench.progress import set_quiet

METRICS = ("weak_acc", "ceiling_acc", "w2s_acc", "pgr")


def timed_sweep(label: str, config: RunConfig) -> tuple[float, dict[str, tuple]]:
    """Run the sweep, print its time and per-step computed/reused counts, return (seconds, metrics by run)."""
    start = time.perf_counter()
    sweep = run_sweep(config)
    seconds = time.perf_counter() - start
    counts = ", ".join(f"{step} {sweep.store_counts[f'{step} computed']} trained / "
                       f"{sweep.store_counts[f'{step} reused']} reused" for step in STEPS)
    print(f"{label:<22} {seconds:8.1f} s   {len(sweep.records)} runs   {counts}")
    return seconds, {r.key: tuple(r.metrics[m] for m in METRICS) for r in sweep.records}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="w2s_demo_sentiment")
    parser.add_argument("--weak", default="tfidf")
    parser.add_argument("--strong", default="minilm-l2,minilm-l6")
    parser.add_argument("--methods", default="naive,naive_hard")
    parser.add_argument("--extra_method", default="logconf", help="the method added in the third run")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--data_dir", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    set_quiet(True)

    with tempfile.TemporaryDirectory(prefix="w2s_bench_cache_") as cache_dir:
        config = RunConfig(tasks=args.tasks.split(","), weak=args.weak.split(","), strong=args.strong.split(","),
                           methods=args.methods.split(","), seeds=[int(s) for s in args.seeds.split(",")],
                           limit=args.limit, data_dir=args.data_dir, cache_dir=cache_dir)
        print(f"sweep: tasks={args.tasks} weak={args.weak} strong={args.strong} methods={args.methods} "
              f"seeds={args.seeds} limit={args.limit}")
        cold_s, cold = timed_sweep("cold cache", config)
        warm_s, warm = timed_sweep("warm cache", config)
        config.methods = [*config.methods, args.extra_method]
        timed_sweep(f"warm + {args.extra_method}", config)

    print(f"warm / cold: {warm_s / cold_s:.4f} ({cold_s / max(warm_s, 1e-9):.0f}x faster)")
    if warm != cold:
        print("FAILED: the warm run's metrics differ from the cold run's", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
