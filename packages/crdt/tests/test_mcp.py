"""An AI agent edits documents through MCP tools; people connected see the edits live."""

from __future__ import annotations

import json
from typing import Any

import pytest
from djed.crdt import MemoryStorage, SyncServer
from djed.crdt._mcp import expose_documents
from djed.mcp_base import create_server
from djed.mcp_base.testing import MODES, connect
from pycrdt import Array, Map, Text

from ._support import RawClient, serving

SHAPE = {"invoice": "map", "lines": "array", "notes": "text"}


def agent_server(sync: SyncServer, **options: Any) -> Any:
    mcp = create_server("invoices", version="1.0.0")
    expose_documents(mcp, sync, **options)
    return mcp


@pytest.mark.asyncio
class TestAgentEdits:
    @pytest.mark.parametrize("mode", MODES)
    async def test_edits_merge_live_with_a_person(self, mode: str) -> None:
        sync = SyncServer(MemoryStorage(), shape=SHAPE)
        async with serving(sync) as url, RawClient(f"{url}/inv-7") as person:
            await person.synced.wait()
            person.doc.get("notes", type=Text).insert(0, "Thanks for your business")
            await person.push()
            async with connect(agent_server(sync), mode) as agent:
                await agent.call_tool(
                    "set_fields",
                    {"document": "inv-7", "collection": "invoice", "fields": {"status": "sent"}},
                )
                await agent.call_tool(
                    "insert_items",
                    {"document": "inv-7", "collection": "lines", "items": [{"cents": 1250}]},
                )
                await person.wait_for(lambda: "Thanks" in str(person.doc.get("notes", type=Text)))
                await agent.call_tool(
                    "edit_text",
                    {"document": "inv-7", "collection": "notes", "index": 0, "insert": "¡"},
                )
                await person.wait_for(
                    lambda: person.doc.get("invoice", type=Map).get("status") == "sent"
                )
                await person.wait_for(
                    lambda: str(person.doc.get("notes", type=Text)) == "¡Thanks for your business"
                )
                assert person.doc.get("lines", type=Array).to_py() == [{"cents": 1250.0}]
                read = await agent.call_tool("read_document", {"document": "inv-7"})
                resource = await agent.read_resource("crdt://documents/inv-7")
        expected = {
            "invoice": {"status": "sent"},
            "lines": [{"cents": 1250.0}],
            "notes": "¡Thanks for your business",
        }
        assert read.structured_content == expected
        assert json.loads(resource.contents[0].text) == expected

    async def test_mistakes_are_tool_errors(self) -> None:
        sync = SyncServer(MemoryStorage(), shape=SHAPE)
        async with serving(sync), connect(agent_server(sync)) as agent:
            wrong_kind = await agent.call_tool(
                "set_fields", {"document": "d", "collection": "lines", "fields": {"a": 1}}
            )
            out_of_range = await agent.call_tool(
                "delete_items", {"document": "d", "collection": "lines", "index": 3}
            )
            bad_name = await agent.call_tool("read_document", {"document": "../x"})
        assert wrong_kind.is_error
        assert "collection 'lines' is a array, not a map" in wrong_kind.content[0].text
        assert out_of_range.is_error
        assert "index 3 is outside 0..-1" in out_of_range.content[0].text
        assert bad_name.is_error
        assert "not allowed" in bad_name.content[0].text

    async def test_read_only_exposes_no_edit_tools(self) -> None:
        sync = SyncServer(MemoryStorage())
        async with serving(sync), connect(agent_server(sync, read_only=True)) as agent:
            tools = {tool.name for tool in (await agent.list_tools()).tools}
        assert tools == {"list_documents", "read_document"}
