"""Writing release sections at the top of a package's CHANGELOG.md."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tools.changeset._bump import Bump

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["prepend_section", "render_section"]


def _bullet(entry: str) -> str:
    """``entry`` as a markdown list item; later lines are indented under the first."""
    first, *rest = entry.strip().splitlines()
    lines = [f"- {first}"] + [f"  {line}" if line.strip() else "" for line in rest]
    return "\n".join(lines) + "\n"


def render_section(version: str, entries: Mapping[Bump, Sequence[str]]) -> str:
    """The ``## <version>`` section with one subsection per bump kind that has entries."""
    parts = [f"## {version}\n"]
    for bump in Bump:
        if entries.get(bump):
            parts.append(f"\n### {bump.heading}\n\n")
            parts.extend(_bullet(entry) for entry in entries[bump])
    return "".join(parts)


def prepend_section(text: str, section: str, title: str) -> str:
    """``text`` with ``section`` placed after its header and before any older release.

    The header is every line before the first ``## `` heading; an empty file gets ``title``
    as its header.
    """
    if not text.strip():
        return f"# {title}\n\n{section}"
    lines = text.splitlines(keepends=True)
    first = next((i for i, line in enumerate(lines) if line.startswith("## ")), len(lines))
    header = "".join(lines[:first]).rstrip("\n")
    older = "".join(lines[first:])
    result = f"{header}\n\n{section}"
    if older:
        result += f"\n{older}"
    return result
