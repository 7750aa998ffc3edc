from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
import structlog
from djed.logger import _config
from djed.logger.testing import reset_logging


class Output(io.BytesIO):
    """A binary stream that parses what was written as JSON lines."""

    def lines(self) -> list[bytes]:
        return self.getvalue().splitlines()

    def events(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.lines()]


@pytest.fixture(autouse=True)
def _isolated_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts unconfigured, with no DJED_LOGGER_* variables, and leaves no trace."""
    for name in list(__import__("os").environ):
        if name.startswith("DJED_LOGGER_") or name in {
            "NO_COLOR",
            "FORCE_COLOR",
            "OTEL_SERVICE_NAME",
        }:
            monkeypatch.delenv(name)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    structlog.contextvars.clear_contextvars()
    yield
    reset_logging()
    structlog.contextvars.clear_contextvars()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def output() -> Output:
    return Output()


@pytest.fixture
def json_logging(output: Output) -> Callable[..., Output]:
    """Configure JSON logging into ``output`` with the given extra options."""

    def configure(**options: Any) -> Output:
        options.setdefault("format", "json")
        _config.configure_logging(stream=output, metrics=False, **options)
        return output

    return configure
