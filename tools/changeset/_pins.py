"""Requirement strings of workspace siblings, and raising their lower bounds in place."""

from __future__ import annotations

import copy
import re
import tomllib
from typing import TYPE_CHECKING, Any

from tools.changeset._errors import WorkspaceError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["normalize_name", "raise_requirement", "requirement_name", "rewrite_pins"]

_NAME_SEPARATORS = re.compile(r"[-_.]+")
_REQUIREMENT = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*"
    r"(?P<extras>\[[^\]]*\])?\s*(?P<rest>.*)$",
    re.DOTALL,
)
_CLAUSE = re.compile(r"^(?P<op>~=|===|==|!=|<=|>=|<|>)\s*(?P<version>\S+)$")
_LOWER_BOUNDS = frozenset({">=", ">"})
_EXACT_PINS = frozenset({"==", "===", "~="})

# A TOML table header on its own line, e.g. `[project.optional-dependencies]`.
_TABLE_HEADER = re.compile(r"^\s*\[(?P<array>\[)?\s*(?P<name>[^\[\]]+?)\s*\]\]?\s*(?:#.*)?$")
# A one-line TOML basic ("...") or literal ('...') string.
_STRING_TOKEN = re.compile(r"\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'")
_DEPENDENCY_TABLES = frozenset({"project", "project.optional-dependencies"})


def normalize_name(name: str) -> str:
    """The PEP 503 normalized form of a distribution name: lower case, runs of ``-_.`` as ``-``."""
    return _NAME_SEPARATORS.sub("-", name).lower()


def requirement_name(requirement: str) -> str | None:
    """The normalized distribution name a PEP 508 requirement string names, or None if invalid."""
    match = _REQUIREMENT.match(requirement)
    return normalize_name(match["name"]) if match else None


def raise_requirement(requirement: str, version: str) -> str:
    """``requirement`` with its lower bound set to ``>=version``, keeping extras, caps and markers.

    ``>=`` and ``>`` clauses are replaced, ``<``, ``<=`` and ``!=`` kept, and a bare name gains
    a lower bound: ``raise_requirement("djed-a>=0.1,<2; python_version>'3'", "0.2.0")`` is
    ``"djed-a>=0.2.0,<2; python_version>'3'"``.

    Raises:
        WorkspaceError: The requirement is a URL, pins an exact or compatible version
            (``==``, ``===``, ``~=``), or is not a valid requirement string.
    """
    match = _REQUIREMENT.match(requirement)
    if match is None:
        msg = f"{requirement!r} is not a valid requirement string"
        raise WorkspaceError(msg)
    rest = match["rest"].strip()
    if rest.startswith("@"):
        msg = f"{requirement!r} is a URL requirement; its version cannot be raised"
        raise WorkspaceError(msg)
    specifiers, _, marker = rest.partition(";")
    specifiers = specifiers.strip()
    if specifiers.startswith("(") and specifiers.endswith(")"):
        specifiers = specifiers[1:-1]
    kept: list[str] = []
    for raw in specifiers.split(","):
        clause = raw.strip()
        if not clause:
            continue
        parsed = _CLAUSE.match(clause)
        if parsed is None:
            msg = f"{requirement!r} has a version clause {clause!r} that is not understood"
            raise WorkspaceError(msg)
        op = parsed["op"]
        if op in _EXACT_PINS:
            msg = (
                f"{requirement!r} pins a workspace sibling with {op!r}; use '>=' so that "
                "the release tool can raise it"
            )
            raise WorkspaceError(msg)
        if op not in _LOWER_BOUNDS:
            kept.append(f"{op}{parsed['version']}")
    extras = match["extras"] or ""
    raised = ",".join([f">={version}", *kept])
    result = f"{match['name']}{extras}{raised}"
    if marker.strip():
        result += f"; {marker.strip()}"
    return result


def _dependency_lists(document: Mapping[str, Any]) -> list[list[Any]]:
    """The `[project]` dependency arrays of a parsed pyproject: main and every extra."""
    project = document.get("project", {})
    lists: list[list[Any]] = []
    if isinstance(project.get("dependencies"), list):
        lists.append(project["dependencies"])
    extras = project.get("optional-dependencies", {})
    if isinstance(extras, dict):
        lists.extend(value for value in extras.values() if isinstance(value, list))
    return lists


def _decode(token: str) -> str | None:
    """The value of a one-line TOML string token, or None when it is not a valid one."""
    try:
        value = tomllib.loads(f"v = {token}")["v"]
    except tomllib.TOMLDecodeError:
        return None
    return value if isinstance(value, str) else None


def rewrite_pins(text: str, versions: Mapping[str, str], *, where: str) -> str:
    """``text`` (a pyproject.toml) with each requirement on a package of ``versions`` raised.

    The edit is textual, so comments, order and layout stay as they were; only the string
    literals inside `[project]` dependencies and `[project.optional-dependencies]` change.
    The result is parsed again and compared with the intended document.

    Args:
        text: The pyproject.toml contents.
        versions: New version per normalized distribution name.
        where: The file's name, for error messages.

    Raises:
        WorkspaceError: A requirement cannot be raised, or the textual edit did not give
            the intended document (an unusual layout): edit the file by hand then.
    """
    document = tomllib.loads(text)
    replacements: dict[str, str] = {}
    expected = copy.deepcopy(document)
    for requirements in _dependency_lists(expected):
        for index, requirement in enumerate(requirements):
            if not isinstance(requirement, str):
                continue
            name = requirement_name(requirement)
            if name is None or name not in versions:
                continue
            try:
                new = raise_requirement(requirement, versions[name])
            except WorkspaceError as error:
                msg = f"{where}: {error}"
                raise WorkspaceError(msg) from None
            replacements[requirement] = new
            requirements[index] = new
    if not replacements:
        return text

    def replace(token: re.Match[str]) -> str:
        value = _decode(token.group())
        new = None if value is None else replacements.get(value)
        if new is None:
            return token.group()
        quote = token.group()[0]
        if quote == "'" and "'" not in new:
            return f"'{new}'"
        return '"' + new.replace("\\", "\\\\").replace('"', '\\"') + '"'

    table = ""
    lines = text.splitlines(keepends=True)
    for number, line in enumerate(lines):
        header = _TABLE_HEADER.match(line)
        if header is not None:
            table = "" if header["array"] else re.sub(r"\s+", "", header["name"])
            continue
        if table in _DEPENDENCY_TABLES:
            lines[number] = _STRING_TOKEN.sub(replace, line)
    result = "".join(lines)
    if tomllib.loads(result) != expected:
        msg = (
            f"{where}: could not raise the workspace pins by a textual edit "
            f"({', '.join(sorted(replacements.values()))}); edit the file by hand"
        )
        raise WorkspaceError(msg)
    return result
