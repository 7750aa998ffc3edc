"""Generate a standalone module that reproduces a djed.logger configuration.

The generated file is the source of the self-contained modules of this package
(redaction, sink, renderer, installation), joined, plus a ``configure_logging()``
that applies the chosen settings. It imports only structlog, orjson and the
standard library, so a project can drop djed-logger and keep identical output.
"""

from __future__ import annotations

import logging
from typing import Any

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
    install(renderer, sink, logging.{level}, stdlib={stdlib}{processors})
    return sink
'''


def _split_module(source: str, imports: dict[str | None, set[str]]) -> str:
    """Collect a module's absolute imports into ``imports``; return the rest of its body.

    The docstring, ``from __future__``, relative imports and ``__all__`` are dropped.
    ``imports`` maps a module to the names imported from it (``None``: plain imports).
    """
    import ast  # noqa: PLC0415 - keeps `import djed.logger` light

    tree = ast.parse(source)
    lines = source.splitlines()
    drop: set[int] = set()
    for index, node in enumerate(tree.body):
        span = range(node.lineno - 1, node.end_lineno or node.lineno)
        is_docstring = (
            index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        )
        is_all = isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        )
        if isinstance(node, ast.Import):
            imports.setdefault(None, set()).update(_alias(a) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module != "__future__":
                imports.setdefault(node.module, set()).update(_alias(a) for a in node.names)
        elif not (is_docstring or is_all):
            continue
        drop.update(span)
    body = "\n".join(line for number, line in enumerate(lines) if number not in drop)
    return body.strip("\n")


def _alias(name: Any) -> str:
    return f"{name.name} as {name.asname}" if name.asname else name.name


def _render_imports(imports: dict[str | None, set[str]]) -> str:
    plain = [f"import {name}" for name in sorted(imports.get(None, ()))]
    from_lines = [
        f"from {module} import {', '.join(sorted(names, key=str.lower))}"
        for module, names in sorted((m, n) for m, n in imports.items() if m is not None)
    ]
    return "\n".join(plain + from_lines)


def _plugin_processors(settings: LoggingSettings, imports: dict[str | None, set[str]]) -> list[str]:
    """Import the processors of ``settings.plugins``; the expressions naming them, in order."""
    from ._plugins import resolve  # noqa: PLC0415 - reads entry points only when plugins are set

    expressions = []
    for index, (_name, entry, _processor) in enumerate(resolve(settings.plugins)):
        first, _, rest = entry.attr.partition(".")
        alias = f"_processor_plugin_{index}"
        imports.setdefault(entry.module, set()).add(f"{first} as {alias}")
        expressions.append(alias + (f".{rest}" if rest else ""))
    return expressions


def _target_expression(settings: LoggingSettings) -> str:
    if settings.file is not None:
        return repr(settings.file)
    return "sys.stderr" if settings.stream == "stderr" else "sys.stdout"


def eject_source(settings: LoggingSettings, *, auto_format: bool = False) -> str:
    """Python source of a standalone module reproducing ``settings`` with structlog alone.

    With ``auto_format`` the generated code picks console output on a terminal
    and JSON elsewhere at run time, as djed-logger does by default. Processor
    plugins in ``settings.plugins`` are imported by the generated code from their
    own modules, which must stay installed.
    """
    import datetime  # noqa: PLC0415 - keeps `import djed.logger` light
    from importlib import resources  # noqa: PLC0415
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        djed_version = version("djed-logger")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        djed_version = "(source tree)"
    package = resources.files("djed.logger")
    imports: dict[str | None, set[str]] = {
        None: {"logging", "sys"},
        "typing": {"Any", "Literal"},
    }
    bodies = [
        f"# --- {name.strip('_').removesuffix('.py')} {'-' * 60}\n\n"
        + _split_module(package.joinpath(name).read_text(encoding="utf-8"), imports)
        for name in _MODULES
    ]
    static = dict(settings.static_fields)
    if settings.service:
        static.setdefault("service", settings.service)
    redactor = (
        f"Redactor({settings.redact_keys!r}, mask_emails={settings.mask_emails})"
        if settings.redact
        else "None"
    )
    processors = _plugin_processors(settings, imports)
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
        processors=f", processors=[{', '.join(processors)}]" if processors else "",
    )
    header = _HEADER.format(
        date=datetime.datetime.now(tz=datetime.UTC).date().isoformat(), version=djed_version
    )
    return header + _render_imports(imports) + "\n\n\n" + "\n\n\n".join(bodies) + "\n" + configure
