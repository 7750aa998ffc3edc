"""Format checkers from the ``djed.validator.formats`` entry points of an installed plugin."""

from __future__ import annotations

import importlib.metadata
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastjsonschema
import pytest
from djed.validator import (
    PluginError,
    SchemaValidator,
    ValidationError,
    ValidatorCache,
    _plugins,
    compile_to_source,
    format_plugins,
    validate,
)

from packages.logger.tests._djed_plugin_kit import MODULE, example_plugin, write_distribution

SKU = {"type": "string", "format": "sku"}
ENV = "DJED_VALIDATOR_PLUGINS"


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The example plugin installed, nothing enabled, and entry points read afresh."""
    monkeypatch.delenv(ENV, raising=False)
    with example_plugin(tmp_path) as folder:
        _plugins._formats.forget()
        yield folder
    _plugins._formats.forget()


def test_installed_plugins_stay_off_until_enabled(plugin: Path) -> None:
    """Installing a plugin changes nothing: its format is an unknown one, an annotation."""
    assert SchemaValidator(SKU).is_valid("not a sku")
    assert MODULE not in sys.modules


def test_the_variable_enables_a_plugin_for_every_validator(
    plugin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, " sku ,")
    validator = SchemaValidator(SKU)
    assert validator.validate("SKU-123456") == "SKU-123456"
    with pytest.raises(ValidationError) as caught:
        validator.validate("SKU-12")
    assert caught.value.errors[0].keyword == "format"
    with pytest.raises(ValidationError):
        validate(SKU, "nope", cache=ValidatorCache())


def test_format_plugins_by_name(plugin: Path) -> None:
    checkers = format_plugins("sku")
    assert list(checkers) == ["sku"]
    validator = SchemaValidator(SKU, formats=checkers)
    assert validator.is_valid("SKU-000001")
    assert not validator.is_valid("SKU-00000x")


def test_explicit_formats_win_over_plugins(plugin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "sku")
    assert SchemaValidator(SKU, formats={"sku": lambda value: value == "mine"}).is_valid("mine")


def test_the_rs_engine_gets_plugin_formats_too(
    plugin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "sku")
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **SKU}
    validator = SchemaValidator(schema, assert_formats=True)
    assert validator.engine == "rs"
    assert validator.is_valid("SKU-123456")
    assert not validator.is_valid("SKU-1")


def test_all_plugins_leave_out_broken_ones_and_say_why_once(
    plugin: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="djed.validator"):
        assert list(format_plugins()) == ["sku"]
        assert list(format_plugins()) == ["sku"]
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, messages  # broken and not-callable, each reported once
    broken = next(m for m in messages if "'broken'" in m)
    assert "djed-example-plugin 1.0" in broken
    assert "ImportError: the example plugin's broken module cannot be imported" in broken
    assert broken.endswith("; left out")


def test_the_star_enables_every_plugin_that_loads(
    plugin: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(ENV, "*")
    with caplog.at_level(logging.WARNING, logger="djed.validator"):
        assert not SchemaValidator(SKU).is_valid("SKU-1")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "broken",
            (
                "djed.validator.formats plugin 'broken' (djed_example_plugin.broken:is_anything,"
                " from djed-example-plugin 1.0) failed to load: ImportError: the example plugin's"
                " broken module cannot be imported (on purpose)"
            ),
        ),
        (
            "not-callable",
            "cannot be used: a format checker must be a callable taking a string, not str",
        ),
        (
            "iban",
            (
                "no djed.validator.formats plugin named 'iban' is installed"
                " (installed: broken, not-callable, sku)"
            ),
        ),
    ],
)
def test_a_plugin_asked_for_by_name_fails_loudly(plugin: Path, name: str, expected: str) -> None:
    with pytest.raises(PluginError) as caught:
        format_plugins(name)
    assert expected in str(caught.value)
    with pytest.raises(PluginError, match=re.escape(expected)):
        format_plugins(name)  # a failure is remembered, and raised again just as clearly


def test_a_bad_name_in_the_variable_stops_validator_creation(
    plugin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "sku,broken")
    with pytest.raises(PluginError, match=r"'broken'.*ImportError"):
        SchemaValidator(SKU)
    assert isinstance(PluginError("x"), ValueError)


def test_one_name_claimed_by_two_distributions(plugin: Path) -> None:
    twin = {"djed.validator.formats": {"sku": f"{MODULE}.formats:is_sku"}}
    write_distribution(plugin, "djed-example-twin", twin, version="2.0")
    with pytest.raises(PluginError) as caught:
        format_plugins("sku")
    message = str(caught.value)
    assert "2 plugins claim one name" in message
    assert "djed-example-plugin 1.0" in message
    assert "djed-example-twin 2.0" in message


def test_entry_points_are_read_once(plugin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = importlib.metadata.entry_points

    def counting(**selection: Any) -> Any:
        calls.append(selection["group"])
        return real(**selection)

    monkeypatch.setattr(importlib.metadata, "entry_points", counting)
    monkeypatch.setenv(ENV, "sku")
    for _ in range(3):
        SchemaValidator(SKU)
    format_plugins("sku")
    assert calls == ["djed.validator.formats"]


def test_importing_the_package_reads_no_entry_points(plugin: Path) -> None:
    script = "import sys, djed.validator; print('importlib.metadata' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, ENV: "sku"},
    )
    assert done.stdout.strip() == "False"


class TestAheadOfTime:
    def test_the_module_imports_the_plugin_checkers_it_uses(
        self, plugin: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(ENV, "sku")
        schema = {"type": "object", "properties": {"sku": SKU, "mail": {"format": "email"}}}
        source = compile_to_source(schema)
        assert f"from {MODULE}.formats import is_sku as _format_plugin_0" in source
        assert "FORMATS['sku'] = _format_plugin_0" in source
        namespace: dict[str, Any] = {}
        exec(compile(source, "generated", "exec"), namespace)
        assert namespace["validate"]({"sku": "SKU-123456"}) == {"sku": "SKU-123456"}
        with pytest.raises(fastjsonschema.JsonSchemaValueException):
            namespace["validate"]({"sku": "SKU-1"})

    def test_unused_plugins_are_not_imported(
        self, plugin: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(ENV, "sku")
        assert "format plugins" not in compile_to_source({"format": "email"})
