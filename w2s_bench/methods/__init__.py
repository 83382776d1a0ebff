"""Registered weak-to-strong methods; importing this package registers the built-in ones."""

from w2s_bench.methods import (  # noqa: F401  (each registers its methods)
    bootstrap,
    confident,
    ensemble,
    generative,
    logconf,
    naive,
    probe,
    product,
    search,
)
from w2s_bench.methods.base import METHODS, Method, get_method, register

__all__ = ["METHODS", "Method", "get_method", "register"]
