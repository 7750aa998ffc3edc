"""Running `djed` and uv as a user would: real processes, a private template store."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from djed.mcp_base.testing import free_port, wait_ready

REPOSITORY = Path(__file__).resolve().parents[3]
TEMPLATES = REPOSITORY / "templates"
DJED = Path(sys.executable).parent / "djed"
#: uv sets UV to its own path for the processes `uv run` starts.
UV = os.environ.get("UV") or shutil.which("uv") or "uv"
#: Installs and test runs of generated projects: generous, they resolve and build.
SLOW = 300


def environment(store: Path, **extra: str) -> dict[str, str]:
    """The environment of a user's shell: the Djed checkout as package source, a private store."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"VIRTUAL_ENV", "PYTHONPATH", "UV_PROJECT_ENVIRONMENT"}
        and not k.startswith(("PYTEST_", "COV_"))
    }
    env.update(
        DJED_TEMPLATE_CACHE=str(store),
        DJED_SOURCE=str(REPOSITORY),
        NO_COLOR="1",
        COLUMNS="200",
        UV_NO_PROGRESS="1",
        **extra,
    )
    return env


def run(
    args: list[str], cwd: Path, env: dict[str, str], *, expect: int | None = 0
) -> subprocess.CompletedProcess[str]:
    """``args`` in ``cwd``; fails the test with both streams unless it exits with ``expect``."""
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=SLOW, check=False
    )
    if expect is not None and done.returncode != expect:
        raise AssertionError(
            f"{' '.join(args)} exited {done.returncode} (expected {expect})\n"
            f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}"
        )
    return done


def djed(args: list[str], cwd: Path, env: dict[str, str], *, expect: int | None = 0) -> str:
    """`djed args`; its stderr (where it reports) followed by its stdout."""
    done = run([str(DJED), *args], cwd, env, expect=expect)
    return done.stderr + done.stdout


def uv(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    """`uv args` in a generated project."""
    return run([UV, *args], cwd, env).stdout


def init_to_green(
    parent: Path, env: dict[str, str], name: str, *options: str
) -> tuple[Path, float]:
    """`djed init mcp-server`, `uv sync`, `uv run pytest`: the project and the seconds it took."""
    started = time.perf_counter()
    djed(["init", "mcp-server", name, *options], parent, env)
    project = parent / name
    uv(["sync", "--quiet"], project, env)
    uv(["run", "--no-sync", "pytest", "-q", "-p", "no:cacheprovider"], project, env)
    return project, time.perf_counter() - started


def git(project: Path, *args: str) -> str:
    """Git in the project, with an identity of its own."""
    command = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.invalid", *args]
    return run(command, project, dict(os.environ)).stdout


@contextlib.contextmanager
def serving(project: Path, env: dict[str, str], script: str) -> Iterator[str]:
    """The generated server run over HTTP as a process of its own; its base URL once ready."""
    port = free_port()
    server = subprocess.Popen(
        [UV, "run", "--no-sync", "--quiet", script],
        cwd=project,
        env={**env, "DJED_MCP_TRANSPORT": "http", "DJED_MCP_PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_ready(url, server, within=60)["status"] == "ready"
        yield url
    finally:
        server.terminate()
        server.communicate(timeout=30)
