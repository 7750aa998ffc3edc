"""An ordered, measured chain of middleware stages, independent of any server SDK.

A stage is ``async def stage(ctx, call_next)``: it may work on ``ctx``, then
``await call_next(ctx)`` (or ``call_next()`` to pass its own context on) to
run everything inside it, and return a result. The context is whatever the
caller threads through; this module never looks inside it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias, TypedDict

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Observation

__all__ = ["CallNext", "Pipeline", "PipelineError", "StageStats", "StageTimeoutError"]

_logger = logging.getLogger("djed.mcp_base")

_PRIORITIES = {"critical": 300, "high": 200, "normal": 100, "low": 0}
_SAME: Any = object()  # call_next() with no argument passes the stage's own context on


class CallNext(Protocol):
    """What a stage awaits to run the rest of the chain.

    Called with a context, the rest of the chain sees that context; called
    with none, it sees the context the stage itself received.
    """

    def __call__(self, ctx: Any = ..., /) -> Awaitable[Any]: ...


Downstream: TypeAlias = Callable[[Any], Awaitable[Any]]
Middleware: TypeAlias = Callable[[Any, CallNext], Awaitable[Any]]


class Wrapped(Protocol):
    """A built stage: middleware in the SDK's shape, ``await mw(ctx, call_next)``."""

    def __call__(self, ctx: Any, call_next: Downstream) -> Coroutine[Any, Any, Any]: ...


Fallback: TypeAlias = Callable[[Any, Exception], Any]
Priority: TypeAlias = Literal["critical", "high", "normal", "low"] | int
OnError: TypeAlias = Literal["abort", "continue"] | Fallback


class PipelineError(ValueError):
    """A pipeline cannot be built as configured, or one of its stages ran out of time."""


class StageTimeoutError(PipelineError, TimeoutError):
    """A stage, together with everything inside it, took longer than its timeout."""

    def __init__(self, stage: str, timeout: float) -> None:
        self.stage = stage
        self.timeout = timeout
        super().__init__(
            f"pipeline stage {stage!r} and the stages inside it took longer than its"
            f" {timeout:g} s timeout"
        )


class StageStats(TypedDict):
    """What one stage has done so far; ``total_seconds`` excludes the stages inside it."""

    calls: int
    total_seconds: float
    errors: int


@dataclasses.dataclass(frozen=True, slots=True)
class _Stage:
    name: str
    middleware: Middleware
    priority: Priority
    rank: int
    depends_on: tuple[str, ...]
    timeout: float | None
    on_error: OnError


@dataclasses.dataclass(slots=True)
class _Record:
    calls: int = 0
    seconds: float = 0.0
    errors: int = 0


class Pipeline:
    """Stages of middleware, put in order by their dependencies and priorities.

    >>> pipeline = (  # doctest: +SKIP
    ...     Pipeline()
    ...     .stage("auth", check_token, priority="critical")
    ...     .stage("ratelimit", limit, depends_on=["auth"], timeout=0.5)
    ...     .stage("audit", record, priority="low", on_error="continue")
    ... )
    >>> server = MCPServer("invoices", middleware=pipeline.build())  # doctest: +SKIP

    The order is a topological sort of ``depends_on`` (a stage runs inside
    every stage it depends on); among stages free to go next, the higher
    priority goes first (further out), then the one added first. Each built
    stage is measured, bounded by its timeout and guarded by its ``on_error``.
    """

    def __init__(self) -> None:
        self._stages: dict[str, _Stage] = {}
        self._records: dict[str, _Record] = {}

    def stage(
        self,
        name: str,
        middleware: Middleware,
        *,
        priority: Priority = "normal",
        depends_on: str | Iterable[str] = (),
        timeout: float | None = None,
        on_error: OnError = "abort",
    ) -> Pipeline:
        """Add a stage and return the pipeline, so calls chain.

        Args:
            name: Unique within the pipeline; used by ``depends_on``, stats and logs.
            middleware: ``async def (ctx, call_next) -> result``.
            priority: ``"critical"`` (300), ``"high"`` (200), ``"normal"`` (100),
                ``"low"`` (0) or any int on that scale; higher runs further out
                when dependencies leave a choice.
            depends_on: Names of stages that must run before (outside) this one.
            timeout: Seconds allowed for this stage together with everything inside
                it; past that the call is cancelled and fails with
                :class:`StageTimeoutError`.
            on_error: What happens when the stage fails before it calls
                ``call_next`` (a timeout counts): ``"abort"`` re-raises;
                ``"continue"`` logs the error and runs the rest of the chain as
                if the stage were absent; a callable ``(ctx, error)`` (sync or
                async) is logged the same way and its result is returned.
                Failures after ``call_next`` was called, and errors coming up
                from inside, always propagate.

        Raises:
            PipelineError: A setting is invalid or ``name`` is already taken.
        """
        if not isinstance(name, str) or not name:
            raise PipelineError(f"a stage needs a non-empty string name, not {name!r}")
        if name in self._stages:
            raise PipelineError(
                f"a stage named {name!r} is already in the pipeline; use"
                f" replace({name!r}, ...) or without({name!r}) to change it"
            )
        rank, timeout = _checked(name, priority, timeout, on_error)
        names = (depends_on,) if isinstance(depends_on, str) else tuple(depends_on)
        deps = tuple(dict.fromkeys(names))
        self._stages[name] = _Stage(name, middleware, priority, rank, deps, timeout, on_error)
        self._records[name] = _Record()
        return self

    def plugin(
        self,
        name: str,
        *,
        priority: Priority = "normal",
        depends_on: str | Iterable[str] = (),
        timeout: float | None = None,
        on_error: OnError = "abort",
    ) -> Pipeline:
        """Add the stage of the installed ``djed.mcp_base.middleware`` plugin ``name``.

        The stage takes the plugin's name; the other arguments are those of
        :meth:`stage`. Entry points are read the first time a plugin is added.

        Raises:
            PluginError: No such plugin is installed, two claim the name, or it
                fails to load or is not an async callable; the message names it.
            PipelineError: A setting is invalid or ``name`` is already taken.
        """
        from ._plugins import middleware_plugins  # noqa: PLC0415 - it imports this module

        if name == "*":
            raise PipelineError("plugin() adds one plugin by its name; '*' is not a name")
        return self.stage(
            name,
            middleware_plugins(name)[name],
            priority=priority,
            depends_on=depends_on,
            timeout=timeout,
            on_error=on_error,
        )

    def without(self, name: str) -> Pipeline:
        """Remove a stage; stages that depended on it inherit its dependencies.

        Raises:
            PipelineError: No stage has that name.
        """
        removed = self._stages.pop(self._known(name))
        del self._records[name]
        for other in list(self._stages.values()):
            if name in other.depends_on:
                inherited = (
                    removed.depends_on if dep == name else (dep,) for dep in other.depends_on
                )
                depends_on = tuple(dict.fromkeys(d for group in inherited for d in group))
                self._stages[other.name] = dataclasses.replace(other, depends_on=depends_on)
        return self

    def replace(self, name: str, middleware: Middleware) -> Pipeline:
        """Swap a stage's middleware, keeping its place, settings and stats.

        Raises:
            PipelineError: No stage has that name.
        """
        current = self._stages[self._known(name)]
        self._stages[name] = dataclasses.replace(current, middleware=middleware)
        return self

    def order(self) -> list[str]:
        """The stage names, outermost first.

        Raises:
            PipelineError: A dependency is missing or the dependencies form a cycle.
        """
        return [stage.name for stage in self._resolve()]

    def build(self) -> list[Wrapped]:
        """The stages as middleware, outermost first, each measured and guarded.

        The list is a snapshot: later changes to the pipeline do not affect it.

        Raises:
            PipelineError: A dependency is missing or the dependencies form a cycle.
        """
        stages = self._resolve()
        _export(self)
        return [_wrap(stage, self._records[stage.name]) for stage in stages]

    def compose(self, handler: Downstream) -> Downstream:
        """Build the pipeline and join it to ``handler``: one ``async (ctx) -> result``."""
        return _compose(self.build(), handler)

    def stats(self) -> dict[str, StageStats]:
        """Calls, own time (excluding everything inside) and own failures, by stage."""
        return {
            name: StageStats(calls=r.calls, total_seconds=r.seconds, errors=r.errors)
            for name, r in self._records.items()
        }

    def describe(self) -> str:
        """The resolved order as text, then as a Mermaid ``flowchart LR`` diagram.

        Raises:
            PipelineError: A dependency is missing or the dependencies form a cycle.
        """
        stages = self._resolve()
        width = max((len(stage.name) for stage in stages), default=0)
        lines = [
            f"{index}. {stage.name:<{width}}  priority={stage.priority}"
            f"  depends_on={','.join(stage.depends_on) or '-'}"
            f"  timeout={'none' if stage.timeout is None else f'{stage.timeout:g}s'}"
            f"  on_error={_on_error_label(stage.on_error)}"
            for index, stage in enumerate(stages)
        ] or ["(no stages)"]
        lines += ["", "flowchart LR", "    client([client])"]
        lines += [f'    stage{i}["{_mermaid(stage.name)}"]' for i, stage in enumerate(stages)]
        lines.append("    handler([handler])")
        chain = ["client", *(f"stage{i}" for i in range(len(stages))), "handler"]
        lines.append("    " + " --> ".join(chain))
        return "\n".join(lines)

    def _known(self, name: str) -> str:
        if name not in self._stages:
            known = ", ".join(map(repr, self._stages)) or "none"
            raise PipelineError(f"no stage named {name!r} in the pipeline (stages: {known})")
        return name

    def _resolve(self) -> list[_Stage]:
        stages = self._stages
        dependants: dict[str, list[str]] = {name: [] for name in stages}
        for stage in stages.values():
            for dependency in stage.depends_on:
                if dependency not in stages:
                    raise PipelineError(
                        f"stage {stage.name!r} depends on {dependency!r}, which is not in the"
                        f" pipeline; add a stage named {dependency!r} or drop it from depends_on"
                    )
                dependants[dependency].append(stage.name)
        position = {name: index for index, name in enumerate(stages)}
        waiting = {name: len(stage.depends_on) for name, stage in stages.items()}
        ready = [(-s.rank, position[n], n) for n, s in stages.items() if not waiting[n]]
        heapq.heapify(ready)
        ordered: list[_Stage] = []
        while ready:
            name = heapq.heappop(ready)[2]
            ordered.append(stages[name])
            for dependant in dependants[name]:
                waiting[dependant] -= 1
                if not waiting[dependant]:
                    entry = (-stages[dependant].rank, position[dependant], dependant)
                    heapq.heappush(ready, entry)
        if len(ordered) < len(stages):
            cycle = " -> ".join(self._cycle(waiting))
            raise PipelineError(
                f"the stage dependencies form a cycle: {cycle} (each depends on the next);"
                " remove one of these depends_on entries"
            )
        return ordered

    def _cycle(self, waiting: dict[str, int]) -> list[str]:
        """A dependency cycle among the stages the sort could not place."""
        # Every unplaced stage still waits on an unplaced dependency, so walking
        # from one to the next must come back to a stage already on the path.
        node = next(name for name in self._stages if waiting[name])
        path: list[str] = []
        seen: dict[str, int] = {}
        while node not in seen:
            seen[node] = len(path)
            path.append(node)
            node = next(dep for dep in self._stages[node].depends_on if waiting[dep])
        return [*path[seen[node] :], node]


def _compose(middleware: Sequence[Wrapped], handler: Downstream) -> Downstream:
    call = handler
    for layer in reversed(middleware):
        call = _link(layer, call)
    return call


def _link(layer: Wrapped, call_next: Downstream) -> Downstream:
    async def call(ctx: Any) -> Any:
        return await layer(ctx, call_next)

    return call


def _wrap(stage: _Stage, record: _Record) -> Wrapped:
    """The stage as middleware that times itself, keeps to its timeout and applies on_error."""
    name, middleware = stage.name, stage.middleware
    timeout, on_error = stage.timeout, stage.on_error

    async def run_stage(ctx: Any, call_next: Downstream) -> Any:
        inside = 0.0
        handed_on = False
        passed_up: list[BaseException] = []

        async def timed_next(next_ctx: Any = _SAME) -> Any:
            nonlocal inside, handed_on
            handed_on = True
            started = perf_counter()
            try:
                return await call_next(ctx if next_ctx is _SAME else next_ctx)
            except BaseException as error:
                passed_up.append(error)
                raise
            finally:
                inside += perf_counter() - started

        started = perf_counter()
        failed = False
        try:
            try:
                if timeout is None:
                    return await middleware(ctx, timed_next)
                return await _within(timeout, name, middleware, ctx, timed_next)
            except Exception as error:
                if any(error is seen for seen in passed_up):
                    raise  # from inside the stage's call_next: never the stage's to handle
                failed = True
                if handed_on or on_error == "abort":
                    raise
                _logger.warning(
                    "pipeline stage %r failed before calling the next stage; %s",
                    name,
                    "continuing without it" if on_error == "continue" else "using its fallback",
                    exc_info=error,
                    extra={"stage": name},
                )
                if callable(on_error):
                    result = on_error(ctx, error)
                    return await result if inspect.isawaitable(result) else result
            # on_error="continue": outside the except block, so an error from
            # inside is not reported as raised while handling the stage's own.
            return await timed_next(ctx)
        finally:
            own = max(perf_counter() - started - inside, 0.0)
            record.calls += 1
            record.seconds += own
            record.errors += failed

    run_stage.__qualname__ = run_stage.__name__ = f"stage[{name}]"
    return run_stage


async def _within(
    seconds: float, name: str, middleware: Middleware, ctx: Any, call_next: CallNext
) -> Any:
    scope = asyncio.timeout(seconds)
    try:
        async with scope:
            return await middleware(ctx, call_next)
    except TimeoutError as error:
        if scope.expired():
            raise StageTimeoutError(name, seconds) from error
        raise  # a TimeoutError of the stage's own making passes through unchanged


# Every stage record of every built pipeline, so the counters stay monotonic even
# after a pipeline object is gone (a server keeps only its built stages).
_exported: dict[int, tuple[str, _Record]] = {}
_export_lock = threading.Lock()


def _export(pipeline: Pipeline) -> None:
    """Report ``pipeline``'s stage figures through OpenTelemetry, read at collection time.

    Three observable counters by ``stage``: ``djed.mcp.stage.time`` (seconds spent
    in the stage itself), ``djed.mcp.stage.calls`` and ``djed.mcp.stage.errors``.
    A call only adds to the pipeline's own records; nothing is recorded per call.
    """
    with _export_lock:
        for name, record in pipeline._records.items():  # noqa: SLF001 - same module
            _exported.setdefault(id(record), (name, record))
        if not _instruments_created:
            _create_instruments()


_instruments_created: list[bool] = []


def _create_instruments() -> None:
    from opentelemetry import metrics  # noqa: PLC0415 - only once a pipeline is built

    meter = metrics.get_meter("djed.mcp_base")
    fields = (
        ("djed.mcp.stage.time", "s", "seconds", "Time spent in each pipeline stage itself."),
        ("djed.mcp.stage.calls", "{call}", "calls", "Calls through each pipeline stage."),
        ("djed.mcp.stage.errors", "{error}", "errors", "Failures of each pipeline stage itself."),
    )
    for name, unit, field, description in fields:
        meter.create_observable_counter(
            name, callbacks=[_observer(field)], unit=unit, description=description
        )
    _instruments_created.append(True)


def _observer(field: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def observe(_options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation  # noqa: PLC0415 - at collection only

        totals: dict[str, float] = {}
        for name, record in list(_exported.values()):
            totals[name] = totals.get(name, 0) + getattr(record, field)
        return [Observation(value, {"stage": name}) for name, value in totals.items()]

    return observe


def _checked(
    name: str, priority: Priority, timeout: float | None, on_error: OnError
) -> tuple[int, float | None]:
    """The rank of ``priority`` and the timeout as a float, once every setting is usable."""
    if isinstance(priority, bool) or not isinstance(priority, int | str):
        rank = None
    else:
        rank = priority if isinstance(priority, int) else _PRIORITIES.get(priority)
    if rank is None:
        raise PipelineError(
            f"stage {name!r} has priority {priority!r}; use 'critical', 'high', 'normal',"
            " 'low' or an int"
        )
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0
    ):
        raise PipelineError(f"stage {name!r} has timeout {timeout!r}; use seconds above 0 or None")
    if on_error not in ("abort", "continue") and not callable(on_error):
        raise PipelineError(
            f"stage {name!r} has on_error {on_error!r}; use 'abort', 'continue' or a fallback"
            " callable (ctx, error) -> result"
        )
    return rank, None if timeout is None else float(timeout)


def _on_error_label(on_error: OnError) -> str:
    if callable(on_error):
        return "fallback:" + getattr(on_error, "__qualname__", type(on_error).__name__)
    return on_error


def _mermaid(text: str) -> str:
    """``text`` safe inside a quoted Mermaid label (other characters as ``#<code>;``)."""
    return "".join(c if c.isalnum() or c in " _-.:/@" else f"#{ord(c)};" for c in text)
