"""One trace from end to end: an MCP call that validates, reads the cache, calls through the
breaker and edits a CRDT document gives one trace with a span per step, and every log line of
the call carries its trace id."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

SCENARIO = Path(__file__).with_name("_trace_scenario.py")
STEPS = ("djed.mcp.validate", "djed.cache.load", "djed.breaker.guard", "djed.crdt.edit")


def _run() -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(SCENARIO)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    recorded: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return recorded


def test_one_trace_with_a_span_per_step_and_its_id_in_every_log_line() -> None:
    recorded = _run()
    spans = {span["name"]: span for span in recorded["spans"]}
    call = spans["tools/call bill"]
    for step in STEPS:
        assert step in spans, f"no {step} span: {sorted(spans)}"
        assert spans[step]["trace"] == call["trace"], step
    by_id = {span["id"]: span for span in recorded["spans"]}

    def ancestors(span: dict[str, Any]) -> list[str]:
        names = []
        while span["parent"] in by_id:
            span = by_id[span["parent"]]
            names.append(span["name"])
        return names

    for step in STEPS:
        assert "tools/call bill" in ancestors(spans[step]), f"{step} is not inside the call"

    during_call = [
        line
        for line in recorded["logs"]
        if line.get("mcp_method") == "tools/call" or line["event"] in {"charged", "billed"}
    ]
    events = {line["event"] for line in during_call}
    assert {"charged", "billed", "mcp request"} <= events, events
    assert {line.get("trace_id") for line in during_call} == {call["trace"]}
