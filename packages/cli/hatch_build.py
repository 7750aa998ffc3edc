"""Put the repository's templates/ inside the wheel as djed/cli/templates.

From a checkout they sit two folders up; from the sdist, at its root.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class TemplatesHook(BuildHookInterface):  # type: ignore[type-arg]
    """Adds the copier templates to the built wheel."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Map the templates folder into the package before the wheel is built."""
        if version == "editable":
            return  # a checkout finds templates/ by itself
        root = Path(self.root)
        for source in (root / "templates", root.parent.parent / "templates"):
            if source.is_dir():
                build_data["force_include"][str(source)] = "djed/cli/templates"
                return
        msg = f"templates/ not found next to {root} nor at the repository root"
        raise FileNotFoundError(msg)
