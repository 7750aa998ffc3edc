from __future__ import annotations

import logging
from collections.abc import Callable

from djed.logger import REDACTED, configure_logging, get_logger, log_context
from djed.logger.testing import capture_logs

from .conftest import Output


class TestCaptureLogs:
    def test_captures_completed_events(self, json_logging: Callable[..., Output]) -> None:
        """Captured entries carry level, logger, context and redaction, as rendered."""
        json_logging()
        log = get_logger("billing")
        with capture_logs() as logs, log_context(request_id="r-1"):
            log.info("charged", amount=12, token="t")
            log.warning("slow")
        assert logs.events == ["charged", "slow"]
        assert logs.levels() == ["info", "warning"]
        (charged,) = logs.find("charged", request_id="r-1")
        assert charged["token"] == REDACTED
        assert charged["logger"] == "billing"

    def test_captures_stdlib_records(self, json_logging: Callable[..., Output]) -> None:
        """Records from the logging module are captured too."""
        json_logging()
        with capture_logs() as logs:
            logging.getLogger("httpx").info("request sent")
        assert logs.find("request sent", logger="httpx")

    def test_works_with_cached_loggers_after_reconfiguration(self, output: Output) -> None:
        """A logger used (and cached) before a reconfiguration is still captured."""
        configure_logging(stream=output, format="json", metrics=False)
        log = get_logger("early")
        log.info("warm up")
        configure_logging(stream=Output(), format="json", metrics=False)
        with capture_logs() as logs:
            log.info("still seen")
        assert logs.events == ["still seen"]

    def test_configures_if_needed_and_stops_after_block(self) -> None:
        """capture_logs works without configure_logging and collects nothing after the block."""
        with capture_logs() as logs:
            get_logger("x").info("inside")
        get_logger("x").info("outside")
        assert logs.events == ["inside"]

    def test_find_without_match(self, json_logging: Callable[..., Output]) -> None:
        """find returns an empty list when nothing matches."""
        json_logging()
        with capture_logs() as logs:
            get_logger("x").info("a", n=1)
        assert logs.find("a", n=2) == []
        assert logs.find(n=1)


class TestResetLogging:
    def test_reset_forgets_configuration(self, output: Output) -> None:
        """reset_logging removes the handler and the state; get_logger configures afresh."""
        from djed.logger import current_state
        from djed.logger._install import StdlibBridge
        from djed.logger.testing import reset_logging

        configure_logging(stream=output, format="json", metrics=False)
        reset_logging()
        assert current_state() is None
        assert not any(isinstance(h, StdlibBridge) for h in logging.getLogger().handlers)
