"""Template versions: one tag per distinct content, the same commit on every machine."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from djed.cli._templates import TemplateStore

from ._cli_support import TEMPLATES


def _commit(store: TemplateStore, name: str, tag: str) -> str:
    repo = Path(store.url(name))
    return subprocess.run(
        ["git", "rev-parse", f"{tag}^{{commit}}"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_the_same_content_keeps_its_tag_and_commit(tmp_path: Path) -> None:
    first, second = TemplateStore(str(tmp_path / "a")), TemplateStore(str(tmp_path / "b"))
    tag = first.register("docker")
    assert first.register("docker") == tag
    assert second.register("docker") == tag
    assert _commit(first, "docker", tag) == _commit(second, "docker", tag)


def test_new_content_gets_a_higher_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "templates"
    shutil.copytree(TEMPLATES, copy)
    monkeypatch.setenv("DJED_TEMPLATES", str(copy))
    store = TemplateStore(str(tmp_path / "store"))
    old = store.register("docker")
    dockerfile = copy / "docker" / "template" / "Dockerfile.jinja"
    dockerfile.write_text(dockerfile.read_text() + "# changed\n")
    new = store.register("docker")
    assert new != old
    assert int(new.rsplit("post", 1)[1]) == int(old.rsplit("post", 1)[1]) + 1
    dockerfile.write_text(dockerfile.read_text().removesuffix("# changed\n"))
    assert store.register("docker") == old, "going back to a known content finds its tag"


def test_an_unknown_template_is_named(tmp_path: Path) -> None:
    from djed.cli import CliError

    with pytest.raises(CliError, match="no template named 'helm'"):
        TemplateStore(str(tmp_path)).register("helm")
