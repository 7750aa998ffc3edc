from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from djed.mcp_base import _pipeline
from djed.mcp_base._pipeline import (
    CallNext,
    Pipeline,
    PipelineError,
    StageTimeoutError,
)
from hypothesis import given
from hypothesis import strategies as st

HANG_GUARD = 5.0  # seconds; only stops a broken test from hanging the run


async def passthrough(ctx: Any, call_next: CallNext) -> Any:
    return await call_next(ctx)


async def echo(ctx: Any) -> Any:
    return ("handled", ctx)


async def never_set() -> None:
    await asyncio.Event().wait()


def tracer(log: list[str], name: str) -> Any:
    async def stage(ctx: Any, call_next: CallNext) -> Any:
        log.append(f"{name} in")
        result = await call_next(ctx)
        log.append(f"{name} out")
        return result

    return stage


def failing(error: Exception) -> Any:
    async def stage(ctx: Any, call_next: CallNext) -> Any:
        raise error

    return stage


async def run(pipeline: Pipeline, ctx: Any = "ctx", handler: Any = echo) -> Any:
    async with asyncio.timeout(HANG_GUARD):
        return await pipeline.compose(handler)(ctx)


@pytest.fixture
def counters(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Fresh, fake observable counters behind the module's lazy creation, by name."""
    from opentelemetry import metrics

    created: dict[str, Any] = {}

    class FakeMeter:
        def create_observable_counter(
            self, name: str, callbacks: list[Any], unit: str = "", description: str = ""
        ) -> None:
            created[name] = (unit, callbacks[0])

    monkeypatch.setattr(_pipeline, "_instruments_created", [])
    monkeypatch.setattr(metrics, "get_meter", lambda name, *args, **kwargs: FakeMeter())
    return created


def observed(counters: dict[str, Any], name: str) -> dict[str, float]:
    _unit, callback = counters[name]
    return {o.attributes["stage"]: o.value for o in callback(None)}


class TestOrdering:
    def test_dependencies_run_outside_their_dependants(self) -> None:
        """A stage runs inside every stage it depends on, whatever the insertion order."""
        pipeline = (
            Pipeline()
            .stage("respond", passthrough, depends_on=["validate"])
            .stage("validate", passthrough, depends_on=["auth"])
            .stage("auth", passthrough)
        )
        assert pipeline.order() == ["auth", "validate", "respond"]

    def test_priority_breaks_ties(self) -> None:
        """Among stages free to go, the higher priority runs further out; ints share the scale."""
        pipeline = (
            Pipeline()
            .stage("low", passthrough, priority="low")
            .stage("normal", passthrough)
            .stage("critical", passthrough, priority="critical")
            .stage("between", passthrough, priority=250)
            .stage("high", passthrough, priority="high")
        )
        assert pipeline.order() == ["critical", "between", "high", "normal", "low"]

    def test_insertion_order_breaks_the_remaining_ties(self) -> None:
        """Stages of equal priority keep the order they were added in."""
        pipeline = Pipeline()
        for name in ["c", "a", "d", "b"]:
            pipeline.stage(name, passthrough, priority="high")
        assert pipeline.order() == ["c", "a", "d", "b"]

    def test_dependencies_outrank_priority(self) -> None:
        """A critical stage still runs inside the low-priority stage it depends on."""
        pipeline = (
            Pipeline()
            .stage("audit", passthrough, priority="critical", depends_on="context")
            .stage("context", passthrough, priority="low")
            .stage("metrics", passthrough, priority="normal")
        )
        assert pipeline.order() == ["metrics", "context", "audit"]

    @pytest.mark.asyncio
    async def test_built_chain_runs_outermost_first(self) -> None:
        """The composed chain enters stages in order, reaches the handler, and unwinds."""
        log: list[str] = []
        pipeline = (
            Pipeline().stage("b", tracer(log, "b"), depends_on=["a"]).stage("a", tracer(log, "a"))
        )
        assert await run(pipeline, "ctx") == ("handled", "ctx")
        assert log == ["a in", "b in", "b out", "a out"]

    @pytest.mark.asyncio
    async def test_call_next_passes_a_new_or_the_same_context(self) -> None:
        """call_next(new) hands ``new`` inward; call_next() hands on the stage's own context."""

        async def rewrite(ctx: Any, call_next: CallNext) -> Any:
            return await call_next(ctx + "+rewritten")

        async def bare(ctx: Any, call_next: CallNext) -> Any:
            return await call_next()

        pipeline = Pipeline().stage("rewrite", rewrite).stage("bare", bare)
        assert await run(pipeline, "ctx") == ("handled", "ctx+rewritten")

    def test_build_is_a_snapshot(self) -> None:
        """Stages added after build() do not change the list already built."""
        pipeline = Pipeline().stage("a", passthrough)
        built = pipeline.build()
        pipeline.stage("b", passthrough)
        assert len(built) == 1
        assert len(pipeline.build()) == 2


@st.composite
def random_dags(draw: st.DrawFn) -> list[tuple[str, list[str], str | int]]:
    """Stages with acyclic dependencies and random priorities, in a random insertion order."""
    count = draw(st.integers(min_value=0, max_value=12))
    names = [f"s{i}" for i in range(count)]
    priorities = st.sampled_from(["critical", "high", "normal", "low"]) | st.integers(-50, 400)
    stages = [
        (
            name,
            draw(st.lists(st.sampled_from(names[:i]), unique=True)) if i else [],
            draw(priorities),
        )
        for i, name in enumerate(names)
    ]
    return draw(st.permutations(stages))


class TestRandomGraphs:
    @given(random_dags())
    def test_every_dependency_precedes_its_dependant(
        self, stages: list[tuple[str, list[str], str | int]]
    ) -> None:
        """Any acyclic graph resolves to an order where each dependency comes first."""
        pipeline = Pipeline()
        for name, depends_on, priority in stages:
            pipeline.stage(name, passthrough, depends_on=depends_on, priority=priority)  # type: ignore[arg-type]
        order = pipeline.order()
        assert sorted(order) == sorted(name for name, _, _ in stages)
        position = {name: index for index, name in enumerate(order)}
        for name, depends_on, _ in stages:
            assert all(position[dependency] < position[name] for dependency in depends_on)

    @given(random_dags())
    def test_each_place_goes_to_the_best_ready_stage(
        self, stages: list[tuple[str, list[str], str | int]]
    ) -> None:
        """Each place goes to the highest priority, then earliest added, of the ready stages."""
        ranks = {"critical": 300, "high": 200, "normal": 100, "low": 0}
        pipeline = Pipeline()
        for name, depends_on, priority in stages:
            pipeline.stage(name, passthrough, depends_on=depends_on, priority=priority)  # type: ignore[arg-type]
        key = {
            name: (-(ranks[p] if isinstance(p, str) else p), index)
            for index, (name, _, p) in enumerate(stages)
        }
        placed: set[str] = set()
        for name in pipeline.order():
            ready = [n for n, deps, _ in stages if n not in placed and placed.issuperset(deps)]
            assert name == min(ready, key=key.__getitem__)
            placed.add(name)


class TestRefusals:
    def test_cycle_lists_its_path(self) -> None:
        """A cycle is refused at build, its path spelled out and stages outside it left out."""
        pipeline = (
            Pipeline()
            .stage("logging", passthrough, depends_on=["auth"])
            .stage("auth", passthrough, depends_on=["ratelimit"])
            .stage("ratelimit", passthrough, depends_on=["auth"])
        )
        with pytest.raises(PipelineError, match="cycle") as info:
            pipeline.build()
        assert "auth -> ratelimit -> auth" in str(info.value)
        assert "logging" not in str(info.value)

    def test_longer_and_self_cycles(self) -> None:
        """Cycles of three stages and of one stage are both named in full."""
        three = (
            Pipeline()
            .stage("a", passthrough, depends_on="b")
            .stage("b", passthrough, depends_on="c")
            .stage("c", passthrough, depends_on="a")
        )
        with pytest.raises(PipelineError, match="a -> b -> c -> a"):
            three.order()
        with pytest.raises(PipelineError, match="solo -> solo"):
            Pipeline().stage("solo", passthrough, depends_on="solo").build()

    def test_missing_dependency_names_both(self) -> None:
        """A dependency on an absent stage names the stage and the missing name."""
        pipeline = Pipeline().stage("ratelimit", passthrough, depends_on=["auth"])
        with pytest.raises(PipelineError) as info:
            pipeline.build()
        assert "'ratelimit' depends on 'auth'" in str(info.value)

    def test_duplicate_name_is_refused_when_added(self) -> None:
        """Adding a second stage under a taken name fails at once, naming it."""
        pipeline = Pipeline().stage("auth", passthrough)
        with pytest.raises(PipelineError, match="'auth' is already in the pipeline"):
            pipeline.stage("auth", passthrough)

    @pytest.mark.parametrize(
        ("options", "word"),
        [
            ({"priority": "urgent"}, "priority"),
            ({"priority": True}, "priority"),
            ({"timeout": 0}, "timeout"),
            ({"timeout": -1.5}, "timeout"),
            ({"on_error": "ignore"}, "on_error"),
        ],
    )
    def test_bad_settings(self, options: dict[str, Any], word: str) -> None:
        """Unusable priority, timeout or on_error values are refused with the stage's name."""
        with pytest.raises(PipelineError, match=f"'auth' has {word}"):
            Pipeline().stage("auth", passthrough, **options)
        with pytest.raises(PipelineError, match="non-empty"):
            Pipeline().stage("", passthrough)

    def test_errors_are_value_errors(self) -> None:
        """Configuration errors are ValueErrors; a stage timeout is also a TimeoutError."""
        assert issubclass(PipelineError, ValueError)
        assert issubclass(StageTimeoutError, PipelineError)
        assert issubclass(StageTimeoutError, TimeoutError)


class TestTimeout:
    @pytest.mark.asyncio
    async def test_stage_over_its_timeout_is_named(self) -> None:
        """A stage stuck before call_next fails with StageTimeoutError naming it."""

        async def stuck(ctx: Any, call_next: CallNext) -> Any:
            await never_set()
            return await call_next(ctx)

        pipeline = Pipeline().stage("outer", passthrough).stage("stuck", stuck, timeout=0.01)
        with pytest.raises(StageTimeoutError, match="'stuck'") as info:
            await run(pipeline)
        assert info.value.stage == "stuck"
        assert info.value.timeout == 0.01

    @pytest.mark.asyncio
    async def test_timeout_covers_everything_inside(self) -> None:
        """A stuck handler is cancelled by the timeout of a stage outside it."""
        cancelled = asyncio.Event()

        async def stuck_handler(ctx: Any) -> Any:
            try:
                await never_set()
            finally:
                cancelled.set()

        pipeline = Pipeline().stage("bounded", passthrough, timeout=0.01)
        pipeline.stage("inner", passthrough, depends_on="bounded")
        with pytest.raises(StageTimeoutError, match="'bounded'"):
            await run(pipeline, handler=stuck_handler)
        assert cancelled.is_set()

    @pytest.mark.asyncio
    async def test_inner_timeout_passes_outer_stages_unchanged(self) -> None:
        """An inner stage's timeout reaches the caller naming the inner stage."""

        async def stuck(ctx: Any, call_next: CallNext) -> Any:
            await never_set()

        pipeline = (
            Pipeline()
            .stage("outer", passthrough, timeout=HANG_GUARD, on_error="continue")
            .stage("inner", stuck, depends_on="outer", timeout=0.01)
        )
        with pytest.raises(StageTimeoutError) as info:
            await run(pipeline)
        assert info.value.stage == "inner"

    @pytest.mark.asyncio
    async def test_stage_made_timeout_error_is_not_converted(self) -> None:
        """A TimeoutError the stage raises itself is not reported as the stage's timeout."""
        pipeline = Pipeline().stage("own", failing(TimeoutError("upstream")), timeout=HANG_GUARD)
        with pytest.raises(TimeoutError, match="upstream") as info:
            await run(pipeline)
        assert not isinstance(info.value, StageTimeoutError)

    @pytest.mark.asyncio
    async def test_fast_call_is_untouched(self) -> None:
        """A call within its timeout returns its result."""
        pipeline = Pipeline().stage("bounded", passthrough, timeout=HANG_GUARD)
        assert await run(pipeline, 7) == ("handled", 7)


class TestOnError:
    @pytest.mark.asyncio
    async def test_abort_reraises(self) -> None:
        """By default the stage's own error reaches the caller and the handler never runs."""
        handled: list[Any] = []

        async def handler(ctx: Any) -> Any:
            handled.append(ctx)

        pipeline = Pipeline().stage("auth", failing(RuntimeError("no token")))
        with pytest.raises(RuntimeError, match="no token"):
            await run(pipeline, handler=handler)
        assert handled == []

    @pytest.mark.asyncio
    async def test_continue_logs_and_skips_the_stage(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A failing stage is logged with its name and the chain runs as if it were absent."""
        log: list[str] = []
        pipeline = (
            Pipeline()
            .stage("enrich", failing(KeyError("tenant")), on_error="continue")
            .stage("inner", tracer(log, "inner"), depends_on="enrich")
        )
        with caplog.at_level(logging.WARNING, logger="djed.mcp_base"):
            assert await run(pipeline, "ctx") == ("handled", "ctx")
        assert log == ["inner in", "inner out"]
        [record] = [r for r in caplog.records if r.name == "djed.mcp_base"]
        assert "'enrich'" in record.getMessage()
        assert record.stage == "enrich"  # type: ignore[attr-defined]
        assert record.exc_info is not None
        assert isinstance(record.exc_info[1], KeyError)

    @pytest.mark.asyncio
    async def test_continue_never_swallows_errors_from_inside(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An error raised by the handler passes a "continue" stage unchanged and unlogged."""

        async def broken(ctx: Any) -> Any:
            raise LookupError("handler failed")

        pipeline = Pipeline().stage("outer", passthrough, on_error="continue")
        with caplog.at_level(logging.WARNING, logger="djed.mcp_base"):
            with pytest.raises(LookupError, match="handler failed"):
                await run(pipeline, handler=broken)
        assert [r for r in caplog.records if r.name == "djed.mcp_base"] == []

    @pytest.mark.asyncio
    async def test_continue_does_not_cover_failures_after_call_next(self) -> None:
        """Once the stage has called call_next, its own failure propagates."""
        calls: list[Any] = []

        async def handler(ctx: Any) -> Any:
            calls.append(ctx)
            return "result"

        async def breaks_after(ctx: Any, call_next: CallNext) -> Any:
            await call_next(ctx)
            raise RuntimeError("post-processing failed")

        pipeline = Pipeline().stage("post", breaks_after, on_error="continue")
        with pytest.raises(RuntimeError, match="post-processing"):
            await run(pipeline, handler=handler)
        assert calls == ["ctx"]  # the handler ran once, not again

    @pytest.mark.asyncio
    async def test_sync_and_async_fallbacks_answer_for_the_stage(self) -> None:
        """A fallback gets the context and error, and its result is returned."""
        seen: list[tuple[Any, Exception]] = []

        def sync_fallback(ctx: Any, error: Exception) -> Any:
            seen.append((ctx, error))
            return "sync fallback"

        async def async_fallback(ctx: Any, error: Exception) -> Any:
            return f"async fallback for {error}"

        failure = ValueError("bad")
        first = Pipeline().stage("cache", failing(failure), on_error=sync_fallback)
        assert await run(first, "ctx") == "sync fallback"
        assert seen == [("ctx", failure)]
        second = Pipeline().stage("cache", failing(ValueError("bad")), on_error=async_fallback)
        assert await run(second) == "async fallback for bad"

    @pytest.mark.asyncio
    async def test_timeout_before_call_next_is_the_stages_own_error(self) -> None:
        """A stage that times out before handing on is skipped by "continue" or replaced."""

        async def slow(ctx: Any, call_next: CallNext) -> Any:
            await never_set()

        skipped = Pipeline().stage("slow", slow, timeout=0.01, on_error="continue")
        assert await run(skipped, "ctx") == ("handled", "ctx")
        replaced = Pipeline().stage(
            "slow", slow, timeout=0.01, on_error=lambda ctx, error: type(error).__name__
        )
        assert await run(replaced) == "StageTimeoutError"


class TestStats:
    @pytest.mark.asyncio
    async def test_counts_calls_and_own_errors(self) -> None:
        """Every call counts; errors count only failures of the stage itself."""
        outcomes = iter([None, RuntimeError("flaky"), None, None])

        async def flaky(ctx: Any, call_next: CallNext) -> Any:
            error = next(outcomes)
            if error is not None:
                raise error
            return await call_next(ctx)

        async def broken(ctx: Any) -> Any:
            raise LookupError("handler failed")

        pipeline = Pipeline().stage("outer", passthrough).stage("flaky", flaky, on_error="continue")
        for _ in range(3):
            await run(pipeline)
        with pytest.raises(LookupError):
            await run(pipeline, handler=broken)
        stats = pipeline.stats()
        assert stats["outer"]["calls"] == 4
        assert stats["outer"]["errors"] == 0
        assert stats["flaky"]["calls"] == 4
        assert stats["flaky"]["errors"] == 1

    @pytest.mark.asyncio
    async def test_own_time_excludes_everything_inside(self) -> None:
        """A stage whose inside sleeps records far less than that sleep for itself."""
        inside: list[float] = []

        async def sleepy(ctx: Any) -> Any:
            started = time.perf_counter()
            await asyncio.sleep(0.05)
            inside.append(time.perf_counter() - started)

        pipeline = Pipeline().stage("outer", passthrough).stage("inner", passthrough)
        await run(pipeline, handler=sleepy)
        stats = pipeline.stats()
        assert stats["outer"]["calls"] == stats["inner"]["calls"] == 1
        assert stats["outer"]["total_seconds"] < inside[0] / 2
        assert stats["inner"]["total_seconds"] < inside[0] / 2

    @pytest.mark.asyncio
    async def test_counters_created_lazily_and_read_at_collection(
        self, counters: dict[str, Any]
    ) -> None:
        """The first build creates the stage counters; they report the stats when collected."""
        pipeline = Pipeline().stage("count-a", passthrough).stage("count-b", passthrough)
        assert counters == {}
        await run(pipeline)
        await run(pipeline)
        assert {name: unit for name, (unit, _) in counters.items()} == {
            "djed.mcp.stage.time": "s",
            "djed.mcp.stage.calls": "{call}",
            "djed.mcp.stage.errors": "{error}",
        }
        calls = observed(counters, "djed.mcp.stage.calls")
        assert (calls["count-a"], calls["count-b"]) == (2, 2)
        errors = observed(counters, "djed.mcp.stage.errors")
        assert (errors["count-a"], errors["count-b"]) == (0, 0)
        seconds = observed(counters, "djed.mcp.stage.time")
        stats = pipeline.stats()
        assert seconds["count-a"] == stats["count-a"]["total_seconds"] > 0

    def test_every_stage_listed_from_the_start(self) -> None:
        """stats() lists stages not run yet with zeros."""
        pipeline = Pipeline().stage("a", passthrough)
        assert pipeline.stats() == {"a": {"calls": 0, "total_seconds": 0.0, "errors": 0}}


class TestEditing:
    def test_methods_chain_on_the_same_pipeline(self) -> None:
        """stage(), without() and replace() return the pipeline itself."""
        pipeline = Pipeline()
        assert pipeline.stage("a", passthrough) is pipeline
        assert pipeline.replace("a", passthrough) is pipeline
        assert pipeline.without("a") is pipeline

    def test_without_keeps_the_removed_stages_constraints(self) -> None:
        """Stages that depended on a removed stage now depend on what it depended on."""
        pipeline = (
            Pipeline()
            .stage("respond", passthrough, priority="critical", depends_on="validate")
            .stage("validate", passthrough, depends_on="auth")
            .stage("auth", passthrough, priority="low")
            .stage("metrics", passthrough, priority="high")
        )
        assert pipeline.order() == ["metrics", "auth", "validate", "respond"]
        pipeline.without("validate")
        assert pipeline.order() == ["metrics", "auth", "respond"]
        assert "validate" not in pipeline.stats()

    @pytest.mark.asyncio
    async def test_replace_keeps_place_settings_and_stats(self) -> None:
        """A replaced stage keeps its position, timeout, on_error and counters."""
        log: list[str] = []
        pipeline = (
            Pipeline()
            .stage("first", tracer(log, "first"))
            .stage("auth", passthrough, on_error="continue", depends_on="first")
        )
        await run(pipeline)
        pipeline.replace("auth", failing(PermissionError("new rules")))
        assert pipeline.order() == ["first", "auth"]
        assert await run(pipeline) == ("handled", "ctx")  # on_error="continue" still holds
        assert pipeline.stats()["auth"]["calls"] == 2
        assert pipeline.stats()["auth"]["errors"] == 1

    def test_unknown_names_are_refused(self) -> None:
        """without() and replace() of an absent stage name it and list the stages there are."""
        pipeline = Pipeline().stage("auth", passthrough)
        with pytest.raises(PipelineError, match=r"no stage named 'audit'.*'auth'"):
            pipeline.without("audit")
        with pytest.raises(PipelineError, match="no stage named 'audit'"):
            pipeline.replace("audit", passthrough)


class TestDescribe:
    def test_text_then_mermaid(self) -> None:
        """One line per stage with every setting, then a flowchart from client to handler."""

        def cached(ctx: Any, error: Exception) -> str:
            return "cached"

        pipeline = (
            Pipeline()
            .stage("ratelimit", passthrough, depends_on=["auth"], timeout=0.5, on_error=cached)
            .stage("auth", passthrough, priority="critical")
            .stage("audit", passthrough, priority=5, on_error="continue")
        )
        text, diagram = pipeline.describe().split("\n\n")
        lines = text.splitlines()
        assert lines[0].split() == [
            "0.",
            "auth",
            "priority=critical",
            "depends_on=-",
            "timeout=none",
            "on_error=abort",
        ]
        assert lines[1].split() == [
            "1.",
            "ratelimit",
            "priority=normal",
            "depends_on=auth",
            "timeout=0.5s",
            f"on_error=fallback:{cached.__qualname__}",
        ]
        assert lines[2].split()[:3] == ["2.", "audit", "priority=5"]
        assert lines[2].endswith("on_error=continue")
        assert diagram.splitlines() == [
            "flowchart LR",
            "    client([client])",
            '    stage0["auth"]',
            '    stage1["ratelimit"]',
            '    stage2["audit"]',
            "    handler([handler])",
            "    client --> stage0 --> stage1 --> stage2 --> handler",
        ]

    def test_labels_are_escaped(self) -> None:
        """Quotes, brackets and other markup in a name become Mermaid entity codes."""
        pipeline = Pipeline().stage('say "hi" <b>[x]', passthrough)
        assert '    stage0["say #34;hi#34; #60;b#62;#91;x#93;"]' in pipeline.describe()

    def test_empty_pipeline(self) -> None:
        """With no stages the client goes straight to the handler."""
        assert Pipeline().describe().endswith("    client --> handler")
