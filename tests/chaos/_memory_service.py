"""A worker that validates documents under a capped address space (``RLIMIT_AS``).

Run as ``python _memory_service.py ENGINE CACHE LOG_FILE HEADROOM_MIB``: ENGINE is
``fast`` (a draft 7 schema, fastjsonschema) or ``rs`` (draft 2020-12, jsonschema-rs);
CACHE is ``cache`` to load each result through a djed-cache ``SyncCache``, else
``direct``. Once ready, the address space is capped HEADROOM_MIB above what the
process uses, and it prints ``{"ready": ...}``. Then each stdin line is a request
``{"items": N, "bad": true, "key": "k"}``: build an N-item document (every item
invalid when ``bad``) and validate it reporting every error; the answer is one
stdout line, ``{"ok": true, "valid": ..., "errors": ...}`` or ``{"ok": false,
"error": "MemoryError", "stage": "build" | "validate"}``. Each request is logged
through djed.logger (buffered, into LOG_FILE).
"""

from __future__ import annotations

import json
import resource
import sys
from typing import Any

from djed.cache import MemoryBackend, SyncCache
from djed.logger import configure_logging, flush_logs, get_logger
from djed.validator import SchemaValidator, ValidationError

DRAFTS = {
    "fast": "http://json-schema.org/draft-07/schema#",
    "rs": "https://json-schema.org/draft/2020-12/schema",
}


def address_space() -> int:
    """Bytes of address space the process uses now (VmSize)."""
    with open("/proc/self/status") as status:  # noqa: PTH123 - one read of a proc file
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


class Worker:
    def __init__(self, engine: str, cached: bool) -> None:
        schema = {
            "$schema": DRAFTS[engine],
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "name": {"type": "string", "maxLength": 5},
                },
                "required": ["id", "name"],
            },
        }
        self.validator = SchemaValidator(schema, all_errors=True)
        self.cache = SyncCache(MemoryBackend(max_bytes=1_000_000), ttl=60) if cached else None
        self.stage = "build"

    def check(self, items: int, bad: bool) -> dict[str, Any]:
        self.stage = "build"
        name = "far too long" if bad else "ok"
        document = [{"id": number, "name": name} for number in range(items)]
        self.stage = "validate"
        try:
            self.validator.validate(document)
        except ValidationError as error:
            return {"ok": True, "valid": False, "errors": len(error.errors)}
        return {"ok": True, "valid": True, "errors": 0}

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        items, bad = int(request["items"]), bool(request["bad"])
        if self.cache is None:
            return self.check(items, bad)
        answer: dict[str, Any] = self.cache.get_or_load(
            str(request["key"]), lambda: self.check(items, bad)
        )
        return answer


def main() -> None:
    engine, cached, path, headroom = sys.argv[1], sys.argv[2] == "cache", sys.argv[3], sys.argv[4]
    configure_logging(file=path, format="json", service="chaos-memory", metrics=False)
    log = get_logger("chaos.memory")
    worker = Worker(engine, cached)
    log.info("ready", engine=engine)  # starts the logger's flusher thread before the cap
    flush_logs()
    limit = address_space() + int(headroom) * 1_048_576
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    print(json.dumps({"ready": limit}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        out_of_memory = False
        try:
            answer = worker.handle(request)
        except MemoryError:
            out_of_memory = True  # nothing that allocates here: the failed request still holds
            # its memory until this block ends and its frames are released
        if out_of_memory:
            answer = {"ok": False, "error": "MemoryError", "stage": worker.stage}
            log.error("request ran out of memory", items=request["items"], stage=worker.stage)
        else:
            log.info("request done", items=request["items"], errors=answer["errors"])
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
