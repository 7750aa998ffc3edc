"""The three stores behave alike: append, load, compact, reset, names; SQLite and files persist."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from djed.crdt import FileStorage, MemoryStorage, SQLiteStorage, Storage
from djed.crdt._server import merge_updates
from djed.crdt._storage import check_name
from pycrdt import Doc, Text

STORES: dict[str, Callable[[Path], Storage]] = {
    "memory": lambda _path: MemoryStorage(),
    "sqlite": lambda path: SQLiteStorage(path / "docs.db"),
    "files": lambda path: FileStorage(path / "docs"),
}


@pytest_asyncio.fixture(params=sorted(STORES))
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    store = STORES[request.param](tmp_path)
    yield store
    await store.close()


def edits(*words: str) -> list[bytes]:
    """One update per word, each appending it to the text ``notes``."""
    doc: Doc[Any] = Doc()
    notes = doc.get("notes", type=Text)
    updates = []
    for word in words:
        state = doc.get_state()
        notes.insert(len(notes), word)
        updates.append(doc.get_update(state))
    return updates


def text_of(updates: tuple[bytes, ...]) -> str:
    doc: Doc[Any] = Doc()
    for update in updates:
        doc.apply_update(update)
    return str(doc.get("notes", type=Text))


@pytest.mark.asyncio
class TestContract:
    async def test_empty_document(self, storage: Storage) -> None:
        stored = await storage.load("nothing-here")
        assert (stored.epoch, stored.updates, stored.log_length, stored.empty) == (1, (), 0, True)

    async def test_append_load_compact(self, storage: Storage) -> None:
        updates = edits("a", "b", "c", "d")
        later = updates.pop()
        await storage.append("inv/1", updates[:2])
        await storage.append("inv/1", updates[2:])
        stored = await storage.load("inv/1")
        assert stored.updates == tuple(updates)
        assert stored.log_length == 3
        assert await storage.compact("inv/1", merge_updates) == 3
        compacted = await storage.load("inv/1")
        assert (compacted.log_length, len(compacted.updates)) == (0, 1)
        assert text_of(compacted.updates) == "abc"
        assert await storage.compact("inv/1", merge_updates) == 0
        await storage.append("inv/1", [later])
        assert text_of((await storage.load("inv/1")).updates) == "abcd"

    async def test_reset_starts_the_next_epoch(self, storage: Storage) -> None:
        await storage.append("doc", edits("x"))
        assert await storage.reset("doc") == 2
        stored = await storage.load("doc")
        assert (stored.epoch, stored.updates) == (2, ())
        assert await storage.reset("doc") == 3

    async def test_names(self, storage: Storage) -> None:
        for name in ("b", "a/1", "c"):
            await storage.append(name, edits("x"))
        assert await storage.names() == ["a/1", "b", "c"]

    async def test_concurrent_appends_keep_every_update(self, storage: Storage) -> None:
        updates = edits(*[str(i % 10) for i in range(60)])
        await asyncio.gather(*(storage.append("doc", [u]) for u in updates))
        stored = await storage.load("doc")
        assert sorted(stored.updates) == sorted(updates)


@pytest.mark.asyncio
class TestDurability:
    async def test_sqlite_groups_commits_and_survives_reopening(self, tmp_path: Path) -> None:
        store = SQLiteStorage(tmp_path / "docs.db")
        commits = 0
        write = store._write

        def counting(batch: list[tuple[str, list[bytes]]]) -> None:
            nonlocal commits
            commits += 1
            write(batch)

        store._write = counting  # type: ignore[method-assign]
        updates = edits(*"abcdefghij" * 5)
        await asyncio.gather(*(store.append("doc", [u]) for u in updates))
        await store.close()
        assert commits < len(updates)  # appends waiting on a commit share the next one
        reopened = SQLiteStorage(tmp_path / "docs.db")
        assert len((await reopened.load("doc")).updates) == len(updates)
        await reopened.close()

    async def test_torn_record_at_the_end_of_a_file_log_is_ignored(self, tmp_path: Path) -> None:
        store = FileStorage(tmp_path)
        await store.append("doc", edits("ab"))
        await store.close()
        with (tmp_path / "doc.log").open("ab") as log:
            log.write(b"\x00\x00\x01\x00partial")  # a record cut short by a crash
        reopened = FileStorage(tmp_path)
        assert text_of((await reopened.load("doc")).updates) == "ab"
        await reopened.close()

    async def test_closed_store_refuses_work(self, tmp_path: Path) -> None:
        store = SQLiteStorage(tmp_path / "docs.db")
        await store.close()
        with pytest.raises(RuntimeError, match="SQLiteStorage is closed"):
            await store.load("doc")


def _open_and_load(path: str) -> str:
    """In a process of its own: open the SQLite store at ``path`` and read from it."""

    async def load() -> str:
        store = SQLiteStorage(path)
        try:
            await store.load("doc")
            return "ok"
        except Exception as error:  # noqa: BLE001 - reported to the test
            return repr(error)
        finally:
            await store.close()

    return asyncio.run(load())


def test_processes_opening_one_new_file_together(tmp_path: Path) -> None:
    """Several server processes starting on the same new SQLite file all get in."""
    paths = [str(tmp_path / f"docs-{n}.db") for n in range(15) for _ in range(4)]
    with concurrent.futures.ProcessPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(_open_and_load, paths))
    assert [o for o in outcomes if o != "ok"] == []


class TestNames:
    @pytest.mark.parametrize("name", ["invoice-42", "tenants/acme/INV_0042", "a.b~c:d@e+f=g,h"])
    def test_good_names(self, name: str) -> None:
        assert check_name(name) == name

    @pytest.mark.parametrize(
        ("name", "problem"),
        [
            ("", "cannot be empty"),
            ("../etc/passwd", "not allowed"),
            ("a//b", "not allowed"),
            ("/abs", "not allowed"),
            ("spaces here", "not allowed"),
            ("x" * 201, "201 characters long"),
        ],
    )
    def test_bad_names(self, name: str, problem: str) -> None:
        with pytest.raises(ValueError, match=problem):
            check_name(name)
