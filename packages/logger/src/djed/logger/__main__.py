"""Command line: ``python -m djed.logger demo`` and ``python -m djed.logger eject``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ._config import configure_logging, flush_logs, get_logger, log_context
from ._eject import eject_source
from ._settings import LoggingConfigError, resolve_settings


def _demo() -> int:
    configure_logging(service="invoices-api")
    log = get_logger("djed.demo")
    log.info("service started", version="1.4.2", port=8000)
    with log_context(request_id="req-7f3a9c", user_id=17):
        log.info("invoice created", invoice_id=1042, total="1250.00", currency="EUR")
        log.info("card charged", card="4111 1111 1111 1111", password="hunter2")  # noqa: S106
        logging.getLogger("uvicorn.access").info('127.0.0.1:52814 - "POST /invoices HTTP/1.1" 201')
        log.warning("payment gateway slow", latency_ms=1840, authorization="Bearer eyJhbGciOi")
        try:
            _ = {"net": 1250}["gross"]
        except KeyError:
            log.exception("could not compute tax")
    log.debug("not shown at the default level")
    flush_logs()
    if sys.stdout.isatty():
        print(
            "\nPiped or redirected, the same events come out as JSON lines:"
            " python -m djed.logger demo | cat",
            file=sys.stderr,
        )
    return 0


def _eject(args: argparse.Namespace) -> int:
    settings, _stream = resolve_settings(
        level=args.level,
        fmt=None if args.format == "auto" else args.format,
        service=args.service,
        file=args.file,
        stream=None,
        buffered=args.buffered,
        flush_interval=None,
        redact=args.redact,
        redact_keys=args.redact_key or None,
        mask_emails=args.mask_emails,
        stdlib=None,
        colors=None,
        static_fields=None,
        plugins=args.plugin,
    )
    requested = args.format or os.environ.get("DJED_LOGGER_FORMAT", "auto")
    source = eject_source(settings, auto_format=requested.strip().lower() == "auto")
    if args.output:
        Path(args.output).write_text(source, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(source)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m djed.logger", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "demo", help="log a few sample events (pretty on a terminal, JSON when piped)"
    )
    eject = commands.add_parser(
        "eject",
        help="print a standalone structlog configuration equal to the current one",
        description="Settings not given as options are read from DJED_LOGGER_* variables.",
    )
    eject.add_argument("--level")
    eject.add_argument("--format", choices=("auto", "json", "console"))
    eject.add_argument("--service")
    eject.add_argument("--file")
    eject.add_argument("--buffered", action=argparse.BooleanOptionalAction, default=None)
    eject.add_argument("--redact", action=argparse.BooleanOptionalAction, default=None)
    eject.add_argument("--redact-key", action="append", help="a field name to redact (repeatable)")
    eject.add_argument("--mask-emails", action=argparse.BooleanOptionalAction, default=None)
    eject.add_argument(
        "--plugin", action="append", help="a processor plugin to keep (repeatable; * for all)"
    )
    eject.add_argument("-o", "--output", help="write to this file instead of standard output")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            return _demo()
        return _eject(args)
    except LoggingConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
