from __future__ import annotations

import importlib.metadata
import pathlib

import djed.crdt


class TestPublicSurface:
    def test_all_is_sorted_and_complete(self) -> None:
        """__all__ lists every public name in ruff's order, and nothing else is public."""
        names = djed.crdt.__all__
        assert names == sorted(set(names), key=lambda n: (not n.isupper(), not n[0].isupper(), n))
        public = {n for n in vars(djed.crdt) if not n.startswith("_") and n != "annotations"}
        assert public == set(names)

    def test_version(self) -> None:
        """__version__ comes from the installed metadata."""
        assert djed.crdt.__version__ == importlib.metadata.version("djed-crdt")

    def test_namespace_package(self) -> None:
        """No djed/__init__.py ships with this package; py.typed does."""
        folder = pathlib.Path(djed.crdt.__file__).parent
        assert not (folder.parent / "__init__.py").exists()
        assert (folder / "py.typed").exists()
