"""Names: what makes a project or package name unusable, and the fix offered."""

from __future__ import annotations

import keyword
import re

import pytest
from djed.cli import CliError
from djed.cli._names import check_package_name, check_project_name, package_name_for
from hypothesis import given
from hypothesis import strategies as st


@pytest.mark.parametrize("name", ["notes", "notes-api", "crm2", "a-b-c", "x" * 63])
def test_good_project_names(name: str) -> None:
    assert check_project_name(name) == name
    assert package_name_for(name) == name.replace("-", "_")


@pytest.mark.parametrize(
    ("name", "fix"),
    [
        ("", "my-server"),
        ("Notes", "notes"),
        ("notes_api", "notes-api"),
        ("notes--api", "notes-api"),
        ("-notes", "notes"),
        ("notes.", "notes"),
        ("9lives", "mcp-9lives"),
        ("mcp", "mcp-server"),
        ("asyncio", "asyncio-server"),
        ("tests", "tests-server"),
    ],
)
def test_bad_project_names_get_a_fix(name: str, fix: str) -> None:
    with pytest.raises(CliError) as raised:
        check_project_name(name)
    assert raised.value.code == 2
    assert raised.value.hint == f"try {fix!r}"


@given(st.text(max_size=80))
def test_every_suggestion_is_itself_acceptable(name: str) -> None:
    hint = None
    try:
        check_project_name(name)
    except CliError as error:
        hint = error.hint or "no hint"
    if hint is not None:
        suggestion = re.fullmatch(r"try '(.*)'", hint)
        assert suggestion is not None, hint
        assert check_project_name(suggestion.group(1)) == suggestion.group(1)


@pytest.mark.parametrize(
    ("name", "why", "fix"),
    [
        ("class", "keyword", "class_server"),
        ("Notes", "lowercase", "notes"),
        ("1st", "lowercase", "mcp_1st"),
        ("json", "hide", "json_server"),
    ],
)
def test_bad_package_names(name: str, why: str, fix: str) -> None:
    with pytest.raises(CliError, match=why) as raised:
        check_package_name(name)
    assert raised.value.hint == f"try {fix!r}"
    assert not keyword.iskeyword(fix)
