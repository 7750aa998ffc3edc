"""Document stores from the ``djed.crdt.stores`` entry points of an installed plugin."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from djed.crdt import (
    FileStorage,
    MemoryStorage,
    PluginError,
    SQLiteStorage,
    Storage,
    _plugins,
    open_store,
    store_names,
)
from pycrdt import Doc, Text

from packages.logger.tests._djed_plugin_kit import (
    MODULE,
    example_plugin,
    subprocess_environment,
    write_distribution,
)

from ._support import RawClient, free_port

INSTALLED = ["broken", "file", "folder", "memory", "not-a-store", "sqlite"]


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[Path]:
    """The example plugin installed, and the entry points read afresh."""
    with example_plugin(tmp_path / "site") as folder:
        _plugins._stores.forget()
        yield folder
    _plugins._stores.forget()


def run_cli(*args: str, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "djed.crdt", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=subprocess_environment(site),
    )


class TestBuiltInStores:
    @pytest.mark.asyncio
    async def test_each_by_name(self, tmp_path: Path) -> None:
        sqlite = open_store("sqlite", tmp_path / "docs.db", durability="normal")
        assert isinstance(sqlite, SQLiteStorage)
        assert sqlite.durability == "normal"
        await sqlite.close()
        assert isinstance(open_store("file", tmp_path / "docs"), FileStorage)
        assert isinstance(open_store("memory"), MemoryStorage)

    def test_what_they_cannot_use_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="the sqlite store needs a location"):
            open_store("sqlite")
        with pytest.raises(ValueError, match="the memory store keeps nothing on disk"):
            open_store("memory", tmp_path)
        with pytest.raises(ValueError, match="the file store takes no options, not mode"):
            open_store("file", tmp_path, mode="fast")


class TestPluginStores:
    def test_names_are_listed_without_loading_anything(self, plugin: Path) -> None:
        assert store_names() == INSTALLED
        assert MODULE not in sys.modules

    @pytest.mark.asyncio
    async def test_a_plugin_store_by_name(self, plugin: Path, tmp_path: Path) -> None:
        store = open_store("folder", tmp_path / "docs", tier="hot")
        assert isinstance(store, Storage)
        assert type(store).__module__ == f"{MODULE}.stores"
        assert store.options == {"tier": "hot"}  # type: ignore[attr-defined]
        await store.append("inv-1", [b"update"])
        assert (await store.load("inv-1")).updates == (b"update",)
        await store.close()
        assert (tmp_path / "docs" / "inv-1.log").exists()

    @pytest.mark.parametrize(
        ("name", "location", "expected"),
        [
            (
                "nope",
                None,
                (
                    "no store named 'nope': use one of broken, file, folder, memory, not-a-store,"
                    " sqlite, or install a plugin"
                ),
            ),
            (
                "broken",
                None,
                (
                    "djed.crdt.stores plugin 'broken' (djed_example_plugin.broken:Store, from"
                    " djed-example-plugin 1.0) failed to load: ImportError: the example plugin's"
                    " broken module cannot be imported (on purpose)"
                ),
            ),
            ("not-a-store", "x", "returned object, not a djed.crdt.Storage"),
            (
                "folder",
                None,
                "could not open a store at None: ValueError: the folder store needs a location",
            ),
        ],
    )
    def test_failures_name_the_plugin_and_the_cause(
        self, plugin: Path, name: str, location: str | None, expected: str
    ) -> None:
        with pytest.raises(PluginError) as caught:
            open_store(name, location)
        assert expected in str(caught.value)
        assert isinstance(caught.value, ValueError)

    def test_two_plugins_claiming_one_name(self, plugin: Path, tmp_path: Path) -> None:
        twin = {"djed.crdt.stores": {"folder": f"{MODULE}.stores:FolderStore"}}
        write_distribution(plugin, "djed-example-twin", twin)
        with pytest.raises(PluginError, match=r"2 plugins claim one name: .*example-twin 1\.0"):
            open_store("folder", tmp_path)

    @pytest.mark.asyncio
    async def test_built_in_names_cannot_be_taken_over(self, plugin: Path, tmp_path: Path) -> None:
        taker = {"djed.crdt.stores": {"sqlite": f"{MODULE}.broken:Store"}}
        write_distribution(plugin, "djed-example-taker", taker)
        store = open_store("sqlite", tmp_path / "docs.db")
        assert isinstance(store, SQLiteStorage)
        await store.close()


class TestCommandLine:
    @pytest.mark.asyncio
    async def test_serve_and_compact_with_a_plugin_store(
        self, plugin: Path, tmp_path: Path
    ) -> None:
        documents, port = tmp_path / "documents", free_port()
        store = ["--store", "folder", "--store-location", str(documents)]
        process = start_server(port, store, plugin)
        try:
            await wait_for_port(port, process)
            async with RawClient(f"ws://127.0.0.1:{port}/inv-1") as client:
                await client.synced.wait()
                client.doc.get("notes", type=Text).insert(0, "kept by the plugin's store")
                await client.push()
                async with RawClient(f"ws://127.0.0.1:{port}/inv-1") as other:
                    await other.wait_for(lambda: str(other.doc.get("notes", type=Text)) != "")
        finally:
            process.terminate()
            process.communicate(timeout=30)
        done = await asyncio.to_thread(run_cli, "compact", *store, site=plugin)
        assert done.returncode == 0, done.stderr
        assert "inv-1: merged" in done.stdout
        reader = FileStorage(documents)  # the plugin's store is Djed's file format underneath
        stored = await reader.load("inv-1")
        await reader.close()
        document: Doc[Text] = Doc()
        for update in stored.updates:
            document.apply_update(update)
        assert str(document.get("notes", type=Text)) == "kept by the plugin's store"

    def test_an_unusable_store_is_a_clear_error(self, plugin: Path) -> None:
        done = run_cli("compact", "--store", "broken", site=plugin)
        assert done.returncode == 2
        assert done.stderr.startswith("error: djed.crdt.stores plugin 'broken'")
        assert "ImportError" in done.stderr
        assert "Traceback" not in done.stderr
        done = run_cli("compact", "--store", "memory", "--store-option", "size", site=plugin)
        assert done.returncode == 2
        assert done.stderr == "error: --store-option 'size': use KEY=VALUE\n"


def start_server(port: int, store: list[str], site: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "djed.crdt", "serve", "--port", str(port), *store],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=subprocess_environment(site),
    )


async def wait_for_port(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0][-2000:]
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise AssertionError("the server did not start")
