"""Zero-configuration structured logging on structlog and orjson.

>>> from djed.logger import configure_logging, get_logger, log_context
>>> configure_logging(service="billing")  # doctest: +SKIP
>>> log = get_logger()  # doctest: +SKIP
>>> with log_context(request_id="r-1"):  # doctest: +SKIP
...     log.info("invoice sent", invoice_id=42)
"""

from __future__ import annotations

from ._config import (
    LoggingState,
    configure_logging,
    current_state,
    flush_logs,
    get_logger,
    log_context,
    with_log_context,
)
from ._eject import eject_source
from ._plugins import PluginError, processor_plugins
from ._redact import DEFAULT_REDACT_KEYS, REDACTED
from ._settings import LoggingConfigError, LoggingSettings

__all__ = [
    "DEFAULT_REDACT_KEYS",
    "REDACTED",
    "LoggingConfigError",
    "LoggingSettings",
    "LoggingState",
    "PluginError",
    "configure_logging",
    "current_state",
    "eject_source",
    "flush_logs",
    "get_logger",
    "log_context",
    "processor_plugins",
    "with_log_context",
]


def __getattr__(name: str) -> str:
    if name == "__version__":
        from importlib.metadata import version  # noqa: PLC0415 - only when asked

        return version("djed-logger")
    msg = f"module 'djed.logger' has no attribute {name!r}"
    raise AttributeError(msg)
