"""Signed webhooks: tell another service a document changed, with retries.

>>> server = SyncServer(storage, on_change=Webhook("https://erp.example.com/hooks/crdt", secret))

Each call POSTs JSON ``{"event", "document", "state_vector", "sent_at"}`` with the
header ``X-Djed-Signature: t=<unix seconds>,v1=<hex>``, where the hex is
HMAC-SHA256 of ``"<t>.<body>"`` under the shared secret. Receivers check it with
:func:`verify_signature`, which also refuses stale timestamps (replays).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import random
import time
import urllib.error
import urllib.request
from typing import Any

from pycrdt import Doc

__all__ = ["SIGNATURE_HEADER", "SignatureError", "Webhook", "sign", "verify_signature"]

SIGNATURE_HEADER = "X-Djed-Signature"
_log = logging.getLogger("djed.crdt")


class SignatureError(ValueError):
    """A webhook signature header that is missing, malformed, wrong or too old."""


def sign(secret: str | bytes, body: bytes, timestamp: int | None = None) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (now by default)."""
    key = secret.encode() if isinstance(secret, str) else secret
    stamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(key, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def verify_signature(
    secret: str | bytes, body: bytes, header: str | None, *, tolerance: float = 300.0
) -> None:
    """Check a received webhook; returns None or raises :class:`SignatureError` saying why.

    Args:
        secret: The shared secret.
        body: The raw request body, byte for byte.
        header: The ``X-Djed-Signature`` header value.
        tolerance: Seconds a signature stays valid, against replays.
    """
    if not header:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    stamp, given = parts.get("t"), parts.get("v1")
    if stamp is None or given is None or not stamp.isdigit():
        raise SignatureError(f"malformed {SIGNATURE_HEADER} header: expected t=<seconds>,v1=<hex>")
    if abs(time.time() - int(stamp)) > tolerance:
        raise SignatureError(f"signature timestamp {stamp} is more than {tolerance:g} s away")
    expected = sign(secret, body, int(stamp)).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, given):
        raise SignatureError("signature does not match the body")


class Webhook:
    """An ``on_change`` (or ``on_load``/``on_store``) hook that POSTs a signed notice.

    A failed delivery (a network error, a timeout, a 5xx or 429 answer) is retried
    with exponential backoff and jitter, ``retries`` times; a 4xx answer is not
    retried. Deliveries run in the background and never hold up a document.

    Args:
        url: Where to POST.
        secret: The HMAC key shared with the receiver.
        event: The ``event`` field of the body.
        retries: Further attempts after the first.
        timeout: Seconds per attempt.
        backoff: Seconds before the first retry; doubles each time, capped at 60.
    """

    def __init__(
        self,
        url: str,
        secret: str | bytes,
        *,
        event: str = "change",
        retries: int = 5,
        timeout: float = 5.0,
        backoff: float = 0.5,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook url must be http(s), not {url!r}")
        if not secret:
            raise ValueError("a webhook needs a non-empty secret")
        self.url = url
        self.secret = secret
        self.event = event
        self.retries = retries
        self.timeout = timeout
        self.backoff = backoff
        self.delivered = 0
        self.failed = 0

    def __repr__(self) -> str:
        return f"Webhook({self.url!r}, event={self.event!r})"

    def body(self, name: str, doc: Doc[Any]) -> bytes:
        """The JSON body sent for ``name``."""
        notice = {
            "event": self.event,
            "document": name,
            "state_vector": base64.b64encode(doc.get_state()).decode(),
            "sent_at": time.time(),
        }
        return json.dumps(notice, separators=(",", ":")).encode()

    async def __call__(self, name: str, doc: Doc[Any]) -> bool:
        """Deliver a notice about ``name``; True once the receiver answered 2xx."""
        body = self.body(name, doc)
        delay = self.backoff
        for attempt in range(self.retries + 1):
            outcome = await asyncio.to_thread(self._post, body)
            if outcome is None:
                self.delivered += 1
                return True
            retry, why = outcome
            if not retry or attempt == self.retries:
                self.failed += 1
                _log.error(
                    "webhook %s for %r failed after %d attempt(s): %s",
                    self.url,
                    name,
                    attempt + 1,
                    why,
                )
                return False
            await asyncio.sleep(min(delay, 60.0) * (0.5 + random.random() / 2))  # noqa: S311 - jitter
            delay *= 2
        return False  # pragma: no cover - the loop always returns

    def _post(self, body: bytes) -> tuple[bool, str] | None:
        """POST once; None on success, else (whether to retry, why)."""
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(self.secret, body)},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                response.read()
                return None
        except urllib.error.HTTPError as error:
            return error.code >= 500 or error.code == 429, f"HTTP {error.code}"
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            return True, str(getattr(error, "reason", error))
