"""A registry of breakers by service name, configured from code, a dict or the environment."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from ._breaker import CircuitBreaker
from ._errors import BreakerConfigError

__all__ = ["BreakerRegistry", "breakers"]

#: Settings that can come from ``DJED_BREAKER_<SERVICE>_<SETTING>``, with their types.
_SETTINGS: dict[str, type] = {
    "failure_rate_threshold": float,
    "slow_call_rate_threshold": float,
    "slow_call_duration": float,
    "window": str,
    "window_size": int,
    "minimum_calls": int,
    "consecutive_failures": int,
    "open_duration": float,
    "open_duration_multiplier": float,
    "max_open_duration": float,
    "half_open_max_calls": int,
}


def _env_name(service: str, setting: str) -> str:
    return f"DJED_BREAKER_{re.sub(r'[^A-Z0-9]+', '_', service.upper())}_{setting.upper()}"


class BreakerRegistry:
    """Breakers by service name, each created on first use with its settings.

    >>> breakers = BreakerRegistry(defaults={"open_duration": 10},
    ...                            services={"payments": {"failure_rate_threshold": 25}})
    >>> breakers.get("payments").failure_rate_threshold
    25

    Settings of a service, later ones winning: the registry's ``defaults``, the
    ``services`` mapping (for example loaded from a config file), the
    environment variables ``DJED_BREAKER_<SERVICE>_<SETTING>`` (the service name
    upper-cased, other characters as ``_``: ``DJED_BREAKER_PAYMENTS_OPEN_DURATION=60``),
    and :meth:`configure` from code. The environment is read when a breaker is
    created, never at import.
    """

    def __init__(
        self,
        *,
        defaults: Mapping[str, Any] | None = None,
        services: Mapping[str, Mapping[str, Any]] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._defaults = dict(defaults or {})
        self._services = {name: dict(settings) for name, settings in (services or {}).items()}
        self._code: dict[str, dict[str, Any]] = {}
        self._environ = environ
        self._breakers: dict[str, CircuitBreaker] = {}
        self._lock = threading.Lock()

    def configure(self, name: str, **settings: Any) -> None:
        """Set a service's settings from code, before its breaker is first used."""
        with self._lock:
            if name in self._breakers:
                msg = f"breaker {name!r} already exists; configure it before its first use"
                raise BreakerConfigError(msg)
            self._code.setdefault(name, {}).update(settings)

    def settings_for(self, name: str) -> dict[str, Any]:
        """The settings a new breaker for ``name`` would get."""
        settings = {**self._defaults, **self._services.get(name, {})}
        environ = os.environ if self._environ is None else self._environ
        for setting, kind in _SETTINGS.items():
            variable = _env_name(name, setting)
            raw = environ.get(variable)
            if raw is None or not raw.strip():
                continue
            try:
                settings[setting] = kind(raw.strip())
            except ValueError:
                msg = f"{variable}={raw!r} is not a valid {kind.__name__}"
                raise BreakerConfigError(msg) from None
        settings.update(self._code.get(name, {}))
        return settings

    def get(self, name: str) -> CircuitBreaker:
        """The breaker for ``name``, created with its settings on first use."""
        breaker = self._breakers.get(name)
        if breaker is not None:
            return breaker
        with self._lock:
            breaker = self._breakers.get(name)
            if breaker is None:
                try:
                    breaker = CircuitBreaker(name, **self.settings_for(name))
                except TypeError as exc:
                    raise BreakerConfigError(f"breaker {name!r}: {exc}") from None
                self._breakers[name] = breaker
        return breaker

    def __contains__(self, name: object) -> bool:
        return name in self._breakers

    def __iter__(self) -> Iterator[CircuitBreaker]:
        return iter(list(self._breakers.values()))

    def __len__(self) -> int:
        return len(self._breakers)

    def reset_all(self) -> None:
        """Close every breaker (for example after a deploy that fixed the cause)."""
        for breaker in self:
            breaker.reset()


#: The default registry: ``from djed.breaker import breakers; breakers.get("payments")``.
breakers = BreakerRegistry()
