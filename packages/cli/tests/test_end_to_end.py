"""The whole journey of a user, with real processes: init, sync, test, serve, add, eject, update."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from djed.mcp_base.testing import connect_http
from mcp import Client, StdioServerParameters

from ._cli_support import TEMPLATES, UV, djed, environment, git, init_to_green, serving, uv

pytestmark = [pytest.mark.slow, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def env(private_template_store: Path) -> dict[str, str]:
    return environment(private_template_store)


def _lint(project: Path, env: dict[str, str]) -> None:
    uv(["run", "--no-sync", "ruff", "check", "--quiet"], project, env)
    uv(["run", "--no-sync", "ruff", "format", "--check", "--quiet"], project, env)


def _tests_pass(project: Path, env: dict[str, str]) -> None:
    output = uv(["run", "--no-sync", "pytest", "-q", "-p", "no:cacheprovider"], project, env)
    assert " passed" in output, output
    assert "failed" not in output, output


async def _call_over_stdio(project: Path, env: dict[str, str], name: str) -> Any:
    parameters = StdioServerParameters(
        command=UV,
        args=["run", "--no-sync", "--quiet", name],
        env={**env, "DJED_MCP_TRANSPORT": "stdio"},
        cwd=project,
    )
    async with Client(parameters) as client:
        added = await client.call_tool("add_note", {"note": {"title": "over stdio"}})
        listed = await client.call_tool("list_notes", {})
    assert not added.is_error, added
    return listed.structured_content["result"]


async def test_init_to_green_then_real_clients(tmp_path: Path, env: dict[str, str]) -> None:
    project, seconds = init_to_green(tmp_path, env, "demo", "--defaults")
    print(f"\ninit to passing tests: {seconds:.1f} s")  # the figure reported in the README
    _lint(project, env)
    files = {p.relative_to(project).as_posix() for p in project.rglob("*")}
    expected = {"Dockerfile", "compose.yaml", ".github/workflows/ci.yml", "uv.lock", "README.md"}
    assert expected <= files
    assert git(project, "status", "--porcelain") == "", "init commits everything it writes"

    notes = await _call_over_stdio(project, env, "demo")
    assert [n["title"] for n in notes] == ["over stdio"]

    with serving(project, env, "demo") as url:
        async with connect_http(url) as client:
            added = await client.call_tool("add_note", {"note": {"title": "over HTTP"}})
            refused = await client.call_tool("add_note", {"note": {"title": 7}})
    assert not added.is_error
    assert refused.is_error
    assert "/title" in refused.content[0].text


async def test_add_and_eject_keep_the_tests_passing(tmp_path: Path, env: dict[str, str]) -> None:
    project, _ = init_to_green(tmp_path, env, "notes", "--defaults", "--no-docker")
    server_module = project / "src" / "notes" / "server.py"

    djed(["add", "breaker"], project, env)
    assert "upstream_breaker = CircuitBreaker(" in server_module.read_text()
    again = djed(["add", "breaker"], project, env)
    assert "already" in again
    uv(["sync", "--quiet"], project, env)
    _tests_pass(project, env)
    _lint(project, env)
    git(project, "commit", "-qam", "add breaker")

    preview = djed(["eject", "logger", "--dry-run"], project, env)
    assert "+from structlog import get_logger" in preview
    assert "nothing was written" in preview
    assert git(project, "status", "--porcelain") == ""

    for package in ("logger", "validator"):
        djed(["eject", package], project, env)
        _tests_pass(project, env)
        _lint(project, env)
        git(project, "add", "-A")
        git(project, "commit", "-qm", f"eject {package}")
    sources = "".join(p.read_text() for p in (project / "src").rglob("*.py"))
    assert "from djed.logger" not in sources
    assert "from djed.validator" not in sources
    assert (project / "src" / "notes" / "compiled_schemas" / "note.py").is_file()
    dependencies = (project / "pyproject.toml").read_text()
    assert '"djed-logger' not in dependencies
    assert '"djed-validator' not in dependencies
    assert "structlog" in dependencies
    assert "fastjsonschema" in dependencies

    for package in ("breaker", "mcp-base"):
        djed(["eject", package], project, env)
        _tests_pass(project, env)
        _lint(project, env)
    imports = [
        line
        for path in project.rglob("*.py")
        if ".venv" not in path.parts
        for line in path.read_text().splitlines()
        if re.match(r"\s*(from|import) djed\b", line)
    ]
    assert imports == []
    notes = await _call_over_stdio(project, env, "notes")
    assert [n["title"] for n in notes] == ["over stdio"]


def _changed_templates(tmp_path: Path) -> Path:
    copy = tmp_path / "templates"
    shutil.copytree(TEMPLATES, copy)
    readme = copy / "mcp-server" / "template" / "README.md.jinja"
    readme.write_text(readme.read_text().replace("## Growing it", "## Growing the server"))
    return copy


def test_update_applies_a_template_change_and_keeps_the_users(
    tmp_path: Path, env: dict[str, str]
) -> None:
    djed(["init", "mcp-server", "demo", "--defaults", "--no-docker"], tmp_path, env)
    project = tmp_path / "demo"
    server_module = project / "src" / "demo" / "server.py"
    server_module.write_text(server_module.read_text() + "\n# a line of the user's\n")
    git(project, "commit", "-qam", "a change of the user's")

    same = djed(["update"], project, env)
    assert "already at template version" in same

    newer = {**env, "DJED_TEMPLATES": str(_changed_templates(tmp_path))}
    output = djed(["update"], project, newer)
    assert "0.post0 → " in output
    assert "## Growing the server" in (project / "README.md").read_text()
    assert server_module.read_text().endswith("# a line of the user's\n")
    answers = (project / ".copier-answers.yml").read_text()
    assert "_commit: 0.0.0.post1" in answers or "post1" in answers

    dirty = djed(["update"], project, newer, expect=4)
    assert "uncommitted changes" in dirty


def test_update_reaches_the_deployment_files(tmp_path: Path, env: dict[str, str]) -> None:
    djed(["init", "mcp-server", "demo", "--defaults", "--no-docker"], tmp_path, env)
    project = tmp_path / "demo"
    djed(["init", "kubernetes", "demo"], project, env)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "manifests")
    copy = tmp_path / "templates"
    shutil.copytree(TEMPLATES, copy)
    service = copy / "kubernetes" / "template" / "service.yaml.jinja"
    service.write_text("# Reviewed by the platform team.\n" + service.read_text())
    output = djed(["update"], project, {**env, "DJED_TEMPLATES": str(copy)})
    assert "kubernetes: template version" in output
    assert "mcp-server: already at template version" in output
    rendered = project / "deploy" / "kubernetes" / "service.yaml"
    assert rendered.read_text().startswith("# Reviewed by the platform team.")


def test_update_reports_conflicts(tmp_path: Path, env: dict[str, str]) -> None:
    djed(["init", "mcp-server", "demo", "--defaults", "--no-docker"], tmp_path, env)
    project = tmp_path / "demo"
    readme = project / "README.md"
    readme.write_text(readme.read_text().replace("## Growing it", "## Growing our server"))
    git(project, "commit", "-qam", "the user's own title")
    newer = {**env, "DJED_TEMPLATES": str(_changed_templates(tmp_path))}
    output = djed(["update"], project, newer, expect=4)
    assert "conflicts with your changes" in output
    assert "README.md" in output
    assert "<<<<<<< before updating" in readme.read_text()


def test_the_auth_variant_passes_its_own_tests(tmp_path: Path, env: dict[str, str]) -> None:
    project, _ = init_to_green(
        tmp_path, env, "secured", "--defaults", "--auth", "--no-validator", "--no-docker"
    )
    _lint(project, env)
    assert (project / "src" / "secured" / "auth.py").is_file()
    assert '"djed-validator>=' not in (project / "pyproject.toml").read_text()


def test_extra_packages_and_stdio_default(tmp_path: Path, env: dict[str, str]) -> None:
    project, _ = init_to_green(
        tmp_path,
        env,
        "desk",
        "--defaults",
        "--transport",
        "stdio",
        "--packages",
        "breaker,cache,crdt",
        "-d",
        "description=Help desk tickets",
        "-d",
        "port=9100",
    )
    _lint(project, env)
    server = (project / "src" / "desk" / "server.py").read_text()
    for line in ("cache = Cache(", "documents = SyncServer(", "upstream_breaker = CircuitBreaker("):
        assert line in server
    assert '"DJED_MCP_TRANSPORT": "stdio"' in server
    assert '"DJED_MCP_PORT": "9100"' in server
    assert not (project / "documents.db").exists(), "importing the server creates no file"
    answers = (project / ".copier-answers.yml").read_text()
    assert "description: Help desk tickets" in answers
    assert (project / "uv.lock").is_file()
    assert "desk" in git(project, "log", "--oneline")
