"""The public API contract of every workspace package, one test case per package.

Each case describes the package as the code defines it now and compares it with the
committed ``packages/<dir>/api.json``. It fails when the snapshot is missing, or when the
code breaks the recorded API and no pending changeset announces the break. Additions pass;
`python -m tools.api check --strict` is the stricter gate that also wants them recorded.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from tools.api import advice, check_package
from tools.changeset import Changeset, Package, load_workspace, read_changesets

ROOT = Path(__file__).resolve().parents[2]
WORKSPACE = load_workspace(ROOT)


@pytest.fixture(scope="module")
def changesets() -> list[Changeset]:
    return read_changesets(WORKSPACE)


def test_every_package_is_covered() -> None:
    """The cases below come from the workspace itself, so a new package is never missed."""
    names = {package.name for package in WORKSPACE}
    assert {"djed-logger", "djed-validator", "djed-breaker", "djed-cache"} <= names
    assert {"djed-crdt", "djed-mcp-base", "djed-cli"} <= names


@pytest.mark.parametrize("package", list(WORKSPACE), ids=lambda package: package.name)
def test_public_api_has_no_unannounced_break(package: Package, changesets: list[Changeset]) -> None:
    contract = check_package(WORKSPACE, package, changesets)
    if contract.snapshot is None:
        command = f"uv run python -m tools.api snapshot {package.name}"
        pytest.fail(f"{contract.path} is missing: run `{command}` and commit it", pytrace=False)
    if contract.unannounced:
        count = len(contract.unannounced)
        lines = [
            f"{package.name}: {count} breaking change(s), and no pending changeset announces them:",
            *(f"  {change}" for change in contract.unannounced),
            *advice(package),
        ]
        pytest.fail("\n".join(lines), pytrace=False)


def test_a_break_in_a_real_package_would_be_caught() -> None:
    """The comparison is not vacuous for the real snapshots: drop a name, lose a parameter."""
    package = next(p for p in WORKSPACE if p.name == "djed-logger")
    recorded = check_package(WORKSPACE, package, []).snapshot
    assert recorded is not None
    live = copy.deepcopy(recorded)
    names = live["djed.logger"]
    del names["get_logger"]
    names["configure_logging"]["parameters"].pop()
    contract = check_package(WORKSPACE, package, [], live=live)
    found = [str(change) for change in contract.unannounced]
    assert "djed.logger.get_logger: function was removed from __all__" in found
    assert any(line.startswith("djed.logger.configure_logging: ") for line in found)
    assert contract.announced_by == []
