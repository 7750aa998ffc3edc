"""A lease on a key across processes, so only one of them loads a missing value."""

from __future__ import annotations

import dataclasses
import math
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Self

from ._redis import Health, check_options, connect, connection_errors, describe

__all__ = ["Lease", "RedisLock", "SyncRedisLock"]

_FENCE_TTL_MS = 86_400_000  # a fence counter idle this long is forgotten (fences stay growing)
_LOCAL_PRUNE = 1024  # local leases held before expired ones are swept

# KEYS: the lock, its fence counter. ARGV: token, lease in ms, fence TTL in ms.
# The new fence, or false when someone holds the lock. A missing counter starts from the
# Redis clock in microseconds, so fences keep growing even after it expired or was lost.
_ACQUIRE = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
local fence
if redis.call('EXISTS', KEYS[2]) == 1 then
  fence = redis.call('INCR', KEYS[2])
else
  local t = redis.call('TIME')
  fence = tonumber(t[1]) * 1000000 + tonumber(t[2])
  redis.call('SET', KEYS[2], string.format('%.0f', fence))
end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return fence
"""
# KEYS: the lock. ARGV: token. Deletes the lock only if the token still holds it.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# KEYS: the lock. ARGV: token, lease in ms. Renews the lease only if the token still holds it.
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


@dataclasses.dataclass(frozen=True, slots=True)
class Lease:
    """The right to load one key, for ``ttl`` seconds unless extended.

    ``fence`` grows with every acquisition of the key, so a holder can tell
    whether someone acquired it after it. ``local`` is True when Redis could not
    be reached and the lease only excludes other holders in this process.
    """

    key: str
    token: str
    fence: int
    ttl: float
    local: bool = False


def _milliseconds(seconds: float) -> int:
    if not seconds > 0:
        raise ValueError(f"a lease must last a positive number of seconds, not {seconds!r}")
    return max(1, math.ceil(seconds * 1000))


class _LockBase:
    """Options, key layout and the in-process leases used while Redis is down."""

    def __init__(
        self,
        url: str | None,
        client: Any,
        prefix: str,
        socket_timeout: float,
        *,
        asynchronous: bool,
    ) -> None:
        check_options(url, client, prefix, socket_timeout)
        self._owns_client = client is None
        if client is None:
            name = type(self).__name__
            client = connect(url, socket_timeout, asynchronous=asynchronous, what=name)
        self._client: Any = client
        self._errors = connection_errors()
        self.prefix = prefix
        self._health = Health("lock", describe(client), "locking within this process only")
        self._acquire: Any = client.register_script(_ACQUIRE)
        self._release: Any = client.register_script(_RELEASE)
        self._extend: Any = client.register_script(_EXTEND)
        self._local: dict[str, tuple[str, float]] = {}  # key -> (token, monotonic deadline)
        self._local_lock = threading.Lock()
        self._local_fence = 0

    @property
    def available(self) -> bool | None:
        """True while Redis answers, False during an outage, None before the first call."""
        return self._health.available

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._health.where!r}, prefix={self.prefix!r})"

    def _keys(self, key: str) -> list[str]:
        return [f"{self.prefix}:lock:{key}", f"{self.prefix}:fence:{key}"]

    def _acquire_local(self, key: str, lease: float) -> Lease | None:
        now = time.monotonic()
        with self._local_lock:
            held = self._local.get(key)
            if held is not None and held[1] > now:
                return None
            if len(self._local) >= _LOCAL_PRUNE:
                self._local = {k: v for k, v in self._local.items() if v[1] > now}
            token = secrets.token_hex(16)
            self._local[key] = (token, now + lease)
            self._local_fence += 1
            return Lease(key, token, self._local_fence, lease, local=True)

    def _release_local(self, lease: Lease) -> bool:
        with self._local_lock:
            held = self._local.get(lease.key)
            if held is None or held[0] != lease.token:
                return False
            del self._local[lease.key]
            return True

    def _extend_local(self, lease: Lease, seconds: float) -> bool:
        with self._local_lock:
            held = self._local.get(lease.key)
            if held is None or held[0] != lease.token or held[1] <= time.monotonic():
                return False
            self._local[lease.key] = (lease.token, time.monotonic() + seconds)
            return True

    def _current_local(self, lease: Lease) -> bool:
        held = self._local.get(lease.key)
        return held is not None and held[0] == lease.token


class RedisLock(_LockBase):
    """Leases on keys shared by every process using the same Redis and prefix (async).

    >>> locks = RedisLock("redis://redis:6379/0")  # doctest: +SKIP
    >>> lease = await locks.acquire("invoice:7", lease=10)  # doctest: +SKIP
    >>> if lease is not None:  # doctest: +SKIP
    ...     value = await load()
    ...     if await locks.is_current(lease):  # nobody took over meanwhile
    ...         await backend.set("invoice:7", entry)
    ...     await locks.release(lease)

    :meth:`acquire` sets ``{prefix}:lock:{key}`` to a random token only if it
    is absent (``SET NX PX``), so one caller at a time gets a lease, for
    ``lease`` seconds. A holder that runs longer than its lease loses it
    without knowing: another caller may acquire the key and write a newer
    value. Leases therefore carry a fencing token from ``{prefix}:fence:{key}``,
    which grows with each acquisition; before writing, a holder asks
    :meth:`is_current`, which is False once anyone acquired the key after it,
    and then skips its write. :meth:`release` and :meth:`extend` act only if
    the lease's token still holds the key, so they never touch a newer
    holder's lease.

    If Redis cannot be reached, :meth:`acquire` hands out a local lease
    (``lease.local``) that excludes only other callers in this process, so each
    process loads at most once at a time; one warning says so. ``is_current``
    answers False for a Redis lease while Redis cannot be asked.

    Args:
        url: as for :class:`RedisBackend`.
        client: a ``redis.asyncio.Redis`` to use instead (e.g. ``backend.client``).
        prefix: namespace of the lock and fence keys (the cache's prefix is fine:
            ``clear()`` leaves these keys alone).
        socket_timeout: seconds to wait for Redis on each connect and reply.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        prefix: str = "djed:cache",
        socket_timeout: float = 0.5,
    ) -> None:
        super().__init__(url, client, prefix, socket_timeout, asynchronous=True)

    async def _ask(self, call: Callable[[], Awaitable[Any]]) -> tuple[bool, Any]:
        """(True, result), or (False, None) when Redis is unavailable."""
        try:
            result = await call()
        except self._errors as exc:
            self._health.failed(exc)
            return False, None
        self._health.succeeded()
        return True, result

    async def acquire(self, key: str, lease: float) -> Lease | None:
        """A lease on ``key`` for ``lease`` seconds, or None if someone holds it."""
        ms = _milliseconds(lease)
        if self._health.cooling():
            return self._acquire_local(key, lease)
        token = secrets.token_hex(16)
        keys = self._keys(key)
        ok, fence = await self._ask(
            lambda: self._acquire(keys=keys, args=[token, ms, _FENCE_TTL_MS])
        )
        if not ok:
            return self._acquire_local(key, lease)
        return None if fence is None else Lease(key, token, int(fence), lease)

    async def release(self, lease: Lease) -> bool:
        """Give the lease back; False if it was no longer held by it (or Redis is down)."""
        if lease.local:
            return self._release_local(lease)
        ok, removed = await self._ask(
            lambda: self._release(keys=self._keys(lease.key)[:1], args=[lease.token])
        )
        return ok and bool(removed)

    async def extend(self, lease: Lease, seconds: float | None = None) -> bool:
        """Renew the lease for ``seconds`` (default: its ``ttl``); False if it was lost."""
        ms = _milliseconds(lease.ttl if seconds is None else seconds)
        if lease.local:
            return self._extend_local(lease, ms / 1000)
        ok, renewed = await self._ask(
            lambda: self._extend(keys=self._keys(lease.key)[:1], args=[lease.token, ms])
        )
        return ok and bool(renewed)

    async def is_current(self, lease: Lease) -> bool:
        """Whether nobody acquired the key after this lease (so its value may be written)."""
        if lease.local:
            return self._current_local(lease)
        ok, fence = await self._ask(lambda: self._client.get(self._keys(lease.key)[1]))
        return ok and fence is not None and int(fence) == lease.fence

    async def aclose(self) -> None:
        """Close the connections (unless the client was passed in)."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        await self.aclose()


class SyncRedisLock(_LockBase):
    """The sync twin of :class:`RedisLock`: same keys, leases and outage behaviour.

    >>> locks = SyncRedisLock("redis://redis:6379/0")  # doctest: +SKIP
    >>> lease = locks.acquire("invoice:7", lease=10)  # doctest: +SKIP
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        prefix: str = "djed:cache",
        socket_timeout: float = 0.5,
    ) -> None:
        super().__init__(url, client, prefix, socket_timeout, asynchronous=False)

    def _ask(self, call: Callable[[], Any]) -> tuple[bool, Any]:
        """(True, result), or (False, None) when Redis is unavailable."""
        try:
            result = call()
        except self._errors as exc:
            self._health.failed(exc)
            return False, None
        self._health.succeeded()
        return True, result

    def acquire(self, key: str, lease: float) -> Lease | None:
        """A lease on ``key`` for ``lease`` seconds, or None if someone holds it."""
        ms = _milliseconds(lease)
        if self._health.cooling():
            return self._acquire_local(key, lease)
        token = secrets.token_hex(16)
        keys = self._keys(key)
        ok, fence = self._ask(lambda: self._acquire(keys=keys, args=[token, ms, _FENCE_TTL_MS]))
        if not ok:
            return self._acquire_local(key, lease)
        return None if fence is None else Lease(key, token, int(fence), lease)

    def release(self, lease: Lease) -> bool:
        """Give the lease back; False if it was no longer held by it (or Redis is down)."""
        if lease.local:
            return self._release_local(lease)
        ok, removed = self._ask(
            lambda: self._release(keys=self._keys(lease.key)[:1], args=[lease.token])
        )
        return ok and bool(removed)

    def extend(self, lease: Lease, seconds: float | None = None) -> bool:
        """Renew the lease for ``seconds`` (default: its ``ttl``); False if it was lost."""
        ms = _milliseconds(lease.ttl if seconds is None else seconds)
        if lease.local:
            return self._extend_local(lease, ms / 1000)
        ok, renewed = self._ask(
            lambda: self._extend(keys=self._keys(lease.key)[:1], args=[lease.token, ms])
        )
        return ok and bool(renewed)

    def is_current(self, lease: Lease) -> bool:
        """Whether nobody acquired the key after this lease (so its value may be written)."""
        if lease.local:
            return self._current_local(lease)
        ok, fence = self._ask(lambda: self._client.get(self._keys(lease.key)[1]))
        return ok and fence is not None and int(fence) == lease.fence

    def close(self) -> None:
        """Close the connections (unless the client was passed in)."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.close()
