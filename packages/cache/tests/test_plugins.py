"""Cache backends from the ``djed.cache.backends`` entry points of an installed plugin."""

from __future__ import annotations

import importlib.metadata
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from djed.cache import (
    Cache,
    MemoryBackend,
    PluginError,
    RedisBackend,
    SyncCache,
    SyncRedisBackend,
    _plugins,
    backend_names,
    open_backend,
)

from packages.logger.tests._djed_plugin_kit import MODULE, example_plugin, write_distribution

INSTALLED = ["broken", "dict", "memory", "redis", "sync-only"]


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[Path]:
    """The example plugin installed, and the entry points read afresh."""
    with example_plugin(tmp_path) as folder:
        _plugins._backends.forget()
        yield folder
    _plugins._backends.forget()


class TestBuiltInBackends:
    def test_memory_serves_both_flavours(self) -> None:
        backend = open_backend("memory", max_entries=10)
        assert isinstance(backend, MemoryBackend)
        assert backend.max_entries == 10
        assert isinstance(open_backend("memory", asynchronous=True), MemoryBackend)

    @pytest.mark.asyncio
    async def test_redis_in_each_flavour(self) -> None:
        url = "redis://127.0.0.1:1/0"  # never connected to: clients connect on first use
        sync = open_backend("redis", url=url, prefix="plugins-test")
        assert isinstance(sync, SyncRedisBackend)
        sync.close()
        asynchronous = open_backend("redis", asynchronous=True, url=url)
        assert isinstance(asynchronous, RedisBackend)
        await asynchronous.aclose()


class TestPluginBackends:
    def test_names_are_listed_without_loading_anything(self, plugin: Path) -> None:
        assert backend_names() == INSTALLED
        assert MODULE not in sys.modules

    def test_a_sync_backend_by_name(self, plugin: Path) -> None:
        backend = open_backend("dict", label="sessions")
        assert type(backend).__module__ == f"{MODULE}.backends"
        assert backend.label == "sessions"  # type: ignore[attr-defined]
        cache = SyncCache(backend, ttl=60)
        cache.set("invoice:1", {"total": 12}, tags=["invoices"])
        assert cache.get("invoice:1") == {"total": 12}
        assert cache.invalidate_tags("invoices") == 1
        assert cache.get_or_load("invoice:1", lambda: {"total": 13}) == {"total": 13}

    @pytest.mark.asyncio
    async def test_an_async_backend_by_name(self, plugin: Path) -> None:
        cache = Cache(open_backend("dict", asynchronous=True), ttl=60)
        loads: list[str] = []

        async def load() -> str:
            loads.append("load")
            return "value"

        assert await cache.get_or_load("k", load) == "value"
        assert await cache.get_or_load("k", load) == "value"
        assert loads == ["load"]

    @pytest.mark.parametrize(
        ("name", "options", "expected"),
        [
            (
                "nope",
                {},
                (
                    "no backend named 'nope': use one of broken, dict, memory, redis, sync-only,"
                    " or install a plugin"
                ),
            ),
            (
                "broken",
                {},
                (
                    "djed.cache.backends plugin 'broken' (djed_example_plugin.broken:backend, from"
                    " djed-example-plugin 1.0) failed to load: ImportError: the example plugin's"
                    " broken module cannot be imported (on purpose)"
                ),
            ),
            (
                "sync-only",
                {"asynchronous": True},
                (
                    "made DictBackend for async code, but its get, get_many, set, set_many, delete,"
                    " clear, invalidate_tags are not async"
                ),
            ),
            (
                "dict",
                {"colour": "red"},
                (
                    "could not make a backend: TypeError: DictBackend.__init__() got an unexpected"
                    " keyword argument 'colour'"
                ),
            ),
        ],
    )
    def test_failures_name_the_plugin_and_the_cause(
        self, plugin: Path, name: str, options: dict[str, Any], expected: str
    ) -> None:
        with pytest.raises(PluginError, match=re.escape(expected)) as caught:
            open_backend(name, **options)
        assert isinstance(caught.value, ValueError)

    def test_two_plugins_claiming_one_name(self, plugin: Path) -> None:
        twin = {"djed.cache.backends": {"dict": f"{MODULE}.backends:dict_backend"}}
        write_distribution(plugin, "djed-example-twin", twin)
        with pytest.raises(PluginError, match=r"2 plugins claim one name: .*example-twin 1\.0"):
            open_backend("dict")

    def test_built_in_names_cannot_be_taken_over(self, plugin: Path) -> None:
        write_distribution(
            plugin, "djed-example-taker", {"djed.cache.backends": {"memory": f"{MODULE}.broken:x"}}
        )
        assert isinstance(open_backend("memory"), MemoryBackend)

    def test_entry_points_are_read_once(
        self, plugin: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        calls: list[str] = []
        real = importlib.metadata.entry_points

        def counting(**selection: Any) -> Any:
            calls.append(selection["group"])
            return real(**selection)

        monkeypatch.setattr(importlib.metadata, "entry_points", counting)
        for _ in range(3):
            open_backend("dict")
            open_backend("memory")
        assert backend_names() == INSTALLED
        assert calls == ["djed.cache.backends"]
