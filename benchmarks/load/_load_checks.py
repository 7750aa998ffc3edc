"""The judgements of the load tests, apart so that they can be tested on made-up data.

* :func:`replay`: whether a CRDT load run lost anything, from its journal;
* :func:`crossing`: where a latency ramp crossed its limit.
"""

from __future__ import annotations

import base64
import collections
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

from pycrdt import Doc, Text

MARKER = re.compile(r"\[\d{3}:\d{6}\]")  # what _load_crdt_clients.py inserts
MARKER_WIDTH = 12
EMPTY_UPDATE = b"\x00\x00"  # an update that adds nothing


class Replay(NamedTuple):
    """What replaying every client's log against the final documents found."""

    edits: int  # markers in the clients' logs
    lost: list[str]  # markers missing from their final document
    repeated: list[str]  # markers found more than once
    grown: list[str]  # documents to which a replayed update added something
    foreign: list[str]  # documents holding text no client logged


def replay(journal: dict[str, Any]) -> Replay:
    """Apply each client's logged updates to its final document: nothing may be new.

    ``journal`` is what ``_load_crdt_clients.py`` writes: ``documents`` maps a name to
    its final ``update`` (base64) and ``text``; ``clients`` lists each client's
    ``document``, the ``markers`` it inserted and their ``updates`` (base64).
    """
    finals: dict[str, Doc[Any]] = {}
    states: dict[str, bytes] = {}
    found: dict[str, collections.Counter[str]] = {}
    for name, entry in journal["documents"].items():
        doc: Doc[Any] = Doc()
        doc.apply_update(base64.b64decode(entry["update"]))
        if str(doc.get("text", type=Text)) != entry["text"]:
            raise ValueError(f"{name}: the journal's text is not its update's")
        finals[name], states[name] = doc, doc.get_state()
        found[name] = collections.Counter(MARKER.findall(entry["text"]))
    lost: list[str] = []
    repeated: list[str] = []
    logged: dict[str, set[str]] = {name: set() for name in finals}
    for client in journal["clients"]:
        name = client["document"]
        for update in client["updates"]:
            finals[name].apply_update(base64.b64decode(update))
        for mark in client["markers"]:
            logged[name].add(mark)
            count = found[name][mark]
            if count == 0:
                lost.append(mark)
            elif count > 1:
                repeated.append(mark)
    grown = sorted(
        name for name, doc in finals.items() if doc.get_update(states[name]) != EMPTY_UPDATE
    )
    foreign = sorted(
        name
        for name, entry in journal["documents"].items()
        if set(found[name]) - logged[name]
        or len(entry["text"]) != MARKER_WIDTH * sum(found[name].values())
    )
    edits = sum(len(client["markers"]) for client in journal["clients"])
    return Replay(edits, lost, repeated, grown, foreign)


class Crossing(NamedTuple):
    """Where p95 latency reaches the limit, from a sorted list of steps."""

    under: int | None  # most sessions tried below the limit (below the first over it)
    over: int | None  # fewest sessions tried at or above the limit
    estimate: float | None  # linear interpolation between the two


def crossing(steps: Sequence[dict[str, Any]], limit: float) -> Crossing:
    """Where ``p95_ms`` reaches ``limit`` in ``steps`` (sorted by ``sessions``)."""
    overs = [step for step in steps if step["p95_ms"] >= limit]
    over = overs[0] if overs else None
    unders = [
        step
        for step in steps
        if step["p95_ms"] < limit and (over is None or step["sessions"] < over["sessions"])
    ]
    under = unders[-1] if unders else None
    estimate = None
    if under is not None and over is not None:
        rise = over["p95_ms"] - under["p95_ms"]
        share = (limit - under["p95_ms"]) / rise if rise > 0 else 0.0
        estimate = round(under["sessions"] + share * (over["sessions"] - under["sessions"]), 1)
    return Crossing(
        under=None if under is None else under["sessions"],
        over=None if over is None else over["sessions"],
        estimate=estimate,
    )
