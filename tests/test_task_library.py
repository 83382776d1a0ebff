"""The shipped task library: every YAML validates, the registry covers the benchmark's families, and
every task with a local mirror (or a generator) loads into sound protocol splits.

Tasks whose data is hub-only (no folder in the local mirror) are skipped with the missing folder in
the reason; the hub is never contacted here (an unreachable hub costs ~25 s per dataset).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import jinja2
import pytest

from w2s_bench.tasks import Task, TaskRegistry, load_task_config, templates
from w2s_bench.tasks.config import read_yaml
from w2s_bench.tasks.data import local_split_sizes
from w2s_bench.tasks.registry import shipped_tasks_dir

LIMIT = 200
REQUIRED_FAMILIES = ("nlp", "chess", "reward", "safety")
TRAINING_A, TRAINING_B = ("train_a", "val_a"), ("train_b", "val_b")

def _task_files() -> list[Path]:
    root = shipped_tasks_dir()
    return [p for p in sorted(root.rglob("*.yaml")) if isinstance(read_yaml(p).get("task"), str)
            and "group" not in read_yaml(p)]


@pytest.fixture(scope="module")
def registry() -> TaskRegistry:
    return TaskRegistry.discover()


@pytest.mark.parametrize("path", _task_files(), ids=lambda p: str(p.relative_to(shipped_tasks_dir())))
def test_every_shipped_yaml_passes_schema_validation(path):
    task = Task(load_task_config(path))
    assert task.name == read_yaml(path)["task"]


@pytest.mark.parametrize("path", _task_files(), ids=lambda p: str(p.relative_to(shipped_tasks_dir())))
def test_every_shipped_yaml_follows_the_library_conventions(path):
    config = load_task_config(path)
    assert config.tag, f"{path}: give the task a tag list"
    assert config.description.strip(), f"{path}: give the task a description"
    assert "citation" in config.metadata, f"{path}: metadata needs a citation"
    metrics = {m["metric"] for m in config.metric_list}
    if config.kind == "generation":  # judged text: the protocol's scores and guards are always reported
        return
    assert {"acc", "ece"} <= metrics, f"{path}: metric_list needs acc and ece, has {sorted(metrics)}"
    binary = config.output_type == "classification" and len(config.doc_to_choice) == 2
    if binary or config.binarize_choices:
        assert "auroc" in metrics, f"{path}: binary tasks report auroc"


# tasks whose labels are skewed in training or test (before any balancing): accuracy alone hides a model
# that leans to the majority class
SKEWED = ("jigsaw_toxicity", "legalbench_unfair_tos", "davidson_hate", "wts_safety", "toxigen")


@pytest.mark.parametrize("name", SKEWED)
def test_skewed_tasks_report_balanced_accuracy_and_f1(registry, name):
    assert {"balanced_acc", "f1_macro", "f1_weighted"} <= set(registry.get(name).config.task_metrics)


def test_registry_covers_the_benchmark_families(registry):
    families = {name: registry.get(name).config.family for name in registry.names()}
    missing = [f for f in REQUIRED_FAMILIES if f not in families.values()]
    assert not missing, (f"no shipped task of family {missing} "
                         f"(have {dict(Counter(families.values()))})")
    covered = [name for name, family in families.items() if family in REQUIRED_FAMILIES]
    assert len(covered) >= 20, f"only {len(covered)} tasks over {REQUIRED_FAMILIES}: {covered}"


def test_group_of_tags_and_the_w2s_tags_expand(registry):
    toxicity = registry.expand(["toxicity"])
    assert set(toxicity) == {"jigsaw_toxicity", "civil_comments", "davidson_hate", "toxigen"}
    assert toxicity == registry.expand(["w2s_toxicity"])
    for name in ("w2s_nlp", "w2s_safety", "w2s_legal", "w2s_reward"):
        assert registry.expand([name]), f"{name} expands to nothing"
    assert {"casehold", "legalbench_overruling", "legalbench_unfair_tos"} <= set(registry.expand(["w2s_legal"]))
    assert {"hh_rlhf_harmless", "ethics_justice", "wts_safety"} <= set(registry.expand(["w2s_safety"]))


# ---------------------------------------------------------------- loading on the local mirrors


_LOADED: dict[tuple[str, int], object] = {}
GENERATED_SIZES = {"train": 120, "test": 60}  # generated chess mates take ~0.1 s each: keep the test fast


@pytest.fixture(autouse=True, scope="module")
def _private_cache(tmp_path_factory):
    """Generators that cache to disk write into a temporary folder, not the user's cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("W2S_BENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


def _load(registry, shared_data, name: str, seed: int, fresh: bool = False):
    """One load per (task, seed), shared by the tests below; ``fresh`` loads again (determinism).
    Generated tasks are loaded at small sizes."""
    task = registry.get(name)
    if task.config.dataset_path.startswith("generator:"):
        task = Task(replace(task.config, dataset_kwargs={**task.config.dataset_kwargs, "splits": GENERATED_SIZES}))
    if local_split_sizes(task.config, shared_data) is None:
        pytest.skip(f"no local mirror of {task.config.dataset_path} under {shared_data} (hub only)")
    if fresh:
        return task.load(seed=seed, limit=LIMIT, data_dir=shared_data)
    if (name, seed) not in _LOADED:
        _LOADED[name, seed] = task.load(seed=seed, limit=LIMIT, data_dir=shared_data)
    return _LOADED[name, seed]


def _key(example) -> str | frozenset:
    """The text identity of an example: its text, or its set of candidates (their order is drawn per id)."""
    return example.texts[0] if len(example.texts) == 1 else frozenset(example.texts)


def _pools(splits) -> dict[str, list]:
    return {"train_a+val_a": [e for p in TRAINING_A for e in getattr(splits, p)],
            "train_b+val_b": [e for p in TRAINING_B for e in getattr(splits, p)],
            "test": list(splits.test)}


# the classification tasks: these tests check labelled parts; generation tasks' parts are checked in
# tests/test_generation_family.py
_SHIPPED = TaskRegistry.discover()
TASK_NAMES = [name for name in _SHIPPED.names() if _SHIPPED.get(name).config.kind != "generation"]


@pytest.mark.parametrize("name", TASK_NAMES)
def test_task_loads_with_every_class_in_every_part(registry, shared_data, name):
    loaded = _load(registry, shared_data, name, seed=0)
    splits, config = loaded.splits, loaded.task.config
    assert splits.test, "empty test set"
    for part in ("train_a", "val_a", "train_b", "val_b", "test"):
        for example in getattr(splits, part):
            assert example.texts and all(t.strip() for t in example.texts), f"{part} {example.id}: empty text"
    balanced = config.split.balance_labels or config.binarize_choices
    floor = (0.80 if balanced else 0.20) / loaded.num_classes  # binary: 0.40 / 0.10
    for part in ("train_a", "train_b", "test"):
        counts = Counter(e.label for e in getattr(splits, part))
        absent = [loaded.class_names[k] for k in range(loaded.num_classes) if counts[k] == 0]
        assert not absent, f"{part} lacks class(es) {absent}: {dict(counts)}"
        share = min(counts.values()) / sum(counts.values())
        assert share >= floor, f"{part}: minority class share {share:.2f} < {floor} ({dict(counts)})"


@pytest.mark.parametrize("name", TASK_NAMES)
def test_training_halves_and_test_share_no_example_and_no_text(registry, shared_data, name):
    """Exactly disjoint, also for sources that repeat rows (overruling repeats 37% of its sentences):
    the loader drops training examples whose text repeats a test or an earlier training example."""
    pools = _pools(_load(registry, shared_data, name, seed=0).splits)
    names = list(pools)
    ids = {pool: {e.id for e in examples} for pool, examples in pools.items()}
    texts = {pool: {_key(e) for e in examples} for pool, examples in pools.items()}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not ids[a] & ids[b], f"{a} and {b} share example ids"
            assert not texts[a] & texts[b], f"{a} and {b} share {len(texts[a] & texts[b])} texts"


@pytest.mark.parametrize("name", TASK_NAMES)
def test_splits_are_deterministic_and_the_seed_moves_only_the_halves(registry, shared_data, name):
    first = _load(registry, shared_data, name, seed=0).splits
    again = _load(registry, shared_data, name, seed=0, fresh=True).splits
    other = _load(registry, shared_data, name, seed=1).splits
    for part in ("train_a", "val_a", "train_b", "val_b", "test"):
        assert getattr(first, part) == getattr(again, part), f"{part} differs between two identical loads"
    assert [e.id for e in other.test] == [e.id for e in first.test], "the run seed changed the test set"
    assert {e.id for e in other.train_a} != {e.id for e in first.train_a}, "the run seed did not change train_a"


@pytest.mark.parametrize("name", TASK_NAMES)
def test_the_template_sandbox_renders_every_task_as_the_plain_environment_did(registry, shared_data, name, monkeypatch):
    """Templates moved from a plain jinja2.Environment to the sandbox (tasks/templates.py): every shipped
    task with data gives the same examples, in the same parts, so its cached artefacts stay valid too."""
    sandboxed = _load(registry, shared_data, name, seed=0).splits
    plain = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)
    monkeypatch.setattr(templates, "_ENV", plain)  # how templates were rendered before the sandbox
    unsandboxed = _load(registry, shared_data, name, seed=0, fresh=True).splits
    assert unsandboxed.sizes() == sandboxed.sizes() and unsandboxed == sandboxed
    assert unsandboxed.fingerprint() == sandboxed.fingerprint()


def test_every_task_folder_is_packaged():
    """A non-editable install ships tasks/<family>/*.yaml only for the folders pyproject lists."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    root = Path(__file__).resolve().parents[1]
    packages = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {f"w2s_bench.task_files.{p.parent.name}" for p in (root / "tasks").glob("*/*.yaml")}
    assert folders <= packages, f"add {sorted(folders - packages)} to [tool.setuptools] packages in pyproject.toml"
