"""The y-websocket wire protocol: parse and build messages, strictly and with bounds.

Every WebSocket message is binary and holds one protocol message: a varuint
type, then its payload. lib0's encodings: a varuint is LEB128 (7 bits a byte,
low first); a byte array is its varuint length, then the bytes.

====  ==================  ========================================================
type  name                payload
====  ==================  ========================================================
0     sync                varuint substep (0 step 1, 1 step 2, 2 update), byte array
1     awareness           byte array: varuint n, then n x (client id, clock, JSON)
2     auth                server to client only: varuint 0 (denied), string reason
3     query awareness     nothing: "send me every awareness state you know"
====  ==================  ========================================================

Parsing never trusts a length: a message that is truncated, has bytes left
over, or names an unknown type raises :class:`ProtocolError`, which says what
was wrong and where.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable

__all__ = [
    "AWARENESS",
    "QUERY_AWARENESS",
    "SYNC",
    "SYNC_STEP1",
    "SYNC_STEP2",
    "SYNC_UPDATE",
    "AwarenessEntry",
    "Message",
    "ProtocolError",
    "awareness_message",
    "parse",
    "parse_awareness",
    "sync_step1",
    "sync_step2",
    "update_message",
    "varuint",
]

SYNC = 0
AWARENESS = 1
AUTH = 2
QUERY_AWARENESS = 3

SYNC_STEP1 = 0
SYNC_STEP2 = 1
SYNC_UPDATE = 2

_MAX_VARUINT_BYTES = 8  # 56 bits: far beyond any length a message can carry
_NAMES = {SYNC: "sync", AWARENESS: "awareness", AUTH: "auth", QUERY_AWARENESS: "query-awareness"}
_SUBSTEPS = {SYNC_STEP1: "step 1", SYNC_STEP2: "step 2", SYNC_UPDATE: "update"}


class ProtocolError(ValueError):
    """A message that does not follow the y-websocket protocol; says what and at which byte."""


@dataclasses.dataclass(frozen=True, slots=True)
class Message:
    """One parsed message: its type, its sync substep (sync only) and its payload."""

    kind: int
    substep: int | None
    payload: bytes

    @property
    def name(self) -> str:
        """``"sync step 1"``, ``"awareness"``..., for logs and errors."""
        name = _NAMES[self.kind]
        return name if self.substep is None else f"{name} {_SUBSTEPS[self.substep]}"


@dataclasses.dataclass(frozen=True, slots=True)
class AwarenessEntry:
    """One client's presence in an awareness message; ``state`` None means it left."""

    client_id: int
    clock: int
    state_json: str

    @property
    def removed(self) -> bool:
        """Whether this entry says the client is gone (its state is JSON ``null``)."""
        return self.state_json == "null"


def varuint(number: int) -> bytes:
    """``number`` as a lib0 varuint."""
    if number < 0:
        raise ValueError(f"a varuint cannot be negative: {number}")
    out = bytearray()
    while True:
        byte = number & 0x7F
        number >>= 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class _Reader:
    __slots__ = ("data", "position", "what")

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.position = 0
        self.what = what

    def fail(self, problem: str) -> ProtocolError:
        return ProtocolError(f"{self.what}: {problem} at byte {self.position}")

    def varuint(self) -> int:
        number = 0
        for shift in range(0, 7 * _MAX_VARUINT_BYTES, 7):
            if self.position >= len(self.data):
                raise self.fail("truncated number")
            byte = self.data[self.position]
            self.position += 1
            number |= (byte & 0x7F) << shift
            if byte < 0x80:
                return number
        raise self.fail("number longer than 8 bytes")

    def array(self) -> bytes:
        length = self.varuint()
        end = self.position + length
        if end > len(self.data):
            raise self.fail(f"length {length} runs past the end ({len(self.data)} bytes)")
        chunk = self.data[self.position : end]
        self.position = end
        return chunk

    def string(self) -> str:
        raw = self.array()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail("string is not UTF-8") from None

    def end(self) -> None:
        if self.position != len(self.data):
            left = len(self.data) - self.position
            raise self.fail(f"{left} unexpected byte(s) after the message")


def parse(data: bytes) -> Message:
    """Parse one client-to-server message.

    Raises:
        ProtocolError: Empty, truncated, over-long, or of a type a client does not send.
    """
    if not data:
        raise ProtocolError("message: empty")
    reader = _Reader(data, "message")
    kind = reader.varuint()
    if kind == SYNC:
        substep = reader.varuint()
        if substep not in _SUBSTEPS:
            raise reader.fail(f"unknown sync substep {substep}")
        reader.what = f"sync {_SUBSTEPS[substep]}"
        payload = reader.array()
        reader.end()
        return Message(SYNC, substep, payload)
    if kind == AWARENESS:
        reader.what = "awareness"
        payload = reader.array()
        reader.end()
        return Message(AWARENESS, None, payload)
    if kind == QUERY_AWARENESS:
        reader.what = "query-awareness"
        reader.end()
        return Message(QUERY_AWARENESS, None, b"")
    if kind == AUTH:
        raise ProtocolError("message: type 2 (auth) is sent by servers, not clients")
    raise ProtocolError(f"message: unknown type {kind}")


def parse_awareness(payload: bytes, *, max_entries: int = 10_000) -> list[AwarenessEntry]:
    """The entries of an awareness payload; each state must be JSON.

    Raises:
        ProtocolError: Malformed, too many entries, or a state that is not JSON.
    """
    reader = _Reader(payload, "awareness")
    count = reader.varuint()
    if count > max_entries:
        raise reader.fail(f"{count} entries (at most {max_entries})")
    entries = []
    for _ in range(count):
        client_id = reader.varuint()
        clock = reader.varuint()
        state = reader.string()
        try:
            json.loads(state)
        except ValueError:
            raise reader.fail(f"state of client {client_id} is not JSON") from None
        entries.append(AwarenessEntry(client_id, clock, state))
    reader.end()
    return entries


def _array(data: bytes) -> bytes:
    return varuint(len(data)) + data


def sync_step1(state_vector: bytes) -> bytes:
    """A sync step 1: "here is what I have" (a state vector)."""
    return b"\x00\x00" + _array(state_vector)


def sync_step2(update: bytes) -> bytes:
    """A sync step 2: what the other side lacks, answering its step 1."""
    return b"\x00\x01" + _array(update)


def update_message(update: bytes) -> bytes:
    """A sync update: one change, to apply."""
    return b"\x00\x02" + _array(update)


def awareness_message(entries: Iterable[AwarenessEntry]) -> bytes:
    """An awareness message carrying ``entries``."""
    body = bytearray()
    items = list(entries)
    body += varuint(len(items))
    for entry in items:
        body += varuint(entry.client_id)
        body += varuint(entry.clock)
        body += _array(entry.state_json.encode("utf-8"))
    return b"\x01" + _array(bytes(body))
