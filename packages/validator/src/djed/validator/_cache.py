"""A bounded, thread-safe cache of compiled validators, and the module-level ``validate``."""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from typing import Any

import orjson

from ._validator import SchemaValidator

__all__ = ["CacheStats", "ValidatorCache", "default_cache", "validate"]

_KEY_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


@dataclasses.dataclass(frozen=True, slots=True)
class CacheStats:
    """Counters of a :class:`ValidatorCache` since it was created or cleared."""

    hits: int
    misses: int
    evictions: int
    size: int
    maxsize: int
    compile_seconds: float
    """Total time spent compiling schemas on misses."""


class ValidatorCache:
    """Compiled validators by schema, least recently used first out.

    The key is the schema's canonical JSON (sorted keys, via orjson) or an id
    you give. A schema object seen before is found by identity without
    re-serialising it, so treat cached schemas as immutable: after changing
    one in place, pass a new object or call :meth:`clear`.
    """

    def __init__(self, maxsize: int = 256) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._lock = threading.Lock()
        self._entries: collections.OrderedDict[Any, SchemaValidator] = collections.OrderedDict()
        self._by_identity: dict[int, tuple[Any, SchemaValidator]] = {}
        self._hits = self._misses = self._evictions = 0
        self._compile_seconds = 0.0
        _register_metrics(self)

    def get(
        self,
        schema: Any,
        *,
        schema_id: str | None = None,
        draft: str | int | None = None,
        all_errors: bool = False,
    ) -> SchemaValidator:
        """The compiled validator for ``schema``, compiling it on a miss."""
        plain = schema_id is None and draft is None and not all_errors
        if plain:
            entry = self._by_identity.get(id(schema))
            if entry is not None and entry[0] is schema:
                self._hits += 1  # a lost increment under contention only skews statistics
                return entry[1]
        key = self._key(schema, schema_id, draft, all_errors)
        if key is not None:
            with self._lock:
                validator = self._entries.get(key)
                if validator is not None:
                    self._entries.move_to_end(key)
                    self._hits += 1
                    if plain:
                        self._remember_identity(schema, validator)
                    return validator
        started = time.perf_counter()
        validator = SchemaValidator(schema, draft=draft, all_errors=all_errors)
        elapsed = time.perf_counter() - started
        with self._lock:
            self._misses += 1
            self._compile_seconds += elapsed
            if key is not None:
                self._entries[key] = validator
                self._entries.move_to_end(key)
                while len(self._entries) > self.maxsize:
                    self._entries.popitem(last=False)
                    self._evictions += 1
                    self._by_identity.clear()  # rebuilt on the next calls
                if plain:
                    self._remember_identity(schema, validator)
        return validator

    def _remember_identity(self, schema: Any, validator: SchemaValidator) -> None:
        if len(self._by_identity) >= self.maxsize:
            self._by_identity.clear()
        # Keeping the schema referenced stops its id from being reused by another object.
        self._by_identity[id(schema)] = (schema, validator)

    @staticmethod
    def _key(schema: Any, schema_id: str | None, draft: Any, all_errors: bool) -> Any:
        if schema_id is not None:
            return ("id", schema_id, draft, all_errors)
        try:
            return (orjson.dumps(schema, option=_KEY_OPTIONS), draft, all_errors)
        except TypeError:
            return None  # not JSON: compile (and fail or succeed) without caching

    def stats(self) -> CacheStats:
        """Current counters."""
        with self._lock:
            return CacheStats(
                hits=self._hits,
                misses=self._misses,
                evictions=self._evictions,
                size=len(self._entries),
                maxsize=self.maxsize,
                compile_seconds=self._compile_seconds,
            )

    def clear(self) -> None:
        """Drop every entry and reset the counters."""
        with self._lock:
            self._entries.clear()
            self._by_identity.clear()
            self._hits = self._misses = self._evictions = 0
            self._compile_seconds = 0.0


_metric_caches: list[ValidatorCache] = []
_metrics_lock = threading.Lock()


def _register_metrics(cache: ValidatorCache) -> None:
    """Export every cache's counters as opentelemetry-api observable instruments."""
    with _metrics_lock:
        first = not _metric_caches
        _metric_caches.append(cache)
    if not first:
        return
    from opentelemetry import metrics  # noqa: PLC0415 - only once a cache exists

    def observe(field: str) -> Any:
        def callback(_options: Any) -> list[Any]:
            return [
                metrics.Observation(getattr(c.stats(), field), {"cache": str(index)})
                for index, c in enumerate(_metric_caches)
            ]

        return callback

    meter = metrics.get_meter("djed.validator")
    for field, unit in (("hits", "{hit}"), ("misses", "{miss}"), ("evictions", "{entry}")):
        meter.create_observable_counter(
            f"djed.validator.cache.{field}", callbacks=[observe(field)], unit=unit
        )
    meter.create_observable_counter(
        "djed.validator.compile.duration",
        callbacks=[observe("compile_seconds")],
        unit="s",
        description="Time spent compiling schemas on cache misses.",
    )
    meter.create_observable_gauge(
        "djed.validator.cache.size", callbacks=[observe("size")], unit="{entry}"
    )


_default: ValidatorCache | None = None


def default_cache() -> ValidatorCache:
    """The process-wide cache that :func:`validate` uses (created on first use)."""
    global _default  # noqa: PLW0603 - the documented default instance
    if _default is None:
        _default = ValidatorCache()
    return _default


def validate(
    schema: Any,
    instance: Any,
    *,
    schema_id: str | None = None,
    draft: str | int | None = None,
    all_errors: bool = False,
    cache: ValidatorCache | None = None,
) -> Any:
    """Validate ``instance`` against ``schema`` through a cache of compiled validators.

    >>> validate({"type": "integer"}, 3)
    3

    Returns the instance, or raises :class:`ValidationError`; a bad schema raises
    :class:`SchemaError` (and is not cached).
    """
    validator = (cache or default_cache()).get(
        schema, schema_id=schema_id, draft=draft, all_errors=all_errors
    )
    return validator.validate(instance)
