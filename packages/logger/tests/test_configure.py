from __future__ import annotations

import io
import logging
from collections.abc import Callable
from typing import Any

import pytest
from djed.logger import (
    LoggingConfigError,
    configure_logging,
    current_state,
    get_logger,
)

from .conftest import Output


class TTYOutput(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


class TestZeroConfiguration:
    def test_json_when_not_a_terminal(self, output: Output) -> None:
        """Without options, a non-terminal stream gets one JSON object per line."""
        configure_logging(stream=output, metrics=False)
        get_logger("billing").info("invoice sent", invoice_id=42)
        (event,) = output.events()
        assert event["event"] == "invoice sent"
        assert event["invoice_id"] == 42
        assert event["level"] == "info"
        assert event["logger"] == "billing"
        assert event["timestamp"].endswith("Z")
        assert event["timestamp"][10] == "T"

    def test_console_on_a_terminal(self) -> None:
        """A terminal gets readable console lines, not JSON."""
        stream = TTYOutput()
        settings = configure_logging(stream=stream, metrics=False, colors=False)
        assert settings.format == "console"
        get_logger("billing").info("invoice sent", invoice_id=42)
        text = stream.getvalue()
        assert "invoice sent" in text
        assert "invoice_id=42" in text
        assert not text.lstrip().startswith("{")

    def test_get_logger_configures_on_first_use(self, capsys: pytest.CaptureFixture[str]) -> None:
        """get_logger() alone configures the defaults; the logger name is the caller's module."""
        assert current_state() is None
        log = get_logger()
        assert current_state() is not None
        log.info("hello")
        state = current_state()
        assert state is not None
        state.sink.flush()
        assert '"logger":"' + __name__ + '"' in capsys.readouterr().out

    def test_initial_values_are_bound(self, json_logging: Callable[..., Output]) -> None:
        """Keyword arguments of get_logger are bound to every event of that logger."""
        output = json_logging()
        get_logger("x", component="payments").info("charged")
        assert output.events()[0]["component"] == "payments"


class TestLevels:
    def test_level_argument_filters(self, json_logging: Callable[..., Output]) -> None:
        """Events below the configured level are dropped."""
        output = json_logging(level="warning")
        log = get_logger("x")
        log.info("quiet")
        log.warning("loud")
        assert [e["event"] for e in output.events()] == ["loud"]

    def test_level_from_environment(
        self, json_logging: Callable[..., Output], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """DJED_LOGGER_LEVEL sets the level when no argument is given."""
        monkeypatch.setenv("DJED_LOGGER_LEVEL", "DEBUG")
        output = json_logging()
        get_logger("x").debug("details")
        assert output.events()[0]["level"] == "debug"

    def test_argument_beats_environment(
        self, json_logging: Callable[..., Output], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An explicit argument overrides the environment variable."""
        monkeypatch.setenv("DJED_LOGGER_LEVEL", "debug")
        output = json_logging(level="error")
        get_logger("x").warning("not shown")
        assert output.events() == []

    @pytest.mark.parametrize("level", ["verbose", "", 15, True])
    def test_invalid_level_names_the_valid_ones(self, level: Any) -> None:
        """An invalid level is a LoggingConfigError listing the valid names."""
        with pytest.raises(LoggingConfigError, match="debug, info, warning, error, critical"):
            configure_logging(level, stream=io.BytesIO())

    def test_invalid_environment_level_names_the_variable(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The error says the bad value came from DJED_LOGGER_LEVEL."""
        monkeypatch.setenv("DJED_LOGGER_LEVEL", "loud")
        with pytest.raises(LoggingConfigError, match=r"'loud' \(from DJED_LOGGER_LEVEL\)"):
            configure_logging(stream=io.BytesIO())

    def test_config_error_is_a_value_error(self) -> None:
        """LoggingConfigError subclasses ValueError."""
        assert issubclass(LoggingConfigError, ValueError)


class TestEnvironment:
    @pytest.mark.parametrize(
        ("variable", "value", "message"),
        [
            ("DJED_LOGGER_FORMAT", "xml", "use one of auto, json, console"),
            ("DJED_LOGGER_REDACT", "maybe", "DJED_LOGGER_REDACT: use true or false"),
            ("DJED_LOGGER_BUFFERED", "2", "DJED_LOGGER_BUFFERED"),
            ("DJED_LOGGER_FLUSH_INTERVAL", "soon", "flush interval 'soon'"),
            ("DJED_LOGGER_STREAM", "stdlog", "use one of stdout, stderr"),
        ],
    )
    def test_bad_values_are_named(
        self, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
    ) -> None:
        """Each bad environment value gives an error naming the setting."""
        monkeypatch.setenv(variable, value)
        with pytest.raises(LoggingConfigError, match=message):
            configure_logging()

    def test_format_and_service(self, monkeypatch: pytest.MonkeyPatch, output: Output) -> None:
        """DJED_LOGGER_FORMAT and DJED_LOGGER_SERVICE are honoured."""
        monkeypatch.setenv("DJED_LOGGER_FORMAT", "json")
        monkeypatch.setenv("DJED_LOGGER_SERVICE", "crm")
        configure_logging(stream=output, metrics=False)
        get_logger("x").info("up")
        assert output.events()[0]["service"] == "crm"

    def test_service_falls_back_to_otel_service_name(
        self, monkeypatch: pytest.MonkeyPatch, json_logging: Callable[..., Output]
    ) -> None:
        """OTEL_SERVICE_NAME names the service when nothing else does."""
        monkeypatch.setenv("OTEL_SERVICE_NAME", "pos-api")
        output = json_logging()
        get_logger("x").info("up")
        assert output.events()[0]["service"] == "pos-api"

    def test_file_from_environment(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
        """DJED_LOGGER_FILE sends JSON lines to that file, buffered by default."""
        path = tmp_path / "app.log"
        monkeypatch.setenv("DJED_LOGGER_FILE", str(path))
        settings = configure_logging(metrics=False)
        assert settings.buffered
        assert settings.format == "json"
        get_logger("x").info("to file")
        state = current_state()
        assert state is not None
        state.sink.flush()
        assert b'"event":"to file"' in path.read_bytes()

    def test_stream_stderr(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """DJED_LOGGER_STREAM=stderr writes to standard error."""
        monkeypatch.setenv("DJED_LOGGER_STREAM", "stderr")
        configure_logging(metrics=False, format="json")
        get_logger("x").info("on stderr")
        captured = capsys.readouterr()
        assert "on stderr" in captured.err
        assert "on stderr" not in captured.out


class TestFields:
    def test_constant_fields(self, json_logging: Callable[..., Output]) -> None:
        """fields= adds constant fields; an event's own value wins."""
        output = json_logging(fields={"region": "eu-1", "env": "prod"}, service="crm")
        log = get_logger("x")
        log.info("a")
        log.info("b", env="staging")
        first, second = output.events()
        assert (first["region"], first["env"], first["service"]) == ("eu-1", "prod", "crm")
        assert second["env"] == "staging"

    def test_values_orjson_does_not_know(self, json_logging: Callable[..., Output]) -> None:
        """Decimals stay exact, sets become lists, odd objects use their repr; nothing raises."""
        import decimal

        class Odd:
            def __repr__(self) -> str:
                return "<Odd>"

        output = json_logging()
        get_logger("x").info(
            "values", total=decimal.Decimal("12.30"), tags={"a"}, odd=Odd(), big=2**70, raw=b"\xff"
        )
        (event,) = output.events()
        assert event["total"] == "12.30"
        assert event["tags"] == ["a"]
        assert event["odd"] == "<Odd>"
        assert event["big"] == 2**70
        assert event["raw"] == "\ufffd"

    def test_unrenderable_event_still_logs(self, json_logging: Callable[..., Output]) -> None:
        """A value that cannot be serialised at all yields a line with a render_error."""
        output = json_logging()
        loop: dict[str, Any] = {}
        loop["self"] = loop
        get_logger("x").info("circular", data=loop)
        (event,) = output.events()
        assert event["event"] == "circular"
        assert "render_error" in event


class TestReconfiguration:
    def test_reconfigure_replaces_output(self, output: Output) -> None:
        """A second configure_logging sends new loggers to the new output."""
        configure_logging(stream=io.BytesIO(), metrics=False, format="json")
        configure_logging(stream=output, metrics=False, format="json")
        get_logger("x").info("second")
        assert output.events()[0]["event"] == "second"

    def test_returns_resolved_settings(self, output: Output) -> None:
        """configure_logging returns the settings it resolved."""
        settings = configure_logging("warning", stream=output, metrics=False)
        assert settings.level == logging.WARNING
        assert settings.level_name == "warning"
        assert settings.format == "json"
        assert settings.redact
        assert not settings.buffered
