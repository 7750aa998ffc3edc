"""structlog processors from other distributions: the ``djed.logger.processors`` entry points.

A distribution registers a processor (``(logger, method_name, event_dict) -> event_dict``)
under a name::

    [project.entry-points."djed.logger.processors"]
    sampler = "acme_logging:sample_debug"

Plugins are opt-in: a processor sees every event before redaction, secrets included, so an
installed package must not start reading the logs until the application names it, in
``configure_logging(plugins=[...])`` or ``DJED_LOGGER_PLUGINS``. Entry points are read once,
the first time a plugin is asked for, never when ``djed.logger`` is imported. Enabled
processors run after the context is merged and before Djed completes, redacts and renders
the event, for structlog events and ``logging`` records alike.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NoReturn

from ._settings import LoggingConfigError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = ["ENVIRONMENT", "GROUP", "PluginError", "processor_plugins", "requested", "resolve"]

GROUP = "djed.logger.processors"
ENVIRONMENT = "DJED_LOGGER_PLUGINS"

_log = logging.getLogger("djed.logger")

Processor = Callable[[Any, str, dict[str, Any]], Any]


class PluginError(LoggingConfigError):
    """A plugin that was asked for is not installed, is registered twice, or cannot be used."""


def _describe(entry: EntryPoint) -> str:
    dist = entry.dist
    origin = f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"
    return f"{entry.group} plugin {entry.name!r} ({entry.value}, from {origin})"


class _Group:
    """One entry-point group: read on first use; each plugin loaded and checked at most once."""

    def __init__(self, group: str, check: Callable[[Any], str | None]) -> None:
        self.group = group
        self._check = check
        self._lock = threading.Lock()
        self._found: dict[str, list[EntryPoint]] | None = None
        self._loaded: dict[str, tuple[EntryPoint, Any]] = {}
        self._failed: dict[str, str] = {}
        self._reported: set[str] = set()

    def found(self) -> dict[str, list[EntryPoint]]:
        with self._lock:
            if self._found is None:
                from importlib.metadata import entry_points  # noqa: PLC0415 - on first use only

                found: dict[str, list[EntryPoint]] = {}
                for entry in entry_points(group=self.group):
                    found.setdefault(entry.name, []).append(entry)
                self._found = found
            return self._found

    def load(self, name: str) -> tuple[EntryPoint, Any]:
        """The plugin's entry point and object; PluginError naming it when it cannot be had."""
        loaded = self._loaded.get(name)
        if loaded is not None:
            return loaded
        if name in self._failed:
            raise PluginError(self._failed[name])
        entries = self.found().get(name)
        if not entries:
            installed = ", ".join(sorted(self.found())) or "none"
            raise PluginError(
                f"no {self.group} plugin named {name!r} is installed (installed: {installed})"
            )
        if len(entries) > 1:
            claims = "; ".join(_describe(entry) for entry in entries)
            self._fail(name, f"{len(entries)} plugins claim one name: {claims}; keep one of them")
        entry = entries[0]
        try:
            value = entry.load()
        except Exception as error:  # noqa: BLE001 - any failure of third-party code, reported
            self._fail(name, f"{_describe(entry)} failed to load: {type(error).__name__}: {error}")
        problem = self._check(value)
        if problem is not None:
            self._fail(name, f"{_describe(entry)} cannot be used: {problem}")
        self._loaded[name] = (entry, value)
        return entry, value

    def _fail(self, name: str, message: str) -> NoReturn:
        self._failed[name] = message
        raise PluginError(message)

    def select(self, names: Iterable[str]) -> dict[str, tuple[EntryPoint, Any]]:
        """The plugins named, in order; ``*`` adds every installed one that loads.

        A named plugin that cannot be had raises; one that only ``*`` brought in is
        logged (once) and left out.
        """
        selected: dict[str, tuple[EntryPoint, Any]] = {}
        for name in names:
            if name != "*":
                selected[name] = self.load(name)
                continue
            for found in sorted(self.found()):
                try:
                    selected.setdefault(found, self.load(found))
                except PluginError as error:
                    if found not in self._reported:
                        self._reported.add(found)
                        _log.warning("%s; left out", error)
        return selected

    def entry(self, name: str) -> EntryPoint | None:
        """The entry point of ``name`` once it has loaded."""
        loaded = self._loaded.get(name)
        return None if loaded is None else loaded[0]

    def forget(self) -> None:
        """Read the entry points again on next use (for tests that install plugins)."""
        with self._lock:
            self._found = None
            self._loaded.clear()
            self._failed.clear()
            self._reported.clear()


def _not_a_processor(value: Any) -> str | None:
    if callable(value):
        return None
    return (
        "a processor must be a callable (logger, method_name, event_dict) -> event_dict,"
        f" not {type(value).__name__}"
    )


_processors = _Group(GROUP, _not_a_processor)


def requested(raw: str | None) -> tuple[str, ...]:
    """The names listed in a comma-separated setting (``*`` for every installed plugin)."""
    return tuple(name.strip() for name in (raw or "").split(",") if name.strip())


class GuardedProcessor:
    """A plugin's processor that cannot break a log call.

    When the processor raises (or returns something other than the event
    dictionary), the event goes on as it was, the failure is counted in
    ``failures`` and the first one is reported on stderr. ``structlog.DropEvent``
    still drops the event, as the processor meant.
    """

    __slots__ = ("failures", "name", "processor")

    def __init__(self, name: str, processor: Processor) -> None:
        self.name = name
        self.processor = processor
        self.failures = 0

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
        """Run the processor on one event."""
        try:
            result = self.processor(logger, method_name, event_dict)
        except Exception as error:  # noqa: BLE001 - a plugin must never break a log call
            self._failed(f"{type(error).__name__}: {error}")
            return event_dict
        if not isinstance(result, dict):
            self._failed(f"it returned {type(result).__name__}, not the event dict")
            return event_dict
        return result

    def _failed(self, why: str) -> None:
        self.failures += 1
        if self.failures > 1:
            return
        try:
            sys.stderr.write(
                f"djed.logger: processor plugin {self.name!r} failed ({why}); events go on"
                " without its changes, and its further failures are counted in silence\n"
            )
            sys.stderr.flush()
        except (OSError, ValueError, AttributeError):
            pass

    def __repr__(self) -> str:
        return f"GuardedProcessor({self.name!r}, {self.processor!r})"


def resolve(names: Iterable[str]) -> list[tuple[str, EntryPoint, Any]]:
    """``(name, entry point, processor)`` of each plugin ``names`` asks for, in order."""
    return [(name, entry, value) for name, (entry, value) in _processors.select(names).items()]


def processor_plugins(*names: str) -> list[GuardedProcessor]:
    """Processors of installed ``djed.logger.processors`` plugins, each guarded.

    >>> configure_logging(plugins=["sampler"])  # the usual way  # doctest: +SKIP
    >>> structlog.configure(processors=[*processor_plugins("sampler"), ...])  # doctest: +SKIP

    With names, exactly those plugins in that order, and :class:`PluginError`
    naming the one that is missing, registered twice or fails to load. Without
    names, every installed plugin that loads, by name; the others are logged and
    left out.
    """
    return [GuardedProcessor(name, value) for name, _entry, value in resolve(names or ("*",))]
