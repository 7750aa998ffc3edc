from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tools.changeset import main
from tools.tests._changeset_repo import GIT_ENV, Outcome, Repo, Tool, make_template


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        pytest.fail("uv is required by the release tool's tests")
    return make_template(tmp_path_factory.mktemp("template") / "workspace", uv)


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def repo(template: Repo, tmp_path: Path) -> Repo:
    return template.copy_to(tmp_path / "workspace")


@pytest.fixture
def tool(repo: Repo, capsys: pytest.CaptureFixture[str]) -> Tool:
    def run(*args: str) -> Outcome:
        capsys.readouterr()
        code = main([*args, "--root", str(repo.root)])
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run
