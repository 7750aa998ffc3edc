"""End-to-end tests of the release tool's `check` command on a throwaway git workspace."""

from __future__ import annotations

import shutil
from pathlib import Path

from tools.changeset import main
from tools.tests._changeset_repo import Repo, Tool


class TestCheck:
    def test_passes_without_source_changes(self, repo: Repo, tool: Tool) -> None:
        """Changes outside packages/*/src need no changeset."""
        repo.commit("second commit")
        repo.write("packages/alpha/README.md", "Docs only.\n")
        result = tool("check")
        assert result.code == 0, result.err
        assert "No package sources changed." in result.out

    def test_fails_on_uncommitted_source_change(self, repo: Repo, tool: Tool) -> None:
        """An uncommitted edit under src/ without a changeset fails, naming the package."""
        repo.write("packages/beta/src/djed/beta/__init__.py", '"""Changed."""\n')
        result = tool("check", "--base", "HEAD")
        assert result.code == 1
        assert "sources changed without a changeset for: djed-beta" in result.err
        assert "djed-alpha" not in result.err

    def test_untracked_file_needs_a_changeset_and_one_satisfies(
        self, repo: Repo, tool: Tool
    ) -> None:
        """A new untracked source file counts, and a new changeset naming the package passes."""
        repo.write("packages/alpha/src/djed/alpha/extra.py", "X = 1\n")
        assert tool("check", "--base", "HEAD").code == 1
        assert tool("add", "-p", "djed-alpha:patch", "-m", "Add X.").code == 0
        result = tool("check", "--base", "HEAD")
        assert result.code == 0, result.err
        assert "djed-alpha: 1 source file(s) changed, has a changeset" in result.out

    def test_committed_changes_since_default_base(self, repo: Repo, tool: Tool) -> None:
        """Without --base the check compares with HEAD~1 when origin/main does not exist."""
        repo.write("packages/gamma/src/djed/gamma/__init__.py", '"""Changed."""\n')
        repo.commit("change gamma")
        result = tool("check")
        assert result.code == 1
        assert "Compared with HEAD~1" in result.out
        assert "djed-gamma" in result.err
        repo.changeset("gamma-fix", {"djed-gamma": "patch"}, "Fix gamma.")
        repo.commit("add the changeset")
        assert tool("check", "--base", "HEAD~2").code == 0

    def test_changeset_from_before_the_base_does_not_count(self, repo: Repo, tool: Tool) -> None:
        """Only changesets added since the base cover new source changes."""
        repo.changeset("old", {"djed-alpha": "patch"}, "Old change.")
        base = repo.commit("old changeset")
        repo.write("packages/alpha/src/djed/alpha/__init__.py", '"""Again."""\n')
        repo.commit("new change")
        result = tool("check", "--base", base)
        assert result.code == 1
        assert "djed-alpha" in result.err

    def test_missing_base_compares_with_an_empty_tree(self, repo: Repo, tool: Tool) -> None:
        """A base that does not exist makes every file count as changed, and says so."""
        repo.changeset("alpha", {"djed-alpha": "patch"}, "Fix alpha.")
        result = tool("check", "--base", "origin/does-not-exist")
        assert result.code == 1
        assert "does not exist here" in result.out
        assert "empty tree" in result.out
        assert "for: djed-beta, djed-gamma" in result.err

    def test_single_commit_repository(self, repo: Repo, tool: Tool) -> None:
        """In a one-commit repository the default base is missing; all packages need changesets."""
        everything = dict.fromkeys(("djed-alpha", "djed-beta", "djed-gamma"), "patch")
        repo.changeset("all", everything, "Touch everything.")
        result = tool("check")
        assert result.code == 0, result.err
        assert "empty tree" in result.out

    def test_base_without_shared_history(self, repo: Repo, tool: Tool) -> None:
        """A base with no merge base with HEAD (a shallow clone) falls back to the empty tree."""
        repo.git("checkout", "--quiet", "--orphan", "unrelated")
        repo.commit("unrelated history")
        result = tool("check", "--base", "main")
        assert result.code == 1
        assert "shares no history with HEAD" in result.out
        assert "for: djed-alpha, djed-beta, djed-gamma" in result.err

    def test_workspace_below_the_git_root(self, template: Repo, tmp_path: Path) -> None:
        """Paths are matched relative to the workspace when it sits in a subfolder of the repo."""
        outer = Repo(tmp_path / "outer")
        shutil.copytree(template.root, outer.root / "ws", ignore=shutil.ignore_patterns(".git"))
        outer.git("init", "--quiet")
        outer.commit("workspace in a subfolder")
        outer.write("ws/packages/gamma/src/djed/gamma/__init__.py", '"""Changed."""\n')
        code = main(["check", "--base", "HEAD", "--root", str(outer.root / "ws")])
        assert code == 1

    def test_invalid_changeset_fails(self, repo: Repo, tool: Tool) -> None:
        """A broken changeset file fails the check even without source changes."""
        repo.write(".changeset/broken.md", "nothing here\n")
        result = tool("check", "--base", "HEAD")
        assert result.code == 1
        assert "broken.md:1: missing front matter" in result.err
