"""Public API snapshots of the workspace packages, and the check for breaking changes.

Run it as ``python -m tools.api snapshot|check``; see tools/README.md.
"""

from tools.api._compare import Change, Severity, compare_api
from tools.api._contract import (
    Contract,
    advice,
    breaking_bump,
    breaking_bumps,
    check_package,
    describe_package,
    select_packages,
    snapshot_path,
)
from tools.api._describe import describe_modules, public_modules, stable_repr
from tools.api._errors import ApiError
from tools.api._snapshot import parse_snapshot, render_snapshot
from tools.api.cli import main

__all__ = [
    "ApiError",
    "Change",
    "Contract",
    "Severity",
    "advice",
    "breaking_bump",
    "breaking_bumps",
    "check_package",
    "compare_api",
    "describe_modules",
    "describe_package",
    "main",
    "parse_snapshot",
    "public_modules",
    "render_snapshot",
    "select_packages",
    "snapshot_path",
    "stable_repr",
]
