"""Where documents live between processes: an append-only log of updates plus a snapshot.

A store keeps, per document name, an *epoch* (its generation: bumped when the
document is reset, so a client holding an older generation is told to start
over instead of merging stale content back), an optional snapshot (every
update up to some point, merged) and the log of updates appended since.
``append`` returns only once the updates are durable; ``compact`` merges the
log into the snapshot in one transaction.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import dataclasses
import os
import re
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, TypeVar

__all__ = [
    "FileStorage",
    "MemoryStorage",
    "SQLiteStorage",
    "Storage",
    "StoredDocument",
    "check_name",
]

_T = TypeVar("_T")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._~:@+=,-]*(?:/[A-Za-z0-9_][A-Za-z0-9._~:@+=,-]*)*")
MAX_NAME_LENGTH = 200

Merge = Callable[[Sequence[bytes]], bytes]
"""Merges updates into one (the server passes pycrdt's, through a scratch document)."""


def check_name(name: str) -> str:
    """``name`` if it can name a document, else ValueError saying why.

    Path-like names (``invoices/2026/INV-0042``) are allowed; each segment starts
    with a letter, digit or underscore (so no ``..``), and the whole is at most
    200 characters of ``A-Z a-z 0-9 . _ ~ : @ + = , -`` and ``/``.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("a document name cannot be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(
            f"document name is {len(name)} characters long (at most {MAX_NAME_LENGTH})"
        )
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"document name {name!r} has a character or segment that is not allowed: use letters,"
            " digits and . _ ~ : @ + = , - in segments separated by /, each starting with a letter,"
            " digit or _"
        )
    return name


@dataclasses.dataclass(frozen=True, slots=True)
class StoredDocument:
    """What a store holds for one document."""

    epoch: int
    """The document's generation, from 1."""
    updates: tuple[bytes, ...]
    """The snapshot (if any), then every update of the log, in order."""
    log_length: int
    """How many of ``updates`` are log entries not yet compacted."""

    @property
    def empty(self) -> bool:
        """Whether nothing was ever stored for this generation."""
        return not self.updates


class Storage(abc.ABC):
    """The interface of a document store. Every method is safe to call concurrently."""

    @abc.abstractmethod
    async def load(self, name: str) -> StoredDocument:
        """Everything stored for ``name`` (an empty document at epoch 1 if nothing is)."""

    @abc.abstractmethod
    async def append(self, name: str, updates: Sequence[bytes]) -> None:
        """Add ``updates`` to the log of ``name``; durable when this returns."""

    @abc.abstractmethod
    async def compact(self, name: str, merge: Merge) -> int:
        """Merge the snapshot and log of ``name`` into a new snapshot, atomically.

        Returns how many log entries were merged (0 when there was nothing to do).
        Updates appended while ``merge`` runs stay in the log.
        """

    @abc.abstractmethod
    async def reset(self, name: str) -> int:
        """Delete the content of ``name`` and start its next epoch; returns the new epoch."""

    @abc.abstractmethod
    async def names(self) -> list[str]:
        """Every stored document name, sorted."""

    async def close(self) -> None:  # noqa: B027 - optional for stores holding nothing open
        """Release files and threads; the store is unusable afterwards."""


class MemoryStorage(Storage):
    """Documents in a dict: for tests and throwaway servers (nothing survives the process)."""

    def __init__(self) -> None:
        self._epochs: dict[str, int] = {}
        self._snapshots: dict[str, bytes] = {}
        self._logs: dict[str, list[bytes]] = {}

    async def load(self, name: str) -> StoredDocument:
        snapshot = self._snapshots.get(name)
        log = list(self._logs.get(name, ()))
        updates = ([snapshot] if snapshot is not None else []) + log
        return StoredDocument(self._epochs.get(name, 1), tuple(updates), len(log))

    async def append(self, name: str, updates: Sequence[bytes]) -> None:
        self._logs.setdefault(name, []).extend(bytes(u) for u in updates)

    async def compact(self, name: str, merge: Merge) -> int:
        log = self._logs.get(name)
        if not log:
            return 0
        count = len(log)
        snapshot = self._snapshots.get(name)
        self._snapshots[name] = merge(([snapshot] if snapshot is not None else []) + log[:count])
        del log[:count]
        return count

    async def reset(self, name: str) -> int:
        self._snapshots.pop(name, None)
        self._logs.pop(name, None)
        self._epochs[name] = self._epochs.get(name, 1) + 1
        return self._epochs[name]

    async def names(self) -> list[str]:
        return sorted(set(self._logs) | set(self._snapshots) | set(self._epochs))


class _Threaded(Storage):
    """A store whose blocking I/O runs on one thread of its own, with group commits.

    Appends waiting while a commit runs are written together by the next one, so
    many writers share one fsync.
    """

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="djed-crdt-store")
        self._pending: list[tuple[str, list[bytes], asyncio.Future[None]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._closed = False

    async def _run(self, function: Callable[..., _T], *args: Any) -> _T:
        if self._closed:
            raise RuntimeError(f"{type(self).__name__} is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def append(self, name: str, updates: Sequence[bytes]) -> None:
        if not updates:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((name, [bytes(u) for u in updates], future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self._run(self._write, [(name, updates) for name, updates, _ in batch])
            except BaseException as error:
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                if not isinstance(error, Exception):
                    raise
                continue
            for _, _, future in batch:
                if not future.done():
                    future.set_result(None)

    @abc.abstractmethod
    def _write(self, batch: list[tuple[str, list[bytes]]]) -> None:
        """Write every update of ``batch`` durably, in one commit (on the store's thread)."""

    async def close(self) -> None:
        if self._flushing is not None:
            await asyncio.gather(self._flushing, return_exceptions=True)
        self._closed = True
        self._executor.shutdown(wait=True)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS djed_documents (
    name TEXT PRIMARY KEY,
    epoch INTEGER NOT NULL DEFAULT 1,
    snapshot BLOB
);
CREATE TABLE IF NOT EXISTS djed_updates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS djed_updates_by_name ON djed_updates (name, id);
"""


def _prepare(connection: sqlite3.Connection, attempts: int = 100) -> None:
    """Switch the file to WAL and create the tables, waiting out other processes.

    Several processes opening the same new file at once race to switch it to
    WAL; SQLite answers the losers "database is locked" at once, without its busy
    timeout, so the switch is retried (on the store's own thread).
    """
    for attempt in range(attempts):
        try:
            mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(_SCHEMA)
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) and "busy" not in str(error):
                raise
            if attempt == attempts - 1:
                raise
            time.sleep(min(0.01 * (attempt + 1), 0.2))
        else:
            return


class SQLiteStorage(_Threaded):
    """Documents in one SQLite file, in WAL mode: the default store.

    >>> storage = SQLiteStorage("documents.db")

    ``durability="full"`` (the default) syncs the write-ahead log on every
    commit, so an acknowledged update survives a power cut; ``"normal"`` syncs
    at checkpoints only: still safe when the process is killed, faster, and may
    lose the last commits if the machine itself goes down. Commits are grouped
    (see :class:`Storage`).
    """

    def __init__(
        self, path: str | os.PathLike[str], *, durability: Literal["full", "normal"] = "full"
    ) -> None:
        if durability not in {"full", "normal"}:
            raise ValueError(f"durability must be 'full' or 'normal', not {durability!r}")
        super().__init__()
        self.path = Path(path)
        self.durability = durability
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            connection.execute("PRAGMA busy_timeout=30000")
            _prepare(connection)
            connection.execute(f"PRAGMA synchronous={self.durability.upper()}")
            self._connection = connection
        return self._connection

    @contextlib.contextmanager
    def _transaction(self) -> Any:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _load(self, name: str) -> StoredDocument:
        db = self._db()
        row = db.execute(
            "SELECT epoch, snapshot FROM djed_documents WHERE name = ?", (name,)
        ).fetchone()
        epoch, snapshot = (1, None) if row is None else row
        log = [
            r[0]
            for r in db.execute("SELECT data FROM djed_updates WHERE name = ? ORDER BY id", (name,))
        ]
        updates = ([bytes(snapshot)] if snapshot is not None else []) + [bytes(u) for u in log]
        return StoredDocument(epoch, tuple(updates), len(log))

    async def load(self, name: str) -> StoredDocument:
        return await self._run(self._load, name)

    def _write(self, batch: list[tuple[str, list[bytes]]]) -> None:
        rows = [(name, update) for name, updates in batch for update in updates]
        with self._transaction() as db:
            db.executemany("INSERT INTO djed_updates (name, data) VALUES (?, ?)", rows)

    def _compact(self, name: str, merge: Merge) -> int:
        with self._transaction() as db:
            row = db.execute(
                "SELECT snapshot FROM djed_documents WHERE name = ?", (name,)
            ).fetchone()
            log = db.execute(
                "SELECT id, data FROM djed_updates WHERE name = ? ORDER BY id", (name,)
            ).fetchall()
            if not log:
                return 0
            parts = ([bytes(row[0])] if row and row[0] is not None else []) + [
                bytes(d) for _, d in log
            ]
            merged = merge(parts)
            db.execute(
                "INSERT INTO djed_documents (name, snapshot) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET snapshot = excluded.snapshot",
                (name, merged),
            )
            db.execute("DELETE FROM djed_updates WHERE name = ? AND id <= ?", (name, log[-1][0]))
            return len(log)

    async def compact(self, name: str, merge: Merge) -> int:
        return await self._run(self._compact, name, merge)

    def _reset(self, name: str) -> int:
        with self._transaction() as db:
            db.execute("DELETE FROM djed_updates WHERE name = ?", (name,))
            db.execute(
                "INSERT INTO djed_documents (name, epoch, snapshot) VALUES (?, 2, NULL)"
                " ON CONFLICT (name) DO UPDATE SET epoch = epoch + 1, snapshot = NULL",
                (name,),
            )
            epoch: int = db.execute(
                "SELECT epoch FROM djed_documents WHERE name = ?", (name,)
            ).fetchone()[0]
            return epoch

    async def reset(self, name: str) -> int:
        return await self._run(self._reset, name)

    def _names(self) -> list[str]:
        db = self._db()
        rows = db.execute(
            "SELECT name FROM djed_documents"
            " UNION SELECT DISTINCT name FROM djed_updates ORDER BY 1"
        )
        return [r[0] for r in rows]

    async def names(self) -> list[str]:
        return await self._run(self._names)

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        if not self._closed:
            await self._run(self._close)
        await super().close()


_RECORD = struct.Struct(">I")


class FileStorage(_Threaded):
    """Documents as plain files in a folder, for small deployments and inspection.

    Each document has ``<name>.log`` (length-prefixed updates), ``<name>.snapshot``
    and ``<name>.epoch``. Every append is fsynced; a torn record at the end of a
    log (a crash mid-write) is ignored on load. Path-like names become sub-folders.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        super().__init__()
        self.folder = Path(folder)

    def _path(self, name: str, suffix: str) -> Path:
        return self.folder / f"{check_name(name)}{suffix}"

    def _read_log(self, name: str) -> list[bytes]:
        path = self._path(name, ".log")
        if not path.exists():
            return []
        data = path.read_bytes()
        records, position = [], 0
        while position + _RECORD.size <= len(data):
            (length,) = _RECORD.unpack_from(data, position)
            end = position + _RECORD.size + length
            if end > len(data):
                break  # torn last record: never acknowledged
            records.append(data[position + _RECORD.size : end])
            position = end
        return records

    def _epoch(self, name: str) -> int:
        path = self._path(name, ".epoch")
        return int(path.read_text()) if path.exists() else 1

    def _load(self, name: str) -> StoredDocument:
        snapshot = self._path(name, ".snapshot")
        log = self._read_log(name)
        updates = ([snapshot.read_bytes()] if snapshot.exists() else []) + log
        return StoredDocument(self._epoch(name), tuple(updates), len(log))

    async def load(self, name: str) -> StoredDocument:
        return await self._run(self._load, name)

    def _write(self, batch: list[tuple[str, list[bytes]]]) -> None:
        for name, updates in batch:
            path = self._path(name, ".log")
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("ab") as file:
                file.write(b"".join(_RECORD.pack(len(u)) + u for u in updates))
                file.flush()
                os.fsync(file.fileno())

    @staticmethod
    def _replace(path: Path, data: bytes) -> None:
        temporary = path.with_name(path.name + ".tmp")
        with temporary.open("wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(path)

    def _compact(self, name: str, merge: Merge) -> int:
        log = self._read_log(name)
        if not log:
            return 0
        snapshot = self._path(name, ".snapshot")
        parts = ([snapshot.read_bytes()] if snapshot.exists() else []) + log
        self._replace(snapshot, merge(parts))
        self._replace(self._path(name, ".log"), b"")
        return len(log)

    async def compact(self, name: str, merge: Merge) -> int:
        return await self._run(self._compact, name, merge)

    def _reset(self, name: str) -> int:
        epoch = self._epoch(name) + 1
        for suffix in (".log", ".snapshot"):
            self._path(name, suffix).unlink(missing_ok=True)
        epoch_path = self._path(name, ".epoch")
        epoch_path.parent.mkdir(parents=True, exist_ok=True)
        self._replace(epoch_path, str(epoch).encode())
        return epoch

    async def reset(self, name: str) -> int:
        return await self._run(self._reset, name)

    def _names(self) -> list[str]:
        if not self.folder.exists():
            return []
        found = set()
        for path in self.folder.rglob("*"):
            if path.suffix in {".log", ".snapshot", ".epoch"} and path.is_file():
                found.add(path.relative_to(self.folder).with_suffix("").as_posix())
        return sorted(found)

    async def names(self) -> list[str]:
        return await self._run(self._names)
