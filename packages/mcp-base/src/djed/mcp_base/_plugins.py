"""Pipeline stages from other distributions: the ``djed.mcp_base.middleware`` entry points.

A distribution registers a stage (``async def stage(request, proceed)``) under a name::

    [project.entry-points."djed.mcp_base.middleware"]
    audit = "acme_mcp:audit_stage"

Plugins are opt-in: a stage sees every request (arguments, tokens, the caller) and may
answer in the tool's place, so an installed package joins the pipeline only when the
application names it: ``Pipeline.plugin(name)``, ``default_pipeline(plugins=[...])``,
``create_server(plugins=[...])`` or ``DJED_MCP_PLUGINS``. Entry points are read once, the
first time a plugin is asked for, never when ``djed.mcp_base`` is imported.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NoReturn

from ._pipeline import Middleware, PipelineError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = [
    "ENVIRONMENT",
    "GROUP",
    "PluginError",
    "installed_plugin_names",
    "middleware_plugins",
    "requested",
]

GROUP = "djed.mcp_base.middleware"
ENVIRONMENT = "DJED_MCP_PLUGINS"

_log = logging.getLogger("djed.mcp_base")


class PluginError(PipelineError):
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


def _not_a_stage(value: Any) -> str | None:
    if inspect.iscoroutinefunction(value) or inspect.iscoroutinefunction(
        getattr(value, "__call__", None)  # noqa: B004 - an object whose __call__ is async
    ):
        return None
    return (
        "a stage must be an async callable (request, proceed) -> result, not"
        f" {getattr(value, '__qualname__', type(value).__name__)}"
    )


_stages = _Group(GROUP, _not_a_stage)


def requested(raw: str | None) -> tuple[str, ...]:
    """The names listed in a comma-separated setting (``*`` for every installed plugin)."""
    return tuple(name.strip() for name in (raw or "").split(",") if name.strip())


def middleware_plugins(*names: str) -> dict[str, Middleware]:
    """Stages of installed ``djed.mcp_base.middleware`` plugins, by name.

    >>> pipeline = default_pipeline(plugins=["audit"])  # the usual way  # doctest: +SKIP

    With names, exactly those plugins in that order, and :class:`PluginError`
    naming the one that is missing, registered twice, not async or failing to
    load. Without names, every installed plugin that loads, by name; the others
    are logged and left out.
    """
    chosen = _stages.select(names or ("*",))
    return {name: value for name, (_entry, value) in chosen.items()}


def installed_plugin_names() -> tuple[str, ...]:
    """The names of the installed plugins, sorted, without loading any."""
    return tuple(sorted(_stages.found()))
