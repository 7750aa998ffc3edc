"""`djed add` writes imports where isort would and setup code once."""

from __future__ import annotations

from pathlib import Path

import pytest
from djed.cli._add import PACKAGES, Snippet, insert_snippet

MODULE = '''"""A server."""

from __future__ import annotations

import json
from typing import Any

from djed.logger import get_logger
from mcp.server.mcpserver import MCPServer

from notes import __version__

log = get_logger(__name__)

# djed: setup (setup code goes above this line)

server = MCPServer("notes")
'''


@pytest.fixture
def module(tmp_path: Path) -> Path:
    path = tmp_path / "server.py"
    path.write_text(MODULE)
    return path


def test_imports_land_in_sorted_order_in_their_section(module: Path) -> None:
    assert insert_snippet(module, PACKAGES["breaker"], "notes")
    lines = module.read_text().splitlines()
    third_party = lines[lines.index("from djed.breaker import CircuitBreaker") :][:3]
    assert third_party == [
        "from djed.breaker import CircuitBreaker",
        "from djed.logger import get_logger",
        "from mcp.server.mcpserver import MCPServer",
    ]
    setup = module.read_text().index("upstream_breaker = CircuitBreaker(")
    assert setup < module.read_text().index("# djed: setup")


def test_standard_library_imports_go_to_their_section(module: Path) -> None:
    insert_snippet(module, PACKAGES["crdt"], "notes")
    lines = module.read_text().splitlines()
    assert lines[4:7] == ["import json", "import os", "from typing import Any"]
    assert "from djed.crdt import SQLiteStorage, SyncServer" in lines


def test_a_module_without_third_party_imports_gets_a_section(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("import os\n\nfrom notes import x\n\n# djed: setup\n")
    insert_snippet(path, PACKAGES["cache"], "notes")
    assert path.read_text().startswith("import os\n\nfrom djed.cache import Cache\n\nfrom notes")


def test_adding_twice_changes_nothing(module: Path) -> None:
    assert insert_snippet(module, PACKAGES["cache"], "notes")
    once = module.read_text()
    assert not insert_snippet(module, PACKAGES["cache"], "notes")
    assert module.read_text() == once
    assert not insert_snippet(module, PACKAGES["logger"], "notes"), "already set up by hand"


@pytest.mark.parametrize("name", sorted(PACKAGES))
def test_every_snippet_is_valid_python_that_compiles(name: str) -> None:
    snippet: Snippet = PACKAGES[name]
    source = "\n".join(snippet.imports) + "\n\n" + snippet.setup
    compile(source, f"<{name}>", "exec")
    assert snippet.key in snippet.setup
    assert max(len(line) for line in source.splitlines()) <= 100
