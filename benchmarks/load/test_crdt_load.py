"""djed-crdt's sync server under 100 editing clients on 10 documents: fan-out, memory, no loss.

The server is djed-crdt's own benchmark server script, run as it is
(``packages/crdt/benchmarks/_serve.py djed-sqlite``: ``SyncServer`` on ``SQLiteStorage``
with full durability, under uvicorn on 127.0.0.1), on the first core; this process
samples its resident set size. The clients (``_load_crdt_clients.py``) run on the
second core: 100 of them, ten per document, each inserting a marker of its own at a
random place ``RATE`` times a second, every one of them receiving the others' edits.

What is checked (in every variant):

* zero updates lost: each final document, fetched by a fresh client once every editor
  left, already holds every update of every client's own log (replaying the log
  against it adds nothing) and every marker the client inserted, exactly once;
* every edit reached every other client of its document while they were connected,
  and the clients of a document ended with the same text.

What is reported: fan-out latency (send to receipt by another client of the same
document) as percentiles, a distribution and p99 per time window; the server's RSS
over time (it grows with the documents, so it is not judged). With
``DJED_LOAD_CI_FULL=1`` or ``DJED_LOAD_LONG=1`` the same run is made against
pycrdt-websocket (``_serve.py pycrdt-websocket``), the peer, whose figures are
reported but not judged.

Run lengths (see ``README.md``): 15 s of editing by default, 60 s with
``DJED_LOAD_CI_FULL=1``, 5 minutes with ``DJED_LOAD_LONG=1``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from benchmarks.load._load_checks import Replay, replay
from benchmarks.load._load_common import (
    HAS_PROC,
    REPO,
    RssSampler,
    cores,
    module,
    pick,
    record,
    row,
    rss_series,
    run_json,
    running,
    variant,
)

pytestmark = pytest.mark.skipif(not HAS_PROC, reason="reads process memory from /proc (Linux)")

KEY, LATENCY_KEY, MEMORY_KEY = "load-crdt", "load-crdt-latency", "load-crdt-memory"
SERVE = REPO / "packages" / "crdt" / "benchmarks" / "_serve.py"
DJED, PEER = "djed-sqlite", "pycrdt-websocket"
NAMES = {DJED: "djed-crdt (SQLite)", PEER: "pycrdt-websocket"}
CLIENTS, DOCUMENTS = 100, 10
RATE = 2.0  # edits a second per client
SECONDS = pick(15, 60, 300)  # of editing
INTERVAL = pick(0.5, 1.0, 2.0)  # seconds between RSS samples
WITH_PEER = variant() != "short"
STARTUP_TIMEOUT = 30.0


class Run(NamedTuple):
    report: dict[str, Any]
    samples: list[tuple[float, int]]
    replayed: Replay


def load(kind: str, folder: Path) -> Run:
    """Start one server, load it with the clients, and replay their journal."""
    serve_cpu, load_cpu = cores()
    store = folder / kind
    store.mkdir()
    ready, journal = store / "port", store / "journal.json"
    command = [sys.executable, str(SERVE), kind, str(ready), "--store", str(store), *serve_cpu]
    grace = 10.0 if kind == DJED else 1.0  # pycrdt-websocket can hang when asked to stop
    with tempfile.TemporaryFile() as output:

        def log() -> str:
            output.seek(0)
            return output.read().decode(errors="replace")[-3000:]

        with running(command, grace=grace, stdout=output, stderr=output) as server:
            give_up = time.monotonic() + STARTUP_TIMEOUT
            while not ready.exists():
                assert server.poll() is None, f"the {kind} server exited:\n{log()}"
                assert time.monotonic() < give_up, f"the {kind} server did not start:\n{log()}"
                time.sleep(0.02)
            arguments = [ready.read_text(), "--clients", str(CLIENTS)]
            arguments += ["--documents", str(DOCUMENTS), "--rate", str(RATE)]
            arguments += ["--seconds", str(SECONDS), "--journal", str(journal), *load_cpu]
            sampler = RssSampler(server.pid, INTERVAL).start()
            try:
                report = run_json(module("_load_crdt_clients", *arguments), SECONDS + 180)
            finally:
                samples = sampler.stop()
            assert server.poll() is None, f"the {kind} server died:\n{log()}"
    replayed = replay(json.loads(journal.read_text(encoding="utf-8")))
    journal.unlink()
    return Run(report, samples, replayed)


def _figure(runs: dict[str, Run], kind: str, name: str) -> Any:
    return runs[kind].report.get(name) if kind in runs else None


def _record(runs: dict[str, Run]) -> None:
    djed = runs[DJED]
    peer_name = NAMES[PEER] if PEER in runs else None

    def pair(name: str, figure: str, unit: str = "ms") -> dict[str, Any]:
        return row(
            name,
            _figure(runs, DJED, figure),
            _figure(runs, PEER, figure),
            peer_name=peer_name,
            unit=unit,
        )

    setup = (
        f"{variant()} variant: {CLIENTS} clients on {DOCUMENTS} documents, {RATE:g} edits/s"
        f" each for {SECONDS:g} s ({CLIENTS * RATE:g} edits/s in all, each to the"
        f" {CLIENTS // DOCUMENTS - 1} other clients of its document)"
    )
    peer_note = (
        "" if PEER in runs else "; the peer runs with DJED_LOAD_CI_FULL=1 or DJED_LOAD_LONG=1"
    )
    record(
        KEY,
        {
            "title": f"djed-crdt: {CLIENTS} clients editing {DOCUMENTS} documents",
            "unit": "ms",
            "rows": [
                pair("fan-out p50", "p50_ms"),
                pair("fan-out p99", "p99_ms"),
                pair("fan-out max", "max_ms"),
                row("edits made", djed.replayed.edits, unit="edits", lower_is_better=False),
                row(
                    "edits lost (logs replayed against the final documents)",
                    len(djed.replayed.lost),
                    unit="edits",
                ),
                pair("deliveries missing", "missing_deliveries", unit="deliveries"),
            ],
            "series": {
                f"{NAMES[kind]} p99 (ms)": [
                    [t, p99] for t, p99, _ in run.report.get("p99_by_window", [])
                ]
                for kind, run in runs.items()
            },
            "series_labels": {"x": "seconds of editing", "y": "fan-out p99 (ms)"},
            "notes": setup + peer_note + ".",
            "promises": {
                "zero_lost": not (djed.replayed.lost or djed.replayed.grown),
                "every_edit_delivered": djed.report["missing_deliveries"] == 0,
            },
            "reports": {
                kind: {k: v for k, v in run.report.items() if k != "cdf_ms"}
                for kind, run in runs.items()
            },
            "replay": {kind: run.replayed._asdict() for kind, run in runs.items()},
        },
    )
    record(
        LATENCY_KEY,
        {
            "title": "djed-crdt: fan-out latency distribution",
            "unit": "ms",
            "rows": [
                pair("fan-out p95", "p95_ms"),
                pair("fan-out p99.9", "p999_ms"),
                pair("fan-out mean", "mean_ms"),
            ],
            "series": {
                f"{NAMES[kind]}": run.report.get("cdf_ms", []) for kind, run in runs.items()
            },
            "series_labels": {"x": "fan-out latency (ms)", "y": "percent of deliveries"},
            "notes": setup + ".",
        },
    )
    memory = {kind: [rss for _, rss in run.samples] for kind, run in runs.items()}
    record(
        MEMORY_KEY,
        {
            "title": "djed-crdt: server RSS while the documents grow",
            "unit": "MB",
            "rows": [
                row(
                    "server RSS before the clients connect",
                    round(memory[DJED][0] / 1e6, 2),
                    round(memory[PEER][0] / 1e6, 2) if PEER in memory else None,
                    peer_name=peer_name,
                ),
                row(
                    "server RSS at the end",
                    round(memory[DJED][-1] / 1e6, 2),
                    round(memory[PEER][-1] / 1e6, 2) if PEER in memory else None,
                    peer_name=peer_name,
                ),
                row(
                    "server RSS peak",
                    round(max(memory[DJED]) / 1e6, 2),
                    round(max(memory[PEER]) / 1e6, 2) if PEER in memory else None,
                    peer_name=peer_name,
                ),
            ],
            "series": {
                f"{NAMES[kind]} RSS (MB)": rss_series(run.samples) for kind, run in runs.items()
            },
            "series_labels": {"x": "seconds", "y": "server RSS (MB)"},
            "notes": setup
            + "; the documents only grow (inserts), and so does what the server holds.",
        },
    )


@pytest.mark.timeout(int((SECONDS + 240) * (2 if WITH_PEER else 1)))
def test_crdt_clients_editing_nothing_lost(tmp_path: Path) -> None:
    runs = {DJED: load(DJED, tmp_path)}
    if WITH_PEER:
        runs[PEER] = load(PEER, tmp_path)
    _record(runs)
    report, replayed = runs[DJED].report, runs[DJED].replayed
    assert replayed.edits == CLIENTS * round(SECONDS * RATE)
    assert not replayed.lost, f"{len(replayed.lost)} edits lost, such as {replayed.lost[:5]}"
    assert not replayed.repeated, f"edits found twice: {replayed.repeated[:5]}"
    assert not replayed.grown, f"replayed logs added to {replayed.grown}"
    assert not replayed.foreign, f"text no client wrote in {replayed.foreign}"
    assert report["missing_deliveries"] == 0, f"{report['missing_deliveries']} never arrived"
    assert report["unknown_markers"] == 0
    assert not report["documents_diverged"], report["documents_diverged"]
