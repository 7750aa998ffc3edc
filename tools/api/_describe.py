"""Turning the names a module exports into a stable description made of JSON values.

A description says what users rely on: for every name in ``__all__`` its kind, for callables
the parameters (kind, annotation as written, default), for classes their bases, constructor
and public members. Text that would change from run to run (memory addresses, the order of
sets) or between machines (absolute paths) is left out or put in a fixed order, so the same
code always gives the same description.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import importlib
import inspect
import pkgutil
import re
import typing
from typing import TYPE_CHECKING, Any

from tools.api._errors import ApiError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from types import ModuleType

__all__ = [
    "PROTOCOL_DUNDERS",
    "Namer",
    "describe_modules",
    "describe_value",
    "is_public_path",
    "public_modules",
    "stable_repr",
]

PROTOCOL_DUNDERS = frozenset(
    {
        "__call__",
        "__enter__",
        "__exit__",
        "__aenter__",
        "__aexit__",
        "__iter__",
        "__aiter__",
        "__next__",
        "__anext__",
        "__await__",
        "__len__",
        "__contains__",
        "__getitem__",
        "__setitem__",
        "__delitem__",
    }
)
"""Special methods that make a class usable with a statement or an operator (``with``,
``async for``, ``len()``, ``x[k]``, a call...). They are API like public methods; other
special methods (``__repr__``, ``__eq__``...) are not recorded."""

_KIND_NAMES = {
    inspect.Parameter.POSITIONAL_ONLY: "positional-only",
    inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional-or-keyword",
    inspect.Parameter.VAR_POSITIONAL: "var-positional",
    inspect.Parameter.KEYWORD_ONLY: "keyword-only",
    inspect.Parameter.VAR_KEYWORD: "var-keyword",
}
_POSITIONAL_KINDS = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
_FORWARD_REF = re.compile(r"ForwardRef\('([^']*)'(?:, module='[^']*')?\)")
_PLAIN_SCALARS = (type(None), bool, int, float, complex, str, bytes)
_NOTHING = object()  # a member known only from its annotation has no value


class Namer:
    """Names classes and functions by the path users import them from.

    ``public`` maps ``<defining module>.<qualified name>`` to the exported path, so a class
    defined in ``djed.logger._settings`` and exported by ``djed.logger`` is written
    ``djed.logger.LoggingSettings``. An object of the ``namespace`` that lives in a private
    module and is not exported is written ``<package>:<qualified name>`` (``djed.cache:
    approximate_size``): it cannot be imported from anywhere stable, and moving it between
    private modules changes nothing.
    """

    def __init__(self, public: Mapping[str, str], namespace: str) -> None:
        self._public = dict(public)
        self._namespace = namespace

    def name_of(self, obj: object) -> str:
        """The public path of a class or function, else ``module.qualname`` (builtins bare)."""
        module = getattr(obj, "__module__", None)
        qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
        if not isinstance(qualname, str):
            return self.text(repr(obj))
        if not isinstance(module, str) or module == "builtins":
            return qualname
        exported = self._public.get(f"{module}.{qualname}")
        if exported is not None:
            return exported
        parts = module.split(".")
        if parts[0] == self._namespace:
            private = next((i for i, part in enumerate(parts) if part.startswith("_")), None)
            if private is not None:
                return f"{'.'.join(parts[:private])}:{qualname}"
        return f"{module}.{qualname}"

    def _dotted(self, path: str) -> str:
        """A dotted path found in text, made public or marked private as in :meth:`name_of`."""
        exported = self._public.get(path)
        if exported is not None:
            return exported
        parts = path.split(".")
        if parts[0] != self._namespace:
            return path
        first = next((i for i, part in enumerate(parts) if part.startswith("_")), None)
        if first is None:
            return path
        # Drop the private module names (lower case after the underscore), keep the rest.
        last = first
        while last < len(parts) - 1 and parts[last][1:2].islower():
            last += 1
        return f"{'.'.join(parts[:first])}:{'.'.join(parts[last:])}"

    def text(self, text: str) -> str:
        """``text`` without memory addresses or ``ForwardRef(...)``, paths as in :meth:`name_of`."""
        text = _FORWARD_REF.sub(r"\1", _ADDRESS.sub("", text))
        return _DOTTED.sub(lambda match: self._dotted(match[0]), text)


def is_public_path(name: str) -> bool:
    """Whether a name written by :class:`Namer` can be imported by users."""
    return ":" not in name and not any(part.startswith("_") for part in name.split("."))


def public_names(modules: Iterable[ModuleType]) -> dict[str, str]:
    """``module.qualname`` to exported path, for every class and function in ``__all__``.

    The first module that exports an object names it, so list the package before its
    submodules.
    """
    names: dict[str, str] = {}
    for module in modules:
        for name in _exported(module):
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isroutine(obj):
                key = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', name)}"
                names.setdefault(key, f"{module.__name__}.{name}")
    return names


def _exported(module: ModuleType) -> list[str]:
    """The names in ``module.__all__``, checked to exist."""
    exported = getattr(module, "__all__", None)
    if not isinstance(exported, (list, tuple)) or not all(isinstance(n, str) for n in exported):
        msg = f"{module.__name__}.__all__ must be a list of names"
        raise ApiError(msg)
    missing = [name for name in exported if not hasattr(module, name)]
    if missing:
        msg = f"{module.__name__}.__all__ names {', '.join(missing)}, which it does not define"
        raise ApiError(msg)
    return sorted(set(exported))


def _is_plain(value: object) -> bool:
    """Whether ``value`` is data whose text is the same on every machine and every run."""
    if isinstance(value, (*_PLAIN_SCALARS, enum.Enum)):
        return True
    if isinstance(value, (tuple, list, set, frozenset)):
        return all(_is_plain(item) for item in value)
    if isinstance(value, dict):
        return all(_is_plain(k) and _is_plain(v) for k, v in value.items())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return all(_is_plain(getattr(value, f.name)) for f in dataclasses.fields(value))
    return False


def _container_repr(value: object, namer: Namer) -> str | None:
    """The stable text of a tuple, list, set or dict, or None for anything else."""
    if isinstance(value, (tuple, list)):
        items = [stable_repr(item, namer) for item in value]
        if isinstance(value, list):
            return f"[{', '.join(items)}]"
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    if isinstance(value, (set, frozenset)):
        items = sorted(stable_repr(item, namer) for item in value)
        name = type(value).__name__
        if not items:
            return f"{name}()"
        braced = "{" + ", ".join(items) + "}"
        return braced if type(value) is set else f"{name}({braced})"
    if isinstance(value, dict):
        pairs = [f"{stable_repr(k, namer)}: {stable_repr(v, namer)}" for k, v in value.items()]
        return "{" + ", ".join(pairs) + "}"
    return None


def _fields(value: object) -> list[str] | None:
    """The fields shown for a named tuple or dataclass instance, else None."""
    fields: object = getattr(type(value), "_fields", None)
    if isinstance(value, tuple) and isinstance(fields, tuple):
        return [str(name) for name in fields]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [f.name for f in dataclasses.fields(value) if f.repr]
    return None


def stable_repr(value: object, namer: Namer) -> str:
    """A ``repr`` of ``value`` that does not vary between runs.

    Sets are written in sorted order, enum members as ``Type.NAME``, classes and functions by
    their public path, named tuples and dataclass instances field by field; other objects use
    their own ``repr`` without memory addresses.
    """
    if isinstance(value, enum.Enum):
        return f"{namer.name_of(type(value))}.{value.name}"
    if isinstance(value, _PLAIN_SCALARS):
        return repr(value)
    fields = _fields(value)
    if fields is not None:
        shown = ", ".join(f"{name}={stable_repr(getattr(value, name), namer)}" for name in fields)
        return f"{namer.name_of(type(value))}({shown})"
    text = _container_repr(value, namer)
    if text is not None:
        return text
    if inspect.isclass(value) or inspect.isroutine(value):
        return namer.name_of(value)
    return namer.text(repr(value))


def _annotation(annotation: object, namer: Namer) -> str | None:
    """An annotation as text: as written when annotations are strings, else formatted."""
    if annotation is inspect.Parameter.empty:
        return None
    if isinstance(annotation, str):
        return annotation
    return namer.text(inspect.formatannotation(annotation))


def _parameters(
    signature: inspect.Signature, namer: Namer, *, drop_first: bool
) -> list[dict[str, Any]]:
    """One small record per parameter: name, kind, then annotation and default when given."""
    parameters = list(signature.parameters.values())
    if drop_first and parameters and parameters[0].kind in _POSITIONAL_KINDS:
        parameters = parameters[1:]  # self or cls
    records: list[dict[str, Any]] = []
    for parameter in parameters:
        record: dict[str, Any] = {"name": parameter.name, "kind": _KIND_NAMES[parameter.kind]}
        annotation = _annotation(parameter.annotation, namer)
        if annotation is not None:
            record["annotation"] = annotation
        if parameter.default is not inspect.Parameter.empty:
            record["default"] = stable_repr(parameter.default, namer)
        records.append(record)
    return records


def _callable(function: Callable[..., Any], namer: Namer, *, drop_first: bool) -> dict[str, Any]:
    """``async`` when it is a coroutine function, its ``parameters`` and ``returns``."""
    record: dict[str, Any] = {}
    target = inspect.unwrap(function)
    if inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target):
        record["async"] = True
    try:
        signature = inspect.signature(function)
    except (ValueError, TypeError):  # some builtins carry no signature
        return record
    record["parameters"] = _parameters(signature, namer, drop_first=drop_first)
    returns = _annotation(signature.return_annotation, namer)
    if returns is not None:
        record["returns"] = returns
    return record


def _is_type_form(value: object) -> bool:
    """Whether ``value`` is a typing construct used as a type alias (``Callable[...]``...)."""
    if typing.get_origin(value) is not None:
        return True
    forms = (typing.TypeVar, typing.ParamSpec, typing.TypeVarTuple, typing.NewType)
    return isinstance(value, forms) or value is typing.Any


def _own(cls: type, namespace: str) -> bool:
    """Whether ``cls`` is defined under the top-level ``namespace`` (``djed``)."""
    return str(getattr(cls, "__module__", "")).split(".")[0] == namespace


def _member(raw: object, annotation: object, namer: Namer, *, field: bool) -> dict[str, Any]:
    """The record of one class member from its raw class-dictionary value."""
    if isinstance(raw, staticmethod):
        return {"kind": "staticmethod", **_callable(raw.__func__, namer, drop_first=False)}
    if isinstance(raw, classmethod):
        return {"kind": "classmethod", **_callable(raw.__func__, namer, drop_first=True)}
    if isinstance(raw, (property, functools.cached_property)):
        getter = raw.fget if isinstance(raw, property) else raw.func
        record: dict[str, Any] = {"kind": "property"}
        if getter is not None:
            returns = _callable(getter, namer, drop_first=True).get("returns")
            if returns is not None:
                record["annotation"] = returns
        if isinstance(raw, property) and raw.fset is not None:
            record["settable"] = True
        return record
    if inspect.isfunction(raw):
        return {"kind": "method", **_callable(raw, namer, drop_first=True)}
    if inspect.isclass(raw):
        return {"kind": "class"}
    record = {"kind": "attribute"}
    text = _annotation(annotation, namer) if annotation is not None else None
    if text is not None:
        record["annotation"] = text
    if not field and raw is not _NOTHING and _is_plain(raw):
        record["value"] = stable_repr(raw, namer)
    return record


def _members(cls: type, namer: Namer, namespace: str) -> dict[str, dict[str, Any]]:
    """Public members defined by ``cls`` and its bases from the same namespace."""
    fields = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
    enum_members = set(cls.__members__) if issubclass(cls, enum.Enum) else set()
    found: dict[str, dict[str, Any]] = {}
    for klass in reversed(cls.__mro__):
        if not _own(klass, namespace):
            continue
        namespace_dict = vars(klass)
        annotations = namespace_dict.get("__annotations__", {})
        names = [*namespace_dict, *(n for n in annotations if n not in namespace_dict)]
        for name in names:
            public = not name.startswith("_") or name in PROTOCOL_DUNDERS
            if not public or name in enum_members:
                continue
            found[name] = _member(
                namespace_dict.get(name, _NOTHING),
                annotations.get(name),
                namer,
                field=name in fields,
            )
    return dict(sorted(found.items()))


def _describe_class(cls: type, namer: Namer, namespace: str) -> dict[str, Any]:
    """Kind, bases, constructor, enum values, protocol and abstract markers, members."""
    if issubclass(cls, BaseException):
        kind = "exception"
    elif issubclass(cls, enum.Enum):
        kind = "enum"
    else:
        kind = "class"
    record: dict[str, Any] = {
        "kind": kind,
        "bases": [namer.name_of(base) for base in cls.__bases__ if base is not object],
    }
    protocol = bool(getattr(cls, "_is_protocol", False))
    if protocol:
        record["protocol"] = True
    if typing.is_typeddict(cls):
        record["typeddict"] = True
    abstract = sorted(getattr(cls, "__abstractmethods__", ()))
    if abstract:
        record["abstract"] = abstract
    if kind == "enum":
        members: Mapping[str, enum.Enum] = getattr(cls, "__members__", {})
        record["values"] = {name: stable_repr(m.value, namer) for name, m in members.items()}
    elif not protocol and not typing.is_typeddict(cls):
        constructor = _callable(cls, namer, drop_first=False)
        if "parameters" in constructor:
            record["parameters"] = constructor["parameters"]
    record["members"] = _members(cls, namer, namespace)
    return record


def describe_value(value: object, namer: Namer, namespace: str) -> dict[str, Any]:
    """The record of one exported name: a class, function, alias, module or constant."""
    if inspect.ismodule(value):
        return {"kind": "module", "module": value.__name__}
    if inspect.isclass(value) and not _is_type_form(value):
        return _describe_class(value, namer, namespace)
    if _is_type_form(value):
        return {"kind": "alias", "value": namer.text(repr(value))}
    if inspect.isroutine(value) or isinstance(value, functools.partial):
        return {"kind": "function", **_callable(value, namer, drop_first=False)}
    record: dict[str, Any] = {"kind": "constant", "type": namer.name_of(type(value))}
    if _is_plain(value):
        record["value"] = stable_repr(value, namer)
    return record


def public_modules(package: ModuleType) -> list[ModuleType]:
    """``package`` and its public submodules that define ``__all__``, imported, by name.

    A submodule is public when no part of its name after the package starts with ``_``; the
    ``__main__`` module and everything inside a private subpackage are never imported.
    """
    found = [package]
    paths = getattr(package, "__path__", None)
    if paths is None:
        return found
    for info in sorted(pkgutil.iter_modules(paths), key=lambda info: info.name):
        if info.name.startswith("_"):
            continue
        name = f"{package.__name__}.{info.name}"
        module = import_module(name)
        if info.ispkg:
            found.extend(m for m in public_modules(module) if hasattr(m, "__all__"))
        elif hasattr(module, "__all__"):
            found.append(module)
    return found


def import_module(name: str) -> ModuleType:
    """Import ``name``, turning any failure into an :class:`ApiError` that says which."""
    try:
        return importlib.import_module(name)
    except Exception as error:  # importing runs arbitrary package code
        msg = f"cannot import {name}: {type(error).__name__}: {error}"
        raise ApiError(msg) from error


def describe_modules(modules: Iterable[ModuleType]) -> dict[str, dict[str, dict[str, Any]]]:
    """Module name to (exported name to record), for ``modules`` (package first)."""
    modules = list(modules)
    namespace = modules[0].__name__.split(".")[0] if modules else ""
    namer = Namer(public_names(modules), namespace)
    described: dict[str, dict[str, dict[str, Any]]] = {}
    for module in modules:
        described[module.__name__] = {
            name: describe_value(getattr(module, name), namer, namespace)
            for name in _exported(module)
        }
    return dict(sorted(described.items()))
