"""Models: the Estimator interface, adapters (transformers, TF-IDF) and the name registry."""

from w2s_bench.models.base import Estimator
from w2s_bench.models.registry import (
    ALIASES,
    ModelSpec,
    build_estimator,
    parse_model_args,
    register_model,
    resolve,
)

__all__ = ["ALIASES", "Estimator", "ModelSpec", "build_estimator", "parse_model_args", "register_model", "resolve"]
