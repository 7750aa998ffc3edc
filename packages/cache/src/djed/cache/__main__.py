"""Command line: ``python -m djed.cache evaluate TRACE`` (see ``--help``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ._evaluate import main as evaluate_main


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand and return its exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        print("usage: python -m djed.cache evaluate TRACE [options]  (evaluate --help for more)")
        return 0 if args else 2
    if args[0] != "evaluate":
        print(f"error: unknown command {args[0]!r}; the command is 'evaluate'", file=sys.stderr)
        return 2
    return evaluate_main(args[1:])


if __name__ == "__main__":
    sys.exit(main())
