from __future__ import annotations

import datetime as dt
import math
import random
import threading
from collections.abc import Hashable, Sequence

import pytest
from djed.cache._model import NavigationModel


def walk(model: NavigationModel, session: Hashable, keys: Sequence[str], **options: object) -> None:
    for key in keys:
        model.record(session, key, **options)  # type: ignore[arg-type]


def many(model: NavigationModel, keys: Sequence[str], times: int, prefix: str = "s") -> None:
    """Record ``keys`` as ``times`` separate sessions."""
    for i in range(times):
        walk(model, f"{prefix}{i}", keys)


def best(model: NavigationModel, session: Hashable, **options: object) -> str:
    return model.predict(session, **options)[0][0]  # type: ignore[arg-type]


class TestBackOff:
    def test_second_order_context_decides(self) -> None:
        """The last two keys choose between successors that the last key alone cannot."""
        model = NavigationModel(order=2)
        many(model, ["a", "x", "b"], 20, "ab")
        many(model, ["c", "x", "d"], 20, "cd")
        walk(model, "one", ["a", "x"])
        walk(model, "two", ["c", "x"])
        assert best(model, "one") == "b"
        assert best(model, "two") == "d"

    def test_unseen_pair_backs_off_to_first_order(self) -> None:
        """When the pair of last keys was never seen, the last key alone predicts."""
        model = NavigationModel(order=2)
        many(model, ["a", "x", "b"], 20)
        walk(model, "new", ["z", "x"])
        assert best(model, "new") == "b"

    def test_unseen_key_backs_off_to_popularity(self) -> None:
        """After a key never seen before, the most popular keys come out."""
        model = NavigationModel(order=2)
        many(model, ["a", "b", "b", "b"], 5)
        walk(model, "new", ["q"])
        assert [key for key, _ in model.predict("new")][:2] == ["b", "a"]

    def test_new_session_gets_popularity(self) -> None:
        """An unknown session gets every key in proportion to its use."""
        model = NavigationModel(decay=1.0)
        many(model, ["a", "b", "a", "c"], 10)
        predicted = dict(model.predict("somebody else"))
        assert predicted == pytest.approx({"a": 0.5, "b": 0.25, "c": 0.25})

    def test_empty_model_predicts_nothing(self) -> None:
        """Before any record there is nothing to predict."""
        assert NavigationModel().predict("anyone") == []

    def test_order_one_ignores_the_key_before(self) -> None:
        """An order-1 model predicts from the last key only."""
        model = NavigationModel(order=1, session_blend=False)
        many(model, ["a", "x", "b"], 20, "ab")
        many(model, ["c", "x", "d"], 19, "cd")
        walk(model, "two", ["c", "x"])
        assert best(model, "two") == "b"


class TestDecay:
    def test_new_habit_beats_old_one(self) -> None:
        """With decay, fewer recent records outweigh many old ones."""
        model = NavigationModel(decay=0.99, session_blend=False)
        many(model, ["a", "b"], 200, "old")
        many(model, ["a", "c"], 60, "new")
        walk(model, "now", ["a"])
        assert best(model, "now") == "c"

    def test_without_decay_the_majority_wins(self) -> None:
        """With decay=1.0 nothing fades: the older majority still wins."""
        model = NavigationModel(decay=1.0, session_blend=False)
        many(model, ["a", "b"], 200, "old")
        many(model, ["a", "c"], 60, "new")
        walk(model, "now", ["a"])
        assert best(model, "now") == "b"

    def test_rescaling_keeps_predictions(self) -> None:
        """Weights are rescaled before they overflow, and predictions stay the same."""
        model = NavigationModel(decay=0.5, session_blend=False)
        many(model, ["a", "b"], 400)  # 2 ** 800 would overflow without rescaling
        walk(model, "now", ["a"])
        predicted = model.predict("now")
        assert predicted[0][0] == "b"
        assert all(math.isfinite(p) for _, p in predicted)
        assert model._scale < 1e101


class TestTimeBuckets:
    def test_morning_and_evening_habits_differ(self) -> None:
        """The same page leads elsewhere in the morning and in the evening."""
        model = NavigationModel(time_buckets=4)
        morning = dt.datetime(2024, 5, 6, 8, 15, tzinfo=dt.UTC)
        evening = dt.datetime(2024, 5, 6, 20, 40, tzinfo=dt.UTC)
        for i in range(30):
            walk(model, f"m{i}", ["home", "news"], at=morning)
            walk(model, f"e{i}", ["home", "films"], at=evening)
        walk(model, "now", ["home"], at=morning)
        assert best(model, "now", at=morning.replace(minute=50)) == "news"
        assert best(model, "now", at=evening.replace(minute=5)) == "films"

    def test_epoch_seconds_and_clock(self) -> None:
        """Seconds since the epoch use the UTC time of day; without ``at`` the clock decides."""
        now = [8 * 3600.0]
        model = NavigationModel(time_buckets=2, clock=lambda: now[0])
        for i in range(30):
            walk(model, f"m{i}", ["home", "news"], at=3 * 86400 + 9 * 3600.0)
            walk(model, f"e{i}", ["home", "films"], at=5 * 86400 + 18 * 3600.0)
        walk(model, "now", ["home"])
        assert best(model, "now") == "news"
        now[0] = 19 * 3600.0
        assert best(model, "now") == "films"

    def test_without_buckets_time_is_ignored(self) -> None:
        """Without time buckets, ``at`` changes nothing and the clock is never read."""

        def clock() -> float:
            raise AssertionError("the clock was read")

        model = NavigationModel(clock=clock)
        walk(model, "s", ["a", "b"], at=123.0)
        assert model.predict("s", at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)) == model.predict("s")


class TestBounds:
    def test_pruning_keeps_states_bounded(self) -> None:
        """However many contexts are seen, at most max_states are kept."""
        model = NavigationModel(order=2, max_states=40)
        rng = random.Random(5)
        for i in range(3000):
            model.record(i // 10, f"k{rng.randrange(50)}")
            assert model.state_count <= 40
        assert model.state_count == sum(map(len, model._tables))

    def test_pruning_keeps_strong_contexts(self) -> None:
        """The contexts pruned are the weakest: a frequent habit survives."""
        model = NavigationModel(order=1, max_states=20, session_blend=False)
        rng = random.Random(6)
        for i in range(2000):
            walk(model, f"h{i}", ["home", "news"])
            model.record(f"r{i}", f"k{rng.randrange(500)}")
            model.record(f"r{i}", f"k{rng.randrange(500)}")
        walk(model, "now", ["home"])
        assert best(model, "now") == "news"

    def test_successors_and_popularity_are_bounded(self) -> None:
        """A context keeps at most max_successors keys; popularity at most max_states."""
        model = NavigationModel(order=1, max_states=12, max_successors=3)
        for i in range(100):
            walk(model, i, ["a", f"k{i}"])
        assert len(model._tables[0][("a",)].weights) <= 3
        assert len(model.predict("nobody")) <= 12

    def test_sessions_are_bounded_least_recently_used(self) -> None:
        """Past max_sessions, the session left alone longest is forgotten."""
        model = NavigationModel(max_sessions=3, decay=1.0)
        for session in ["s1", "s2", "s3"]:
            walk(model, session, ["a", "b"])
        model.record("s1", "a")  # s1 is now the most recent
        model.record("s4", "a")
        assert model.session_count == 3
        assert model.predict("s2") == model.predict("nobody")
        assert model.predict("s1") != model.predict("nobody")

    def test_forget_and_clear(self) -> None:
        """forget drops one session; clear drops everything."""
        model = NavigationModel()
        walk(model, "s", ["a", "b"])
        model.forget("s")
        assert model.session_count == 0
        assert model.predict("s") == model.predict("nobody") != []
        model.clear()
        assert model.predict("s") == []
        assert model.state_count == 0


class TestSessionBlend:
    def test_a_session_repeating_its_loop_is_followed(self) -> None:
        """A session that went a -> c twice gets c after a, though everyone else goes to b."""
        model = NavigationModel()
        many(model, ["c", "a", "b"], 300)
        walk(model, "looper", ["a", "c", "a", "c", "a"])
        assert best(model, "looper") == "c"

    def test_without_blend_the_crowd_wins(self) -> None:
        """With session_blend=False, the global habit decides."""
        model = NavigationModel(session_blend=False)
        many(model, ["c", "a", "b"], 300)
        walk(model, "looper", ["a", "c", "a", "c", "a"])
        assert best(model, "looper") == "b"

    def test_trust_rises_when_sessions_loop(self) -> None:
        """Sessions that each repeat a loop of their own raise the trust in session evidence."""
        model = NavigationModel()
        before = list(model._trust)
        rng = random.Random(3)
        for i in range(200):
            walk(model, f"loop{i}", rng.sample([f"k{j}" for j in range(12)], 3) * 4)
        rises = [after - first for after, first in zip(model._trust, before, strict=True)]
        assert min(rises) >= 0.0
        assert max(rises) > 0.2

    def test_trust_falls_when_sessions_wander(self) -> None:
        """Sessions whose past says nothing of their next key lower that trust."""
        model = NavigationModel()
        before = list(model._trust)
        rng = random.Random(4)
        for i in range(200):
            walk(model, f"walk{i}", [f"k{rng.randrange(4)}" for _ in range(12)])
        falls = [first - after for after, first in zip(model._trust, before, strict=True)]
        assert min(falls) >= 0.0
        assert max(falls) > 0.2


class TestPredictions:
    def test_sorted_probabilities_summing_to_at_most_one(self) -> None:
        """Every prediction is sorted by probability, each in [0, 1], summing to at most 1."""
        model = NavigationModel(order=3, time_buckets=3, max_states=200, decay=0.999)
        rng = random.Random(11)
        for i in range(2000):
            session = rng.randrange(40)
            model.record(session, f"k{rng.randrange(30)}", at=i * 600.0)
            predicted = model.predict(session, at=i * 600.0)
            probabilities = [p for _, p in predicted]
            assert probabilities == sorted(probabilities, reverse=True)
            assert all(0.0 <= p <= 1.0 for p in probabilities)
            assert sum(probabilities) <= 1.0 + 1e-9
            assert len({key for key, _ in predicted}) == len(predicted)

    def test_limit(self) -> None:
        """limit caps the number of keys returned, keeping the most likely."""
        model = NavigationModel()
        walk(model, "s", ["a", "b", "c", "d", "a"])
        assert model.predict("s", limit=2) == model.predict("s")[:2]

    def test_any_hashable_session(self) -> None:
        """Sessions may be any hashable: ints, tuples, strings."""
        model = NavigationModel()
        for session in [1, ("user", 2), "three"]:
            walk(model, session, ["a", "b"])
        assert model.session_count == 3

    @pytest.mark.parametrize(
        "options",
        [
            {"order": 0},
            {"order": 5},
            {"decay": 0.0},
            {"decay": 1.5},
            {"time_buckets": 0},
            {"max_states": 1},
            {"max_successors": 0},
            {"max_sessions": 0},
        ],
    )
    def test_bad_settings(self, options: dict[str, int | float]) -> None:
        """Settings out of range raise ValueError."""
        with pytest.raises(ValueError, match="must be"):
            NavigationModel(**options)  # type: ignore[arg-type]


class TestThreadSafety:
    def test_concurrent_records_all_count(self) -> None:
        """Threads recording at once lose nothing: the counts match a sequential run."""
        sequences = {
            f"t{t}-{s}": [f"k{(t * 7 + s * 3 + i * i) % 6}" for i in range(25)]
            for t in range(4)
            for s in range(40)
        }
        shared = NavigationModel(decay=1.0, session_blend=False)
        alone = NavigationModel(decay=1.0, session_blend=False)
        start = threading.Barrier(4)

        def work(t: int) -> None:
            start.wait()
            for session, keys in sequences.items():
                if session.startswith(f"t{t}-"):
                    walk(shared, session, keys)
                    shared.predict(session)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for session, keys in sequences.items():
            walk(alone, session, keys)
        assert shared._popular.total == alone._popular.total == 4 * 40 * 25
        for session in sequences:
            assert dict(shared.predict(session)) == pytest.approx(dict(alone.predict(session)))
