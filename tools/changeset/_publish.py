"""The `publish` command: build, smoke-test, upload and tag every untagged package version."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tools.changeset._errors import CommandError
from tools.changeset._git import create_tag, has_uncommitted_changes, tags
from tools.changeset._process import run, uv

if TYPE_CHECKING:
    from tools.changeset._workspace import Package, Workspace

__all__ = ["DIST_DIR", "PublishResult", "build", "publish", "smoke_test"]

DIST_DIR = "dist"
"""Where built files go, one folder per distribution, relative to the workspace root."""


@dataclass
class PublishResult:
    """What `publish` did: packages built (and uploaded unless dry), skipped, tags made."""

    built: dict[str, list[Path]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    tagged: list[str] = field(default_factory=list)


def build(workspace: Workspace, package: Package) -> list[Path]:
    """Build the sdist and wheel of ``package`` as users get them (no workspace sources).

    The output folder `dist/<name>/` is emptied first so that only this version is in it.
    """
    out_dir = workspace.root / DIST_DIR / package.name
    shutil.rmtree(out_dir, ignore_errors=True)
    run(
        [uv(), "build", "--package", package.name, "--no-sources", "--out-dir", out_dir],
        workspace.root,
    )
    files = sorted(path for path in out_dir.iterdir() if path.suffix in {".whl", ".gz"})
    if not any(path.suffix == ".whl" for path in files):
        msg = f"`uv build` made no wheel for {package.name} in {out_dir}"
        raise CommandError(msg)
    return files


def smoke_test(
    package: Package,
    wheel: Path,
    *,
    find_links: list[Path] | None = None,
    index_url: str | None = None,
) -> None:
    """Install ``wheel`` alone into a fresh venv and import the package from it.

    Dependencies resolve from the index (``index_url`` or uv's default) and from
    ``find_links``, the folders of siblings built earlier in the same run.

    Raises:
        CommandError: The venv, the install or the import failed.
    """
    with tempfile.TemporaryDirectory(prefix="djed-smoke-") as temporary:
        scratch = Path(temporary)
        venv = scratch / "venv"
        run([uv(), "venv", "--quiet", "--python", sys.executable, venv], scratch)
        bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
        python = bin_dir / ("python.exe" if os.name == "nt" else "python")
        install: list[str | Path] = [uv(), "pip", "install", "--quiet", "--python", python]
        for folder in find_links or []:
            install += ["--find-links", folder]
        if index_url:
            install += ["--default-index", index_url]
        run([*install, wheel], scratch)
        env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
        run([python, "-c", f"import {package.import_name}"], scratch, env=env)


#: The version a new package starts at: its first changeset gives it a real one.
UNRELEASED_VERSION = "0.0.0"


def publish(
    workspace: Workspace,
    *,
    dry_run: bool = False,
    index_url: str | None = None,
    publish_url: str | None = None,
) -> PublishResult:
    """Release every member whose current version has no ``<name>==<version>`` git tag.

    A member still at version 0.0.0 has never been versioned and is skipped.

    Packages go in dependency order. Each is built, smoke-tested, uploaded with `uv publish`
    and tagged; a dry run builds and smoke-tests but neither uploads nor tags.

    Args:
        workspace: The workspace to release from.
        dry_run: Build and smoke-test only, printing what would be uploaded and tagged.
        index_url: Index for the smoke installs' dependencies, and `uv publish --check-url`.
        publish_url: Upload endpoint passed to `uv publish --publish-url`.

    Raises:
        CommandError: A build, smoke test, upload or tag failed; later packages are left alone.
    """
    result = PublishResult()
    existing = tags(workspace.root)
    pending: list[Package] = []
    for package in workspace.in_dependency_order():
        if package.tag in existing:
            print(f"skip {package.name} {package.version}: already tagged {package.tag}")
            result.skipped.append(package.name)
        elif package.version == UNRELEASED_VERSION:
            print(f"skip {package.name} {package.version}: never versioned (run `version` first)")
            result.skipped.append(package.name)
        else:
            pending.append(package)
    if not pending:
        print("Nothing to publish: every package version is tagged.")
        return result
    if not dry_run and has_uncommitted_changes(workspace.root):
        print("warning: the working tree has uncommitted changes; tags go on HEAD as committed")
    built_dirs: list[Path] = []
    for package in pending:
        print(f"build {package.name} {package.version}")
        files = build(workspace, package)
        wheel = next(path for path in files if path.suffix == ".whl")
        print(f"smoke-test {wheel.name}: import {package.import_name} in a fresh venv")
        smoke_test(package, wheel, find_links=built_dirs, index_url=index_url)
        built_dirs.append(wheel.parent)
        result.built[package.name] = files
        names = ", ".join(path.name for path in files)
        if dry_run:
            print(f"dry run: would upload {names} and tag {package.tag}")
            continue
        upload: list[str | Path] = [uv(), "publish"]
        if publish_url:
            upload += ["--publish-url", publish_url]
        if index_url:
            upload += ["--check-url", index_url]
        run([*upload, *files], workspace.root)
        create_tag(workspace.root, package.tag)
        result.tagged.append(package.tag)
        print(f"published {names}; tagged {package.tag}")
    if result.tagged:
        print(f"Push the tags: git push origin {' '.join(result.tagged)}")
    return result
