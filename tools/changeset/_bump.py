"""Bump kinds and the version arithmetic that `uv version --bump` applies."""

from __future__ import annotations

import enum
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["Bump", "highest", "next_version"]


class Bump(enum.StrEnum):
    """A release kind a changeset asks for: major, minor or patch."""

    MAJOR = "major"
    MINOR = "minor"
    PATCH = "patch"

    @property
    def rank(self) -> int:
        """Precedence of the bump: major outranks minor, which outranks patch."""
        return _RANK[self]

    @property
    def heading(self) -> str:
        """The changelog subsection title for entries of this kind."""
        return f"{self.value.capitalize()} changes"


_RANK = {Bump.MAJOR: 3, Bump.MINOR: 2, Bump.PATCH: 1}
_RELEASE_INDEX = {Bump.MAJOR: 0, Bump.MINOR: 1, Bump.PATCH: 2}

# epoch, release segment, then any pre/post/dev/local suffix (dropped by a bump, as uv does).
_VERSION = re.compile(
    r"^v?(?:(?P<epoch>\d+)!)?(?P<release>\d+(?:\.\d+)*)"
    r"(?P<suffix>(?:[._-]?[a-z][a-z0-9._-]*)?(?:\+[a-z0-9._-]+)?)$",
    re.IGNORECASE,
)


def highest(bumps: Iterable[Bump]) -> Bump:
    """The strongest of ``bumps``; raises ``ValueError`` when there are none."""
    return max(bumps, key=lambda bump: bump.rank)


def next_version(version: str, bump: Bump) -> str:
    """The version `uv version --bump` gives ``version``.

    The bumped release component is raised by one and the ones after it reset to zero,
    padding the release to at least three parts when needed; pre-release, post-release,
    dev and local parts are dropped. ``next_version("1.2.3a1", Bump.MINOR)`` is ``"1.3.0"``.

    Args:
        version: A PEP 440 version such as ``0.1.0``.
        bump: The kind of release.

    Raises:
        ValueError: ``version`` is not a PEP 440 version.
    """
    match = _VERSION.match(version.strip())
    if match is None:
        msg = f"cannot bump {version!r}: it is not a PEP 440 version"
        raise ValueError(msg)
    release = [int(part) for part in match["release"].split(".")]
    index = _RELEASE_INDEX[bump]
    release.extend([0] * (index + 1 - len(release)))
    release[index] += 1
    release[index + 1 :] = [0] * (len(release) - index - 1)
    epoch = f"{match['epoch']}!" if match["epoch"] else ""
    return epoch + ".".join(str(part) for part in release)
