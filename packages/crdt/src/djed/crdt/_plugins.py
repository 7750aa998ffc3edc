"""Document stores from other distributions: the ``djed.crdt.stores`` entry points.

A distribution registers a store factory under a name; it is called with the location
(a path, a URL, or ``None``) and keyword options, and returns a :class:`Storage`::

    [project.entry-points."djed.crdt.stores"]
    postgres = "acme_crdt:PostgresStorage"

A store is chosen by name (``open_store("postgres", "postgresql://...")`` or
``python -m djed.crdt serve --store postgres``), so nothing is loaded that the
application did not name: no opt-in switch is needed. The built-in names ``sqlite``,
``file`` and ``memory`` always mean Djed's own stores. Entry points are read once, the
first time a plugin's store is asked for, never when ``djed.crdt`` is imported.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from ._storage import FileStorage, MemoryStorage, SQLiteStorage, Storage

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = ["BUILT_IN_STORES", "GROUP", "PluginError", "open_store", "store_names"]

GROUP = "djed.crdt.stores"
BUILT_IN_STORES = ("file", "memory", "sqlite")


class PluginError(ValueError):
    """A store asked for by name is not installed, is registered twice, or cannot be opened."""


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

    def forget(self) -> None:
        """Read the entry points again on next use (for tests that install plugins)."""
        with self._lock:
            self._found = None
            self._loaded.clear()
            self._failed.clear()


def _not_a_factory(value: Any) -> str | None:
    if callable(value):
        return None
    return f"a store factory must be callable (location, **options), not {type(value).__name__}"


_stores = _Group(GROUP, _not_a_factory)


def store_names() -> list[str]:
    """The built-in store names and those of installed plugins, sorted, loading none."""
    return sorted(set(BUILT_IN_STORES) | set(_stores.found()))


def open_store(
    name: str, location: str | os.PathLike[str] | None = None, **options: Any
) -> Storage:
    """The store called ``name``, opened at ``location`` with ``options``.

    >>> storage = open_store("sqlite", "documents.db", durability="normal")
    >>> storage = open_store("postgres", "postgresql://crdt@db/documents")  # doctest: +SKIP

    ``sqlite`` (:class:`SQLiteStorage`, a file), ``file`` (:class:`FileStorage`, a
    folder) and ``memory`` (:class:`MemoryStorage`, no location) are built in; any
    other name is looked up among the ``djed.crdt.stores`` plugins, whose factory is
    called as ``factory(location, **options)`` (``location`` a string or ``None``).

    Raises:
        PluginError: No store has that name, two plugins claim it, or the plugin
            fails to load, to open, or returns something that is not a Storage.
        ValueError: A built-in store was given a location or options it cannot use.
    """
    if name in BUILT_IN_STORES:
        return _built_in(name, location, options)
    if name not in _stores.found():
        known = ", ".join(store_names())
        raise PluginError(f"no store named {name!r}: use one of {known}, or install a plugin")
    entry, factory = _stores.load(name)
    where = None if location is None else os.fspath(location)
    try:
        store = factory(where, **options)
    except Exception as error:  # any failure of third-party code, reported with its name
        raise PluginError(
            f"{_describe(entry)} could not open a store at {where!r}:"
            f" {type(error).__name__}: {error}"
        ) from error
    if not isinstance(store, Storage):
        raise PluginError(
            f"{_describe(entry)} returned {type(store).__name__}, not a djed.crdt.Storage"
        )
    return store


def _built_in(
    name: str, location: str | os.PathLike[str] | None, options: dict[str, Any]
) -> Storage:
    if name == "memory":
        if location is not None or options:
            raise ValueError(
                "the memory store keeps nothing on disk: it takes no location or options"
            )
        return MemoryStorage()
    if location is None:
        what = "the SQLite database file" if name == "sqlite" else "the folder to keep documents in"
        raise ValueError(f"the {name} store needs a location: {what}")
    if name == "sqlite":
        return SQLiteStorage(location, **options)
    if options:
        raise ValueError(f"the file store takes no options, not {', '.join(sorted(options))}")
    return FileStorage(location)
