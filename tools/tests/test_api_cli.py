"""End-to-end tests of `python -m tools.api` on a throwaway workspace with real packages.

Each command runs in a fresh interpreter, as it does from a terminal, so every run imports
the package code as it is on disk at that moment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]

GREET = '''\
"""A toy package for the API tool's tests."""

__all__ = ["Greeter", "greet"]


def greet(name: str, punctuation: str = "!") -> str:
    """Say hello."""
    return f"hello {name}{punctuation}"


class Greeter:
    """Greets many times."""

    def __init__(self, times: int = 1) -> None:
        self.times = times

    def run(self, name: str) -> list[str]:
        """Greet ``name`` ``times`` times."""
        return [greet(name)] * self.times
'''


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


@dataclass(frozen=True)
class Toy:
    """A workspace with two packages: djed-apitoy at 1.2.0 and djed-apizero at 0.3.0."""

    root: Path

    def module(self, folder: str) -> Path:
        return self.root / "packages" / folder / "src" / "djed" / folder / "__init__.py"

    def edit(self, folder: str, old: str, new: str) -> None:
        path = self.module(folder)
        text = path.read_text("utf-8")
        assert old in text, f"{old!r} is not in {path}"
        path.write_text(text.replace(old, new), encoding="utf-8")

    def snapshot(self, folder: str) -> Path:
        return self.root / "packages" / folder / "api.json"

    def changeset(self, slug: str, package: str, bump: str) -> Path:
        path = self.root / ".changeset" / f"{slug}.md"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f'---\n"{package}": {bump}\n---\nChange the toy.\n', encoding="utf-8")
        return path

    def run(self, *args: str) -> Result:
        completed = subprocess.run(
            [sys.executable, "-m", "tools.api", *args, "--root", str(self.root)],
            cwd=REPOSITORY,
            env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        return Result(completed.returncode, completed.stdout, completed.stderr)

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=self.root, capture_output=True, text=True, check=True
        ).stdout.strip()


def _package(root: Path, folder: str, version: str) -> None:
    directory = root / "packages" / folder
    (directory / "src" / "djed" / folder).mkdir(parents=True)
    (directory / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [project]
            name = "djed-{folder}"
            version = "{version}"
            requires-python = ">=3.11"
            dependencies = []
            """
        ),
        encoding="utf-8",
    )
    (directory / "src" / "djed" / folder / "__init__.py").write_text(GREET, encoding="utf-8")


@pytest.fixture
def toy(tmp_path: Path) -> Toy:
    root = tmp_path / "workspace"
    root.mkdir()
    (root / "pyproject.toml").write_text(
        '[tool.uv.workspace]\nmembers = ["packages/*"]\n', encoding="utf-8"
    )
    _package(root, "apitoy", "1.2.0")
    _package(root, "apizero", "0.3.0")
    return Toy(root)


def test_a_removed_parameter_needs_a_major_changeset(toy: Toy) -> None:
    """The whole cycle: snapshot, break, fail, announce, pass, add, pass, record."""
    first = toy.run("snapshot", "djed-apitoy")
    assert first.code == 0, first.err
    assert "djed-apitoy: wrote packages/apitoy/api.json (2 names in 1 module(s))" in first.out
    recorded = json.loads(toy.snapshot("apitoy").read_text("utf-8"))
    assert recorded["modules"]["djed.apitoy"]["greet"]["parameters"][1] == {
        "name": "punctuation",
        "kind": "positional-or-keyword",
        "annotation": "str",
        "default": "'!'",
    }
    assert toy.run("check", "apitoy").code == 0

    toy.edit("apitoy", 'def greet(name: str, punctuation: str = "!")', "def greet(name: str)")
    toy.edit("apitoy", "{punctuation}", "")
    broken = toy.run("check", "apitoy")
    assert broken.code == 1
    assert "djed.apitoy.greet: parameter 'punctuation' was removed" in broken.err
    assert "uv run python -m tools.changeset add -p djed-apitoy:major" in broken.err
    assert "uv run python -m tools.api snapshot djed-apitoy" in broken.err

    # From 1.0.0 on, neither a patch nor a minor changeset announces a break.
    toy.changeset("small", "djed-apitoy", "minor")
    assert toy.run("check", "apitoy").code == 1
    toy.changeset("breaking", "djed-apitoy", "major")
    announced = toy.run("check", "apitoy")
    assert announced.code == 0, announced.err
    assert "breaking changes announced by: breaking.md" in announced.out
    assert "BREAKING  djed.apitoy.greet: parameter 'punctuation' was removed" in announced.out

    # An addition needs no breaking changeset, but --strict wants it recorded.
    (toy.root / ".changeset" / "breaking.md").unlink()
    toy.run("snapshot", "apitoy", "--allow-breaking")
    toy.edit("apitoy", "class Greeter:", "def wave() -> None:\n    pass\n\n\nclass Greeter:")
    toy.edit("apitoy", '__all__ = ["Greeter", "greet"]', '__all__ = ["Greeter", "greet", "wave"]')
    added = toy.run("check", "apitoy")
    assert added.code == 0, added.err
    assert "added     djed.apitoy.wave: new function" in added.out
    assert "record it: uv run python -m tools.api snapshot djed-apitoy" in added.out
    strict = toy.run("check", "--strict", "apitoy")
    assert strict.code == 1
    assert "packages/apitoy/api.json does not record the current API" in strict.err
    assert toy.run("snapshot", "apitoy").code == 0
    assert toy.run("check", "--strict", "apitoy").code == 0


def test_snapshot_refuses_to_record_an_unannounced_break(toy: Toy) -> None:
    assert toy.run("snapshot").code == 0
    before = toy.snapshot("apitoy").read_text("utf-8")
    toy.edit("apitoy", "    def run(self, name: str)", "    def start(self, name: str)")
    refused = toy.run("snapshot", "apitoy")
    assert refused.code == 1
    assert "packages/apitoy/api.json not written" in refused.err
    assert "djed.apitoy.Greeter.run: method was removed" in refused.err
    assert toy.snapshot("apitoy").read_text("utf-8") == before
    forced = toy.run("snapshot", "apitoy", "--allow-breaking")
    assert forced.code == 0, forced.err
    assert '"start"' in toy.snapshot("apitoy").read_text("utf-8")


def test_below_one_a_minor_changeset_announces_a_break(toy: Toy) -> None:
    """Before 1.0.0 breaking changes move the minor number, so minor announces them."""
    assert toy.run("snapshot", "apizero").code == 0
    toy.edit("apizero", "def __init__(self, times: int = 1)", "def __init__(self, times: int)")
    unannounced = toy.run("check", "apizero")
    assert unannounced.code == 1
    assert "djed.apizero.Greeter(): parameter 'times' is now required" in unannounced.err
    assert "-p djed-apizero:minor" in unannounced.err
    toy.changeset("fix", "djed-apizero", "patch")
    assert toy.run("check", "apizero").code == 1
    toy.changeset("feature", "djed-apizero", "minor")
    assert toy.run("check", "apizero").code == 0
    # A changeset for another package announces nothing here.
    toy.changeset("other", "djed-apitoy", "major")
    (toy.root / ".changeset" / "feature.md").unlink()
    assert toy.run("check", "apizero").code == 1


def test_a_missing_snapshot_fails_and_names_the_command(toy: Toy) -> None:
    result = toy.run("check")
    assert result.code == 1
    assert "djed-apitoy: no API snapshot: run `uv run python -m tools.api snapshot" in result.err
    assert "djed-apizero: no API snapshot" in result.err


def test_base_catches_a_break_hidden_by_a_rewritten_snapshot(toy: Toy) -> None:
    """A snapshot rewritten while a changeset was pending cannot hide the break for good."""
    toy.git("init", "-q", "-b", "main")
    assert toy.run("snapshot").code == 0
    toy.git("add", "-A")
    toy.git("commit", "-q", "-m", "release")
    release = toy.git("rev-parse", "HEAD")

    toy.edit("apitoy", "def greet(name: str, punctuation", "def greet(who: str, punctuation")
    toy.edit("apitoy", "{name}{punctuation}", "{who}{punctuation}")
    toy.changeset("rename", "djed-apitoy", "major")
    assert toy.run("snapshot", "apitoy").code == 0
    (toy.root / ".changeset" / "rename.md").unlink()
    # Against the rewritten snapshot nothing differs any more...
    assert toy.run("check", "apitoy").code == 0
    # ...but against the release it does.
    result = toy.run("check", "apitoy", "--base", release)
    assert result.code == 1
    assert "djed.apitoy.greet: parameter 'name' was renamed to 'who'" in result.err
    assert f"against packages/apitoy/api.json at {release}" in result.out
    toy.changeset("rename", "djed-apitoy", "major")
    assert toy.run("check", "apitoy", "--base", release).code == 0
    missing = toy.run("check", "apitoy", "--base", "no-such-ref")
    assert missing.code == 1
    assert "base 'no-such-ref' is not a commit" in missing.err


def test_problems_in_the_code_are_reported(toy: Toy) -> None:
    assert toy.run("snapshot").code == 0
    toy.edit("apizero", '__all__ = ["Greeter", "greet"]', '__all__ = ["Greeter", "gone"]')
    toy.module("apitoy").write_text("raise RuntimeError('broken on import')\n", encoding="utf-8")
    result = toy.run("check")
    assert result.code == 1
    assert "cannot import djed.apitoy: RuntimeError: broken on import" in result.err
    assert "djed.apizero.__all__ names gone, which it does not define" in result.err
    unknown = toy.run("check", "nothing-like-it")
    assert unknown.code == 1
    assert "unknown package 'nothing-like-it'; workspace packages: djed-apitoy" in unknown.err
