"""Request rates: token buckets per client and tool, and detection of sudden bursts."""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import translate
from typing import Literal

__all__ = ["DEFAULT_RATE", "BurstRule", "Decision", "Rate", "RateLimiter"]

# A bucket holding 0.999999999 tokens after float arithmetic still has one.
_EPSILON = 1e-9
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class Rate:
    """How often a client may call: ``per_second`` on average, up to ``burst`` at once.

    >>> Rate(per_second=2, burst=5)  # five calls at once, then one every half second
    Rate(per_second=2, burst=5)

    Args:
        per_second: Tokens added to the bucket each second; a positive finite number
            (``0.2`` is one call every five seconds).
        burst: Size of the bucket, a whole number of calls, at least 1. A fresh or
            long-idle client may make this many calls at once.

    Raises:
        ValueError: Naming the field, when a value is out of range.
    """

    per_second: float
    burst: int = 1

    def __post_init__(self) -> None:
        per_second: object = self.per_second
        burst: object = self.burst
        if (
            isinstance(per_second, bool)
            or not isinstance(per_second, int | float)
            or not math.isfinite(per_second)
            or per_second <= 0
        ):
            raise ValueError(
                f"Rate.per_second must be a positive finite number of calls per second, "
                f"not {per_second!r}"
            )
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError(
                f"Rate.burst must be a whole number of calls, at least 1, not {burst!r}"
            )


DEFAULT_RATE = Rate(per_second=10, burst=20)
"""Ten calls a second on average, twenty at once: the rate of tools without a rule of their own."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer of :meth:`RateLimiter.check` for one call.

    Attributes:
        allowed: Whether the call may go ahead; a token was taken if so.
        retry_after: Seconds until one token is back: ``0.0`` when allowed.
        limit: Size of the bucket that decided (its ``burst``).
        remaining: Whole tokens left in that bucket after this call.
        reset_after: Seconds until that bucket is full again.
        rule: ``"default"``, or the ``per_tool`` key whose rate applied.
    """

    allowed: bool
    retry_after: float
    limit: int
    remaining: int
    reset_after: float
    rule: str


class RateLimiter:
    """Token buckets per client, with a rate per tool, in bounded memory.

    >>> limiter = RateLimiter(
    ...     default=Rate(per_second=10, burst=20),
    ...     per_tool={"search": Rate(2, 5), "export_*": Rate(0.2, 1)},
    ... )
    >>> limiter.check("client-a", "search").allowed
    True

    Each client (a token id, a session, an address: whatever the caller passes as
    ``client``) has its own buckets. A bucket starts full with ``burst`` tokens,
    gains ``per_second`` tokens a second (continuously, not in ticks) up to
    ``burst``, and each allowed call takes one token. A call finding less than one
    token is refused, with ``retry_after`` saying when the next token arrives.

    Which bucket a call draws from: a tool whose name is a ``per_tool`` key has a
    bucket of its own; otherwise the longest matching glob pattern (``fnmatch``
    syntax: ``*``, ``?``, ``[abc]``) decides, ties going to the key listed first,
    and every tool matching that pattern shares one bucket (``"export_*"`` above
    allows one export of any kind every five seconds). All other calls, and calls
    with ``tool=None`` (reading resources, listing, any request that is not a tool
    call), share the client's ``default`` bucket. A call draws from exactly one
    bucket.

    Memory stays bounded: past ``max_clients`` clients, the one idle the longest is
    forgotten. A forgotten client that comes back starts with full buckets, so
    ``max_clients`` must exceed the number of clients active within one refill
    period (``burst / per_second``), or a crowd of new clients pushing out old ones
    lets those old ones burst again. Each check costs O(1): one lock, a dictionary
    lookup or two and some arithmetic; the tool-to-rule resolution is cached (up to
    ``cache_size`` tool names). Safe to share between threads.

    Args:
        default: The rate of calls without a ``per_tool`` rule.
        per_tool: Rates by tool name or glob pattern.
        max_clients: How many clients to remember, at least 1.
        clock: Monotonic seconds; tests pass a fake one.
        cache_size: How many tool names to remember the resolved rule of.

    Raises:
        ValueError: Naming the argument, when one is out of range.
    """

    def __init__(
        self,
        default: Rate = DEFAULT_RATE,
        per_tool: Mapping[str, Rate] | None = None,
        *,
        max_clients: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
        cache_size: int = 4096,
    ) -> None:
        if not isinstance(default, Rate):
            raise TypeError(f"default must be a Rate, not {type(default).__name__}")
        if max_clients < 1:
            raise ValueError(f"max_clients must be at least 1, not {max_clients!r}")
        if cache_size < 1:
            raise ValueError(f"cache_size must be at least 1, not {cache_size!r}")
        self.default = default
        self.per_tool: Mapping[str, Rate] = dict(per_tool or {})
        self.max_clients = max_clients
        self.evictions = 0
        # Rules by index: 0 is the default, then the per_tool entries in order.
        self._rules: list[tuple[str, float, int]] = [("default", default.per_second, default.burst)]
        self._exact: dict[str, int] = {}
        patterns: list[tuple[int, int, Callable[[str], object]]] = []
        for index, (key, rate) in enumerate(self.per_tool.items(), start=1):
            if not isinstance(key, str) or not key:
                raise ValueError(f"per_tool keys must be tool names or patterns, not {key!r}")
            if not isinstance(rate, Rate):
                raise TypeError(f"per_tool[{key!r}] must be a Rate, not {type(rate).__name__}")
            self._rules.append((key, rate.per_second, rate.burst))
            if _GLOB_CHARS.isdisjoint(key):
                self._exact[key] = index
            else:
                patterns.append((-len(key), index, re.compile(translate(key)).match))
        patterns.sort(key=lambda p: (p[0], p[1]))
        self._patterns = [(index, match) for _, index, match in patterns]
        self._resolved: dict[str, int] = {}
        self._cache_size = cache_size
        self._clock = clock
        # client -> {rule index: [tokens, time of the last update]}
        self._clients: OrderedDict[str, dict[int, list[float]]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """How many clients are remembered."""
        return len(self._clients)

    def rule_for(self, tool: str | None) -> tuple[str, Rate]:
        """The rule a call to ``tool`` draws from: its name and rate."""
        with self._lock:
            index = self._resolve(tool)
        key = self._rules[index][0]
        return key, self.default if index == 0 else self.per_tool[key]

    def check(self, client: str, tool: str | None = None) -> Decision:
        """Take one token for ``client`` calling ``tool``, if there is one.

        Args:
            client: Who is calling; each value has its own buckets.
            tool: The tool called, or ``None`` for a request that is not a tool call.

        Returns:
            Whether the call may go ahead and, when not, how long to wait.
        """
        with self._lock:
            index = self._resolve(tool)
            rule, per_second, burst = self._rules[index]
            now = self._clock()
            clients = self._clients
            buckets = clients.get(client)
            if buckets is None:
                buckets = clients[client] = {}
                if len(clients) > self.max_clients:
                    clients.popitem(last=False)
                    self.evictions += 1
            else:
                clients.move_to_end(client)
            bucket = buckets.get(index)
            if bucket is None:
                tokens = float(burst)
                bucket = buckets[index] = [tokens, now]
            else:
                tokens, then = bucket
                if now > then:
                    tokens = min(float(burst), tokens + (now - then) * per_second)
                    bucket[1] = now
            allowed = tokens >= 1.0 - _EPSILON
            if allowed:
                tokens = max(0.0, tokens - 1.0)
            bucket[0] = tokens
        return Decision(
            allowed=allowed,
            retry_after=0.0 if allowed else (1.0 - tokens) / per_second,
            limit=burst,
            remaining=int(tokens + _EPSILON),
            reset_after=(burst - tokens) / per_second,
            rule=rule,
        )

    def forget(self, client: str) -> None:
        """Drop ``client``'s buckets: its next call starts with full ones."""
        with self._lock:
            self._clients.pop(client, None)

    def _resolve(self, tool: str | None) -> int:
        """The index of the rule for ``tool``; called with the lock held."""
        if tool is None:
            return 0
        index = self._resolved.get(tool)
        if index is not None:
            return index
        index = self._exact.get(tool)
        if index is None:
            index = next((i for i, match in self._patterns if match(tool)), 0)
        resolved = self._resolved
        if len(resolved) >= self._cache_size:
            del resolved[next(iter(resolved))]
        resolved[tool] = index
        return index


@dataclass(frozen=True, slots=True)
class BurstRule:
    """Refuse a subject whose request rate suddenly jumps far above its usual rate.

    >>> Authorizer(policies, burst_rule=BurstRule(window=10, factor=5, action="reauth"))

    Where the rate limiter sets a ceiling for everyone, this rule compares each
    subject with its own past. The math, per subject, in O(1) time and memory per request:

    * Time is cut into windows of ``window`` seconds from the subject's first
      request. ``recent = previous * (1 - elapsed / window) + current`` estimates
      the requests of the last ``window`` seconds from the counts of the current
      and previous windows (the previous one taken as evenly spread).
    * When a window closes with ``c`` requests, the baseline ``b`` (requests per
      window) becomes ``c`` for the first window, then ``b + a * (c - b)`` with
      ``a = 1 - 2 ** (-window / half_life)``: an exponentially weighted average in
      which a window's weight halves every ``half_life`` seconds. Each empty window
      multiplies ``b`` by ``1 - a``. Windows in which the subject was flagged are
      left out, so a sustained burst never becomes the new normal.
    * A request is flagged when ``recent >= min_requests`` and
      ``recent > factor * b``. Until its first window closes a subject has no
      baseline and is never flagged: absolute ceilings are the rate limiter's job.

    Requests of a flagged subject are refused (rule ``"burst"``, with
    ``requires_reauth=True`` under ``action="reauth"``) until ``recent`` falls back
    under the threshold, at most two windows after it slows down; refused requests
    count too, so hammering keeps it refused. Anonymous requests are not tracked.
    ``Authorizer.forgive(subject_id)`` clears a subject's recent counts, after it
    authenticated again for instance.

    Args:
        window: Seconds over which the recent rate is measured.
        factor: How many times the baseline the recent rate must exceed (> 1).
        min_requests: Recent requests below which nobody is flagged.
        action: ``"deny"`` or ``"reauth"``.
        half_life: Seconds after which a window weighs half as much in the baseline.
        max_subjects: Subjects remembered; past it the longest idle is forgotten,
            and starts over without a baseline when it comes back.
    """

    window: float = 10.0
    factor: float = 5.0
    min_requests: int = 20
    action: Literal["deny", "reauth"] = "deny"
    half_life: float = 300.0
    max_subjects: int = 100_000

    def __post_init__(self) -> None:
        for what in ("window", "factor", "half_life"):
            value = getattr(self, what)
            if not isinstance(value, int | float) or not 0 < value < float("inf"):
                raise ValueError(f"BurstRule.{what} must be a positive number, not {value!r}")
        for what in ("min_requests", "max_subjects"):
            value = getattr(self, what)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"BurstRule.{what} must be a whole number >= 1, not {value!r}")
        if self.factor <= 1:
            raise ValueError(f"BurstRule.factor must be more than 1, not {self.factor!r}")
        if self.action not in {"deny", "reauth"}:
            raise ValueError(f"BurstRule.action must be 'deny' or 'reauth', not {self.action!r}")


class _Track:
    """One subject's counts for the burst rule."""

    __slots__ = ("baseline", "count", "flagged", "previous", "start")

    def __init__(self, start: float) -> None:
        self.start = start
        self.count = self.previous = 0
        self.baseline: float | None = None
        self.flagged = False


class BurstDetector:
    """The state of a :class:`BurstRule`: one :class:`_Track` per subject, LRU-bounded."""

    def __init__(self, rule: BurstRule, clock: Callable[[], float]) -> None:
        self.rule = rule
        self._clock = clock
        self._keep = 2.0 ** (-rule.window / rule.half_life)  # 1 - a
        self._tracks: OrderedDict[str, _Track] = OrderedDict()
        self._lock = threading.Lock()

    def observe(self, subject_id: str) -> str | None:
        """Count one request; a reason when the subject is flagged, else None."""
        rule, window, keep = self.rule, self.rule.window, self._keep
        with self._lock:
            now = self._clock()
            tracks = self._tracks
            track = tracks.get(subject_id)
            if track is None:
                track = tracks[subject_id] = _Track(now)
                if len(tracks) > rule.max_subjects:
                    tracks.popitem(last=False)
            else:
                tracks.move_to_end(subject_id)
            elapsed = now - track.start
            if elapsed >= window:  # close the current window, and any empty ones after it
                closed = int(elapsed // window)
                baseline, count = track.baseline, track.count
                if not track.flagged:
                    baseline = count if baseline is None else count + keep * (baseline - count)
                if baseline is not None and closed > 1:
                    baseline *= keep ** (closed - 1)
                track.baseline = baseline
                track.previous = count if closed == 1 else 0
                track.count, track.flagged = 0, False
                track.start += closed * window
                elapsed = now - track.start
            track.count += 1
            share = min(max(elapsed / window, 0.0), 1.0)
            recent = track.previous * (1.0 - share) + track.count
            baseline = track.baseline
            if baseline is None or recent < rule.min_requests or recent <= rule.factor * baseline:
                return None
            track.flagged = True
        return (
            f"{recent:.1f} requests in the last {window:g} s, over {rule.factor:g}x "
            f"the usual {baseline:.1f}"
        )

    def forgive(self, subject_id: str) -> None:
        """Clear the subject's recent counts; its baseline stays as it was."""
        with self._lock:
            track = self._tracks.get(subject_id)
            if track is not None:
                track.count = track.previous = 0
                track.flagged = True  # the forgiven window stays out of the baseline
