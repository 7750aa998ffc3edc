"""Generate a standalone module that reproduces a djed.logger configuration.

The generated file is the source of the self-contained modules of this package
(redaction, sink, renderer, installation), joined, plus a ``configure_logging()``
that applies the chosen settings. It imports only structlog, orjson and the
standard library, so a project can drop djed-logger and keep identical output.
"""

from __future__ import annotations

import ast
import datetime
import logging
from importlib import resources

from ._settings import LoggingSettings

__all__ = ["eject_source"]

_MODULES = ("_redact.py", "_sink.py", "_render.py", "_install.py")

_HEADER = '''"""Structured logging on structlog + orjson, written by `python -m djed.logger eject`.

Generated on {date} from djed-logger {version}. It needs only structlog and
orjson (`pip install structlog orjson`). Call ``configure_logging()`` once at
start-up, then log with ``structlog.get_logger(__name__)``. Every line below is
yours to edit.
"""

from __future__ import annotations

'''

_CONFIGURE = '''

def configure_logging() -> LogSink:
    """Configure structlog and the logging module as the project had it with djed-logger."""
    target: Any = {target}
    fmt: Literal["json", "console"] = {fmt}
    sink = LogSink(target, buffered={buffered}, flush_interval={flush_interval!r})
    renderer = EventRenderer(
        fmt=fmt,
        static_fields={static_fields!r},
        redactor={redactor},
        colors={colors},
    )
    install(renderer, sink, logging.{level}, stdlib={stdlib})
    return sink
'''


def _split_module(source: str) -> tuple[list[str], str]:
    """Split a module into its import statements and the rest (no docstring, no ``__all__``)."""
    tree = ast.parse(source)
    lines = source.splitlines()
    drop: set[int] = set()
    imports: list[str] = []
    for index, node in enumerate(tree.body):
        span = range(node.lineno - 1, (node.end_lineno or node.lineno))
        is_docstring = (
            index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        )
        is_all = isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        )
        if isinstance(node, ast.Import | ast.ImportFrom):
            drop.update(span)
            relative = isinstance(node, ast.ImportFrom) and node.level > 0
            is_future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
            if not relative and not is_future:
                imports.append("\n".join(lines[i] for i in span))
        elif is_docstring or is_all:
            drop.update(span)
    body = "\n".join(line for number, line in enumerate(lines) if number not in drop)
    return imports, body.strip("\n")


def _target_expression(settings: LoggingSettings) -> str:
    if settings.file is not None:
        return repr(settings.file)
    return "sys.stderr" if settings.stream == "stderr" else "sys.stdout"


def eject_source(settings: LoggingSettings, *, auto_format: bool = False) -> str:
    """Python source of a standalone module reproducing ``settings`` with structlog alone.

    With ``auto_format`` the generated code picks console output on a terminal
    and JSON elsewhere at run time, as djed-logger does by default.
    """
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        djed_version = version("djed-logger")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        djed_version = "(source tree)"
    package = resources.files("djed.logger")
    imports: list[str] = [
        "import logging",
        "import sys",
        "from typing import Any, Literal",
    ]
    bodies: list[str] = []
    for name in _MODULES:
        module_imports, body = _split_module(package.joinpath(name).read_text(encoding="utf-8"))
        imports.extend(module_imports)
        bodies.append(f"# --- {name.strip('_').removesuffix('.py')} " + "-" * 60 + "\n\n" + body)
    unique_imports = sorted(dict.fromkeys(imports), key=lambda s: (s.startswith("from"), s))
    static = dict(settings.static_fields)
    if settings.service:
        static.setdefault("service", settings.service)
    redactor = (
        f"Redactor({settings.redact_keys!r}, mask_emails={settings.mask_emails})"
        if settings.redact
        else "None"
    )
    auto = auto_format and settings.file is None
    fmt = '"console" if target.isatty() else "json"' if auto else repr(settings.format)
    configure = _CONFIGURE.format(
        target=_target_expression(settings),
        fmt=fmt,
        buffered=settings.buffered,
        flush_interval=settings.flush_interval,
        static_fields=static,
        redactor=redactor,
        colors="target.isatty()" if auto else settings.colors,
        level=logging.getLevelName(settings.level),
        stdlib=settings.stdlib,
    )
    header = _HEADER.format(
        date=datetime.datetime.now(tz=datetime.UTC).date().isoformat(), version=djed_version
    )
    return header + "\n".join(unique_imports) + "\n\n\n" + "\n\n\n".join(bodies) + "\n" + configure
