from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from djed.logger import REDACTED, configure_logging, get_logger, log_context
from djed.logger._install import StdlibBridge

from .conftest import Output


def bridges() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if isinstance(h, StdlibBridge)]


class TestStdlibBridge:
    def test_records_use_the_same_format(self, json_logging: Callable[..., Output]) -> None:
        """A logging record comes out as the same JSON shape as a structlog event."""
        output = json_logging(service="crm")
        logging.getLogger("httpx").info("HTTP Request: %s %s", "GET", "/health")
        (event,) = output.events()
        assert event["event"] == "HTTP Request: GET /health"
        assert event["logger"] == "httpx"
        assert event["level"] == "info"
        assert event["service"] == "crm"

    def test_extra_fields_context_and_redaction(self, json_logging: Callable[..., Output]) -> None:
        """extra= fields, bound context and redaction apply to stdlib records."""
        output = json_logging()
        with log_context(request_id="r-9"):
            logging.getLogger("lib").warning("auth", extra={"token": "abc", "user": "ada"})
        (event,) = output.events()
        assert event["token"] == REDACTED
        assert event["user"] == "ada"
        assert event["request_id"] == "r-9"
        assert event["level"] == "warning"

    def test_uvicorn_color_message_is_dropped(self, json_logging: Callable[..., Output]) -> None:
        """uvicorn's ANSI-coloured duplicate of the message does not reach the rendered line."""
        output = json_logging()
        logging.getLogger("uvicorn.error").info(
            "Started server process [%d]",
            42,
            extra={"color_message": "Started server process [\x1b[36m%d\x1b[0m]"},
        )
        (event,) = output.events()
        assert event["event"] == "Started server process [42]"
        assert "color_message" not in event

    def test_level_applies_to_stdlib(self, json_logging: Callable[..., Output]) -> None:
        """Records below the configured level are dropped."""
        output = json_logging(level="warning")
        logging.getLogger("lib").info("quiet")
        logging.getLogger("lib").error("loud")
        assert [e["event"] for e in output.events()] == ["loud"]

    def test_basic_config_before_is_replaced(self, output: Output) -> None:
        """A handler installed by a library's basicConfig is removed: each record comes out once."""
        logging.basicConfig(level=logging.INFO)
        configure_logging(stream=output, format="json", metrics=False)
        logging.getLogger("mcp").info("once")
        assert len(logging.getLogger().handlers) == 1
        assert [e["event"] for e in output.events()] == ["once"]

    def test_basic_config_after_is_a_no_op(self, json_logging: Callable[..., Output]) -> None:
        """basicConfig called after configure_logging adds nothing."""
        output = json_logging()
        logging.basicConfig(level=logging.DEBUG)
        logging.getLogger("mcp").info("once")
        assert len(logging.getLogger().handlers) == 1
        assert len(output.events()) == 1

    def test_configuring_twice_keeps_one_handler(self, output: Output) -> None:
        """Reconfiguration never stacks handlers."""
        configure_logging(stream=output, format="json", metrics=False)
        configure_logging(stream=output, format="json", metrics=False)
        assert len(bridges()) == 1
        assert len(logging.getLogger().handlers) == 1

    def test_server_loggers_are_taken_over(self, output: Output) -> None:
        """uvicorn's own handlers are removed and its records flow through ours once."""
        access = logging.getLogger("uvicorn.access")
        access.addHandler(logging.StreamHandler())
        access.propagate = False
        configure_logging(stream=output, format="json", metrics=False)
        access.info('127.0.0.1 - "GET / HTTP/1.1" 200')
        assert access.handlers == []
        assert access.propagate
        assert len(output.events()) == 1

    def test_exceptions_from_logging(self, json_logging: Callable[..., Output]) -> None:
        """logger.exception gives the same structured exception as structlog."""
        output = json_logging()
        try:
            int("x")
        except ValueError:
            logging.getLogger("lib").exception("parse failed")
        (event,) = output.events()
        assert event["level"] == "error"
        assert event["exception"][0]["exc_type"] == "ValueError"

    def test_stdlib_can_be_left_alone(self, output: Output) -> None:
        """stdlib=False leaves the root logger untouched."""
        before = list(logging.getLogger().handlers)
        configure_logging(stream=output, format="json", metrics=False, stdlib=False)
        assert logging.getLogger().handlers == before

    def test_djed_and_stdlib_lines_interleave_in_order(
        self, json_logging: Callable[..., Output]
    ) -> None:
        """structlog and logging events share one output, in call order."""
        output = json_logging()
        get_logger("app").info("one")
        logging.getLogger("lib").info("two")
        get_logger("app").info("three")
        assert [e["event"] for e in output.events()] == ["one", "two", "three"]


class TestExceptions:
    def test_json_exception_is_structured(self, json_logging: Callable[..., Output]) -> None:
        """An exception is rendered as data: type, value and frames, no locals."""
        output = json_logging()
        secret_local = "hunter2"
        try:
            {"a": secret_local}["b"]
        except KeyError:
            get_logger("x").exception("lookup failed")
        (event,) = output.events()
        (exc,) = event["exception"]
        assert exc["exc_type"] == "KeyError"
        assert exc["exc_value"] == "'b'"
        assert exc["frames"][-1]["name"] == "test_json_exception_is_structured"
        assert "hunter2" not in output.getvalue().decode()

    def test_secrets_in_exception_messages_are_redacted(
        self, json_logging: Callable[..., Output]
    ) -> None:
        """A bearer token inside an exception message is redacted."""
        output = json_logging()
        try:
            raise PermissionError("rejected Bearer abcdef123")
        except PermissionError:
            get_logger("x").exception("auth failed")
        assert "abcdef123" not in output.getvalue().decode()

    def test_console_traceback_is_readable(self) -> None:
        """On the console an exception prints as a traceback naming the error."""
        import io

        class Terminal(io.StringIO):
            def isatty(self) -> bool:
                return True

        stream = Terminal()
        configure_logging(stream=stream, metrics=False, colors=False)
        try:
            1 / 0  # noqa: B018
        except ZeroDivisionError:
            get_logger("x").exception("maths")
        text = stream.getvalue()
        assert "Traceback" in text
        assert "ZeroDivisionError" in text

    @pytest.mark.parametrize("method", ["warning", "error", "critical"])
    def test_level_names(self, json_logging: Callable[..., Output], method: str) -> None:
        """Each method logs under its own level name."""
        output = json_logging()
        getattr(get_logger("x"), method)("m")
        assert output.events()[0]["level"] == method
