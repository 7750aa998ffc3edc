"""The last structlog processor: complete an event and render it to one line.

This module uses only the standard library, structlog and orjson, because
``eject`` copies its source into the generated standalone configuration.
"""

from __future__ import annotations

import decimal
import enum
import json
import sys
import time
from collections.abc import Mapping
from typing import Any, Literal, cast

import orjson
import structlog
from structlog.processors import ExceptionRenderer, StackInfoRenderer
from structlog.tracebacks import ExceptionDictTransformer

from ._redact import Redactor

__all__ = ["LEVEL_NAMES", "EventRenderer"]

LEVEL_NAMES = ("debug", "info", "warning", "error", "critical")
_ORJSON_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS
_RESERVED = ("timestamp", "level", "logger")


def _json_default(value: Any) -> Any:
    """Serialise what orjson does not know: exact decimals as strings, the rest by repr."""
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    return repr(value)


def _stdlib_json_default(value: Any) -> Any:
    result = _json_default(value)
    return result if isinstance(result, str | int | float | list) else repr(result)


class _UtcClock:
    """ISO-8601 UTC timestamps with milliseconds, formatted once per millisecond."""

    __slots__ = ("_cached",)

    def __init__(self) -> None:
        self._cached = (-1, "")

    def __call__(self) -> str:
        millis = time.time_ns() // 1_000_000
        cached_millis, text = self._cached
        if millis != cached_millis:
            seconds, fraction = divmod(millis, 1000)
            text = "%s.%03dZ" % (  # noqa: UP031 - the fastest formatting here
                time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)),
                fraction,
            )
            self._cached = (millis, text)
        return text


def _local_clock() -> str:
    now = time.time()
    return time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"


class EventRenderer:
    """Complete an event (level, time, logger, service, trace ids), redact it, render it.

    ``fmt="json"`` gives one orjson line (bytes, newline included) per event;
    ``fmt="console"`` gives structlog's coloured console line. While the
    class attribute ``capture`` is a list, every completed event dictionary of
    every renderer is appended to it (loggers cached under an earlier
    configuration included).
    """

    capture: list[dict[str, Any]] | None = None

    def __init__(
        self,
        *,
        fmt: Literal["json", "console"] = "json",
        static_fields: Mapping[str, Any] | None = None,
        redactor: Redactor | None = None,
        colors: bool = False,
    ) -> None:
        self.fmt = fmt
        self.static_fields = dict(static_fields or {})
        self.redactor = redactor
        self.counts = dict.fromkeys(LEVEL_NAMES, 0)
        self._clock = _UtcClock() if fmt == "json" else _local_clock
        self._stack = StackInfoRenderer()
        if fmt == "json":
            self._exceptions: Any = ExceptionRenderer(ExceptionDictTransformer(show_locals=False))
            self._console: Any = None
        else:
            self._exceptions = None
            self._console = structlog.dev.ConsoleRenderer(colors=colors)

    def __call__(  # noqa: PLR0912 - the hot path stays in one frame on purpose
        self, logger: Any, method_name: str, event_dict: dict[str, Any]
    ) -> bytes:
        """Process one event; structlog calls this as the final processor."""
        if "exc_info" in event_dict and self._exceptions is not None:
            event_dict = self._exceptions(logger, method_name, event_dict)
        if "stack_info" in event_dict:
            event_dict = cast("dict[str, Any]", self._stack(logger, method_name, event_dict))
        redactor = self.redactor
        if redactor is not None:
            redactor.redact_fields(event_dict)
        counts = self.counts
        if method_name not in counts:
            method_name = "info"
        counts[method_name] += 1  # approximate under heavy thread contention; fine for metrics
        event_dict["level"] = method_name
        event_dict["timestamp"] = self._clock()
        name = getattr(logger, "name", None)
        if name is not None:
            event_dict.setdefault("logger", name)
        if self.static_fields:
            for key, value in self.static_fields.items():
                event_dict.setdefault(key, value)
        otel_trace = sys.modules.get("opentelemetry.trace")
        if otel_trace is not None:
            self._add_trace_ids(otel_trace, event_dict)
        if self._console is not None:
            if redactor is not None:
                redactor.scrub(event_dict)
            if self.capture is not None:
                self.capture.append(dict(event_dict))
            text: str = self._console(logger, method_name, event_dict)
            return (text + "\n").encode("utf-8", "replace")
        line = self.render_json(event_dict)
        if redactor is not None and redactor.needs_scrub(line):
            line = self.render_json(redactor.scrub(event_dict))
        if self.capture is not None:
            self.capture.append(dict(redactor.scrub(event_dict) if redactor else event_dict))
        return line

    @staticmethod
    def _add_trace_ids(otel_trace: Any, event_dict: dict[str, Any]) -> None:
        span = otel_trace.get_current_span()
        if span.is_recording():
            context = span.get_span_context()
            event_dict["trace_id"] = format(context.trace_id, "032x")
            event_dict["span_id"] = format(context.span_id, "016x")

    @staticmethod
    def render_json(event_dict: dict[str, Any]) -> bytes:
        """One JSON line; never raises, whatever the values are."""
        try:
            return orjson.dumps(event_dict, default=_json_default, option=_ORJSON_OPTIONS)
        except (TypeError, ValueError):
            pass
        try:
            text = json.dumps(event_dict, default=_stdlib_json_default)
        except (TypeError, ValueError, RecursionError) as exc:
            fallback = {
                key: event_dict.get(key) for key in ("timestamp", "level", "logger", "event")
            }
            fallback["event"] = str(fallback["event"])
            fallback["render_error"] = f"{type(exc).__name__}: {exc}"
            text = json.dumps(fallback, default=repr)
        return (text + "\n").encode("ascii")
