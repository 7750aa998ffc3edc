"""End-to-end tests of the release tool's `add` and `status` commands and its entry points."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools.changeset import main
from tools.tests._changeset_repo import Repo, Tool

REPO_ROOT = Path(__file__).resolve().parents[2]


class _TtyInput(io.StringIO):
    """Standard input that claims to be a terminal."""

    def isatty(self) -> bool:
        return True


class TestAdd:
    def test_flags_write_a_changeset(self, repo: Repo, tool: Tool) -> None:
        """--package and --message write .changeset/<slug>.md in the documented format."""
        result = tool(
            "add",
            *("-p", "djed-alpha:minor", "--package", "djed_beta:patch"),
            *("--message", "Add widgets.", "--slug", "add-widgets"),
        )
        assert result.code == 0, result.err
        assert "Created .changeset/add-widgets.md" in result.out
        assert repo.read(".changeset/add-widgets.md") == (
            '---\n"djed-alpha": minor\n"djed-beta": patch\n---\nAdd widgets.\n'
        )

    def test_random_slug_when_none_given(self, repo: Repo, tool: Tool) -> None:
        """Without --slug the file gets a readable three-word name."""
        assert tool("add", "-p", "djed-alpha:patch", "-m", "Fix.").code == 0
        [path] = [p for p in (repo.root / ".changeset").glob("*.md") if p.name != "README.md"]
        assert len(path.stem.split("-")) == 3

    def test_never_overwrites(self, repo: Repo, tool: Tool) -> None:
        """An existing slug is an error and the existing file is kept."""
        existing = repo.changeset("taken", {"djed-beta": "major"}, "Keep me.")
        result = tool("add", "-p", "djed-alpha:patch", "-m", "New.", "--slug", "taken")
        assert result.code == 1
        assert "already exists" in result.err
        assert existing.read_text() == '---\n"djed-beta": major\n---\nKeep me.\n'

    def test_unknown_package(self, repo: Repo, tool: Tool) -> None:
        """A package outside the workspace is refused with the list of members."""
        result = tool("add", "-p", "djed-nope:patch", "-m", "X.")
        assert result.code == 1
        assert "unknown package 'djed-nope'" in result.err
        assert "djed-alpha, djed-beta, djed-gamma" in result.err

    def test_bad_bump_is_a_usage_error(self, tool: Tool) -> None:
        """A bad bump word in --package stops argument parsing with exit status 2."""
        with pytest.raises(SystemExit) as info:
            tool("add", "-p", "djed-alpha:huge", "-m", "X.")
        assert info.value.code == 2

    def test_needs_flags_without_a_terminal(
        self, tool: Tool, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without flags and without a terminal, add explains which flags it needs."""
        monkeypatch.setattr(sys, "stdin", io.StringIO(""))
        result = tool("add")
        assert result.code == 1
        assert "--package NAME:BUMP and --message TEXT" in result.err

    def test_interactive(self, repo: Repo, tool: Tool, monkeypatch: pytest.MonkeyPatch) -> None:
        """In a terminal, add asks for packages (number or name), bumps and a summary."""
        answers = "1, djed-nope\n1 djed-gamma\nhuge\nminor\n\n\nRename the widget option.\n"
        monkeypatch.setattr(sys, "stdin", _TtyInput(answers))
        result = tool("add", "--slug", "asked")
        assert result.code == 0, result.err
        assert "not a package here: djed-nope" in result.out
        assert repo.read(".changeset/asked.md") == (
            '---\n"djed-alpha": minor\n"djed-gamma": patch\n---\nRename the widget option.\n'
        )


class TestStatus:
    def test_no_changesets(self, tool: Tool) -> None:
        """With nothing pending, status says so."""
        result = tool("status")
        assert (result.code, result.out) == (0, "No pending changesets.\n")

    def test_highest_bump_wins_and_dependents_follow(self, repo: Repo, tool: Tool) -> None:
        """Each package gets its highest bump; dependents get a patch and their next version."""
        repo.changeset("one", {"djed-alpha": "patch"}, "Fix a typo.")
        repo.changeset("two", {"djed-alpha": "minor"}, "Add widgets.")
        result = tool("status")
        assert result.code == 0, result.err
        assert "Pending changesets (2):" in result.out
        assert "one.md  [djed-alpha: patch]  Fix a typo." in result.out
        assert "djed-alpha  0.1.0 -> 0.2.0  (minor)" in result.out
        assert "djed-beta   0.1.0 -> 0.1.1  (patch, dependencies only)" in result.out
        assert "djed-gamma  0.1.0 -> 0.1.1  (patch, dependencies only)" in result.out

    def test_invalid_changeset_fails(self, repo: Repo, tool: Tool) -> None:
        """An invalid changeset makes status fail with the file and line."""
        repo.changeset("bad", {"djed-alpha": "big"}, "X.")
        result = tool("status")
        assert result.code == 1
        assert "bad.md:2: bad bump 'big'" in result.err


class TestModuleEntryPoint:
    def run(self, repo: Repo, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        return subprocess.run(
            [sys.executable, "-m", "tools.changeset", *args],
            cwd=repo.root / "packages" / "beta",
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    def test_runs_as_a_module_and_finds_the_root(self, repo: Repo) -> None:
        """`python -m tools.changeset` finds the workspace from a member folder."""
        repo.changeset("one", {"djed-beta": "minor"}, "Add a beta option.")
        result = self.run(repo, "status")
        assert result.returncode == 0, result.stderr
        assert "djed-beta   0.1.0 -> 0.2.0  (minor)" in result.stdout
        assert "djed-gamma  0.1.0 -> 0.1.1  (patch, dependencies only)" in result.stdout

    def test_check_exit_status(self, repo: Repo) -> None:
        """The check's failure reaches the shell as exit status 1."""
        repo.write("packages/alpha/src/djed/alpha/new.py", "")
        result = self.run(repo, "check", "--base", "HEAD")
        assert result.returncode == 1
        assert "djed-alpha" in result.stderr

    def test_main_defaults_to_process_arguments(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """main() without arguments reads sys.argv; --help exits with status 0."""
        monkeypatch.setattr(sys, "argv", ["changeset", "--help"])
        with pytest.raises(SystemExit) as info:
            main()
        assert info.value.code == 0
