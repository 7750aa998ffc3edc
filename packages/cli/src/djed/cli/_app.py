"""The `djed` command line: typer commands over the modules that do the work."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import yaml
from rich.prompt import Confirm, IntPrompt, Prompt

from ._add import add_package
from ._assets import ensure_assets
from ._console import console, fail, info, success
from ._doctor import diagnose, print_report
from ._doctor import port_check as diagnose_port
from ._eject import eject_package
from ._errors import CliError
from ._init import EXTRA_PACKAGES, InitOptions, djed_source, init_addon
from ._init import init_mcp_server as render_mcp_server
from ._project import find_project
from ._templates import TemplateStore, cli_version, template_source
from ._update import update_project

__all__ = ["app"]

app = typer.Typer(
    name="djed",
    help="Scaffold production MCP servers, add Djed packages, and eject back to plain libraries.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)
init_app = typer.Typer(
    help="Create a project, or add deployment files to one, from a template.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(init_app, name="init")

F = TypeVar("F", bound=Callable[..., Any])


def _friendly(command: F) -> F:
    """Turn a :class:`CliError` into its message and exit code, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CliError as error:
            fail(error)
            raise typer.Exit(error.code) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/yellow]")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort):
            raise
        except OSError as error:  # a folder that cannot be written, a full disk...
            where = f" ({error.filename})" if error.filename else ""
            fail(CliError(f"{error.strerror or error}{where}", code=3))
            raise typer.Exit(3) from None
        except Exception as error:
            if os.environ.get("DJED_DEBUG"):
                raise
            fail(
                CliError(
                    f"unexpected {type(error).__name__}: {error}",
                    hint="this is a bug in djed: set DJED_DEBUG=1 for the traceback and report it",
                )
            )
            raise typer.Exit(70) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"djed {cli_version()}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Scaffold production MCP servers, add Djed packages, and eject back to plain libraries."""


def _parse_data(template: str, items: list[str] | None) -> dict[str, Any]:
    """``--data key=value`` pairs, each key checked against the template's questions."""
    questions = yaml.safe_load((template_source(template) / "copier.yml").read_text("utf-8"))
    known = sorted(k for k in questions if not k.startswith("_"))
    data: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"--data {item!r}: write it as key=value", code=2)
        if key not in known:
            raise CliError(
                f"--data {key}: the {template} template has no question {key!r}",
                code=2,
                hint="its questions: " + ", ".join(known),
            )
        data[key] = value
    return data


DataOption = Annotated[
    list[str] | None,
    typer.Option("--data", "-d", help="Answer a template question: key=value (repeatable)."),
]
DirOption = Annotated[Path | None, typer.Option("--dir", help="Where to write.")]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Write even where files exist (they are overwritten).")
]


def _interactive() -> bool:
    """Whether a person can answer questions (a terminal on standard input)."""
    return sys.stdin.isatty()


def _ask_missing(
    answers: dict[str, Any], packages: list[str] | None, docker: bool | None
) -> tuple[list[str], bool]:
    """Prompt for what the flags left open (interactive terminals only)."""
    if "description" not in answers:
        answers["description"] = Prompt.ask(
            "Description", default="An MCP server built on Djed", console=console
        )
    if "transport" not in answers:
        answers["transport"] = Prompt.ask(
            "Transport", choices=["http", "stdio"], default="http", console=console
        )
    if "port" not in answers:
        answers["port"] = IntPrompt.ask("HTTP port", default=8000, console=console)
    if "validator" not in answers:
        answers["validator"] = Confirm.ask(
            "Validate documents with djed-validator", default=True, console=console
        )
    if packages is None:
        chosen = Prompt.ask(
            f"More Djed packages ({', '.join(EXTRA_PACKAGES)}; comma-separated, empty for none)",
            default="",
            console=console,
        )
        packages = [p.strip() for p in chosen.split(",") if p.strip()]
    if "auth" not in answers:
        answers["auth"] = Confirm.ask(
            "Require bearer tokens over HTTP", default=False, console=console
        )
    if docker is None:
        docker = Confirm.ask("Add a Dockerfile and compose.yaml", default=True, console=console)
    return packages, docker


@init_app.command(
    "mcp-server",
    epilog="Examples:\n\n"
    "  djed init mcp-server notes --defaults\n\n"
    "  djed init mcp-server notes --transport stdio --packages breaker,cache --no-docker\n\n"
    "  djed init mcp-server notes --defaults -d description='Notes for sales' -d port=9000",
)
@_friendly
def init_mcp_server(  # noqa: PLR0917 - one parameter per option, as typer reads them
    name: Annotated[str, typer.Argument(help="Project name, e.g. notes-server.")],
    directory: DirOption = None,
    defaults: Annotated[
        bool, typer.Option("--defaults", help="Ask nothing; defaults for what is not given.")
    ] = False,
    data: DataOption = None,
    description: Annotated[
        str | None, typer.Option(help="One line saying what the server does.")
    ] = None,
    transport: Annotated[
        str | None, typer.Option(help="http or stdio: the default transport.")
    ] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port.", min=1, max=65535)] = None,
    packages: Annotated[
        str | None,
        typer.Option(help="More Djed packages to set up: breaker, cache, crdt (comma-separated)."),
    ] = None,
    validator: Annotated[
        bool | None,
        typer.Option("--validator/--no-validator", help="Use djed-validator in the example."),
    ] = None,
    auth: Annotated[
        bool | None, typer.Option("--auth/--no-auth", help="Require bearer tokens over HTTP.")
    ] = None,
    docker: Annotated[
        bool | None, typer.Option("--docker/--no-docker", help="Add Docker files.")
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--djed-source",
            help="Take the Djed packages from this checkout instead of PyPI (development).",
        ),
    ] = None,
    force: ForceOption = False,
    git: Annotated[
        bool, typer.Option("--git/--no-git", help="Make a git repository with a first commit.")
    ] = True,
) -> None:
    """Create a new MCP server project: tools, tests, settings, CI, Docker."""
    answers = _parse_data("mcp-server", data)
    given = {
        "description": description,
        "transport": transport,
        "port": port,
        "validator": validator,
        "auth": auth,
    }
    answers.update({k: v for k, v in given.items() if v is not None})
    if transport is not None and transport not in {"http", "stdio"}:
        raise CliError(f"--transport {transport!r}: choose http or stdio", code=2)
    chosen = None if packages is None else [p.strip() for p in packages.split(",") if p.strip()]
    if not defaults and _interactive():
        chosen, docker = _ask_missing(answers, chosen, docker)
    for extra in chosen or []:
        if extra not in EXTRA_PACKAGES:
            raise CliError(f"--packages {extra!r}: choose from {', '.join(EXTRA_PACKAGES)}", code=2)
    options = InitOptions(
        name=name,
        directory=directory or Path(name),
        answers=answers,
        packages=tuple(chosen or ()),
        docker=True if docker is None else docker,
        force=force,
        git=git,
    )
    target = render_mcp_server(options, source=djed_source(source), store=TemplateStore())
    success(f"created {name} in {target}")
    info(f"next: cd {target} && uv sync && uv run pytest")


def _addon(template: str, summary: str, example: str) -> None:
    @init_app.command(template, help=summary, epilog=f"Example:\n\n  {example}")
    @_friendly
    def command(
        name: Annotated[str, typer.Argument(help="The service's name.")],
        directory: DirOption = None,
        data: DataOption = None,
        force: ForceOption = False,
    ) -> None:
        target = init_addon(
            template,
            name,
            directory,
            _parse_data(template, data),
            force=force,
            store=TemplateStore(),
        )
        success(f"wrote the {template} files for {name} into {target}")


_addon(
    "docker",
    "Add a multi-stage Dockerfile (uv, non-root, health check), .dockerignore and a"
    " compose.yaml with Redis.",
    "djed init docker notes-server",
)
_addon(
    "kubernetes",
    "Add Kubernetes manifests: Deployment, Service, Ingress, ConfigMap, external Secret, HPA, PDB.",
    "djed init kubernetes notes-server -d image=ghcr.io/acme/notes:1.0.0 -d host=notes.acme.com",
)
_addon(
    "monitoring",
    "Add a Prometheus ServiceMonitor and alert rules, a Grafana dashboard and a Promtail snippet.",
    "djed init monitoring notes-server",
)


@app.command(epilog="Examples:\n\n  djed add breaker\n\n  djed add cache --dir services/notes")
@_friendly
def add(
    package: Annotated[
        str, typer.Argument(help="logger, validator, breaker, cache, crdt or mcp-base.")
    ],
    directory: DirOption = None,
) -> None:
    """Add a Djed package to the project, with its setup code in the server module."""
    add_package(find_project(directory or Path.cwd()), package)


@app.command(
    epilog="Examples:\n\n  djed eject logger --dry-run\n\n  djed eject validator\n\n"
    "  djed eject mcp-base"
)
@_friendly
def eject(
    package: Annotated[
        str, typer.Argument(help="logger, validator, breaker, mcp-base (cache, crdt: guided).")
    ],
    directory: DirOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the changes as a diff; write nothing.")
    ] = False,
) -> None:
    """Replace a Djed package by the plain library underneath, in your own code."""
    eject_package(find_project(directory or Path.cwd()), package, dry_run=dry_run)


@app.command(epilog="Example:\n\n  git commit -am wip && djed update && git diff")
@_friendly
def update(
    directory: DirOption = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--djed-source", help="The Djed checkout the project takes its packages from."
        ),
    ] = None,
) -> None:
    """Re-apply the newest templates to a project made by `djed init`, keeping your changes."""
    root = (directory or Path.cwd()).resolve()
    applied = update_project(root, data={"djed_source": djed_source(source) or None})
    conflicts = [path for item in applied for path in item.conflicts]
    if conflicts:
        names = "\n  ".join(str(p.relative_to(root)) for p in conflicts)
        raise CliError(
            f"the update conflicts with your changes in:\n  {names}",
            code=4,
            hint="resolve the <<<<<<< / >>>>>>> blocks, run your tests, then commit",
        )


@app.command(
    epilog="Examples:\n\n  djed doctor\n\n  djed doctor --port 9000 --redis-url redis://127.0.0.1:6379/0"
)
@_friendly
def doctor(
    directory: DirOption = None,
    port: Annotated[
        int | None, typer.Option(help="The port the server will use.", min=1, max=65535)
    ] = None,
    redis_url: Annotated[
        str | None, typer.Option(help="Check this Redis (default: REDIS_URL).")
    ] = None,
) -> None:
    """Check Python, uv, git, the server's port and Redis; say what to fix."""
    checks = diagnose(directory or Path.cwd(), port=port, redis_url=redis_url)
    if not print_report(checks):
        raise typer.Exit(1)


@app.command(
    epilog="Examples:\n\n  djed demo\n\n  djed demo --port 9000 --gateway failing\n\n"
    "  djed demo --stdio   (the MCP tools, for a desktop client)"
)
@_friendly
def demo(
    port: Annotated[int, typer.Option(help="HTTP port.", min=1, max=65535)] = 8765,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    data: Annotated[Path, typer.Option(help="Folder of the SQLite files.")] = Path(
        "djed-demo-data"
    ),
    gateway: Annotated[
        str,
        typer.Option(
            envvar="DJED_DEMO_GATEWAY", help="The simulated gateway: ok, failing or slow."
        ),
    ] = "ok",
    stdio: Annotated[
        bool, typer.Option("--stdio", help="Serve only the MCP tools, over stdio.")
    ] = False,
) -> None:
    """Run the collaborative invoice editor: every Djed package at work, in your browser."""
    try:
        from . import _demo  # noqa: PLC0415 - the demo extra may be missing
    except ImportError as error:
        raise CliError(
            f"the demo needs {error.name or 'the demo extra'}",
            code=3,
            hint="pip install 'djed-cli[demo]' (in a clone: uv run --all-packages djed demo)",
        ) from None
    if gateway not in _demo.MODES:
        raise CliError(f"--gateway {gateway!r}: choose ok, failing or slow", code=2)
    mode: Any = gateway  # one of _demo.MODES, checked above
    if stdio:
        _demo.serve_stdio(data, gateway=mode)
        return
    ensure_assets(_demo.STATIC)
    check = diagnose_port(host, port)
    if check.status == "fail":
        raise CliError(check.detail, code=3, hint=f"stop what uses it, or pass --port {port + 1}")
    shown = "127.0.0.1" if host in {"0.0.0.0", "::"} else host  # noqa: S104 - a comparison
    url = f"http://{shown}:{port}"
    console.print(
        f"\n[bold]Djed invoice demo[/bold]: open [link={url}]{url}[/link]  (data in {data}/)\n"
        "  - open it in two windows and edit the same invoice at once;\n"
        "  - take one offline (developer tools, Network, Offline), edit, come back;\n"
        f"  - point an MCP client at {url}/mcp and call add_line_item;\n"
        "  - set the gateway to 'failing', send an invoice, then set it back to 'ok';\n"
        f"  - {url}/metrics, /healthz and /readyz; Ctrl-C stops.\n"
    )
    _demo.serve(data, host=host, port=port, gateway=mode)
