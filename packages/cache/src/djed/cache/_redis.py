"""Entries in Redis, shared by every process that uses the same prefix."""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Self, TypeVar

from ._backend import Entry
from ._serializers import OrjsonSerializer, SerializationError, Serializer

__all__ = ["RedisBackend", "SyncRedisBackend"]

T = TypeVar("T")
_log = logging.getLogger("djed.cache")

_DEFAULT_URL = "redis://localhost:6379/0"
_COOL_DOWN = 1.0  # seconds after a failure during which reads and writes skip Redis
_BATCH = 500  # keys per UNLINK

# KEYS: entry keys. ARGV[1]: the tag key prefix, then per key: value, TTL in ms (0: none),
# number of tags, the tags. A tag set expires no sooner than any of its members.
_SET = """
local at = 2
for _, key in ipairs(KEYS) do
  local value, ttl, count = ARGV[at], tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
  if ttl > 0 then redis.call('SET', key, value, 'PX', ttl) else redis.call('SET', key, value) end
  for i = at + 3, at + 2 + count do
    local tag = ARGV[1] .. ARGV[i]
    local left = redis.call('PTTL', tag)
    redis.call('SADD', tag, key)
    if ttl == 0 then
      redis.call('PERSIST', tag)
    elseif left == -2 or (left >= 0 and left < ttl) then
      redis.call('PEXPIRE', tag, ttl)
    end
  end
  at = at + 3 + count
end
return #KEYS
"""
# KEYS: tag sets. Unlinks their members and the sets; returns how many members existed.
_INVALIDATE = """
local removed = 0
for _, tag in ipairs(KEYS) do
  local members = redis.call('SMEMBERS', tag)
  for i = 1, #members, 500 do
    removed = removed + redis.call('UNLINK', unpack(members, i, math.min(i + 499, #members)))
  end
  redis.call('UNLINK', tag)
end
return removed
"""


def import_redis() -> Any:
    """The redis module, or an ImportError that says how to install it."""
    try:
        import redis  # noqa: PLC0415 - an optional extra, imported when used
    except ImportError as exc:
        raise ImportError(
            "the Redis backends of djed.cache need redis-py: pip install 'djed-cache[redis]'"
        ) from exc
    return redis


def connect(url: str | None, socket_timeout: float, *, asynchronous: bool, what: str) -> Any:
    """A redis-py client with short timeouts and one immediate retry (the rest is ours)."""
    redis = import_redis()
    from redis import asyncio, retry  # noqa: PLC0415 - part of the optional extra
    from redis.backoff import NoBackoff  # noqa: PLC0415

    module: Any = asyncio if asynchronous else redis
    retry_class: Any = asyncio.retry.Retry if asynchronous else retry.Retry
    url = url or os.environ.get("DJED_CACHE_REDIS_URL") or _DEFAULT_URL
    try:
        return module.Redis.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            retry=retry_class(NoBackoff(), 1),  # one retry: a pooled connection may be stale
        )
    except ValueError as exc:
        raise ValueError(f"{what} cannot use this Redis URL: {exc}") from exc


def check_options(url: str | None, client: Any, prefix: str, socket_timeout: float) -> None:
    """Refuse settings that cannot work, naming them."""
    if not prefix:
        raise ValueError("prefix must not be empty")
    if not socket_timeout > 0:
        raise ValueError(f"socket_timeout must be positive, not {socket_timeout!r}")
    if client is not None and url is not None:
        raise ValueError("pass either url or client, not both")
    kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {})
    if kwargs.get("decode_responses"):
        raise ValueError("the Redis client must return bytes: create it without decode_responses")


def describe(client: Any) -> str:
    """Where Redis is, for log lines (never with a password)."""
    try:
        kwargs = client.connection_pool.connection_kwargs
    except AttributeError:
        return type(client).__name__
    if "path" in kwargs:
        return f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}"
    return f"redis://{kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('db', 0)}"


def connection_errors() -> tuple[type[BaseException], ...]:
    """The errors that mean Redis cannot be reached or did not answer in time."""
    redis = import_redis()
    return (redis.ConnectionError, redis.TimeoutError, OSError)


class Health:
    """Whether Redis answers: one warning when an outage starts, one info line when it ends.

    After a failure, :meth:`cooling` says to skip Redis for ``_COOL_DOWN``
    seconds, so a Redis that hangs costs one timeout per second, not one per call.
    """

    def __init__(self, what: str, where: str, consequence: str) -> None:
        self.what = what
        self.where = where
        self.consequence = consequence
        self.available: bool | None = None
        self._failed_at = 0.0
        self._lock = threading.Lock()

    def cooling(self) -> bool:
        """Whether Redis failed so recently that it is not worth asking yet."""
        return self.available is False and time.monotonic() - self._failed_at < _COOL_DOWN

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            was, self.available, self._failed_at = self.available, False, time.monotonic()
        if was is not False:
            name = type(exc).__name__
            _log.warning(
                "redis %s at %s unavailable: %s: %s; %s",
                *(self.what, self.where, name, exc, self.consequence),
            )

    def succeeded(self) -> None:
        if self.available is True:
            return
        with self._lock:
            was, self.available = self.available, True
        if was is False:
            _log.info("redis %s at %s available again", self.what, self.where)


def _ttl_ms(entry: Entry, now: float) -> int:
    """Milliseconds Redis keeps the entry (until ``stale_until``, else ``fresh_until``); 0: ever."""
    limit = entry.stale_until if entry.stale_until is not None else entry.fresh_until
    if limit is None:
        return 0
    return max(1, math.ceil((limit - now) * 1000))


def _glob(text: str) -> str:
    """``text`` matched literally in a SCAN pattern."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


class _RedisStore:
    """What the sync and async backends share: options, key layout, encoding, health."""

    def __init__(
        self,
        url: str | None,
        client: Any,
        prefix: str,
        serializer: Serializer | None,
        socket_timeout: float,
        *,
        asynchronous: bool,
    ) -> None:
        check_options(url, client, prefix, socket_timeout)
        name = type(self).__name__
        self._owns_client = client is None
        if client is None:
            client = connect(url, socket_timeout, asynchronous=asynchronous, what=name)
        self._client: Any = client
        self._errors = connection_errors()
        self.prefix = prefix
        self.serializer: Serializer = serializer if serializer is not None else OrjsonSerializer()
        self._health = Health("cache", describe(client), "serving misses")
        self._set_script: Any = client.register_script(_SET)
        self._invalidate_script: Any = client.register_script(_INVALIDATE)

    @property
    def client(self) -> Any:
        """The redis-py client (e.g. to share with a lock)."""
        return self._client

    @property
    def available(self) -> bool | None:
        """True while Redis answers, False during an outage, None before the first call."""
        return self._health.available

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._health.where!r}, prefix={self.prefix!r})"

    def _key(self, key: str) -> str:
        return f"{self.prefix}:k:{key}"

    def _decode(self, key: str, data: bytes | None) -> Entry | None:
        if data is None:
            return None
        try:
            entry = self.serializer.loads(data)
        except SerializationError as exc:
            raise SerializationError(f"cache key {key!r} in Redis: {exc}") from exc
        return entry if entry.is_usable(time.time()) else None

    def _set_arguments(self, entries: Mapping[str, Entry]) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV of the set script (serialising first: errors raise, naming the key)."""
        now = time.time()
        keys: list[str] = []
        args: list[Any] = [f"{self.prefix}:t:"]
        for key, entry in entries.items():
            try:
                data = self.serializer.dumps(entry)
            except SerializationError as exc:
                raise SerializationError(f"cache key {key!r}: {exc}") from exc
            keys.append(self._key(key))
            args.extend((data, _ttl_ms(entry, now), len(entry.tags), *entry.tags))
        return keys, args

    def _tag_keys(self, tags: Iterable[str]) -> list[str]:
        return [f"{self.prefix}:t:{tag}" for tag in dict.fromkeys(tags)]

    def _patterns(self) -> tuple[str, str]:
        """SCAN patterns of this prefix's entries and tag sets (never its locks or fences)."""
        return f"{_glob(self.prefix)}:k:*", f"{_glob(self.prefix)}:t:*"


class RedisBackend(_RedisStore):
    """An async backend keeping entries in Redis, for a cache shared by many processes.

    >>> backend = RedisBackend("redis://redis:6379/0")  # doctest: +SKIP
    >>> cache = Cache(backend, ttl=60)  # doctest: +SKIP

    An entry lives at ``{prefix}:k:{key}`` and Redis drops it at its
    ``stale_until`` (else ``fresh_until``; never if both are None). Each tag is
    a set ``{prefix}:t:{tag}`` of the keys carrying it, kept at least as long
    as they are; :meth:`invalidate_tags` removes the members and the sets in one
    script. A key set again without a tag may still be removed by that tag: tag
    invalidation can remove a little more than needed, never less. Prefixes
    must not nest (``a`` and ``a:k``), or their keys mix.

    If Redis cannot be reached or does not answer within ``socket_timeout``,
    nothing is raised: reads are misses (the loader runs), writes, deletes and
    invalidations do nothing (deletes made during an outage are lost, so keep
    TTLs meaningful), one warning says so and one info line says when Redis
    answers again. For a second after a failure, reads and writes skip Redis
    altogether. Serialisation errors do raise (:class:`SerializationError`),
    naming the key. Use it from one event loop (redis-py's connections belong
    to the loop that opened them).

    Args:
        url: ``redis://``, ``rediss://`` or ``unix://`` URL; default
            ``DJED_CACHE_REDIS_URL``, else ``redis://localhost:6379/0``.
        client: a ``redis.asyncio.Redis`` to use instead (its own timeouts and
            retries apply; it must return bytes; :meth:`aclose` leaves it open).
        prefix: namespace of every key; processes sharing a cache use the same one.
        serializer: how entries become bytes; :class:`OrjsonSerializer` by default.
        socket_timeout: seconds to wait for Redis on each connect and reply.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        prefix: str = "djed:cache",
        serializer: Serializer | None = None,
        socket_timeout: float = 0.5,
    ) -> None:
        super().__init__(url, client, prefix, serializer, socket_timeout, asynchronous=True)

    async def _run(
        self, call: Callable[[], Awaitable[Any]], fallback: Any, *, always: bool = False
    ) -> Any:
        """``call()``'s result, or ``fallback`` when Redis is unavailable."""
        if not always and self._health.cooling():
            return fallback
        try:
            result = await call()
        except self._errors as exc:
            self._health.failed(exc)
            return fallback
        self._health.succeeded()
        return result

    async def get(self, key: str) -> Entry | None:
        """The entry, or None when absent, past its ``stale_until`` or Redis is down."""
        return (await self.get_many([key]))[0]

    async def get_many(self, keys: Iterable[str]) -> list[Entry | None]:
        """Entries in the order of ``keys``, in one MGET."""
        keys = list(keys)
        if not keys:
            return []
        found = await self._run(
            lambda: self._client.mget([self._key(k) for k in keys]), [None] * len(keys)
        )
        return [self._decode(key, data) for key, data in zip(keys, found, strict=True)]

    async def set(self, key: str, entry: Entry) -> None:
        """Store an entry with its TTL and tags."""
        await self.set_many({key: entry})

    async def set_many(self, entries: Mapping[str, Entry]) -> None:
        """Store several entries in one script call."""
        if entries:
            keys, args = self._set_arguments(entries)
            await self._run(lambda: self._set_script(keys=keys, args=args), None)

    async def delete(self, key: str) -> bool:
        """Remove a key; whether it was there (False when Redis is down)."""
        removed = await self._run(lambda: self._client.unlink(self._key(key)), 0, always=True)
        return bool(removed)

    async def clear(self) -> None:
        """Remove this prefix's entries and tag sets (SCAN and UNLINK in batches)."""

        async def clear() -> None:
            for pattern in self._patterns():
                batch: list[bytes] = []
                async for name in self._client.scan_iter(match=pattern, count=1000):
                    batch.append(name)
                    if len(batch) >= _BATCH:
                        await self._client.unlink(*batch)
                        batch.clear()
                if batch:
                    await self._client.unlink(*batch)

        await self._run(clear, None, always=True)

    async def invalidate_tags(self, tags: Iterable[str]) -> int:
        """Remove every entry carrying one of ``tags``; how many (0 when Redis is down)."""
        names = self._tag_keys(tags)
        if not names:
            return 0
        return int(await self._run(lambda: self._invalidate_script(keys=names), 0, always=True))

    async def aclose(self) -> None:
        """Close the connections (unless the client was passed in)."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        await self.aclose()


class SyncRedisBackend(_RedisStore):
    """The sync twin of :class:`RedisBackend`: same options, key layout and outage behaviour.

    >>> backend = SyncRedisBackend("redis://redis:6379/0")  # doctest: +SKIP
    >>> cache = SyncCache(backend, ttl=60)  # doctest: +SKIP

    Thread-safe; ``client`` is a ``redis.Redis``.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        prefix: str = "djed:cache",
        serializer: Serializer | None = None,
        socket_timeout: float = 0.5,
    ) -> None:
        super().__init__(url, client, prefix, serializer, socket_timeout, asynchronous=False)

    def _run(self, call: Callable[[], Any], fallback: Any, *, always: bool = False) -> Any:
        """``call()``'s result, or ``fallback`` when Redis is unavailable."""
        if not always and self._health.cooling():
            return fallback
        try:
            result = call()
        except self._errors as exc:
            self._health.failed(exc)
            return fallback
        self._health.succeeded()
        return result

    def get(self, key: str) -> Entry | None:
        """The entry, or None when absent, past its ``stale_until`` or Redis is down."""
        return self.get_many([key])[0]

    def get_many(self, keys: Iterable[str]) -> list[Entry | None]:
        """Entries in the order of ``keys``, in one MGET."""
        keys = list(keys)
        if not keys:
            return []
        found = self._run(
            lambda: self._client.mget([self._key(k) for k in keys]), [None] * len(keys)
        )
        return [self._decode(key, data) for key, data in zip(keys, found, strict=True)]

    def set(self, key: str, entry: Entry) -> None:
        """Store an entry with its TTL and tags."""
        self.set_many({key: entry})

    def set_many(self, entries: Mapping[str, Entry]) -> None:
        """Store several entries in one script call."""
        if entries:
            keys, args = self._set_arguments(entries)
            self._run(lambda: self._set_script(keys=keys, args=args), None)

    def delete(self, key: str) -> bool:
        """Remove a key; whether it was there (False when Redis is down)."""
        return bool(self._run(lambda: self._client.unlink(self._key(key)), 0, always=True))

    def clear(self) -> None:
        """Remove this prefix's entries and tag sets (SCAN and UNLINK in batches)."""

        def clear() -> None:
            for pattern in self._patterns():
                batch: list[bytes] = []
                for name in self._client.scan_iter(match=pattern, count=1000):
                    batch.append(name)
                    if len(batch) >= _BATCH:
                        self._client.unlink(*batch)
                        batch.clear()
                if batch:
                    self._client.unlink(*batch)

        self._run(clear, None, always=True)

    def invalidate_tags(self, tags: Iterable[str]) -> int:
        """Remove every entry carrying one of ``tags``; how many (0 when Redis is down)."""
        names = self._tag_keys(tags)
        if not names:
            return 0
        return int(self._run(lambda: self._invalidate_script(keys=names), 0, always=True))

    def close(self) -> None:
        """Close the connections (unless the client was passed in)."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.close()
