"""The commands as a user meets them: examples in the help, clear errors and exit codes."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest
import yaml
from djed.cli import app
from typer.testing import CliRunner

runner = CliRunner()


def djed(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"NO_COLOR": "1", "COLUMNS": "200"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("command", "example"),
    [
        (["init", "mcp-server"], "djed init mcp-server notes --defaults"),
        (["init", "kubernetes"], "djed init kubernetes notes-server"),
        (["add"], "djed add breaker"),
        (["eject"], "djed eject logger --dry-run"),
        (["update"], "djed update"),
        (["doctor"], "djed doctor --port 9000"),
    ],
)
def test_help_shows_examples(command: list[str], example: str) -> None:
    code, output = djed(*command, "--help")
    assert code == 0
    assert example in output


def test_version() -> None:
    code, output = djed("--version")
    assert code == 0
    assert output.startswith("djed ")


@pytest.mark.parametrize(
    ("name", "why", "suggestion"),
    [
        ("My Server", "capital letters", "my-server"),
        ("my_server", "lowercase letters, digits and single hyphens", "my-server"),
        ("2fast", "starting with a letter", "mcp-2fast"),
        ("json", "would hide the module", "json-server"),
        ("a" * 70, "longer than 63", "a" * 63),
    ],
)
def test_a_bad_project_name_says_why_and_suggests_one(name: str, why: str, suggestion: str) -> None:
    code, output = djed("init", "mcp-server", name, "--defaults")
    assert code == 2
    assert why in output
    assert f"try '{suggestion}'" in output
    assert "Traceback" not in output
    assert not any(Path().iterdir()), "nothing written"


def test_a_non_empty_directory_needs_force(in_tmp: Path) -> None:
    (in_tmp / "demo").mkdir()
    (in_tmp / "demo" / "notes.txt").write_text("mine")
    code, output = djed("init", "mcp-server", "demo", "--defaults")
    assert code == 4
    assert "exists and is not empty" in output
    assert "--force" in output
    assert (in_tmp / "demo" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (in_tmp / "demo").iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-d", "colour=blue"], "has no question 'colour'"),
        (["-d", "port"], "write it as key=value"),
        (["-d", "port=70000"], "between 1 and 65535"),
        (["--transport", "pigeon"], "choose http or stdio"),
        (["--packages", "breaker,teleport"], "choose from breaker, cache, crdt"),
        (["-d", "package=class"], "Python keyword"),
    ],
)
def test_bad_answers_are_refused_clearly(in_tmp: Path, args: list[str], message: str) -> None:
    code, output = djed("init", "mcp-server", "demo", "--defaults", "--no-git", *args)
    assert code == 2, output
    assert message in output
    assert "Traceback" not in output
    assert not (in_tmp / "demo").exists(), "a failed init leaves nothing half-made"


def test_init_without_git_writes_no_repository(in_tmp: Path) -> None:
    code, output = djed("init", "mcp-server", "demo", "--defaults", "--no-git", "--no-docker")
    assert code == 0, output
    assert not (in_tmp / "demo" / ".git").exists()
    assert not (in_tmp / "demo" / "Dockerfile").exists()
    answers = yaml.safe_load((in_tmp / "demo" / ".copier-answers.yml").read_text())
    assert answers["name"] == "demo"
    assert answers["_commit"].startswith("0.0.0.post")


def test_docker_files_are_not_overwritten_without_force(in_tmp: Path) -> None:
    (in_tmp / "Dockerfile").write_text("FROM scratch\n")
    code, output = djed("init", "docker", "svc")
    assert code == 4
    assert "Dockerfile already exist" in output
    assert (in_tmp / "Dockerfile").read_text() == "FROM scratch\n"
    code, output = djed("init", "docker", "svc", "--force", "-d", "redis=false")
    assert code == 0, output
    dockerfile = (in_tmp / "Dockerfile").read_text()
    assert "USER app:app" in dockerfile
    assert "HEALTHCHECK" in dockerfile
    assert "/healthz" in dockerfile
    assert dockerfile.count("\nFROM ") >= 2, "multi-stage"
    compose = yaml.safe_load((in_tmp / "compose.yaml").read_text())
    assert set(compose["services"]) == {"svc"}


def test_docker_compose_runs_redis_by_default(in_tmp: Path) -> None:
    code, _ = djed("init", "docker", "svc", "--dir", "out", "-d", "port=9000")
    assert code == 0
    compose = yaml.safe_load((in_tmp / "out" / "compose.yaml").read_text())
    service = compose["services"]["svc"]
    assert set(compose["services"]) == {"svc", "redis"}
    assert service["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert service["ports"] == ["127.0.0.1:9000:9000"]
    assert service["read_only"] is True
    assert "healthcheck" in compose["services"]["redis"]
    ignored = (in_tmp / "out" / ".dockerignore").read_text().split()
    assert ".env" in ignored
    assert ".venv" in ignored


@pytest.mark.parametrize("template", ["kubernetes", "monitoring"])
def test_addon_templates_render_into_their_folder(in_tmp: Path, template: str) -> None:
    code, output = djed("init", template, "notes-server")
    assert code == 0, output
    folder = in_tmp / "deploy" / template
    assert (folder / f".copier-answers.{template}.yml").is_file()
    assert any(folder.glob("*.yaml"))
    code, output = djed("init", template, "notes-server")
    assert code == 4
    assert "not empty" in output


def test_eject_of_a_guided_package_changes_nothing(in_tmp: Path) -> None:
    (in_tmp / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["djed-cache"]\n')
    code, output = djed("eject", "cache")
    assert code == 4
    assert "EJECTION-GUIDE.md" in output
    assert "nothing was changed" in output


def test_eject_names_the_uses_it_cannot_replace(in_tmp: Path) -> None:
    (in_tmp / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["djed-breaker"]\n'
    )
    package = in_tmp / "src" / "x"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    source = "from djed.breaker import CircuitBreaker, Outbox\n"
    (package / "jobs.py").write_text(source)
    code, output = djed("eject", "breaker")
    assert code == 4
    assert "src/x/jobs.py:1: djed.breaker.Outbox" in output
    assert (package / "jobs.py").read_text() == source
    assert not (package / "resilience.py").exists()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["eject", "teleport"], 2, "no Djed package named 'teleport'"),
        (["eject", "logger"], 2, "does not depend on djed-logger"),
        (["add", "teleport"], 2, "choose one of: logger, validator"),
    ],
)
def test_unknown_packages(in_tmp: Path, args: list[str], code: int, message: str) -> None:
    (in_tmp / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = []\n')
    result, output = djed(*args)
    assert result == code
    assert message in output


def test_outside_a_project(in_tmp: Path) -> None:
    code, output = djed("add", "breaker")
    assert code == 2
    assert "no Python project" in output
    code, output = djed("update")
    assert code == 2
    assert "no project made by `djed init`" in output


def test_broken_pyproject_is_named(in_tmp: Path) -> None:
    (in_tmp / "pyproject.toml").write_text("[project\nname=")
    code, output = djed("add", "breaker")
    assert code == 2
    assert "pyproject.toml is not valid TOML" in output


def test_update_needs_git(in_tmp: Path) -> None:
    assert djed("init", "mcp-server", "demo", "--defaults", "--no-git", "--no-docker")[0] == 0
    code, output = djed("update", "--dir", "demo")
    assert code == 4
    assert "not in a git repository" in output
    subprocess.run(["git", "init", "-q"], cwd=in_tmp / "demo", check=True)
    code, output = djed("update", "--dir", "demo")
    assert code == 4
    assert "uncommitted changes" in output


def test_doctor_reports_a_busy_port_and_an_unreachable_redis() -> None:
    with socket.socket() as busy, socket.socket() as closed:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()[1]
        closed.close()
        port = busy.getsockname()[1]
        code, output = djed(
            "doctor", "--port", str(port), "--redis-url", f"redis://127.0.0.1:{dead}"
        )
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in output
    assert "unreachable" in output
    assert "2 problem(s) to fix" in output


def test_doctor_on_a_ready_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, output = djed("doctor", "--port", str(port))
    assert code == 0, output
    assert "ready" in output
    assert "uv " in output
    assert "not in a Python project" in output


def test_doctor_pings_a_real_redis() -> None:
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    code, output = djed("doctor", "--port", "1", "--redis-url", url)
    if "answers PING" not in output:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI starts redis-server; doctor did not reach it:\n{output}")
        pytest.skip("no Redis on 127.0.0.1:6379 (CI starts one)")
    assert "answers PING" in output
    assert code in {0, 1}  # port 1 needs privileges on most machines


def test_interactive_questions(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("djed.cli._app._interactive", lambda: True)
    answers = "Tickets for the help desk\nstdio\n9100\nn\ncache\nn\nn\n"
    result = runner.invoke(
        app, ["init", "mcp-server", "desk", "--no-git"], input=answers, env={"NO_COLOR": "1"}
    )
    assert result.exit_code == 0, result.output
    for question in ("Description", "Transport", "HTTP port", "More Djed packages", "Dockerfile"):
        assert question in result.output
    saved = yaml.safe_load((in_tmp / "desk" / ".copier-answers.yml").read_text())
    assert saved["description"] == "Tickets for the help desk"
    assert saved["transport"] == "stdio"
    assert saved["port"] == 9100
    assert saved["validator"] is False
    assert saved["auth"] is False
    assert not (in_tmp / "desk" / "Dockerfile").exists()
    assert "djed-cache" in (in_tmp / "desk" / "pyproject.toml").read_text()
    assert not (in_tmp / "desk" / "src" / "desk" / "schemas").exists()


def test_flags_skip_their_questions(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("djed.cli._app._interactive", lambda: True)
    flags = ["--description", "x", "--transport", "http", "--port", "8001", "--no-validator"]
    flags += ["--packages", "", "--no-auth", "--no-docker", "--no-git"]
    result = runner.invoke(app, ["init", "mcp-server", "quiet", *flags], input="")
    assert result.exit_code == 0, result.output
    assert "Description" not in result.output


def test_a_folder_that_cannot_be_made(in_tmp: Path) -> None:
    (in_tmp / "notes.txt").write_text("a file, not a folder")
    code, output = djed("init", "docker", "svc", "--dir", "notes.txt/deploy")
    assert code == 2, output
    assert "notes.txt is a file, not a folder" in output
    code, output = djed("init", "mcp-server", "demo", "--defaults", "--dir", "notes.txt")
    assert code == 2, output
    assert "Traceback" not in output
    assert (in_tmp / "notes.txt").read_text() == "a file, not a folder"


def test_a_bug_is_called_a_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise ZeroDivisionError("oops")

    monkeypatch.setattr("djed.cli._app.diagnose", broken)
    code, output = djed("doctor")
    assert code == 70
    assert "unexpected ZeroDivisionError: oops" in output
    assert "DJED_DEBUG=1" in output
    assert "Traceback" not in output


def test_an_os_error_is_named_with_its_file(monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device", "/srv/notes/uv.lock")

    monkeypatch.setattr("djed.cli._app.diagnose", full)
    code, output = djed("doctor")
    assert code == 3
    assert "No space left on device (/srv/notes/uv.lock)" in output
