"""The questions `add` asks when run in a terminal without flags."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tools.changeset._bump import Bump
from tools.changeset._errors import ReleaseError

if TYPE_CHECKING:
    from tools.changeset._workspace import Package, Workspace

__all__ = ["ask_changeset"]

Ask = Callable[[str], str]


def _answer(ask: Ask, prompt: str) -> str:
    """One stripped answer; end of input aborts with a clear error."""
    try:
        return ask(prompt).strip()
    except EOFError:
        raise ReleaseError("add aborted: no answer given") from None


def _choose_packages(workspace: Workspace, ask: Ask) -> list[Package]:
    """Ask until the answer names one or more members, by number or by name."""
    members = list(workspace)
    print("Packages in this workspace:")
    for number, package in enumerate(members, start=1):
        print(f"  {number}. {package.name} ({package.version})")
    while True:
        answer = _answer(ask, "Which packages does this change touch? (numbers or names): ")
        chosen: list[Package] = []
        unknown: list[str] = []
        for word in answer.replace(",", " ").split():
            picked = (
                members[int(word) - 1]
                if word.isdigit() and 1 <= int(word) <= len(members)
                else workspace.get(word)
            )
            if picked is None:
                unknown.append(word)
            elif picked not in chosen:
                chosen.append(picked)
        if unknown:
            print(f"  not a package here: {', '.join(unknown)}")
        elif chosen:
            return chosen


def _choose_bump(package: Package, ask: Ask) -> Bump:
    """Ask until the answer is a bump word; an empty answer means patch."""
    words = "/".join(bump.value for bump in Bump)
    while True:
        answer = _answer(ask, f"Bump for {package.name} [{words}] (patch): ").lower()
        if not answer:
            return Bump.PATCH
        try:
            return Bump(answer)
        except ValueError:
            print(f"  answer one of {words}")


def ask_changeset(workspace: Workspace, ask: Ask = input) -> tuple[dict[str, Bump], str]:
    """The packages, bumps and summary of a new changeset, asked one question at a time."""
    releases = {
        package.name: _choose_bump(package, ask) for package in _choose_packages(workspace, ask)
    }
    while True:
        summary = _answer(ask, "Summary (one line saying what changed for users): ")
        if summary:
            return releases, summary
        print("  the summary cannot be empty")
