"""Registered weak-to-strong methods; importing this package registers the built-in ones."""

from w2s_bench.methods import naive  # noqa: F401  (registers naive, naive_hard)
from w2s_bench.methods.base import METHODS, Method, get_method, register

__all__ = ["METHODS", "Method", "get_method", "register"]
