"""Project and package names: what is wrong with a bad one, and a name that would do."""

from __future__ import annotations

import keyword
import re
import sys

from ._errors import CliError

__all__ = ["check_package_name", "check_project_name", "package_name_for"]

_PROJECT = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_PACKAGE = re.compile(r"^[a-z_][a-z0-9_]*$")
# Top-level imports a project's package would hide from itself.
_TAKEN = frozenset(sys.stdlib_module_names) | {
    "djed",
    "mcp",
    "structlog",
    "pydantic",
    "starlette",
    "uvicorn",
    "anyio",
    "httpx",
    "jwt",
    "tests",
    "test",
    "src",
}


def _suggest_project(name: str) -> str:
    text = re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")
    text = re.sub(r"-{2,}", "-", text)
    if not text:
        return "my-server"
    if not text[0].isalpha():
        text = f"mcp-{text}"
    return text[:63].rstrip("-")


def package_name_for(project: str) -> str:
    """The import name a project name gives (``notes-api`` → ``notes_api``)."""
    return project.replace("-", "_")


def check_project_name(name: str) -> str:
    """``name`` when it is a good project name; else a :class:`CliError` saying why, with a fix."""
    reason = None
    if not name:
        reason = "it is empty"
    elif len(name) > 63:
        reason = "it is longer than 63 characters (the limit of Kubernetes names)"
    elif name != name.lower():
        reason = "it has capital letters (package indexes compare names in lower case)"
    elif not _PROJECT.match(name):
        reason = (
            "use lowercase letters, digits and single hyphens, starting with a letter"
            " and not ending with a hyphen"
        )
    elif package_name_for(name) in _TAKEN:
        reason = f"its package {package_name_for(name)!r} would hide the module of that name"
    if reason is None:
        return name
    suggestion = _suggest_project(name)
    if package_name_for(suggestion) in _TAKEN or suggestion == name:
        suggestion = f"{suggestion}-server"
    raise CliError(
        f"{name!r} is not a usable project name: {reason}", code=2, hint=f"try {suggestion!r}"
    )


def check_package_name(name: str) -> str:
    """``name`` when it is a good import name; else a :class:`CliError` with a fix."""
    reason = None
    if not _PACKAGE.match(name):
        reason = "use lowercase letters, digits and underscores, not starting with a digit"
    elif keyword.iskeyword(name):
        reason = "it is a Python keyword"
    elif name in _TAKEN:
        reason = "it would hide the module of that name"
    if reason is None:
        return name
    fixed = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or "server"
    if not fixed[0].isalpha():
        fixed = f"mcp_{fixed}"
    if fixed in _TAKEN or keyword.iskeyword(fixed) or fixed == name:
        fixed = f"{fixed}_server"
    raise CliError(
        f"{name!r} is not a usable package name: {reason}", code=2, hint=f"try {fixed!r}"
    )
