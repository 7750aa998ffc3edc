"""The public names of djed.cli."""

from __future__ import annotations

import djed.cli
from djed.cli import TEMPLATES


def test_public_names() -> None:
    assert sorted(djed.cli.__all__) == ["CliError", "TEMPLATES", "app", "main"]
    for name in djed.cli.__all__:
        assert getattr(djed.cli, name) is not None


def test_version_comes_from_the_distribution() -> None:
    assert isinstance(djed.cli.__version__, str)


def test_templates() -> None:
    assert TEMPLATES == ("mcp-server", "docker", "kubernetes", "monitoring")
