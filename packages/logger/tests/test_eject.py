from __future__ import annotations

import importlib.util
import io
import logging
import pathlib
import subprocess
import sys
import types
from typing import Any

import orjson
import pytest
import structlog
from djed.logger import configure_logging, eject_source, flush_logs, get_logger, log_context


def load_module(path: pathlib.Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("ejected_logging", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def emit_sample_events(log: Any) -> None:
    """The same events, sent once through djed.logger and once through the ejected module."""
    with log_context(request_id="r-1"):
        log.info("invoice created", invoice_id=42, total="12.50")
        log.info("login", password="pw", header="Bearer abc.def")
        log.debug("below the level")
        logging.getLogger("uvicorn.access").info("GET /health 200")
        try:
            raise KeyError("missing")
        except KeyError:
            log.exception("lookup failed")
    log.warning("card", detail="4111 1111 1111 1111", nested={"api_key": "k"})


def without_timestamps(path: pathlib.Path) -> list[dict[str, Any]]:
    events = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    for event in events:
        event.pop("timestamp")
    return events


class TestEject:
    def test_ejected_module_writes_the_same_lines(self, tmp_path: pathlib.Path) -> None:
        """The standalone module produces the same JSON lines as djed.logger, timestamps aside."""
        djed_log, ejected_log = tmp_path / "djed.log", tmp_path / "ejected.log"
        settings = configure_logging(
            "info",
            file=djed_log,
            service="billing",
            fields={"region": "eu-1"},
            redact_keys=["password", "token", "api_key", "authorization"],
            metrics=False,
        )
        emit_sample_events(get_logger("app"))
        flush_logs()

        source = eject_source(settings.__class__(**{**_asdict(settings), "file": str(ejected_log)}))
        module_path = tmp_path / "logging_setup.py"
        module_path.write_text(source)
        assert "djed" not in _imports_of(source)
        sink = load_module(module_path).configure_logging()
        emit_sample_events(structlog.get_logger("app"))
        sink.flush()

        expected = without_timestamps(djed_log)
        assert [e["event"] for e in expected] == [
            "invoice created",
            "login",
            "GET /health 200",
            "lookup failed",
            "card",
        ]
        assert without_timestamps(ejected_log) == expected

    def test_ejected_module_passes_pyflakes(self, tmp_path: pathlib.Path) -> None:
        """The generated module has no undefined or unused names."""
        settings = configure_logging(format="json", stream=io.BytesIO(), metrics=False)
        path = tmp_path / "logging_setup.py"
        path.write_text(eject_source(settings))
        result = subprocess.run(
            [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "F,E9", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr

    def test_cli_eject_reads_environment(
        self, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`python -m djed.logger eject` writes a module reflecting DJED_LOGGER_* settings."""
        output = tmp_path / "logging_setup.py"
        result = subprocess.run(
            [sys.executable, "-m", "djed.logger", "eject", "--service", "crm", "-o", str(output)],
            capture_output=True,
            text=True,
            check=False,
            env={**_clean_env(), "DJED_LOGGER_LEVEL": "warning", "DJED_LOGGER_FORMAT": "json"},
        )
        assert result.returncode == 0, result.stderr
        source = output.read_text()
        compile(source, str(output), "exec")
        assert "logging.WARNING" in source
        assert "'service': 'crm'" in source
        assert 'fmt: Literal["json", "console"] = \'json\'' in source

    def test_cli_eject_keeps_auto_format(self) -> None:
        """Without a chosen format the ejected code picks console or JSON at run time."""
        result = subprocess.run(
            [sys.executable, "-m", "djed.logger", "eject"],
            capture_output=True,
            text=True,
            check=False,
            env=_clean_env(),
        )
        assert result.returncode == 0, result.stderr
        assert '"console" if target.isatty() else "json"' in result.stdout

    def test_cli_eject_rejects_bad_settings(self) -> None:
        """A bad setting exits with status 2 and a one-line message, no traceback."""
        result = subprocess.run(
            [sys.executable, "-m", "djed.logger", "eject", "--level", "loud"],
            capture_output=True,
            text=True,
            check=False,
            env=_clean_env(),
        )
        assert result.returncode == 2
        assert result.stderr.startswith("error: Invalid log level 'loud'")
        assert "Traceback" not in result.stderr


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("DJED_LOGGER_")}


def _asdict(settings: Any) -> dict[str, Any]:
    import dataclasses

    return {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}


def _imports_of(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if line.startswith(("import ", "from ")))
