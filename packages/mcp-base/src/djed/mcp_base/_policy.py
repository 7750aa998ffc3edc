"""Zero-trust authorization: allowed only when a policy says so, every answer audited."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import translate
from types import MappingProxyType
from typing import Any, Literal

from ._ratelimit import BurstDetector, BurstRule

__all__ = ["KINDS", "AuthDecision", "Authorizer", "Condition", "Policy", "Subject"]

KINDS = ("tools", "resources", "prompts")
"""The kinds of target a policy can match: ``"<kind>/<name>"``."""

_GLOB_CHARS = frozenset("*?[")
_EMPTY: Mapping[str, Any] = MappingProxyType({})
_log = logging.getLogger("djed.mcp_base")
_audit_log = logging.getLogger("djed.mcp_base.audit")


def _names(value: str | Iterable[str], what: str) -> frozenset[str]:
    """A set of names; a string is split on whitespace, like an OAuth ``scope``."""
    names = frozenset(value.split() if isinstance(value, str) else value)
    if not all(isinstance(name, str) and name for name in names):
        raise ValueError(f"{what} must be non-empty strings, not {sorted(map(repr, names))}")
    return names


@dataclass(frozen=True, slots=True, init=False)
class Subject:
    """Who is asking: an authenticated principal with its scopes, roles and claims.

    >>> Subject("alice", scopes="invoices:read invoices:write", roles={"billing"})

    ``scopes`` and ``roles`` take any iterable of strings, or one string of names
    separated by spaces (an OAuth ``scope`` value). ``claims`` holds whatever else
    the token said (tenant, email), for ``when`` conditions to read.
    """

    id: str
    scopes: frozenset[str]
    roles: frozenset[str]
    claims: Mapping[str, Any] = field(compare=False, hash=False)

    def __init__(
        self,
        id: str,  # noqa: A002 - the subject's identifier, as tokens name it
        scopes: str | Iterable[str] = (),
        roles: str | Iterable[str] = (),
        claims: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(id, str) or not id:
            raise ValueError(f"Subject.id must be a non-empty string, not {id!r}")
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "scopes", _names(scopes, "Subject.scopes"))
        object.__setattr__(self, "roles", _names(roles, "Subject.roles"))
        object.__setattr__(self, "claims", dict(claims or {}))


Condition = Callable[[Subject, Mapping[str, Any]], bool]
"""A policy condition: ``when(subject, arguments) -> bool``; ``arguments`` is never None."""

# Stands in for a missing subject: no scopes, no roles, no claims.
_ANONYMOUS = Subject("anonymous")


class Policy:
    """One rule: which targets it covers, which subjects it holds for, and its effect.

    >>> Policy("tools/delete_*", require_scopes=["admin"], roles=["ops", "sre"])
    >>> Policy("resources/invoice://*", when=lambda s, a: s.claims.get("tenant") == "acme")
    >>> Policy("tools/*", roles=["intern"], effect="deny", name="no-tools-for-interns")

    ``match`` is a glob (``fnmatch`` syntax, case-sensitive, ``*`` crossing ``/``)
    over ``"<kind>/<name>"``, kind being one of :data:`KINDS`. The policy *holds*
    for a subject with every scope of ``require_scopes``, at least one role of
    ``roles`` (if any are listed) and ``when(subject, arguments)`` true (if given).
    An allow policy that holds allows; a deny policy that holds denies, whatever
    the allow policies say. A ``when`` that raises counts as false for an allow
    policy and as true for a deny policy: an error never opens a door. Allow
    policies hold for a request without a subject only with ``anonymous=True``.

    Args:
        match: The glob over ``"<kind>/<name>"``.
        require_scopes: Scopes the subject must all have.
        roles: Roles of which the subject must have one.
        when: A further condition on the subject and the call's arguments.
        effect: ``"allow"`` or ``"deny"``.
        name: Named in decisions and audit lines; by default ``"<effect> <match>"``.
        anonymous: Whether an allow policy may hold for a request without a subject.

    Raises:
        ValueError: Naming the argument, when one is malformed.
    """

    def __init__(
        self,
        match: str,
        *,
        require_scopes: str | Iterable[str] = (),
        roles: str | Iterable[str] = (),
        when: Condition | None = None,
        effect: Literal["allow", "deny"] = "allow",
        name: str | None = None,
        anonymous: bool = False,
    ) -> None:
        if not isinstance(match, str) or not match:
            raise ValueError(f"Policy.match must be a glob over '<kind>/<name>', not {match!r}")
        kind = match.split("/", 1)[0]
        if _GLOB_CHARS.isdisjoint(kind) and kind not in KINDS:
            raise ValueError(f"Policy.match must start with one of {KINDS} or a glob: {match!r}")
        if effect not in {"allow", "deny"}:
            raise ValueError(f"Policy.effect must be 'allow' or 'deny', not {effect!r}")
        if when is not None and not callable(when):
            raise ValueError("Policy.when must be a callable (subject, arguments) -> bool")
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"Policy.name must be a non-empty string, not {name!r}")
        self.match = match
        self.require_scopes = _names(require_scopes, "Policy.require_scopes")
        self.roles = _names(roles, "Policy.roles")
        self.when = when
        self.effect = effect
        self.name = name or f"{effect} {match}"
        self.anonymous = anonymous
        self._match = re.compile(translate(match)).match

    def __repr__(self) -> str:
        return f"<Policy {self.name!r} {self.effect} {self.match!r}>"

    def matches(self, target: str) -> bool:
        """Whether ``target`` (``"<kind>/<name>"``) is covered by ``match``."""
        return self._match(target) is not None

    def unmet(self, subject: Subject | None, arguments: Mapping[str, Any] = _EMPTY) -> str | None:
        """Why this policy does not hold for ``subject``, or None when it holds."""
        if subject is None or subject is _ANONYMOUS:
            if self.effect == "allow" and not self.anonymous:
                return "needs an authenticated subject"
            subject = _ANONYMOUS
        if self.require_scopes and not self.require_scopes <= subject.scopes:
            return "missing scopes: " + ", ".join(sorted(self.require_scopes - subject.scopes))
        if self.roles and self.roles.isdisjoint(subject.roles):
            return "needs one of roles: " + ", ".join(sorted(self.roles))
        if self.when is not None:
            try:
                if not self.when(subject, arguments):
                    return "condition not met"
            except Exception as exc:  # noqa: BLE001 - user code; logged, and fails closed
                _log.exception("condition of policy %r raised", self.name)
                return None if self.effect == "deny" else f"condition raised {type(exc).__name__}"
        return None


@dataclass(frozen=True, slots=True)
class AuthDecision:
    """The answer of :meth:`Authorizer.decide`.

    Attributes:
        allowed: Whether the request may go ahead.
        rule: The policy that decided, ``"default-deny"`` when no allow policy held,
            or ``"burst"`` when the subject's request rate looked suspicious.
        reason: One line for logs and error messages.
        subject_id: The subject's id, or None for an anonymous request.
        target: ``"<kind>/<name>"``.
        requires_reauth: Refused for a burst, and the subject should authenticate
            again (``BurstRule(action="reauth")``).
    """

    allowed: bool
    rule: str
    reason: str
    subject_id: str | None
    target: str
    requires_reauth: bool = False


class Authorizer:
    """Decide whether a subject may use a tool, resource or prompt; audit every answer.

    >>> authorizer = Authorizer([
    ...     Policy("tools/*", require_scopes=["tools"], name="tool-users"),
    ...     Policy("tools/delete_*", roles=["intern"], effect="deny", name="no-interns"),
    ... ])
    >>> authorizer.decide(Subject("bob", scopes="tools"), "tools", "search").allowed
    True

    Deny by default: a request is allowed only when an allow policy matching its
    target holds for its subject (the first listed names the decision) and no deny
    policy matching it holds. A refusal's reason names what was missing, policy by
    policy (``'writers' missing scopes: invoices:write``).

    Every decision goes to ``audit(decision)`` when given (an exception it raises
    propagates: an unrecorded request fails rather than passes), else to the
    ``djed.mcp_base.audit`` logger at INFO as one line, with ``subject``,
    ``target``, ``decision`` (``"allow"``/``"deny"``), ``rule``, ``reason`` and
    ``requires_reauth`` in the record's ``extra``.

    The policies matching a target are found once, through globs compiled to
    regular expressions, and cached (``cache_size`` targets), so a decision costs
    microseconds. Safe to share between threads; it never blocks on I/O itself.

    Args:
        policies: The rules, in order.
        audit: Receives every decision instead of the audit logger.
        burst_rule: Refuse subjects whose request rate suddenly jumps.
        clock: Monotonic seconds for the burst rule; tests pass a fake one.
        cache_size: Targets whose matching policies are remembered.

    Raises:
        ValueError: When two policies share a name, or an argument is out of range.
    """

    def __init__(
        self,
        policies: Iterable[Policy],
        *,
        audit: Callable[[AuthDecision], None] | None = None,
        burst_rule: BurstRule | None = None,
        clock: Callable[[], float] = time.monotonic,
        cache_size: int = 4096,
    ) -> None:
        self.policies = tuple(policies)
        names = Counter(p.name for p in self.policies)
        if repeated := sorted(n for n, count in names.items() if count > 1):
            raise ValueError(f"policy names must be unique; repeated: {', '.join(repeated)}")
        if cache_size < 1:
            raise ValueError(f"cache_size must be at least 1, not {cache_size!r}")
        self.burst_rule = burst_rule
        self._audit = audit
        self._denies = tuple(p for p in self.policies if p.effect == "deny")
        self._allows = tuple(p for p in self.policies if p.effect == "allow")
        self._burst = None if burst_rule is None else BurstDetector(burst_rule, clock)
        self._cache: dict[str, tuple[tuple[Policy, ...], tuple[Policy, ...]]] = {}
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()

    def decide(
        self,
        subject: Subject | None,
        kind: str,
        name: str,
        *,
        arguments: Mapping[str, Any] | None = None,
    ) -> AuthDecision:
        """Whether ``subject`` may use ``"<kind>/<name>"``; the decision is audited first.

        Args:
            subject: Who asks, or None when the request carries no identity.
            kind: ``"tools"``, ``"resources"`` or ``"prompts"``.
            name: The tool or prompt name, or the resource URI.
            arguments: The call's arguments, for ``when`` conditions.

        Raises:
            ValueError: When ``kind`` is not one of :data:`KINDS`.
        """
        target = f"{kind}/{name}"
        found = self._cache.get(target)
        denies, allows = self._find(kind, target) if found is None else found
        who = _ANONYMOUS if subject is None else subject
        args = _EMPTY if arguments is None else arguments
        subject_id = None if subject is None else subject.id
        allowed, rule, reason = _judge(denies, allows, who, args, target)
        reauth = False
        if self._burst is not None and subject_id is not None:
            burst = self._burst.observe(subject_id)
            if burst is not None and allowed:
                allowed, rule, reason = False, "burst", burst
                reauth = self._burst.rule.action == "reauth"
        decision = AuthDecision(allowed, rule, reason, subject_id, target, reauth)
        self._record(decision)
        return decision

    def forgive(self, subject_id: str) -> None:
        """Clear a subject's recent burst counts (once it authenticated again, say)."""
        if self._burst is not None:
            self._burst.forgive(subject_id)

    def _find(self, kind: str, target: str) -> tuple[tuple[Policy, ...], tuple[Policy, ...]]:
        """The deny and allow policies matching ``target``, cached."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        found = (
            tuple(p for p in self._denies if p.matches(target)),
            tuple(p for p in self._allows if p.matches(target)),
        )
        with self._cache_lock:
            cache = self._cache
            if len(cache) >= self._cache_size:
                cache.pop(next(iter(cache)), None)
            cache[target] = found
        return found

    def _record(self, decision: AuthDecision) -> None:
        if self._audit is not None:
            self._audit(decision)
            return
        if not _audit_log.isEnabledFor(logging.INFO):
            return
        d = decision
        verdict = "allow" if d.allowed else "deny"
        extra: dict[str, object] = {"subject": d.subject_id, "target": d.target, "rule": d.rule}
        extra.update(decision=verdict, reason=d.reason, requires_reauth=d.requires_reauth)
        who = "anonymous" if d.subject_id is None else repr(d.subject_id)
        _audit_log.info(
            "%s %r for %s by %s: %s", verdict, d.target, who, d.rule, d.reason, extra=extra
        )


def _judge(
    denies: tuple[Policy, ...],
    allows: tuple[Policy, ...],
    who: Subject,
    args: Mapping[str, Any],
    target: str,
) -> tuple[bool, str, str]:
    """Whether the policies allow, the rule that decided, and why."""
    for policy in denies:
        if policy.unmet(who, args) is None:
            return False, policy.name, f"denied by policy {policy.name!r}"
    unmet: list[str] = []
    for policy in allows:
        why = policy.unmet(who, args)
        if why is None:
            return True, policy.name, f"allowed by policy {policy.name!r}"
        unmet.append(f"{policy.name!r} {why}")
    reason = f"no policy allows {target!r}"
    return False, "default-deny", f"{reason}: {'; '.join(unmet)}" if unmet else reason
