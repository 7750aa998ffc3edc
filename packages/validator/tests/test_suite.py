"""Every required test of the official JSON Schema Test Suite, per draft."""

from __future__ import annotations

import os
from typing import Any

import pytest
from djed.validator import SchemaValidator

from ._suite import cases, metaschemas, remotes, suite_root

FOLDERS = {
    "4": "draft4",
    "6": "draft6",
    "7": "draft7",
    "2019-09": "draft2019-09",
    "2020-12": "draft2020-12",
}

#: Cases the engines cannot pass, each with the reason. Keep this list short and true.
KNOWN_GAPS: dict[str, str] = {}


def _load() -> tuple[list[Any], dict[str, Any]]:
    try:
        root = suite_root()
    except OSError as exc:
        if os.environ.get("CI") == "true":
            raise
        return [
            pytest.param(
                None, None, None, None, marks=pytest.mark.skip(reason=f"suite unavailable: {exc}")
            )
        ], {}
    params = []
    for draft, folder in FOLDERS.items():
        for test_id, case, test in cases(root, folder):
            full_id = f"{draft} | {test_id}"
            marks = (
                [pytest.mark.xfail(reason=KNOWN_GAPS[full_id], strict=True)]
                if full_id in KNOWN_GAPS
                else []
            )
            params.append(
                pytest.param(
                    draft, case["schema"], test["data"], test["valid"], id=full_id, marks=marks
                )
            )
    return params, {**remotes(root), **metaschemas()}


PARAMS, REMOTES = _load()


@pytest.mark.parametrize(("draft", "schema", "data", "valid"), PARAMS)
def test_official_suite(draft: str, schema: Any, data: Any, valid: bool) -> None:
    """The validator agrees with the suite's verdict for this instance."""
    validator = SchemaValidator(schema, draft=draft, resources=REMOTES)
    assert validator.is_valid(data) is valid
    if valid:
        assert validator.validate(data) is data


def _format_params() -> list[Any]:
    """The suite's optional format tests: draft 7's, plus 2020-12's duration and uuid."""
    try:
        root = suite_root()
    except OSError:
        return []  # the main parametrisation above already reports the missing suite
    params = []
    for folder, only in (
        ("draft7/optional/format", None),
        ("draft2020-12/optional/format", {"duration", "uuid"}),
    ):
        for test_id, case, test in cases(root, folder):
            if only is not None and test_id.split(":")[0] not in only:
                continue
            params.append(
                pytest.param(
                    case["schema"], test["data"], test["valid"], id=f"{folder} | {test_id}"
                )
            )
    return params


@pytest.mark.parametrize(("schema", "data", "valid"), _format_params())
def test_official_format_suite(schema: Any, data: Any, valid: bool) -> None:
    """Each built-in format checker agrees with the suite (formats asserting, fast engine)."""
    validator = SchemaValidator(schema, draft=7, assert_formats=True)
    assert validator.is_valid(data) is valid
