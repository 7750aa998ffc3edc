"""Classifying the differences between two API descriptions.

Every difference is one of three severities:

- ``breaking``: code written against the old API can fail or behave differently without
  being touched, so the package needs a breaking release (see ``tools/README.md``);
- ``added``: new names, members, optional parameters or bases; old code keeps working;
- ``changed``: differences that are neither, such as an annotation or a type alias, worth
  seeing in review; type checkers judge those in users' projects.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from tools.api._describe import is_public_path

__all__ = ["Change", "Severity", "compare_api"]

Record = dict[str, Any]
Modules = dict[str, dict[str, Record]]

_POSITIONAL = ("positional-only", "positional-or-keyword")
_KEYWORD = ("positional-or-keyword", "keyword-only")


class Severity(enum.StrEnum):
    """How much a difference matters to existing users."""

    BREAKING = "breaking"
    ADDED = "added"
    CHANGED = "changed"


@dataclass(frozen=True, order=True)
class Change:
    """One difference: where in the API (a dotted path), its severity and what happened."""

    where: str
    severity: Severity
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


class _Diff:
    """Collects changes while the comparison walks both descriptions."""

    def __init__(self) -> None:
        self.changes: list[Change] = []

    def breaking(self, where: str, what: str) -> None:
        self.changes.append(Change(where, Severity.BREAKING, what))

    def added(self, where: str, what: str) -> None:
        self.changes.append(Change(where, Severity.ADDED, what))

    def changed(self, where: str, what: str) -> None:
        self.changes.append(Change(where, Severity.CHANGED, what))


def compare_api(old: Modules, new: Modules) -> list[Change]:
    """Every difference from ``old`` to ``new`` (module to name to record), sorted by place."""
    diff = _Diff()
    for module in sorted(old.keys() | new.keys()):
        if module not in new:
            diff.breaking(module, "public module was removed (or no longer has __all__)")
            continue
        if module not in old:
            diff.added(module, f"new public module with {len(new[module])} name(s)")
            continue
        before, after = old[module], new[module]
        for name in sorted(before.keys() | after.keys()):
            where = f"{module}.{name}"
            if name not in after:
                diff.breaking(where, f"{before[name]['kind']} was removed from __all__")
            elif name not in before:
                diff.added(where, f"new {after[name]['kind']}")
            else:
                _compare_entry(diff, where, before[name], after[name])
    return sorted(diff.changes)


def _compare_entry(diff: _Diff, where: str, old: Record, new: Record) -> None:
    """Compare two records of the same exported name."""
    if old["kind"] != new["kind"]:
        diff.breaking(where, f"kind changed from {old['kind']} to {new['kind']}")
        return
    kind = old["kind"]
    if kind == "function":
        _compare_callable(diff, where, old, new, implemented=False)
    elif kind in ("class", "exception", "enum"):
        _compare_class(diff, where, old, new)
    elif kind == "constant":
        before, after = old.get("type"), new.get("type")
        if before != after:
            # isinstance checks against a public type break; a private type was never promised.
            report = diff.breaking if is_public_path(str(before)) else diff.changed
            report(where, f"type changed from {before} to {after}")
        else:
            _compare_value(diff, where, old, new)
    elif kind == "alias" and old.get("value") != new.get("value"):
        diff.changed(where, f"type alias changed from {old.get('value')} to {new.get('value')}")
    elif kind == "module" and old.get("module") != new.get("module"):
        diff.changed(where, f"now refers to module {new.get('module')}")


def _compare_value(diff: _Diff, where: str, old: Record, new: Record) -> None:
    """A recorded value that changed is breaking; one no longer recordable is only noted."""
    if "value" not in old or old.get("value") == new.get("value"):
        return
    if "value" in new:
        diff.breaking(where, f"value changed from {old['value']} to {new['value']}")
    else:
        diff.changed(where, f"value {old['value']} is no longer plain data")


def _compare_class(diff: _Diff, where: str, old: Record, new: Record) -> None:
    """Bases, enum values, constructor, abstract methods and members."""
    old_bases, new_bases = old.get("bases", []), new.get("bases", [])
    for base in old_bases:
        if base not in new_bases:
            report = diff.breaking if is_public_path(base) else diff.changed
            report(where, f"no longer derives from {base}")
    for base in new_bases:
        if base not in old_bases:
            diff.added(where, f"now also derives from {base}")
    _compare_enum(diff, where, old.get("values", {}), new.get("values", {}))
    if "parameters" in old or "parameters" in new:
        _compare_callable(diff, f"{where}()", old, new, implemented=False)
    _compare_members(diff, where, old, new)


def _compare_enum(diff: _Diff, where: str, old: Record, new: Record) -> None:
    """Enum members: a removed member or a changed value breaks stored and sent values."""
    for name, value in old.items():
        if name not in new:
            diff.breaking(f"{where}.{name}", "enum member was removed")
        elif new[name] != value:
            diff.breaking(f"{where}.{name}", f"enum value changed from {value} to {new[name]}")
    for name in sorted(new.keys() - old.keys()):
        diff.added(f"{where}.{name}", "new enum member")


def _compare_members(diff: _Diff, where: str, old: Record, new: Record) -> None:
    """Members of a class; protocols and abstract methods are judged as users implement them."""
    old_abstract, new_abstract = set(old.get("abstract", [])), set(new.get("abstract", []))
    for name in sorted(new_abstract - old_abstract):
        diff.breaking(f"{where}.{name}", "is now abstract: every subclass must implement it")
    protocol = bool(old.get("protocol")) and bool(new.get("protocol"))
    old_members, new_members = old.get("members", {}), new.get("members", {})
    for name in sorted(old_members.keys() | new_members.keys()):
        at = f"{where}.{name}"
        if name not in new_members:
            diff.breaking(at, f"{old_members[name]['kind']} was removed")
        elif name in old_members:
            implemented = protocol or name in old_abstract or name in new_abstract
            _compare_member(diff, at, old_members[name], new_members[name], implemented)
        elif protocol:
            kind = new_members[name]["kind"]
            diff.breaking(at, f"new {kind} in a protocol: existing implementations lack it")
        elif name not in new_abstract:  # a new abstract member is reported above
            diff.added(at, f"new {new_members[name]['kind']}")


def _compare_member(diff: _Diff, where: str, old: Record, new: Record, implemented: bool) -> None:
    """Compare one class member: its kind, signature, settability, annotation or value."""
    if old["kind"] != new["kind"]:
        diff.breaking(where, f"kind changed from {old['kind']} to {new['kind']}")
        return
    if old["kind"] in ("method", "classmethod", "staticmethod"):
        _compare_callable(diff, where, old, new, implemented=implemented)
        return
    if old.get("settable") and not new.get("settable"):
        diff.breaking(where, "property can no longer be set")
    elif new.get("settable") and not old.get("settable"):
        diff.added(where, "property can now be set")
    if old.get("annotation") != new.get("annotation"):
        diff.changed(
            where, f"annotation changed from {old.get('annotation')} to {new.get('annotation')}"
        )
    _compare_value(diff, where, old, new)


def _compare_callable(
    diff: _Diff, where: str, old: Record, new: Record, *, implemented: bool
) -> None:
    """Compare two callables: async or not, parameters and return annotation.

    ``implemented`` marks methods that users write rather than call (abstract methods and
    protocol members): for those a new parameter is breaking even with a default, because
    existing implementations do not accept it.
    """
    if bool(old.get("async")) != bool(new.get("async")):
        if new.get("async"):
            diff.breaking(where, "became async: callers must now await it")
        else:
            diff.breaking(where, "is no longer async: awaiting its result fails")
    if "parameters" not in old or "parameters" not in new:
        if ("parameters" in old) != ("parameters" in new):
            state = "can no longer" if "parameters" in old else "can now"
            diff.changed(where, f"its signature {state} be read")
        return
    _compare_parameters(diff, where, old["parameters"], new["parameters"], implemented)
    if old.get("returns") != new.get("returns"):
        diff.changed(
            where, f"return annotation changed from {old.get('returns')} to {new.get('returns')}"
        )


@dataclass
class _Binding:
    """The parameters of both versions, and which new ones old calls already reach."""

    old: list[Record]
    new: list[Record]
    pairs: list[tuple[Record, Record]]
    used: set[str]

    @property
    def new_kinds(self) -> set[str]:
        return {p["kind"] for p in self.new}

    def new_named(self, name: str) -> Record | None:
        return next((p for p in self.new if p["name"] == name), None)

    def pair(self, old: Record, new: Record) -> None:
        self.pairs.append((old, new))
        self.used.add(new["name"])


def _compare_parameters(
    diff: _Diff, where: str, old: list[Record], new: list[Record], implemented: bool
) -> None:
    """Check that every call the old parameters accepted binds the same way to the new ones."""
    binding = _Binding(old=old, new=new, pairs=[], used=set())
    _bind_positional(diff, where, binding)
    _bind_keywords(diff, where, binding)
    for before, after in binding.pairs:
        _compare_pair(diff, where, before, after)
    old_kinds = {p["kind"] for p in old}
    for param in new:
        name, kind = param["name"], param["kind"]
        if name in binding.used:
            continue
        if kind in ("var-positional", "var-keyword"):
            if kind not in old_kinds:
                diff.added(where, f"now accepts {'*' if kind == 'var-positional' else '**'}{name}")
        elif "default" not in param:
            diff.breaking(where, f"new required parameter {name!r}")
        elif implemented:
            diff.breaking(where, f"new parameter {name!r}: existing implementations lack it")
        else:
            diff.added(where, f"new optional parameter {name!r}")


def _bind_positional(diff: _Diff, where: str, binding: _Binding) -> None:
    """Old positional parameters: each must still be accepted at the same place."""
    old_names = {p["name"] for p in binding.old}
    old_positional = [p for p in binding.old if p["kind"] in _POSITIONAL]
    new_positional = [p for p in binding.new if p["kind"] in _POSITIONAL]
    for index, param in enumerate(old_positional):
        name = param["name"]
        counterpart = new_positional[index] if index < len(new_positional) else None
        if param["kind"] == "positional-only":
            # Callers pass it by position only: its name may change, its place may not.
            if counterpart is not None:
                binding.pair(param, counterpart)
                other = counterpart["name"]
                if other != name:
                    diff.changed(where, f"positional-only {name!r} is now called {other!r}")
                if counterpart["kind"] == "positional-or-keyword":
                    diff.added(where, f"parameter {other!r} can now be passed by name")
            elif "var-positional" not in binding.new_kinds:
                diff.breaking(where, f"positional parameter {index + 1} ({name}) was removed")
            continue
        match = binding.new_named(name)
        if match is None:
            if counterpart is not None and counterpart["name"] not in old_names:
                diff.breaking(where, f"parameter {name!r} was renamed to {counterpart['name']!r}")
                binding.used.add(counterpart["name"])
            else:
                diff.breaking(where, f"parameter {name!r} was removed")
            continue
        if match["kind"] == "keyword-only":
            diff.breaking(where, f"parameter {name!r} became keyword-only: no longer positional")
        elif match["kind"] == "positional-only":
            diff.breaking(where, f"parameter {name!r} became positional-only: no longer by name")
        elif match is not counterpart:
            moved = new_positional.index(match) + 1
            diff.breaking(where, f"parameter {name!r} moved from position {index + 1} to {moved}")
        binding.pair(param, match)


def _bind_keywords(diff: _Diff, where: str, binding: _Binding) -> None:
    """Old keyword-only parameters and the ``*args`` / ``**kwargs`` catch-alls."""
    for param in binding.old:
        name, kind = param["name"], param["kind"]
        if kind == "keyword-only":
            match = binding.new_named(name)
            if match is None:
                diff.breaking(where, f"keyword parameter {name!r} was removed")
                continue
            if match["kind"] not in _KEYWORD:
                diff.breaking(
                    where, f"parameter {name!r} became {match['kind']}: no longer by name"
                )
            elif match["kind"] == "positional-or-keyword":
                diff.added(where, f"parameter {name!r} can now be passed by position")
            binding.pair(param, match)
        elif kind == "var-positional" and kind not in binding.new_kinds:
            diff.breaking(where, f"no longer accepts extra positional arguments (*{name})")
        elif kind == "var-keyword" and kind not in binding.new_kinds:
            diff.breaking(where, f"no longer accepts extra keyword arguments (**{name})")


def _compare_pair(diff: _Diff, where: str, old: Record, new: Record) -> None:
    """Default and annotation of one parameter present in both versions."""
    name = new["name"]
    if "default" in old and "default" not in new:
        diff.breaking(
            where, f"parameter {name!r} is now required (its default was {old['default']})"
        )
    elif "default" in old and old["default"] != new["default"]:
        diff.breaking(
            where, f"default of {name!r} changed from {old['default']} to {new['default']}"
        )
    elif "default" in new and "default" not in old:
        diff.added(where, f"parameter {name!r} is now optional")
    if old.get("annotation") != new.get("annotation"):
        before, after = old.get("annotation"), new.get("annotation")
        diff.changed(where, f"annotation of {name!r} changed from {before} to {after}")
