"""The public entry points: configure_logging, get_logger and context binding."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ParamSpec, TypeVar

import structlog
from structlog.contextvars import bound_contextvars

from ._install import StdlibBridge, install
from ._plugins import processor_plugins
from ._redact import Redactor
from ._render import EventRenderer
from ._settings import LoggingSettings, resolve_settings
from ._sink import LogSink

__all__ = [
    "LoggingState",
    "configure_logging",
    "current_state",
    "flush_logs",
    "get_logger",
    "log_context",
    "reset_logging",
    "with_log_context",
]

P = ParamSpec("P")
R = TypeVar("R")


class LoggingState:
    """What ``configure_logging`` set up: settings, the renderer and the sink."""

    __slots__ = ("dropped_before", "renderer", "settings", "sink")

    def __init__(
        self,
        settings: LoggingSettings,
        renderer: EventRenderer,
        sink: LogSink,
        dropped_before: int = 0,
    ) -> None:
        self.settings = settings
        self.renderer = renderer
        self.sink = sink
        self.dropped_before = dropped_before

    def dropped(self) -> int:
        """Lines dropped since the process started, across reconfigurations."""
        return self.dropped_before + self.sink.dropped

    def stats(self) -> dict[str, int]:
        """Events rendered per level, lines written and lines dropped so far."""
        return {
            **{f"events_{level}": count for level, count in self.renderer.counts.items()},
            "written": self.sink.written,
            "dropped": self.dropped(),
        }


_lock = threading.Lock()
_state: LoggingState | None = None


def configure_logging(
    level: int | str | None = None,
    *,
    format: str | None = None,  # noqa: A002 - the natural name for users
    service: str | None = None,
    file: str | os.PathLike[str] | None = None,
    stream: Any = None,
    buffered: bool | None = None,
    flush_interval: float | None = None,
    redact: bool | None = None,
    redact_keys: Iterable[str] | None = None,
    mask_emails: bool | None = None,
    stdlib: bool | None = None,
    colors: bool | None = None,
    fields: Mapping[str, Any] | None = None,
    metrics: bool = True,
    plugins: Iterable[str] | None = None,
) -> LoggingSettings:
    """Set up structured logging for the whole process and return the resolved settings.

    Every argument is optional; an argument left out is read from its
    ``DJED_LOGGER_<NAME>`` environment variable, then from the default.

    >>> configure_logging("debug", service="billing", format="json")  # doctest: +SKIP

    Args:
        level: ``debug``, ``info`` (default), ``warning``, ``error``, ``critical`` or a number.
        format: ``auto`` (console on a terminal, JSON otherwise), ``json`` or ``console``.
        service: Added to every JSON line as ``service``; defaults to ``OTEL_SERVICE_NAME``.
        file: Append lines to this file instead of writing to a stream.
        stream: A text or binary stream to write to (default ``sys.stdout``).
        buffered: Batch routine lines and write them from a background thread
            (default: on for files, off for streams). Warnings and above are always
            written before the call returns.
        flush_interval: Seconds between batched writes (default 0.2).
        redact: Replace secrets with ``[REDACTED]`` (default on).
        redact_keys: Field names whose values are always redacted.
        mask_emails: Mask email addresses in values (default off).
        stdlib: Route records of the ``logging`` module through the same output (default on).
        colors: Colour console output (default: when writing to a terminal, unless ``NO_COLOR``).
        fields: Constant fields added to every event, such as ``{"region": "eu-1"}``.
        metrics: Export event and drop counts through opentelemetry-api (default on).
        plugins: Names of ``djed.logger.processors`` plugins whose processors run on
            every event, in this order, before redaction and rendering; ``"*"`` for
            every installed one (default none).

    Raises:
        LoggingConfigError: a setting has an unusable value; the message names it.
            Its subclass ``PluginError`` names a plugin asked for by name that is
            not installed or cannot be loaded; the previous configuration stays.
    """
    global _state  # noqa: PLW0603 - the process-wide logging configuration
    settings, target = resolve_settings(
        level=level,
        fmt=format,
        service=service,
        file=file,
        stream=stream,
        buffered=buffered,
        flush_interval=flush_interval,
        redact=redact,
        redact_keys=redact_keys,
        mask_emails=mask_emails,
        stdlib=stdlib,
        colors=colors,
        static_fields=fields,
        plugins=plugins,
    )
    # Entry points are read only when a plugin is named, the first time.
    processors = processor_plugins(*settings.plugins) if settings.plugins else []
    static = dict(settings.static_fields)
    if settings.service:
        static.setdefault("service", settings.service)
    renderer = EventRenderer(
        fmt=settings.format,
        static_fields=static,
        redactor=Redactor(settings.redact_keys, mask_emails=settings.mask_emails)
        if settings.redact
        else None,
        colors=settings.colors,
    )
    sink = LogSink(
        settings.file if settings.file is not None else target,
        buffered=settings.buffered,
        flush_interval=settings.flush_interval,
    )
    with _lock:
        previous = _state
        dropped_before = 0
        if previous is not None:
            # Counters stay monotonic across reconfigurations (loggers cached before
            # keep counting into the same totals).
            renderer.counts = previous.renderer.counts
            dropped_before = previous.dropped()
        _state = LoggingState(settings, renderer, sink, dropped_before)
        install(renderer, sink, settings.level, stdlib=settings.stdlib, processors=processors)
    if previous is not None:
        # Flush and release the old output; a logger cached under the old
        # configuration that logs again reopens it and writes unbuffered.
        previous.sink.close()
    if metrics:
        from ._metrics import register_metrics  # noqa: PLC0415 - imported only when wanted

        register_metrics(current_state)
    return settings


def current_state() -> LoggingState | None:
    """The active configuration, or ``None`` before the first ``configure_logging``."""
    return _state


def _ensure_configured() -> None:
    if _state is None:
        configure_logging()


def get_logger(name: str | None = None, **initial: Any) -> Any:
    """Return a structlog logger, configuring logging with the defaults if nobody has.

    ``name`` defaults to the calling module's ``__name__``; ``initial`` values
    are bound to every event of this logger.

    >>> log = get_logger(component="billing")  # doctest: +SKIP
    >>> log.info("invoice sent", invoice_id=42)  # doctest: +SKIP
    """
    _ensure_configured()
    if name is None:
        name = sys._getframe(1).f_globals.get("__name__")  # noqa: SLF001 - caller's module name
    logger = structlog.get_logger(name)
    return logger.bind(**initial) if initial else logger


@contextlib.contextmanager
def log_context(**values: Any) -> Iterator[None]:
    """Bind ``values`` to every event logged inside the block, in this task or thread.

    Bindings live in context variables: they follow ``await``, ``asyncio``
    tasks created inside the block and ``asyncio.to_thread``; use
    :func:`with_log_context` for plain thread pools.

    >>> with log_context(request_id="r-1"):  # doctest: +SKIP
    ...     log.info("handled")
    """
    with bound_contextvars(**values):
        yield


def with_log_context(function: Callable[P, R]) -> Callable[P, R]:
    """Wrap ``function`` so that it runs with the log context of the caller, in any thread.

    >>> executor.submit(with_log_context(handle), job)  # doctest: +SKIP
    """
    context = contextvars.copy_context()

    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return context.copy().run(function, *args, **kwargs)

    return run


def flush_logs() -> None:
    """Write every queued line now (buffered mode); call before ``os._exit`` or a fork."""
    if _state is not None:
        _state.sink.flush()


def reset_logging() -> None:
    """Undo ``configure_logging``: close its output and forget the configuration.

    structlog's defaults come back and the ``logging`` handler is removed; the
    next ``get_logger`` configures the defaults again. Meant for tests.
    """
    global _state
    with _lock:
        state, _state = _state, None
    if state is not None:
        state.sink.close()
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, StdlibBridge):
            root.removeHandler(handler)
