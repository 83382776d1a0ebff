"""The task YAMLs shipped with w2s-bench; installed as the package ``w2s_bench.task_files``."""
