"""Tasks as data: YAML configs, data sources, example building and protocol splits."""

from w2s_bench.tasks.config import TaskConfig, load_task_config
from w2s_bench.tasks.registry import TaskRegistry
from w2s_bench.tasks.splits import ProtocolSplits
from w2s_bench.tasks.task import LoadedTask, Task

__all__ = ["LoadedTask", "ProtocolSplits", "Task", "TaskConfig", "TaskRegistry", "load_task_config"]
