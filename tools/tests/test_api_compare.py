"""Which API differences the tool calls breaking, added or merely changed.

Each case describes two versions of a small module with the real describer and compares them.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from tools.api import Change, Severity, compare_api, describe_modules


def describe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> dict[str, Any]:
    """The description of a module ``toy`` made of ``source`` (both versions use that name)."""
    path = tmp_path / f"toy_{uuid.uuid4().hex[:8]}.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("toy", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "toy", module)
    spec.loader.exec_module(module)
    return describe_modules([module])


def diff(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old: str, new: str) -> list[Change]:
    header = "from __future__ import annotations\nimport abc, enum\nfrom typing import Protocol\n"
    before = describe(tmp_path, monkeypatch, header + textwrap.dedent(old))
    after = describe(tmp_path, monkeypatch, header + textwrap.dedent(new))
    return compare_api(before, after)


def of(changes: list[Change], severity: Severity) -> list[str]:
    return [str(change) for change in changes if change.severity is severity]


FUNC = '__all__ = ["f"]\n'

# (old source, new source, expected breaking messages); an empty list means nothing breaks.
CASES: dict[str, tuple[str, str, list[str]]] = {
    "removed name": (
        '__all__ = ["f", "g"]\ndef f() -> None: ...\ndef g() -> None: ...\n',
        FUNC + "def f() -> None: ...\n",
        ["toy.g: function was removed from __all__"],
    ),
    "added name": (
        FUNC + "def f() -> None: ...\n",
        '__all__ = ["f", "g"]\ndef f() -> None: ...\ndef g() -> None: ...\n',
        [],
    ),
    "removed parameter": (
        FUNC + "def f(a: int, b: int = 1) -> None: ...\n",
        FUNC + "def f(a: int) -> None: ...\n",
        ["toy.f: parameter 'b' was removed"],
    ),
    "renamed parameter": (
        FUNC + "def f(a: int, b: int) -> None: ...\n",
        FUNC + "def f(a: int, c: int) -> None: ...\n",
        ["toy.f: parameter 'b' was renamed to 'c'"],
    ),
    "removed keyword-only parameter": (
        FUNC + "def f(*, a: int = 0) -> None: ...\n",
        FUNC + "def f() -> None: ...\n",
        ["toy.f: keyword parameter 'a' was removed"],
    ),
    "parameter made required": (
        FUNC + "def f(a: int = 0) -> None: ...\n",
        FUNC + "def f(a: int) -> None: ...\n",
        ["toy.f: parameter 'a' is now required (its default was 0)"],
    ),
    "parameter made optional": (
        FUNC + "def f(a: int) -> None: ...\n",
        FUNC + "def f(a: int = 0) -> None: ...\n",
        [],
    ),
    "new required parameter": (
        FUNC + "def f(a: int) -> None: ...\n",
        FUNC + "def f(a: int, *, b: int) -> None: ...\n",
        ["toy.f: new required parameter 'b'"],
    ),
    "new optional parameter": (
        FUNC + "def f(a: int) -> None: ...\n",
        FUNC + "def f(a: int, b: int = 2, *, c: str = '') -> None: ...\n",
        [],
    ),
    "positional parameter made keyword-only": (
        FUNC + "def f(a: int, b: int = 0) -> None: ...\n",
        FUNC + "def f(a: int, *, b: int = 0) -> None: ...\n",
        ["toy.f: parameter 'b' became keyword-only: no longer positional"],
    ),
    "parameter made positional-only": (
        FUNC + "def f(a: int) -> None: ...\n",
        FUNC + "def f(a: int, /) -> None: ...\n",
        ["toy.f: parameter 'a' became positional-only: no longer by name"],
    ),
    "keyword-only parameter opened to positions": (
        FUNC + "def f(a: int, *, b: int = 0) -> None: ...\n",
        FUNC + "def f(a: int, b: int = 0) -> None: ...\n",
        [],
    ),
    "positional-only parameter renamed": (
        FUNC + "def f(a: int, /) -> None: ...\n",
        FUNC + "def f(value: int, /) -> None: ...\n",
        [],
    ),
    "parameters swapped": (
        FUNC + "def f(a: int, b: int) -> None: ...\n",
        FUNC + "def f(b: int, a: int) -> None: ...\n",
        [
            "toy.f: parameter 'a' moved from position 1 to 2",
            "toy.f: parameter 'b' moved from position 2 to 1",
        ],
    ),
    "default changed": (
        FUNC + "def f(timeout: float = 5.0) -> None: ...\n",
        FUNC + "def f(timeout: float = 1.0) -> None: ...\n",
        ["toy.f: default of 'timeout' changed from 5.0 to 1.0"],
    ),
    "annotation changed": (
        FUNC + "def f(a: int) -> int: ...\n",
        FUNC + "def f(a: int | None) -> int | None: ...\n",
        [],
    ),
    "catch-alls removed": (
        FUNC + "def f(*args: int, **kwargs: int) -> None: ...\n",
        FUNC + "def f() -> None: ...\n",
        [
            "toy.f: no longer accepts extra keyword arguments (**kwargs)",
            "toy.f: no longer accepts extra positional arguments (*args)",
        ],
    ),
    "became async": (
        FUNC + "def f() -> None: ...\n",
        FUNC + "async def f() -> None: ...\n",
        ["toy.f: became async: callers must now await it"],
    ),
    "function became a class": (
        FUNC + "def f() -> None: ...\n",
        FUNC + "class f: ...\n",
        ["toy.f: kind changed from function to class"],
    ),
    "constant value changed": (
        '__all__ = ["CODE"]\nCODE = 4000\n',
        '__all__ = ["CODE"]\nCODE = 4001\n',
        ["toy.CODE: value changed from 4000 to 4001"],
    ),
    "constant type changed": (
        '__all__ = ["CODE"]\nCODE = 4000\n',
        '__all__ = ["CODE"]\nCODE = "4000"\n',
        ["toy.CODE: type changed from int to str"],
    ),
    "private constant type changed": (
        '__all__ = ["SKIP"]\nclass _A: ...\nSKIP = _A()\n',
        '__all__ = ["SKIP"]\nclass _B: ...\nSKIP = _B()\n',
        [],
    ),
    "method removed": (
        """
        __all__ = ["C"]
        class C:
            def run(self) -> None: ...
            def stop(self) -> None: ...
        """,
        """
        __all__ = ["C"]
        class C:
            def run(self) -> None: ...
        """,
        ["toy.C.stop: method was removed"],
    ),
    "method parameter removed": (
        '__all__ = ["C"]\nclass C:\n    def run(self, fast: bool = False) -> None: ...\n',
        '__all__ = ["C"]\nclass C:\n    def run(self) -> None: ...\n',
        ["toy.C.run: parameter 'fast' was removed"],
    ),
    "constructor parameter made required": (
        '__all__ = ["C"]\nclass C:\n    def __init__(self, size: int = 1) -> None: ...\n',
        '__all__ = ["C"]\nclass C:\n    def __init__(self, size: int) -> None: ...\n',
        ["toy.C(): parameter 'size' is now required (its default was 1)"],
    ),
    "method added": (
        """
        __all__ = ["C"]
        class C:
            def run(self) -> None: ...
        """,
        """
        __all__ = ["C"]
        class C:
            def run(self) -> None: ...
            def stop(self) -> None: ...
        """,
        [],
    ),
    "method became a property": (
        """
        __all__ = ["C"]
        class C:
            def size(self) -> int: ...
        """,
        """
        __all__ = ["C"]
        class C:
            @property
            def size(self) -> int: ...
        """,
        ["toy.C.size: kind changed from method to property"],
    ),
    "property lost its setter": (
        """
        __all__ = ["C"]
        class C:
            @property
            def size(self) -> int: ...
            @size.setter
            def size(self, value: int) -> None: ...
        """,
        """
        __all__ = ["C"]
        class C:
            @property
            def size(self) -> int: ...
        """,
        ["toy.C.size: property can no longer be set"],
    ),
    "context manager support removed": (
        '__all__ = ["C"]\nclass C:\n    def __enter__(self) -> C: ...\n',
        '__all__ = ["C"]\nclass C: ...\n',
        ["toy.C.__enter__: method was removed"],
    ),
    "public base removed": (
        '__all__ = ["Oops"]\nclass Oops(ValueError): ...\n',
        '__all__ = ["Oops"]\nclass Oops(RuntimeError): ...\n',
        ["toy.Oops: no longer derives from ValueError"],
    ),
    "base added": (
        '__all__ = ["Oops"]\nclass Oops(ValueError): ...\n',
        '__all__ = ["Oops"]\nclass Oops(ValueError, LookupError): ...\n',
        [],
    ),
    "enum member removed and value changed": (
        '__all__ = ["E"]\nclass E(enum.Enum):\n    A = "a"\n    B = "b"\n',
        '__all__ = ["E"]\nclass E(enum.Enum):\n    A = "x"\n',
        ["toy.E.A: enum value changed from 'a' to 'x'", "toy.E.B: enum member was removed"],
    ),
    "enum member added": (
        '__all__ = ["E"]\nclass E(enum.Enum):\n    A = "a"\n',
        '__all__ = ["E"]\nclass E(enum.Enum):\n    A = "a"\n    B = "b"\n',
        [],
    ),
    "protocol member added": (
        """
        __all__ = ["P"]
        class P(Protocol):
            def get(self, key: str) -> bytes: ...
        """,
        """
        __all__ = ["P"]
        class P(Protocol):
            def get(self, key: str) -> bytes: ...
            def put(self, key: str, value: bytes) -> None: ...
        """,
        ["toy.P.put: new method in a protocol: existing implementations lack it"],
    ),
    "protocol method got an optional parameter": (
        """
        __all__ = ["P"]
        class P(Protocol):
            def get(self, key: str) -> bytes: ...
        """,
        """
        __all__ = ["P"]
        class P(Protocol):
            def get(self, key: str, ttl: float = 0) -> bytes: ...
        """,
        ["toy.P.get: new parameter 'ttl': existing implementations lack it"],
    ),
    "abstract method added": (
        """
        __all__ = ["S"]
        class S(abc.ABC):
            @abc.abstractmethod
            def load(self) -> bytes: ...
        """,
        """
        __all__ = ["S"]
        class S(abc.ABC):
            @abc.abstractmethod
            def load(self) -> bytes: ...
            @abc.abstractmethod
            def save(self) -> None: ...
        """,
        ["toy.S.save: is now abstract: every subclass must implement it"],
    ),
    "concrete method added to an abstract class": (
        """
        __all__ = ["S"]
        class S(abc.ABC):
            @abc.abstractmethod
            def load(self) -> bytes: ...
        """,
        """
        __all__ = ["S"]
        class S(abc.ABC):
            @abc.abstractmethod
            def load(self) -> bytes: ...
            def close(self) -> None: ...
        """,
        [],
    ),
}


@pytest.mark.parametrize(("old", "new", "expected"), CASES.values(), ids=list(CASES))
def test_breaking_changes_are_recognised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old: str, new: str, expected: list[str]
) -> None:
    changes = diff(tmp_path, monkeypatch, old, new)
    assert changes, "the two versions differ, so something must be reported"
    assert of(changes, Severity.BREAKING) == expected


def test_identical_code_has_no_differences(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = """
    __all__ = ["E", "P", "S", "f", "LIMIT"]
    LIMIT = frozenset({"b", "a", "c"})
    _SENTINEL = object()
    class E(enum.Enum):
        A = "a"
    class P(Protocol):
        def get(self, key: str, /, *, ttl: float = 0) -> bytes: ...
    class S(abc.ABC):
        def __init__(self, marker: object = _SENTINEL) -> None: ...
        @abc.abstractmethod
        async def load(self, *keys: str, **options: E) -> bytes: ...
    def f(a: int, b: E = E.A, c: tuple[int, ...] = (1, 2)) -> None: ...
    """
    assert diff(tmp_path, monkeypatch, source, source) == []


def test_additions_and_notes_are_reported_with_their_severity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    changes = diff(
        tmp_path,
        monkeypatch,
        FUNC + "def f(a: int) -> int: ...\n",
        '__all__ = ["f", "g"]\ndef f(a: str, b: int = 0) -> str: ...\ndef g() -> None: ...\n',
    )
    assert of(changes, Severity.ADDED) == [
        "toy.f: new optional parameter 'b'",
        "toy.g: new function",
    ]
    assert of(changes, Severity.CHANGED) == [
        "toy.f: annotation of 'a' changed from int to str",
        "toy.f: return annotation changed from int to str",
    ]


def test_removed_module_is_breaking_and_a_new_one_is_an_addition() -> None:
    old = {"toy": {}, "toy.testing": {"x": {"kind": "constant", "type": "int"}}}
    new: dict[str, dict[str, dict[str, Any]]] = {"toy": {}, "toy.extra": {}}
    changes = compare_api(old, new)
    assert of(changes, Severity.BREAKING) == [
        "toy.testing: public module was removed (or no longer has __all__)"
    ]
    assert of(changes, Severity.ADDED) == ["toy.extra: new public module with 0 name(s)"]
