"""Breaker state shared by replicas through Redis: they trip and recover together."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
import weakref
from typing import Any, Self

from ._breaker import CircuitBreaker, State
from ._errors import BreakerConfigError

__all__ = ["RedisSharedState"]

_log = logging.getLogger("djed.breaker")

_DEFAULT_URL = "redis://localhost:6379/0"
_POLL = 0.1  # seconds the subscriber waits for a message before checking for close()
_BACKOFF_FIRST = 1.0  # first wait before reconnecting, doubled on each failure ...
_BACKOFF_CAP = 30.0  # ... up to this
_HEALTH_CHECK_INTERVAL = 5  # seconds idle after which redis-py checks a command connection
_PING_INTERVAL = 5.0  # seconds of silence after which the subscriber asks Redis for a pong
_JOIN_TIMEOUT = 5.0
_LIVE = frozenset({State.FORCED_OPEN, State.DISABLED})  # held until reset: always worth adopting

# KEYS[1] the record; ARGV: channel, name, state, open_for, writer, expected version
# ("" writes unconditionally, "0" only if there is no record). Stamps the time and
# the version from the Redis clock, so replicas need no synchronised clocks.
_WRITE = """
local current = redis.call('HGET', KEYS[1], 'version') or '0'
if ARGV[6] ~= '' and current ~= ARGV[6] then return false end
local t = redis.call('TIME')
local stamp = tonumber(t[1]) * 1000000 + tonumber(t[2])
local version = tonumber(current)
if version < stamp then version = stamp else version = version + 1 end
version = string.format('%.0f', version)
local changed_at = string.format('%d.%06d', tonumber(t[1]), tonumber(t[2]))
redis.call('HSET', KEYS[1], 'state', ARGV[3], 'changed_at', changed_at,
           'open_for', ARGV[4], 'writer', ARGV[5], 'version', version)
redis.call('PUBLISH', ARGV[1], cjson.encode({name = ARGV[2], state = ARGV[3],
           changed_at = changed_at, open_for = ARGV[4], writer = ARGV[5], version = version}))
return version
"""
# KEYS[1] the record -> nil, or {state, seconds of open period left (Redis clock), writer, version}.
_READ = """
local r = redis.call('HMGET', KEYS[1], 'state', 'changed_at', 'open_for', 'writer', 'version')
if not r[1] or not r[5] then return false end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local left = (tonumber(r[2]) or 0) + (tonumber(r[3]) or 0) - now
return {r[1], string.format('%.6f', left), r[4] or '', r[5]}
"""


def _import_redis() -> Any:
    try:
        import redis  # noqa: PLC0415 - an optional extra, imported when used
    except ImportError as exc:
        raise BreakerConfigError(
            "RedisSharedState needs redis-py: pip install 'djed-breaker[redis]'"
        ) from exc
    return redis


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _describe(client: Any) -> str:
    """Where Redis is, for log lines (never with a password)."""
    try:
        kwargs = client.connection_pool.connection_kwargs
        if "path" in kwargs:
            where = f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}"
        else:
            where = f"redis://{kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('db', 0)}"
    except AttributeError:
        where = type(client).__name__
    return where


class _Publish:
    """A local state waiting to be written; compared by identity."""

    __slots__ = ("expect",)

    def __init__(self, expect: int | None) -> None:
        self.expect = expect  # None: unconditional; else the version the record must have


class RedisSharedState:
    """Share breaker states between replicas through Redis.

    >>> shared = RedisSharedState("redis://redis:6379/0")  # doctest: +SKIP
    >>> shared.attach(CircuitBreaker("payments"))  # doctest: +SKIP

    Each replica attaches its breakers to its own ``RedisSharedState``; breakers
    with the same name and ``prefix`` are then one breaker. When one trips, the
    others open for the time it has left; when one closes (reset, or its probes
    succeeded), the others close; ``force_open`` and ``disable`` spread too.
    Half-open is a local matter: each replica probes on its own, and its result
    (open again, or closed) is what it shares. A replica that attaches while the
    others are open starts open.

    Each breaker has a hash ``{prefix}:{name}``: ``state``, ``changed_at`` and
    ``open_for`` (an open period ends ``open_for`` seconds after ``changed_at``),
    ``writer`` (``host:pid:random``, see :attr:`writer`) and ``version``. A Lua
    script writes it and publishes the same fields as JSON on ``{prefix}:events``
    in one step, taking time and version from the Redis clock: versions only
    grow (even across a Redis restart that lost the data) and replicas need no
    synchronised clocks. A replica applies a record or message only if its
    version is newer than the last it saw for that breaker, so a late or
    replayed one never undoes a newer one; it ignores its own messages, does not
    republish states it adopted (:attr:`CircuitBreaker.adopting`), and does not
    adopt while a change of its own is waiting to be written. A missing record
    reads as closed.

    Writes happen on a background thread, so a transition never waits for Redis
    (a write whose reply timed out may land twice: harmless, it says the same);
    a second thread listens to the channel and pings it when silent. If Redis
    cannot be reached or stops answering, nothing is raised: the breakers go on
    with local state, one warning says so, and the listening thread reconnects
    with a backoff (1 s doubling to 30 s). Once back, one info line says so;
    changes made meanwhile are published, a state still open is written again
    if Redis lost the record (only if the record is still missing, so it never
    overwrites a peer), and anything peers decided meanwhile is adopted.
    :meth:`attach` reads the record at once, waiting at most about
    ``socket_timeout`` seconds (twice, with one retry) for Redis.

    Args:
        url: ``redis://``, ``rediss://`` or ``unix://`` URL; default
            ``DJED_BREAKER_REDIS_URL``, else ``redis://localhost:6379/0``.
        client: a ``redis.Redis`` to use instead of a URL (its retry policy and
            timeouts apply; :meth:`close` leaves it open).
        prefix: namespace of the keys and the channel; replicas that share
            breakers use the same one.
        socket_timeout: seconds to wait for Redis on each connect and reply.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        prefix: str = "djed:breaker",
        socket_timeout: float = 0.5,
    ) -> None:
        redis = _import_redis()
        if not prefix:
            raise BreakerConfigError("prefix must not be empty")
        if not socket_timeout > 0:
            raise BreakerConfigError(f"socket_timeout must be positive, not {socket_timeout!r}")
        if client is not None and url is not None:
            raise BreakerConfigError("pass either url or client to RedisSharedState, not both")
        self._owns_client = client is None
        if client is None:
            from redis.backoff import NoBackoff  # noqa: PLC0415 - part of the optional extra
            from redis.retry import Retry  # noqa: PLC0415

            url = url or os.environ.get("DJED_BREAKER_REDIS_URL") or _DEFAULT_URL
            try:
                client = redis.Redis.from_url(
                    url,
                    socket_timeout=socket_timeout,
                    socket_connect_timeout=socket_timeout,
                    health_check_interval=_HEALTH_CHECK_INTERVAL,
                    retry=Retry(NoBackoff(), 1),  # one quick retry; the backoff is ours
                )
            except ValueError as exc:
                raise BreakerConfigError(f"RedisSharedState cannot use this URL: {exc}") from exc
        self._client: Any = client
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self.prefix = prefix
        self.channel = f"{prefix}:events"
        self.writer = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        """Who this replica is in the records and messages (``host:pid:random``)."""
        self._location = _describe(client)
        self._where = f"for circuit breakers {prefix!r} at {self._location}"
        self._write_script: Any = client.register_script(_WRITE)
        self._read_script: Any = client.register_script(_READ)
        # _lock guards the fields below; _apply_lock orders version checks with adoptions.
        self._lock = threading.Condition()
        self._apply_lock = threading.RLock()
        self._breakers: dict[str, CircuitBreaker] = {}
        self._hooked: weakref.WeakSet[CircuitBreaker] = weakref.WeakSet()
        self._seen: dict[str, int] = {}
        self._pending: dict[str, _Publish] = {}
        self._available: bool | None = None
        self._closed = False
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- public ----------------------------------------------------------------

    @property
    def available(self) -> bool | None:
        """True while Redis answers, False while falling back to local state, None before."""
        return self._available

    def attach(self, breaker: CircuitBreaker) -> None:
        """Share ``breaker``'s state; adopt the shared one if it is open (or forced, disabled)."""
        name = breaker.name
        with self._lock:
            if self._closed:
                raise BreakerConfigError(f"{self!r} is closed; attach to a new one")
            current = self._breakers.get(name)
            if current is breaker:
                return
            if current is not None:
                raise BreakerConfigError(
                    f"another breaker named {name!r} is already attached to this "
                    "RedisSharedState; each replica attaches one breaker per name"
                )
            self._breakers[name] = breaker
            if breaker not in self._hooked:
                self._hooked.add(breaker)
                breaker.add_listener(self._on_transition)
            if not self._threads:
                self._start()
            reachable = self._available is not False
        if reachable:
            self._sync(breaker, attaching=True)

    def detach(self, breaker: CircuitBreaker) -> None:
        """Stop sharing ``breaker``'s state; it keeps its current state.

        The breaker keeps this object's listener (breakers cannot remove one),
        which does nothing for a detached breaker and is reused if it is attached again.
        """
        with self._lock:
            if self._breakers.get(breaker.name) is breaker:
                del self._breakers[breaker.name]
                self._pending.pop(breaker.name, None)
                self._seen.pop(breaker.name, None)

    def close(self) -> None:
        """Publish what is waiting (if Redis answers), stop the threads and detach everything."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stop.set()
            self._lock.notify_all()
            threads = list(self._threads)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(_JOIN_TIMEOUT)
        with self._lock:
            self._breakers.clear()
            self._pending.clear()
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, traceback: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RedisSharedState({self._location!r}, prefix={self.prefix!r})"

    # -- local changes -> Redis ------------------------------------------------

    def _on_transition(self, breaker: CircuitBreaker, _old: State, new: State) -> None:
        """Listener: queue a local change for the writer thread (never blocks on Redis)."""
        if breaker.adopting or new is State.HALF_OPEN:
            return
        with self._lock:
            if self._closed or self._breakers.get(breaker.name) is not breaker:
                return
            self._pending[breaker.name] = _Publish(None)
            self._lock.notify_all()

    def _write_loop(self) -> None:
        while True:
            with self._lock:
                while not self._pending or self._available is False:
                    if self._closed:
                        return
                    self._lock.wait()
                name, publish = next(iter(self._pending.items()))
                breaker = self._breakers.get(name)
            try:
                version = self._write(breaker, publish.expect) if breaker is not None else None
            except self._errors as exc:
                self._mark_unavailable(exc)
                continue  # stays pending until Redis is back
            except Exception:  # noqa: BLE001 - the thread must outlive any surprise
                _log.exception("shared state %s: writing %r failed", self._where, name)
                version = None
            with self._lock:
                if self._pending.get(name) is publish:
                    del self._pending[name]
                if version is not None and self._breakers.get(name) is breaker:
                    self._seen[name] = max(self._seen.get(name, 0), version)
            if version is None and breaker is not None and publish.expect is not None:
                self._sync(breaker, attaching=False)  # lost the race: a peer wrote first

    def _write(self, breaker: CircuitBreaker, expect: int | None) -> int | None:
        """Write the breaker's current state; the new version, or None if not written."""
        state = breaker.state
        if state is State.HALF_OPEN:
            return None
        open_for = (breaker.retry_after or 0.0) if state is State.OPEN else 0.0
        args = [self.channel, breaker.name, state.value, f"{open_for:.6f}", self.writer]
        args.append("" if expect is None else str(expect))
        result = self._write_script(keys=[self._key(breaker.name)], args=args)
        return None if result is None else int(_text(result))

    def _key(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    # -- Redis -> local breakers -----------------------------------------------

    def _sync_loop(self) -> None:
        backoff = _BACKOFF_FIRST
        while not self._stop.is_set():
            pubsub: Any = None
            try:
                pubsub = self._client.pubsub()
                pubsub.subscribe(self.channel)
                self._await_subscribed(pubsub)
                self._restore()
                backoff = _BACKOFF_FIRST
                self._listen(pubsub)
            except self._errors as exc:
                self._mark_unavailable(exc)
            except Exception as exc:  # noqa: BLE001 - the thread must outlive any surprise
                _log.exception("shared state %s: the listener failed", self._where)
                self._mark_unavailable(exc)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(*self._errors):
                        pubsub.close()
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, _BACKOFF_CAP)

    def _listen(self, pubsub: Any) -> None:
        """Apply messages until close() or a failure; ping when silent, to notice a dead link."""
        heard = time.monotonic()
        pinged: float | None = None
        while not self._stop.is_set() and self._available:
            message = pubsub.get_message(timeout=_POLL)
            now = time.monotonic()
            if message is not None:
                heard, pinged = now, None
                if _text(message.get("type")) == "message":
                    self._on_message(message.get("data"))
            elif pinged is not None:
                if now - pinged > self._client_timeout():
                    raise TimeoutError("Redis stopped answering on the subscription")
            elif now - heard > _PING_INTERVAL:
                pubsub.ping()
                pinged = now

    def _await_subscribed(self, pubsub: Any) -> None:
        """Wait for Redis to confirm the subscription, so no message slips past the resync."""
        for _ in range(max(1, round(self._client_timeout() / _POLL))):
            message = pubsub.get_message(timeout=_POLL)
            if message is not None and _text(message.get("type")) == "subscribe":
                return
            if self._stop.is_set():
                return
        raise TimeoutError("Redis did not confirm the subscription")

    def _client_timeout(self) -> float:
        kwargs = getattr(self._client.connection_pool, "connection_kwargs", {})
        return float(kwargs.get("socket_timeout") or 5.0) * 2

    def _restore(self) -> None:
        """Connected and subscribed: say so if it had failed, then catch up every breaker."""
        with self._lock:
            was = self._available
            self._available = True
            self._lock.notify_all()
            breakers = list(self._breakers.values())
        if was is False:
            _log.info("shared state %s restored", self._where)
        for breaker in breakers:
            if not self._sync(breaker, attaching=False):
                return

    def _sync(self, breaker: CircuitBreaker, *, attaching: bool) -> bool:
        """Reconcile one breaker with its record; False if Redis failed."""
        try:
            record = self._read_script(keys=[self._key(breaker.name)], args=[])
        except self._errors as exc:
            self._mark_unavailable(exc)
            return False
        if record is None:
            self._seed(breaker, expect=0)
            return True
        state_text, left, writer, version = (_text(item) for item in record)
        try:
            state, remaining, number = State(state_text), float(left), int(version)
        except ValueError:
            return True  # not a record this class wrote
        live = state in _LIVE or (state is State.OPEN and remaining > 0)
        if attaching and not live:
            self._seed(breaker, expect=number)
        elif live or not attaching:
            self._apply(breaker, state, remaining, writer, number)
        return True

    def _seed(self, breaker: CircuitBreaker, *, expect: int) -> None:
        """Publish a local open, forced or disabled state the record does not show."""
        state = breaker.state
        if state not in _LIVE and not (state is State.OPEN and (breaker.retry_after or 0) > 0):
            return
        with self._lock:
            if self._breakers.get(breaker.name) is breaker and breaker.name not in self._pending:
                self._pending[breaker.name] = _Publish(expect)
                self._lock.notify_all()

    def _on_message(self, data: Any) -> None:
        try:
            message = json.loads(data)
            name, writer = str(message["name"]), str(message["writer"])
            state, version = State(message["state"]), int(message["version"])
            remaining = float(message["open_for"])
        except (TypeError, ValueError, KeyError):
            _log.debug("shared state %s: ignored a malformed message", self._where)
            return
        breaker = self._breakers.get(name)
        if breaker is not None:
            # Messages are live: open_for counts from now, without comparing clocks.
            self._apply(breaker, state, remaining, writer, version)

    def _apply(
        self, breaker: CircuitBreaker, state: State, remaining: float, writer: str, version: int
    ) -> None:
        """Adopt a peer's state if it is newer than anything seen and nothing local waits."""
        name = breaker.name
        with self._apply_lock:
            with self._lock:
                if self._breakers.get(name) is not breaker or version <= self._seen.get(name, 0):
                    return
                self._seen[name] = version
                if writer == self.writer or name in self._pending:
                    return
            if state is State.OPEN:
                if remaining > 0:
                    breaker.adopt(state, open_for=remaining, reason=f"shared by {writer}")
            elif state is not State.HALF_OPEN:
                breaker.adopt(state, reason=f"shared by {writer}")

    # -- health ----------------------------------------------------------------

    def _mark_unavailable(self, exc: BaseException) -> None:
        with self._lock:
            was = self._available
            self._available = False
        if was is not False:
            _log.warning(
                "shared state %s unavailable: %s: %s; using local state",
                self._where,
                type(exc).__name__,
                exc,
            )

    def _start(self) -> None:
        """Start the listener and the writer; the caller holds the lock."""
        for target, role in ((self._sync_loop, "listener"), (self._write_loop, "writer")):
            thread = threading.Thread(
                target=target, name=f"djed-breaker-shared-{role}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
