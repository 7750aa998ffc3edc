"""Resolve logging settings from arguments, environment variables and defaults."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from ._redact import DEFAULT_REDACT_KEYS

__all__ = ["LoggingConfigError", "LoggingSettings", "resolve_settings"]

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
_VALID_LEVELS = "debug, info, warning, error, critical"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})

Format = Literal["auto", "json", "console"]


class LoggingConfigError(ValueError):
    """A logging setting has a value that cannot be used; the message names it and its source."""


@dataclasses.dataclass(frozen=True, slots=True)
class LoggingSettings:
    """The resolved configuration; ``configure_logging`` returns it."""

    level: int
    format: Literal["json", "console"]
    service: str | None
    file: str | None
    stream: Literal["stdout", "stderr"] | None
    buffered: bool
    flush_interval: float
    redact: bool
    redact_keys: tuple[str, ...]
    mask_emails: bool
    stdlib: bool
    colors: bool
    static_fields: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    plugins: tuple[str, ...] = ()
    """Names of the ``djed.logger.processors`` plugins to run (``*``: every one installed)."""

    @property
    def level_name(self) -> str:
        """The level as a lower-case name (``"info"``)."""
        return logging.getLevelName(self.level).lower()


def _env(name: str) -> str | None:
    value = os.environ.get(f"DJED_LOGGER_{name}")
    return value.strip() if value is not None and value.strip() else None


def parse_level(value: int | str, source: str = "level") -> int:
    """Turn a level name or number into a ``logging`` level number."""
    if isinstance(value, bool):
        msg = f"Invalid log level {value!r} (from {source}): use one of {_VALID_LEVELS}."
        raise LoggingConfigError(msg)
    if isinstance(value, int):
        if value in _LEVELS.values():
            return value
        msg = (
            f"Invalid log level {value} (from {source}): "
            f"use 10, 20, 30, 40, 50 or one of {_VALID_LEVELS}."
        )
        raise LoggingConfigError(msg)
    level = _LEVELS.get(str(value).strip().lower())
    if level is None:
        msg = f"Invalid log level {value!r} (from {source}): use one of {_VALID_LEVELS}."
        raise LoggingConfigError(msg)
    return level


def _flag(argument: bool | None, env_name: str, *, default: bool) -> bool:
    if argument is not None:
        return argument
    raw = _env(env_name)
    if raw is None:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    msg = (
        f"Invalid value {raw!r} for DJED_LOGGER_{env_name}: "
        "use true or false (1/0, yes/no, on/off)."
    )
    raise LoggingConfigError(msg)


def _choice(argument: str | None, env_name: str, choices: tuple[str, ...], default: str) -> str:
    source = "argument" if argument is not None else f"DJED_LOGGER_{env_name}"
    raw = argument if argument is not None else _env(env_name)
    if raw is None:
        return default
    if raw.lower() not in choices:
        msg = (
            f"Invalid {env_name.lower()} {raw!r} (from {source}): use one of {', '.join(choices)}."
        )
        raise LoggingConfigError(msg)
    return raw.lower()


def _redact_keys(argument: Iterable[str] | None) -> tuple[str, ...]:
    if argument is not None:
        if isinstance(argument, str):
            msg = "redact_keys must be a list of field names, not one string."
            raise LoggingConfigError(msg)
        return tuple(argument)
    raw = _env("REDACT_KEYS")
    if raw is None:
        return DEFAULT_REDACT_KEYS
    extend = raw.startswith("+")
    names = tuple(name.strip() for name in raw.lstrip("+").split(",") if name.strip())
    return DEFAULT_REDACT_KEYS + names if extend else names


def _plugins(argument: Iterable[str] | None) -> tuple[str, ...]:
    if argument is None:
        raw = _env("PLUGINS")
        return tuple(n.strip() for n in raw.split(",") if n.strip()) if raw is not None else ()
    if isinstance(argument, str):
        msg = "plugins must be a list of plugin names, not one string."
        raise LoggingConfigError(msg)
    return tuple(argument)


def _flush_interval(argument: float | None) -> float:
    raw: float | str | None = argument if argument is not None else _env("FLUSH_INTERVAL")
    if raw is None:
        return 0.2
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.001 <= value <= 60:
        msg = f"Invalid flush interval {raw!r}: use a number of seconds between 0.001 and 60."
        raise LoggingConfigError(msg)
    return value


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _colors(argument: bool | None, terminal: bool) -> bool:
    if argument is not None:
        return argument
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return _flag(None, "COLORS", default=terminal)


def resolve_settings(
    *,
    level: int | str | None,
    fmt: str | None,
    service: str | None,
    file: str | os.PathLike[str] | None,
    stream: Any,
    buffered: bool | None,
    flush_interval: float | None,
    redact: bool | None,
    redact_keys: Iterable[str] | None,
    mask_emails: bool | None,
    stdlib: bool | None,
    colors: bool | None,
    static_fields: Mapping[str, Any] | None,
    plugins: Iterable[str] | None = None,
) -> tuple[LoggingSettings, Any]:
    """Combine arguments, ``DJED_LOGGER_*`` variables and defaults; returns settings and stream."""
    if level is not None:
        level_number = parse_level(level, "argument")
    else:
        env_level = _env("LEVEL")
        level_number = parse_level(env_level, "DJED_LOGGER_LEVEL") if env_level else logging.INFO
    path = os.fspath(file) if file is not None else _env("FILE")
    stream_name: Literal["stdout", "stderr"] | None = None
    if path is None and stream is None:
        stream_name = (
            "stderr"
            if _choice(None, "STREAM", ("stdout", "stderr"), "stdout") == "stderr"
            else "stdout"
        )
        import sys  # noqa: PLC0415 - read at call time so redirected streams are honoured

        stream = sys.stderr if stream_name == "stderr" else sys.stdout
    terminal = path is None and _is_terminal(stream)
    chosen = _choice(fmt, "FORMAT", ("auto", "json", "console"), "auto")
    resolved_format: Literal["json", "console"] = (
        ("console" if terminal else "json") if chosen == "auto" else chosen  # type: ignore[assignment]
    )
    settings = LoggingSettings(
        level=level_number,
        format=resolved_format,
        service=service or _env("SERVICE") or os.environ.get("OTEL_SERVICE_NAME") or None,
        file=path,
        stream=stream_name,
        buffered=_flag(buffered, "BUFFERED", default=path is not None),
        flush_interval=_flush_interval(flush_interval),
        redact=_flag(redact, "REDACT", default=True),
        redact_keys=_redact_keys(redact_keys),
        mask_emails=_flag(mask_emails, "MASK_EMAILS", default=False),
        stdlib=_flag(stdlib, "STDLIB", default=True),
        colors=_colors(colors, terminal),
        static_fields=dict(static_fields or {}),
        plugins=_plugins(plugins),
    )
    return settings, stream
