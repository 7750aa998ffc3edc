from __future__ import annotations

import importlib.metadata
import pathlib

import djed.logger
import djed.logger.testing


class TestPublicSurface:
    def test_all_is_sorted_and_complete(self) -> None:
        """__all__ lists every public name, sorted, and each one exists."""
        names = djed.logger.__all__
        # Constants, then classes, then functions, each alphabetical (ruff's RUF022 order).
        assert names == sorted(set(names), key=lambda n: (not n.isupper(), not n[0].isupper(), n))
        public = {n for n in vars(djed.logger) if not n.startswith("_") and n != "annotations"}
        public -= {"testing"}  # a public submodule, imported by the line above
        assert public == set(names)

    def test_version_comes_from_metadata(self) -> None:
        """__version__ is the installed distribution's version."""
        assert djed.logger.__version__ == importlib.metadata.version("djed-logger")

    def test_namespace_has_no_init(self) -> None:
        """djed is a PEP 420 namespace: no djed/__init__.py ships with this package."""
        package_dir = pathlib.Path(djed.logger.__file__).parent
        assert not (package_dir.parent / "__init__.py").exists()
        assert (package_dir / "py.typed").exists()

    def test_testing_all(self) -> None:
        """The testing helper module declares its public names."""
        assert djed.logger.testing.__all__ == ["CapturedLogs", "capture_logs", "reset_logging"]
