"""The `version` command: consume the changesets into versions, pins, changelogs and uv.lock."""

from __future__ import annotations

from dataclasses import dataclass

from tools.changeset._changelog import prepend_section, render_section
from tools.changeset._errors import CommandError, WorkspaceError
from tools.changeset._files import read_changesets
from tools.changeset._pins import rewrite_pins
from tools.changeset._plan import ReleasePlan, describe_plan, plan_release
from tools.changeset._process import run, uv
from tools.changeset._workspace import Workspace, read_pyproject

__all__ = ["VersionResult", "apply_versions"]


@dataclass(frozen=True)
class VersionResult:
    """What `version` did: the plan it followed and the versions uv wrote."""

    plan: ReleasePlan
    versions: dict[str, str]


def _pin_edits(workspace: Workspace, plan: ReleasePlan, versions: dict[str, str]) -> dict[str, str]:
    """The new pyproject.toml text of every release that raises a pin, by normalized name."""
    edits: dict[str, str] = {}
    for release in plan.releases:
        if not release.updated_dependencies:
            continue
        pyproject = release.package.pyproject
        raised = {dep.key: versions[dep.key] for dep in release.updated_dependencies}
        where = pyproject.relative_to(workspace.root).as_posix()
        edits[release.package.key] = rewrite_pins(pyproject.read_text("utf-8"), raised, where=where)
    return edits


def _lock(workspace: Workspace) -> str:
    """Refresh uv.lock, offline first and then with the index; returns how it was done."""
    try:
        run([uv(), "lock", "--offline"], workspace.root)
    except CommandError:
        pass
    else:
        return "uv lock --offline"
    try:
        run([uv(), "lock"], workspace.root)
    except CommandError as error:
        msg = (
            f"versions, pins and changelogs are written and the changesets removed, "
            f"but uv.lock could not be refreshed; fix the cause and run `uv lock`:\n{error}"
        )
        raise CommandError(msg) from None
    return "uv lock"


def apply_versions(workspace: Workspace, *, dry_run: bool = False) -> VersionResult:
    """Bump, re-pin and write changelogs for every package the pending changesets release.

    Everything that could fail on bad input (changeset files, pins that cannot be raised)
    is checked before the first file changes. With ``dry_run`` the plan is printed only.

    Raises:
        ChangesetError: A changeset file is invalid.
        WorkspaceError: A dependent's pin cannot be raised automatically.
        CommandError: uv failed; the message says what was already written.
    """
    plan = plan_release(workspace, read_changesets(workspace))
    predicted = plan.version_map()
    _pin_edits(workspace, plan, predicted)  # validates every pin before anything is written
    for line in describe_plan(plan):
        print(line)
    if dry_run and plan.releases:
        print("\nChangelog entries:")
        for release in plan.releases:
            print(f"  {release.package.name} {release.next_version}")
            for bump, entries in release.changelog_entries(predicted).items():
                print(
                    "".join(f"    {bump}: {entry.splitlines()[0]}\n" for entry in entries), end=""
                )
        print(
            "\nDry run: nothing written (a real run also deletes the changesets and runs uv lock)."
        )
    if dry_run or not plan.releases:
        return VersionResult(plan=plan, versions=predicted)

    versions: dict[str, str] = {}
    for release in plan.releases:
        package = release.package
        command = [uv(), "version", "--package", package.name, "--bump", str(release.bump)]
        try:
            run([*command, "--frozen"], workspace.root)
        except CommandError as error:
            bumped = " ".join(
                workspace.packages[key].pyproject.relative_to(workspace.root).as_posix()
                for key in versions
            )
            undo = f" Restore them with `git checkout -- {bumped}`." if bumped else ""
            msg = f"{error}\nVersions already bumped: {len(versions)}.{undo} Fix, then rerun."
            raise CommandError(msg) from None
        version = read_pyproject(package.pyproject).get("project", {}).get("version")
        if not isinstance(version, str):
            msg = f"{package.pyproject}: no static version after `uv version --bump`"
            raise WorkspaceError(msg)
        versions[package.key] = version
    if versions != predicted:
        print(f"note: uv chose versions {versions}, expected {predicted}; using uv's")
    for key, text in _pin_edits(workspace, plan, versions).items():
        workspace.packages[key].pyproject.write_text(text, "utf-8")
    for release in plan.releases:
        package = release.package
        section = render_section(versions[package.key], release.changelog_entries(versions))
        existing = package.changelog.read_text("utf-8") if package.changelog.exists() else ""
        package.changelog.write_text(
            prepend_section(existing, section, f"Changelog of {package.name}"), "utf-8"
        )
    for changeset in plan.changesets:
        changeset.path.unlink()
    how = _lock(workspace)
    print(f"\nWrote {len(plan.releases)} release(s), removed {len(plan.changesets)} changeset(s),")
    print(f"refreshed uv.lock ({how}). Review the diff and commit it.")
    return VersionResult(plan=plan, versions=versions)
