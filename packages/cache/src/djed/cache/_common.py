"""Settings, statistics and helpers shared by the sync and async caches."""

from __future__ import annotations

import dataclasses
import sys
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from ._backend import Entry
from ._keys import KeyBuilder

__all__ = ["CacheSettings", "CacheStats", "Spec", "dependency_down", "format_tags"]

Spec = tuple[Any, float | None, tuple[str, ...]]
"""(ttl, stale_ttl, tags) of one load; ``ttl`` may be ``...`` for the cache's default."""

_tracked: weakref.WeakSet[CacheSettings] = weakref.WeakSet()
_registered = False
_lock = threading.Lock()


@dataclasses.dataclass(slots=True)
class CacheStats:
    """Counters of one cache (plain ints: cheap, approximate under heavy contention)."""

    hits: int = 0
    misses: int = 0
    stale_hits: int = 0
    refreshes: int = 0
    loads: int = 0
    load_errors: int = 0
    stale_on_error: int = 0
    load_seconds: float = 0.0
    prefetches: int = 0
    prefetch_hits: int = 0
    prefetch_skipped: int = 0

    def as_dict(self) -> dict[str, float]:
        """The counters as a dict."""
        return dataclasses.asdict(self)


class CacheSettings:
    """TTL settings, the clock and statistics of a cache."""

    def __init__(
        self,
        *,
        ttl: float | None,
        stale_ttl: float,
        negative_ttl: float | None,
        namespace: str,
        clock: Callable[[], float],
    ) -> None:
        if ttl is not None and ttl <= 0:
            raise ValueError("ttl must be positive (or None for no expiry)")
        if stale_ttl < 0 or (negative_ttl is not None and negative_ttl <= 0):
            raise ValueError("stale_ttl must be >= 0 and negative_ttl positive")
        self.ttl = ttl
        self.stale_ttl = stale_ttl
        self.negative_ttl = negative_ttl
        self.namespace = namespace
        self.clock = clock
        self.stats = CacheStats()
        _track(self)

    def entry(self, value: Any, ttl: Any, stale_ttl: float | None, tags: Iterable[str]) -> Entry:
        """An entry for ``value`` with the given or default times (``ttl=...``: default)."""
        ttl = self.ttl if ttl is ... else ttl
        stale = self.stale_ttl if stale_ttl is None else stale_ttl
        if ttl is None:
            return Entry(value, None, None, tuple(tags))
        now = self.clock()
        fresh_until = now + float(ttl)
        return Entry(value, fresh_until, fresh_until + stale, tuple(tags))

    def entry_for_load(self, value: Any, spec: Spec) -> Entry:
        """The entry for a loader's result: ``None`` lives ``negative_ttl`` when that is set."""
        ttl, stale_ttl, tags = spec
        if value is None and self.negative_ttl is not None:
            return self.entry(value, self.negative_ttl, 0.0, tags)
        return self.entry(value, ttl, stale_ttl, tags)


def dependency_down(error: BaseException) -> bool:
    """Whether ``error`` is djed-breaker refusing a call (only if that package is in use)."""
    breaker = sys.modules.get("djed.breaker")
    return breaker is not None and isinstance(error, breaker.BreakerError)


def format_tags(
    templates: tuple[str, ...], build: KeyBuilder, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[str, ...]:
    """Tags for one call: templates such as ``"invoice:{invoice_id}"`` filled from its arguments."""
    if not templates:
        return ()
    arguments = build.arguments(args, kwargs)
    return tuple(t.format(**arguments) if "{" in t else t for t in templates)


def _track(cache: CacheSettings) -> None:
    global _registered  # noqa: PLW0603 - instruments are process-wide in OpenTelemetry too
    _tracked.add(cache)
    with _lock:
        if _registered:
            return
        _registered = True
    from opentelemetry import metrics  # noqa: PLC0415 - only once a cache exists

    def observe(field: str) -> Callable[[Any], list[Any]]:
        def callback(_options: Any) -> list[Any]:
            total = sum(getattr(c.stats, field) for c in list(_tracked))
            return [metrics.Observation(total)]

        return callback

    meter = metrics.get_meter("djed.cache")
    for field in (
        "hits",
        "misses",
        "stale_hits",
        "refreshes",
        "loads",
        "load_errors",
        "prefetches",
        "prefetch_hits",
        "prefetch_skipped",
    ):
        meter.create_observable_counter(f"djed.cache.{field}", [observe(field)])

    def evictions(_options: Any) -> list[Any]:
        total = 0
        for tracked in list(_tracked):
            store = getattr(tracked, "_memory", None) or getattr(tracked, "backend", None)
            total += int(getattr(store, "evictions", 0))
        return [metrics.Observation(total)]

    meter.create_observable_counter(
        "djed.cache.evictions", [evictions], description="Entries evicted from memory."
    )
    meter.create_observable_counter(
        "djed.cache.load.duration",
        [observe("load_seconds")],
        unit="s",
        description="Time spent in loaders.",
    )
