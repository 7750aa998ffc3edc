from __future__ import annotations

import asyncio
import threading

import pytest
from djed.breaker import BreakerConfigError, Bulkhead, BulkheadFullError, Guard


def wait_until(condition: object, limit: float = 5.0) -> None:
    """Poll a condition; the limit only guards against a hang."""
    done = threading.Event()
    for _ in range(int(limit / 0.005)):
        if condition():  # type: ignore[operator]
            return
        done.wait(0.005)
    raise AssertionError("condition not reached")


class TestSync:
    def test_caps_concurrency_and_refuses_without_queue(self) -> None:
        """Beyond max_concurrent running calls, a call fails fast without running."""
        bulkhead = Bulkhead("pdf", max_concurrent=2)
        release = threading.Event()
        threads = [threading.Thread(target=bulkhead.call, args=(release.wait, 5)) for _ in range(2)]
        for thread in threads:
            thread.start()
        wait_until(lambda: bulkhead.running == 2)
        ran: list[int] = []
        with pytest.raises(BulkheadFullError) as info:
            bulkhead.call(ran.append, 1)
        assert ran == []
        assert info.value.max_concurrent == 2
        release.set()
        for thread in threads:
            thread.join()
        assert bulkhead.running == 0
        assert bulkhead.call(len, "abc") == 3

    def test_queue_hands_the_slot_over_in_order(self) -> None:
        """Queued callers run as slots free up, first come first served."""
        bulkhead = Bulkhead("pdf", max_concurrent=1, max_queue=3, queue_timeout=5)
        release = threading.Event()
        order: list[int] = []
        first = threading.Thread(target=bulkhead.call, args=(release.wait, 5))
        first.start()
        wait_until(lambda: bulkhead.running == 1)
        queued = []
        for n in range(3):
            thread = threading.Thread(target=bulkhead.call, args=(order.append, n))
            thread.start()
            wait_until(lambda n=n: len(bulkhead._waiters) == n + 1)
            queued.append(thread)
        release.set()
        for thread in [first, *queued]:
            thread.join()
        assert order == [0, 1, 2]
        assert bulkhead.running == 0

    def test_queue_timeout_and_full_queue(self) -> None:
        """A waiter that times out, or finds the queue full, is refused."""
        bulkhead = Bulkhead("pdf", max_concurrent=1, max_queue=1, queue_timeout=0.01)
        release = threading.Event()
        holder = threading.Thread(target=bulkhead.call, args=(release.wait, 5))
        holder.start()
        wait_until(lambda: bulkhead.running == 1)
        with pytest.raises(BulkheadFullError):
            bulkhead.call(len, "x")  # waits 10 ms in the queue, then gives up
        assert len(bulkhead._waiters) == 0
        release.set()
        holder.join()
        assert bulkhead.rejections == 1

    def test_bad_settings(self) -> None:
        """max_concurrent below 1 is refused."""
        with pytest.raises(BreakerConfigError):
            Bulkhead("x", 0)


class TestAsync:
    @pytest.mark.asyncio
    async def test_tasks_share_the_cap(self) -> None:
        """Tasks beyond the cap and the queue are refused; queued ones run in turn."""
        bulkhead = Bulkhead("api", max_concurrent=2, max_queue=2, queue_timeout=5)
        gate = asyncio.Event()
        peak = running = 0

        async def work() -> str:
            nonlocal peak, running
            running += 1
            peak = max(peak, running)
            await gate.wait()
            running -= 1
            return "done"

        async def attempt() -> str:
            try:
                return await bulkhead.call_async(work)
            except BulkheadFullError:
                return "full"

        tasks = [asyncio.create_task(attempt()) for _ in range(6)]
        await asyncio.sleep(0.01)
        gate.set()
        results = await asyncio.gather(*tasks)
        assert results.count("done") == 4
        assert results.count("full") == 2
        assert peak == 2
        assert bulkhead.running == 0

    @pytest.mark.asyncio
    async def test_guard_with_bulkhead(self) -> None:
        """A Guard's bulkhead refusal can be turned into a fallback."""
        bulkhead = Bulkhead("api", max_concurrent=1)
        guard = Guard(bulkhead=bulkhead, fallback="busy")
        gate = asyncio.Event()

        async def slow() -> str:
            await gate.wait()
            return "ok"

        first = asyncio.create_task(guard.call_async(slow))
        await asyncio.sleep(0.01)
        assert await guard.call_async(slow) == "busy"
        gate.set()
        assert await first == "ok"
