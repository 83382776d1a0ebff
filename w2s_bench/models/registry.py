"""Model names -> estimators.

A name is an alias from the table below, a local folder, or any Hugging Face model id. Each alias
carries defaults (training settings and loading options) that a user's ``--weak_args`` /
``--strong_args`` override. Offline aliases resolve through ``w2s_bench.models.offline``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from w2s_bench.errors import W2SError, did_you_mean
from w2s_bench.generation import ladder
from w2s_bench.models import offline
from w2s_bench.models.base import Estimator
from w2s_bench.models.fingerprint import folder_fingerprint
from w2s_bench.models.tfidf import TfidfLogReg
from w2s_bench.params import Signature, check_settings, settings_of, source_of
from w2s_bench.train_config import TrainConfig

# Burns et al. 2023: 2 epochs, batch 32, a small learning rate. Small encoders (MiniLM, MPNet) get a
# larger one (1e-4) to move in ~60 steps; at least 60 steps when --limit makes epochs tiny. Measured
# on the demo task: 2 epochs give ceiling 0.94 and PGR 0.29; 150 steps give ceiling 0.97 but the
# student then copies its supervisor's errors (PGR 0.07). See the README's "Measurements".
_SMALL_ENCODER = {"lr": 1e-4, "epochs": 2, "min_steps": 60, "max_length": 128}
_DECODER = {"lr": 1e-5, "epochs": 2, "max_length": 512}
# 3B and up: LoRA adapters, and activations recomputed in the backward pass rather than stored (the memory
# `--dry_run` estimates; README "GPU and large models")
_LARGE_DECODER = {**_DECODER, "lora": {"r": 16}, "batch_size": 32, "gradient_checkpointing": True}
# the offline LM ladder: small, so a larger learning rate, and a context of its pretraining block (128 tokens)
_OFFLINE_LM = {"lr": 1e-4, "epochs": 1, "min_steps": 30, "max_length": 128}


@dataclass(frozen=True)
class ModelSpec:
    """What a model name resolves to: how to build it, with which defaults."""

    name: str
    kind: str  # "tfidf", "hf", or "custom" (built by ``factory``)
    path: str | Callable[[], str] | None = None  # hub id, local folder, or an offline provider
    params: dict[str, Any] = field(default_factory=dict)
    offline: bool = False
    description: str = ""
    size: float = 0.0  # parameters in millions, for ordering weak and strong models
    factory: Callable[..., Estimator] | None = None  # custom estimators: factory(seed=..., **params)

    def resolved_path(self, data_dir: str | None = None) -> str:
        """The folder or hub id; a provider that declares a ``data_dir`` parameter (the offline LM ladder, whose
        corpus includes a local mirror's text) gets the run's mirror (None: ``$W2S_BENCH_DATA_DIR``)."""
        if not callable(self.path):
            return str(self.path)
        return self.path(data_dir=data_dir) if "data_dir" in inspect.signature(self.path).parameters else self.path()

    def with_params(self, params: dict[str, Any], where: str = "--weak_args/--strong_args") -> ModelSpec:
        """This spec with ``params`` over its defaults, each checked against :meth:`settings` and
        converted to its type (``where`` names the option they came from, for errors)."""
        signature, open_ended = self.settings()
        checked = check_settings({**self.params, **params}, signature, open_ended, f"model {self.name!r}", where)
        return replace(self, params=checked)

    def settings(self) -> tuple[Signature, bool]:
        """The settings this model takes, with their types, read from the signature that takes them:
        a custom factory's, TfidfLogReg's, or HFEstimator's plus the TrainConfig fields (``seed`` is
        always the run's own); and whether any other name is accepted too (``**kwargs``)."""
        if self.factory is not None:
            return settings_of(self.factory, skip=("seed",))
        if self.kind == "tfidf":
            return settings_of(TfidfLogReg, skip=("seed",))
        training, _ = settings_of(TrainConfig, skip=("seed",))
        return {**training, **_hf_loading_settings()}, False

    def identity(self) -> dict[str, Any]:
        """Everything that determines this model's numbers, for cache keys: the settings, and for
        transformers the folder with a fingerprint of its files' contents (a hub snapshot's commit;
        see ``w2s_bench.models.fingerprint``). Call it after :func:`fetch` has set ``path`` to a folder."""
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "params": self.params}
        if self.factory is not None:
            out["factory"] = source_of(self.factory)
        if self.kind == "hf":
            out["path"] = self.resolved_path()
            out["weights"] = folder_fingerprint(Path(out["path"]))
        return out


def _ladder_description(recipe: ladder.Recipe) -> str:
    return (f"GPT-2-style {recipe.n_layer}x{recipe.n_embd}, built by w2s-bench on first use from generated reviews "
            "(+SST-2 with a mirror): narrow corpus, not GPT-2")


def _hub(hub_id: str, size: float, params: dict[str, Any], description: str = "") -> ModelSpec:
    return ModelSpec(hub_id, "hf", hub_id, dict(params), description=description or hub_id, size=size)


ALIASES: dict[str, ModelSpec] = {
    "tfidf": ModelSpec("tfidf", "tfidf", offline=True, size=0.1,
                       description="TF-IDF (1-2 grams) + logistic regression (scikit-learn)"),
    "minilm-l6": ModelSpec("minilm-l6", "hf", offline.minilm_l6_path, dict(_SMALL_ENCODER), offline=True, size=22.7,
                           description="all-MiniLM-L6-v2 (BERT, 6 layers), packaged on PyPI"),
    "minilm-l2": ModelSpec("minilm-l2", "hf", offline.minilm_l6_path, {**_SMALL_ENCODER, "num_hidden_layers": 2},
                           offline=True, size=15.6, description="all-MiniLM-L6-v2 cut to its first 2 layers"),
    "minilm-l1": ModelSpec("minilm-l1", "hf", offline.minilm_l6_path, {**_SMALL_ENCODER, "num_hidden_layers": 1},
                           offline=True, size=13.8, description="all-MiniLM-L6-v2 cut to its first layer"),
    "mpnet-base": ModelSpec("mpnet-base", "hf", offline.mpnet_base_path, {**_SMALL_ENCODER, "lr": 5e-5}, offline=True,
                            size=109.5, description="all-mpnet-base-v2 (MPNet, 12 layers), five PyPI parts"),
    **{f"gpt2{s}": _hub(f"openai-community/gpt2{s}", n, _DECODER)
       for s, n in [("", 124), ("-medium", 355), ("-large", 774), ("-xl", 1558)]},
    **{f"pythia-{s}": _hub(f"EleutherAI/pythia-{s}", n, _DECODER if n < 3000 else _LARGE_DECODER)
       for s, n in [("70m", 70), ("160m", 160), ("410m", 410), ("1b", 1000), ("1.4b", 1400), ("2.8b", 2800),
                    ("6.9b", 6900), ("12b", 12000)]},
    **{f"qwen2.5-{s.lower()}": _hub(f"Qwen/Qwen2.5-{s}", n, _DECODER if n < 3000 else _LARGE_DECODER)
       for s, n in [("0.5B", 500), ("1.5B", 1500), ("3B", 3000), ("7B", 7000), ("14B", 14000)]},
    "qwen-1.8b": _hub("Qwen/Qwen-1_8B", 1800, _DECODER, "Qwen 1.8B (Burns et al.'s Qwen; needs trust_remote_code)"),
    "qwen-7b": _hub("Qwen/Qwen-7B", 7000, _LARGE_DECODER, "Qwen 7B (Burns et al.'s Qwen; needs trust_remote_code)"),
    "llama3-8b": _hub("meta-llama/Meta-Llama-3-8B", 8000, _LARGE_DECODER, "Llama 3 8B (gated on the hub)"),
    "llama3.1-8b": _hub("meta-llama/Llama-3.1-8B", 8000, _LARGE_DECODER, "Llama 3.1 8B (gated on the hub)"),
    **{recipe.name: ModelSpec(recipe.name, "hf", ladder.provider(size), dict(_OFFLINE_LM), offline=True,
                              size=round(recipe.num_parameters() / 1e6, 2), description=_ladder_description(recipe))
       for size, recipe in ladder.RECIPES.items()},
}

def register_model(name: str, factory: Callable[..., Estimator], description: str = "", size: float = 0.0,
                   params: dict[str, Any] | None = None) -> ModelSpec:
    """Make any object with ``fit`` / ``predict_proba`` usable as ``--weak name`` or ``--strong name``.
    A name already taken (a built-in alias or another registration) is refused, naming both."""
    taken = ALIASES.get(name)
    if taken is not None and taken.factory is not factory:
        raise W2SError(f"model name {name!r} is already registered by "
                       f"{source_of(taken.factory) if taken.factory else 'a built-in alias'}",
                       where=f"register_model({name!r}, {source_of(factory)})", fix="choose another name")
    spec = ModelSpec(name, "custom", factory=factory, params=dict(params or {}), offline=True,
                     description=description or getattr(factory, "__doc__", "") or name, size=size)
    ALIASES[name] = spec
    return spec


def resolve(name: str) -> ModelSpec:
    """An alias, a local folder, or a hub id (anything with a slash)."""
    if name in ALIASES:
        return ALIASES[name]
    if Path(name).expanduser().is_dir():
        return ModelSpec(name, "hf", str(Path(name).expanduser()), dict(_SMALL_ENCODER), offline=True,
                         description="local folder")
    if "/" in name:
        return _hub(name, 0.0, _DECODER)
    offline_names = [n for n, s in ALIASES.items() if s.offline]
    raise W2SError(f"unknown model {name!r}", where="--weak/--strong",
                   fix=f"{did_you_mean(name, ALIASES)}; or give a local folder or a hub id like "
                       f"'openai-community/gpt2' (offline choices: {', '.join(offline_names)})")


def parse_model_args(text: str | None) -> dict[str, str]:
    """``"lr=1e-4,epochs=3,pooling=last"`` -> ``{"lr": "1e-4", ...}``; the values are converted to the
    settings' types by :meth:`ModelSpec.with_params`."""
    if not text:
        return {}
    out: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise W2SError(f"expected key=value, got {item!r}", where="--weak_args/--strong_args",
                           fix="e.g. --strong_args lr=1e-4,epochs=3")
        out[key.strip()] = value.strip()
    return out


def _hf_loading_settings() -> Signature:
    """HFEstimator's own keyword settings (how the model is loaded); the rest of its settings are TrainConfig's.
    (Imported here, not at the top: resolving names and checking settings must not load torch.)"""
    from w2s_bench.models.hf import HFEstimator

    return settings_of(HFEstimator, skip=("path", "config", "name"))[0]


def build_estimator(spec: ModelSpec, seed: int) -> Estimator:
    """A fresh, unfitted estimator for ``spec`` with the run's seed."""
    params = spec.with_params({}).params  # checked and typed, also for a spec that was never given settings
    if spec.factory is not None:
        return spec.factory(seed=seed, **params)
    if spec.kind == "tfidf":
        return TfidfLogReg(**params, seed=seed)
    from w2s_bench.models.hf import HFEstimator

    loading = {k: params.pop(k) for k in list(params) if k in _hf_loading_settings()}
    return HFEstimator(fetch(spec), TrainConfig(**params, seed=seed), name=spec.name, **loading)


def fetch(spec: ModelSpec, data_dir: str | None = None) -> str:
    """The model's local folder, downloading hub models (cached by huggingface_hub) and building offline ones
    (``data_dir``: see :meth:`ModelSpec.resolved_path`); a model that cannot be fetched is reported with the
    offline choices. Custom and TF-IDF models need nothing."""
    if spec.kind != "hf":
        return ""
    path = spec.resolved_path(data_dir)
    if spec.offline or Path(path).is_dir():
        return path
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(path, revision=spec.params.get("revision"),
                                 allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.tiktoken", "*.py"])
    except Exception as exc:
        offline_names = ", ".join(n for n, s in ALIASES.items() if s.offline)
        raise W2SError(f"could not fetch model {path!r} from the Hugging Face hub ({type(exc).__name__})",
                       where=f"model {spec.name!r}",
                       fix=f"check the id and your network; offline models here: {offline_names}; "
                           "or pass a local folder") from exc
