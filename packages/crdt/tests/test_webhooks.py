"""Signed webhooks delivered to a real HTTP server on loopback, with retries."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from djed.crdt import MemoryStorage, SyncServer
from djed.crdt._webhooks import SIGNATURE_HEADER, SignatureError, Webhook, sign, verify_signature
from pycrdt import Doc, Text

from ._support import RawClient, serve

SECRET = "s3cret"


class Receiver:
    """An HTTP server answering with the next status of ``statuses`` and recording bodies."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[tuple[bytes, str | None]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((body, self.headers.get(SIGNATURE_HEADER)))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    @classmethod
    @contextlib.contextmanager
    def running(cls, statuses: list[int]) -> Iterator[Receiver]:
        receiver = cls(statuses)
        thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield receiver
        finally:
            receiver.server.shutdown()
            receiver.server.server_close()


def document(text: str) -> Doc[Any]:
    doc: Doc[Any] = Doc()
    doc.get("notes", type=Text).insert(0, text)
    return doc


@pytest.mark.asyncio
class TestDelivery:
    async def test_signed_notice_is_verifiable(self) -> None:
        with Receiver.running([]) as receiver:
            hook = Webhook(receiver.url, SECRET)
            assert await hook("inv-1", document("x"))
            ((body, header),) = receiver.received
            verify_signature(SECRET, body, header)
            notice = json.loads(body)
            assert (notice["event"], notice["document"]) == ("change", "inv-1")
            assert hook.delivered == 1

    async def test_retries_server_errors_then_succeeds(self) -> None:
        with Receiver.running([500, 503]) as receiver:
            hook = Webhook(receiver.url, SECRET, retries=3, backoff=0.01)
            assert await hook("doc", document("x"))
            assert len(receiver.received) == 3

    async def test_client_errors_are_not_retried(self, caplog: pytest.LogCaptureFixture) -> None:
        with Receiver.running([400]) as receiver:
            hook = Webhook(receiver.url, SECRET, retries=3, backoff=0.01)
            assert not await hook("doc", document("x"))
            assert len(receiver.received) == 1
            assert hook.failed == 1
            assert "failed after 1 attempt(s): HTTP 400" in caplog.text

    async def test_unreachable_receiver_gives_up(self) -> None:
        hook = Webhook("http://127.0.0.1:9/hooks", SECRET, retries=2, backoff=0.01, timeout=1)
        assert not await hook("doc", document("x"))
        assert hook.failed == 1

    async def test_as_a_debounced_change_hook(self) -> None:
        with Receiver.running([]) as receiver:
            server_hook = Webhook(receiver.url, SECRET)
            server = SyncServer(MemoryStorage(), on_change=server_hook, change_debounce=0.1)
            with serve(server) as url:
                async with RawClient(f"{url}/inv-9") as client:
                    notes = client.doc.get("notes", type=Text)
                    for word in ("a", "b", "c"):
                        notes.insert(len(notes), word)
                        await client.push()
                    await client.wait_for(lambda: server_hook.delivered == 1)
            (body, _header), *others = receiver.received
            assert not others
            assert json.loads(body)["document"] == "inv-9"


class TestSignatures:
    def test_tampered_body(self) -> None:
        header = sign(SECRET, b'{"a":1}')
        with pytest.raises(SignatureError, match="does not match"):
            verify_signature(SECRET, b'{"a":2}', header)

    def test_stale_timestamp(self) -> None:
        header = sign(SECRET, b"{}", int(time.time()) - 3600)
        with pytest.raises(SignatureError, match="more than 300 s away"):
            verify_signature(SECRET, b"{}", header)

    @pytest.mark.parametrize("header", [None, "", "v1=abc", "t=x,v1=abc"])
    def test_malformed_header(self, header: str | None) -> None:
        with pytest.raises(SignatureError, match=r"missing|malformed"):
            verify_signature(SECRET, b"{}", header)

    def test_webhook_arguments(self) -> None:
        with pytest.raises(ValueError, match="http"):
            Webhook("ftp://example.com", SECRET)
        with pytest.raises(ValueError, match="secret"):
            Webhook("https://example.com", "")
