"""The release plan: which package gets which bump, and why, from the pending changesets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tools.changeset._bump import Bump, highest, next_version
from tools.changeset._errors import WorkspaceError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tools.changeset._files import Changeset
    from tools.changeset._workspace import Package, Workspace

__all__ = ["Release", "ReleasePlan", "describe_plan", "plan_release"]


@dataclass
class Release:
    """What one package gets: its bump, its changelog entries, the siblings it now pins higher."""

    package: Package
    bump: Bump
    changes: list[tuple[Bump, str]] = field(default_factory=list)
    updated_dependencies: list[Package] = field(default_factory=list)

    @property
    def next_version(self) -> str:
        """The version the bump will give, computed as `uv version --bump` does."""
        try:
            return next_version(self.package.version, self.bump)
        except ValueError as error:
            msg = f"{self.package.pyproject}: {error}"
            raise WorkspaceError(msg) from None

    def changelog_entries(self, versions: dict[str, str]) -> dict[Bump, list[str]]:
        """Changelog lines by bump kind, given the new version of every released package."""
        entries: dict[Bump, list[str]] = {bump: [] for bump in Bump}
        for bump, summary in self.changes:
            entries[bump].append(summary)
        if self.updated_dependencies:
            pins = ", ".join(
                f"{dependency.name}>={versions[dependency.key]}"
                for dependency in self.updated_dependencies
            )
            entries[self.bump].append(f"Updated dependencies: {pins}")
        return entries


@dataclass(frozen=True)
class ReleasePlan:
    """The changesets consumed and the releases they cause, in dependency order."""

    changesets: tuple[Changeset, ...]
    releases: tuple[Release, ...]

    def version_map(self) -> dict[str, str]:
        """The predicted new version of each released package, by normalized name."""
        return {release.package.key: release.next_version for release in self.releases}


def plan_release(workspace: Workspace, changesets: Sequence[Changeset]) -> ReleasePlan:
    """The releases ``changesets`` call for, with dependents of released packages added.

    Each named package gets the highest bump any changeset asks for. Every member that depends
    on a released package (directly or through a chain) gets its pin raised and, unless already
    released, a patch bump.
    """
    requested: dict[str, list[tuple[Bump, str]]] = {}
    for changeset in changesets:
        for name, bump in changeset.releases.items():
            package = workspace.get(name)
            assert package is not None, "changesets are validated against the workspace"
            requested.setdefault(package.key, []).append((bump, changeset.summary))
    releases: dict[str, Release] = {}
    for key, changes in requested.items():
        bump = highest(bump for bump, _ in changes)
        releases[key] = Release(package=workspace.packages[key], bump=bump, changes=changes)
    queue = list(releases.values())
    while queue:
        released = queue.pop(0)
        for dependent in workspace.dependents(released.package):
            release = releases.get(dependent.key)
            if release is None:
                release = Release(package=dependent, bump=Bump.PATCH)
                releases[dependent.key] = release
                queue.append(release)
            release.updated_dependencies.append(released.package)
    order = [package.key for package in workspace.in_dependency_order()]
    for release in releases.values():
        release.updated_dependencies.sort(key=lambda package: order.index(package.key))
    return ReleasePlan(
        changesets=tuple(changesets),
        releases=tuple(releases[key] for key in order if key in releases),
    )


def describe_plan(plan: ReleasePlan) -> list[str]:
    """Readable lines listing the pending changesets and each package's next version."""
    if not plan.changesets:
        return ["No pending changesets."]
    lines = [f"Pending changesets ({len(plan.changesets)}):"]
    for changeset in plan.changesets:
        bumps = ", ".join(f"{name}: {bump}" for name, bump in changeset.releases.items())
        first_line = changeset.summary.splitlines()[0]
        lines.append(f"  {changeset.path.name}  [{bumps}]  {first_line}")
    lines.append("")
    lines.append("Releases:")
    width = max(len(release.package.name) for release in plan.releases)
    for release in plan.releases:
        reason = str(release.bump)
        if not release.changes:
            reason += ", dependencies only"
        name = release.package.name.ljust(width)
        lines.append(f"  {name}  {release.package.version} -> {release.next_version}  ({reason})")
    return lines
