"""1,000 concurrent misses across two processes sharing Redis: one load."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid

import pytest

from ._redis_support import REDIS_URL, require_redis

require_redis()

redis = pytest.importorskip("redis", reason="the redis extra is optional")


_WORKER = textwrap.dedent(
    """
    import asyncio, sys
    import redis
    from djed.cache import Cache, RedisBackend, RedisLock

    url, prefix, go = sys.argv[1], sys.argv[2], sys.argv[3]

    async def main():
        counter = redis.Redis.from_url(url)
        cache = Cache(RedisBackend(url, prefix=prefix), lock=RedisLock(url, prefix=prefix))

        async def load():
            counter.incr(prefix + ":loads")
            await asyncio.sleep(0.3)
            return {"rates": {"EUR": 1.08}}

        while not counter.exists(go):
            await asyncio.sleep(0.005)
        values = await asyncio.gather(*(cache.get_or_load("cold", load) for _ in range(500)))
        assert all(v == {"rates": {"EUR": 1.08}} for v in values), values[:3]
        print(cache.stats.loads)

    asyncio.run(main())
    """
)


class TestCrossProcessStampede:
    def test_one_load_for_a_thousand_misses_in_two_processes(self) -> None:
        """Two processes, 500 concurrent misses each on one cold key: the loader runs once."""
        prefix = f"djed-test-{uuid.uuid4().hex}"
        go = f"{prefix}:go"
        client = redis.Redis.from_url(REDIS_URL)
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", _WORKER, REDIS_URL, prefix, go],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        try:
            client.set(go, 1)
            outputs = [w.communicate(timeout=60) for w in workers]
            for worker, (_out, err) in zip(workers, outputs, strict=True):
                assert worker.returncode == 0, err
            assert int(client.get(f"{prefix}:loads") or 0) == 1
            assert sorted(int(out.strip()) for out, _ in outputs) == [0, 1]
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
            keys = list(client.scan_iter(match=f"{prefix}*"))
            if keys:
                client.delete(*keys)
            client.close()
