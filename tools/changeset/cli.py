"""The command line: `python -m tools.changeset add|status|check|version|publish`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tools.changeset._add import ask_changeset
from tools.changeset._bump import Bump
from tools.changeset._check import check_changesets, default_base
from tools.changeset._errors import ReleaseError
from tools.changeset._files import read_changesets, write_changeset
from tools.changeset._plan import describe_plan, plan_release
from tools.changeset._publish import publish
from tools.changeset._version import apply_versions
from tools.changeset._workspace import Workspace, find_root, load_workspace

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]


def _release(value: str) -> tuple[str, Bump]:
    """Parse a ``--package NAME:BUMP`` value."""
    name, separator, word = value.rpartition(":")
    if not separator or not name:
        msg = f"expected NAME:BUMP such as djed-logger:minor, got {value!r}"
        raise argparse.ArgumentTypeError(msg)
    try:
        return name.strip(), Bump(word.strip())
    except ValueError:
        msg = f"bad bump {word!r} in {value!r}; use major, minor or patch"
        raise argparse.ArgumentTypeError(msg) from None


def _parser() -> argparse.ArgumentParser:
    """The argument parser with one subcommand per release step."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--root",
        type=Path,
        help="workspace root (default: nearest directory up from here with [tool.uv.workspace])",
    )
    parser = argparse.ArgumentParser(
        prog="python -m tools.changeset",
        description="Record changes in .changeset/, then version and publish the packages.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    add = commands.add_parser(
        "add", parents=[common], help="record a change (asks questions in a terminal)"
    )
    add.add_argument(
        "-p",
        "--package",
        dest="releases",
        action="append",
        type=_release,
        default=[],
        metavar="NAME:BUMP",
        help="a package and its bump, e.g. djed-logger:minor; repeat for several",
    )
    add.add_argument("-m", "--message", help="what changed, in one line for users")
    add.add_argument("--slug", help="file name without .md (default: three random words)")

    commands.add_parser(
        "status", parents=[common], help="list pending changesets and the next versions"
    )

    check = commands.add_parser(
        "check", parents=[common], help="fail when changed package sources lack a changeset"
    )
    check.add_argument(
        "--base",
        help="git ref to compare with (default: origin/main if it exists, else HEAD~1)",
    )

    version = commands.add_parser(
        "version", parents=[common], help="apply the changesets: versions, changelogs, uv.lock"
    )
    version.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")

    release = commands.add_parser(
        "publish", parents=[common], help="build, smoke-test, upload and tag untagged versions"
    )
    release.add_argument(
        "--dry-run", action="store_true", help="build and smoke-test only; no upload, no tag"
    )
    release.add_argument(
        "--index-url", help="index for smoke-install dependencies and `uv publish --check-url`"
    )
    release.add_argument("--publish-url", help="upload endpoint for `uv publish --publish-url`")
    return parser


def _add(workspace: Workspace, args: argparse.Namespace) -> int:
    """Write a changeset from flags, or from answers when run in a terminal without flags."""
    releases: dict[str, Bump] = dict(args.releases)
    summary: str | None = args.message
    if not releases and summary is None:
        if not sys.stdin.isatty():
            raise ReleaseError(
                "add needs --package NAME:BUMP and --message TEXT when not run in a terminal"
            )
        releases, summary = ask_changeset(workspace)
    elif not releases:
        raise ReleaseError("add needs at least one --package NAME:BUMP")
    elif summary is None:
        raise ReleaseError("add needs --message TEXT saying what changed")
    path = write_changeset(workspace, releases, summary, args.slug)
    print(f"Created {path.relative_to(workspace.root).as_posix()}")
    return 0


def _check(workspace: Workspace, args: argparse.Namespace) -> int:
    """Report packages whose sources changed without a changeset; 1 when any did."""
    base = args.base or default_base(workspace)
    result = check_changesets(workspace, base)
    if result.note:
        print(f"note: {result.note}")
    else:
        print(f"Compared with {base} (merge base), plus uncommitted and untracked files.")
    if not result.changed:
        print("No package sources changed.")
        return 0
    for name, files in result.changed.items():
        state = "has a changeset" if name in result.covered else "NO CHANGESET"
        print(f"  {name}: {len(files)} source file(s) changed, {state}")
    if result.ok:
        print("Every changed package has a changeset.")
        return 0
    missing = ", ".join(result.missing)
    print(f"error: sources changed without a changeset for: {missing}", file=sys.stderr)
    flags = " ".join(f"--package {name}:patch" for name in result.missing)
    print(
        f'Add one: python -m tools.changeset add {flags} --message "..." (pick the right bumps)',
        file=sys.stderr,
    )
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the release tool with ``argv`` (default: the process arguments); the exit status."""
    args = _parser().parse_args(argv)
    try:
        workspace = load_workspace(args.root or find_root(Path.cwd()))
        if args.command == "add":
            return _add(workspace, args)
        if args.command == "status":
            for line in describe_plan(plan_release(workspace, read_changesets(workspace))):
                print(line)
            return 0
        if args.command == "check":
            return _check(workspace, args)
        if args.command == "version":
            apply_versions(workspace, dry_run=args.dry_run)
            return 0
        publish(
            workspace,
            dry_run=args.dry_run,
            index_url=args.index_url,
            publish_url=args.publish_url,
        )
    except ReleaseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
