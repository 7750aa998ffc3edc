"""Wire a renderer and a sink into structlog and the standard logging module.

This module uses only the standard library and structlog, because ``eject``
copies its source into the generated standalone configuration.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import structlog
from structlog import DropEvent
from structlog.contextvars import merge_contextvars

from ._render import EventRenderer
from ._sink import LogSink

__all__ = ["TAKEN_OVER_LOGGERS", "SinkLogger", "SinkLoggerFactory", "StdlibBridge", "install"]

#: Loggers that servers configure with handlers of their own; their records are
#: sent to the root logger instead so that each line comes out once, in our format.
TAKEN_OVER_LOGGERS = (
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "gunicorn.error",
    "gunicorn.access",
)

# A record's own attributes, and ``color_message``: the ANSI-coloured copy of the
# message uvicorn adds as an extra, noise once the line is rendered by Djed.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()
    | {"message", "asctime", "taskName", "color_message"}
)


class SinkLogger:
    """The object structlog hands rendered lines to; warnings and above are urgent."""

    __slots__ = ("_sink", "name")

    def __init__(self, sink: LogSink, name: str | None = None) -> None:
        self._sink = sink
        self.name = name

    def msg(self, line: bytes) -> None:
        """Write a routine line (it may wait in the buffer)."""
        self._sink.write(line)

    def urgent(self, line: bytes) -> None:
        """Write a line at once, with everything queued before it."""
        self._sink.write(line, urgent=True)

    debug = info = log = msg
    warning = warn = error = critical = exception = fatal = urgent


class SinkLoggerFactory:
    """structlog ``logger_factory`` creating :class:`SinkLogger` objects on one sink."""

    __slots__ = ("sink",)

    def __init__(self, sink: LogSink) -> None:
        self.sink = sink

    def __call__(self, *args: Any) -> SinkLogger:
        """Create a logger; the first positional argument is its name."""
        return SinkLogger(self.sink, args[0] if args and isinstance(args[0], str) else None)


def _level_name(levelno: int) -> str:
    if levelno >= logging.CRITICAL:
        return "critical"
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warning"
    if levelno >= logging.INFO:
        return "info"
    return "debug"


class StdlibBridge(logging.Handler):
    """A ``logging`` handler that renders records exactly like structlog events.

    ``processors`` run on each record's event dictionary before the renderer, as
    they do in the structlog chain.
    """

    def __init__(
        self,
        renderer: EventRenderer,
        sink: LogSink,
        level: int = logging.NOTSET,
        processors: Sequence[Callable[..., Any]] = (),
    ):
        super().__init__(level)
        self.renderer = renderer
        self.sink = sink
        self.processors = tuple(processors)

    def emit(self, record: logging.LogRecord) -> None:
        """Render one record and write it; never raises."""
        try:
            event_dict: dict[str, Any] = {
                key: value
                for key, value in record.__dict__.items()
                if key not in _RECORD_ATTRIBUTES and not key.startswith("_")
            }
            event_dict["event"] = record.getMessage()
            if record.exc_info:
                event_dict["exc_info"] = record.exc_info
            if record.stack_info:
                event_dict["stack"] = record.stack_info
            merge_contextvars(None, "", event_dict)
            logger, method_name = SinkLogger(self.sink, record.name), _level_name(record.levelno)
            for processor in self.processors:
                event_dict = processor(logger, method_name, event_dict)
            line = self.renderer(logger, method_name, event_dict)
        except DropEvent:
            return
        except Exception:  # noqa: BLE001 - a log call must never break the caller
            self.sink.dropped += 1
            return
        self.sink.write(line, urgent=record.levelno >= logging.WARNING)


def install(
    renderer: EventRenderer,
    sink: LogSink,
    level: int,
    *,
    stdlib: bool = True,
    take_over: Iterable[str] = TAKEN_OVER_LOGGERS,
    processors: Sequence[Callable[..., Any]] = (),
) -> None:
    """Configure structlog, and the root ``logging`` logger when ``stdlib`` is true.

    ``processors`` run between the context merge and the renderer.
    """
    structlog.configure(
        processors=[merge_contextvars, *processors, renderer],  # type: ignore[list-item] # bytes
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=SinkLoggerFactory(sink),
        context_class=dict,
        cache_logger_on_first_use=True,
    )
    if not stdlib:
        return
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(StdlibBridge(renderer, sink, processors=processors))
    root.setLevel(level)
    for name in take_over:
        taken = logging.getLogger(name)
        for handler in list(taken.handlers):
            taken.removeHandler(handler)
        taken.propagate = True
