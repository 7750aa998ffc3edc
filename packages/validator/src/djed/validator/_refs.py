"""``$ref`` resolution without network or file access.

Every reference must resolve inside the schema itself or inside the
``resources=`` mapping given by the caller. Nothing is ever fetched: a
reference to anything else is a :class:`SchemaError` at compile time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn
from urllib.parse import unquote, urldefrag

from ._drafts import FAST_DRAFTS, Draft, detect_draft
from ._errors import SchemaError
from ._inspect import SchemaIndex, inspect_schema

__all__ = ["NO_FETCH", "build_store", "check_refs", "resolve_pointer"]


def _refuse(uri: str) -> NoReturn:
    msg = (
        f"$ref {uri!r} points outside the schema; references are never fetched from the "
        f"network or the file system: pass resources={{{uri!r}: schema}} to allow it"
    )
    raise SchemaError(msg)


class _RefuseEveryScheme(dict[str, Any]):
    """A handler map that claims every URI scheme, so fastjsonschema never opens a URL."""

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: str) -> Any:
        return _refuse


NO_FETCH: Mapping[str, Any] = _RefuseEveryScheme()


def resolve_pointer(document: Any, fragment: str) -> Any:
    """Follow a JSON Pointer fragment (``/a/0/b``) inside ``document``; KeyError if absent."""
    node = document
    for raw in unquote(fragment).split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            if not token.isdigit() or int(token) >= len(node):
                raise KeyError(token)
            node = node[int(token)]
        elif isinstance(node, dict) and token in node:
            node = node[token]
        else:
            raise KeyError(token)
    return node


def build_store(
    schema: Any, index: SchemaIndex, resources: Mapping[str, Any] | None, draft: Draft
) -> dict[str, Any]:
    """Map every URI the schema can reach to its schema: embedded ``$id``s and caller resources.

    Only the resources actually referenced (directly or through each other) are
    checked and compiled in; each is inspected like the schema itself.
    """
    available: dict[str, Any] = {}
    for uri, document in (resources or {}).items():
        if not isinstance(uri, str):
            raise SchemaError(f"resources keys must be URI strings, not {type(uri).__name__}")
        available[urldefrag(uri)[0]] = document
    store: dict[str, Any] = dict(index.resources)
    if index.base_uri:
        store[index.base_uri] = schema
    pending = list(index.refs)
    while pending:
        absolute, _written, _where = pending.pop()
        uri = urldefrag(absolute)[0]
        if not uri or uri in store or uri not in available:
            continue
        document = available[uri]
        sub_draft = detect_draft(document, None) if _declares_schema(document) else draft
        if sub_draft != draft and draft in FAST_DRAFTS and sub_draft not in FAST_DRAFTS:
            msg = f"resource {uri} is a draft {sub_draft} schema, but the schema is draft {draft}"
            raise SchemaError(msg)
        sub_index = inspect_schema(document, draft, base_uri=uri)
        store.update(sub_index.resources)
        store[uri] = document
        index.documents[uri] = document
        index.anchors.update(sub_index.anchors)
        pending.extend(sub_index.refs)
        index.refs.extend(sub_index.refs)
        index.patterns.extend(sub_index.patterns)
        index.uses_formats = index.uses_formats or sub_index.uses_formats
    return store


def _declares_schema(document: Any) -> bool:
    return isinstance(document, dict) and isinstance(document.get("$schema"), str)


def check_refs(schema: Any, index: SchemaIndex, store: Mapping[str, Any]) -> None:
    """Raise SchemaError, naming the place, for the first reference that does not resolve."""
    for absolute, written, where in index.refs:
        uri, fragment = urldefrag(absolute)
        if absolute in store:
            continue
        document = schema if uri in {"", index.base_uri} else store.get(uri)
        if document is None:
            msg = (
                f"$ref {written!r} points outside the schema ({uri}); references are never "
                f"fetched from the network or the file system: pass resources={{{uri!r}: ...}}"
            )
            raise SchemaError(msg, location=where)
        if fragment and not fragment.startswith("/"):
            raise SchemaError(f"$ref {written!r} names no known $id", location=where)
        try:
            resolve_pointer(document, fragment)
        except KeyError as exc:
            msg = f"$ref {written!r} does not resolve: no {exc.args[0]!r} at that place"
            raise SchemaError(msg, location=where) from None
