"""Documents for AI agents: MCP resources and tools whose edits merge live with people's.

>>> from djed.mcp_base import create_server
>>> mcp = create_server("invoices", version="1.0.0")
>>> expose_documents(mcp, sync_server)

An agent reads a document as JSON (the ``read_document`` tool, or the resource
``crdt://documents/{name}``) and edits it with structured tools. Each edit is
one CRDT transaction on the server's replica, stored and then sent to every
connected browser, merging with whatever people type at the same moment.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from pycrdt import Array, Doc, Map, Text

from ._shape import KINDS, utf8_offset

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from ._server import SyncServer

__all__ = ["expose_documents"]

_T = TypeVar("_T")
_JSON = str | int | float | bool | None | list[Any] | dict[str, Any]


def _collection(server: SyncServer, doc: Doc[Any], name: str, kind: str) -> Any:
    """Collection ``name`` of ``doc`` as ``kind``; a ValueError naming the mismatch otherwise."""
    declared = server.shape.collections.get(name) if server.shape is not None else None
    if declared is not None and declared != kind:
        raise ValueError(f"collection {name!r} is a {declared}, not a {kind}")
    if server.shape is not None and server.shape.strict and declared is None:
        raise ValueError(f"collection {name!r} is not in the document's shape")
    return doc.get(name, type=KINDS[kind])


async def _anticipated(work: Awaitable[_T]) -> _T:
    """``work``'s result; a ValueError (a caller's mistake) becomes a tool error the model reads."""
    from mcp.server.mcpserver.exceptions import ToolError  # noqa: PLC0415 - the mcp extra

    try:
        return await work
    except ValueError as error:
        raise ToolError(str(error)) from error


def _index(value: int, size: int, what: str, *, end_ok: bool) -> int:
    top = size if end_ok else size - 1
    if not 0 <= value <= top:
        raise ValueError(f"{what} {value} is outside 0..{top}")
    return value


def expose_documents(
    mcp: MCPServer, server: SyncServer, *, prefix: str = "", read_only: bool = False
) -> None:
    """Register document resources and tools on ``mcp`` (any SDK ``MCPServer``).

    Tools (names prefixed with ``prefix``): ``list_documents``, ``read_document``,
    and unless ``read_only``: ``set_fields`` (map), ``insert_items`` and
    ``delete_items`` (array), ``edit_text`` (text, with character positions as
    Python and JSON count them). A wrong collection kind, an index out of range
    or a value a document cannot hold is answered as a tool error saying which.
    """

    @mcp.tool(name=f"{prefix}list_documents")
    async def list_documents() -> list[str]:
        """The names of every stored document."""
        return await server.storage.names()

    @mcp.tool(name=f"{prefix}read_document")
    async def read_document(document: str) -> dict[str, Any]:
        """A document as JSON: each collection (map, list or text) by name."""
        return await _anticipated(server.read(document))

    @mcp.resource(
        "crdt://documents/{name}",
        name=f"{prefix}document",
        mime_type="application/json",
        description="A collaborative document as JSON.",
    )
    async def document_resource(name: str) -> str:
        from mcp.server.mcpserver.exceptions import ResourceError  # noqa: PLC0415

        try:
            return json.dumps(await server.read(name))
        except ValueError as error:
            raise ResourceError(str(error)) from error

    if read_only:
        return

    @mcp.tool(name=f"{prefix}set_fields")
    async def set_fields(document: str, collection: str, fields: dict[str, _JSON]) -> bool:
        """Set keys of a map collection (a null value deletes the key); True if it changed."""

        def change(doc: Doc[Any]) -> None:
            target: Map[Any] = _collection(server, doc, collection, "map")
            for key, value in fields.items():
                if value is None:
                    target.pop(key, None)
                else:
                    target[key] = value

        return await _anticipated(server.edit(document, change))

    @mcp.tool(name=f"{prefix}insert_items")
    async def insert_items(
        document: str, collection: str, items: list[_JSON], index: int | None = None
    ) -> bool:
        """Insert items into a list collection at ``index`` (appended when omitted)."""

        def change(doc: Doc[Any]) -> None:
            target: Array[Any] = _collection(server, doc, collection, "array")
            at = len(target) if index is None else _index(index, len(target), "index", end_ok=True)
            for offset, item in enumerate(items):
                target.insert(at + offset, item)

        return await _anticipated(server.edit(document, change))

    @mcp.tool(name=f"{prefix}delete_items")
    async def delete_items(document: str, collection: str, index: int, count: int = 1) -> bool:
        """Delete ``count`` items of a list collection from ``index``."""

        def change(doc: Doc[Any]) -> None:
            target: Array[Any] = _collection(server, doc, collection, "array")
            _index(index, len(target), "index", end_ok=False)
            if count < 1 or index + count > len(target):
                raise ValueError(f"cannot delete {count} item(s) from {index} of {len(target)}")
            del target[index : index + count]

        return await _anticipated(server.edit(document, change))

    @mcp.tool(name=f"{prefix}edit_text")
    async def edit_text(
        document: str, collection: str, index: int, delete: int = 0, insert: str = ""
    ) -> bool:
        """Replace ``delete`` characters at ``index`` of a text collection by ``insert``."""

        def change(doc: Doc[Any]) -> None:
            target: Text = _collection(server, doc, collection, "text")
            current = str(target)
            _index(index, len(current), "index", end_ok=True)
            if delete < 0 or index + delete > len(current):
                raise ValueError(f"cannot delete {delete} character(s) from {index}")
            start = utf8_offset(current, index)
            if delete:
                del target[start : utf8_offset(current, index + delete)]
            if insert:
                target.insert(start, insert)

        return await _anticipated(server.edit(document, change))
