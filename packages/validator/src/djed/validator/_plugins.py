"""Format checkers from other distributions: the ``djed.validator.formats`` entry points.

A distribution registers a checker under the format name it checks::

    [project.entry-points."djed.validator.formats"]
    sku = "acme_formats:is_sku"

Plugins are opt-in: a format checker decides whether data is valid, so installing a
package must not change what validates until the application names the plugin, in
``DJED_VALIDATOR_PLUGINS`` or through :func:`format_plugins`. Entry points are read once,
the first time a plugin is asked for, never when ``djed.validator`` is imported.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NoReturn

from ._errors import ValidatorError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = ["ENVIRONMENT", "GROUP", "PluginError", "enabled_formats", "format_plugins", "sources"]

GROUP = "djed.validator.formats"
ENVIRONMENT = "DJED_VALIDATOR_PLUGINS"

_log = logging.getLogger("djed.validator")


class PluginError(ValidatorError):
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


def _not_a_checker(value: Any) -> str | None:
    if callable(value):
        return None
    return f"a format checker must be a callable taking a string, not {type(value).__name__}"


_formats = _Group(GROUP, _not_a_checker)


def requested(raw: str | None) -> tuple[str, ...]:
    """The names listed in a comma-separated setting (``*`` for every installed plugin)."""
    return tuple(name.strip() for name in (raw or "").split(",") if name.strip())


def format_plugins(*names: str) -> dict[str, Callable[[str], bool]]:
    """Format checkers of installed ``djed.validator.formats`` plugins, by format name.

    >>> SchemaValidator(schema, formats=format_plugins("sku"))  # doctest: +SKIP

    With names, exactly those plugins, and :class:`PluginError` naming the one
    that is missing, registered twice or fails to load. Without names, every
    installed plugin that loads; the others are logged and left out.
    """
    chosen = _formats.select(names or ("*",))
    return {name: value for name, (_entry, value) in chosen.items()}


def enabled_formats() -> dict[str, Callable[[str], bool]]:
    """The checkers ``DJED_VALIDATOR_PLUGINS`` enables (names, or ``*``); empty when unset.

    Read by every new :class:`SchemaValidator`: the variable is looked up each
    time, the entry points only the first time a plugin is needed.
    """
    names = requested(os.environ.get(ENVIRONMENT))
    return format_plugins(*names) if names else {}


def sources(names: Iterable[str]) -> dict[str, tuple[str, str]]:
    """``(module, attribute)`` of each loaded plugin in ``names``, for generated code."""
    found: dict[str, tuple[str, str]] = {}
    for name in names:
        entry = _formats.entry(name)
        if entry is not None:
            found[name] = (entry.module, entry.attr)
    return found
