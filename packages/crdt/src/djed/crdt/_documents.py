"""Documents by name with a declared shape, straight from a store (no server needed).

>>> store = DocumentStore(SQLiteStorage("documents.db"),
...                       collections={"invoice": "map", "lines": "array", "notes": "text"})
>>> async with store.open("invoice-42") as invoice:
...     invoice["invoice"]["status"] = "paid"
...     invoice["lines"].append({"sku": "A1", "cents": cents("12.50")})

For scripts, batch jobs and tests. While a :class:`SyncServer` serves the same
documents, change them through ``server.edit`` instead, so connected clients
see the change live; edits saved here reach them the next time the document
loads (or when another process's fan-out announces them).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from pycrdt import Doc, Subscription

from ._shape import Shape, snapshot
from ._storage import Storage, check_name

__all__ = ["Document", "DocumentStore"]


class Document:
    """One opened document: its typed collections, and what changed since it was saved."""

    def __init__(self, store: DocumentStore, name: str, doc: Doc[Any], epoch: int) -> None:
        self.store = store
        self.name = name
        self.doc = doc
        self.epoch = epoch
        self.collections = store.shape.bind(doc)
        self._changes: list[bytes] = []
        self._subscription: Subscription | None = doc.observe(
            lambda event: self._changes.append(event.update)
        )

    def __getitem__(self, collection: str) -> Any:
        """The typed collection ``collection`` (a pycrdt Map, Array or Text).

        Raises:
            KeyError: The shape declares no such collection (naming those it does).
        """
        try:
            return self.collections[collection]
        except KeyError:
            known = ", ".join(sorted(self.collections))
            raise KeyError(f"no collection {collection!r} in this shape (known: {known})") from None

    def to_dict(self) -> dict[str, Any]:
        """The document as plain data, collection by collection."""
        return snapshot(self.doc, self.store.shape)

    @property
    def unsaved(self) -> int:
        """How many transactions changed the document since it was last saved."""
        return len(self._changes)

    async def save(self) -> int:
        """Append the changes made since the last save to the store; returns how many.

        Raises:
            ValueError: A change breaks the shape (nothing is stored then).
        """
        changes, self._changes = self._changes, []
        for change in changes:
            problems = self.store.shape.violations(change)
            if problems:
                self._changes = changes
                raise ValueError(f"document {self.name!r}: " + "; ".join(problems))
        if changes:
            await self.store.storage.append(self.name, changes)
        return len(changes)

    def close(self) -> None:
        """Stop recording changes (unsaved ones are dropped)."""
        if self._subscription is not None:
            self.doc.unobserve(self._subscription)
            self._subscription = None


class DocumentStore:
    """Open documents of one shape from a :class:`Storage`.

    Args:
        storage: Where the documents live (the same store a server uses).
        collections: The shape: collection names and kinds (``map``, ``array``, ``text``).
        strict: Refuse collections the shape does not name.
    """

    def __init__(
        self, storage: Storage, *, collections: Mapping[str, str], strict: bool = False
    ) -> None:
        self.storage = storage
        self.shape = Shape(collections, strict=strict)

    async def load(self, name: str) -> Document:
        """Document ``name`` as stored (an empty one if nothing is); call ``save`` to keep edits."""
        stored = await self.storage.load(check_name(name))
        doc: Doc[Any] = Doc()
        with doc.transaction():
            for update in stored.updates:
                doc.apply_update(update)
        return Document(self, name, doc, stored.epoch)

    @contextlib.asynccontextmanager
    async def open(self, name: str) -> AsyncIterator[Document]:
        """Document ``name``, saved when the block ends without an error."""
        document = await self.load(name)
        try:
            yield document
            await document.save()
        finally:
            document.close()

    async def read(self, name: str) -> dict[str, Any]:
        """Document ``name`` as plain data."""
        document = await self.load(name)
        try:
            return document.to_dict()
        finally:
            document.close()
