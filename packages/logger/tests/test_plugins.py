"""structlog processors from the ``djed.logger.processors`` entry points of an installed plugin."""

from __future__ import annotations

import importlib.util
import io
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import structlog
from djed.logger import (
    REDACTED,
    LoggingConfigError,
    PluginError,
    _plugins,
    configure_logging,
    current_state,
    eject_source,
    get_logger,
    processor_plugins,
)
from djed.logger.__main__ import main

from ._djed_plugin_kit import MODULE, example_plugin
from .conftest import Output

ENV = "DJED_LOGGER_PLUGINS"


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[Path]:
    """The example plugin installed, and the entry points read afresh."""
    with example_plugin(tmp_path / "site") as folder:
        _plugins._processors.forget()
        yield folder
    _plugins._processors.forget()


def test_installed_processors_stay_off_until_enabled(
    plugin: Path, json_logging: Callable[..., Output]
) -> None:
    output = json_logging()
    get_logger("app").info("hello")
    (event,) = output.events()
    assert "plugin" not in event
    assert MODULE not in sys.modules


def test_an_enabled_processor_runs_before_redaction(
    plugin: Path, json_logging: Callable[..., Output]
) -> None:
    output = json_logging(plugins=["stamp"])
    get_logger("app").info("hello")
    logging.getLogger("lib").warning("from logging")
    events = output.events()
    assert [e["event"] for e in events] == ["hello", "from logging"]
    for event in events:
        assert event["plugin"] == "example"
        assert event["api_token"] == REDACTED  # the processor's secret is redacted after it
    assert b"plugin-secret-value" not in output.getvalue()


def test_the_variable_enables_processors(
    plugin: Path, monkeypatch: pytest.MonkeyPatch, output: Output
) -> None:
    monkeypatch.setenv(ENV, "drop-noise, stamp")
    settings = configure_logging(format="json", stream=output, metrics=False)
    assert settings.plugins == ("drop-noise", "stamp")
    log = get_logger("app")
    log.info("noise")
    log.info("signal")
    logging.getLogger("lib").info("noise")
    logging.getLogger("lib").info("signal")
    events = output.events()
    assert [e["event"] for e in events] == ["signal", "signal"]
    assert all(e["plugin"] == "example" for e in events)


def test_a_failing_processor_never_breaks_a_log_call(
    plugin: Path, json_logging: Callable[..., Output], capsys: pytest.CaptureFixture[str]
) -> None:
    output = json_logging(plugins=["explode", "stamp"])
    log = get_logger("app")
    log.info("first")
    log.info("second")
    logging.getLogger("lib").info("third")
    events = output.events()
    assert [e["event"] for e in events] == ["first", "second", "third"]
    assert all(e["plugin"] == "example" for e in events)  # the next processor still ran
    notices = [line for line in capsys.readouterr().err.splitlines() if "explode" in line]
    assert notices == [
        (
            "djed.logger: processor plugin 'explode' failed (RuntimeError: the example processor"
            " fails on every event); events go on without its changes, and its further failures"
            " are counted in silence"
        )
    ]
    explode = next(p for p in structlog.get_config()["processors"] if "explode" in repr(p))
    assert explode.failures == 3  # one guard for structlog events and logging records


def test_a_processor_must_return_the_event_dict(
    plugin: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (guarded,) = processor_plugins("stamp")
    guarded.processor = lambda logger, method, event: "rendered"
    event = {"event": "x"}
    assert guarded(None, "info", event) is event
    assert "it returned str, not the event dict" in capsys.readouterr().err


def test_a_processor_asked_for_by_name_fails_loudly(
    plugin: Path, json_logging: Callable[..., Output], output: Output
) -> None:
    json_logging()
    before = current_state()
    with pytest.raises(PluginError) as caught:
        configure_logging(stream=io.BytesIO(), plugins=["stamp", "broken"], metrics=False)
    assert isinstance(caught.value, LoggingConfigError)
    assert str(caught.value) == (
        "djed.logger.processors plugin 'broken' (djed_example_plugin.broken:processor, from"
        " djed-example-plugin 1.0) failed to load: ImportError: the example plugin's broken"
        " module cannot be imported (on purpose)"
    )
    assert current_state() is before  # the configuration in place stays
    get_logger("app").info("still logging")
    assert output.events()[-1]["event"] == "still logging"
    with pytest.raises(PluginError, match=r"no djed.logger.processors plugin named 'nope'"):
        processor_plugins("nope")


def test_every_plugin_that_loads(plugin: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="djed.logger"):
        names = [p.name for p in processor_plugins()]
    assert names == ["drop-noise", "explode", "stamp"]
    (warning,) = caplog.records
    assert "'broken'" in warning.getMessage()
    assert warning.getMessage().endswith("; left out")


def test_plugins_must_be_a_list(plugin: Path) -> None:
    with pytest.raises(LoggingConfigError, match="plugins must be a list of plugin names"):
        configure_logging(plugins="stamp", stream=io.BytesIO(), metrics=False)


class TestEject:
    def test_the_ejected_module_imports_the_processors(self, plugin: Path) -> None:
        settings = configure_logging(
            format="json", file=plugin / "djed.log", plugins=["stamp"], metrics=False
        )
        ejected_log = plugin / "ejected.log"
        source = eject_source(settings.__class__(**{**_fields(settings), "file": str(ejected_log)}))
        assert f"from {MODULE}.processors import stamp as _processor_plugin_0" in source
        assert "processors=[_processor_plugin_0]" in source
        path = plugin / "logging_setup.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("ejected_with_plugins", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sink = module.configure_logging()
        structlog.get_logger("app").info("ejected")
        logging.getLogger("lib").info("bridged")
        sink.flush()
        events = [orjson.loads(line) for line in ejected_log.read_bytes().splitlines()]
        assert [(e["event"], e["plugin"]) for e in events] == [
            ("ejected", "example"),
            ("bridged", "example"),
        ]

    def test_the_command_line_takes_plugins(
        self, plugin: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["eject", "--format", "json", "--plugin", "stamp"]) == 0
        assert "processors=[_processor_plugin_0]" in capsys.readouterr().out
        assert main(["eject", "--plugin", "broken"]) == 2
        assert "ImportError" in capsys.readouterr().err


def _fields(settings: Any) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}
