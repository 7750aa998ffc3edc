"""How well a predictor plans prefetches: replay sessions, score plans, compare to baselines."""

from __future__ import annotations

import argparse
import dataclasses
import heapq
import math
import random
import sys
from collections.abc import Hashable, Sequence
from operator import itemgetter
from typing import Protocol, TypeVar

import orjson

from ._model import NavigationModel
from ._traces import read_trace

__all__ = [
    "Evaluation",
    "MostPopular",
    "PlanScore",
    "Predictor",
    "RecentKeys",
    "Replay",
    "SameKeyAgain",
    "evaluate",
    "main",
    "replay",
    "split_sessions",
]

T = TypeVar("T")

_DEPTH = 8  # the most keys a plan may hold; predictions are read this deep


class Predictor(Protocol):
    """What :func:`replay` needs: learn from each navigation, then guess the next."""

    def record(self, session: Hashable, key: str) -> None:
        """Learn that ``session`` went to ``key``."""

    def predict(self, session: Hashable, *, limit: int | None = None) -> list[tuple[str, float]]:
        """The likely next keys of ``session`` with their scores, best first."""


class SameKeyAgain:
    """Baseline: the next key is the one just used."""

    def __init__(self) -> None:
        self._last: dict[Hashable, str] = {}

    def record(self, session: Hashable, key: str) -> None:
        """Remember the session's key."""
        self._last[session] = key

    def predict(self, session: Hashable, *, limit: int | None = None) -> list[tuple[str, float]]:
        """The session's last key, if any."""
        last = self._last.get(session)
        return [] if last is None or limit == 0 else [(last, 1.0)]


class MostPopular:
    """Baseline: the keys used most often so far, by everyone."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._total = 0

    def record(self, session: Hashable, key: str) -> None:  # noqa: ARG002 - a Predictor
        """Count the key."""
        self._counts[key] = self._counts.get(key, 0) + 1
        self._total += 1

    def predict(
        self,
        session: Hashable,  # noqa: ARG002 - a Predictor
        *,
        limit: int | None = None,
    ) -> list[tuple[str, float]]:
        """The most used keys with their share of all uses."""
        size = len(self._counts) if limit is None else limit
        top = heapq.nlargest(size, self._counts.items(), key=itemgetter(1))
        return [(key, count / self._total) for key, count in top]


class RecentKeys:
    """Baseline: the session's last distinct keys, most recent first (a plain LRU).

    Scores are ``1 / rank``, an order rather than a probability.
    """

    def __init__(self) -> None:
        self._recent: dict[Hashable, dict[str, None]] = {}

    def record(self, session: Hashable, key: str) -> None:
        """Move the key to the front of the session's list."""
        recent = self._recent.setdefault(session, {})
        recent.pop(key, None)
        recent[key] = None
        if len(recent) > _DEPTH:
            del recent[next(iter(recent))]

    def predict(self, session: Hashable, *, limit: int | None = None) -> list[tuple[str, float]]:
        """The session's most recent distinct keys."""
        keys = list(reversed(self._recent.get(session, {})))[:limit]
        return [(key, 1.0 / rank) for rank, key in enumerate(keys, 1)]


@dataclasses.dataclass(frozen=True, slots=True)
class PlanScore:
    """How one planner did: navigations, hits and keys planned.

    A navigation is a hit when its key was in the plan made right after the
    navigation before it, in the same session.
    """

    name: str
    rule: str
    navigations: int
    hits: int
    planned: int

    @property
    def hit_rate(self) -> float:
        """The share of navigations whose key was planned."""
        return self.hits / self.navigations if self.navigations else 0.0

    @property
    def cost(self) -> float:
        """The mean number of keys planned per navigation."""
        return self.planned / self.navigations if self.navigations else 0.0

    @property
    def precision(self) -> float:
        """The share of planned keys that were used next."""
        return self.hits / self.planned if self.planned else 0.0

    def as_dict(self) -> dict[str, object]:
        """The counts and the three ratios, for JSON."""
        ratios = {"hit_rate": self.hit_rate, "cost": self.cost, "precision": self.precision}
        return dataclasses.asdict(self) | ratios


class Replay:
    """What a predictor foresaw at each navigation, to score any plan rule afterwards.

    Learning never depends on the plans, so one replay scores every threshold.
    Each step holds the predicted scores (best first, at most 8) and the rank
    of the key that came next among them (``-1`` when it was not predicted).
    """

    def __init__(self, name: str, steps: Sequence[tuple[tuple[float, ...], int]]) -> None:
        self.name = name
        self.steps = list(steps)

    @property
    def navigations(self) -> int:
        """How many navigations were predicted."""
        return len(self.steps)

    def score(self, *, threshold: float = 0.0, max_keys: int = 4) -> PlanScore:
        """Plan the keys scoring at least ``threshold``, at most ``max_keys`` of them."""
        rule = f"p >= {threshold:.3g}, at most {max_keys}"
        return self._score(threshold, max_keys, rule)

    def top_k(self, k: int) -> PlanScore:
        """Plan the ``k`` best keys every time."""
        return self._score(-math.inf, k, f"top {k}")

    def best_within(self, budget: float, *, max_keys: int | None = None) -> PlanScore:
        """The threshold plan with the best hit rate at a cost of at most ``budget`` keys.

        Every ``max_keys`` from 1 to 8 is tried unless one is given; ties go to
        the cheaper plan. The threshold is fitted to this replay, so the result
        is the best the rule can do here: in production, fit it on past traffic.
        """
        best: PlanScore | None = None
        allowed = math.floor(budget * len(self.steps) + 1e-9)
        for keys in range(1, _DEPTH + 1) if max_keys is None else (max_keys,):
            ranked = sorted((p for probs, _ in self.steps for p in probs[:keys]), reverse=True)
            if len(ranked) <= allowed:
                threshold = ranked[-1] if ranked else 0.0
            else:
                # The smallest threshold that leaves out ranked[allowed] and its equals.
                cut, i = ranked[allowed], allowed - 1
                while i >= 0 and ranked[i] == cut:
                    i -= 1
                threshold = ranked[i] if i >= 0 else math.inf
            score = self.score(threshold=threshold, max_keys=keys)
            if best is None or (score.hit_rate, -score.cost) > (best.hit_rate, -best.cost):
                best = score
        assert best is not None
        return best

    def _score(self, threshold: float, max_keys: int, rule: str) -> PlanScore:
        hits = planned = 0
        for probs, rank in self.steps:
            for p in probs[:max_keys]:
                if p < threshold:
                    break
                planned += 1
            if 0 <= rank < max_keys and probs[rank] >= threshold:
                hits += 1
        return PlanScore(self.name, rule, len(self.steps), hits, planned)


def split_sessions(
    sessions: Sequence[T], *, test_fraction: float = 0.2, seed: int = 1
) -> tuple[list[T], list[T]]:
    """Split sessions, whole, into training and test sets, each in the original order.

    The test set holds ``round(len(sessions) * test_fraction)`` sessions
    (at least one, and at least one left for training when there are two or
    more), drawn by ``seed``: the same seed gives the same split.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), not {test_fraction!r}")
    n = len(sessions)
    size = min(max(round(n * test_fraction), 1), max(n - 1, 1)) if n else 0
    chosen = set(random.Random(seed).sample(range(n), size))  # noqa: S311 - not cryptography
    train = [s for i, s in enumerate(sessions) if i not in chosen]
    test = [s for i, s in enumerate(sessions) if i in chosen]
    return train, test


def replay(
    predictor: Predictor,
    train: Sequence[Sequence[str]],
    test: Sequence[Sequence[str]],
    *,
    name: str = "",
) -> Replay:
    """Train ``predictor`` on ``train``, then play ``test`` through it, learning as it goes.

    Before each navigation of a test session but the first, the predictor
    has seen every earlier one (as in production) and its predictions made
    right after the previous navigation are kept.
    """
    for i, session in enumerate(train):
        for key in session:
            predictor.record(("train", i), key)
    steps: list[tuple[tuple[float, ...], int]] = []
    for i, session in enumerate(test):
        sid = ("test", i)
        predicted: list[tuple[str, float]] = []
        last = len(session) - 1
        for j, key in enumerate(session):
            if j:
                rank = next((r for r, (k, _) in enumerate(predicted) if k == key), -1)
                steps.append((tuple(p for _, p in predicted), rank))
            predictor.record(sid, key)
            if j < last:
                predicted = predictor.predict(sid, limit=_DEPTH)
    return Replay(name or type(predictor).__name__, steps)


@dataclasses.dataclass(frozen=True, slots=True)
class Evaluation:
    """The model and the baselines scored on the same test sessions."""

    sessions: int
    train: int
    test: int
    plan: str
    scores: tuple[PlanScore, ...]

    def as_dict(self) -> dict[str, object]:
        """Everything, for JSON."""
        return {
            "sessions": self.sessions,
            "train": self.train,
            "test": self.test,
            "plan": self.plan,
            "navigations": self.scores[0].navigations if self.scores else 0,
            "results": [score.as_dict() for score in self.scores],
        }

    def table(self) -> str:
        """A plain-text table, one planner a row."""
        navigations = self.scores[0].navigations if self.scores else 0
        lines = [
            (
                f"{self.sessions} sessions ({self.train} train, {self.test} test), "
                f"{navigations} test navigations; {self.plan}"
            ),
            f"{'planner':<24} {'plan':<24} {'hit rate':>8} {'cost':>6} {'precision':>9}",
        ]
        lines.extend(
            f"{s.name:<24} {s.rule:<24} {s.hit_rate:>8.1%} {s.cost:>6.2f} {s.precision:>9.1%}"
            for s in self.scores
        )
        return "\n".join(lines)


def evaluate(
    sessions: Sequence[Sequence[str]],
    *,
    order: int = 2,
    budget: float | None = None,
    threshold: float | None = None,
    top_k: int | None = None,
    max_keys: int = 4,
    test_fraction: float = 0.2,
    seed: int = 1,
) -> Evaluation:
    """Score a :class:`NavigationModel` and the baselines on a split of ``sessions``.

    One plan rule: ``budget`` (the best threshold at a mean cost of at most
    that many keys; the default, 2.0), ``threshold`` (keys with at least that
    probability, at most ``max_keys``) or ``top_k``. A plain order-1 Markov
    model (no session blend) gets the same rule. The baselines plan a fixed
    number of keys: the budget rounded down, the model's cost rounded, or
    ``top_k`` (same key again plans its one key).
    """
    if sum(rule is not None for rule in (budget, threshold, top_k)) > 1:
        raise ValueError("choose at most one of budget, threshold and top_k")
    train, test = split_sessions(sessions, test_fraction=test_fraction, seed=seed)
    ours = replay(NavigationModel(order), train, test, name=f"model, order {order}")
    markov = replay(NavigationModel(1, session_blend=False), train, test, name="order-1 Markov")
    if top_k is not None:
        plan = f"every planner plans its top {top_k} keys"
        scores = [ours.top_k(top_k), markov.top_k(top_k)]
        fixed = top_k
    elif threshold is not None:
        scores = [ours.score(threshold=threshold, max_keys=max_keys)]
        scores.append(markov.score(threshold=threshold, max_keys=max_keys))
        fixed = max(1, round(scores[0].cost))
        plan = f"threshold {threshold:g}; baselines plan {fixed} keys"
    else:
        budget = 2.0 if budget is None else budget
        scores = [ours.best_within(budget), markov.best_within(budget)]
        fixed = max(1, math.floor(budget))
        plan = f"best threshold within {budget:g} keys per navigation"
    scores.append(replay(SameKeyAgain(), train, test, name="same key again").top_k(1))
    scores.append(replay(MostPopular(), train, test, name="most popular").top_k(fixed))
    scores.append(replay(RecentKeys(), train, test, name="recent keys (LRU)").top_k(fixed))
    return Evaluation(len(sessions), len(train), len(test), plan, tuple(scores))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m djed.cache evaluate",
        description="Replay a navigation trace and score the prefetch model against baselines.",
    )
    parser.add_argument("trace", help="one session a line, keys separated by spaces; - for stdin")
    parser.add_argument("--order", type=int, choices=range(1, 5), default=2)
    rule = parser.add_mutually_exclusive_group()
    rule.add_argument("--budget", type=float, help="mean keys planned per navigation (default 2)")
    rule.add_argument("--threshold", type=float, help="plan keys with at least this probability")
    rule.add_argument("--top-k", type=int, help="plan the k most likely keys")
    parser.add_argument("--max-keys", type=int, default=4, help="with --threshold (default 4)")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``evaluate`` from the command line; a leading ``evaluate`` word is accepted.

    Returns:
        0 on success, 2 when the arguments or the trace cannot be used.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["evaluate"]:
        args = args[1:]
    parser = _parser()
    try:
        options = parser.parse_args(args)
    except SystemExit as exc:  # argparse has printed the usage and the error
        return exc.code if isinstance(exc.code, int) else 2
    problem = _check(options)
    if problem is None:
        try:
            sessions = read_trace(options.trace)
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            problem = f"cannot read trace {options.trace}: {reason}"
        else:
            if not sessions:
                problem = f"trace {options.trace} holds no sessions"
    if problem is not None:
        sys.stderr.write(f"error: {problem}\n")
        return 2
    result = evaluate(
        sessions,
        order=options.order,
        budget=options.budget,
        threshold=options.threshold,
        top_k=options.top_k,
        max_keys=options.max_keys,
        test_fraction=options.test_fraction,
        seed=options.seed,
    )
    if not result.scores[0].navigations:
        sys.stderr.write(f"error: no test session of trace {options.trace} has two keys\n")
        return 2
    if options.json:
        sys.stdout.write(orjson.dumps(result.as_dict(), option=orjson.OPT_INDENT_2).decode())
        sys.stdout.write("\n")
    else:
        sys.stdout.write(result.table() + "\n")
    return 0


def _check(options: argparse.Namespace) -> str | None:
    if not 0.0 < options.test_fraction < 1.0:
        return "--test-fraction must be between 0 and 1"
    if options.budget is not None and options.budget <= 0:
        return "--budget must be positive"
    if options.threshold is not None and not 0.0 <= options.threshold <= 1.0:
        return "--threshold must be between 0 and 1"
    if not 1 <= (options.top_k or 1) <= _DEPTH or not 1 <= options.max_keys <= _DEPTH:
        return f"--top-k and --max-keys must be 1 to {_DEPTH}"
    return None
