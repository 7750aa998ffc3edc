"""`djed init TEMPLATE NAME`: render a template into a new project or an existing one."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._console import info, step, success, warn
from ._errors import CliError
from ._names import check_package_name, check_project_name, package_name_for
from ._project import find_project, run_uv
from ._templates import TemplateStore, cli_version, templates_root

__all__ = ["InitOptions", "djed_source", "init_addon", "init_mcp_server", "render"]

#: The optional packages `djed init mcp-server` can set up on top of the three it always uses.
EXTRA_PACKAGES = ("breaker", "cache", "crdt")
#: Where each add-on template goes inside a project, unless --dir says otherwise.
ADDON_DIRS = {"docker": ".", "kubernetes": "deploy/kubernetes", "monitoring": "deploy/monitoring"}
# The files the docker template writes at the project root.
_DOCKER_FILES = ("Dockerfile", ".dockerignore", "compose.yaml")


@dataclass
class InitOptions:
    """The answers of `djed init mcp-server`, however they were given."""

    name: str
    directory: Path
    answers: dict[str, Any] = field(default_factory=dict)
    packages: tuple[str, ...] = ()
    docker: bool = True
    force: bool = False
    git: bool = True


def djed_source(explicit: str | None) -> str:
    """Where generated projects take the Djed packages from: a checkout's path, or "" for PyPI.

    ``--djed-source`` or ``DJED_SOURCE`` wins; a djed-cli running from a source
    checkout uses that checkout, so that its own packages are the ones tested.
    """
    chosen = explicit if explicit is not None else os.environ.get("DJED_SOURCE")
    if chosen is None:
        root = templates_root().parent
        if (root / "packages" / "mcp-base" / "pyproject.toml").is_file():
            chosen = str(root)
    if not chosen:
        return ""
    path = Path(chosen).expanduser().resolve()
    if not (path / "packages" / "mcp-base" / "pyproject.toml").is_file():
        raise CliError(f"{chosen} is not a Djed checkout (no packages/mcp-base in it)", code=2)
    return str(path)


def _parse_error(error: Exception) -> CliError:
    text = str(error).strip() or type(error).__name__
    return CliError(f"the template refused an answer: {text}", code=2)


def render(template: str, destination: Path, data: dict[str, Any], *, store: TemplateStore) -> str:
    """Render ``template`` into ``destination`` with ``data``; the template version used."""
    import copier  # noqa: PLC0415 - a heavy import, only for the commands that render
    from copier.errors import CopierError  # noqa: PLC0415

    version = store.register(template)
    try:
        copier.run_copy(
            store.url(template),
            destination,
            data=data,
            defaults=True,
            overwrite=True,
            quiet=True,
            unsafe=False,
            vcs_ref=version,
        )
    except (CopierError, ValueError) as error:
        raise _parse_error(error) from None
    return version


def _check_destination(target: Path) -> None:
    """The nearest existing folder of ``target`` must be a folder this user can write in."""
    for folder in (target, *target.parents):
        if not folder.exists():
            continue
        if not folder.is_dir():
            raise CliError(f"{folder} is a file, not a folder", code=2, hint="choose another --dir")
        if not os.access(folder, os.W_OK):
            raise CliError(f"cannot write in {folder}", code=3, hint="choose a folder you own")
        return


def _is_empty(path: Path) -> bool:
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


def _git_commit(root: Path, message: str) -> None:
    """Make ``root`` a git repository with everything committed (`djed update` needs one)."""
    if shutil.which("git") is None:
        warn("git is not installed: no repository made (`djed update` will need one)")
        return
    inside = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"],  # noqa: S607 - git from PATH
        cwd=root.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    if inside.returncode == 0:
        info(f"{root} is inside the git repository {inside.stdout.strip()}: commit it there")
        return
    identity: list[str] = []
    configured = subprocess.run(
        ["git", "config", "user.email"],  # noqa: S607 - git from PATH
        cwd=root,
        capture_output=True,
        check=False,
    )
    if not configured.stdout.strip():
        identity = ["-c", "user.name=djed", "-c", "user.email=djed@localhost"]
    for args in (["init", "-q"], ["add", "-A"], [*identity, "commit", "-q", "-m", message]):
        done = subprocess.run(  # noqa: S603 - fixed git arguments
            ["git", *args],  # noqa: S607
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            warn(f"git {args[-1]} failed: {done.stderr.strip()}")
            return
    success("made a git repository with the first commit")


def init_mcp_server(options: InitOptions, *, source: str, store: TemplateStore) -> Path:
    """Render the mcp-server template (and docker, and extra packages) into a new folder."""
    name = check_project_name(options.name)
    package = check_package_name(str(options.answers.get("package", package_name_for(name))))
    target = options.directory
    _check_destination(target)
    if not _is_empty(target) and not options.force:
        raise CliError(
            f"{target} exists and is not empty",
            code=4,
            hint="choose another --dir, or pass --force to write the template's files into it",
        )
    data = {
        **options.answers,
        "name": name,
        "package": package,
        "djed_source": source,
        "djed_version": cli_version(),
    }
    created = not target.exists()
    try:
        _render_project(options, target, data, store=store)
    except BaseException:
        if created:  # leave nothing half-made behind
            shutil.rmtree(target, ignore_errors=True)
        raise
    if source:
        info(f"the Djed packages come from the checkout at {source}")
    if options.git:
        _git_commit(target, f"New project {name}, from djed init mcp-server")
    return target


def _render_project(
    options: InitOptions, target: Path, data: dict[str, Any], *, store: TemplateStore
) -> None:
    name, package = data["name"], data["package"]
    with step(f"rendering the mcp-server template into {target}"):
        render("mcp-server", target, data, store=store)
    if options.docker:
        docker = {"name": name, "package": package, "port": data.get("port", 8000)}
        with step("adding the Dockerfile and compose.yaml"):
            render("docker", target, docker, store=store)
    if options.packages:
        from ._add import add_package  # noqa: PLC0415

        project = find_project(target)
        for extra in options.packages:
            add_package(project, extra, sync=False)
            project = project.reload()
    try:
        with step("locking the dependencies (uv lock)"):
            run_uv(["lock", "--quiet"], target)
    except CliError as error:
        warn(f"no uv.lock yet ({error.message.splitlines()[-1].strip()}): run `uv lock` later")


def init_addon(
    template: str,
    name: str,
    directory: Path | None,
    answers: dict[str, Any],
    *,
    force: bool,
    store: TemplateStore,
) -> Path:
    """Render an add-on template (docker, kubernetes, monitoring) for service ``name``."""
    name = check_project_name(name)
    target = directory if directory is not None else Path(ADDON_DIRS[template])
    _check_destination(target)
    if template == "docker":
        clashes = [f for f in _DOCKER_FILES if (target / f).exists()]
        if clashes and not force:
            raise CliError(
                f"{', '.join(clashes)} already exist in {target}",
                code=4,
                hint="pass --force to replace them, or --dir to write elsewhere",
            )
        answers.setdefault("package", package_name_for(name))
    elif not _is_empty(target) and not force:
        raise CliError(
            f"{target} exists and is not empty",
            code=4,
            hint="pass --force to write into it anyway, or choose another --dir",
        )
    with step(f"rendering the {template} template into {target}"):
        render(template, target, {**answers, "name": name}, store=store)
    return target
