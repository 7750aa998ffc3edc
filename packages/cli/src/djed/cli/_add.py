"""`djed add PACKAGE`: the dependency, and the few lines that put the package to use."""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

from ._console import info, step, success, warn
from ._errors import CliError
from ._project import SETUP_MARKER, Project, run_uv

__all__ = ["PACKAGES", "Snippet", "add_package", "insert_snippet"]


@dataclass(frozen=True)
class Snippet:
    """What `djed add` writes into the server module for one package."""

    imports: tuple[str, ...]
    #: The first line of ``setup`` that is code: present means already added.
    key: str
    setup: str


#: The packages `djed add` knows, with their setup code.
PACKAGES: dict[str, Snippet] = {
    "logger": Snippet(
        imports=("from djed.logger import get_logger",),
        key="log = get_logger(",
        setup="#: Structured logs: pretty on a terminal, JSON lines elsewhere.\n"
        "log = get_logger(__name__)\n",
    ),
    "validator": Snippet(
        imports=("from djed.validator import SchemaValidator",),
        key="DOCUMENT_SCHEMA = SchemaValidator(",
        setup="#: DOCUMENT_SCHEMA.validate(document) raises ValidationError naming each wrong\n"
        "#: field by its JSON path. Put your schema here, or load it from a .schema.json file.\n"
        'DOCUMENT_SCHEMA = SchemaValidator({"type": "object"})\n',
    ),
    "breaker": Snippet(
        imports=("from djed.breaker import CircuitBreaker",),
        key="upstream_breaker = CircuitBreaker(",
        setup="#: Calls to another service go through this breaker (decorate the function that\n"
        "#: calls it with @upstream_breaker): after repeated failures it fails fast for a\n"
        "#: while instead of piling up timeouts.\n"
        "upstream_breaker = CircuitBreaker(\n"
        '    "upstream", failure_rate_threshold=50, minimum_calls=10, open_duration=30\n'
        ")\n",
    ),
    "cache": Snippet(
        imports=("from djed.cache import Cache",),
        key="cache = Cache(",
        setup="#: Results of slow lookups, fresh for 60 s then served stale for 5 minutes while\n"
        '#: refreshed: decorate an async function with @cache.cached(key="thing:{thing_id}").\n'
        "cache = Cache(ttl=60, stale_ttl=300)\n",
    ),
    "crdt": Snippet(
        imports=("import os", "from djed.crdt import SQLiteStorage, SyncServer"),
        key="documents = SyncServer(",
        setup="#: Collaborative documents, stored in SQLite. Serve them by adding\n"
        "#: documents.routes() to your HTTP app; let agents edit them with\n"
        "#: djed.crdt.expose_documents(server, documents).\n"
        'documents = SyncServer(SQLiteStorage(os.environ.get("DOCUMENTS_DB", "documents.db")))\n',
    ),
    "mcp-base": Snippet(
        imports=("from djed.mcp_base import create_server, run",),
        key="server = create_server(",
        setup='server = create_server("my-server", version="0.1.0")\n',
    ),
}


def _known(package: str) -> str:
    name = package.removeprefix("djed-").replace("_", "-")
    if name not in PACKAGES:
        raise CliError(
            f"no Djed package named {package!r}",
            code=2,
            hint="choose one of: " + ", ".join(PACKAGES),
        )
    return name


def _sort_key(statement: ast.stmt) -> tuple[int, str]:
    """The order inside a section, as isort has it: ``import x`` first, then ``from x import``."""
    if isinstance(statement, ast.ImportFrom):
        return (1, (statement.module or "").lower())
    assert isinstance(statement, ast.Import)
    return (0, statement.names[0].name.lower())


def _section(statement: ast.stmt, package: str) -> int:
    """0 for the standard library, 1 for third-party, 2 for the project's own package."""
    if isinstance(statement, ast.ImportFrom):
        if statement.level:
            return 2
        top = (statement.module or "").split(".")[0]
    else:
        assert isinstance(statement, ast.Import)
        top = statement.names[0].name.split(".")[0]
    if top == package:
        return 2
    return 0 if top in sys.stdlib_module_names or top == "__future__" else 1


def _insert_import(lines: list[str], line: str, package: str) -> None:
    """Put ``line`` where isort (ruff's I rules) would: its section, in sorted order."""
    tree = ast.parse("".join(lines))
    new = ast.parse(line).body[0]
    section, key = _section(new, package), _sort_key(new)
    imports = [
        s
        for s in tree.body
        if isinstance(s, (ast.Import, ast.ImportFrom))
        and not (isinstance(s, ast.ImportFrom) and s.module == "__future__")
    ]
    same = [s for s in imports if _section(s, package) == section]
    later = [s for s in same if _sort_key(s) > key]
    if later:
        lines.insert(later[0].lineno - 1, f"{line}\n")
    elif same:
        lines.insert(same[-1].end_lineno or same[-1].lineno, f"{line}\n")
    else:
        before = [s for s in imports if _section(s, package) < section]
        after = [s for s in imports if _section(s, package) > section]
        if before:
            at = before[-1].end_lineno or before[-1].lineno
            lines[at:at] = ["\n", f"{line}\n"]
        elif after:
            at = after[0].lineno - 1
            lines[at:at] = [f"{line}\n", "\n"]
        else:
            lines.insert(0, f"{line}\n")


def insert_snippet(module: Path, snippet: Snippet, package: str) -> bool:
    """Add ``snippet``'s imports (sorted in) and its setup code above the ``# djed: setup`` line.

    False when everything was there already.
    """
    text = module.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    changed = False
    for line in snippet.imports:
        if f"{line}\n" not in lines:
            _insert_import(lines, line, package)
            changed = True
    if snippet.key not in text:
        at = next(i for i, line in enumerate(lines) if line.startswith(SETUP_MARKER))
        lines[at:at] = [snippet.setup, "\n"]
        changed = True
    if changed:
        module.write_text("".join(lines), encoding="utf-8")
    return changed


def add_package(project: Project, package: str, *, sync: bool = True) -> None:
    """Add Djed package ``package`` to ``project`` and its setup code to the server module.

    With ``sync=False`` only ``pyproject.toml`` changes (``uv add --frozen``): the
    next ``uv sync`` installs it.
    """
    name = _known(package)
    distribution = f"djed-{name}"
    if distribution in project.dependencies:
        info(f"{distribution} is already a dependency")
    else:
        with step(f"adding {distribution} to {project.name}'s dependencies"):
            run_uv(["add", *([] if sync else ["--frozen"]), distribution], project.root)
    snippet = PACKAGES[name]
    module = project.marked_module()
    if module is None:
        warn(f"no module with a {SETUP_MARKER!r} line; add this where your server is set up:")
        info("\n".join(snippet.imports) + "\n\n" + snippet.setup)
        return
    where = module.relative_to(project.root)
    if insert_snippet(module, snippet, project.package):
        success(f"wrote the setup code of {distribution} into {where}")
    else:
        info(f"{where} already sets up {distribution}")
