"""NavigationModel: which key follows which, learned online, for the prefetcher."""

from __future__ import annotations

import datetime as dt
import heapq
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from operator import itemgetter
from typing import Any

__all__ = ["NavigationModel"]

_RENORMALISE_AT = 1e100  # weights grow by 1/decay per record; rescale long before overflow
_FORGET_BELOW = 1e-4  # a weight worth less than this many fresh records is dropped on rescale
_WHOLE_POPULARITY = 64  # popularity tables up to this size are read whole, larger ones cached
_SECONDS_PER_DAY = 86_400.0
_by_weight = itemgetter(1)


class _Counts:
    """Decayed weights of the keys seen after one context, with their sum."""

    __slots__ = ("total", "weights")

    def __init__(self) -> None:
        self.total = 0.0
        self.weights: dict[str, float] = {}

    def add(self, key: str, weight: float, limit: int) -> None:
        weights = self.weights
        weights[key] = weights.get(key, 0.0) + weight
        self.total += weight
        if len(weights) > limit:  # keep the strongest successors only
            weakest = min(weights, key=weights.__getitem__)
            self.total -= weights.pop(weakest)

    def leaders(self) -> list[tuple[str, float]] | dict[str, float]:
        return self.weights

    def rescale(self, factor: float, floor: float) -> None:
        kept = {k: w * factor for k, w in self.weights.items() if w * factor >= floor}
        self.weights = kept
        self.total = sum(kept.values())


class _Popularity(_Counts):
    """Counts of every key, with a cached list of the most popular ones when there are many."""

    __slots__ = ("_stale", "top")

    def __init__(self) -> None:
        super().__init__()
        self.top: list[tuple[str, float]] = []
        self._stale = 0

    def add(self, key: str, weight: float, limit: int) -> None:
        weights = self.weights
        weights[key] = weights.get(key, 0.0) + weight
        self.total += weight
        if len(weights) > limit:  # keep the most popular three quarters, at once
            self.weights = dict(heapq.nlargest(limit * 3 // 4, weights.items(), key=_by_weight))
            self.total = sum(self.weights.values())
            self.top = []

    def leaders(self) -> list[tuple[str, float]] | dict[str, float]:
        weights = self.weights
        if len(weights) <= _WHOLE_POPULARITY:
            return weights
        self._stale += 1
        if not self.top or self._stale > len(weights) // 8:
            self.top = heapq.nlargest(_WHOLE_POPULARITY, weights.items(), key=_by_weight)
            self._stale = 0
        return self.top


class _Session:
    """One session: its last keys and its own first-order transitions."""

    __slots__ = ("own", "recent")

    def __init__(self) -> None:
        self.recent: tuple[str, ...] = ()
        self.own: dict[str, _Counts] = {}


def _trust_cell(own: _Counts) -> int:
    """Which class of session evidence ``own`` falls in: times seen 1-4+ by successors 1-3+."""
    return (min(int(own.total), 4) - 1) * 3 + min(len(own.weights), 3) - 1


class NavigationModel:
    """Learn which key follows which, and predict the next key of a session.

    >>> model = NavigationModel()
    >>> for key in ["home", "news", "sport"]:
    ...     model.record("alice", key)
    >>> model.record("bob", "home")
    >>> [key for key, _ in model.predict("bob")]
    ['news', 'home', 'sport']

    :meth:`record` counts the move from the session's last keys to the new
    key for every context length from ``order`` down to 1, and the key's
    popularity. :meth:`predict` blends that evidence from the longest context
    to popularity: each level keeps the share ``n / (n + d)`` of the
    probability left and passes the rest down, ``n`` being how much the
    context was seen and ``d`` how many keys followed it (the escape of PPM
    method C), so a context seen often with one successor is trusted and a
    rare or scattered one backs off.

    With ``session_blend``, the session's own moves (what followed its current
    key earlier in the session: people repeat their loops) come first. Their
    trust is learned per class of evidence (seen 1 to 4+ times, 1 to 3+
    successors) by an online expectation-maximisation step at each record:
    it rises when sessions repeat themselves and falls when they wander.

    Old habits fade: each record leaves every earlier one ``decay`` of its
    weight (``0.99999`` halves it after about 69,000 records; ``1.0`` keeps
    everything). New records weigh more instead of old ones being touched,
    and the weights are rescaled rarely.

    With ``time_buckets=N`` every context is also counted per Nth of the day,
    ahead of its all-day count, so morning and evening habits differ. ``at``
    is a :class:`~datetime.datetime` (its own time of day) or epoch seconds
    (UTC time of day), ``clock()`` by default.

    Memory is bounded: ``max_states`` contexts (the weakest quarter pruned at
    once) and popular keys, ``max_successors`` keys per context,
    ``max_sessions`` sessions (least recently used dropped). One lock makes
    every call thread-safe.

    Args:
        order: The longest context, in keys (1 to 4).
        decay: The weight left to a record by each newer one, in (0, 1].
        time_buckets: Cut the day into this many buckets, or ``None``.
        session_blend: Blend in each session's own transitions.
        max_states: The most contexts (and popular keys) kept.
        max_successors: The most successors kept per context.
        max_sessions: The most sessions remembered.
        clock: Seconds since the epoch, read when ``at`` is left out and
            time buckets are on.
    """

    def __init__(
        self,
        order: int = 2,
        *,
        decay: float = 0.99999,
        time_buckets: int | None = None,
        session_blend: bool = True,
        max_states: int = 100_000,
        max_successors: int = 32,
        max_sessions: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 1 <= order <= 4:
            raise ValueError(f"order must be 1 to 4, not {order!r}")
        if not 0.0 < decay <= 1.0:
            raise ValueError(f"decay must be in (0, 1], not {decay!r}")
        if time_buckets is not None and not 1 <= time_buckets <= 1440:
            raise ValueError(f"time_buckets must be None or 1 to 1440, not {time_buckets!r}")
        if max_states < 4 or max_successors < 1 or max_sessions < 1:
            raise ValueError(
                "max_states must be at least 4, max_successors and max_sessions at least 1"
            )
        self.order = order
        self.decay = decay
        self.time_buckets = time_buckets
        self.session_blend = session_blend
        self.max_states = max_states
        self.max_successors = max_successors
        self.max_sessions = max_sessions
        self._clock = clock
        self._lock = threading.Lock()
        self._growth = 1.0 / decay
        self._reset()

    def _reset(self) -> None:
        self._scale = 1.0  # the weight of the next record; older ones weigh less by comparison
        self._sessions: OrderedDict[Hashable, _Session] = OrderedDict()
        # _tables[k - 1] maps the last k keys to what followed them; with time buckets,
        # _timed[k - 1] maps (bucket, last k keys) to the same.
        self._tables: list[dict[tuple[str, ...], _Counts]] = [{} for _ in range(self.order)]
        self._timed: list[dict[tuple[int, tuple[str, ...]], _Counts]] = [
            {} for _ in range(self.order)
        ]
        self._states = 0
        self._popular = _Popularity()
        self._popular_at: dict[int, _Popularity] = {}
        # The learned trust in a session's own evidence, per _trust_cell, and its updates;
        # it starts at the PPM estimate n / (n + d) of the cell.
        self._trust = [n / (n + d) for n in range(1, 5) for d in range(1, 4)]
        self._trust_updates = [0] * len(self._trust)

    # -- learning ----------------------------------------------------------------------------

    def record(self, session: Hashable, key: str, *, at: float | dt.datetime | None = None) -> None:
        """Count that ``session`` went to ``key`` after its previous keys.

        Args:
            session: Any hashable that identifies the visitor or session.
            key: The key (page, resource, cache key) just used.
            at: When, for time buckets; ignored without them.
        """
        bucket = self._bucket(at) if self.time_buckets is not None else -1
        with self._lock:
            state = self._session(session)
            recent = state.recent
            if recent:
                self._record_own(state, bucket, key)
            self._scale *= self._growth
            weight = self._scale
            for k in range(1, len(recent) + 1):
                context = recent[-k:]
                self._count(self._tables[k - 1], context, key, weight)
                if bucket >= 0:
                    self._count(self._timed[k - 1], (bucket, context), key, weight)
            self._popular.add(key, weight, self.max_states)
            if bucket >= 0:
                if bucket not in self._popular_at:
                    self._popular_at[bucket] = _Popularity()
                self._popular_at[bucket].add(key, weight, self.max_states)
            state.recent = (*recent, key)[-self.order :]
            if self._states > self.max_states:
                self._prune()
            if weight > _RENORMALISE_AT:
                self._rescale()

    def _count(self, table: dict[Any, _Counts], context: Hashable, key: str, weight: float) -> None:
        counts = table.get(context)
        if counts is None:
            counts = table[context] = _Counts()
            self._states += 1
        counts.add(key, weight, self.max_successors)

    def _session(self, session: Hashable) -> _Session:
        state = self._sessions.get(session)
        if state is None:
            state = self._sessions[session] = _Session()
            if len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        else:
            self._sessions.move_to_end(session)
        return state

    def _record_own(self, state: _Session, bucket: int, key: str) -> None:
        """Count the session's own transition, learning first how well it was foreseen."""
        last = state.recent[-1]
        own = state.own.get(last)
        if own is None:
            own = state.own[last] = _Counts()
            if len(state.own) > 64:  # a very long session forgets its oldest pages
                del state.own[next(iter(state.own))]
        elif self.session_blend:
            self._learn_trust(own, state.recent, bucket, key)
        own.add(key, 1.0, self.max_successors)

    def _learn_trust(self, own: _Counts, recent: tuple[str, ...], bucket: int, key: str) -> None:
        """Move the trust in evidence like ``own`` towards how well it foresaw ``key``."""
        cell = _trust_cell(own)
        trust = self._trust[cell]
        mine = trust * own.weights.get(key, 0.0) / own.total
        mixed = mine + (1.0 - trust) * self._global_probability(recent, bucket, key)
        if mixed > 0.0:
            updates = self._trust_updates[cell] = self._trust_updates[cell] + 1
            # A step of 1 / (updates + 10): the prior counts as ten updates; never below
            # 1 / 1000, so the trust follows habits that change.
            step = 1.0 / min(updates + 10, 1000)
            self._trust[cell] = trust + (mine / mixed - trust) * step

    def forget(self, session: Hashable) -> None:
        """Drop what is known of one session (its global contributions stay)."""
        with self._lock:
            self._sessions.pop(session, None)

    def clear(self) -> None:
        """Forget everything, learned trust included."""
        with self._lock:
            self._reset()

    @property
    def state_count(self) -> int:
        """How many contexts the model holds (bounded by ``max_states``)."""
        return self._states

    @property
    def session_count(self) -> int:
        """How many sessions the model remembers (bounded by ``max_sessions``)."""
        return len(self._sessions)

    # -- predicting --------------------------------------------------------------------------

    def predict(
        self,
        session: Hashable,
        *,
        limit: int | None = None,
        at: float | dt.datetime | None = None,
    ) -> list[tuple[str, float]]:
        """The keys likely to follow the session's last ones, most likely first.

        An unknown session gets the most popular keys. The probabilities sum
        to at most 1; keys left out share the rest.

        Args:
            session: The session, as given to :meth:`record`.
            limit: Return at most this many keys.
            at: When, for time buckets; ignored without them.

        Returns:
            ``(key, probability)`` pairs, highest probability first.
        """
        bucket = self._bucket(at) if self.time_buckets is not None else -1
        found: dict[str, float] = {}
        with self._lock:
            state = self._sessions.get(session)
            recent = state.recent if state is not None else ()
            share = 1.0
            if state is not None and recent and self.session_blend:
                own = state.own.get(recent[-1])
                if own is not None:
                    share = _blend(
                        found, own.weights, own.total, self._trust[_trust_cell(own)], share
                    )
            for counts, kept in self._levels(recent, bucket):
                share = _blend(found, counts.leaders(), counts.total, kept, share)
        ranked = sorted(found.items(), key=_by_weight, reverse=True)
        return ranked if limit is None else ranked[:limit]

    def _levels(self, recent: tuple[str, ...], bucket: int) -> list[tuple[_Counts, float]]:
        """The global evidence for what follows ``recent``, most specific first.

        Each level comes with the share it keeps of the probability left; the
        last, popularity, keeps it all.
        """
        unit = 1.0 / self._scale  # converts a stored weight into a count of fresh records
        levels: list[tuple[_Counts, float]] = []
        found: list[_Counts | None] = []
        for k in range(len(recent), 0, -1):
            context = recent[-k:]
            if bucket >= 0:
                found.append(self._timed[k - 1].get((bucket, context)))
            found.append(self._tables[k - 1].get(context))
        if bucket >= 0:
            found.append(self._popular_at.get(bucket))
        for counts in found:
            if counts is not None and counts.total > 0.0:
                seen = counts.total * unit
                levels.append((counts, seen / (seen + len(counts.weights))))
        if self._popular.total > 0.0:
            levels.append((self._popular, 1.0))
        return levels

    def _global_probability(self, recent: tuple[str, ...], bucket: int, key: str) -> float:
        """The probability the global evidence gives ``key`` after ``recent``."""
        probability, share = 0.0, 1.0
        for counts, kept in self._levels(recent, bucket):
            probability += share * kept * counts.weights.get(key, 0.0) / counts.total
            share *= 1.0 - kept
        return probability

    # -- housekeeping ------------------------------------------------------------------------

    def _bucket(self, at: float | dt.datetime | None) -> int:
        buckets = self.time_buckets
        assert buckets is not None
        if at is None:
            at = self._clock()
        if isinstance(at, dt.datetime):
            seconds = at.hour * 3600 + at.minute * 60 + at.second + at.microsecond / 1e6
        else:
            seconds = at % _SECONDS_PER_DAY
        return int(seconds * buckets / _SECONDS_PER_DAY) % buckets

    def _prune(self) -> None:
        """Drop the weakest contexts until three quarters of ``max_states`` remain."""
        contexts: list[tuple[float, dict[Any, _Counts], Hashable]] = []
        tables: list[dict[Any, _Counts]] = [*self._tables, *self._timed]
        for table in tables:
            contexts.extend((c.total, table, context) for context, c in table.items())
        excess = len(contexts) - self.max_states * 3 // 4
        for _, table, context in heapq.nsmallest(excess, contexts, key=itemgetter(0)):
            del table[context]
        self._states = len(contexts) - max(excess, 0)

    def _rescale(self) -> None:
        """Bring the weights back near 1, dropping those decayed to nothing."""
        factor = 1.0 / self._scale
        floor = _FORGET_BELOW
        tables: list[dict[Any, _Counts]] = [*self._tables, *self._timed]
        for table in tables:
            for context, counts in list(table.items()):
                counts.rescale(factor, floor)
                if not counts.weights:
                    del table[context]
        for popular in (self._popular, *self._popular_at.values()):
            popular.rescale(factor, floor)
            popular.top = []
        self._states = sum(map(len, self._tables)) + sum(map(len, self._timed))
        self._scale = 1.0


def _blend(
    found: dict[str, float],
    weights: Iterable[tuple[str, float]] | dict[str, float],
    total: float,
    kept: float,
    share: float,
) -> float:
    """Give ``weights`` the part ``kept`` of ``share``; return the share left."""
    per_weight = share * kept / total
    get = found.get
    for key, weight in weights.items() if isinstance(weights, dict) else weights:
        found[key] = get(key, 0.0) + weight * per_weight
    return share * (1.0 - kept)
