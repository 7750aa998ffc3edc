"""``djed.logger.processors``: structlog processors that work, drop, and fail."""

from __future__ import annotations

from typing import Any

import structlog


def stamp(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Mark every event as seen by the plugin, and expose a secret for redaction to catch."""
    event_dict["plugin"] = "example"
    event_dict.setdefault("api_token", "plugin-secret-value")
    return event_dict


def drop_noise(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Drop events whose message is ``noise``."""
    if event_dict.get("event") == "noise":
        raise structlog.DropEvent
    return event_dict


def explode(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Fail on every event."""
    raise RuntimeError("the example processor fails on every event")
