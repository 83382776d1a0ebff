"""The model and method registries refuse a name that is already taken, naming both sources."""

from __future__ import annotations

import pytest
from fakes import NoisyOracle

from w2s_bench.errors import W2SError
from w2s_bench.methods import METHODS, register
from w2s_bench.methods.naive import naive
from w2s_bench.models import ALIASES, register_model


def test_a_model_name_taken_by_a_built_in_alias_is_refused():
    before = ALIASES["tfidf"]
    with pytest.raises(W2SError) as info:
        register_model("tfidf", NoisyOracle)
    message = str(info.value)
    assert "'tfidf' is already registered by a built-in alias" in message and "fakes.NoisyOracle" in message
    assert ALIASES["tfidf"] is before


def test_a_model_name_registered_twice_is_refused_naming_both(register):
    register("my-weak", NoisyOracle, "first")

    def another(seed: int = 0):
        return NoisyOracle(seed)

    with pytest.raises(W2SError) as info:
        register_model("my-weak", another)
    message = str(info.value)
    assert "fakes.NoisyOracle" in message and "another" in message
    assert ALIASES["my-weak"].factory is NoisyOracle


def test_the_register_fixture_still_cleans_up(register):
    register("temporary-model", NoisyOracle, "removed after this test")
    assert "temporary-model" in ALIASES


def test_the_fixture_removed_it():
    assert "temporary-model" not in ALIASES


def test_a_method_name_registered_twice_is_refused_naming_both():
    def my_naive(temperature: float = 1.0):
        return naive(temperature)

    with pytest.raises(W2SError) as info:
        register("naive")(my_naive)
    message = str(info.value)
    assert "w2s_bench.methods.naive.naive" in message and "my_naive" in message
    assert METHODS["naive"] is naive
    assert register("naive")(naive) is naive  # the same factory again (a re-import) is harmless
