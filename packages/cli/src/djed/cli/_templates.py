"""Where templates come from, and how they are versioned for `djed update`.

copier re-applies a template only when the template is a git repository with
version tags: it renders the version a project was made from and the new one,
and carries the project's own changes across. Djed ships its templates as
plain folders inside the package, so each distinct content of a template is
recorded in a small local git repository (one per template, under the
template cache) as a commit tagged ``<djed-cli version>.post<N>``: the same
content always gets the same tag, and a newer content gets a higher one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from ._errors import CliError

__all__ = ["TEMPLATES", "TemplateStore", "cli_version", "template_source"]

#: The templates `djed init` renders, by name.
TEMPLATES = ("mcp-server", "docker", "kubernetes", "monitoring")

_DEFAULT_CACHE = "~/.cache/djed/templates"
# Fixed identity and dates: a commit of the same content gets the same hash on every machine.
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "djed",
    "GIT_AUTHOR_EMAIL": "templates@djed.invalid",
    "GIT_COMMITTER_NAME": "djed",
    "GIT_COMMITTER_EMAIL": "templates@djed.invalid",
    "GIT_AUTHOR_DATE": "2000-01-01T00:00:00+0000",
    "GIT_COMMITTER_DATE": "2000-01-01T00:00:00+0000",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def cli_version() -> str:
    """The installed djed-cli's version (0.0.0 in a source checkout that is not installed)."""
    try:
        return version("djed-cli")
    except PackageNotFoundError:  # pragma: no cover - only without any install
        return "0.0.0"


def templates_root() -> Path:
    """The folder of every template: ``DJED_TEMPLATES``, the package's copy or the checkout's."""
    override = os.environ.get("DJED_TEMPLATES")
    if override:
        return Path(override).expanduser()
    here = Path(__file__).resolve().parent
    packaged = here / "templates"
    if packaged.is_dir():
        return packaged
    for parent in here.parents:  # a source checkout: <repo>/templates
        if (parent / "templates" / "mcp-server" / "copier.yml").is_file():
            return parent / "templates"
    raise CliError(  # pragma: no cover - a broken install
        "the templates are missing from this djed-cli install; reinstall djed-cli",
        code=3,
    )


def template_source(name: str) -> Path:
    """The folder of template ``name``."""
    path = templates_root() / name
    if not (path / "copier.yml").is_file():
        known = ", ".join(TEMPLATES)
        raise CliError(f"no template named {name!r} (known: {known})", code=2)
    return path


def _content_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


class TemplateStore:
    """The local git repositories that give each template's contents a version.

    ``root`` defaults to ``DJED_TEMPLATE_CACHE`` or ``~/.cache/djed/templates``;
    the path copier records in a project's answers keeps the ``~`` so that a
    project moves between machines and users.
    """

    def __init__(self, root: str | None = None) -> None:
        self.root = root or os.environ.get("DJED_TEMPLATE_CACHE") or _DEFAULT_CACHE

    def url(self, name: str) -> str:
        """What copier is given as the template's source (and records in the answers)."""
        return f"{self.root.rstrip('/')}/{name}"

    def register(self, name: str) -> str:
        """Record the current content of template ``name``; its version tag."""
        if shutil.which("git") is None:
            raise CliError("git is needed to version templates: install git and retry", code=3)
        source = template_source(name)
        repo = Path(self.url(name)).expanduser()
        repo.mkdir(parents=True, exist_ok=True)
        with _locked(repo.parent / f".{name}.lock"):
            if not (repo / ".git").is_dir():
                _git(repo, "init", "-q")
            marker = f"content-{_content_hash(source)[:16]}"
            known = _git(repo, "tag", "--list", "--points-at", marker, check=False)
            tags = [t for t in known.split() if t != marker]
            if tags:
                return tags[0]
            tag = f"{cli_version()}.post{self._next_post(repo)}"
            commit = self._commit(repo, source, tag)
            _git(repo, "tag", marker, commit)
            _git(repo, "tag", tag, commit)
            _git(repo, "checkout", "-q", "-f", tag)  # a clean work tree for copier
            return tag

    def _next_post(self, repo: Path) -> int:
        prefix = f"{cli_version()}.post"
        tags = _git(repo, "tag", "--list", f"{prefix}*").split()
        numbers = [int(t[len(prefix) :]) for t in tags if t[len(prefix) :].isdigit()]
        return max(numbers, default=-1) + 1

    @staticmethod
    def _commit(repo: Path, source: Path, tag: str) -> str:
        index = repo / ".git" / "djed-index"
        index.unlink(missing_ok=True)
        env = {"GIT_INDEX_FILE": str(index), "GIT_WORK_TREE": str(source)}
        _git(repo, "add", "-A", "-f", ".", env=env)
        tree = _git(repo, "write-tree", env=env).strip()
        index.unlink(missing_ok=True)
        return _git(repo, "commit-tree", tree, "-m", f"template {source.name} {tag}").strip()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _git(repo: Path, *args: str, env: dict[str, str] | None = None, check: bool = True) -> str:
    full_env = {
        **os.environ,
        **_GIT_ENV,
        "GIT_DIR": str(repo / ".git"),
        "GIT_WORK_TREE": str(repo),
        **(env or {}),
    }
    done = subprocess.run(  # noqa: S603 - fixed git arguments, no shell
        ["git", *args],  # noqa: S607 - git from PATH, as copier itself does
        cwd=repo,
        env=full_env,
        capture_output=True,
        text=True,
        check=False,
    )
    if check and done.returncode != 0:
        raise CliError(f"git {' '.join(args)} failed in {repo}: {done.stderr.strip()}", code=3)
    return done.stdout
