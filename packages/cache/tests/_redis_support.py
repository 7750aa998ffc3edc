"""What the Redis-backed tests of this package share: the server check and small helpers."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable

import pytest
import redis

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
WAIT = 10.0  # hang guard for every wait; never an expected duration


def require_redis() -> None:
    """Skip the calling module when no redis-server answers, or fail under CI=true."""
    try:
        with redis.Redis.from_url(REDIS_URL, socket_timeout=1, socket_connect_timeout=1) as client:
            client.ping()
    except (redis.RedisError, OSError) as exc:
        reason = (
            f"needs a redis-server at REDIS_URL={REDIS_URL} ({type(exc).__name__}: {exc}); "
            ".ci/run starts one"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason, allow_module_level=True)


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def unused_url() -> str:
    """A Redis URL where no server answers."""
    return f"redis://127.0.0.1:{free_port()}/0"


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition``; ``WAIT`` only guards against a hang."""
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {WAIT} s waiting for {what}")
        time.sleep(0.02)


def cache_lines(caplog: pytest.LogCaptureFixture, words: str) -> list[logging.LogRecord]:
    """The lines of the djed.cache logger containing ``words``."""
    return [r for r in caplog.records if r.name == "djed.cache" and words in r.getMessage()]
