from __future__ import annotations

import math
import threading
from typing import Any

import pytest
from djed.mcp_base._ratelimit import DEFAULT_RATE, Decision, Rate, RateLimiter


class FakeClock:
    """Seconds that move only when told to, or by ``step`` on every reading."""

    def __init__(self, start: float = 1_000.0, step: float = 0.0) -> None:
        self.now = start
        self.step = step
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            now = self.now
            self.now += self.step
            return now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def drain(limiter: RateLimiter, client: str, tool: str | None, times: int) -> list[Decision]:
    return [limiter.check(client, tool) for _ in range(times)]


class TestRate:
    def test_defaults(self) -> None:
        """The default rate is ten a second with bursts of twenty; burst defaults to 1."""
        assert Rate(per_second=10, burst=20) == DEFAULT_RATE
        assert Rate(3).burst == 1

    @pytest.mark.parametrize("per_second", [0, -1, math.nan, math.inf, True, "5"])
    def test_per_second_must_be_positive_and_finite(self, per_second: Any) -> None:
        """A bad per_second raises ValueError naming the field."""
        with pytest.raises(ValueError, match=r"Rate\.per_second"):
            Rate(per_second, 5)

    @pytest.mark.parametrize("burst", [0, -3, 1.5, True, "2"])
    def test_burst_must_be_a_whole_number_at_least_one(self, burst: Any) -> None:
        """A bad burst raises ValueError naming the field."""
        with pytest.raises(ValueError, match=r"Rate\.burst"):
            Rate(1.0, burst)


class TestBucket:
    def test_burst_then_deny_with_retry_after(self) -> None:
        """A fresh client gets `burst` calls at once; the next waits for one token."""
        clock = FakeClock()
        limiter = RateLimiter(Rate(per_second=2, burst=5), clock=clock)
        decisions = drain(limiter, "a", None, 5)
        assert all(d.allowed for d in decisions)
        assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0]
        assert all(d.limit == 5 and d.retry_after == 0.0 for d in decisions)
        refused = limiter.check("a")
        assert not refused.allowed
        assert refused.retry_after == pytest.approx(0.5)
        assert refused.reset_after == pytest.approx(2.5)
        assert refused.rule == "default"

    def test_retry_after_counts_partial_refill(self) -> None:
        """After part of a token came back, retry_after is only the rest."""
        clock = FakeClock()
        limiter = RateLimiter(Rate(per_second=0.2, burst=1), clock=clock)
        assert limiter.check("a").allowed
        clock.advance(3.0)
        refused = limiter.check("a")
        assert not refused.allowed
        assert refused.retry_after == pytest.approx(2.0)

    def test_refills_continuously_up_to_burst(self) -> None:
        """Tokens come back at per_second, never beyond burst."""
        clock = FakeClock()
        limiter = RateLimiter(Rate(per_second=10, burst=4), clock=clock)
        drain(limiter, "a", None, 4)
        clock.advance(0.25)  # two and a half tokens
        assert [d.allowed for d in drain(limiter, "a", None, 3)] == [True, True, False]
        clock.advance(3600)
        assert sum(d.allowed for d in drain(limiter, "a", None, 10)) == 4

    def test_waiting_retry_after_is_enough(self) -> None:
        """Waiting exactly retry_after gets the call through."""
        clock = FakeClock()
        limiter = RateLimiter(Rate(per_second=3, burst=2), clock=clock)
        drain(limiter, "a", None, 2)
        for _ in range(20):
            refused = limiter.check("a")
            assert not refused.allowed
            clock.advance(refused.retry_after)
            assert limiter.check("a").allowed

    def test_clock_going_back_adds_nothing(self) -> None:
        """A clock that steps backwards neither refills nor breaks the bucket."""
        clock = FakeClock()
        limiter = RateLimiter(Rate(per_second=1, burst=1), clock=clock)
        assert limiter.check("a").allowed
        clock.advance(-10)
        assert not limiter.check("a").allowed
        clock.advance(11)
        assert limiter.check("a").allowed


class TestPerTool:
    def limiter(self, clock: FakeClock) -> RateLimiter:
        return RateLimiter(
            default=Rate(per_second=10, burst=20),
            per_tool={
                "search": Rate(2, 5),
                "export_*": Rate(0.2, 1),
                "export_csv*": Rate(1, 3),
                "report_?": Rate(1, 2),
                "report_*": Rate(1, 7),
            },
            clock=clock,
        )

    def test_exact_name_has_its_own_rate(self) -> None:
        """A tool named in per_tool draws from a bucket of that rate."""
        limiter = self.limiter(FakeClock())
        decisions = drain(limiter, "a", "search", 6)
        assert [d.allowed for d in decisions] == [True] * 5 + [False]
        assert decisions[0].limit == 5
        assert decisions[0].rule == "search"

    def test_pattern_bucket_is_shared_by_matching_tools(self) -> None:
        """Every tool matching one pattern draws from the same bucket."""
        limiter = self.limiter(FakeClock())
        assert limiter.check("a", "export_pdf").allowed
        refused = limiter.check("a", "export_xlsx")
        assert not refused.allowed
        assert refused.rule == "export_*"
        assert refused.retry_after == pytest.approx(5.0)

    def test_longer_pattern_wins(self) -> None:
        """Of two matching patterns the longer decides."""
        limiter = self.limiter(FakeClock())
        assert limiter.rule_for("export_csv_gz") == ("export_csv*", Rate(1, 3))
        assert limiter.rule_for("export_json") == ("export_*", Rate(0.2, 1))
        assert limiter.rule_for("report_a")[0] == "report_?"
        assert limiter.rule_for("report_ab")[0] == "report_*"

    def test_exact_name_beats_patterns(self) -> None:
        """An exact key wins over any pattern matching the same name."""
        limiter = RateLimiter(per_tool={"export_*_full": Rate(1, 2), "export_x": Rate(1, 9)})
        assert limiter.rule_for("export_x") == ("export_x", Rate(1, 9))

    def test_equal_length_patterns_go_to_the_first_listed(self) -> None:
        """Between patterns of the same length the one listed first decides."""
        limiter = RateLimiter(per_tool={"a*c": Rate(1, 2), "ab*": Rate(1, 3)})
        assert limiter.rule_for("abc")[0] == "a*c"

    def test_other_tools_and_non_tool_requests_share_the_default(self) -> None:
        """Unmatched tools and tool=None draw from one default bucket per client."""
        clock = FakeClock()
        limiter = RateLimiter(Rate(1, 3), {"search": Rate(1, 1)}, clock=clock)
        assert limiter.check("a", "lookup").allowed
        assert limiter.check("a", None).allowed
        assert limiter.check("a", "other").allowed
        refused = limiter.check("a", "lookup")
        assert not refused.allowed
        assert refused.rule == "default"
        assert limiter.check("a", "search").allowed
        assert limiter.rule_for(None) == ("default", Rate(1, 3))

    def test_resolution_cache_is_bounded(self) -> None:
        """Remembered tool names never exceed cache_size, and answers stay right."""
        limiter = RateLimiter(per_tool={"x*": Rate(1, 2)}, cache_size=3)
        for i in range(50):
            assert limiter.rule_for(f"x{i}")[0] == "x*"
            assert limiter.rule_for(f"y{i}")[0] == "default"
        assert len(limiter._resolved) <= 3

    def test_bad_keys_and_values(self) -> None:
        """Empty keys raise ValueError and non-Rate values TypeError, naming per_tool."""
        with pytest.raises(ValueError, match="per_tool"):
            RateLimiter(per_tool={"": Rate(1, 1)})
        with pytest.raises(TypeError, match=r"per_tool\['search'\]"):
            RateLimiter(per_tool={"search": (1, 2)})  # type: ignore[dict-item]


class TestClients:
    def test_clients_are_independent(self) -> None:
        """One client emptying its bucket leaves another's full."""
        limiter = RateLimiter(Rate(1, 2), clock=FakeClock())
        drain(limiter, "a", None, 2)
        assert not limiter.check("a").allowed
        assert [d.allowed for d in drain(limiter, "b", None, 3)] == [True, True, False]

    def test_memory_is_bounded_by_max_clients(self) -> None:
        """Past max_clients the longest idle client is forgotten."""
        limiter = RateLimiter(Rate(1, 1), max_clients=3, clock=FakeClock())
        for i in range(10):
            limiter.check(f"c{i}")
        assert len(limiter) == 3
        assert limiter.evictions == 7

    def test_eviction_is_least_recently_used(self) -> None:
        """A client seen recently survives; the idle one goes and comes back full."""
        limiter = RateLimiter(Rate(1, 1), max_clients=2, clock=FakeClock())
        limiter.check("old")
        limiter.check("busy")
        assert not limiter.check("old").allowed  # "old" is now the most recent
        limiter.check("new")  # pushes out "busy"
        assert not limiter.check("old").allowed
        assert limiter.check("busy").allowed  # forgotten, so a full bucket again

    def test_forget(self) -> None:
        """forget() drops a client's buckets."""
        limiter = RateLimiter(Rate(1, 1), clock=FakeClock())
        limiter.check("a")
        limiter.forget("a")
        limiter.forget("never-seen")
        assert len(limiter) == 0
        assert limiter.check("a").allowed

    def test_configuration_errors(self) -> None:
        """Out-of-range settings raise at construction, naming the argument."""
        with pytest.raises(ValueError, match="max_clients"):
            RateLimiter(max_clients=0)
        with pytest.raises(ValueError, match="cache_size"):
            RateLimiter(cache_size=0)
        with pytest.raises(TypeError, match="default"):
            RateLimiter(default=10)  # type: ignore[arg-type]


class TestThreads:
    def test_concurrent_checks_never_overspend(self) -> None:
        """Threads hammering one client get exactly what one thread would: burst + refill."""
        rate, calls, threads = Rate(per_second=50, burst=10), 500, 8

        def run_threads() -> tuple[int, float]:
            clock = FakeClock(step=0.001)  # every reading moves time by 1 ms
            limiter = RateLimiter(rate, clock=clock)
            start = clock.now
            allowed = [0] * threads
            barrier = threading.Barrier(threads)

            def worker(slot: int) -> None:
                barrier.wait()
                for _ in range(calls):
                    allowed[slot] += limiter.check("shared", "tool").allowed

            pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join()
            return sum(allowed), clock.now - start

        total, elapsed = run_threads()
        clock = FakeClock(step=0.001)
        limiter = RateLimiter(rate, clock=clock)
        sequential = sum(limiter.check("shared", "tool").allowed for _ in range(calls * threads))
        assert total == sequential
        assert total <= rate.burst + elapsed * rate.per_second + 1e-6
        assert total < calls * threads
