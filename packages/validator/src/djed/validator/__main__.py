"""Command line: ``python -m djed.validator check`` and ``python -m djed.validator compile``.

Exit status: 0 valid (or module written), 1 invalid data, 2 a bad schema, an
unreadable file or a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._aot import compile_to_source
from ._errors import SchemaError, ValidationError
from ._validator import SchemaValidator


class _InputError(Exception):
    """A file that cannot be read or is not JSON."""


def _load_json(path: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}"
        raise _InputError(msg) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"{path} is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        raise _InputError(msg) from None
    except RecursionError:
        raise _InputError(f"{path} is nested too deeply to read") from None


def _resources(pairs: Sequence[str]) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    for pair in pairs:
        uri, separator, path = pair.partition("=")
        if not separator or not uri or not path:
            raise _InputError(f"--resource takes URI=FILE, not {pair!r}")
        resources[uri] = _load_json(path)
    return resources


def _check(args: argparse.Namespace) -> int:
    schema = _load_json(args.schema)
    validator = SchemaValidator(
        schema,
        draft=args.draft,
        resources=_resources(args.resource),
        all_errors=args.all_errors,
    )
    status = 0
    for path in args.data:
        instance = _load_json(path)
        try:
            validator.validate(instance)
        except ValidationError as exc:
            status = 1
            if args.json:
                errors = [
                    {
                        "path": e.path,
                        "keyword": e.keyword,
                        "message": e.message,
                        "schema_path": e.schema_path,
                    }
                    for e in exc.errors
                ]
                print(json.dumps({"file": path, "valid": False, "errors": errors}))
            else:
                print(f"{path}: invalid")
                for error in exc.errors:
                    print(f"  {error.path or '/'}: {error.message}  [{error.keyword}]")
            continue
        if args.json:
            print(json.dumps({"file": path, "valid": True, "errors": []}))
        else:
            print(f"{path}: valid")
    return status


def _compile(args: argparse.Namespace) -> int:
    source = compile_to_source(
        _load_json(args.schema),
        draft=args.draft,
        resources=_resources(args.resource),
        all_errors=args.all_errors,
        function_name=args.name,
    )
    if args.output:
        Path(args.output).write_text(source, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(source)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m djed.validator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="validate JSON files against a schema")
    check.add_argument("schema", help="the schema file (- for standard input)")
    check.add_argument("data", nargs="+", help="JSON files to validate")
    check.add_argument("--json", action="store_true", help="one JSON result per line")
    compile_ = commands.add_parser("compile", help="write a standalone validator module")
    compile_.add_argument("schema", help="the schema file (- for standard input)")
    compile_.add_argument("-o", "--output", help="write here instead of standard output")
    compile_.add_argument("--name", default="validate", help="the function name (validate)")
    for command in (check, compile_):
        command.add_argument("--draft", help="4, 6, 7, 2019-09 or 2020-12 (default: $schema)")
        command.add_argument("--all-errors", action="store_true", help="report every error")
        command.add_argument(
            "--resource",
            action="append",
            default=[],
            metavar="URI=FILE",
            help="a schema that $ref may point to (repeatable)",
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    args = _parser().parse_args(argv)
    try:
        return _check(args) if args.command == "check" else _compile(args)
    except (SchemaError, _InputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
