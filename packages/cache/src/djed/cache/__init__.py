"""Stale-while-revalidate caching with stampede protection and a predictive prefetcher.

>>> from djed.cache import SyncCache
>>> cache = SyncCache(ttl=60, stale_ttl=300)
>>> cache.set("greeting", "hello")
>>> cache.get("greeting")
'hello'
"""

from __future__ import annotations

from ._async import Cache
from ._backend import AsyncBackend, Entry, SyncBackend
from ._common import CacheStats
from ._evaluate import Evaluation, PlanScore, evaluate
from ._keys import CacheKeyError
from ._lock import Lease, RedisLock, SyncRedisLock
from ._memory import AsyncMemoryBackend, MemoryBackend
from ._model import NavigationModel
from ._plugins import BUILT_IN_BACKENDS, PluginError, backend_names, open_backend
from ._prefetch import Prefetcher, PrefetchMiddleware
from ._redis import RedisBackend, SyncRedisBackend
from ._serializers import OrjsonSerializer, PickleSerializer, SerializationError, Serializer
from ._sync import SyncCache
from ._traces import read_trace, synthetic_sessions, write_trace
from ._twolevel import SyncTwoLevelBackend, TwoLevelBackend

__all__ = [
    "BUILT_IN_BACKENDS",
    "AsyncBackend",
    "AsyncMemoryBackend",
    "Cache",
    "CacheKeyError",
    "CacheStats",
    "Entry",
    "Evaluation",
    "Lease",
    "MemoryBackend",
    "NavigationModel",
    "OrjsonSerializer",
    "PickleSerializer",
    "PlanScore",
    "PluginError",
    "PrefetchMiddleware",
    "Prefetcher",
    "RedisBackend",
    "RedisLock",
    "SerializationError",
    "Serializer",
    "SyncBackend",
    "SyncCache",
    "SyncRedisBackend",
    "SyncRedisLock",
    "SyncTwoLevelBackend",
    "TwoLevelBackend",
    "backend_names",
    "evaluate",
    "open_backend",
    "read_trace",
    "synthetic_sessions",
    "write_trace",
]


def __getattr__(name: str) -> str:
    if name == "__version__":
        from importlib.metadata import version  # noqa: PLC0415 - only when asked

        return version("djed-cache")
    msg = f"module 'djed.cache' has no attribute {name!r}"
    raise AttributeError(msg)
