"""The command line: `python -m tools.api snapshot|check [PACKAGE...]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tools.api._compare import Severity
from tools.api._contract import (
    Contract,
    advice,
    check_package,
    select_packages,
    snapshot_path,
    use_sources,
)
from tools.api._errors import ApiError
from tools.api._snapshot import render_snapshot
from tools.changeset import ReleaseError, find_root, load_workspace, read_changesets

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tools.api._compare import Change
    from tools.changeset import Package, Workspace

__all__ = ["main"]

_SNAPSHOT = "uv run python -m tools.api snapshot"
_MARK = {Severity.BREAKING: "BREAKING", Severity.ADDED: "added", Severity.CHANGED: "changed"}


def _parser() -> argparse.ArgumentParser:
    """The argument parser with the `snapshot` and `check` subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "packages",
        nargs="*",
        metavar="PACKAGE",
        help="djed-logger, logger or djed.logger (default: every workspace package)",
    )
    common.add_argument(
        "--root",
        type=Path,
        help="workspace root (default: nearest directory up from here with [tool.uv.workspace])",
    )
    parser = argparse.ArgumentParser(
        prog="python -m tools.api",
        description="Record each package's public API in packages/<dir>/api.json and check "
        "that breaking changes to it are announced by a changeset.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    snapshot = commands.add_parser(
        "snapshot", parents=[common], help="write packages/<dir>/api.json from the code"
    )
    snapshot.add_argument(
        "--allow-breaking",
        action="store_true",
        help="write even when a breaking change has no changeset announcing it",
    )
    check = commands.add_parser(
        "check",
        parents=[common],
        help="fail on breaking API changes that no pending changeset announces",
    )
    check.add_argument(
        "--strict",
        action="store_true",
        help="also fail when a snapshot is missing any change, additions included",
    )
    check.add_argument(
        "--base",
        metavar="REF",
        help="also compare with the snapshots as they were at this git ref (the last release)",
    )
    return parser


def _print_changes(changes: Sequence[Change]) -> None:
    for change in changes:
        print(f"  {_MARK[change.severity]:<8}  {change}")


def _report(contract: Contract, *, strict: bool) -> list[str]:
    """Print what ``contract`` found; return the error lines (none when it passes)."""
    name, path = contract.package.name, contract.path
    if contract.snapshot is None:
        print(f"{name}: no snapshot at {path}")
        return [f"{name}: no API snapshot: run `{_SNAPSHOT} {name}` and commit {path}"]
    if contract.up_to_date:
        print(f"{name}: matches {path}")
    else:
        print(f"{name}: differs from {path}:")
        _print_changes(contract.changes)
    if contract.base is not None:
        if not contract.base_found:
            print(f"  (no {path} at {contract.base}: nothing older to compare with)")
        elif contract.base_changes:
            print(f"  against {path} at {contract.base}:")
            _print_changes([c for c in contract.base_changes if c.severity is Severity.BREAKING])
    errors: list[str] = []
    if contract.breaking and contract.announced_by:
        print(f"  breaking changes announced by: {', '.join(contract.announced_by)}")
    if contract.unannounced:
        count = len(contract.unannounced)
        errors.append(
            f"{name}: {count} breaking change(s) to the public API, and no pending changeset "
            "announces them:"
        )
        errors.extend(f"  {change}" for change in contract.unannounced)
        errors.extend(advice(contract.package))
    if strict and not contract.up_to_date:
        errors.append(
            f"{name}: {path} does not record the current API: run `{_SNAPSHOT} {name}` "
            "and commit it"
        )
    elif not contract.up_to_date and not contract.unannounced:
        print(f"  record it: {_SNAPSHOT} {name}")
    return errors


def _check(workspace: Workspace, packages: Sequence[Package], args: argparse.Namespace) -> int:
    """Report every package; exit status 1 when any has an unannounced break."""
    changesets = read_changesets(workspace)
    errors: list[str] = []
    for package in packages:
        try:
            contract = check_package(workspace, package, changesets, base=args.base)
        except ApiError as error:
            print(f"{package.name}: cannot be checked")
            errors.append(f"{package.name}: {error}")
            continue
        errors.extend(_report(contract, strict=args.strict))
    if errors:
        for line in errors:
            print(line if line.startswith(" ") else f"error: {line}", file=sys.stderr)
        return 1
    print("No unannounced breaking change to the public API.")
    return 0


def _snapshot(workspace: Workspace, packages: Sequence[Package], args: argparse.Namespace) -> int:
    """Write each package's snapshot unless it would hide an unannounced break."""
    changesets = read_changesets(workspace)
    failed = False
    for package in packages:
        try:
            contract = check_package(workspace, package, changesets)
        except ApiError as error:
            failed = True
            print(f"error: {package.name}: {error}", file=sys.stderr)
            continue
        path = contract.path
        if contract.up_to_date:
            print(f"{package.name}: {path} is up to date")
            continue
        if contract.unannounced and not args.allow_breaking:
            failed = True
            print(
                f"error: {package.name}: {path} not written: {len(contract.unannounced)} "
                "breaking change(s) that no pending changeset announces:",
                file=sys.stderr,
            )
            for line in [f"  {c}" for c in contract.unannounced] + advice(package):
                print(line, file=sys.stderr)
            print(
                "  Or pass --allow-breaking to record them anyway (CI's --base check still "
                "compares with the last release).",
                file=sys.stderr,
            )
            continue
        snapshot_path(package).write_text(
            render_snapshot(package.name, contract.live), encoding="utf-8"
        )
        names = sum(len(names) for names in contract.live.values())
        print(f"{package.name}: wrote {path} ({names} names in {len(contract.live)} module(s))")
        _print_changes(contract.changes)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the API tool with ``argv`` (default: the process arguments); the exit status."""
    args = _parser().parse_args(argv)
    try:
        workspace = load_workspace(args.root or find_root(Path.cwd()))
        packages = select_packages(workspace, args.packages)
        use_sources(workspace)
        if args.command == "snapshot":
            return _snapshot(workspace, packages, args)
        return _check(workspace, packages, args)
    except ReleaseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
