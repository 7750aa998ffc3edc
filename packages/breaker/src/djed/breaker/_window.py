"""Sliding windows of call outcomes: by count (a ring) and by time (one bucket a second)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable

__all__ = ["FAILURE", "SLOW", "CountWindow", "TimeWindow", "Totals"]

#: Outcome flags; a slow failure is FAILURE | SLOW.
FAILURE = 1
SLOW = 2
_EMPTY = -1  # a slot no call has filled yet

Totals = tuple[int, int, int]
"""(calls, failures, slow calls) in the window."""


class CountWindow:
    """The outcomes of the last ``size`` calls.

    Recording a success is lock-free: an atomic counter picks the slot and one
    list store writes it. Totals are counted from the ring when they are needed
    (after a failure or a slow call), in C.
    """

    __slots__ = ("_counter", "_ring", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._ring = [_EMPTY] * size
        self._counter = itertools.count()

    def record(self, outcome: int) -> None:
        """Store one call's outcome (0, FAILURE, SLOW or both)."""
        self._ring[next(self._counter) % self.size] = outcome

    def totals(self) -> Totals:
        """Calls, failures and slow calls currently in the window."""
        ring = self._ring
        calls = self.size - ring.count(_EMPTY)
        failures = ring.count(FAILURE) + ring.count(FAILURE | SLOW)
        slow = ring.count(SLOW) + ring.count(FAILURE | SLOW)
        return calls, failures, slow

    def clear(self) -> None:
        """Forget every outcome."""
        self._ring = [_EMPTY] * self.size
        self._counter = itertools.count()


class TimeWindow:
    """The outcomes of the calls of the last ``size`` seconds, in one-second buckets."""

    __slots__ = ("_buckets", "_clock", "_lock", "size")

    def __init__(self, size: int, clock: Callable[[], float]) -> None:
        self.size = size
        self._clock = clock
        self._lock = threading.Lock()
        # second -> [calls, failures, slow]
        self._buckets: dict[int, list[int]] = {}

    def record(self, outcome: int) -> None:
        """Store one call's outcome in the current second's bucket."""
        second = int(self._clock())
        with self._lock:
            bucket = self._buckets.get(second)
            if bucket is None:
                self._expire(second)
                bucket = self._buckets[second] = [0, 0, 0]
            bucket[0] += 1
            if outcome & FAILURE:
                bucket[1] += 1
            if outcome & SLOW:
                bucket[2] += 1

    def _expire(self, now: int) -> None:
        oldest = now - self.size + 1
        for second in [s for s in self._buckets if s < oldest]:
            del self._buckets[second]

    def totals(self) -> Totals:
        """Calls, failures and slow calls in the last ``size`` seconds."""
        with self._lock:
            self._expire(int(self._clock()))
            calls = failures = slow = 0
            for bucket in self._buckets.values():
                calls += bucket[0]
                failures += bucket[1]
                slow += bucket[2]
        return calls, failures, slow

    def clear(self) -> None:
        """Forget every outcome."""
        with self._lock:
            self._buckets.clear()
