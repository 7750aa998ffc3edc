"""The contract of each workspace package: its live API, its snapshot and the changesets.

A breaking difference between the snapshot and the code is *announced* when a pending
changeset gives the package a breaking bump: ``major`` from version 1.0.0 on; below 1.0.0,
where semantic versioning puts breaking changes in the minor number (GOVERNANCE.md),
``minor`` or ``major``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tools.api._compare import Change, Severity, compare_api
from tools.api._describe import describe_modules, import_module, public_modules
from tools.api._errors import ApiError
from tools.api._snapshot import SNAPSHOT_NAME, parse_snapshot, read_snapshot, snapshot_at
from tools.changeset import Bump

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

    from tools.api._compare import Modules
    from tools.changeset import Changeset, Package, Workspace

__all__ = [
    "Contract",
    "advice",
    "breaking_bump",
    "breaking_bumps",
    "check_package",
    "describe_package",
    "select_packages",
    "snapshot_path",
    "use_sources",
]


def snapshot_path(package: Package) -> Path:
    """Where the snapshot of ``package`` lives: ``packages/<dir>/api.json``."""
    return package.directory / SNAPSHOT_NAME


def _relative(package: Package) -> str:
    return f"{package.relative}/{SNAPSHOT_NAME}"


def breaking_bumps(version: str) -> frozenset[Bump]:
    """The bumps that announce a breaking change for a package at ``version``.

    ``major`` from 1.0.0 on. Below 1.0.0 a breaking change moves the minor number, so
    ``minor`` announces it too (and ``major``, which would make the package 1.0.0).
    """
    leading = version.split(".", 1)[0].rsplit("!", 1)[-1]
    if leading.isdigit() and int(leading) == 0:
        return frozenset({Bump.MAJOR, Bump.MINOR})
    return frozenset({Bump.MAJOR})


def breaking_bump(package: Package) -> Bump:
    """The bump to suggest for a break: minor below 1.0.0, else major."""
    return Bump.MINOR if Bump.MINOR in breaking_bumps(package.version) else Bump.MAJOR


def advice(package: Package) -> list[str]:
    """What to do about breaking changes to ``package`` that no changeset announces."""
    bump = breaking_bump(package)
    rule = (
        "below 1.0.0 the minor number carries breaking changes"
        if bump is Bump.MINOR
        else "from 1.0.0 on breaking changes need a major release"
    )
    return [
        "  If the break is intended (see the RFC process in GOVERNANCE.md), announce it and",
        f"  record the new API ({rule}):",
        (
            f"    uv run python -m tools.changeset add -p {package.name}:{bump.value} "
            '-m "What users must change."'
        ),
        f"    uv run python -m tools.api snapshot {package.name}",
        "  Otherwise keep the old API working: restore the name or parameter, deprecate first.",
    ]


def select_packages(workspace: Workspace, names: Sequence[str]) -> list[Package]:
    """The members called ``names`` (every member when empty), in the workspace's order.

    A name may be the distribution (``djed-mcp-base``), the folder (``mcp-base``) or the
    import name (``djed.mcp_base``), in any PEP 503 spelling.

    Raises:
        ApiError: A name matches no member.
    """
    if not names:
        return list(workspace)
    chosen: list[Package] = []
    for name in names:
        package = workspace.get(name) or workspace.get(f"djed-{name}")
        if package is None:
            known = ", ".join(p.name for p in workspace) or "none"
            msg = f"unknown package {name!r}; workspace packages: {known}"
            raise ApiError(msg)
        if package not in chosen:
            chosen.append(package)
    return [package for package in workspace if package in chosen]


def use_sources(packages: Iterable[Package]) -> None:
    """Put each package's ``src`` folder first on ``sys.path`` so the code on disk is read."""
    for package in packages:
        source = str(package.directory / "src")
        if source not in sys.path:
            sys.path.insert(0, source)


def describe_package(package: Package) -> Modules:
    """The live API of ``package``: its import package and public submodules with __all__.

    Raises:
        ApiError: A module cannot be imported or its ``__all__`` names something missing.
    """
    top = import_module(package.import_name)
    if not hasattr(top, "__all__"):
        msg = f"{package.import_name} has no __all__: list its public names there"
        raise ApiError(msg)
    return describe_modules(public_modules(top))


@dataclass(frozen=True)
class Contract:
    """How the live API of one package compares with its snapshot (and a base snapshot)."""

    package: Package
    live: Modules
    snapshot: Modules | None
    changes: list[Change] = field(default_factory=list)
    base: str | None = None
    base_found: bool = False
    base_changes: list[Change] = field(default_factory=list)
    announced_by: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        """The snapshot file, relative to the workspace root."""
        return _relative(self.package)

    @property
    def breaking(self) -> list[Change]:
        """Breaking changes against the snapshot or the base, each listed once."""
        seen: dict[str, Change] = {}
        for change in [*self.changes, *self.base_changes]:
            if change.severity is Severity.BREAKING:
                seen.setdefault(str(change), change)
        return list(seen.values())

    @property
    def unannounced(self) -> list[Change]:
        """Breaking changes that no pending changeset announces."""
        return [] if self.announced_by else self.breaking

    @property
    def up_to_date(self) -> bool:
        """Whether the snapshot exists and records exactly the live API."""
        return self.snapshot is not None and self.snapshot == self.live

    def ok(self, *, strict: bool) -> bool:
        """No unannounced break and a snapshot; with ``strict``, an up-to-date snapshot."""
        if self.snapshot is None or self.unannounced:
            return False
        return self.up_to_date or not strict


def announcing_changesets(package: Package, changesets: Iterable[Changeset]) -> list[str]:
    """File names of the pending changesets that give ``package`` a breaking bump."""
    bumps = breaking_bumps(package.version)
    return [cs.path.name for cs in changesets if cs.releases.get(package.name) in bumps]


def check_package(
    workspace: Workspace,
    package: Package,
    changesets: Iterable[Changeset],
    *,
    base: str | None = None,
    live: Modules | None = None,
) -> Contract:
    """Compare the live API of ``package`` with its snapshot (and the one at ``base``).

    ``base`` is a git ref such as the last release; the snapshot as it was there is compared
    too, so a break cannot hide in a snapshot rewritten since then.

    Raises:
        ApiError: The package cannot be described, a snapshot cannot be read, or ``base``
            is not a commit.
    """
    if live is None:
        live = describe_package(package)
    path = _relative(package)
    snapshot = read_snapshot(snapshot_path(package), path)
    changes = compare_api(snapshot, live) if snapshot is not None else []
    base_changes: list[Change] = []
    base_found = False
    if base is not None:
        text = snapshot_at(workspace.root, base, path)
        base_found = text is not None
        if text is not None:
            recorded = parse_snapshot(text, f"{path} at {base}")
            if recorded != snapshot:
                base_changes = compare_api(recorded, live)
    return Contract(
        package=package,
        live=live,
        snapshot=snapshot,
        changes=changes,
        base=base,
        base_found=base_found,
        base_changes=base_changes,
        announced_by=announcing_changesets(package, changesets),
    )
