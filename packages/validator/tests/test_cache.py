from __future__ import annotations

import json
import subprocess
import sys
import threading
from typing import Any

import pytest
from djed.validator import SchemaError, ValidationError, ValidatorCache, default_cache, validate

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 0}}}


class TestValidatorCache:
    def test_hit_by_identity_and_by_content(self) -> None:
        """The same object or an equal new dict is a hit; the first call is a miss."""
        cache = ValidatorCache()
        first = cache.get(SCHEMA)
        assert cache.get(SCHEMA) is first
        assert (
            cache.get({"properties": {"n": {"minimum": 0, "type": "integer"}}, "type": "object"})
            is first
        )
        stats = cache.stats()
        assert (stats.misses, stats.hits, stats.size) == (1, 2, 1)
        assert stats.compile_seconds > 0

    def test_key_order_does_not_matter(self) -> None:
        """Schemas equal up to key order share one entry."""
        cache = ValidatorCache()
        cache.get({"a": 1, "type": "string"})
        cache.get({"type": "string", "a": 1})
        assert cache.stats().size == 1

    def test_caller_given_id(self) -> None:
        """schema_id keys the entry without serialising the schema."""
        cache = ValidatorCache()
        first = cache.get(SCHEMA, schema_id="invoice-v1")
        assert cache.get({"type": "string"}, schema_id="invoice-v1") is first

    def test_options_are_part_of_the_key(self) -> None:
        """all_errors and draft give separate entries."""
        cache = ValidatorCache()
        assert cache.get(SCHEMA) is not cache.get(SCHEMA, all_errors=True)
        assert cache.get(SCHEMA, draft=4) is not cache.get(SCHEMA, draft=7)

    def test_bounded_lru(self) -> None:
        """The least recently used entry is evicted beyond maxsize."""
        cache = ValidatorCache(maxsize=2)
        schemas = [{"maximum": n} for n in range(3)]
        cache.get(schemas[0])
        cache.get(schemas[1])
        cache.get(dict(schemas[0]))  # refresh 0
        cache.get(schemas[2])  # evicts 1
        stats = cache.stats()
        assert (stats.size, stats.evictions) == (2, 1)
        cache.get(dict(schemas[1]))
        assert cache.stats().misses == 4

    def test_bad_schema_is_not_cached(self) -> None:
        """A SchemaError propagates and leaves no entry."""
        cache = ValidatorCache()
        with pytest.raises(SchemaError):
            cache.get({"minimum": "zero"})
        assert cache.stats().size == 0

    def test_clear(self) -> None:
        """clear empties the cache and resets counters."""
        cache = ValidatorCache()
        cache.get(SCHEMA)
        cache.clear()
        assert cache.stats().size == cache.stats().misses == 0

    def test_invalid_maxsize(self) -> None:
        """maxsize below 1 is refused."""
        with pytest.raises(ValueError, match="maxsize"):
            ValidatorCache(maxsize=0)

    def test_threads_share_one_compilation_result(self) -> None:
        """Many threads validating through one cache all get correct answers."""
        cache = ValidatorCache(maxsize=4)
        schemas = [{"type": "integer", "maximum": n} for n in range(8)]
        failures: list[str] = []

        def worker() -> None:
            for round_ in range(200):
                n = round_ % 8
                validator = cache.get(dict(schemas[n]))
                if not validator.is_valid(n) or validator.is_valid(n + 1):
                    failures.append(f"maximum {n}")

        threads = [threading.Thread(target=worker) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        stats = cache.stats()
        assert stats.size <= 4
        assert stats.hits + stats.misses == 6 * 200


class TestModuleValidate:
    def test_validate_uses_the_default_cache(self) -> None:
        """validate(schema, x) compiles once and returns the instance."""
        schema: dict[str, Any] = {"type": "string", "maxLength": 3, "$comment": "module-level"}
        before = default_cache().stats().misses
        assert validate(schema, "abc") == "abc"
        assert validate(schema, "xyz") == "xyz"
        assert default_cache().stats().misses == before + 1
        with pytest.raises(ValidationError, match="must be shorter than or equal to 3"):
            validate(schema, "abcd")

    def test_validate_with_own_cache(self) -> None:
        """A cache may be passed explicitly."""
        cache = ValidatorCache()
        validate(SCHEMA, {"n": 1}, cache=cache)
        assert cache.stats().misses == 1


_METRICS_SCRIPT = """
import json
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
from djed.validator import ValidatorCache
cache = ValidatorCache()
cache.get({"type": "integer"})
cache.get({"type": "integer"})
values = {}
for resource in reader.get_metrics_data().resource_metrics:
    for scope in resource.scope_metrics:
        for metric in scope.metrics:
            for point in metric.data.data_points:
                values[metric.name] = values.get(metric.name, 0) + point.value
print(json.dumps(values))
"""


class TestMetrics:
    def test_cache_counters_are_exported(self) -> None:
        """Hits, misses, compile time and size appear as OpenTelemetry instruments."""
        result = subprocess.run(
            [sys.executable, "-c", _METRICS_SCRIPT],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        values = json.loads(result.stdout)
        assert values["djed.validator.cache.hits"] == 1
        assert values["djed.validator.cache.misses"] == 1
        assert values["djed.validator.cache.size"] == 1
        assert values["djed.validator.compile.duration"] > 0
