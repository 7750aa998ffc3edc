"""RedisSharedState against a real redis-server: replicas trip and recover together."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from djed.breaker import BreakerConfigError, CircuitBreaker, CircuitOpenError, State, _shared
from djed.breaker._shared import RedisSharedState
from djed.breaker.testing import FakeClock, Flaky, FlakyError

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
WAIT = 10.0  # hang guard for every wait; never an expected duration


def _redis_problem() -> str | None:
    try:
        with redis.Redis.from_url(REDIS_URL, socket_timeout=1, socket_connect_timeout=1) as client:
            client.ping()
    except (redis.RedisError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


_PROBLEM = _redis_problem()
if _PROBLEM is not None:
    _REASON = f"needs a redis-server at REDIS_URL={REDIS_URL} ({_PROBLEM}); .ci/run starts one"
    if os.environ.get("CI") == "true":
        pytest.fail(_REASON, pytrace=False)
    pytest.skip(_REASON, allow_module_level=True)


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {WAIT} s waiting for {what}")
        time.sleep(0.01)


def state_of(cb: CircuitBreaker) -> State:
    """Read the state through a call, so type checkers do not narrow it between asserts."""
    return cb.state


def replica(name: str = "payments", **options: Any) -> CircuitBreaker:
    options.setdefault("consecutive_failures", 1)
    options.setdefault("open_duration", 30)
    return CircuitBreaker(name, **options)


def trip(cb: CircuitBreaker) -> None:
    with pytest.raises(FlakyError):
        cb.call(Flaky(["fail"]))
    assert state_of(cb) is State.OPEN


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def shared_messages(caplog: pytest.LogCaptureFixture, words: str) -> list[logging.LogRecord]:
    """The shared-state lines of the djed.breaker logger that contain ``words``."""
    lines = [r for r in caplog.records if r.name == "djed.breaker"]
    shared = [r for r in lines if r.getMessage().startswith("shared state")]
    return [r for r in shared if words in r.getMessage()]


@pytest.fixture
def prefix() -> Iterator[str]:
    """A namespace of its own for each test, removed afterwards."""
    value = f"djed-test:{uuid.uuid4().hex}"
    yield value
    with redis.Redis.from_url(REDIS_URL) as client:
        keys = list(client.scan_iter(match=f"{value}:*"))
        if keys:
            client.delete(*keys)


@pytest.fixture
def raw() -> Iterator[redis.Redis]:
    with redis.Redis.from_url(REDIS_URL, decode_responses=True) as client:
        yield client


@pytest.fixture
def make_shared(prefix: str) -> Iterator[Callable[..., RedisSharedState]]:
    """RedisSharedState factory (one per simulated replica), all closed at teardown."""
    made: list[RedisSharedState] = []

    def make(url: str = REDIS_URL, **options: Any) -> RedisSharedState:
        options.setdefault("prefix", prefix)
        shared = RedisSharedState(url, **options)
        made.append(shared)
        return shared

    yield make
    for shared in made:
        shared.close()


@pytest.fixture
def fast_reconnect(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reconnect after 0.05 s doubling to 0.4 s instead of 1 s to 30 s."""
    monkeypatch.setattr(_shared, "_BACKOFF_FIRST", 0.05)
    monkeypatch.setattr(_shared, "_BACKOFF_CAP", 0.4)


class RedisProcess:
    """A redis-server of the test's own, which it can kill and start again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        with redis.Redis.from_url(self.url, socket_timeout=0.5) as client:
            wait_for(lambda: self._answers(client), f"redis-server on port {self.port}")

    @staticmethod
    def _answers(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    def pause(self) -> None:
        """Freeze the server: connections stay open but nothing answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(WAIT)
        self.process = None


@pytest.fixture
def own_redis() -> Iterator[RedisProcess]:
    if shutil.which("redis-server") is None:
        reason = "needs the redis-server program on PATH; .ci/run installs it"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    server = RedisProcess(free_port())
    server.start()
    yield server
    server.kill()


class TestReplicas:
    def test_trip_opens_the_other(self, make_shared: Callable[..., RedisSharedState]) -> None:
        """Tripping one replica opens the other for about the same time."""
        a, b = replica(), replica()
        make_shared().attach(a)
        make_shared().attach(b)
        trip(a)
        wait_for(lambda: b.state is State.OPEN, "the other replica to open")
        assert b.retry_after == pytest.approx(30, abs=5)
        with pytest.raises(CircuitOpenError):
            b.call(lambda: "never called")

    def test_reset_closes_the_other(self, make_shared: Callable[..., RedisSharedState]) -> None:
        """A reset on one replica closes the other."""
        a, b = replica(), replica()
        make_shared().attach(a)
        make_shared().attach(b)
        trip(a)
        wait_for(lambda: b.state is State.OPEN, "the other replica to open")
        a.reset()
        wait_for(lambda: b.state is State.CLOSED, "the other replica to close")
        assert b.call(lambda: "ok") == "ok"

    def test_recovery_closes_everyone(self, make_shared: Callable[..., RedisSharedState]) -> None:
        """Probes that succeed on one replica close the others, which were still open."""
        clock = FakeClock()
        a = replica(clock=clock, half_open_max_calls=1)
        b = replica()
        make_shared().attach(a)
        make_shared().attach(b)
        trip(a)
        wait_for(lambda: b.state is State.OPEN, "the other replica to open")
        clock.advance(30)
        assert a.call(lambda: "probe") == "probe"
        assert state_of(a) is State.CLOSED
        wait_for(lambda: b.state is State.CLOSED, "the other replica to close")

    def test_a_failed_probe_reopens_the_others(
        self, make_shared: Callable[..., RedisSharedState]
    ) -> None:
        """A replica whose probe fails opens the others again, even those half-open."""
        clock_a, clock_b = FakeClock(), FakeClock()
        a = replica(clock=clock_a, half_open_max_calls=1)
        b = replica(clock=clock_b, half_open_max_calls=1)
        make_shared().attach(a)
        make_shared().attach(b)
        trip(a)
        wait_for(lambda: b.state is State.OPEN, "the other replica to open")
        clock_a.advance(30)
        clock_b.advance(30)
        with b:  # b holds its probe, half-open
            assert state_of(b) is State.HALF_OPEN
            trip(a)  # a's probe fails
            wait_for(lambda: b.state is State.OPEN, "the half-open replica to reopen")

    def test_forced_open_and_disabled_spread(
        self, make_shared: Callable[..., RedisSharedState]
    ) -> None:
        """force_open and disable on one replica reach the other; reset undoes both."""
        a, b = replica(), replica()
        make_shared().attach(a)
        make_shared().attach(b)
        a.force_open()
        wait_for(lambda: b.state is State.FORCED_OPEN, "the other replica to be forced open")
        assert b.retry_after is None
        a.disable()
        wait_for(lambda: b.state is State.DISABLED, "the other replica to be disabled")
        a.reset()
        wait_for(lambda: b.state is State.CLOSED, "the other replica to close")

    def test_only_same_name_and_prefix(
        self, make_shared: Callable[..., RedisSharedState], prefix: str
    ) -> None:
        """Breakers of another name, or under another prefix, stay as they are."""
        a, same, other_name, other_prefix = replica(), replica(), replica("mail"), replica()
        make_shared().attach(a)
        b = make_shared()
        b.attach(same)
        b.attach(other_name)
        make_shared(prefix=f"{prefix}:elsewhere").attach(other_prefix)
        trip(a)
        wait_for(lambda: same.state is State.OPEN, "the same breaker to open")
        assert state_of(other_name) is State.CLOSED
        assert state_of(other_prefix) is State.CLOSED


class TestRecords:
    def test_late_replica_starts_open(
        self, make_shared: Callable[..., RedisSharedState], raw: redis.Redis, prefix: str
    ) -> None:
        """A replica attaching while the others are open is open when attach returns."""
        a = replica()
        make_shared().attach(a)
        trip(a)
        wait_for(lambda: raw.hget(f"{prefix}:payments", "state") == "open", "the record")
        late = replica()
        make_shared().attach(late)
        assert state_of(late) is State.OPEN
        assert late.retry_after == pytest.approx(30, abs=5)

    def test_expired_or_closed_record_not_adopted(
        self, make_shared: Callable[..., RedisSharedState], raw: redis.Redis, prefix: str
    ) -> None:
        """An open record whose time is over does not open a new replica."""
        raw.hset(
            f"{prefix}:payments",
            mapping={
                "state": "open", "changed_at": f"{time.time() - 100:.6f}", "open_for": "30",
                "writer": "elsewhere", "version": "1",
            },
        )  # fmt: skip
        cb = replica()
        make_shared().attach(cb)
        assert state_of(cb) is State.CLOSED

    def test_forced_record_adopted(
        self, make_shared: Callable[..., RedisSharedState], raw: redis.Redis, prefix: str
    ) -> None:
        """A forced-open record holds a new replica open too."""
        a = replica()
        make_shared().attach(a)
        a.force_open()
        wait_for(lambda: raw.hget(f"{prefix}:payments", "state") == "forced_open", "the record")
        late = replica()
        make_shared().attach(late)
        assert state_of(late) is State.FORCED_OPEN

    def test_record_and_message_fields(
        self, make_shared: Callable[..., RedisSharedState], raw: Any, prefix: str
    ) -> None:
        """The hash and the JSON message carry state, times, writer and a growing version."""
        shared = make_shared()
        a = replica()
        shared.attach(a)
        with raw.pubsub() as pubsub:
            pubsub.subscribe(f"{prefix}:events")
            confirmed: list[Any] = []
            wait_for(lambda: bool(receive(pubsub, "subscribe", confirmed)), "the subscription")
            trip(a)
            messages: list[dict[str, Any]] = []
            wait_for(lambda: bool(collect(pubsub, messages)), "the message")
            a.reset()
            wait_for(lambda: len(collect(pubsub, messages)) >= 2, "the second message")
        first, second = messages[:2]
        assert first["name"] == "payments"
        assert first["state"] == "open"
        assert float(first["open_for"]) == pytest.approx(30, abs=5)
        assert first["writer"] == shared.writer
        assert second["state"] == "closed"
        assert int(second["version"]) > int(first["version"])
        record = raw.hgetall(f"{prefix}:payments")
        assert record["state"] == "closed"
        assert record["version"] == second["version"]
        assert float(record["changed_at"]) == pytest.approx(time.time(), abs=60)

    def test_half_open_stays_local(
        self, make_shared: Callable[..., RedisSharedState], raw: redis.Redis, prefix: str
    ) -> None:
        """Going half-open writes nothing: the record still says open."""
        clock = FakeClock()
        a = replica(clock=clock)
        shared = make_shared()
        shared.attach(a)
        trip(a)
        wait_for(lambda: raw.hget(f"{prefix}:payments", "state") == "open", "the record")
        clock.advance(30)
        with a:
            assert state_of(a) is State.HALF_OPEN
            marker = replica("marker")
            shared.attach(marker)
            marker.force_open()  # written after anything queued before it
            wait_for(lambda: raw.hget(f"{prefix}:marker", "state") == "forced_open", "marker")
            assert raw.hget(f"{prefix}:payments", "state") == "open"

    def test_adopted_states_not_echoed(
        self, make_shared: Callable[..., RedisSharedState], raw: redis.Redis, prefix: str
    ) -> None:
        """A replica that adopts a state does not write it back."""
        shared_a, shared_b = make_shared(), make_shared()
        a, b = replica(), replica()
        shared_a.attach(a)
        shared_b.attach(b)
        trip(a)
        wait_for(lambda: b.state is State.OPEN, "the other replica to open")
        marker = replica("marker")
        shared_b.attach(marker)
        marker.force_open()
        wait_for(lambda: raw.hget(f"{prefix}:marker", "state") == "forced_open", "marker")
        assert raw.hget(f"{prefix}:payments", "writer") == shared_a.writer

    def test_stale_message_loses(
        self, make_shared: Callable[..., RedisSharedState], raw: redis.Redis, prefix: str
    ) -> None:
        """A message older than the last one seen does not undo it."""
        a, b, marker = replica(), replica(), replica("marker")
        make_shared().attach(a)
        shared_b = make_shared()
        shared_b.attach(b)
        shared_b.attach(marker)
        trip(a)
        wait_for(lambda: b.state is State.OPEN, "the other replica to open")
        channel = f"{prefix}:events"
        stale = {"name": "payments", "state": "closed", "open_for": "0", "writer": "old"}
        raw.publish(channel, json.dumps({**stale, "version": "1"}))
        fresh = {"name": "marker", "state": "forced_open", "open_for": "0", "writer": "new"}
        raw.publish(channel, json.dumps({**fresh, "version": str(2**60)}))
        wait_for(lambda: marker.state is State.FORCED_OPEN, "the later message")
        assert state_of(b) is State.OPEN


def receive(pubsub: Any, kind: str, into: list[Any]) -> list[Any]:
    """Wait a little for one pub/sub message; keep it in ``into`` if it is of ``kind``."""
    message = pubsub.get_message(timeout=0.05)
    if message is not None and message["type"] == kind:
        into.append(message["data"])
    return into


def collect(pubsub: Any, into: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Wait a little for one published message; keep it, decoded, in ``into``."""
    received = receive(pubsub, "message", [])
    into.extend(json.loads(data) for data in received)
    return into


class TestAttach:
    def test_same_name_twice_refused(self, make_shared: Callable[..., RedisSharedState]) -> None:
        """One RedisSharedState shares one breaker per name; the same one again is a no-op."""
        shared = make_shared()
        first = replica()
        shared.attach(first)
        shared.attach(first)
        with pytest.raises(BreakerConfigError, match="already attached"):
            shared.attach(replica())

    def test_detach_stops_sharing(
        self, make_shared: Callable[..., RedisSharedState], raw: redis.Redis, prefix: str
    ) -> None:
        """A detached breaker neither writes nor adopts."""
        shared_a, shared_b = make_shared(), make_shared()
        a, b, marker = replica(), replica(), replica("marker")
        shared_a.attach(a)
        shared_b.attach(b)
        shared_b.attach(marker)
        shared_b.detach(b)
        trip(b)
        a.force_open()
        wait_for(lambda: raw.hget(f"{prefix}:payments", "state") == "forced_open", "a's record")
        marker.force_open()
        wait_for(lambda: raw.hget(f"{prefix}:marker", "state") == "forced_open", "marker")
        assert state_of(b) is State.OPEN
        assert raw.hget(f"{prefix}:payments", "writer") == shared_a.writer

    def test_reattach_writes_once(
        self, make_shared: Callable[..., RedisSharedState], raw: redis.Redis, prefix: str
    ) -> None:
        """Attaching again after detach shares the breaker again, with one listener."""
        shared = make_shared()
        cb = replica()
        shared.attach(cb)
        shared.detach(cb)
        shared.attach(cb)
        trip(cb)
        wait_for(lambda: raw.hget(f"{prefix}:payments", "state") == "open", "the record")
        assert cb._listeners.count(shared._on_transition) == 1

    def test_settings_checked(self) -> None:
        """Bad settings raise BreakerConfigError naming the problem."""
        with pytest.raises(BreakerConfigError, match="URL"):
            RedisSharedState("http://example.com")
        with pytest.raises(BreakerConfigError, match="not both"):
            RedisSharedState(REDIS_URL, client=object())
        with pytest.raises(BreakerConfigError, match="prefix"):
            RedisSharedState(REDIS_URL, prefix="")
        with pytest.raises(BreakerConfigError, match="socket_timeout"):
            RedisSharedState(REDIS_URL, socket_timeout=0)

    def test_without_redis_py(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without the extra installed, the error says what to install."""
        monkeypatch.setitem(sys.modules, "redis", None)
        with pytest.raises(BreakerConfigError, match=r"pip install 'djed-breaker\[redis\]'"):
            RedisSharedState(REDIS_URL)

    def test_own_client(self, make_shared: Callable[..., RedisSharedState], prefix: str) -> None:
        """A client passed in works (decoded replies too) and stays open after close()."""
        with redis.Redis.from_url(REDIS_URL, decode_responses=True) as client:
            mine = RedisSharedState(client=client, prefix=prefix)
            a, b = replica(), replica()
            mine.attach(a)
            make_shared().attach(b)
            trip(b)
            wait_for(lambda: a.state is State.OPEN, "the replica on the given client to open")
            mine.close()
            assert client.ping()

    def test_env_url(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """DJED_BREAKER_REDIS_URL is the default URL."""
        monkeypatch.setenv("DJED_BREAKER_REDIS_URL", "redis://127.0.0.1:1/3")
        with RedisSharedState() as shared:
            assert repr(shared) == (
                "RedisSharedState('redis://127.0.0.1:1/3', prefix='djed:breaker')"
            )


class TestThreads:
    def test_close_stops_its_threads(self, make_shared: Callable[..., RedisSharedState]) -> None:
        """After close() no thread the class started is alive, and attach is refused."""
        before = set(threading.enumerate())
        shared = make_shared()
        shared.attach(replica())
        started = set(threading.enumerate()) - before
        assert started
        shared.close()
        shared.close()
        assert not [t for t in started if t.is_alive()]
        with pytest.raises(BreakerConfigError, match="closed"):
            shared.attach(replica())

    def test_close_while_unreachable(self, make_shared: Callable[..., RedisSharedState]) -> None:
        """close() also stops threads that are waiting to reconnect."""
        before = set(threading.enumerate())
        shared = make_shared(f"redis://127.0.0.1:{free_port()}/0")
        cb = replica()
        shared.attach(cb)
        trip(cb)
        wait_for(lambda: shared.available is False, "the fallback")
        started = set(threading.enumerate()) - before
        shared.close()
        assert not [t for t in started if t.is_alive()]

    def test_concurrent_trips(self, make_shared: Callable[..., RedisSharedState]) -> None:
        """Many threads tripping and resetting leave the replicas agreeing."""
        a, b = replica(), replica()
        make_shared().attach(a)
        make_shared().attach(b)

        def churn() -> None:
            for _ in range(50):
                with contextlib.suppress(FlakyError, CircuitOpenError):
                    a.call(Flaky(["fail"]))
                a.reset()

        workers = [threading.Thread(target=churn) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(WAIT)
        trip(a)
        wait_for(lambda: b.state is State.OPEN, "the replicas to agree on open")
        a.reset()
        wait_for(lambda: b.state is State.CLOSED, "the replicas to agree on closed")


_CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from djed.breaker import CircuitBreaker
    from djed.breaker._shared import RedisSharedState

    url, prefix, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    breaker = CircuitBreaker("payments", consecutive_failures=1, open_duration=30)
    shared = RedisSharedState(url, prefix=prefix)
    shared.attach(breaker)
    (folder / "ready").touch()
    deadline = time.monotonic() + 10
    while not (folder / "go").exists():
        if time.monotonic() > deadline:
            sys.exit("the parent never said go")
        time.sleep(0.01)
    try:
        breaker.call(lambda: 1 / 0)
    except ZeroDivisionError:
        pass
    assert breaker.state == "open", breaker.state
    shared.close()
    """
)


class TestProcesses:
    def test_another_process_trips_this_one(
        self, make_shared: Callable[..., RedisSharedState], prefix: str, tmp_path: Path
    ) -> None:
        """A breaker tripping in another process opens this process's breaker."""
        cb = replica()
        make_shared().attach(cb)
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, REDIS_URL, prefix, str(tmp_path)],
            stderr=subprocess.PIPE,
        )
        try:
            wait_for(lambda: (tmp_path / "ready").exists() or child.poll() is not None, "child")
            (tmp_path / "go").touch()
            _, errors = child.communicate(timeout=WAIT)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        assert child.returncode == 0, errors.decode()
        wait_for(lambda: cb.state is State.OPEN, "the breaker to open from the other process")
        assert cb.retry_after == pytest.approx(30, abs=5)


class TestRedisDown:
    @pytest.mark.usefixtures("fast_reconnect")
    def test_unreachable_falls_back_to_local_state(
        self, make_shared: Callable[..., RedisSharedState], caplog: pytest.LogCaptureFixture
    ) -> None:
        """Nothing listening: the breaker works alone, one warning, no exception."""
        caplog.set_level(logging.INFO, logger="djed.breaker")
        shared = make_shared(f"redis://127.0.0.1:{free_port()}/0")
        cb = replica()
        shared.attach(cb)
        assert shared.available is False
        trip(cb)
        with pytest.raises(CircuitOpenError):
            cb.call(lambda: "never called")
        cb.reset()
        trip(cb)
        time.sleep(0.5)  # several reconnection attempts, none of which may log again
        shared.close()
        assert len(shared_messages(caplog, "unavailable")) == 1
        message = shared_messages(caplog, "unavailable")[0]
        assert message.levelno == logging.WARNING
        assert "using local state" in message.getMessage()
        assert not shared_messages(caplog, "restored")

    @pytest.mark.usefixtures("fast_reconnect")
    def test_redis_killed_and_back(
        self,
        own_redis: RedisProcess,
        make_shared: Callable[..., RedisSharedState],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """Redis dies: one warning each, local state; back: one info line each, sharing again."""
        caplog.set_level(logging.INFO, logger="djed.breaker")
        shared_a, shared_b = make_shared(own_redis.url), make_shared(own_redis.url)
        a, b = replica(), replica()
        shared_a.attach(a)
        shared_b.attach(b)
        trip(a)
        wait_for(lambda: b.state is State.OPEN, "sharing before the outage")
        a.reset()
        wait_for(lambda: b.state is State.CLOSED, "sharing before the outage")

        own_redis.kill()
        wait_for(lambda: len(shared_messages(caplog, "unavailable")) == 2, "one warning each")
        assert shared_a.available is False
        assert shared_b.available is False
        trip(a)  # local only, remembered
        with pytest.raises(CircuitOpenError):
            a.call(lambda: "never called")
        assert state_of(b) is State.CLOSED

        own_redis.start()
        wait_for(lambda: bool(shared_a.available and shared_b.available), "the reconnection")
        wait_for(lambda: b.state is State.OPEN, "the change made during the outage to spread")
        a.reset()
        wait_for(lambda: b.state is State.CLOSED, "sharing after the outage")
        wait_for(lambda: len(shared_messages(caplog, "restored")) == 2, "one info line each")
        assert all(r.levelno == logging.INFO for r in shared_messages(caplog, "restored"))
        assert len(shared_messages(caplog, "unavailable")) == 2

    @pytest.mark.usefixtures("fast_reconnect")
    def test_redis_frozen_and_back(
        self,
        own_redis: RedisProcess,
        make_shared: Callable[..., RedisSharedState],
        caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Redis stops answering (timeouts, not refusals): the same fallback and recovery."""
        monkeypatch.setattr(_shared, "_PING_INTERVAL", 0.2)
        caplog.set_level(logging.INFO, logger="djed.breaker")
        shared_a, shared_b = make_shared(own_redis.url), make_shared(own_redis.url)
        a, b = replica(), replica()
        shared_a.attach(a)
        shared_b.attach(b)
        own_redis.pause()
        try:
            wait_for(lambda: len(shared_messages(caplog, "unavailable")) == 2, "one warning each")
            assert shared_a.available is False
            assert shared_b.available is False
            trip(a)  # the caller never waits for Redis
            assert state_of(b) is State.CLOSED
        finally:
            own_redis.resume()
        wait_for(lambda: b.state is State.OPEN, "the change made during the outage to spread")
        assert len(shared_messages(caplog, "unavailable")) == 2
        wait_for(lambda: len(shared_messages(caplog, "restored")) == 2, "both to be restored")

    @pytest.mark.usefixtures("fast_reconnect")
    def test_open_state_written_again_after_redis_lost_it(
        self, own_redis: RedisProcess, make_shared: Callable[..., RedisSharedState]
    ) -> None:
        """An open replica writes its state into a restarted, empty Redis for late joiners."""
        shared = make_shared(own_redis.url)
        a = replica()
        shared.attach(a)
        trip(a)
        with redis.Redis.from_url(own_redis.url) as client:
            wait_for(lambda: client.exists(f"{shared.prefix}:payments") == 1, "the record")
        own_redis.kill()
        wait_for(lambda: shared.available is False, "the fallback")
        own_redis.start()
        wait_for(lambda: bool(shared.available), "the reconnection")
        with redis.Redis.from_url(own_redis.url) as client:
            wait_for(lambda: client.exists(f"{shared.prefix}:payments") == 1, "the rewrite")
        late = replica()
        make_shared(own_redis.url).attach(late)
        assert state_of(late) is State.OPEN
