"""Collaborative, offline-first documents on pycrdt, wire-compatible with Yjs.

>>> from djed.crdt import SQLiteStorage, SyncServer
>>> app = SyncServer(SQLiteStorage("documents.db")).app  # ws://host:port/<document>
"""

from __future__ import annotations

from ._client import ClientStatus, SyncClient, SyncClosedError, Traffic
from ._documents import Document, DocumentStore
from ._mcp import expose_documents
from ._plugins import BUILT_IN_STORES, PluginError, open_store, store_names
from ._protocol import ProtocolError
from ._redis import RedisFanOut
from ._server import (
    CLOSE_BAD_MESSAGE,
    CLOSE_FORBIDDEN,
    CLOSE_RATE,
    CLOSE_RESET,
    CLOSE_SHAPE,
    CLOSE_TOO_BIG,
    CLOSE_UNAUTHORIZED,
    RESET_REASON,
    Access,
    AuthRequest,
    Limits,
    Room,
    SyncServer,
)
from ._shape import Shape, cents, from_cents, money, snapshot, utf8_offset
from ._storage import FileStorage, MemoryStorage, SQLiteStorage, Storage, StoredDocument
from ._webhooks import SIGNATURE_HEADER, SignatureError, Webhook, verify_signature

__all__ = [
    "BUILT_IN_STORES",
    "CLOSE_BAD_MESSAGE",
    "CLOSE_FORBIDDEN",
    "CLOSE_RATE",
    "CLOSE_RESET",
    "CLOSE_SHAPE",
    "CLOSE_TOO_BIG",
    "CLOSE_UNAUTHORIZED",
    "RESET_REASON",
    "SIGNATURE_HEADER",
    "Access",
    "AuthRequest",
    "ClientStatus",
    "Document",
    "DocumentStore",
    "FileStorage",
    "Limits",
    "MemoryStorage",
    "PluginError",
    "ProtocolError",
    "RedisFanOut",
    "Room",
    "SQLiteStorage",
    "Shape",
    "SignatureError",
    "Storage",
    "StoredDocument",
    "SyncClient",
    "SyncClosedError",
    "SyncServer",
    "Traffic",
    "Webhook",
    "cents",
    "expose_documents",
    "from_cents",
    "money",
    "open_store",
    "snapshot",
    "store_names",
    "utf8_offset",
    "verify_signature",
]


def __getattr__(name: str) -> str:
    if name == "__version__":
        from importlib.metadata import version  # noqa: PLC0415 - only when asked

        return version("djed-crdt")
    msg = f"module 'djed.crdt' has no attribute {name!r}"
    raise AttributeError(msg)
