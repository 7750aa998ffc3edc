"""Install the example plugin for real, in a temporary folder, for the entry-point tests.

Every Djed package that reads an entry-point group tests it against the same distribution,
``djed-example-plugin``: a ``djed_example_plugin-1.0.dist-info`` folder (``METADATA`` and
``entry_points.txt``) beside the ``djed_example_plugin`` package, in a folder put at the
front of ``sys.path``. ``importlib.metadata`` discovers it exactly as it discovers anything
pip installed. This module uses the standard library only, so a package's own test run can
import it whatever else is installed:

    from packages.logger.tests._djed_plugin_kit import example_plugin

    with example_plugin(tmp_path):
        ...  # the entry points are visible, the plugin modules importable
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

__all__ = [
    "DISTRIBUTION",
    "ENTRY_POINTS",
    "MODULE",
    "example_plugin",
    "subprocess_environment",
    "write_distribution",
]

DISTRIBUTION = "djed-example-plugin"
MODULE = "djed_example_plugin"
_SOURCE = Path(__file__).with_name(MODULE)

#: What the example plugin registers, by group: for each group a plugin that works,
#: one whose module fails to import (``broken``), and one that loads but cannot be used.
ENTRY_POINTS: dict[str, dict[str, str]] = {
    "djed.validator.formats": {
        "sku": f"{MODULE}.formats:is_sku",
        "not-callable": f"{MODULE}.formats:NOT_A_CHECKER",
        "broken": f"{MODULE}.broken:is_anything",
    },
    "djed.logger.processors": {
        "stamp": f"{MODULE}.processors:stamp",
        "drop-noise": f"{MODULE}.processors:drop_noise",
        "explode": f"{MODULE}.processors:explode",
        "broken": f"{MODULE}.broken:processor",
    },
    "djed.mcp_base.middleware": {
        "audit": f"{MODULE}.middleware:audit",
        "not-async": f"{MODULE}.middleware:not_async",
        "broken": f"{MODULE}.broken:stage",
    },
    "djed.crdt.stores": {
        "folder": f"{MODULE}.stores:FolderStore",
        "not-a-store": f"{MODULE}.stores:not_a_store",
        "broken": f"{MODULE}.broken:Store",
    },
    "djed.cache.backends": {
        "dict": f"{MODULE}.backends:dict_backend",
        "sync-only": f"{MODULE}.backends:sync_only",
        "broken": f"{MODULE}.broken:backend",
    },
}


def write_distribution(
    folder: Path,
    name: str,
    entry_points: Mapping[str, Mapping[str, str]],
    *,
    version: str = "1.0",
) -> Path:
    """Write ``<name>-<version>.dist-info`` with its metadata and entry points into ``folder``."""
    normalized = name.replace("-", "_")
    info = folder / f"{normalized}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
    )
    sections = [
        f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in entries.items())
        for group, entries in entry_points.items()
    ]
    (info / "entry_points.txt").write_text("\n".join(sections), encoding="utf-8")
    return info


@contextlib.contextmanager
def example_plugin(folder: Path) -> Iterator[Path]:
    """The example plugin installed into ``folder`` and on ``sys.path`` for the block.

    Afterwards the folder leaves ``sys.path`` and the plugin's modules leave
    ``sys.modules``, so the next test imports them afresh. More distributions
    (say, one registering a name twice) can be added with :func:`write_distribution`
    into the yielded folder while the block runs.
    """
    shutil.copytree(_SOURCE, folder / MODULE, ignore=shutil.ignore_patterns("__pycache__"))
    write_distribution(folder, DISTRIBUTION, ENTRY_POINTS)
    entry = str(folder)
    sys.path.insert(0, entry)
    importlib.invalidate_caches()  # also forgets importlib.metadata's cached folder listings
    try:
        yield folder
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)
        for module in [m for m in sys.modules if m == MODULE or m.startswith(MODULE + ".")]:
            del sys.modules[module]
        importlib.invalidate_caches()


def subprocess_environment(folder: Path) -> dict[str, str]:
    """The environment of a child Python that sees the plugin installed in ``folder``."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(folder), path]))}
