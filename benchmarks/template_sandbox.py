"""Time rendering rows into examples in Jinja's sandbox against a plain jinja2.Environment.

    python benchmarks/template_sandbox.py --data_dir ../shared/data          # sst2, davidson_hate, ethics_virtue
    python benchmarks/template_sandbox.py --data_dir ../shared/data --tasks casehold --rows 1000

Prints microseconds per row for both environments and their ratio (in one run, so the machine's load
affects both alike), and exits non-zero if the two render any row differently.
"""

from __future__ import annotations

import argparse
import sys
import time

import jinja2

from w2s_bench.tasks import Task, TaskRegistry, templates
from w2s_bench.tasks.data import load_source


def builder_with(environment: jinja2.Environment, task: Task):
    """The task's example builder, its templates compiled in ``environment``."""
    sandbox, templates._ENV = templates._ENV, environment
    try:
        return Task(task.config).builder
    finally:
        templates._ENV = sandbox


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", default="sst2,davidson_hate,ethics_virtue")
    p.add_argument("--data_dir", required=True)
    p.add_argument("--rows", type=int, default=5000)
    args = p.parse_args()
    plain = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)
    registry, same = TaskRegistry.discover(), True
    for name in args.tasks.split(","):
        task = registry.get(name)
        rows = list(next(iter(load_source(task.config, args.data_dir).splits.values())))[:args.rows]
        seconds, examples = {}, {}
        for label, environment in (("plain", plain), ("sandbox", templates._ENV)):
            builder = builder_with(environment, task)
            start = time.perf_counter()
            examples[label] = [builder.build(row, str(i)) for i, row in enumerate(rows)]
            seconds[label] = time.perf_counter() - start
        same &= examples["plain"] == examples["sandbox"]
        per_row = {k: f"{v * 1e6 / len(rows):.0f} us/row" for k, v in seconds.items()}
        print(f"{name}: {len(rows)} rows, plain {per_row['plain']}, sandbox {per_row['sandbox']}, "
              f"ratio {seconds['sandbox'] / seconds['plain']:.2f}, same examples: {examples['plain'] == examples['sandbox']}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
