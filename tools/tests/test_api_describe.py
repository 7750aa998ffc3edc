"""What the API tool records about a module: kinds, signatures, members, stable text."""

from __future__ import annotations

import enum
import importlib.util
import sys
import textwrap
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tools.api import ApiError, describe_modules, parse_snapshot, public_modules, render_snapshot
from tools.api._describe import Namer, is_public_path, stable_repr


def load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> dict[str, Any]:
    """Describe a module made of ``source``, imported under a unique top-level name."""
    name = f"apitoy_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return describe_modules([module])[name]


NAMER = Namer({}, "apitoy")


class Color(enum.Enum):
    RED = "red"


@dataclass
class Point:
    x: int
    tags: frozenset[str] = field(default_factory=frozenset)


class Pair(NamedTuple):
    left: int
    right: str


class TestStableRepr:
    def test_sets_are_sorted_whatever_the_hash_seed(self) -> None:
        assert stable_repr(frozenset({"b", "c", "a"}), NAMER) == "frozenset({'a', 'b', 'c'})"
        assert stable_repr({3, 1, 2}, NAMER) == "{1, 2, 3}"
        assert stable_repr(frozenset(), NAMER) == "frozenset()"

    def test_memory_addresses_are_dropped(self) -> None:
        assert stable_repr(object(), NAMER) == "<object object>"

    def test_nested_values_enums_dataclasses_and_named_tuples(self) -> None:
        value = {"p": Point(1, frozenset({"z", "y"})), "c": (Color.RED,), "t": Pair(1, "x")}
        text = stable_repr(value, NAMER)
        assert "Point(x=1, tags=frozenset({'y', 'z'}))" in text
        assert "(tools.tests.test_api_describe.Color.RED,)" in text
        assert "Pair(left=1, right='x')" in text

    def test_functions_by_their_path(self) -> None:
        assert stable_repr(len, NAMER) == "len"
        assert stable_repr(Path.cwd, NAMER) == "pathlib.Path.cwd"


class TestNamer:
    namer = Namer({"apitoy._impl.Thing": "apitoy.Thing"}, "apitoy")

    def test_exported_objects_by_their_public_path(self) -> None:
        assert self.namer.text("list[apitoy._impl.Thing]") == "list[apitoy.Thing]"

    def test_private_modules_of_the_namespace_are_folded(self) -> None:
        # Moving a helper between private modules must not look like an API change.
        assert self.namer.text("apitoy._impl.helper") == "apitoy:helper"
        assert self.namer.text("apitoy._a._b.Thing2") == "apitoy:Thing2"
        assert self.namer.text("apitoy._impl._Base.run") == "apitoy:_Base.run"
        assert self.namer.text("other._impl.helper") == "other._impl.helper"
        assert not is_public_path("apitoy:helper")
        assert is_public_path("apitoy.Thing")

    def test_forward_references_and_addresses(self) -> None:
        text = "ForwardRef('int', module='apitoy._x') | <Foo object at 0x7f00aa>"
        assert self.namer.text(text) == "int | <Foo object>"


class TestDescribe:
    def test_function_parameters_defaults_and_async(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        api = load(
            tmp_path,
            monkeypatch,
            """
            from __future__ import annotations
            __all__ = ["fetch", "greet"]
            _MISSING = object()

            def greet(name: str, /, greeting: str = "hi", *rest: int, loud: bool = False,
                      extra: object = _MISSING, **options: str) -> str:
                return name

            async def fetch(url: str) -> bytes:
                return b""
            """,
        )
        assert api["greet"] == {
            "kind": "function",
            "parameters": [
                {"name": "name", "kind": "positional-only", "annotation": "str"},
                {
                    "name": "greeting",
                    "kind": "positional-or-keyword",
                    "annotation": "str",
                    "default": "'hi'",
                },
                {"name": "rest", "kind": "var-positional", "annotation": "int"},
                {"name": "loud", "kind": "keyword-only", "annotation": "bool", "default": "False"},
                {
                    "name": "extra",
                    "kind": "keyword-only",
                    "annotation": "object",
                    "default": "<object object>",
                },
                {"name": "options", "kind": "var-keyword", "annotation": "str"},
            ],
            "returns": "str",
        }
        assert api["fetch"]["async"] is True
        assert "async" not in api["greet"]

    def test_kinds_and_constants(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        api = load(
            tmp_path,
            monkeypatch,
            """
            import enum
            from pathlib import Path
            from typing import Callable, TypeVar
            __all__ = ["LIMIT", "HOME", "Handler", "Oops", "Shade", "T", "KEYS"]
            LIMIT = 10
            KEYS = frozenset({"b", "a"})
            HOME = Path.home()
            Handler = Callable[[int], str]
            T = TypeVar("T")
            class Oops(ValueError):
                pass
            class Shade(enum.Enum):
                DARK = 1
                LIGHT = 2
            """,
        )
        assert api["LIMIT"] == {"kind": "constant", "type": "int", "value": "10"}
        assert api["KEYS"]["value"] == "frozenset({'a', 'b'})"
        assert api["HOME"] == {"kind": "constant", "type": "pathlib.PosixPath"}  # no local path
        assert api["Handler"] == {"kind": "alias", "value": "typing.Callable[[int], str]"}
        assert api["T"] == {"kind": "alias", "value": "~T"}
        assert api["Oops"]["kind"] == "exception"
        assert api["Oops"]["bases"] == ["ValueError"]
        assert api["Shade"]["kind"] == "enum"
        assert api["Shade"]["values"] == {"DARK": "1", "LIGHT": "2"}

    def test_class_members(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        api = load(
            tmp_path,
            monkeypatch,
            """
            from __future__ import annotations
            from dataclasses import dataclass
            __all__ = ["Child", "Settings"]

            class _Base:
                def inherited(self, x: int) -> int:
                    return x

            class Child(_Base, dict):
                limit: int = 3
                def __init__(self, size: int = 1) -> None:
                    self.size = size
                def __len__(self) -> int:
                    return 0
                def __repr__(self) -> str:
                    return "Child"
                def _hidden(self) -> None: ...
                @property
                def ratio(self) -> float:
                    return 1.0
                @property
                def name(self) -> str:
                    return ""
                @name.setter
                def name(self, value: str) -> None: ...
                @classmethod
                def build(cls, size: int) -> Child:
                    return cls(size)
                @staticmethod
                def helper(value: str) -> str:
                    return value

            @dataclass
            class Settings:
                level: int
                colors: bool = True
            """,
        )
        child = api["Child"]
        assert child["bases"][1] == "dict"
        assert child["bases"][0].endswith("._Base")
        assert not is_public_path(child["bases"][0])
        assert child["parameters"] == [
            {"name": "size", "kind": "positional-or-keyword", "annotation": "int", "default": "1"}
        ]
        members = child["members"]
        # dict's own methods are not ours; __repr__ and _hidden are not API; __len__ is.
        assert sorted(members) == [
            "__len__",
            "build",
            "helper",
            "inherited",
            "limit",
            "name",
            "ratio",
        ]
        assert members["build"]["kind"] == "classmethod"
        assert members["build"]["parameters"] == [
            {"name": "size", "kind": "positional-or-keyword", "annotation": "int"}
        ]
        assert members["helper"]["kind"] == "staticmethod"
        assert members["helper"]["parameters"][0]["name"] == "value"
        assert members["inherited"]["kind"] == "method"
        assert members["name"] == {"kind": "property", "annotation": "str", "settable": True}
        assert members["ratio"] == {"kind": "property", "annotation": "float"}
        assert members["limit"] == {"kind": "attribute", "annotation": "int", "value": "3"}
        settings = api["Settings"]["members"]
        # A dataclass field's default is judged as the constructor's default, not twice.
        assert settings["colors"] == {"kind": "attribute", "annotation": "bool"}
        assert settings["level"] == {"kind": "attribute", "annotation": "int"}

    def test_protocols_abstract_classes_and_typed_dicts(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        api = load(
            tmp_path,
            monkeypatch,
            """
            import abc
            from typing import Protocol, TypedDict
            __all__ = ["Store", "Reader", "Stats"]
            class Reader(Protocol):
                def read(self, key: str) -> bytes: ...
            class Store(abc.ABC):
                @abc.abstractmethod
                def load(self, key: str) -> bytes: ...
                def close(self) -> None: ...
            class Stats(TypedDict):
                calls: int
            """,
        )
        assert api["Reader"]["protocol"] is True
        assert "parameters" not in api["Reader"]
        assert list(api["Reader"]["members"]) == ["read"]
        assert api["Store"]["abstract"] == ["load"]
        assert api["Stats"]["typeddict"] is True
        assert api["Stats"]["members"] == {"calls": {"kind": "attribute", "annotation": "int"}}

    def test_all_naming_a_missing_name_is_an_error(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with pytest.raises(ApiError, match="names missing_thing, which it does not define"):
            load(tmp_path, monkeypatch, '__all__ = ["missing_thing"]\n')

    def test_public_submodules_with_all(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        name = f"apitoypkg_{uuid.uuid4().hex[:8]}"
        package = tmp_path / name
        (package / "sub").mkdir(parents=True)
        (package / "__init__.py").write_text(
            "from ._impl import Thing\n__all__ = ['Thing']\n", encoding="utf-8"
        )
        (package / "_impl.py").write_text(
            "__all__ = ['Thing']\nclass Thing:\n    pass\n", encoding="utf-8"
        )
        (package / "testing.py").write_text(
            "from ._impl import Thing\n__all__ = ['make']\ndef make() -> Thing:\n"
            "    return Thing()\n",
            encoding="utf-8",
        )
        (package / "helpers.py").write_text("def util() -> None: ...\n", encoding="utf-8")
        (package / "__main__.py").write_text("raise SystemExit(3)\n", encoding="utf-8")
        (package / "sub" / "__init__.py").write_text("", encoding="utf-8")
        (package / "sub" / "api.py").write_text("__all__ = ['X']\nX = 1\n", encoding="utf-8")
        (package / "_private").mkdir()
        (package / "_private" / "__init__.py").write_text("raise ImportError\n", encoding="utf-8")
        monkeypatch.syspath_prepend(str(tmp_path))
        try:
            top = importlib.import_module(name)
            found = [module.__name__ for module in public_modules(top)]
            described = describe_modules(public_modules(top))
        finally:
            for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
                del sys.modules[module]
        # __main__ and _private are never imported (both would fail); helpers has no __all__.
        assert found == [name, f"{name}.sub.api", f"{name}.testing"]
        # The class in a private module is named by its public path, not by _impl.
        assert described[f"{name}.testing"]["make"]["returns"] == f"{name}.Thing"
        assert described[name]["Thing"]["kind"] == "class"


class TestSnapshotFile:
    def test_round_trip_and_layout(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        api = load(
            tmp_path,
            monkeypatch,
            """
            __all__ = ["greet"]
            def greet(name: str, *, punctuation: str = "!") -> str:
                return name + punctuation
            """,
        )
        modules = {"djed.toy": api}
        text = render_snapshot("djed-toy", modules)
        assert parse_snapshot(text, "api.json") == modules
        assert render_snapshot("djed-toy", modules) == text
        # One parameter per line, so a diff shows exactly the parameter that changed.
        assert (
            '          {"name": "punctuation", "kind": "keyword-only", "annotation": "str", '
            '"default": "\'!\'"}'
        ) in text.splitlines()

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("{", "not valid JSON"),
            ('{"format": 99, "modules": {}}', "not a format-1 API snapshot"),
            ('{"format": 1, "modules": {"m": {"x": {}}}}', "'modules' must map each module"),
        ],
    )
    def test_bad_files_are_reported(self, text: str, message: str) -> None:
        with pytest.raises(ApiError, match=message):
            parse_snapshot(text, "packages/x/api.json")
