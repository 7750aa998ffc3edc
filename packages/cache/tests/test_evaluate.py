from __future__ import annotations

import io
import itertools
import json
import pathlib
import random
import subprocess
import sys

import djed.cache
import pytest
from djed.cache._evaluate import (
    MostPopular,
    PlanScore,
    RecentKeys,
    Replay,
    SameKeyAgain,
    evaluate,
    main,
    replay,
    split_sessions,
)
from djed.cache._model import NavigationModel
from djed.cache._traces import read_trace, synthetic_sessions, write_trace

# A trace small enough to score by hand: one training session, two test sessions.
TRAIN = [["a", "c"]]
TEST = [["a", "b", "a", "b"], ["c", "c", "a"]]

MAIN_MODULE = pathlib.Path(djed.cache.__file__).parent / "__main__.py"


def counts(score: PlanScore) -> tuple[int, int, int]:
    return score.navigations, score.hits, score.planned


class TestSplitSessions:
    def test_whole_sessions_deterministic_by_seed(self) -> None:
        """Sessions go whole to one side, in their order, and the same seed splits alike."""
        sessions = [[f"s{i}", "x"] for i in range(50)]
        train, test = split_sessions(sessions, test_fraction=0.2, seed=7)
        assert len(test) == 10
        assert len(train) == 40
        assert sorted(train + test) == sorted(sessions)
        assert train == [s for s in sessions if s in train]
        assert test == [s for s in sessions if s in test]
        assert split_sessions(sessions, test_fraction=0.2, seed=7) == (train, test)
        assert split_sessions(sessions, test_fraction=0.2, seed=8) != (train, test)

    def test_small_inputs(self) -> None:
        """One session is tested; two or more always leave one for training."""
        assert split_sessions([["a"]]) == ([], [["a"]])
        assert split_sessions([["a"], ["b"]], test_fraction=0.9)[0] != []
        assert split_sessions([]) == ([], [])

    def test_bad_fraction(self) -> None:
        """A test fraction outside (0, 1) is refused."""
        with pytest.raises(ValueError, match="test_fraction"):
            split_sessions([["a"]], test_fraction=1.0)


class TestBaselines:
    def test_same_key_again(self) -> None:
        """Only c -> c repeats a key: 1 hit in 5 navigations, 1 key planned each time."""
        score = replay(SameKeyAgain(), TRAIN, TEST).top_k(1)
        assert counts(score) == (5, 1, 5)
        assert (score.hit_rate, score.cost, score.precision) == (0.2, 1.0, 0.2)

    def test_most_popular(self) -> None:
        """Counting online from a1 c1, the top two are a and c: hits at a, c and a."""
        score = replay(MostPopular(), TRAIN, TEST).top_k(2)
        assert counts(score) == (5, 3, 10)
        assert (score.hit_rate, score.cost, score.precision) == (0.6, 2.0, 0.3)

    def test_recent_keys(self) -> None:
        """Plans [a], [b a], [a b], [c], [c]: hits at a, b and c; 7 keys planned."""
        score = replay(RecentKeys(), TRAIN, TEST).top_k(2)
        assert counts(score) == (5, 3, 7)
        assert score.hit_rate == pytest.approx(0.6)
        assert score.cost == pytest.approx(1.4)
        assert score.precision == pytest.approx(3 / 7)

    def test_model_learns_a_fixed_path(self) -> None:
        """Trained on a path, the model plans its next key every time with one key."""
        score = replay(NavigationModel(), [["a", "b", "c"]] * 20, [["a", "b", "c"]]).top_k(1)
        assert counts(score) == (2, 2, 2)

    def test_learning_continues_during_the_test(self) -> None:
        """Test sessions are learned as they are played, so a later one benefits."""
        score = replay(NavigationModel(), [], [["x", "y"], ["x", "y"]]).top_k(1)
        assert counts(score) == (2, 1, 2)


class TestReplayScores:
    # Four navigations: the predicted probabilities and the rank of the key that came next.
    STEPS = (((0.6, 0.3, 0.1), 0), ((0.5, 0.4), 1), ((0.9,), -1), ((0.2, 0.2, 0.2), 2))

    def test_threshold_and_max_keys(self) -> None:
        """p >= 0.3, at most 2: plans 2, 2, 1, 0 keys; hits on the first two navigations."""
        score = Replay("hand", self.STEPS).score(threshold=0.3, max_keys=2)
        assert counts(score) == (4, 2, 5)
        assert (score.hit_rate, score.cost, score.precision) == (0.5, 1.25, 0.4)

    def test_top_k(self) -> None:
        """The top key of each navigation: one hit in four."""
        score = Replay("hand", self.STEPS).top_k(1)
        assert counts(score) == (4, 1, 4)
        assert score.rule == "top 1"

    def test_best_within_budget_matches_exhaustive_search(self) -> None:
        """The budget sweep finds the best hit rate any threshold and max_keys reach."""
        rng = random.Random(2)
        steps = []
        for _ in range(60):
            probs = tuple(sorted((round(rng.random() / 3, 2) for _ in range(5)), reverse=True))
            steps.append((probs, rng.choice([-1, 0, 1, 2, 3, 4])))
        replayed = Replay("random", steps)
        candidates = {p for probs, _ in steps for p in probs} | {0.0, 1.0}
        for budget in (0.5, 1.0, 2.0, 3.5):
            found = replayed.best_within(budget)
            assert found.cost <= budget
            exhaustive = max(
                replayed.score(threshold=t, max_keys=m).hits
                for t, m in itertools.product(candidates, range(1, 9))
                if replayed.score(threshold=t, max_keys=m).cost <= budget
            )
            assert found.hits == exhaustive

    def test_empty_replay(self) -> None:
        """No navigations: every ratio is zero rather than an error."""
        score = Replay("none", []).best_within(2.0)
        assert (score.hit_rate, score.cost, score.precision) == (0.0, 0.0, 0.0)


class TestEvaluate:
    def test_rows_and_rules(self) -> None:
        """The model, order-1 Markov and the three baselines, each under its rule."""
        sessions = synthetic_sessions(300, seed=2)
        result = evaluate(sessions, budget=2.0)
        names = [score.name for score in result.scores]
        assert names == [
            "model, order 2",
            "order-1 Markov",
            "same key again",
            "most popular",
            "recent keys (LRU)",
        ]
        assert result.scores[0].cost <= 2.0
        assert [s.rule for s in result.scores[2:]] == ["top 1", "top 2", "top 2"]
        assert len({s.navigations for s in result.scores}) == 1
        assert result.train + result.test == 300
        top = evaluate(sessions, top_k=3)
        assert {s.rule for s in top.scores[:2]} == {"top 3"}
        fixed = evaluate(sessions, threshold=0.2, max_keys=3)
        assert fixed.scores[0].rule == "p >= 0.2, at most 3"

    def test_one_rule_only(self) -> None:
        """A budget and a threshold together are refused."""
        with pytest.raises(ValueError, match="at most one"):
            evaluate([["a", "b"]], budget=2.0, threshold=0.1)

    def test_model_beats_baselines_on_synthetic_sessions(self) -> None:
        """At 2 keys per navigation the model clearly out-hits every baseline and order 1."""
        result = evaluate(synthetic_sessions(3000, seed=3), budget=2.0, seed=3)
        ours, markov, same, popular, recent = (s.hit_rate for s in result.scores)
        assert ours / popular > 2.0
        assert ours / same > 1.2
        assert ours / recent > 1.05
        assert ours / markov > 1.02


class TestSyntheticSessions:
    def test_deterministic_by_seed(self) -> None:
        """The same seed gives the same sessions; another seed, others."""
        assert synthetic_sessions(200, seed=5) == synthetic_sessions(200, seed=5)
        assert synthetic_sessions(200, seed=5) != synthetic_sessions(200, seed=6)

    def test_shape(self) -> None:
        """Keys come from n_keys names; sessions last at least one key, about the mean."""
        sessions = synthetic_sessions(3000, n_keys=9, mean_length=6.0, seed=1)
        assert {key for s in sessions for key in s} == {f"k{i:02d}" for i in range(9)}
        assert min(map(len, sessions)) >= 1
        assert 4.5 < sum(map(len, sessions)) / len(sessions) < 7.5

    def test_noise_free_sessions_follow_few_successors(self) -> None:
        """Without noise, jumps, loops or memory, each key has only its few successors."""
        sessions = synthetic_sessions(
            2000,
            seed=4,
            noise=0.0,
            markov_strength=1.0,
            path_memory=0.0,
            back=0.0,
            repeat=0.0,
            loop_fraction=0.0,
        )
        after: dict[str, set[str]] = {}
        for s in sessions:
            for current, following in itertools.pairwise(s):
                after.setdefault(current, set()).add(following)
        assert max(map(len, after.values())) <= 3

    @pytest.mark.parametrize(
        "options",
        [{"n_keys": 1}, {"repeat": 0.7, "back": 0.4}, {"markov_strength": 1.5}, {"noise": -0.1}],
    )
    def test_bad_settings(self, options: dict[str, float]) -> None:
        """Settings out of range raise ValueError."""
        with pytest.raises(ValueError, match=r"must|need"):
            synthetic_sessions(10, **options)  # type: ignore[arg-type]


class TestTraceFiles:
    def test_round_trip(self, tmp_path: pathlib.Path) -> None:
        """Written sessions read back the same; blank lines are skipped."""
        sessions = synthetic_sessions(50, seed=1)
        path = tmp_path / "trace.txt"
        write_trace(path, sessions)
        path.write_text("\n" + path.read_text() + "\n  \n", encoding="utf-8")
        assert read_trace(path) == sessions

    def test_keys_with_spaces_are_refused(self, tmp_path: pathlib.Path) -> None:
        """A key holding whitespace cannot be written."""
        with pytest.raises(ValueError, match="spaces"):
            write_trace(tmp_path / "t.txt", [["a b"]])

    def test_stdin(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """'-' reads standard input."""
        monkeypatch.setattr(sys, "stdin", io.StringIO("a b\n\nc\n"))
        assert read_trace("-") == [["a", "b"], ["c"]]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the command line: as a subprocess once __main__ exists, in-process before."""
    if MAIN_MODULE.exists():
        done = subprocess.run(
            [sys.executable, "-m", "djed.cache", "evaluate", *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        return done.returncode, done.stdout, done.stderr
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


class TestCommandLine:
    @pytest.fixture
    def trace(self, tmp_path: pathlib.Path) -> pathlib.Path:
        path = tmp_path / "trace.txt"
        write_trace(path, synthetic_sessions(400, seed=9))
        return path

    def test_table(self, trace: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
        """The table lists the model and every baseline with hit rate, cost and precision."""
        code, out, _ = run([str(trace), "--budget", "2"], capsys)
        assert code == 0
        for text in ["hit rate", "cost", "precision", "model, order 2", "most popular"]:
            assert text in out

    def test_json(self, trace: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
        """--json prints one JSON document with a result per planner."""
        code, out, _ = run([str(trace), "--order", "1", "--threshold", "0.2", "--json"], capsys)
        assert code == 0
        document = json.loads(out)
        assert document["sessions"] == 400
        assert document["results"][0]["name"] == "model, order 1"
        assert {"hit_rate", "cost", "precision"} <= set(document["results"][0])

    def test_missing_file(self, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
        """An unreadable trace exits 2 with a one-line error."""
        code, out, err = run([str(tmp_path / "missing.txt")], capsys)
        assert code == 2
        assert out == ""
        assert err.startswith("error: cannot read trace")
        assert err.count("\n") == 1

    def test_empty_and_binary_files(
        self, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A trace of blank lines, or one that is not text, exits 2."""
        empty = tmp_path / "empty.txt"
        empty.write_text("\n \n", encoding="utf-8")
        code, _, err = run([str(empty)], capsys)
        assert (code, err) == (2, f"error: trace {empty} holds no sessions\n")
        binary = tmp_path / "binary.txt"
        binary.write_bytes(b"\xff\xfe\x00a")
        code, _, err = run([str(binary)], capsys)
        assert code == 2
        assert err.startswith("error: cannot read trace")

    def test_bad_options(self, trace: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Conflicting or out-of-range options exit 2."""
        assert run([str(trace), "--budget", "2", "--threshold", "0.1"], capsys)[0] == 2
        assert run([str(trace), "--test-fraction", "1.5"], capsys)[0] == 2
        assert run([str(trace), "--top-k", "9"], capsys)[0] == 2

    def test_in_process_entry(
        self,
        trace: pathlib.Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """main() accepts a leading 'evaluate' and reads '-' from standard input."""
        assert main(["evaluate", str(trace), "--top-k", "2", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["results"][0]["rule"] == "top 2"
        monkeypatch.setattr(sys, "stdin", io.StringIO("a b\nb a b\n"))
        assert main(["-", "--test-fraction", "0.5"]) == 0
        assert "model, order 2" in capsys.readouterr().out
        monkeypatch.setattr(sys, "stdin", io.StringIO("a\nb\n"))
        assert main(["-"]) == 2
        assert "has two keys" in capsys.readouterr().err
