"""Cache backends from other distributions: the ``djed.cache.backends`` entry points.

A distribution registers a backend factory under a name; it is called with
``asynchronous=`` (whether async code asks) and keyword options, and returns a backend
of that flavour (the methods of :class:`SyncBackend` or :class:`AsyncBackend`)::

    [project.entry-points."djed.cache.backends"]
    memcached = "acme_cache:memcached_backend"

A backend is chosen by name (``open_backend("memcached", servers=[...])``), so nothing is
loaded that the application did not name: no opt-in switch is needed. The built-in names
``memory`` and ``redis`` always mean Djed's own backends. Entry points are read once, the
first time a plugin's backend is asked for, never when ``djed.cache`` is imported.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, NoReturn, overload

from ._backend import AsyncBackend, SyncBackend
from ._memory import MemoryBackend
from ._redis import RedisBackend, SyncRedisBackend

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = ["BUILT_IN_BACKENDS", "GROUP", "PluginError", "backend_names", "open_backend"]

GROUP = "djed.cache.backends"
BUILT_IN_BACKENDS = ("memory", "redis")
_METHODS = ("get", "get_many", "set", "set_many", "delete", "clear", "invalidate_tags")


class PluginError(ValueError):
    """A backend asked for by name is not installed, is registered twice, or cannot be made."""


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
    kind = type(value).__name__
    return f"a backend factory must be callable (*, asynchronous, **options), not {kind}"


_backends = _Group(GROUP, _not_a_factory)


def backend_names() -> list[str]:
    """The built-in backend names and those of installed plugins, sorted, loading none."""
    return sorted(set(BUILT_IN_BACKENDS) | set(_backends.found()))


@overload
def open_backend(
    name: str, *, asynchronous: Literal[False] = False, **options: Any
) -> SyncBackend: ...


@overload
def open_backend(
    name: str, *, asynchronous: Literal[True], **options: Any
) -> AsyncBackend | MemoryBackend: ...


def open_backend(
    name: str, *, asynchronous: bool = False, **options: Any
) -> SyncBackend | AsyncBackend | MemoryBackend:
    """The backend called ``name``, made with ``options``, for sync or async code.

    >>> cache = SyncCache(open_backend("redis", url="redis://cache:6379/0"))  # doctest: +SKIP
    >>> backend = open_backend("memcached", asynchronous=True, servers=["m1"])  # doctest: +SKIP
    >>> cache = Cache(backend)  # doctest: +SKIP

    ``memory`` (:class:`MemoryBackend`, which :class:`Cache` also takes as it is)
    and ``redis`` (:class:`SyncRedisBackend`, or :class:`RedisBackend` with
    ``asynchronous=True``) are built in; any other name is looked up among the
    ``djed.cache.backends`` plugins, whose factory is called as
    ``factory(asynchronous=..., **options)`` and must return a backend of that flavour.

    Raises:
        PluginError: No backend has that name, two plugins claim it, or the plugin
            fails to load, to make a backend, or makes one of the wrong flavour.
    """
    if name == "memory":
        return MemoryBackend(**options)
    if name == "redis":
        return RedisBackend(**options) if asynchronous else SyncRedisBackend(**options)
    if name not in _backends.found():
        known = ", ".join(backend_names())
        raise PluginError(f"no backend named {name!r}: use one of {known}, or install a plugin")
    entry, factory = _backends.load(name)
    try:
        backend = factory(asynchronous=asynchronous, **options)
    except Exception as error:  # any failure of third-party code, reported with its name
        raise PluginError(
            f"{_describe(entry)} could not make a backend: {type(error).__name__}: {error}"
        ) from error
    problem = _flavour_problem(backend, asynchronous)
    if problem is not None:
        raise PluginError(f"{_describe(entry)} {problem}")
    return backend  # type: ignore[no-any-return]


def _flavour_problem(backend: Any, asynchronous: bool) -> str | None:
    missing = [method for method in _METHODS if not callable(getattr(backend, method, None))]
    if missing:
        return f"made {type(backend).__name__}, which lacks {', '.join(missing)}"
    flavour = "async" if asynchronous else "sync"
    wrong = [
        method
        for method in _METHODS
        if inspect.iscoroutinefunction(getattr(backend, method)) != asynchronous
    ]
    if wrong:
        return (
            f"made {type(backend).__name__} for {flavour} code, but its {', '.join(wrong)}"
            f" {'are' if len(wrong) > 1 else 'is'} {'not ' if asynchronous else ''}async"
        )
    return None
