"""End-to-end tests of the release tool's `version` and `publish` commands."""

from __future__ import annotations

import http.server
import re
import threading

import pytest

from tools.tests._changeset_repo import Repo, Tool


class _UploadServer:
    """A local stand-in for an index's upload endpoint that records uploaded file names."""

    def __init__(self) -> None:
        self.uploads: list[str] = []
        uploads = self.uploads

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                uploads.extend(name.decode() for name in re.findall(rb'filename="([^"]+)"', body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, fmt: str, *args: object) -> None:
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/legacy/"

    def __enter__(self) -> _UploadServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class TestVersion:
    def test_dry_run_writes_nothing(self, repo: Repo, tool: Tool) -> None:
        """--dry-run prints the plan and leaves every file as it was."""
        repo.changeset("one", {"djed-alpha": "major"}, "Break things.")
        repo.commit("changeset")
        result = tool("version", "--dry-run")
        assert result.code == 0, result.err
        assert "djed-alpha  0.1.0 -> 1.0.0  (major)" in result.out
        assert "    major: Break things.\n" in result.out
        assert (
            "  djed-beta 0.1.1\n    patch: Updated dependencies: djed-alpha>=1.0.0\n" in result.out
        )
        assert "Dry run: nothing written" in result.out
        assert repo.status() == ""

    def test_applies_changesets(self, repo: Repo, tool: Tool) -> None:
        """Versions, pins, changelogs and uv.lock are updated and the changesets removed."""
        repo.changeset("widgets", {"djed-alpha": "minor"}, "Add widgets.")
        repo.changeset("typo", {"djed-alpha": "patch", "djed-beta": "patch"}, "Fix a typo.")
        result = tool("version")
        assert result.code == 0, result.err

        assert repo.project("alpha")["version"] == "0.2.0"
        assert repo.project("beta")["version"] == "0.1.1"
        assert repo.project("gamma")["version"] == "0.1.1"
        beta = repo.read("packages/beta/pyproject.toml")
        assert '  # the sibling this package builds on\n  "djed-alpha>=0.2.0",\n' in beta
        assert 'dev = ["djed-alpha>=0.1.0"]' in beta
        assert "beta = ['djed-beta>=0.1.1']" in repo.read("packages/gamma/pyproject.toml")

        assert repo.read("packages/alpha/CHANGELOG.md") == (
            "# Changelog of djed-alpha\n\nEntries are written by the release tool.\n\n"
            "## 0.2.0\n\n### Minor changes\n\n- Add widgets.\n\n"
            "### Patch changes\n\n- Fix a typo.\n"
        )
        assert repo.read("packages/beta/CHANGELOG.md").endswith(
            "## 0.1.1\n\n### Patch changes\n\n- Fix a typo.\n"
            "- Updated dependencies: djed-alpha>=0.2.0\n"
        )
        assert repo.read("packages/gamma/CHANGELOG.md") == (
            "# Changelog of djed-gamma\n\n## 0.1.1\n\n### Patch changes\n\n"
            "- Updated dependencies: djed-beta>=0.1.1\n"
        )
        remaining = sorted(p.name for p in (repo.root / ".changeset").iterdir())
        assert remaining == ["README.md", "config.json"]
        assert repo.locked_versions() == {
            "djed-alpha": "0.2.0",
            "djed-beta": "0.1.1",
            "djed-gamma": "0.1.1",
        }
        assert tool("status").out == "No pending changesets.\n"

    def test_second_release_goes_on_top(self, repo: Repo, tool: Tool) -> None:
        """A later release section is placed above the earlier one."""
        repo.changeset("one", {"djed-alpha": "patch"}, "First.")
        assert tool("version").code == 0
        repo.changeset("two", {"djed-alpha": "patch"}, "Second.")
        assert tool("version").code == 0
        log = repo.read("packages/alpha/CHANGELOG.md")
        assert log.index("## 0.1.2") < log.index("- Second.") < log.index("## 0.1.1")
        assert log.startswith("# Changelog of djed-alpha\n")

    def test_unraisable_pin_stops_before_writing(self, repo: Repo, tool: Tool) -> None:
        """An exact pin on a bumped sibling is reported and nothing is written."""
        beta = repo.read("packages/beta/pyproject.toml")
        repo.write(
            "packages/beta/pyproject.toml",
            beta.replace('"djed-alpha>=0.1.0",', '"djed-alpha==0.1.0",'),
        )
        repo.changeset("one", {"djed-alpha": "minor"}, "Add widgets.")
        repo.commit("exact pin")
        result = tool("version")
        assert result.code == 1
        assert "packages/beta/pyproject.toml" in result.err
        assert "'=='" in result.err
        assert repo.status() == ""

    def test_invalid_changeset_stops_before_writing(self, repo: Repo, tool: Tool) -> None:
        """A broken changeset is reported with file and line, and nothing is written."""
        repo.changeset("good", {"djed-alpha": "minor"}, "Fine.")
        repo.changeset("bad", {"djed-zeta": "minor"}, "Unknown package.")
        repo.commit("changesets")
        result = tool("version")
        assert result.code == 1
        assert "bad.md:2: unknown package 'djed-zeta'" in result.err
        assert repo.status() == ""


class TestPublish:
    def test_everything_tagged(self, repo: Repo, tool: Tool) -> None:
        """When every version is tagged there is nothing to build."""
        for name in ("djed-alpha", "djed-beta", "djed-gamma"):
            repo.git("tag", f"{name}==0.1.0")
        result = tool("publish", "--dry-run")
        assert result.code == 0, result.err
        assert "skip djed-beta 0.1.0: already tagged djed-beta==0.1.0" in result.out
        assert "Nothing to publish" in result.out
        assert not (repo.root / "dist").exists()

    def test_never_versioned_package_is_skipped(self, repo: Repo, tool: Tool) -> None:
        """A package still at 0.0.0 is not published; the others are unaffected."""
        for name in ("djed-beta", "djed-gamma"):
            repo.git("tag", f"{name}==0.1.0")
        pyproject = repo.read("packages/alpha/pyproject.toml")
        repo.write(
            "packages/alpha/pyproject.toml",
            pyproject.replace('version = "0.1.0"', 'version = "0.0.0"'),
        )
        result = tool("publish", "--dry-run")
        assert result.code == 0, result.err
        assert "skip djed-alpha 0.0.0: never versioned" in result.out
        assert "Nothing to publish" in result.out

    @pytest.mark.slow
    def test_dry_run_builds_and_smoke_tests_untagged_versions(self, repo: Repo, tool: Tool) -> None:
        """Only the untagged package is built and smoke-installed; a dry run makes no tag."""
        repo.git("tag", "djed-beta==0.1.0")
        repo.git("tag", "djed-gamma==0.1.0")
        result = tool("publish", "--dry-run")
        assert result.code == 0, result.err
        assert "smoke-test djed_alpha-0.1.0-py3-none-any.whl: import djed.alpha" in result.out
        assert (
            "would upload djed_alpha-0.1.0-py3-none-any.whl, djed_alpha-0.1.0.tar.gz" in result.out
        )
        assert "and tag djed-alpha==0.1.0" in result.out
        assert "skip djed-gamma" in result.out
        built = sorted(p.name for p in (repo.root / "dist").rglob("djed*") if p.is_file())
        assert built == ["djed_alpha-0.1.0-py3-none-any.whl", "djed_alpha-0.1.0.tar.gz"]
        assert sorted(repo.git("tag", "--list").split()) == [
            "djed-beta==0.1.0",
            "djed-gamma==0.1.0",
        ]

    @pytest.mark.slow
    def test_smoke_test_catches_a_broken_wheel(self, repo: Repo, tool: Tool) -> None:
        """A wheel whose module fails on import stops the run before anything is published."""
        repo.write("packages/alpha/src/djed/alpha/__init__.py", "raise ImportError('broken')\n")
        repo.git("tag", "djed-beta==0.1.0")
        repo.git("tag", "djed-gamma==0.1.0")
        result = tool("publish", "--dry-run")
        assert result.code == 1
        assert "import djed.alpha" in result.err
        assert "broken" in result.err

    @pytest.mark.slow
    def test_dependents_install_against_siblings_built_in_the_same_run(
        self, repo: Repo, tool: Tool
    ) -> None:
        """Packages go in dependency order; a dependent's smoke install finds fresh siblings."""
        result = tool("publish", "--dry-run")
        assert result.code == 0, result.err
        order = [line.split()[1] for line in result.out.splitlines() if line.startswith("build ")]
        assert order == ["djed-alpha", "djed-beta", "djed-gamma"]
        assert "import djed.beta" in result.out

    @pytest.mark.slow
    def test_uploads_then_tags(
        self, repo: Repo, tool: Tool, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A real run uploads each file with uv publish, then tags; a rerun skips them."""
        repo.git("tag", "djed-beta==0.1.0")
        repo.git("tag", "djed-gamma==0.1.0")
        monkeypatch.setenv("UV_PUBLISH_TOKEN", "test-token")
        with _UploadServer() as server:
            result = tool("publish", "--publish-url", server.url)
        assert result.code == 0, result.err
        assert sorted(server.uploads) == [
            "djed_alpha-0.1.0-py3-none-any.whl",
            "djed_alpha-0.1.0.tar.gz",
        ]
        assert "djed-alpha==0.1.0" in repo.git("tag", "--list").split()
        assert "Push the tags: git push origin djed-alpha==0.1.0" in result.out
        assert "Nothing to publish" in tool("publish", "--dry-run").out
