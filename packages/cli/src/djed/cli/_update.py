"""`djed update`: re-apply the newest version of each template a project came from."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from ._console import info, step, success
from ._errors import CliError
from ._project import project_files
from ._templates import TEMPLATES, TemplateStore

__all__ = ["Applied", "answers_files", "update_project"]

_CONFLICT = "<<<<<<< before updating"


@dataclass(frozen=True)
class Applied:
    """One template re-applied: where, from which version to which, and the files in conflict."""

    answers: Path
    template: str
    old: str
    new: str
    conflicts: tuple[Path, ...]


def answers_files(root: Path) -> list[tuple[Path, str, dict[str, object]]]:
    """Every answers file under ``root`` written from a Djed template: path, template, answers."""
    found = []
    for path in project_files(root, ".copier-answers*.yml"):
        try:
            answers = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise CliError(f"{path} is not valid YAML: {error}", code=2) from None
        template = Path(str(answers.get("_src_path", ""))).name
        if template in TEMPLATES:
            found.append((path, template, answers))
    return found


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed git arguments
        ["git", *args],  # noqa: S607 - git from PATH
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )


def _check_repository(root: Path) -> None:
    if _git(root, "rev-parse", "--show-toplevel").returncode != 0:
        raise CliError(
            f"{root} is not in a git repository",
            code=4,
            hint="djed update merges through git: run `git init && git add -A && git commit`",
        )
    dirty = _git(root, "status", "--porcelain").stdout.strip()
    if dirty:
        raise CliError(
            "the project has uncommitted changes:\n  " + "\n  ".join(dirty.splitlines()[:10]),
            code=4,
            hint="commit or stash them first, so that the update can be reviewed and undone",
        )


def _conflicts(root: Path) -> tuple[Path, ...]:
    changed = _git(root, "diff", "--name-only").stdout.split()
    changed += _git(root, "ls-files", "--others", "--exclude-standard").stdout.split()
    hits = []
    for name in sorted(set(changed)):
        path = root / name
        if path.is_file() and _CONFLICT in path.read_text(encoding="utf-8", errors="replace"):
            hits.append(path)
    return tuple(hits)


def update_project(root: Path, *, data: dict[str, object]) -> list[Applied]:
    """Re-apply every Djed template of the project at ``root``; what was done.

    Each template is versioned in the store its answers file names (its
    ``_src_path``), so that the old and new versions come from one place.
    """
    import copier  # noqa: PLC0415 - heavy, only here
    from copier.errors import CopierError  # noqa: PLC0415

    found = answers_files(root)
    if not found:
        raise CliError(
            f"no project made by `djed init` at {root}"
            " (no .copier-answers*.yml written from a Djed template)",
            code=2,
        )
    _check_repository(root)
    applied = []
    for path, template, answers in found:
        old = str(answers.get("_commit", ""))
        store = TemplateStore(str(Path(str(answers["_src_path"])).parent))
        new = store.register(template)
        if old == new:
            info(f"{template}: already at template version {new}")
            continue
        source = Path(str(answers["_src_path"])).expanduser()
        if _git(source, "rev-parse", "--verify", "--quiet", f"refs/tags/{old}").returncode != 0:
            raise CliError(
                f"{template}: this project was made from template version {old!r}, which is"
                f" not in the template store at {source}",
                code=3,
                hint="run the update on the machine that made the project (or any machine that"
                " has run that djed-cli version), or copy the template store from it",
            )
        with step(f"{template}: template version {old} → {new}"):
            try:
                copier.run_update(
                    path.parent,
                    answers_file=path.name,
                    data={k: v for k, v in data.items() if v is not None},
                    defaults=True,
                    overwrite=True,
                    quiet=True,
                    unsafe=False,
                    vcs_ref=new,
                    conflict="inline",
                    skip_answered=True,
                )
            except (CopierError, ValueError) as error:
                raise CliError(f"{template}: the update failed: {error}", code=4) from None
        applied.append(Applied(path, template, old, new, _conflicts(root)))
    if applied and not any(a.conflicts for a in applied):
        success("review the changes with `git diff`, run your tests, then commit")
    return applied
