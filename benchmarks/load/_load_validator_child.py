"""The process a validator load test watches: ``python -m benchmarks.load._load_validator_child``.

The workload is a sign-up request (``SCHEMA``, draft 7): patterns, the ``email`` and
``date-time`` formats, an enum, bounded numbers, a nested array of objects and no
additional properties. One request in ten is invalid at ``/devices/1/port``.

* ``paced``: a service's handler through ``djed.validator.validate`` (the compiled
  schema cached): each request body is parsed from bytes anew, validated, and the error
  of an invalid one read; ``--rate`` requests a second for ``--seconds``, on an absolute
  schedule. Prints ``{"started": ...}`` when the first request is due, then its report.
* ``max``: as many validations as one thread manages, the instances parsed beforehand,
  with ``djed`` (``djed.validator.validate``), ``fastjsonschema`` (``fastjsonschema.compile``
  called directly) or ``jsonschema`` (``Draft7Validator`` with its format checker), after
  ``--warm-up`` seconds not counted. Every answer is checked.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import fastjsonschema
import jsonschema  # type: ignore[import-untyped]  # no type information installed
import orjson
from djed.validator import ValidationError, validate

from benchmarks.load._load_common import pin

INVALID_EVERY = 10
BATCH = 100  # validations between two looks at the clock (max mode)
WRONG_AT = "/devices/1/port"
SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "username": {"type": "string", "pattern": "^[a-z][a-z0-9_]{2,31}$"},
        "email": {"type": "string", "format": "email", "maxLength": 254},
        "signed_up_at": {"type": "string", "format": "date-time"},
        "plan": {"enum": ["free", "team", "business"]},
        "seats": {"type": "integer", "minimum": 1, "maximum": 500},
        "marketing": {"type": "boolean"},
        "devices": {
            "type": "array",
            "maxItems": 20,
            "items": {
                "type": "object",
                "properties": {
                    "kind": {"enum": ["phone", "laptop", "tablet"]},
                    "host": {"type": "string", "maxLength": 253},
                    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                },
                "required": ["kind", "port"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["username", "email", "signed_up_at", "plan", "seats"],
    "additionalProperties": False,
}
VALID: dict[str, Any] = {
    "username": "maria_k",
    "email": "maria.k@example.org",
    "signed_up_at": "2026-03-14T15:09:26Z",
    "plan": "team",
    "seats": 12,
    "marketing": False,
    "devices": [
        {"kind": "laptop", "host": "maria-laptop.local", "port": 22},
        {"kind": "phone", "port": 8443},
    ],
}
INVALID: dict[str, Any] = {**VALID, "devices": [VALID["devices"][0], {"kind": "phone", "port": 0}]}


class WrongAnswerError(AssertionError):
    """A validator accepted what it must refuse, or the reverse."""


def _pointer(parts: Any) -> str:
    return "".join(f"/{part}" for part in parts)


def _djed() -> tuple[Callable[[Any], object], type[Exception], Callable[[Any], str]]:
    def call(instance: Any) -> object:
        return validate(SCHEMA, instance)

    return call, ValidationError, lambda error: str(error.path)


def _fastjsonschema() -> tuple[Callable[[Any], object], type[Exception], Callable[[Any], str]]:
    compiled = fastjsonschema.compile(SCHEMA)

    def where(error: Any) -> str:  # ``data.devices[1].port``
        name = str(error.name).replace("[", ".").replace("]", "")
        return _pointer(name.split(".")[1:])

    return compiled, fastjsonschema.JsonSchemaValueException, where


def _jsonschema() -> tuple[Callable[[Any], object], type[Exception], Callable[[Any], str]]:
    checker = jsonschema.Draft7Validator.FORMAT_CHECKER
    validator = jsonschema.Draft7Validator(SCHEMA, format_checker=checker)
    return validator.validate, jsonschema.ValidationError, lambda e: _pointer(e.absolute_path)


LIBS = {"djed": _djed, "fastjsonschema": _fastjsonschema, "jsonschema": _jsonschema}


def checked(lib: str) -> tuple[Callable[[Any], object], type[Exception]]:
    """The library's validation call, once it accepts VALID and refuses INVALID correctly."""
    call, error, where = LIBS[lib]()
    call(VALID)
    found: str | None = None
    try:
        call(INVALID)
    except error as exc:
        found = where(exc)
    if found != WRONG_AT:
        raise WrongAnswerError(f"{lib} reports the invalid request's error at {found}")
    return call, error


def paced(arguments: argparse.Namespace) -> dict[str, Any]:
    bodies = (orjson.dumps(VALID), orjson.dumps(INVALID))
    checked("djed")
    total = round(arguments.rate * arguments.seconds)
    start = time.perf_counter() + 0.05
    print(json.dumps({"started": time.time()}), flush=True)
    latest = 0.0
    refused = 0
    for number in range(total):
        due = start + number / arguments.rate
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        else:
            latest = max(latest, -wait)
        bad = number % INVALID_EVERY == 0
        found: str | None = None
        try:
            validate(SCHEMA, orjson.loads(bodies[bad]))
        except ValidationError as error:
            found = error.path
            refused += 1
        if found != (WRONG_AT if bad else None):
            raise WrongAnswerError(f"request {number} (invalid: {bad}): error at {found}")
    elapsed = time.perf_counter() - start
    return {
        "validations": total,
        "refused": refused,
        "seconds": round(elapsed, 3),
        "per_second": round(total / elapsed, 2),
        "latest_ms": round(latest * 1e3, 3),
    }


def maximum(arguments: argparse.Namespace) -> dict[str, Any]:
    call, error = checked(arguments.lib)
    mix = [VALID] * (INVALID_EVERY - 1) + [INVALID]
    batch = mix * (BATCH // INVALID_EVERY)

    def run(seconds: float) -> int:
        done = 0
        until = time.perf_counter() + seconds
        while time.perf_counter() < until:
            refused = 0
            for instance in batch:
                try:
                    call(instance)
                except error:
                    refused += 1
            if refused != BATCH // INVALID_EVERY:
                raise WrongAnswerError(f"{refused} of a batch refused")
            done += BATCH
        return done

    run(arguments.warm_up)
    start = time.perf_counter()
    done = run(arguments.seconds)
    elapsed = time.perf_counter() - start
    return {
        "lib": arguments.lib,
        "validations": done,
        "seconds": round(elapsed, 4),
        "per_second": round(done / elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("mode", choices=("paced", "max"))
    parser.add_argument("--lib", choices=tuple(LIBS), default="djed")
    parser.add_argument("--rate", type=float, default=100.0, help="validations a second")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--warm-up", type=float, default=0.3, help="seconds not counted (max)")
    parser.add_argument("--cpu", type=int, default=None)
    arguments = parser.parse_args()
    pin(arguments.cpu)
    report = paced(arguments) if arguments.mode == "paced" else maximum(arguments)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
