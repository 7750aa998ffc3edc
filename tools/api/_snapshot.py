"""The snapshot file: ``packages/<dir>/api.json``, written for people to review in diffs.

The layout is ordinary JSON with two-space indentation, except that an object or array
holding only plain values stays on one line: a small record such as a parameter always, so
each parameter is one line of the diff, and a longer list when it fits in 100 columns.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from tools.api._errors import ApiError
from tools.changeset._errors import CommandError
from tools.changeset._git import ref_exists
from tools.changeset._process import run

if TYPE_CHECKING:
    from pathlib import Path

    from tools.api._compare import Modules

__all__ = [
    "FORMAT",
    "SNAPSHOT_NAME",
    "parse_snapshot",
    "read_snapshot",
    "render_snapshot",
    "snapshot_at",
]

SNAPSHOT_NAME = "api.json"
"""The snapshot's file name in each package directory."""

FORMAT = 1
"""The layout version written into every snapshot."""

_INLINE_WIDTH = 100
_RECORD_KEYS = 5  # a flat object with this many keys or fewer (a parameter) is one line
_REWRITE = "write it again with `python -m tools.api snapshot`"


def _is_scalar(value: object) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _render(value: object, indent: int) -> str:
    """``value`` as JSON, nested containers indented, flat short ones on one line."""
    if _is_scalar(value):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        items: list[Any] = list(value.values())
    elif isinstance(value, list):
        items = value
    else:
        msg = f"cannot write {type(value).__name__} into a snapshot"
        raise TypeError(msg)
    if not items:
        return "{}" if isinstance(value, dict) else "[]"
    if all(_is_scalar(item) or item in ({}, []) for item in items):
        inline = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
        record = isinstance(value, dict) and len(value) <= _RECORD_KEYS
        if record or indent + len(inline) <= _INLINE_WIDTH:
            return inline
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        lines = [
            f"{pad}{json.dumps(key, ensure_ascii=False)}: {_render(item, indent + 2)}"
            for key, item in value.items()
        ]
        return "{\n" + ",\n".join(lines) + "\n" + " " * indent + "}"
    lines = [f"{pad}{_render(item, indent + 2)}" for item in items]
    return "[\n" + ",\n".join(lines) + "\n" + " " * indent + "]"


def render_snapshot(distribution: str, modules: Modules) -> str:
    """The text of the snapshot file of ``distribution`` whose API is ``modules``."""
    document = {
        "about": (
            f"The public API of {distribution}. Written by `python -m tools.api snapshot`; "
            "do not edit by hand (see tools/README.md)."
        ),
        "format": FORMAT,
        "distribution": distribution,
        "modules": modules,
    }
    return _render(document, 0) + "\n"


def parse_snapshot(text: str, where: str) -> Modules:
    """The modules recorded in a snapshot's ``text``; ``where`` names it in errors.

    Raises:
        ApiError: The text is not a snapshot this tool can read.
    """
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        msg = f"{where}: not valid JSON ({error}); {_REWRITE}"
        raise ApiError(msg) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        msg = f"{where}: not a format-{FORMAT} API snapshot; {_REWRITE}"
        raise ApiError(msg)
    modules = document.get("modules")
    if not isinstance(modules, dict) or not all(
        isinstance(names, dict) and all(isinstance(r, dict) and "kind" in r for r in names.values())
        for names in modules.values()
    ):
        msg = f"{where}: 'modules' must map each module to its names and their records"
        raise ApiError(msg)
    return modules


def read_snapshot(path: Path, where: str) -> Modules | None:
    """The modules recorded in the snapshot at ``path``, or None when there is no file."""
    if not path.is_file():
        return None
    return parse_snapshot(path.read_text("utf-8"), where)


def snapshot_at(root: Path, ref: str, relative: str) -> str | None:
    """The text of ``relative`` (posix, from ``root``) at git ``ref``, or None if absent there.

    Raises:
        ApiError: ``ref`` does not name a commit.
    """
    if not ref_exists(root, ref):
        msg = f"base {ref!r} is not a commit of the repository at {root}"
        raise ApiError(msg)
    try:
        return run(["git", "show", f"{ref}:./{relative}"], root)
    except CommandError:
        return None
