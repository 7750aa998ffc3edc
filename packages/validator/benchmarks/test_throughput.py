"""Cost of one validation with djed.validator and with the libraries under it, in one run.

Each round validates the same order ``CALLS`` times, so the median round divided by
``CALLS`` is the cost of one call, the call overhead included. Before it is measured
every case must accept the valid order and reject the invalid one at the right place,
and the invalid rounds count their rejections: a case that gives a wrong answer fails.

The compile group times turning a fresh copy of the schema into a validator (a fresh
dict each round, so no cache applies); the cache group times
``default_cache().get(schema)`` with the schema object it has seen and with an equal
dict it has not.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import djed.validator
import fastjsonschema
import jsonschema  # type: ignore[import-untyped]  # no type information installed
import jsonschema_rs
import pytest
from djed.validator import SchemaValidator, ValidationError, default_cache
from pytest_benchmark.fixture import BenchmarkFixture

CALLS = 1_000
COMPILE_ROUNDS = 100
EQUAL_COPIES = 200  # schemas per round of the equal-dict cache case
CACHE_ROUNDS = 100

Validate = Callable[[Any], object]


class Case(NamedTuple):
    """How to build one validator, what it raises on bad data and where it says it is bad."""

    build: Callable[[dict[str, Any]], Validate]
    error: type[Exception]
    pointer: Callable[[Any], str]


def _pointer(parts: Iterable[object]) -> str:
    return "".join(f"/{part}" for part in parts)


def _djed_fast(schema: dict[str, Any]) -> Validate:
    validator = SchemaValidator(schema)
    assert validator.engine == "fast"
    return validator.validate


def _djed_rs(schema: dict[str, Any]) -> Validate:
    return SchemaValidator(schema, engine="rs").validate


def _jsonschema_draft7(schema: dict[str, Any]) -> Validate:
    format_checker = jsonschema.Draft7Validator.FORMAT_CHECKER
    validate: Validate = jsonschema.Draft7Validator(schema, format_checker=format_checker).validate
    return validate


def _djed_cached(schema: dict[str, Any]) -> Validate:
    # The module-level function with the same schema object on every call.
    return functools.partial(djed.validator.validate, schema)


def _fastjsonschema_pointer(error: fastjsonschema.JsonSchemaValueException) -> str:
    # ``data.lines[1].qty``: unambiguous here, as no key holds a dot or a bracket.
    return _pointer(re.findall(r"[^.\[\]]+", error.name or "data")[1:])


CASES: dict[str, Case] = {
    "djed_fast": Case(_djed_fast, ValidationError, lambda e: e.path),
    "fastjsonschema_raw": Case(
        fastjsonschema.compile, fastjsonschema.JsonSchemaValueException, _fastjsonschema_pointer
    ),
    "djed_rs": Case(_djed_rs, ValidationError, lambda e: e.path),
    "jsonschema_rs_raw": Case(
        lambda schema: jsonschema_rs.validator_for(schema).validate,
        jsonschema_rs.ValidationError,
        lambda e: _pointer(e.instance_path),
    ),
    "jsonschema_draft7": Case(
        _jsonschema_draft7, jsonschema.ValidationError, lambda e: _pointer(e.absolute_path)
    ),
    "djed_cached": Case(_djed_cached, ValidationError, lambda e: e.path),
}


def checked_validator(
    case: str, schema: dict[str, Any], valid: Any, invalid: Any, pointer: str
) -> Validate:
    """Build the case's validator and make sure it tells the two orders apart correctly."""
    build, error, where = CASES[case]
    call = build(schema)
    call(valid)  # raises if the valid order is refused
    with pytest.raises(error) as caught:
        call(invalid)
    assert where(caught.value) == pointer, f"{case} reports the error at the wrong place"
    return call


@pytest.mark.benchmark(group="validator-valid")
@pytest.mark.parametrize("case", list(CASES))
def test_valid(
    benchmark: BenchmarkFixture,
    case: str,
    order_schema: dict[str, Any],
    valid_order: dict[str, Any],
    invalid_order: dict[str, Any],
    invalid_pointer: str,
) -> None:
    """Each round validates the valid order ``CALLS`` times."""
    call = checked_validator(case, order_schema, valid_order, invalid_order, invalid_pointer)
    misses = default_cache().stats().misses

    def batch() -> None:
        for _ in range(CALLS):
            call(valid_order)

    benchmark.extra_info.update(case=case, calls=CALLS)
    benchmark(batch)
    assert default_cache().stats().misses == misses, "the cached case compiled again"


@pytest.mark.benchmark(group="validator-invalid")
@pytest.mark.parametrize("case", list(CASES))
def test_invalid(
    benchmark: BenchmarkFixture,
    case: str,
    order_schema: dict[str, Any],
    valid_order: dict[str, Any],
    invalid_order: dict[str, Any],
    invalid_pointer: str,
) -> None:
    """Each round validates the invalid order ``CALLS`` times and catches the error."""
    call = checked_validator(case, order_schema, valid_order, invalid_order, invalid_pointer)
    error = CASES[case].error
    misses = default_cache().stats().misses

    def batch() -> None:
        rejected = 0
        for _ in range(CALLS):
            try:
                call(invalid_order)
            except error:
                rejected += 1
        assert rejected == CALLS

    benchmark.extra_info.update(case=case, calls=CALLS)
    benchmark(batch)
    assert default_cache().stats().misses == misses, "the cached case compiled again"


COMPILERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "djed_compile": SchemaValidator,
    "fastjsonschema_compile": fastjsonschema.compile,
}


@pytest.mark.benchmark(group="validator-compile")
@pytest.mark.parametrize("case", list(COMPILERS))
def test_compile(
    benchmark: BenchmarkFixture,
    case: str,
    order_schema: dict[str, Any],
    valid_order: dict[str, Any],
    invalid_order: dict[str, Any],
) -> None:
    """Each round compiles a fresh copy of the schema, made outside the timed call."""

    def fresh_schema() -> tuple[tuple[dict[str, Any]], dict[str, Any]]:
        return (copy.deepcopy(order_schema),), {}

    benchmark.extra_info.update(case=case, calls=1)
    compiled = benchmark.pedantic(  # type: ignore[no-untyped-call]  # unannotated upstream
        COMPILERS[case], setup=fresh_schema, rounds=COMPILE_ROUNDS, warmup_rounds=2
    )
    call = compiled.validate if isinstance(compiled, SchemaValidator) else compiled
    call(valid_order)
    with pytest.raises((ValidationError, fastjsonschema.JsonSchemaValueException)):
        call(invalid_order)


@pytest.mark.benchmark(group="validator-cache-hit")
def test_cache_hit_same_object(benchmark: BenchmarkFixture, order_schema: dict[str, Any]) -> None:
    """Each round looks up the schema object the cache has already seen, ``CALLS`` times."""
    cache = default_cache()
    expected = cache.get(order_schema)
    misses = cache.stats().misses

    def batch() -> None:
        get = cache.get
        for _ in range(CALLS):
            get(order_schema)

    benchmark.extra_info.update(case="same_object", calls=CALLS)
    benchmark(batch)
    assert cache.get(order_schema) is expected
    assert cache.stats().misses == misses


@pytest.mark.benchmark(group="validator-cache-hit")
def test_cache_hit_equal_dict(benchmark: BenchmarkFixture, order_schema: dict[str, Any]) -> None:
    """Each round looks up ``EQUAL_COPIES`` new dicts equal to a cached schema (by its JSON)."""
    cache = default_cache()
    expected = cache.get(order_schema)
    misses = cache.stats().misses

    def fresh_copies() -> tuple[tuple[list[dict[str, Any]]], dict[str, Any]]:
        return ([copy.deepcopy(order_schema) for _ in range(EQUAL_COPIES)],), {}

    def batch(schemas: list[dict[str, Any]]) -> None:
        get = cache.get
        for schema in schemas:
            get(schema)

    benchmark.extra_info.update(case="equal_dict", calls=EQUAL_COPIES)
    benchmark.pedantic(  # type: ignore[no-untyped-call]  # unannotated upstream
        batch, setup=fresh_copies, rounds=CACHE_ROUNDS, warmup_rounds=1
    )
    assert cache.get(copy.deepcopy(order_schema)) is expected
    assert cache.stats().misses == misses, "an equal schema was compiled again"
