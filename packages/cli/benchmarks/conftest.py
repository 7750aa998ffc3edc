"""The benchmarks share the tests' private template store (see ../tests/conftest.py)."""

from __future__ import annotations

from ..tests.conftest import private_template_store  # noqa: TID252 - the tests' fixture

__all__ = ["private_template_store"]
