from __future__ import annotations

import importlib.metadata
import pathlib

import djed.mcp_base


class TestPublicSurface:
    def test_all_is_sorted_and_complete(self) -> None:
        """__all__ lists every public name in ruff's order, and nothing else is public."""
        names = djed.mcp_base.__all__
        assert names == sorted(set(names), key=lambda n: (not n.isupper(), not n[0].isupper(), n))
        public = {n for n in vars(djed.mcp_base) if not n.startswith("_") and n != "annotations"}
        assert public - {"testing"} == set(names)

    def test_version(self) -> None:
        """__version__ comes from the installed metadata."""
        assert djed.mcp_base.__version__ == importlib.metadata.version("djed-mcp-base")

    def test_namespace_package(self) -> None:
        """No djed/__init__.py ships with this package; py.typed does."""
        folder = pathlib.Path(djed.mcp_base.__file__).parent
        assert not (folder.parent / "__init__.py").exists()
        assert (folder / "py.typed").exists()
