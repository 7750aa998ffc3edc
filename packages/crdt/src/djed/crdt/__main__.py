"""``python -m djed.crdt``: serve documents, or compact a store.

python -m djed.crdt serve --host 127.0.0.1 --port 1234 --db documents.db
python -m djed.crdt serve --store file --store-location documents/
python -m djed.crdt compact --db documents.db
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from ._plugins import PluginError, open_store
from ._redis import RedisFanOut
from ._server import Limits, SyncServer, merge_updates
from ._storage import Storage

_STORE_HELP = "sqlite (the default), file, memory, or the name of an installed store plugin"


def _store_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--db", default="djed-crdt.db", help="SQLite file (djed-crdt.db)")
    command.add_argument("--store", default="sqlite", metavar="NAME", help=_STORE_HELP)
    command.add_argument(
        "--store-location",
        metavar="LOCATION",
        help="where the store keeps documents: a folder for file, what a plugin expects;"
        " for sqlite, overrides --db",
    )
    command.add_argument(
        "--store-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option passed to the store (repeatable)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m djed.crdt", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve documents to y-websocket clients")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=1234, help="port to listen on (1234)")
    _store_arguments(serve)
    serve.add_argument("--redis-url", help="share updates with other processes through Redis")
    serve.add_argument(
        "--idle-unload",
        type=float,
        default=60.0,
        help="seconds before an idle document is unloaded",
    )
    serve.add_argument(
        "--max-message-bytes", type=int, default=16 * 1_048_576, help="largest message accepted"
    )
    serve.add_argument(
        "--durability", choices=["full", "normal"], default="full", help="SQLite sync mode"
    )
    serve.add_argument("--log-level", default="info", help="debug, info, warning or error")
    compact = commands.add_parser("compact", help="merge every document's log into its snapshot")
    _store_arguments(compact)
    return parser


def _open_store(arguments: argparse.Namespace) -> Storage:
    """The store the arguments name; ValueError (PluginError included) saying what is wrong."""
    options: dict[str, str] = {}
    for option in arguments.store_option:
        key, equals, value = option.partition("=")
        if not equals or not key.strip():
            raise ValueError(f"--store-option {option!r}: use KEY=VALUE")
        options[key.strip()] = value
    location = arguments.store_location
    if arguments.store == "sqlite":
        options.setdefault("durability", getattr(arguments, "durability", "full"))
        location = location or arguments.db
    return open_store(arguments.store, location, **options)


def _serve(arguments: argparse.Namespace, storage: Storage) -> int:
    import uvicorn  # noqa: PLC0415 - only to serve

    fan_out = None
    if arguments.redis_url:
        fan_out = RedisFanOut(arguments.redis_url)
    limits = Limits(
        idle_unload_seconds=arguments.idle_unload, max_message_bytes=arguments.max_message_bytes
    )
    server = SyncServer(storage, limits=limits, fan_out=fan_out)
    uvicorn.run(
        server.app,
        host=arguments.host,
        port=arguments.port,
        log_level=arguments.log_level,
        ws="websockets-sansio",
        ws_max_size=arguments.max_message_bytes + 1024,
    )
    return 0


async def _compact(storage: Storage) -> int:
    try:
        for name in await storage.names():
            merged = await storage.compact(name, merge_updates)
            print(f"{name}: merged {merged} update(s)")
    finally:
        await storage.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    arguments = _parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(arguments, "log_level", "info").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        storage = _open_store(arguments)
    except (PluginError, ValueError, TypeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if arguments.command == "serve":
        return _serve(arguments, storage)
    return asyncio.run(_compact(storage))


if __name__ == "__main__":
    sys.exit(main())
