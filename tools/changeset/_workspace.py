"""Discovery of the uv workspace: its members, their versions and who depends on whom."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tools.changeset._errors import WorkspaceError
from tools.changeset._pins import normalize_name, requirement_name

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

__all__ = ["NAMESPACE", "Package", "Workspace", "find_root", "load_workspace", "read_pyproject"]

NAMESPACE = "djed"
"""The PEP 420 namespace every member's import package lives under."""


def read_pyproject(path: Path) -> dict[str, Any]:
    """The parsed contents of a pyproject.toml, with a clear error when it is not valid TOML."""
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except tomllib.TOMLDecodeError as error:
        msg = f"{path}: invalid TOML: {error}"
        raise WorkspaceError(msg) from None


@dataclass(frozen=True)
class Package:
    """One workspace member: a distribution with a static version, in its own directory."""

    name: str
    version: str
    directory: Path
    relative: str
    requirements: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The normalized distribution name, used to match names however they are spelled."""
        return normalize_name(self.name)

    @property
    def pyproject(self) -> Path:
        """The member's pyproject.toml."""
        return self.directory / "pyproject.toml"

    @property
    def changelog(self) -> Path:
        """The member's CHANGELOG.md."""
        return self.directory / "CHANGELOG.md"

    @property
    def import_name(self) -> str:
        """The module users import: ``packages/mcp-base`` gives ``djed.mcp_base``."""
        return f"{NAMESPACE}.{self.directory.name.replace('-', '_')}"

    @property
    def tag(self) -> str:
        """The git tag that marks this version as published, e.g. ``djed-logger==0.1.0``."""
        return f"{self.name}=={self.version}"


@dataclass(frozen=True)
class Workspace:
    """The workspace root and its members keyed by normalized distribution name."""

    root: Path
    packages: Mapping[str, Package] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Package]:
        return iter(self.packages.values())

    def get(self, name: str) -> Package | None:
        """The member called ``name`` (any PEP 503 spelling), or None."""
        return self.packages.get(normalize_name(name))

    def dependencies(self, package: Package) -> list[Package]:
        """Members that ``package`` requires, in its dependencies or any of its extras."""
        keys = {requirement_name(req) for req in package.requirements}
        return [other for other in self if other.key in keys and other.key != package.key]

    def dependents(self, package: Package) -> list[Package]:
        """Members that require ``package``, in their dependencies or any of their extras."""
        return [other for other in self if package in self.dependencies(other)]

    def owner(self, path: str) -> Package | None:
        """The member whose directory holds ``path`` (posix, relative to the root), or None."""
        best: Package | None = None
        for package in self:
            prefix = package.relative.rstrip("/") + "/"
            if path.startswith(prefix) and (
                best is None or len(package.relative) > len(best.relative)
            ):
                best = package
        return best

    def in_dependency_order(self) -> list[Package]:
        """Every member, each after the members it depends on (name order breaks ties)."""
        ordered: list[Package] = []
        visiting: set[str] = set()

        def visit(package: Package) -> None:
            if package in ordered or package.key in visiting:
                return
            visiting.add(package.key)
            for dependency in self.dependencies(package):
                visit(dependency)
            ordered.append(package)

        for package in self:
            visit(package)
        return ordered


def find_root(start: Path) -> Path:
    """The nearest directory at or above ``start`` whose pyproject.toml has [tool.uv.workspace]."""
    start = start.resolve()
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file() and "workspace" in read_pyproject(candidate).get("tool", {}).get(
            "uv", {}
        ):
            return directory
    msg = f"no pyproject.toml with [tool.uv.workspace] at or above {start}; pass --root"
    raise WorkspaceError(msg)


def _strings(value: object, where: str) -> list[str]:
    """``value`` as a list of strings, or a clear error naming the offending key."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        msg = f"{where} must be a list of strings"
        raise WorkspaceError(msg)
    return list(value)


def _load_member(root: Path, directory: Path) -> Package:
    """The member described by ``directory/pyproject.toml``."""
    path = directory / "pyproject.toml"
    project = read_pyproject(path).get("project", {})
    name = project.get("name")
    if not isinstance(name, str) or not name:
        msg = f"{path}: [project].name is missing"
        raise WorkspaceError(msg)
    version = project.get("version")
    if not isinstance(version, str) or not version:
        msg = f"{path}: [project].version must be a static string (uv cannot bump a dynamic one)"
        raise WorkspaceError(msg)
    requirements = _strings(project.get("dependencies", []), f"{path}: [project].dependencies")
    extras = project.get("optional-dependencies", {})
    if not isinstance(extras, dict):
        msg = f"{path}: [project.optional-dependencies] must be a table"
        raise WorkspaceError(msg)
    for extra, values in extras.items():
        requirements += _strings(values, f"{path}: [project.optional-dependencies].{extra}")
    return Package(
        name=name,
        version=version,
        directory=directory,
        relative=directory.relative_to(root).as_posix(),
        requirements=tuple(requirements),
    )


def load_workspace(root: Path) -> Workspace:
    """The workspace at ``root``: members from [tool.uv.workspace] members minus exclude globs."""
    root = root.resolve()
    config = read_pyproject(root / "pyproject.toml").get("tool", {}).get("uv", {})
    if "workspace" not in config:
        msg = f"{root / 'pyproject.toml'} has no [tool.uv.workspace] table"
        raise WorkspaceError(msg)
    settings = config["workspace"]
    members = _strings(settings.get("members", []), "[tool.uv.workspace].members")
    excludes = _strings(settings.get("exclude", []), "[tool.uv.workspace].exclude")
    excluded = {path.resolve() for pattern in excludes for path in root.glob(pattern)}
    directories = sorted(
        {
            path.resolve()
            for pattern in members
            for path in root.glob(pattern)
            if (path / "pyproject.toml").is_file() and path.resolve() not in excluded
        }
    )
    packages: dict[str, Package] = {}
    for directory in directories:
        package = _load_member(root, directory)
        if package.key in packages:
            first = packages[package.key].relative
            msg = f"{package.name} is defined twice: in {first} and in {package.relative}"
            raise WorkspaceError(msg)
        packages[package.key] = package
    return Workspace(root=root, packages=dict(sorted(packages.items())))
