"""Helpers for testing code that logs through djed.logger.

>>> from djed.logger.testing import capture_logs
>>> with capture_logs() as logs:  # doctest: +SKIP
...     charge_card(order)
>>> assert logs.find("payment declined", order_id=7)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ._config import _ensure_configured, reset_logging
from ._render import EventRenderer

__all__ = ["CapturedLogs", "capture_logs", "reset_logging"]


class CapturedLogs(list[dict[str, Any]]):
    """The event dictionaries logged inside a :func:`capture_logs` block, in order.

    Each entry is the event as it was rendered: redacted, with ``level``,
    ``timestamp``, ``logger`` and bound context fields.
    """

    @property
    def events(self) -> list[str]:
        """The ``event`` messages, in order."""
        return [str(entry.get("event")) for entry in self]

    def find(self, event: str | None = None, **fields: Any) -> list[dict[str, Any]]:
        """Entries whose message is ``event`` (if given) and whose fields equal ``fields``."""
        return [
            entry
            for entry in self
            if (event is None or entry.get("event") == event)
            and all(key in entry and entry[key] == value for key, value in fields.items())
        ]

    def levels(self) -> list[str]:
        """The level of each entry, in order."""
        return [str(entry.get("level")) for entry in self]


@contextlib.contextmanager
def capture_logs() -> Iterator[CapturedLogs]:
    """Collect every event logged inside the block, from structlog and ``logging`` alike.

    Events still go to the configured output; capture sees what passes the
    configured level. Blocks may nest: an inner block collects only its own events.
    """
    _ensure_configured()
    captured = CapturedLogs()
    previous = EventRenderer.capture
    EventRenderer.capture = captured
    try:
        yield captured
    finally:
        EventRenderer.capture = previous
