"""`djed doctor`: is this machine (and this project) ready, and what to fix if not."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from rich.table import Table

from ._console import console
from ._errors import CliError
from ._project import find_project, uv_command

__all__ = ["Check", "diagnose", "port_check", "print_report"]

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    """One finding: what was checked, how it went, and what to do about it."""

    name: str
    status: Status
    detail: str
    fix: str = ""


def _python() -> Check:
    found = ".".join(map(str, sys.version_info[:3]))
    return Check("python", "ok", f"{found} at {sys.executable}")


def _projects_python(command: list[str]) -> Check:
    """A Python that generated projects can use (>= 3.11), as uv finds it."""
    done = subprocess.run(  # noqa: S603 - uv with fixed arguments
        [*command, "python", "find", ">=3.11"], capture_output=True, text=True, check=False
    )
    if done.returncode == 0:
        return Check("python for projects", "ok", done.stdout.strip())
    return Check(
        "python for projects",
        "fail",
        "uv finds no Python 3.11 or newer",
        "uv python install 3.11",
    )


def _uv() -> list[Check]:
    try:
        command = uv_command()
    except CliError as error:
        return [Check("uv", "fail", error.message, error.hint or "")]
    done = subprocess.run(  # noqa: S603 - uv --version
        [*command, "--version"], capture_output=True, text=True, check=False
    )
    return [Check("uv", "ok", done.stdout.strip()), _projects_python(command)]


def _git() -> Check:
    if shutil.which("git") is None:
        return Check("git", "fail", "not found", "install git: `djed update` merges through it")
    return Check("git", "ok", shutil.which("git") or "")


def port_check(host: str, port: int) -> Check:
    """Whether ``host:port`` is free to listen on."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # As servers do: connections of a stopped server still closing do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            return Check(
                f"port {port}",
                "fail",
                f"cannot listen on {host}:{port}: {error.strerror}",
                "stop what uses it, or set DJED_MCP_PORT to a free port",
            )
    return Check(f"port {port}", "ok", f"{host}:{port} is free")


def _port_from_env(host: str) -> Check:
    raw = os.environ.get("DJED_MCP_PORT", "8000").strip()
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        return Check("port", "fail", f"DJED_MCP_PORT={raw!r} is not a port", "set 1 to 65535")
    return port_check(host, int(raw))


def _redis(url: str, timeout: float = 2.0) -> Check:
    parts = urlsplit(url)
    if parts.scheme not in {"redis", "rediss"}:
        return Check("redis", "fail", f"{url!r} is not a redis:// URL", "use redis://host:6379/0")
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    where = f"{host}:{port}"
    try:
        with socket.create_connection((host, port), timeout=timeout) as connection:
            if parts.scheme == "rediss":
                return Check("redis", "ok", f"{where} accepts connections (TLS not checked)")
            connection.sendall(b"*1\r\n$4\r\nPING\r\n")
            answer = connection.recv(64)
    except OSError as error:
        return Check(
            "redis",
            "fail",
            f"{where} unreachable: {error.strerror or error}",
            "start Redis (redis-server, or `docker compose up redis`) or fix REDIS_URL",
        )
    if answer.startswith(b"+PONG"):
        return Check("redis", "ok", f"{where} answers PING")
    if b"NOAUTH" in answer:
        return Check("redis", "ok", f"{where} is up and wants a password (put it in the URL)")
    return Check("redis", "warn", f"{where} answered {answer[:40]!r} to PING", "is it Redis?")


def _redis_urls() -> Iterator[str]:
    seen = set()
    for key, value in sorted(os.environ.items()):
        named = key == "REDIS_URL" or (key.startswith("DJED_") and "REDIS" in key)
        if value and named and value not in seen:
            seen.add(value)
            yield value


def _project(start: Path) -> Iterator[Check]:
    try:
        project = find_project(start)
    except CliError:
        yield Check("project", "ok", "not in a Python project: project checks skipped")
        return
    djed = sorted(d for d in project.dependencies if d.startswith("djed-"))
    yield Check(
        "project",
        "ok",
        f"{project.name} at {project.root}; uses {', '.join(djed) or 'no Djed package'}",
    )
    if not (project.root / "uv.lock").is_file():
        yield Check(
            "lock file", "warn", "no uv.lock", "run `uv sync` (or `uv lock`) and commit uv.lock"
        )
    if not (project.root / ".venv").is_dir():
        yield Check("environment", "warn", "no .venv yet", "run `uv sync`")
    if not any(project.root.glob(".copier-answers*.yml")):
        yield Check(
            "template", "warn", "not made by `djed init`", "`djed update` will not apply here"
        )


def diagnose(
    start: Path, *, host: str | None = None, port: int | None = None, redis_url: str | None = None
) -> list[Check]:
    """Every check, in the order they print."""
    host = host or os.environ.get("DJED_MCP_HOST", "127.0.0.1")
    checks = [_python(), *_uv(), _git(), port_check(host, port) if port else _port_from_env(host)]
    urls = [redis_url] if redis_url else list(_redis_urls())
    checks += [_redis(url) for url in urls]
    if not urls:
        checks.append(Check("redis", "ok", "not configured (set REDIS_URL to check it)"))
    checks += list(_project(start))
    return checks


def print_report(checks: list[Check]) -> bool:
    """Print ``checks`` as a table; True when none failed."""
    marks = {"ok": "[green]✓[/green]", "warn": "[yellow]![/yellow]", "fail": "[red]✗[/red]"}
    table = Table(show_header=True, header_style="bold", box=None, padding=(0, 1))
    for column in ("", "check", "finding", "what to do"):
        table.add_column(column)
    for check in checks:
        table.add_row(marks[check.status], check.name, check.detail, check.fix)
    console.print(table)
    failed = [c for c in checks if c.status == "fail"]
    if failed:
        console.print(f"[red]{len(failed)} problem(s) to fix[/red]")
    else:
        console.print("[green]ready[/green]")
    return not failed
