"""Every test gets a template store of its own, so none writes under ~/.cache."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def private_template_store(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    store = tmp_path_factory.mktemp("template-store")
    monkeypatch.setenv("DJED_TEMPLATE_CACHE", str(store))
    return store
