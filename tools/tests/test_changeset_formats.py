"""Unit tests of the release tool's file formats: changesets, versions, pins and changelogs."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import tools.changeset
from tools.changeset import Bump, ChangesetError, WorkspaceError, load_workspace, next_version
from tools.changeset._changelog import prepend_section, render_section
from tools.changeset._files import changeset_files, parse_changeset, read_changesets
from tools.changeset._pins import raise_requirement, rewrite_pins
from tools.changeset._slug import random_slug
from tools.changeset._workspace import Workspace
from tools.tests._changeset_repo import Repo


@pytest.fixture
def workspace(repo: Repo) -> Workspace:
    return load_workspace(repo.root)


class TestPublicApi:
    def test_all_is_sorted_and_complete(self) -> None:
        """__all__ lists every public name of the package, sorted, and nothing else."""
        public = {
            name
            for name in vars(tools.changeset)
            if not name.startswith("_") and name not in {"annotations", "cli"}
        }
        assert tools.changeset.__all__ == sorted(tools.changeset.__all__)
        assert set(tools.changeset.__all__) == public


class TestParseChangeset:
    def parse(self, workspace: Workspace, text: str) -> tools.changeset.Changeset:
        return parse_changeset(Path("x.md"), text, workspace)

    def test_reads_quoted_and_bare_names(self, workspace: Workspace) -> None:
        """Names may be double-quoted, single-quoted or bare; the summary is the stripped body."""
        text = '---\n"djed-alpha": minor\n\'djed-beta\': patch\ndjed_gamma: "major"\n---\n\nHi.\n'
        changeset = self.parse(workspace, text)
        assert dict(changeset.releases) == {
            "djed-alpha": Bump.MINOR,
            "djed-beta": Bump.PATCH,
            "djed-gamma": Bump.MAJOR,
        }
        assert changeset.summary == "Hi."

    def test_missing_front_matter(self, workspace: Workspace) -> None:
        """A file that does not open with '---' is rejected at line 1."""
        with pytest.raises(ChangesetError, match=r"x\.md:1: missing front matter"):
            self.parse(workspace, '"djed-alpha": minor\nHi.\n')

    def test_unclosed_front_matter(self, workspace: Workspace) -> None:
        """Front matter without its closing '---' is rejected."""
        with pytest.raises(ChangesetError, match="front matter is not closed"):
            self.parse(workspace, '---\n"djed-alpha": minor\nHi.\n')

    def test_unknown_package_names_the_line(self, workspace: Workspace) -> None:
        """A package outside the workspace is reported with its line and the known names."""
        with pytest.raises(ChangesetError, match=r"x\.md:3: unknown package 'djed-nope'") as info:
            self.parse(workspace, '---\n"djed-alpha": minor\n"djed-nope": patch\n---\nHi.\n')
        assert "djed-alpha, djed-beta, djed-gamma" in str(info.value)

    def test_bad_bump_word_names_the_line(self, workspace: Workspace) -> None:
        """A bump other than major, minor or patch is reported with its line."""
        with pytest.raises(ChangesetError, match=r"x\.md:2: bad bump 'Minor' for djed-alpha"):
            self.parse(workspace, '---\n"djed-alpha": Minor\n---\nHi.\n')

    def test_empty_body(self, workspace: Workspace) -> None:
        """A changeset without a summary is rejected, pointing after the front matter."""
        with pytest.raises(ChangesetError, match=r"x\.md:4: empty body"):
            self.parse(workspace, '---\n"djed-alpha": minor\n---\n\n  \n')

    def test_no_package(self, workspace: Workspace) -> None:
        """Front matter naming no package is rejected."""
        with pytest.raises(ChangesetError, match="names no package"):
            self.parse(workspace, "---\n---\nHi.\n")

    def test_package_named_twice(self, workspace: Workspace) -> None:
        """The same package twice in one file is rejected, even in another spelling."""
        with pytest.raises(ChangesetError, match=r"x\.md:3: djed-alpha is named twice"):
            self.parse(workspace, '---\n"djed-alpha": minor\n"djed_alpha": patch\n---\nHi.\n')

    def test_garbage_line(self, workspace: Workspace) -> None:
        """A front matter line that is not `name: bump` is rejected with its text."""
        with pytest.raises(ChangesetError, match=r"x\.md:2: expected a line like"):
            self.parse(workspace, "---\njust words\n---\nHi.\n")


class TestReadChangesets:
    def test_ignores_readme_and_other_files(self, repo: Repo, workspace: Workspace) -> None:
        """README.md, config.json and non-.md files are not changesets."""
        repo.write(".changeset/notes.txt", "not a changeset")
        repo.write(".changeset/one.md", '---\n"djed-alpha": patch\n---\nFix.\n')
        assert [path.name for path in changeset_files(repo.root / ".changeset")] == ["one.md"]
        assert [c.slug for c in read_changesets(workspace)] == ["one"]

    def test_reports_every_bad_file(self, repo: Repo, workspace: Workspace) -> None:
        """The problems of all invalid files are reported together."""
        repo.write(".changeset/a.md", '---\n"djed-alpha": huge\n---\nX.\n')
        repo.write(".changeset/b.md", "no front matter\n")
        with pytest.raises(ChangesetError) as info:
            read_changesets(workspace)
        assert len(info.value.problems) == 2
        assert "a.md:2: bad bump" in info.value.problems[0]
        assert "b.md:1: missing front matter" in info.value.problems[1]

    def test_missing_directory_means_none(self, tmp_path: Path) -> None:
        """A workspace without .changeset/ has no pending changesets."""
        assert changeset_files(tmp_path / ".changeset") == []


class TestSlug:
    def test_three_lowercase_words(self) -> None:
        """Random slugs are three lower-case words joined by dashes."""
        words = random_slug().split("-")
        assert len(words) == 3
        assert all(word.isalpha() and word.islower() for word in words)


class TestNextVersion:
    @pytest.mark.parametrize(
        ("version", "bump", "expected"),
        [
            ("0.1.0", Bump.PATCH, "0.1.1"),
            ("0.1.0", Bump.MINOR, "0.2.0"),
            ("0.1.9", Bump.MAJOR, "1.0.0"),
            ("0.1", Bump.PATCH, "0.1.1"),
            ("0.1", Bump.MAJOR, "1.0"),
            ("1.2.3a1", Bump.MINOR, "1.3.0"),
            ("1.2.3.post1", Bump.PATCH, "1.2.4"),
            ("2.0.0rc1", Bump.PATCH, "2.0.1"),
            ("1.2.3.4", Bump.MINOR, "1.3.0.0"),
            ("1!1.0.0", Bump.PATCH, "1!1.0.1"),
        ],
    )
    def test_matches_uv(self, version: str, bump: Bump, expected: str) -> None:
        """The predicted version is the one `uv version --bump` writes (checked with uv 0.13)."""
        assert next_version(version, bump) == expected

    def test_rejects_non_versions(self) -> None:
        """A string that is not a PEP 440 version cannot be bumped."""
        with pytest.raises(ValueError, match="not a PEP 440 version"):
            next_version("latest", Bump.PATCH)

    def test_rank(self) -> None:
        """Major outranks minor, which outranks patch."""
        assert Bump.MAJOR.rank > Bump.MINOR.rank > Bump.PATCH.rank


class TestRaiseRequirement:
    @pytest.mark.parametrize(
        ("requirement", "expected"),
        [
            ("djed-alpha>=0.1.0", "djed-alpha>=0.2.0"),
            ("djed-alpha", "djed-alpha>=0.2.0"),
            ("djed-alpha >= 0.1, < 2", "djed-alpha>=0.2.0,<2"),
            ("djed-alpha[fast]>0.0.1,!=0.1.5", "djed-alpha[fast]>=0.2.0,!=0.1.5"),
            ("djed-alpha>=0.1; python_version>'3.10'", "djed-alpha>=0.2.0; python_version>'3.10'"),
            ("djed-alpha (>=0.1)", "djed-alpha>=0.2.0"),
        ],
    )
    def test_sets_the_lower_bound(self, requirement: str, expected: str) -> None:
        """Lower bounds become >=new, caps, exclusions, extras and markers stay."""
        assert raise_requirement(requirement, "0.2.0") == expected

    @pytest.mark.parametrize(
        "requirement", ["djed-alpha==0.1.0", "djed-alpha~=0.1", "djed-alpha @ file:///x"]
    )
    def test_refuses_exact_pins_and_urls(self, requirement: str) -> None:
        """Exact and compatible-release pins and URL requirements are left for a human."""
        with pytest.raises(WorkspaceError):
            raise_requirement(requirement, "0.2.0")


class TestRewritePins:
    def test_keeps_layout_and_touches_only_project_tables(self, repo: Repo) -> None:
        """Only [project] requirement strings change; comments and dependency groups stay."""
        before = repo.read("packages/beta/pyproject.toml")
        after = rewrite_pins(before, {"djed-alpha": "0.2.0"}, where="beta")
        assert after == before.replace('  "djed-alpha>=0.1.0",', '  "djed-alpha>=0.2.0",')
        assert "# the sibling this package builds on" in after
        assert tomllib.loads(after)["dependency-groups"]["dev"] == ["djed-alpha>=0.1.0"]

    def test_optional_dependencies_keep_their_quotes(self, repo: Repo) -> None:
        """Requirements in extras are raised, keeping literal-string quotes."""
        before = repo.read("packages/gamma/pyproject.toml")
        after = rewrite_pins(before, {"djed-beta": "0.1.1"}, where="gamma")
        assert "beta = ['djed-beta>=0.1.1']" in after

    def test_unrelated_names_leave_the_text_alone(self, repo: Repo) -> None:
        """A pyproject that does not require the bumped package is returned unchanged."""
        before = repo.read("packages/alpha/pyproject.toml")
        assert rewrite_pins(before, {"djed-beta": "9.9.9"}, where="alpha") is before

    def test_error_names_the_file(self) -> None:
        """A pin that cannot be raised is reported with the file it is in."""
        text = '[project]\nname = "x"\ndependencies = ["djed-alpha==0.1.0"]\n'
        with pytest.raises(WorkspaceError, match=r"^packages/x/pyproject\.toml: .*'=='"):
            rewrite_pins(text, {"djed-alpha": "0.2.0"}, where="packages/x/pyproject.toml")


class TestChangelog:
    def test_section_groups_by_bump(self) -> None:
        """A section lists entries under Major, Minor and Patch headings, skipping empty ones."""
        section = render_section("1.0.0", {Bump.MAJOR: ["Drop X."], Bump.PATCH: ["A\nB"]})
        assert section == (
            "## 1.0.0\n\n### Major changes\n\n- Drop X.\n\n### Patch changes\n\n- A\n  B\n"
        )

    def test_prepends_below_header_and_above_older_releases(self) -> None:
        """New sections go after the header lines and before the previous release."""
        text = "# Changelog\n\nIntro.\n\n## 0.1.0\n\n- Old.\n"
        result = prepend_section(text, "## 0.2.0\n\n- New.\n", "unused")
        assert result == "# Changelog\n\nIntro.\n\n## 0.2.0\n\n- New.\n\n## 0.1.0\n\n- Old.\n"

    def test_creates_a_header_for_an_empty_file(self) -> None:
        """An empty or missing changelog gets a title header."""
        assert prepend_section("", "## 0.1.1\n", "Changelog of x") == (
            "# Changelog of x\n\n## 0.1.1\n"
        )


class TestWorkspace:
    def test_discovers_members_and_dependencies(self, workspace: Workspace) -> None:
        """Members, versions and sibling dependencies (extras included) come from pyproject."""
        assert [p.name for p in workspace] == ["djed-alpha", "djed-beta", "djed-gamma"]
        alpha, beta, gamma = workspace
        assert alpha.version == "0.1.0"
        assert workspace.dependents(alpha) == [beta]
        assert workspace.dependents(beta) == [gamma]
        assert workspace.in_dependency_order() == [alpha, beta, gamma]
        assert beta.import_name == "djed.beta"
        assert beta.tag == "djed-beta==0.1.0"

    def test_owner_maps_paths_to_members(self, workspace: Workspace) -> None:
        """A path below a member's folder belongs to that member; others to none."""
        owner = workspace.owner("packages/beta/src/djed/beta/__init__.py")
        assert owner is not None
        assert owner.name == "djed-beta"
        assert workspace.owner("packages/betamax/x.py") is None

    def test_find_root_walks_up(self, repo: Repo) -> None:
        """The root is found from any folder inside the workspace."""
        start = repo.root / "packages" / "alpha" / "src"
        assert tools.changeset.find_root(start) == repo.root.resolve()

    def test_find_root_fails_outside_a_workspace(self, tmp_path: Path) -> None:
        """Outside any uv workspace the error says to pass --root."""
        with pytest.raises(WorkspaceError, match="pass --root"):
            tools.changeset.find_root(tmp_path)

    def test_exclude_and_dynamic_version(self, repo: Repo) -> None:
        """Excluded members are skipped; a member without a static version is an error."""
        text = repo.read("pyproject.toml").replace(
            'members = ["packages/*"]', 'members = ["packages/*"]\nexclude = ["packages/gamma"]'
        )
        repo.write("pyproject.toml", text)
        assert [p.name for p in load_workspace(repo.root)] == ["djed-alpha", "djed-beta"]
        beta = repo.read("packages/beta/pyproject.toml")
        repo.write(
            "packages/beta/pyproject.toml",
            beta.replace('version = "0.1.0"', 'dynamic = ["version"]'),
        )
        with pytest.raises(WorkspaceError, match="must be a static string"):
            load_workspace(repo.root)
