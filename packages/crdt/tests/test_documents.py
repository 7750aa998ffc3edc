"""DocumentStore: documents by name and shape, straight from a store; and mounting the server."""

from __future__ import annotations

from pathlib import Path

import pytest
from djed.crdt import DocumentStore, MemoryStorage, SQLiteStorage, SyncServer, cents
from djed.mcp_base import build_app, create_server
from pycrdt import Map, Text
from starlette.routing import Mount

from ._support import RawClient, serving

SHAPE = {"invoice": "map", "lines": "array", "notes": "text"}


@pytest.mark.asyncio
class TestDocumentStore:
    async def test_open_edit_save_reload(self, tmp_path: Path) -> None:
        storage = SQLiteStorage(tmp_path / "docs.db")
        store = DocumentStore(storage, collections=SHAPE)
        async with store.open("invoice-42") as invoice:
            invoice["invoice"]["status"] = "draft"
            invoice["lines"].append({"sku": "A1", "cents": cents("12.50")})
            invoice["notes"].insert(0, "Net 30")
            assert invoice.unsaved == 3
        assert await store.read("invoice-42") == {
            "invoice": {"status": "draft"},
            "lines": [{"sku": "A1", "cents": 1250.0}],
            "notes": "Net 30",
        }
        await storage.close()

    async def test_a_server_on_the_same_store_sees_saved_edits(self) -> None:
        storage = MemoryStorage()
        store = DocumentStore(storage, collections=SHAPE)
        async with store.open("inv") as invoice:
            invoice["notes"].insert(0, "from a batch job")
        server = SyncServer(storage, shape=SHAPE)
        assert (await server.read("inv"))["notes"] == "from a batch job"

    async def test_unknown_collection_and_shape_violations(self) -> None:
        store = DocumentStore(MemoryStorage(), collections=SHAPE, strict=True)
        document = await store.load("inv")
        with pytest.raises(KeyError, match="no collection 'total' in this shape"):
            document["total"]
        document.doc.get("extra", type=Map)["x"] = 1
        with pytest.raises(ValueError, match="collection 'extra' is not in the shape"):
            await document.save()
        assert document.unsaved == 1  # kept, for the caller to fix or drop
        assert (await store.storage.load("inv")).empty
        document.close()


@pytest.mark.asyncio
async def test_mounted_in_the_mcp_http_app() -> None:
    """The sync routes join djed-mcp-base's HTTP app; the server starts on first use."""
    sync = SyncServer(MemoryStorage())
    app = build_app(create_server("invoices"), allowed_hosts=["127.0.0.1:*"], metrics=False)
    app.router.routes.append(Mount("/sync", routes=sync.routes()))
    try:
        async with serving(app) as url:
            async with RawClient(f"{url}/sync/inv") as a, RawClient(f"{url}/sync/inv") as b:
                a.doc.get("notes", type=Text).insert(0, "mounted")
                await a.push()
                await b.wait_for(lambda: str(b.doc.get("notes", type=Text)) == "mounted")
                assert sync._janitor is not None  # keepalives and unloading run
    finally:
        await sync.stop()
